"""Event ingest throughput into SQLite and PostgreSQL: ours vs a naive ORM baseline, same run.

ours           ``store_events`` per batch of ``--batch`` events in one transaction: one multi-row
               ``INSERT ... ON CONFLICT (id) DO NOTHING RETURNING id`` per 1000 rows, plus the
               incremental aggregate/visit projections for the new rows (the real write path).
ours via sink  the same through ``DatabaseSink`` (write() from the caller, commit on its thread,
               timed until ``drain()`` returns), i.e. what the pipeline gets.
naive          the baseline many tutorials show: one ORM ``session.add(EventRow(...))`` +
               ``commit()`` per event (no batching, no idempotency check).

Targets (issue 8): >= 20,000 events/s into SQLite and >= 10,000/s into PostgreSQL in batches.
PostgreSQL is the local server (``--pg-url``, a fresh database is created and dropped); pass
``--pg-url ''`` to skip it. Takes well under 2 minutes.

    .venv/bin/python bench/ingest.py [--events 100000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from storelens.events.models import Event
from storelens.sinks.database import DatabaseSink
from storelens.storage import Database, count_events, open_database, store_events
from storelens.storage.models import EventRow

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def make_events(n: int, tag: str) -> list[Event]:
    """A realistic stream: shopper visits (start, zone enter/exit pairs with dwell, intent changes,
    end) overlapping in time, ~50 shoppers at once, plus queue updates; about 24 events per visit."""
    out: list[Event] = []

    def add(kind: str, subject: str | None, cam: str, ts: datetime, zone: str | None = None, **p: object) -> None:
        out.append(
            Event(
                id=f"{tag}{len(out):010d}",
                type=kind,
                store_id="bench",
                camera_id=cam,
                zone_id=zone,
                subject=subject,
                ts=ts,
                payload=p,
            )
        )

    visit = 0
    while len(out) < n:
        sub = f"{tag}{visit:x}"
        start = T0 + timedelta(seconds=12 * visit)  # a new shopper every 12 s, each staying ~10 min
        cam = f"cam{visit % 4}"
        add("visit.started", sub, cam, start)
        for j in range(9):
            zone = f"z{(visit + j) % 12}"
            add("zone.entered", sub, cam, start + timedelta(seconds=60 * j + 1), zone)
            add("zone.exited", sub, cam, start + timedelta(seconds=60 * j + 31), zone, dwell_s=30.0 + j)
            if j % 3 == 2:
                t = start + timedelta(seconds=60 * j + 32)
                add("intent.changed", sub, cam, t, zone, state="interested", score=0.6, reasons=["dwell", "reach"])
        add("queue.updated", None, cam, start + timedelta(seconds=590), "q1", length=visit % 6)
        add("visit.ended", sub, cam, start + timedelta(seconds=600), duration_s=600.0, fragments=1)
        visit += 1
    out = out[:n]
    out.sort(key=lambda e: (e.ts, e.id))  # interleaved as a store produces them
    return out


def run_ours(db: Database, events: list[Event], batch: int) -> float:
    t = time.perf_counter()
    for i in range(0, len(events), batch):
        with db.begin() as conn:
            store_events(conn, events[i : i + batch])
    return len(events) / (time.perf_counter() - t)


def run_sink(db: Database, events: list[Event], batch: int, spool: Path) -> float:
    sink = DatabaseSink(db, batch_size=batch, flush_interval_s=0.05, spool_dir=spool, max_pending=len(events) + batch)
    t = time.perf_counter()
    for i in range(0, len(events), 100):  # the pipeline hands over small batches
        sink.write(events[i : i + 100])
    ok = sink.drain(300)
    rate = len(events) / (time.perf_counter() - t)
    sink.close()
    if not ok or sink.stats().inserted != len(events):
        raise RuntimeError(f"sink did not store everything: {sink.stats()}")
    return rate


def run_naive(db: Database, events: list[Event]) -> float:
    """Baseline: ORM add + commit per event."""
    t = time.perf_counter()
    with db.sessions() as s:
        for e in events:
            s.add(
                EventRow(
                    id=e.id,
                    type=e.type,
                    store_id=e.store_id,
                    camera_id=e.camera_id,
                    zone_id=e.zone_id,
                    subject=e.subject,
                    ts=e.ts,
                    payload=e.payload,
                )
            )
            s.commit()
    return len(events) / (time.perf_counter() - t)


def bench(name: str, db: Database, n: int, naive_n: int, batch: int, spool: Path, target: float) -> None:
    ours = run_ours(db, make_events(n, "a"), batch)
    via_sink = run_sink(db, make_events(n, "b"), batch, spool)
    naive = run_naive(db, make_events(naive_n, "c"))
    with db.begin() as conn:
        stored = count_events(conn)
    assert stored == 2 * n + naive_n, (stored, 2 * n + naive_n)
    verdict = "meets" if min(ours, via_sink) >= target else "BELOW"
    print(f"\n{name} ({db.url})")
    print(f"  {'method':<44}{'events':>9}{'events/s':>12}{'vs naive':>10}")
    for label, count, rate in (
        (f"ours: store_events, batches of {batch}", n, ours),
        ("ours via DatabaseSink (write -> drain)", n, via_sink),
        ("naive: ORM add + commit per event", naive_n, naive),
    ):
        print(f"  {label:<44}{count:>9}{rate:>12,.0f}{rate / naive:>9.1f}x")
    print(f"  target {target:,.0f}/s: {verdict}")


def with_pg_database(admin_url: str, body: Callable[[str], None]) -> None:
    name = f"sl_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        body(sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False))
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000, help="events per 'ours' run")
    ap.add_argument("--naive-events", type=int, default=2_000, help="events for the (slow) baseline")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(Path(tmp) / "bench.db")
        try:
            bench(
                "SQLite (WAL, synchronous=NORMAL)",
                db,
                args.events,
                args.naive_events,
                args.batch,
                Path(tmp) / "sp1",
                20_000,
            )
        finally:
            db.close()
        if args.pg_url:

            def pg(url: str) -> None:
                with open_database(url) as pdb:
                    bench(
                        "PostgreSQL",
                        pdb,
                        args.events // 2,
                        args.naive_events // 2,
                        args.batch,
                        Path(tmp) / "sp2",
                        10_000,
                    )

            with_pg_database(args.pg_url, pg)


if __name__ == "__main__":
    main()
