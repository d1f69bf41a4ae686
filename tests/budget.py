"""Time budgets that scale with the machine, and a stall guard instead of a fixed timeout.

A fixed timeout (say 300 s for the demo run) is a bet on how fast the machine is: a busy 2-core
CI box loses it although nothing is wrong. Two tools replace such bets:

* :func:`slowness` measures, once per session, how long a fixed CPU workload takes here against
  how long it takes on a quiet development machine; ``tests/conftest.py`` multiplies every test's
  pytest-timeout (the hang guard) by it, so a machine twice as slow gets twice the budget.
* :class:`StallGuard` watches a long run's progress (frames analysed) and stops it only when no
  progress was made for a long while: a slow run keeps going, a hung one fails with a message.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pytest

T = TypeVar("T")

# min of 3 runs of _workload() on the quiet 2-core development machine (seconds)
REFERENCE_WORKLOAD_S = 0.045
STALL_S = 600.0
"""No progress for this long means hung (one analysed frame takes ~0.1 s on the dev machine)."""

_slowness: float | None = None


def _workload() -> float:
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    a = rng.random((256, 256), dtype=np.float32)
    for _ in range(80):
        a = np.tanh(a @ a.T / 256.0)
    total = 0
    for i in range(400_000):  # the interpreter, as the pipeline's Python glue uses it
        total += i % 7
    return time.perf_counter() - t0


def slowness() -> float:
    """How many times slower than the quiet development machine this one is now (>= 1).

    ``STORELENS_TEST_SLOWNESS`` overrides the measurement (e.g. on a known-slow CI runner)."""
    global _slowness
    if _slowness is None:
        env = os.environ.get("STORELENS_TEST_SLOWNESS")
        measured = float(env) if env else min(_workload() for _ in range(3)) / REFERENCE_WORKLOAD_S
        _slowness = max(1.0, measured)
    return _slowness


def scaled(seconds: float) -> float:
    """A wall-clock budget for this machine: ``seconds`` as measured on the dev machine, scaled."""
    return seconds * slowness()


class StallGuard:
    """Run ``fn(stop, tick)`` on a thread; fail the test only if ``tick`` is not called for
    ``stall_s`` seconds (then ``stop`` is set so the run can end). ``tick`` accepts any arguments,
    so it can be a frame callback directly."""

    def __init__(self, what: str, stall_s: float = STALL_S) -> None:
        self.what = what
        self.stall_s = stall_s
        self.stop = threading.Event()
        self.ticks = 0
        self._last = time.monotonic()

    def tick(self, *_: Any) -> None:
        self.ticks += 1
        self._last = time.monotonic()

    def idle_s(self) -> float:
        return time.monotonic() - self._last

    def run(self, fn: Callable[[threading.Event, Callable[..., None]], T]) -> T:
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["result"] = fn(self.stop, self.tick)
            except BaseException as exc:  # re-raised in the test's thread
                box["error"] = exc

        self._last = time.monotonic()
        thread = threading.Thread(target=target, name=f"stall-guard-{self.what}", daemon=True)
        thread.start()
        while thread.is_alive():
            thread.join(1.0)
            if self.idle_s() > self.stall_s:
                self.stop.set()
                thread.join(60)
                pytest.fail(f"{self.what}: no progress for {self.stall_s:.0f} s after {self.ticks} step(s): hung")
        if "error" in box:
            raise box["error"]
        return box["result"]  # type: ignore[no-any-return]

    def wait(self, done: Callable[[float], bool], progress: Callable[[], int]) -> None:
        """Wait until ``done(poll_s)`` is true while ``progress()`` (a counter) keeps growing."""
        last = progress()
        self._last = time.monotonic()
        while not done(1.0):
            now = progress()
            if now != last:
                last = now
                self.tick()
            elif self.idle_s() > self.stall_s:
                pytest.fail(f"{self.what}: no progress for {self.stall_s:.0f} s at {now} step(s): hung")
