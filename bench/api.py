"""API latency of event queries over 1,000,000 stored events: keyset (cursor) pagination on the
(ts, id) index, next to the common baseline of OFFSET pagination, in the same run, with ratios.

Each request goes through the real app (FastAPI routing, validation, the repository query, JSON
serialisation) in-process via the ASGI test client, so the figures are server-side latency without
a network hop. The baseline is a route added to the same app for this benchmark only: the same
filters, page size and serialisation, but ``ORDER BY ts, id LIMIT n OFFSET k`` instead of a cursor.

Scenarios (page size 100):
  first page        no filter, first page
  deep page         no filter, the page at row 900,000
  filtered deep     type=zone.exited + zone_id + a 24 h window, the page at match 3,000

Events are generated inside the database (a recursive CTE on SQLite, generate_series on
PostgreSQL) so the 1M rows load in seconds, then both are ANALYZEd (see load_sqlite). Run:
    .venv/bin/python bench/api.py                # SQLite
    .venv/bin/python bench/api.py --pg           # and PostgreSQL (127.0.0.1:5432, a scratch schema)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fastapi import Query  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from storelens.config.store import StoreConfig  # noqa: E402
from storelens.service import ServiceDeps, ServiceSettings, create_app  # noqa: E402
from storelens.service.schemas.events import EventPageOut  # noqa: E402
from storelens.storage.events import encode_cursor, row_to_event  # noqa: E402
from storelens.storage.models import EVENTS  # noqa: E402

T0 = datetime(2025, 3, 1, tzinfo=UTC)
TYPES = [
    "zone.entered",
    "zone.exited",
    "visit.started",
    "visit.ended",
    "queue.updated",
    "occupancy.changed",
    "intent.changed",
    "line.crossed",
]
ZONES = 11  # coprime with the 8 types, so every (type, zone) pair occurs
STEP_S = 0.25  # one event every 250 ms: 1M events span ~69 hours


def store_config() -> StoreConfig:
    return StoreConfig.model_validate(
        {
            "store_id": "bench",
            "cameras": [{"id": f"cam{i}", "source": "rtsp://127.0.0.1/none"} for i in range(4)],
            "zones": [{"id": f"z{i}", "camera": "cam0", "points": [[0, 0], [10, 0], [10, 10]]} for i in range(ZONES)],
        }
    )


def load_sqlite(engine: sa.Engine, n: int) -> None:
    types = " ".join(f"WHEN {i} THEN '{t}'" for i, t in enumerate(TYPES))
    epoch = int(T0.timestamp())
    chunk = 200_000
    with engine.begin() as conn:
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            conn.exec_driver_sql(
                f"""
                WITH RECURSIVE seq(i) AS (SELECT {start} UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < {stop})
                INSERT INTO events (id, type, store_id, camera_id, zone_id, subject, ts, payload, received_at)
                SELECT printf('%016x%016x', (i * 2654435761) % 4294967296, i),
                       CASE i % {len(TYPES)} {types} END,
                       'bench', 'cam' || (i % 4), 'z' || (i % {ZONES}), printf('%x', i / 40),
                       strftime('%Y-%m-%d %H:%M:%S', {epoch} + i / 4, 'unixepoch')
                         || printf('.%06d', (i % 4) * 250000),
                       '{{"dwell_s": 3.5}}', CURRENT_TIMESTAMP
                FROM seq
                """
            )
        # planner statistics, as a database in service would have them (PostgreSQL's autovacuum
        # analyses by itself; SQLite only when told). Without them SQLite sorts the whole store.
        conn.exec_driver_sql("ANALYZE")


def load_postgres(engine: sa.Engine, n: int) -> None:
    types = "ARRAY[" + ",".join(f"'{t}'" for t in TYPES) + "]"
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"""
            INSERT INTO events (id, type, store_id, camera_id, zone_id, subject, ts, payload, received_at)
            SELECT md5(i::text), ({types})[i %% {len(TYPES)} + 1], 'bench', 'cam' || (i %% 4),
                   'z' || (i %% {ZONES}), to_hex(i / 40),
                   TIMESTAMPTZ '{T0.isoformat()}' + (i * interval '250 milliseconds'),
                   '{{"dwell_s": 3.5}}'::jsonb, now()
            FROM generate_series(0, {n - 1}) AS i
            """
        )
        conn.exec_driver_sql("ANALYZE events")


def add_offset_baseline(app: Any, deps: ServiceDeps) -> None:
    """The baseline route: identical filters and serialisation, OFFSET instead of a cursor."""

    @app.get("/bench/offset-events", response_model=EventPageOut)
    def offset_events(
        type: str | None = Query(None),
        zone_id: str | None = Query(None),
        since: datetime | None = Query(None),
        until: datetime | None = Query(None),
        offset: int = Query(0, ge=0),
        limit: int = Query(100, ge=1, le=1000),
    ) -> EventPageOut:
        c = EVENTS.c
        where = [c.store_id == "bench"]
        if type:
            where.append(c.type == type)
        if zone_id:
            where.append(c.zone_id == zone_id)
        if since:
            where.append(c.ts >= since)
        if until:
            where.append(c.ts < until)
        stmt = sa.select(EVENTS).where(*where).order_by(c.ts, c.id).limit(limit).offset(offset)
        with deps.db.engine.connect() as conn:
            items = [row_to_event(r) for r in conn.execute(stmt)]
        return EventPageOut(items=items, next_cursor=None)


def cursor_at(deps: ServiceDeps, offset: int, **filters: Any) -> str:
    """The cursor a client holds after reading ``offset`` rows (found once, untimed)."""
    c = EVENTS.c
    where = [c.store_id == "bench"]
    if "type" in filters:
        where.append(c.type == filters["type"])
    if "zone_id" in filters:
        where.append(c.zone_id == filters["zone_id"])
    if "since" in filters:
        where.append(c.ts >= filters["since"])
    if "until" in filters:
        where.append(c.ts < filters["until"])
    stmt = sa.select(c.ts, c.id).where(*where).order_by(c.ts, c.id).offset(offset - 1).limit(1)
    with deps.db.engine.connect() as conn:
        ts, event_id = conn.execute(stmt).one()
    return encode_cursor(ts, event_id)


def timed(client: TestClient, url: str, params: dict[str, Any], reps: int, check: Callable[[Any], None]) -> list[float]:
    out = []
    client.get(url, params=params)  # warm-up (statement cache, page cache)
    for _ in range(reps):
        t = time.perf_counter()
        r = client.get(url, params=params)
        out.append((time.perf_counter() - t) * 1e3)
        assert r.status_code == 200, r.text
        check(r.json())
    return out


def run(backend: str, url: str, n: int, reps: int, baseline_reps: int) -> list[tuple[str, list[float], list[float]]]:
    settings = ServiceSettings(store=store_config(), database_url=url, run_pipelines=False)
    deps = ServiceDeps.build(settings)
    t = time.perf_counter()
    (load_sqlite if backend == "sqlite" else load_postgres)(deps.db.engine, n)
    print(f"[{backend}] loaded {n:,} events in {time.perf_counter() - t:.1f} s")
    app = create_app(settings, deps)
    add_offset_baseline(app, deps)
    results = []
    with TestClient(app) as client:

        def page_of(k: int) -> Callable[[Any], None]:
            def check(body: Any) -> None:
                assert len(body["items"]) == k, len(body["items"])

            return check

        deep = 900_000 if n >= 1_000_000 else n * 9 // 10
        span = n * STEP_S
        since, until = T0 + timedelta(seconds=0.17 * span), T0 + timedelta(seconds=0.52 * span)  # ~24 h at 1M
        filt_dt = {"type": "zone.exited", "zone_id": "z3", "since": since, "until": until}
        filt = {**filt_dt, "since": since.isoformat(), "until": until.isoformat()}
        match = int(0.35 * n / (len(TYPES) * ZONES) * 0.75)  # 3,000 of ~4,000 matches at 1M
        scenarios = [
            ("first page", {}, {}, 0),
            (f"deep page (row {deep // 1000}k)", {}, {}, deep),
            (f"filtered deep (match {match:,})", filt, filt_dt, match),
        ]
        for name, params, dt_params, offset in scenarios:
            ours_params = dict(params, limit=100)
            if offset:
                ours_params["cursor"] = cursor_at(deps, offset, **dt_params)
            ours = timed(client, "/api/v1/events", ours_params, reps, page_of(100))
            base = timed(
                client, "/bench/offset-events", dict(params, limit=100, offset=offset), baseline_reps, page_of(100)
            )
            results.append((name, ours, base))
    deps.close()
    return results


def report(backend: str, results: list[tuple[str, list[float], list[float]]]) -> None:
    print(f"\n[{backend}] event query latency, ms (page of 100; ours = keyset cursor, baseline = OFFSET)")
    print(f"{'scenario':28}{'ours p50':>10}{'ours p95':>10}{'base p50':>10}{'base p95':>10}{'p95 ratio':>11}")
    for name, ours, base in results:
        o50, o95 = statistics.median(ours), float(np.percentile(ours, 95))
        b50, b95 = statistics.median(base), float(np.percentile(base, 95))
        print(f"{name:28}{o50:10.2f}{o95:10.2f}{b50:10.2f}{b95:10.2f}{b95 / o95:10.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=60, help="timed requests per scenario (ours)")
    ap.add_argument("--baseline-reps", type=int, default=20, help="timed requests per scenario (baseline)")
    ap.add_argument("--pg", action="store_true", help="also PostgreSQL at $STORELENS_TEST_PG_URL or 127.0.0.1")
    args = ap.parse_args()
    print(f"cpu cores: {os.cpu_count()}  events: {args.events:,}  reps: {args.reps} (baseline {args.baseline_reps})")
    with tempfile.TemporaryDirectory() as tmp:
        report("sqlite", run("sqlite", f"sqlite:///{tmp}/bench.db", args.events, args.reps, args.baseline_reps))
    if args.pg:
        admin_url = os.environ.get("STORELENS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
        schema = f"sl_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        try:
            url = sa.make_url(admin_url).update_query_dict({"options": f"-csearch_path={schema}"})
            report(
                "postgresql",
                run(
                    "postgresql", url.render_as_string(hide_password=False), args.events, args.reps, args.baseline_reps
                ),
            )
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            admin.dispose()


if __name__ == "__main__":
    main()
