"""`storelens central` against the real NATS JetStream (127.0.0.1:4222) and PostgreSQL (127.0.0.1:5432).

Every test uses its own stream and subject prefix (deleted afterwards) and a fresh PostgreSQL
database (dropped afterwards). The oracle for "exactly once" is a reference database: the same
events, de-duplicated, stored into SQLite in one go through ``store_events``; the central database
must hold the same event count, aggregates and visits, so a lost event or a projection applied
twice shows up as a difference.

The durable consumer is created up front with a 2 s ack wait (an existing durable keeps its
settings), so redelivery after a kill happens within the test's time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
import sqlalchemy as sa
from nats.js.api import AckPolicy, ConsumerConfig

from pgdb import pg_admin
from storelens.central import CentralConfig, CentralIngest
from storelens.config.outputs import NatsConfig
from storelens.events.models import Event
from storelens.sinks.nats import MSG_ID, NatsSink, ensure_stream, event_subject
from storelens.storage import count_events, list_visits, open_database, query_aggregates, store_events
from storelens.storage.serialize import event_json

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

NATS_URL = "nats://127.0.0.1:4222"
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
DURABLE = "central"


# --------------------------------------------------------------------------------- fixtures
async def _nats_setup(cfg: NatsConfig, *, delete: bool = False) -> None:
    nc = await nats.connect(servers=cfg.servers, connect_timeout=2)
    try:
        js = nc.jetstream()
        if delete:
            await js.delete_stream(cfg.stream)
            return
        await ensure_stream(nc, cfg)
        await js.add_consumer(
            cfg.stream,
            ConsumerConfig(
                durable_name=DURABLE,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=2.0,
                max_deliver=-1,
                filter_subject=f"{cfg.subject_prefix}.>",
            ),
        )
    finally:
        await nc.close()


@pytest.fixture
def ncfg() -> Iterator[NatsConfig]:
    tag = uuid.uuid4().hex[:10]
    cfg = NatsConfig(
        enabled=True,
        servers=[NATS_URL],
        stream=f"SLCENTRAL_{tag}",
        subject_prefix=f"slcentral_{tag}",
        duplicate_window_s=120,
        max_age_s=3600,
    )
    asyncio.run(_nats_setup(cfg))
    yield cfg
    with contextlib.suppress(Exception):
        asyncio.run(_nats_setup(cfg, delete=True))


def _central_cfg(ncfg: NatsConfig, url: str, **kw: Any) -> CentralConfig:
    opts: dict[str, Any] = {"durable": DURABLE, "batch": 100, "retry_initial_s": 0.1, "retry_max_s": 0.5}
    return CentralConfig(nats=ncfg, database_url=url, **{**opts, **kw})


# --------------------------------------------------------------------------------- helpers
def shoppers(store: str, visits: int, tag: str = "") -> list[Event]:
    """8 events per visit: start, three zone enter/exit pairs with dwell, end with the final
    dwell per zone (authoritative, so visits do not depend on the order events arrive in)."""
    out: list[Event] = []
    for v in range(visits):
        sub, cam, t = f"{tag}{store}v{v}", f"cam{v % 2}", T0 + timedelta(seconds=7 * v)
        out.append(Event(type="visit.started", store_id=store, camera_id=cam, subject=sub, ts=t))
        dwell: dict[str, float] = {}
        for j in range(3):
            zone, d = f"z{(v + j) % 4}", 5.0 + j + v % 3
            dwell[zone] = dwell.get(zone, 0.0) + d
            t_in = t + timedelta(seconds=10 * j + 1)
            out.append(Event(type="zone.entered", store_id=store, camera_id=cam, zone_id=zone, subject=sub, ts=t_in))
            out.append(
                Event(
                    type="zone.exited",
                    store_id=store,
                    camera_id=cam,
                    zone_id=zone,
                    subject=sub,
                    ts=t_in + timedelta(seconds=d),
                    payload={"dwell_s": d},
                )
            )
        end = t + timedelta(seconds=40)
        out.append(
            Event(
                type="visit.ended",
                store_id=store,
                camera_id=cam,
                subject=sub,
                ts=end,
                payload={"duration_s": 40.0, "fragments": 1, "dwell_by_zone": dwell},
            )
        )
    return out


def _norm(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _norm(dataclasses.astuple(value))
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, tuple | list):
        return tuple(_norm(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _norm(v)) for k, v in value.items()))
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def fingerprint(url: str, stores: list[str]) -> dict[str, Any]:
    """Event count, every aggregate bucket and every visit per store (floats rounded)."""
    out: dict[str, Any] = {}
    with open_database(url) as db, db.begin() as conn:
        for s in stores:
            aggs = [a for b in (300, 3600) for a in query_aggregates(conn, store_id=s, bucket_s=b)]
            visits = list_visits(conn, store_id=s, include_staff=True, limit=100_000)
            out[s] = (count_events(conn, store_id=s), sorted(_norm(aggs)), sorted(_norm(visits)))
    return out


def reference(tmp_path: Path, events: list[Event], stores: list[str]) -> dict[str, Any]:
    url = str(tmp_path / f"ref-{uuid.uuid4().hex[:6]}.db")
    with open_database(url) as db, db.begin() as conn:
        store_events(conn, events)
    return fingerprint(url, stores)


def publish(ncfg: NatsConfig, events: list[Event], spool: Path) -> None:
    """What an edge node does: the NATS sink, with acknowledgement and de-dup by event id."""
    sink = NatsSink(ncfg, spool_dir=spool)
    try:
        sink.write(events)
        assert sink.wait_delivered(60)
    finally:
        sink.close()


def db_count(url: str) -> int:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM events").scalar_one())
    except sa.exc.DBAPIError:  # not migrated yet, or not accepting connections
        return -1
    finally:
        engine.dispose()


def wait_until(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class CentralThread:
    """The service in a background thread with its own event loop, stopped like on SIGTERM."""

    def __init__(self, cfg: CentralConfig) -> None:
        self.ingest = CentralIngest(cfg)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.acked: int | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    def _main(self) -> None:
        async def run() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            self._ready.set()
            self.acked = await self.ingest.run(self._stop)

        try:
            asyncio.run(run())
        except BaseException as exc:
            self.error = exc

    def stop(self, timeout_s: float = 30) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "central did not stop"
        if self.error is not None:
            raise self.error


def run_until_idle(cfg: CentralConfig, idle_s: float = 1.5) -> CentralIngest:
    ingest = CentralIngest(cfg)
    asyncio.run(ingest.run(idle_timeout_s=idle_s))
    return ingest


# ----------------------------------------------------------------------------------- tests
def test_two_stores_stored_exactly_once_with_projections(ncfg: NatsConfig, pg: tuple[str, str], tmp_path: Path) -> None:
    s1, s2 = shoppers("s1", 40), shoppers("s2", 30)
    edges = [threading.Thread(target=publish, args=(ncfg, ev, tmp_path / st)) for st, ev in (("s1", s1), ("s2", s2))]
    for t in edges:
        t.start()
    for t in edges:
        t.join(60)
    url = pg[0]
    st = run_until_idle(_central_cfg(ncfg, url)).stats()
    n = len(s1) + len(s2)
    assert (st.consumed, st.stored, st.duplicates, st.rejected, st.db_errors) == (n, n, 0, 0, 0)
    assert st.batches >= n // 100
    got = fingerprint(url, ["s1", "s2"])
    assert got == reference(tmp_path, s1 + s2, ["s1", "s2"])
    assert got["s1"][0] == len(s1) and len(got["s2"][2]) == 30  # events and visits really there
    v = got["s1"][2][0]
    assert v[1] == "s1v0" and dict(v[8]) == {"z0": 5.0, "z1": 6.0, "z2": 7.0}  # dwell_by_zone projected
    # the durable consumer remembers its position: a second run has nothing to do
    assert run_until_idle(_central_cfg(ncfg, url), idle_s=1.0).stats().consumed == 0


def test_stopped_mid_stream_then_restarted_loses_and_duplicates_nothing(
    ncfg: NatsConfig, pg: tuple[str, str], tmp_path: Path
) -> None:
    events = shoppers("s1", 400) + shoppers("s2", 250)
    publish(ncfg, events, tmp_path / "spool")
    url = pg[0]
    cfg = _central_cfg(ncfg, url, batch=50)
    first = CentralThread(cfg)
    wait_until(lambda: first.ingest.stats().stored > 0, 30, "the first batch")
    first.stop()  # graceful: the batch in hand is committed and acknowledged
    a = first.ingest.stats()
    assert 0 < a.stored < len(events) and a.stored == db_count(url) == first.acked
    b = run_until_idle(cfg).stats()
    # nothing committed before the stop comes back: every commit was acknowledged before exiting
    assert (b.duplicates, b.redelivered) == (0, 0)
    assert a.stored + b.stored == len(events)
    assert fingerprint(url, ["s1", "s2"]) == reference(tmp_path, events, ["s1", "s2"])


def test_events_published_twice_are_stored_once(ncfg: NatsConfig, pg: tuple[str, str], tmp_path: Path) -> None:
    events = shoppers("s1", 50)
    publish(ncfg, events, tmp_path / "spool")
    publish(ncfg, events[:100], tmp_path / "spool2")  # inside the de-dup window: JetStream drops them

    async def republish() -> None:
        """As after the de-dup window (a new Nats-Msg-Id): JetStream keeps both copies."""
        nc = await nats.connect(servers=ncfg.servers)
        try:
            js = nc.jetstream()
            for e in events:
                subject = event_subject(ncfg.subject_prefix, e)
                await js.publish(subject, event_json(e).encode(), headers={MSG_ID: f"{e.id}-again"})
        finally:
            await nc.close()

    asyncio.run(republish())
    url = pg[0]
    st = run_until_idle(_central_cfg(ncfg, url)).stats()
    assert (st.consumed, st.stored, st.duplicates) == (2 * len(events), len(events), len(events))
    assert fingerprint(url, ["s1"]) == reference(tmp_path, events, ["s1"])  # projections not doubled


def _allow_connections(name: str, allow: bool) -> None:
    """Open or close the database; closing also cuts the connections it has."""
    admin = pg_admin()
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allow).lower()}')
            if not allow:
                conn.exec_driver_sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    finally:
        admin.dispose()


def test_database_outage_holds_events_until_it_returns(ncfg: NatsConfig, pg: tuple[str, str], tmp_path: Path) -> None:
    url, name = pg
    part1, part2 = shoppers("s1", 25), shoppers("s1", 50, tag="b")
    central = CentralThread(_central_cfg(ncfg, url))
    try:
        publish(ncfg, part1, tmp_path / "spool1")
        wait_until(lambda: central.ingest.stats().stored == len(part1), 30, "part 1 stored")
        _allow_connections(name, False)
        publish(ncfg, part2, tmp_path / "spool2")
        wait_until(lambda: central.ingest.stats().db_errors >= 2, 30, "failed attempts")
        assert not central.ingest.stats().db_up
        time.sleep(3.0)  # longer than the consumer's 2 s ack wait: held in hand, not redelivered
        assert central.ingest.stats().stored == len(part1)
        _allow_connections(name, True)
        wait_until(lambda: central.ingest.stats().stored == len(part1) + len(part2), 30, "part 2 stored")
    finally:
        central.stop()
    st = central.ingest.stats()
    assert st.db_up and st.duplicates == 0 and st.redelivered == 0
    assert fingerprint(url, ["s1"]) == reference(tmp_path, part1 + part2, ["s1"])


def test_stopped_during_database_outage_leaves_the_batch_for_redelivery(
    ncfg: NatsConfig, pg: tuple[str, str], tmp_path: Path
) -> None:
    url, name = pg
    part1, part2 = shoppers("s1", 25), shoppers("s1", 50, tag="b")
    publish(ncfg, part1, tmp_path / "spool1")
    _allow_connections(name, False)
    central = CentralThread(_central_cfg(ncfg, url))
    try:  # the database is down from the start: central waits for it, consuming nothing
        wait_until(lambda: central.ingest.stats().db_errors >= 2, 30, "failed attempts")
    finally:
        central.stop(timeout_s=10)
    assert central.acked == 0
    _allow_connections(name, True)
    central = CentralThread(_central_cfg(ncfg, url))
    try:  # now the database works, then goes away while a batch is in hand
        wait_until(lambda: central.ingest.stats().stored == len(part1), 30, "part 1 stored")
        _allow_connections(name, False)
        publish(ncfg, part2, tmp_path / "spool2")
        wait_until(lambda: central.ingest.stats().db_errors >= 1, 30, "a failed attempt")
    finally:
        central.stop(timeout_s=10)  # NAKs what it holds and exits
    assert central.ingest.stats().stored == len(part1)
    _allow_connections(name, True)
    b = run_until_idle(_central_cfg(ncfg, url)).stats()
    assert b.redelivered > 0 and b.duplicates == 0 and b.stored == len(part2)
    assert fingerprint(url, ["s1"]) == reference(tmp_path, part1 + part2, ["s1"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cli:
    """``storelens central`` as a real process, output to files (no pipe can fill up)."""

    def __init__(self, tmp: Path, name: str, *args: str) -> None:
        self.out, self.err = tmp / f"{name}.out", tmp / f"{name}.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "storelens.cli.main", "central", *args],
                stdout=out,
                stderr=err,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout_s)

    def text(self) -> str:
        return self.out.read_text() + self.err.read_text()


def test_cli_retries_dead_nats_survives_a_kill_and_stops_on_sigterm(
    ncfg: NatsConfig, pg: tuple[str, str], tmp_path: Path
) -> None:
    url = pg[0]
    # no NATS server at start: says so, retries, and still stops cleanly
    dead = Cli(tmp_path, "dead", "--nats", f"nats://127.0.0.1:{_free_port()}", "--db", url)
    try:
        wait_until(lambda: "cannot reach" in dead.text(), 20, "the retry message")
    finally:
        rc = dead.stop()
    assert rc == 0 and "Traceback" not in dead.text(), dead.text()

    events = shoppers("s1", 600) + shoppers("s2", 400)
    publish(ncfg, events, tmp_path / "spool")
    port = _free_port()
    args = ["--nats", NATS_URL, "--db", url, "--stream", ncfg.stream, "--prefix", ncfg.subject_prefix]
    args += ["--durable", DURABLE, "--batch", "50", "--metrics-port", str(port)]
    first = Cli(tmp_path, "first", *args)
    try:
        wait_until(lambda: db_count(url) > 0, 30, "the first commits")
    finally:
        first.stop(signal.SIGKILL)  # a crash: whatever was in hand is neither acknowledged nor lost
    assert 0 < db_count(url) < len(events)
    second = Cli(tmp_path, "second", *args)
    try:
        wait_until(lambda: db_count(url) == len(events), 60, "every event stored")

        def metrics() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return str(r.read().decode())

        wait_until(lambda: "storelens_central_events_stored_total" in metrics(), 10, "metrics")
        text = metrics()
        assert "storelens_central_consumer_pending" in text and "storelens_central_db_up 1.0" in text
    finally:
        rc = second.stop()
    assert rc == 0, second.text()
    assert "storelens central stopped:" in second.text() and "Traceback" not in second.text()
    assert fingerprint(url, ["s1", "s2"]) == reference(tmp_path, events, ["s1", "s2"])


# ------------------------------------------------------------------------- several consumers
def test_two_consumers_on_one_durable_store_exactly_once_with_projections(
    ncfg: NatsConfig, pg: tuple[str, str], tmp_path: Path
) -> None:
    """Work-queue semantics: both consumers get batches, and the batches they commit at the same
    time touch the same aggregate rows (same stores, same buckets) and split visits between them;
    the result must equal storing everything in one go."""
    stores = ["s1", "s2", "s3"]
    events = [e for s in stores for e in shoppers(s, 250)]
    events.sort(key=lambda e: (e.ts, e.id))  # the stores' events interleaved, as on the stream
    url = pg[0]
    cfg = _central_cfg(ncfg, url, batch=20)
    a, b = CentralThread(cfg), CentralThread(cfg)
    try:
        wait_until(lambda: a.ingest.stats().db_up and b.ingest.stats().db_up, 30, "both consumers started")
        publish(ncfg, events, tmp_path / "spool")
        wait_until(lambda: db_count(url) == len(events), 60, "every event stored")
    finally:
        a.stop()
        b.stop()
    sa_, sb = a.ingest.stats(), b.ingest.stats()
    assert sa_.stored > 0 and sb.stored > 0, (sa_, sb)  # the work was shared
    assert sa_.stored + sb.stored == len(events)
    assert sa_.duplicates + sb.duplicates <= sa_.redelivered + sb.redelivered  # only a redelivery repeats one
    assert fingerprint(url, stores) == reference(tmp_path, events, stores)


def _visit_event(kind: str, ts: datetime, **kw: Any) -> Event:
    return Event(type=kind, store_id="s1", camera_id="cam0", subject="v1", ts=ts, **kw)


def test_a_visit_split_between_two_concurrent_transactions_is_not_overwritten(pg: tuple[str, str]) -> None:
    """The race the per-visit lock closes: one transaction starts a visit and adds dwell, another
    ends it (no final figures) before the first commits. Without the lock the second reads no row
    and its upsert replaces the first one's start time and dwell when it commits."""
    url = pg[0]
    open_database(url).close()  # migrated
    first = [
        _visit_event("visit.started", T0),
        _visit_event("zone.exited", T0 + timedelta(seconds=20), zone_id="z1", payload={"dwell_s": 12.0}),
    ]
    # two hours later: no aggregate bucket in common, whose rows would serialize the two anyway
    end = [_visit_event("visit.ended", T0 + timedelta(hours=2), payload={"duration_s": 7200.0})]
    with open_database(url) as db1, open_database(url) as db2:
        errors: list[BaseException] = []

        def second() -> None:
            try:
                with db2.begin() as conn:
                    store_events(conn, end)
            except BaseException as exc:
                errors.append(exc)

        with db1.begin() as conn:
            store_events(conn, first)
            other = threading.Thread(target=second)
            other.start()
            wait_until(lambda: _lock_waiters(url) > 0, 30, "the second transaction waiting for the first")
        other.join(30)
        assert not other.is_alive() and not errors, errors
        with db1.begin() as conn:
            got = list_visits(conn, store_id="s1")
    assert len(got) == 1
    v = got[0]
    assert v.started_at == T0 and v.ended_at == T0 + timedelta(hours=2)
    assert v.dwell_by_zone == {"z1": 12.0}


def _lock_waiters(url: str) -> int:
    """Sessions of this database waiting for a lock (any kind: row, index entry or advisory)."""
    name = sa.make_url(url).database
    with pg_admin().connect() as conn:
        return int(
            conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", (name,)
            ).scalar_one()
        )


def test_one_of_two_cli_consumers_killed_mid_batch_loses_and_duplicates_nothing(
    ncfg: NatsConfig, pg: tuple[str, str], tmp_path: Path
) -> None:
    """Two ``storelens central`` processes on one durable; one is killed with SIGKILL while both
    are committing. What it held uncommitted is redelivered (2 s ack wait) to the survivor, what it
    had committed but not acknowledged is redelivered too and skipped by id."""
    stores = ["s1", "s2"]
    events = [e for s in stores for e in shoppers(s, 600)]
    publish(ncfg, events, tmp_path / "spool")
    url = pg[0]
    args = ["--nats", NATS_URL, "--db", url, "--stream", ncfg.stream, "--prefix", ncfg.subject_prefix]
    args += ["--durable", DURABLE, "--batch", "50"]
    ports = _free_port(), _free_port()
    victim = Cli(tmp_path, "victim", *args, "--metrics-port", str(ports[0]))
    survivor = Cli(tmp_path, "survivor", *args, "--metrics-port", str(ports[1]))
    try:
        # both committing before the kill: the victim holds a batch (or two) at every moment
        wait_until(lambda: _stored_metric(ports[0]) > 0 and _stored_metric(ports[1]) > 0, 60, "both committing")
        victim.stop(signal.SIGKILL)
        at_kill = db_count(url)
        wait_until(lambda: db_count(url) == len(events), 60, "every event stored by the survivor")
    finally:
        if victim.proc.poll() is None:
            victim.stop(signal.SIGKILL)
        rc = survivor.stop()
    assert at_kill < len(events), "the victim was killed after the work was done: nothing was tested"
    assert rc == 0, survivor.text()
    assert "Traceback" not in survivor.text(), survivor.text()
    assert fingerprint(url, stores) == reference(tmp_path, events, stores)


def _stored_metric(port: int) -> float:
    """``storelens_central_events_stored_total`` of a running central; 0 while it cannot answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("storelens_central_events_stored_total"):
            return float(line.split()[-1])
    return 0.0
