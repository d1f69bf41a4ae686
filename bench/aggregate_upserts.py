"""Aggregate upserts on PostgreSQL: one ``unnest`` statement (ours) vs ``executemany`` (the baseline).

The deltas of 1,000-event batches of 1,000 simulated stores (``sim.fleet``; about 960 aggregate
rows per batch, since a chain's batch touches nearly one (store, zone, bucket) row per event) are
applied to a fresh database, alternating baseline and ours twice so load drifts hit both.

    .venv/bin/python bench/aggregate_upserts.py [--batches 10]   (run from bench/)
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import sqlalchemy as sa

from fleet import EdgeJob, _edge_events
from ingest import with_pg_database
from storelens.sim.fleet import fleet_stores
from storelens.storage import aggregates as agg
from storelens.storage import open_database


def executemany(conn: Any, deltas: dict[agg.AggKey, agg.AggregateDelta]) -> None:
    """The previous implementation: SQLAlchemy's insert ... on conflict with a row list."""
    t = agg.AGGREGATES
    rows = [
        {"store_id": k[0], "zone_id": k[1], "bucket_start": k[2], "bucket_s": k[3], **agg._delta_dict(d)}
        for k, d in sorted(deltas.items())
    ]
    ins = agg.dialect_insert(conn, t)
    set_: dict[str, Any] = {f: t.c[f] + ins.excluded[f] for f in agg._SUM_FIELDS}
    set_.update({f: sa.func.greatest(t.c[f], ins.excluded[f]) for f in agg._MAX_FIELDS})
    keys = ["store_id", "zone_id", "bucket_start", "bucket_s"]
    conn.execute(ins.on_conflict_do_update(index_elements=keys, set_=set_), rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    job = EdgeJob({}, "", "A", 0, fleet_stores(1000), 1000 * args.batches, None)
    events = list(_edge_events(job))
    batches = [agg.compute_deltas(events[i : i + 1000], agg.DEFAULT_BUCKETS_S) for i in range(0, len(events), 1000)]
    times: dict[str, list[float]] = {"executemany": [], "unnest": []}

    def body(url: str) -> None:
        with open_database(url) as db:
            for name, fn in (("executemany", executemany), ("unnest", agg.apply_deltas)) * 2:
                t = time.perf_counter()
                for d in batches:
                    with db.begin() as conn:
                        fn(conn, d)
                times[name].append((time.perf_counter() - t) / len(batches))

    with_pg_database(args.pg_url, body)
    rows = sum(map(len, batches)) / len(batches)
    base = min(times["executemany"])
    print(f"\n  {len(batches)} batches of 1,000 events, {rows:,.0f} aggregate rows each (best of 2)")
    for name, ts in times.items():
        print(f"  {name:<12}{1000 * min(ts):>8.1f} ms/batch{base / min(ts):>6.2f}x")


if __name__ == "__main__":
    main()
