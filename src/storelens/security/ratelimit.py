"""Login rate limiting (per client address) and failure counting for names that do not exist.

Account lockout for real users is persisted in the ``users`` table (``security.users``), so a
restart does not reset it. This module adds what must not touch the database: a sliding-window
limit of login attempts per client address (slows password spraying across many accounts), and
the same failure count and lockout for user names that do not exist, so the response to a guessed
name is indistinguishable from the response to a real, locked one (no user enumeration).

Both are in memory, bounded (oldest keys evicted), thread-safe, and take an injectable monotonic
clock so tests can move time.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after_s: float = 0.0


class SlidingWindowLimiter:
    """At most ``limit`` events per ``window_s`` per key."""

    def __init__(self, limit: int, window_s: float, *, clock: Clock = time.monotonic, max_keys: int = 100_000) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> Decision:
        """Count one attempt for ``key`` if allowed; a refused attempt is not counted."""
        now = self._clock()
        with self._lock:
            q = self._hits.get(key)
            if q is None:
                q = deque()
                self._hits[key] = q
                while len(self._hits) > self._max_keys:
                    self._hits.popitem(last=False)
            else:
                self._hits.move_to_end(key)
            while q and q[0] <= now - self.window_s:
                q.popleft()
            if len(q) >= self.limit:
                return Decision(False, max(q[0] + self.window_s - now, 0.0))
            q.append(now)
            return Decision(True)

    def reset(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)


class FailureLockout:
    """Lock a key for ``lockout_s`` after ``max_failures`` failures in a row (unknown user names)."""

    def __init__(
        self, max_failures: int, lockout_s: float, *, clock: Clock = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self._clock = clock
        self._max_keys = max_keys
        self._state: OrderedDict[str, tuple[int, float]] = OrderedDict()  # key -> (failures, locked_until)
        self._lock = threading.Lock()

    def locked_for(self, key: str) -> float:
        """Seconds the key stays locked (0 when not locked)."""
        with self._lock:
            _, until = self._state.get(key, (0, 0.0))
        return max(until - self._clock(), 0.0)

    def failure(self, key: str) -> float:
        """Record a failure; returns the lockout now in force (0 if none)."""
        now = self._clock()
        with self._lock:
            failures, until = self._state.pop(key, (0, 0.0))
            if until and until <= now:
                failures, until = 0, 0.0
            failures += 1
            if failures >= self.max_failures:
                until = now + self.lockout_s
                failures = 0
            self._state[key] = (failures, until)
            while len(self._state) > self._max_keys:
                self._state.popitem(last=False)
        return max(until - now, 0.0)

    def success(self, key: str) -> None:
        with self._lock:
            self._state.pop(key, None)


class LoginGuard:
    """What the login route consults before checking a password."""

    def __init__(self, per_client_per_min: int, max_failures: int, lockout_s: float, *, clock: Clock = time.monotonic):
        self.clients = SlidingWindowLimiter(per_client_per_min, 60.0, clock=clock)
        self.unknown_names = FailureLockout(max_failures, lockout_s, clock=clock)
