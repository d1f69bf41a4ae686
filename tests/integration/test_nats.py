"""NATS JetStream sink and consumer against real nats-server instances.

The shared server (127.0.0.1:4222) is used with a unique stream and subject prefix per test (the
stream is deleted afterwards); the outage test runs a private nats-server on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest

from budget import scaled
from servers import PrivateNats
from storelens.config.outputs import NatsConfig
from storelens.events.models import Event
from storelens.sinks.nats import Batch, NatsSink, consume_batches, consume_events, ensure_stream, event_subject

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SHARED = "nats://127.0.0.1:4222"


def _cfg(servers: list[str] | None = None) -> NatsConfig:
    tag = uuid.uuid4().hex[:10]
    return NatsConfig(
        enabled=True,
        servers=servers or [SHARED],
        stream=f"SLTEST_{tag}",
        subject_prefix=f"sltest_{tag}",
        duplicate_window_s=120,
        max_age_s=3600,
        ack_timeout_s=2,
    )


async def _delete_stream(cfg: NatsConfig) -> None:
    nc = await nats.connect(servers=cfg.servers, connect_timeout=2)
    try:
        await nc.jetstream().delete_stream(cfg.stream)
    finally:
        await nc.close()


@pytest.fixture
def cfg() -> Iterator[NatsConfig]:
    c = _cfg()
    yield c
    with contextlib.suppress(Exception):  # the test may not have created it
        asyncio.run(_delete_stream(c))


def _events(n: int, cam: str = "cam1", start: int = 0) -> list[Event]:
    t = datetime(2025, 3, 1, tzinfo=UTC).timestamp()
    return [
        Event.at("zone.entered", "s1", t + i, camera_id=cam, zone_id="z1", subject=i) for i in range(start, start + n)
    ]


def _consume_all(cfg: NatsConfig, **kw: object) -> list[Event]:
    got: list[Event] = []
    asyncio.run(consume_events(cfg, got.append, idle_timeout_s=scaled(2.0), **kw))  # type: ignore[arg-type]
    return got


def test_consumer_receives_every_event_exactly_once(cfg: NatsConfig, tmp_path: Path) -> None:
    events = _events(500)
    sink = NatsSink(cfg, spool_dir=tmp_path / "spool")
    try:
        sink.write(events)
        sink.write(events[:100])  # at-least-once retry of the same events: JetStream drops them by msg id
        assert sink.wait_delivered(30)
        st = sink.stats()
        assert (st.published, st.duplicates, st.pending) == (600, 100, 0)
    finally:
        sink.close()
    got = _consume_all(cfg, durable="central")
    counts = Counter(e.id for e in got)
    assert set(counts) == {e.id for e in events} and max(counts.values()) == 1
    assert got[0] == events[0]  # payloads round-trip as Events
    # a durable consumer resumes where it stopped: nothing is delivered twice
    assert _consume_all(cfg, durable="central") == []


def test_subject_hierarchy_and_filtering(cfg: NatsConfig, tmp_path: Path) -> None:
    odd = Event.at("queue.updated", "s1", 0.0, camera_id="cam.2*x", zone_id="q", length=1)
    assert event_subject(cfg.subject_prefix, odd) == f"{cfg.subject_prefix}.s1.cam_2_x.queue.updated"
    sink = NatsSink(cfg, spool_dir=tmp_path / "spool")
    try:
        sink.write([*_events(10, cam="cam1"), *_events(7, cam="cam2", start=100), odd])
        assert sink.wait_delivered(30)
    finally:
        sink.close()
    cam2 = _consume_all(cfg, durable="cam2", filter_subject=f"{cfg.subject_prefix}.s1.cam2.>")
    queues = _consume_all(cfg, durable="queues", filter_subject=f"{cfg.subject_prefix}.*.*.queue.>")
    assert {e.camera_id for e in cam2} == {"cam2"} and len(cam2) == 7
    assert [e.id for e in queues] == [odd.id]


def test_stream_setup_is_idempotent_and_updates_settings(cfg: NatsConfig) -> None:
    async def run() -> float:
        nc = await nats.connect(servers=cfg.servers)
        try:
            await ensure_stream(nc, cfg)
            await ensure_stream(nc, cfg)
            changed = cfg.model_copy(update={"duplicate_window_s": 60.0})
            await ensure_stream(nc, changed)
            info = await nc.jetstream().stream_info(cfg.stream)
            return float(info.config.duplicate_window or 0)
        finally:
            await nc.close()

    assert asyncio.run(run()) == 60.0


def test_failed_handler_gets_the_event_again(cfg: NatsConfig, tmp_path: Path) -> None:
    events = _events(20)
    sink = NatsSink(cfg, spool_dir=tmp_path / "spool")
    sink.write(events)
    assert sink.wait_delivered(30)
    sink.close()
    failed_once: set[str] = set()
    handled: list[str] = []
    wanted = {e.id for e in events}

    async def main() -> int:
        done = asyncio.Event()

        async def handler(e: Event) -> None:
            if e.subject in ("3", "11") and e.id not in failed_once:
                failed_once.add(e.id)
                raise RuntimeError("database busy")
            handled.append(e.id)
            if set(handled) >= wanted:
                done.set()

        # stops once every event was handled; the long idle limit only ends a run that hangs (a
        # redelivery after the ack wait takes seconds on a busy machine, so no short fixed wait)
        return await consume_events(cfg, handler, durable="retry", stop=done, idle_timeout_s=120.0)

    # delivery is at-least-once, so an event may be handled twice; every one must be handled
    n = asyncio.run(main())
    assert n >= 20 and set(handled) == wanted and len(failed_once) == 2


def test_server_outage_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    server = PrivateNats(tmp_path / "js")
    cfg = _cfg([f"nats://127.0.0.1:{server.port}"])
    sink = NatsSink(cfg, spool_dir=tmp_path / "spool", retry_initial_s=0.2, retry_max_s=1.0)
    events = _events(300)
    try:
        sink.write(events[:100])
        assert sink.wait_delivered(30)
        server.stop()
        sink.write(events[100:])
        time.sleep(1.0)
        assert sink.stats().pending > 0  # waiting in the outbox, not lost
        server.start()
        assert sink.wait_delivered(60)
        sink.close()
        got = _consume_all(cfg, durable="central")
        assert Counter(e.id for e in got) == Counter(e.id for e in events)
    finally:
        sink.close()
        server.stop()


def test_next_batch_is_fetched_while_one_is_handled_and_batches_stay_in_order(cfg: NatsConfig, tmp_path: Path) -> None:
    """``inflight=2``: while the handler works on a batch, the next one is already delivered (the
    server counts it as pending acknowledgement), yet the handler sees the batches one at a time,
    in stream order, and each is acknowledged only after it returned."""
    events = _events(300)
    sink = NatsSink(cfg, spool_dir=tmp_path / "spool")
    try:
        sink.write(events)
        assert sink.wait_delivered(30)
    finally:
        sink.close()
    seen: list[str] = []
    overlapped: list[bool] = []
    running = 0

    async def handler(b: Batch) -> None:
        nonlocal running
        running += 1
        assert running == 1, "two batches handled at once"
        if not overlapped:  # first batch: wait (generously) for the next one to be delivered meanwhile
            nc = await nats.connect(servers=cfg.servers)
            try:
                deadline = time.monotonic() + 30
                while not overlapped and time.monotonic() < deadline:
                    info = await nc.jetstream().consumer_info(cfg.stream, "pipelined")
                    if (info.num_ack_pending or 0) > len(b.events):
                        overlapped.append(True)
                    await asyncio.sleep(0.05)
            finally:
                await nc.close()
        seen.extend(e.id for e in b.events)
        running -= 1

    idle = scaled(2.0)
    n = asyncio.run(consume_batches(cfg, handler, durable="pipelined", batch=50, inflight=2, idle_timeout_s=idle))
    assert overlapped == [True], "the next batch was not fetched while the first was handled"
    assert n == len(events) and seen == [e.id for e in events]


def test_a_small_fleet_day_through_the_edge_sink_arrives_whole(cfg: NatsConfig, tmp_path: Path) -> None:
    """The fleet load generator (sim/fleet.py) through the real edge sink and outbox: a compressed
    day of 4 stores arrives in full, each event once, with the lunchtime peak above the morning."""
    from storelens.sim.fleet import FleetLoad, fleet_stores

    load = FleetLoad(fleet_stores(4, seed=2), peak_events_s=300.0, day_s=1.3, id_prefix="F", live=False)
    sink = NatsSink(cfg, spool_dir=tmp_path / "spool")
    try:
        while not load.closed:
            sink.write(load.next_tick(0.05))  # a simulated half hour per write
        assert sink.wait_delivered(30)
    finally:
        sink.close()
    got = _consume_all(cfg, durable="fleet")
    assert len(got) == load.produced == len({e.id for e in got}) > 200
    by_hour = Counter(e.ts.hour for e in got)
    assert by_hour[12] > 2 * by_hour[8] and set(by_hour) <= set(range(8, 21))
