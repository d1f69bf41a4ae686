"""Signed webhooks with a persisted outbox, retries with backoff and jitter, and a dead letter.

Each matching (subscription, event) pair becomes a row in the ``webhook_outbox`` table before any
delivery is tried, so a crash or restart loses nothing: a new sink on the same database picks the
pending rows up. A worker thread claims due rows and POSTs them from a small thread pool with short
httpx timeouts (a slow or dead receiver costs at most ``timeout_s`` of one pool slot, never the
pipeline, whose ``write`` only appends to memory). A 2xx response is success; anything else
(connection error, timeout, non-2xx) schedules a retry after
``min(backoff_max_s, backoff_initial_s * 2**(attempts-1))`` scaled by a random factor in
[0.5, 1], and after ``max_attempts`` failures the row is dead-lettered (listable and re-queueable).

Signing (documented for receivers in docs/INTEGRATIONS.md)::

    X-Storelens-Timestamp: <unix seconds>
    X-Storelens-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

The timestamp is signed with the body, so a receiver that rejects timestamps outside its replay
window (``verify_signature(..., window_s=300)``) cannot be fed an old captured request; the event
id (``X-Storelens-Event-Id``) lets it drop the rare duplicate of an at-least-once delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from storelens.config.outputs import WebhooksConfig, WebhookSubscriptionConfig
from storelens.events.models import Event
from storelens.sinks.database import is_transient
from storelens.storage.database import Database, open_database
from storelens.storage.outbox import OutboxItem, claim_due, enqueue, mark_delivered, mark_failed, outbox_counts
from storelens.storage.serialize import event_json

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Storelens-Timestamp"
SIGNATURE_HEADER = "X-Storelens-Signature"
EVENT_ID_HEADER = "X-Storelens-Event-Id"
EVENT_TYPE_HEADER = "X-Storelens-Event-Type"
DELIVERY_HEADER = "X-Storelens-Delivery"
SIGNATURE_VERSION = "v1"
DEFAULT_REPLAY_WINDOW_S = 300


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """``v1=<hex>``: HMAC-SHA256 over ``b"<timestamp>." + body``."""
    key = secret.encode() if isinstance(secret, str) else secret
    mac = hmac.new(key, str(int(timestamp)).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={mac}"


def signed_headers(secret: str | bytes, body: bytes, *, now: float | None = None) -> dict[str, str]:
    ts = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(secret, ts, body),
    }


def verify_signature(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes,
    now: float | None = None,
    window_s: float = DEFAULT_REPLAY_WINDOW_S,
) -> bool:
    """For receivers: True when the request was signed with ``secret`` within ``window_s`` of ``now``.

    ``headers`` may be any mapping (matched case-insensitively). Several ``v1=`` signatures may be
    sent comma-separated (secret rotation); one matching is enough. Comparison is constant-time.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    ts_text = lower.get(TIMESTAMP_HEADER.lower())
    sig_text = lower.get(SIGNATURE_HEADER.lower())
    if not ts_text or not sig_text:
        return False
    try:
        ts = int(ts_text)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > window_s:
        return False
    expected = sign(secret, ts, body)
    return any(hmac.compare_digest(expected, part.strip()) for part in sig_text.split(","))


def matches(types: Sequence[str], event_type: str) -> bool:
    """Empty filter = everything; a value ending in '.' is a prefix; else an exact type."""
    if not types:
        return True
    return any(event_type.startswith(t) if t.endswith(".") else event_type == t for t in types)


def retry_delay(attempts: int, initial_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential backoff with jitter for the ``attempts``-th failure (1-based)."""
    return min(max_s, initial_s * 2 ** max(0, attempts - 1)) * (0.5 + 0.5 * rng.random())


@dataclass(frozen=True, slots=True)
class _Subscription:
    config: WebhookSubscriptionConfig
    secret: bytes


def _resolve(sub: WebhookSubscriptionConfig) -> _Subscription:
    secret = sub.secret
    if secret is None and sub.secret_env:
        secret = os.environ.get(sub.secret_env)
        if not secret:
            raise ValueError(f"webhooks.subscriptions[{sub.id}].secret_env: {sub.secret_env} is not set")
    assert secret is not None
    return _Subscription(sub, secret.encode())


class WebhookSink:
    """Persisted, signed, retried webhook deliveries (see module docstring)."""

    name = "webhooks"

    def __init__(
        self,
        db: Database | str | Path,
        config: WebhooksConfig,
        *,
        poll_interval_s: float = 0.5,
        max_memory: int = 100_000,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self._subs = [_resolve(s) for s in config.subscriptions if s.enabled]
        self._by_id = {s.config.id: s for s in self._subs}
        self._owns_db = not isinstance(db, Database)
        self._db = db if isinstance(db, Database) else open_database(db)
        self.poll_interval_s = poll_interval_s
        self.max_memory = max_memory
        self._rng = rng or random.Random()
        self._cond = threading.Condition()
        self._queue: deque[dict[str, str]] = deque()
        self._closing = False
        self.delivered = 0
        self.failed_attempts = 0
        self.dead = 0
        self.dropped = 0
        self._lease_s = config.timeout_s * 3 + 5
        self._http = httpx.Client(
            timeout=httpx.Timeout(config.timeout_s, connect=min(config.timeout_s, 3.0)),
            follow_redirects=False,  # the signature vouches for the configured URL only
            headers={"User-Agent": "storelens-webhooks/1"},
            transport=transport,
        )
        self._pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="storelens-webhook")
        self._thread = threading.Thread(target=self._run, name="storelens-webhooks", daemon=True)
        self._thread.start()

    # ----------------------------------------------------------------------------- protocol
    def write(self, events: Sequence[Event]) -> None:
        """Queue the deliveries these events imply (persisted by the worker thread, not here)."""
        rows: list[dict[str, str]] = []
        for e in events:
            body: str | None = None
            for s in self._subs:
                if matches(s.config.types, e.type):
                    body = body or event_json(e)
                    rows.append(
                        {
                            "subscription_id": s.config.id,
                            "event_id": e.id,
                            "event_type": e.type,
                            "url": s.config.url,
                            "body": body,
                        }
                    )
        if not rows:
            return
        with self._cond:
            if self._closing:
                raise RuntimeError("WebhookSink is closed")
            room = self.max_memory - len(self._queue)
            if room < len(rows):
                self.dropped += len(rows) - max(room, 0)
                log.error("webhooks: memory queue full (database down?); %d deliveries dropped", len(rows) - room)
                rows = rows[: max(room, 0)]
            self._queue.extend(rows)
            self._cond.notify_all()

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until every delivery written so far is persisted in the outbox table."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            self._cond.notify_all()
            while self._queue and time.monotonic() < deadline:
                self._cond.wait(0.05)

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait until nothing is pending (all delivered or dead-lettered); False on timeout."""
        deadline = time.monotonic() + timeout_s
        self.flush(timeout_s)
        while time.monotonic() < deadline:
            with self._db.begin() as conn:
                if outbox_counts(conn)["pending"] == 0 and not self._queue:
                    return True
            with self._cond:
                self._cond.notify_all()
                self._cond.wait(0.1)
        return False

    def close(self, timeout_s: float = 10.0) -> None:
        with self._cond:
            if self._closing:
                return
        self.flush(timeout_s)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout_s + self.config.timeout_s)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._http.close()
        if self._queue:
            log.error("webhooks: %d deliveries could not be persisted before close", len(self._queue))
        if self._owns_db:
            self._db.close()

    def counts(self) -> dict[str, int]:
        with self._db.begin() as conn:
            return outbox_counts(conn)

    # ---------------------------------------------------------------------------------- worker
    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._closing and not self._queue:
                    self._cond.wait(self.poll_interval_s)
                closing = self._closing
                rows = list(self._queue)
            try:
                if rows:
                    with self._db.begin() as conn:
                        enqueue(conn, rows, now=datetime.now(UTC))
                    with self._cond:
                        for _ in rows:
                            self._queue.popleft()
                        self._cond.notify_all()
                if closing:
                    return
                self._deliver_due()
            except Exception as exc:
                level = logging.WARNING if is_transient(exc) else logging.ERROR
                log.log(level, "webhooks: outbox unavailable (%s); will retry", exc)
                with self._cond:
                    if closing:
                        return
                    self._cond.wait(min(5.0, self.poll_interval_s * 4))

    def _deliver_due(self) -> None:
        now = datetime.now(UTC)
        with self._db.begin() as conn:
            items = claim_due(conn, now=now, limit=self.config.concurrency * 8, lease_s=self._lease_s)
        if not items:
            return
        for item, result in zip(items, self._pool.map(self._send, items), strict=True):
            status, error = result
            self._record(item, status, error)

    def _send(self, item: OutboxItem) -> tuple[int | None, str | None]:
        sub = self._by_id.get(item.subscription_id)
        if sub is None:
            return None, f"subscription {item.subscription_id!r} is no longer configured"
        body = item.body.encode()
        headers = signed_headers(sub.secret, body)
        headers[EVENT_ID_HEADER] = item.event_id
        headers[EVENT_TYPE_HEADER] = item.event_type
        headers[DELIVERY_HEADER] = str(item.id)
        try:
            resp = self._http.post(item.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        if 200 <= resp.status_code < 300:
            return resp.status_code, None
        return resp.status_code, f"HTTP {resp.status_code}: {resp.text[:200]}"

    def _record(self, item: OutboxItem, status: int | None, error: str | None) -> None:
        now = datetime.now(UTC)
        with self._db.begin() as conn:
            if error is None and status is not None:
                mark_delivered(conn, item.id, now=now, status_code=status)
                self.delivered += 1
                return
            attempts = item.attempts + 1
            dead = attempts >= self.config.max_attempts or item.subscription_id not in self._by_id
            delay = retry_delay(attempts, self.config.backoff_initial_s, self.config.backoff_max_s, self._rng)
            mark_failed(
                conn,
                item.id,
                attempts=attempts,
                next_attempt_at=now + timedelta(seconds=delay),
                error=error or "unknown error",
                status_code=status,
                dead=dead,
            )
        self.failed_attempts += 1
        if dead:
            self.dead += 1
            log.error(
                "webhooks: delivery %d of event %s to %s dead-lettered after %d attempt(s): %s",
                item.id,
                item.event_id,
                item.subscription_id,
                attempts,
                error,
            )
        else:
            log.warning("webhooks: delivery %d failed (%s); retry in %.1f s", item.id, error, delay)
