"""Webhooks against a real HTTP receiver started in the test, which verifies every signature.

The outbox lives in a SQLite file per test (the same repository code runs on PostgreSQL, see
test_postgres.py); the receiver is a ThreadingHTTPServer on a free 127.0.0.1 port that can be
started late, made to fail, or made to hang.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from storelens.config.outputs import WebhooksConfig, WebhookSubscriptionConfig
from storelens.events.models import Event
from storelens.sinks.webhook import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSink,
    retry_delay,
    sign,
    signed_headers,
    verify_signature,
)
from storelens.storage import open_database
from storelens.storage.outbox import list_outbox, requeue_dead

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SECRET_A = "a-secret-of-sixteen-plus"
SECRET_B = "another-secret-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """Records (path, event id, signature valid) per request; ``status`` and ``gate`` steer replies."""

    def __init__(self, port: int, secrets: dict[str, str]) -> None:
        self.port = port
        self.secrets = secrets  # path -> secret
        self.status = 200
        self.gate: threading.Event | None = None  # when set, requests wait for it (a slow receiver)
        self.requests: list[tuple[str, str, bool]] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.gate is not None:
                    outer.gate.wait(30)
                ok = verify_signature(outer.secrets[self.path], dict(self.headers), body, window_s=300)
                assert json.loads(body)["id"] == self.headers[EVENT_ID_HEADER]
                with outer.lock:
                    outer.requests.append((self.path, self.headers[EVENT_ID_HEADER], ok))
                self.send_response(outer.status if ok else 401)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def got(self, path: str, *, valid_only: bool = True) -> list[str]:
        with self.lock:
            return [eid for p, eid, ok in self.requests if p == path and (ok or not valid_only)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(_free_port(), {"/a": SECRET_A, "/b": SECRET_B})
    yield r
    r.stop()


def _config(port: int, **kw: object) -> WebhooksConfig:
    return WebhooksConfig(
        subscriptions=[
            WebhookSubscriptionConfig(id="zones", url=f"http://127.0.0.1:{port}/a", secret=SECRET_A, types=["zone."]),
            WebhookSubscriptionConfig(
                id="alerts", url=f"http://127.0.0.1:{port}/b", secret=SECRET_B, types=["alert.raised"]
            ),
        ],
        timeout_s=2,
        backoff_initial_s=0.1,
        backoff_max_s=0.3,
        **kw,
    )


def _events() -> list[Event]:
    t = datetime(2025, 3, 1, tzinfo=UTC).timestamp()
    out = [Event.at("zone.entered", "s1", t + i, zone_id="z1", subject=i) for i in range(10)]
    out += [Event.at("alert.raised", "s1", t + 20 + i, alert_id=f"A{i}", kind="queue") for i in range(3)]
    out += [Event.at("visit.started", "s1", t + 30, subject=99)]  # matches no subscription
    return out


def wait_until(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


# -------------------------------------------------------------------------- signature rules


def test_signature_rules() -> None:
    body = b'{"id":"x"}'
    h = signed_headers(SECRET_A, body, now=1_000_000)
    assert h[SIGNATURE_HEADER] == sign(SECRET_A, 1_000_000, body)
    assert verify_signature(SECRET_A, h, body, now=1_000_000 + 299, window_s=300)
    assert not verify_signature(SECRET_A, h, body, now=1_000_000 + 301, window_s=300)  # replayed later
    assert not verify_signature(SECRET_A, h, body + b" ", now=1_000_000)  # tampered body
    assert not verify_signature(SECRET_B, h, body, now=1_000_000)  # wrong secret
    lowered = {k.lower(): v for k, v in h.items()}
    assert verify_signature(SECRET_A, lowered, body, now=1_000_000)  # header names are case-insensitive
    rotated = {**h, SIGNATURE_HEADER: f"{sign(SECRET_B, 1_000_000, body)}, {h[SIGNATURE_HEADER]}"}
    assert verify_signature(SECRET_A, rotated, body, now=1_000_000)
    forged_ts = {**h, TIMESTAMP_HEADER: str(1_000_100)}  # timestamp is covered by the signature
    assert not verify_signature(SECRET_A, forged_ts, body, now=1_000_100)
    assert not verify_signature(SECRET_A, {}, body)


def test_retry_delay_grows_and_is_jittered() -> None:
    import random

    rng = random.Random(3)
    d = [retry_delay(n, 1.0, 30.0, rng) for n in range(1, 9)]
    assert 0.5 <= d[0] <= 1.0 and 4.0 <= d[3] <= 8.0 and all(15.0 <= x <= 30.0 for x in d[5:])
    assert len({round(x, 6) for x in d[5:]}) == 3  # jitter: capped delays still differ


# ----------------------------------------------------------------------------- deliveries


def test_signed_deliveries_follow_each_subscription_filter(receiver: Receiver, tmp_path: Path) -> None:
    receiver.start()
    sink = WebhookSink(tmp_path / "w.db", _config(receiver.port), poll_interval_s=0.05)
    events = _events()
    try:
        sink.write(events)
        sink.write(events[:2])  # a re-delivered batch: the outbox is idempotent per (subscription, event)
        assert sink.drain(30)
    finally:
        sink.close()
    zones = [e.id for e in events if e.type.startswith("zone.")]
    alerts = [e.id for e in events if e.type == "alert.raised"]
    assert sorted(receiver.got("/a")) == sorted(zones)
    assert sorted(receiver.got("/b")) == sorted(alerts)
    assert len(receiver.requests) == len(zones) + len(alerts)  # all signatures valid, nothing extra
    with open_database(tmp_path / "w.db") as db, db.begin() as conn:
        rows = list_outbox(conn)
    assert {r.status for r in rows} == {"delivered"} and {r.last_status_code for r in rows} == {200}


def test_receiver_down_then_up_delivers_everything(receiver: Receiver, tmp_path: Path) -> None:
    sink = WebhookSink(tmp_path / "w.db", _config(receiver.port, max_attempts=50), poll_interval_s=0.05)
    events = _events()
    try:
        sink.write(events)
        wait_until(lambda: sink.failed_attempts >= 13, 20, "failed attempts while the receiver is down")
        assert sink.counts()["pending"] == 13
        receiver.start()
        assert sink.drain(30)
    finally:
        sink.close()
    assert len(set(receiver.got("/a"))) == 10 and len(set(receiver.got("/b"))) == 3
    with open_database(tmp_path / "w.db") as db, db.begin() as conn:
        assert all(r.attempts >= 2 for r in list_outbox(conn))


def test_dead_letter_after_max_attempts_then_requeue(receiver: Receiver, tmp_path: Path) -> None:
    receiver.status = 500
    receiver.start()
    sink = WebhookSink(tmp_path / "w.db", _config(receiver.port, max_attempts=3), poll_interval_s=0.05)
    events = _events()[:4]
    try:
        sink.write(events)
        assert sink.drain(30)  # nothing pending: every delivery is dead
        assert sink.counts() == {"pending": 0, "delivered": 0, "dead": 4}
        assert len(receiver.got("/a")) == 12  # 3 attempts each
        with sink._db.begin() as conn:
            dead = list_outbox(conn, status="dead")
            assert {(r.attempts, r.last_status_code) for r in dead} == {(3, 500)}
            assert all("HTTP 500" in (r.last_error or "") for r in dead)
            receiver.status = 200
            assert requeue_dead(conn, now=datetime.now(UTC)) == 4
        assert sink.drain(30)
        assert sink.counts() == {"pending": 0, "delivered": 4, "dead": 0}
    finally:
        sink.close()


def test_outbox_survives_a_restart(receiver: Receiver, tmp_path: Path) -> None:
    first = WebhookSink(tmp_path / "w.db", _config(receiver.port, max_attempts=50), poll_interval_s=0.05)
    events = _events()
    first.write(events)
    first.flush()
    first.close()
    with open_database(tmp_path / "w.db") as db, db.begin() as conn:
        assert len(list_outbox(conn, status="pending")) == 13
    receiver.start()
    second = WebhookSink(tmp_path / "w.db", _config(receiver.port, max_attempts=50), poll_interval_s=0.05)
    try:
        assert second.drain(30)
    finally:
        second.close()
    assert len(set(receiver.got("/a"))) == 10 and len(set(receiver.got("/b"))) == 3


def test_slow_receiver_does_not_block_write(receiver: Receiver, tmp_path: Path) -> None:
    receiver.gate = threading.Event()  # every request hangs until released
    receiver.start()
    sink = WebhookSink(tmp_path / "w.db", _config(receiver.port, max_attempts=50), poll_interval_s=0.05)
    try:
        first, rest = _events()[:1], _events()[1:]
        sink.write(first)
        wait_until(lambda: receiver.server is not None and sink.counts()["pending"] == 1, 10, "the first delivery")
        for _ in range(20):  # the pipeline keeps writing while a delivery hangs
            sink.write(rest)
        assert not receiver.gate.is_set()
        sink.flush()
        assert sink.counts()["pending"] == 13  # all persisted while the receiver was stuck
        receiver.gate.set()
        assert sink.drain(30)
    finally:
        receiver.gate.set()
        sink.close()
    assert len(set(receiver.got("/a"))) == 10 and len(set(receiver.got("/b"))) == 3


def test_missing_secret_env_is_a_clear_error(tmp_path: Path) -> None:
    cfg = WebhooksConfig(
        subscriptions=[WebhookSubscriptionConfig(id="x", url="http://127.0.0.1:9/x", secret_env="SL_NO_SUCH_VAR")]
    )
    with pytest.raises(ValueError, match="SL_NO_SUCH_VAR is not set"):
        WebhookSink(tmp_path / "w.db", cfg)
