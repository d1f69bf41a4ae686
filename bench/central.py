"""Central ingest throughput: JetStream → PostgreSQL, batch per transaction vs per message, same run.

ours       ``CentralIngest`` (what ``storelens central`` runs): fetch ``--batch`` messages, store
           them through ``store_events`` in one transaction, acknowledge after the commit.
baseline   ``consume_events`` with a handler that stores each event in its own transaction
           (``store_events([event])``), fetching ``--batch`` messages at a time: the obvious way
           to write a consumer on top of the per-event API.

Both read the same pre-published stream (the realistic event mix of ``bench/ingest.py``, published
through ``NatsSink`` as edge nodes do) with their own durable consumer, into their own fresh
PostgreSQL database (migrated before timing); each is timed from start until its last event is
committed and acknowledged, and the stored row count is checked. The stream and the databases are
deleted afterwards. Needs NATS JetStream and PostgreSQL (``--nats``, ``--pg-url``); under 2 minutes.

    .venv/bin/python bench/central.py [--events 50000] [--baseline-events 5000] [--batch 500]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

import nats

from ingest import make_events, with_pg_database
from storelens.central import CentralConfig, CentralIngest
from storelens.config.outputs import NatsConfig
from storelens.events.models import Event
from storelens.sinks.nats import NatsSink, consume_events
from storelens.storage import count_events, open_database, store_events


def publish(cfg: NatsConfig, events: list[Event], spool: Path) -> float:
    sink = NatsSink(cfg, spool_dir=spool, concurrency=256)
    t = time.perf_counter()
    for i in range(0, len(events), 1000):
        sink.write(events[i : i + 1000])
    if not sink.wait_delivered(300):
        raise RuntimeError(f"publishing did not finish: {sink.stats()}")
    rate = len(events) / (time.perf_counter() - t)
    sink.close()
    return rate


def stored(url: str) -> int:
    with open_database(url) as db, db.begin() as conn:
        return count_events(conn)


def run_ours(cfg: NatsConfig, url: str, n: int, batch: int) -> float:
    open_database(url).close()  # migrations are not part of the measurement
    central = CentralIngest(CentralConfig(nats=cfg, database_url=url, durable="bench-ours", batch=batch))
    t = time.perf_counter()
    acked = asyncio.run(central.run(max_events=n, idle_timeout_s=10))
    rate = n / (time.perf_counter() - t)
    if acked != n or stored(url) != n:
        raise RuntimeError(f"ours: acknowledged {acked}, stored {stored(url)}, expected {n}")
    return rate


def run_baseline(cfg: NatsConfig, url: str, n: int, batch: int) -> float:
    with open_database(url) as db:

        def handler(event: Event) -> None:
            with db.begin() as conn:
                store_events(conn, [event])

        t = time.perf_counter()
        acked = asyncio.run(
            consume_events(cfg, handler, durable="bench-baseline", batch=batch, max_events=n, idle_timeout_s=10)
        )
        rate = n / (time.perf_counter() - t)
    if acked != n or stored(url) != n:
        raise RuntimeError(f"baseline: acknowledged {acked}, stored {stored(url)}, expected {n}")
    return rate


async def delete_stream(cfg: NatsConfig) -> None:
    nc = await nats.connect(servers=cfg.servers)
    try:
        await nc.jetstream().delete_stream(cfg.stream)
    finally:
        await nc.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=50_000, help="events pre-published and stored by 'ours'")
    ap.add_argument("--baseline-events", type=int, default=5_000, help="events for the (slow) per-message baseline")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--nats", default="nats://127.0.0.1:4222")
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    tag = uuid.uuid4().hex[:8]
    cfg = NatsConfig(enabled=True, servers=[args.nats], stream=f"BENCH_{tag}", subject_prefix=f"bench_{tag}")
    events = make_events(args.events, tag)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            pub = publish(cfg, events, Path(tmp) / "spool")
        results: dict[str, float] = {}
        with_pg_database(args.pg_url, lambda url: results.update(ours=run_ours(cfg, url, args.events, args.batch)))
        with_pg_database(
            args.pg_url,
            lambda url: results.update(baseline=run_baseline(cfg, url, args.baseline_events, args.batch)),
        )
    finally:
        asyncio.run(delete_stream(cfg))
    base = results["baseline"]
    print(f"\nJetStream ({args.nats}) -> PostgreSQL; {args.events:,} events pre-published at {pub:,.0f}/s")
    print(f"  {'method':<58}{'events':>9}{'events/s':>11}{'vs baseline':>13}")
    for label, count, rate in (
        (f"ours: central, batch {args.batch}, one transaction per batch", args.events, results["ours"]),
        ("baseline: consume_events, one transaction per message", args.baseline_events, base),
    ):
        print(f"  {label:<58}{count:>9}{rate:>11,.0f}{rate / base:>12.1f}x")


if __name__ == "__main__":
    main()
