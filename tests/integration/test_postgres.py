"""The storage layer on a real PostgreSQL (127.0.0.1:5432): each test gets a fresh database.

Same repository code as the SQLite unit tests; here the PostgreSQL specifics are checked too:
JSONB, timestamptz, ON CONFLICT from concurrent writers, the migration advisory lock.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storelens.analytics.heatmap import HeatBucket, HeatmapGrid
from storelens.events.models import Event
from storelens.sinks.database import DatabaseSink
from storelens.storage import (
    count_events,
    get_visit,
    head_revision,
    insert_events,
    open_database,
    query_aggregates,
    query_events,
    store_events,
)
from storelens.storage.events import _PG_STORED_SQL
from storelens.storage.heatmaps import add_heatmap_buckets, read_heatmap
from storelens.storage.migrate import alembic_config
from storelens.storage.models import AGGREGATES, load_all_models
from storelens.storage.partitions import add_months, ensure_partitions, include_object, month_start, partition_name

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
_COMPARE = {"compare_type": True, "include_object": include_object}  # partitions are not models


def ev(etype: str, sec: float, /, *, zone: str | None = None, subject: str | None = None, **p: object) -> Event:
    return Event(
        type=etype,
        store_id="s1",
        ts=T0 + timedelta(seconds=sec),
        camera_id="cam1",
        zone_id=zone,
        subject=subject,
        payload=dict(p),
    )


def test_migrations_up_from_empty_match_the_models(pg_url: str) -> None:
    with open_database(pg_url) as db:
        assert db.dialect == "postgresql"
        assert db.schema_revision() == head_revision()
        with db.engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object}),
                load_all_models(),
            )
            assert diff == []
            assert (
                conn.exec_driver_sql(
                    "SELECT data_type FROM information_schema.columns"
                    " WHERE table_name='events' AND column_name='payload'"
                ).scalar()
                == "jsonb"
            )
    with open_database(pg_url) as db:  # second start: no-op, data kept
        assert db.schema_revision() == head_revision()


def test_concurrent_first_starts_migrate_once(pg_url: str) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            open_database(pg_url).close()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_idempotent_writes_pagination_and_aggregates(pg_url: str) -> None:
    events = [
        ev("zone.exited", i * 0.5, zone=f"z{i % 2}", subject=f"v{i % 3}", dwell_s=float(i % 5)) for i in range(101)
    ]
    with open_database(pg_url) as db:
        with db.begin() as conn:
            assert store_events(conn, events).inserted == 101
        with db.begin() as conn:
            result = store_events(conn, [*events[50:], ev("visit.started", 0, subject="v1")])
            assert (result.inserted, result.duplicates) == (1, 51)
        with db.begin() as conn:
            assert count_events(conn) == 102
            assert count_events(conn, types=["zone."], zone_id="z1") == 50
            seen, cursor = [], None
            while True:
                page = query_events(conn, zone_id="z0", limit=9, cursor=cursor, descending=True)
                seen += page.items
                if (cursor := page.next_cursor) is None:
                    break
            expected = sorted((e for e in events if e.zone_id == "z0"), key=lambda e: (e.ts, e.id), reverse=True)
            assert [e.id for e in seen] == [e.id for e in expected]
            assert seen[0].payload == expected[0].payload and seen[0].ts == expected[0].ts
            agg = query_aggregates(conn, store_id="s1", bucket_s=3600, zone_id="z0")
            assert sum(a.exits for a in agg) == 51
            assert sum(a.dwell_total_s for a in agg) == sum(e.payload["dwell_s"] for e in events if e.zone_id == "z0")
            visit = get_visit(conn, "s1", "v1")
            assert visit is not None and visit.started_at == T0


def test_aggregate_upserts_match_sqlite_row_for_row(pg_url: str, tmp_path: Path) -> None:
    """PostgreSQL adds deltas with one unnest statement, SQLite with executemany: every column of
    every bucket row agrees after three batches that create, add to and raise the maxima of rows."""
    events = [ev("visit.started", 0, subject="v0"), ev("visit.ended", 4000, subject="v0")]
    events += [ev("zone.entered", i * 37.0, zone=f"z{i % 3}") for i in range(60)]
    events += [ev("zone.exited", i * 41.0, zone=f"z{i % 3}", dwell_s=0.5 + i) for i in range(60)]
    events += [ev("queue.updated", i * 300.0, zone="q1", length=i % 7) for i in range(14)]
    events += [ev("occupancy.changed", i * 250.0, occupancy=(i * 5) % 11) for i in range(16)]
    batches = [events[0::3], events[1::3], events[2::3]]

    def rows(url: str | Path) -> list[tuple[object, ...]]:
        with open_database(url) as db:
            for b in batches:
                with db.begin() as conn:
                    store_events(conn, b)
            with db.begin() as conn:
                out = conn.execute(sa.select(AGGREGATES).order_by(*AGGREGATES.primary_key.columns)).all()
        return [tuple(r) for r in out]

    want = rows(tmp_path / "ref.db")
    assert len(want) > 20 and rows(pg_url) == want


def test_racing_writers_store_and_count_each_event_once(pg_url: str) -> None:
    events = [ev("zone.entered", i, zone="z1") for i in range(400)]
    with open_database(pg_url) as db:
        barrier = threading.Barrier(3)

        def write() -> None:
            barrier.wait()
            for i in range(0, 400, 50):
                with db.begin() as conn:
                    store_events(conn, events[i : i + 50])

        threads = [threading.Thread(target=write) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with db.begin() as conn:
            assert count_events(conn) == 400
            agg = query_aggregates(conn, store_id="s1", bucket_s=300, zone_id="z1")
            assert sum(a.entries for a in agg) == 400


def test_copy_that_meets_a_concurrent_commit_falls_back_and_stores_each_event_once(pg_url: str) -> None:
    """insert_events COPYs what its look-up did not find; a writer that holds one of those ids
    uncommitted makes the COPY wait on the primary key and fail once it commits. The batch must
    then go through INSERT ... ON CONFLICT (savepoint) and project only what it stored itself."""
    shared = ev("zone.entered", 0, zone="z1")
    own = [ev("zone.entered", 1 + i, zone="z1") for i in range(20)]
    got: list[tuple[int, int]] = []
    with open_database(pg_url) as db:
        holder = db.engine.connect()
        tx = holder.begin()
        assert insert_events(holder, [shared]) == [shared]  # stored, not committed yet

        def write() -> None:
            with db.begin() as conn:
                r = store_events(conn, [shared, *own])
                got.append((r.inserted, r.duplicates))

        t = threading.Thread(target=write)
        t.start()
        # wait until the COPY is blocked on the held row (autocommit: activity is snapshotted per transaction)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as probe:
            for _ in range(500):
                waiting = probe.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'COPY%%'"
                ).scalar_one()
                if waiting:
                    break
                threading.Event().wait(0.02)
            assert waiting, "the second writer never reached its COPY"
        tx.commit()
        holder.close()
        t.join(30)
        assert got == [(20, 1)]
        with db.begin() as conn:
            assert count_events(conn) == 21
            agg = query_aggregates(conn, store_id="s1", bucket_s=300, zone_id="z1")
            assert sum(a.entries for a in agg) == 20  # the holder inserted without projections


def test_upgrade_from_0004_adds_the_heatmap_table_and_keeps_data(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004_events_filter_idx")
        insert_events(conn, [ev("zone.entered", 0, zone="z1")])
    engine.dispose()
    with open_database(pg_url) as db:
        assert db.schema_revision() == head_revision()  # 0005 or a later revision
        with db.engine.connect() as conn:
            assert count_events(conn) == 1
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object}),
                load_all_models(),
            )
            assert diff == []
            assert (
                conn.exec_driver_sql(
                    "SELECT data_type FROM information_schema.columns"
                    " WHERE table_name='heatmap_buckets' AND column_name='cells'"
                ).scalar()
                == "bytea"
            )


def test_racing_heatmap_flushes_add_up_exactly(pg_url: str) -> None:
    """Three writers add increments to the same two buckets at once: the row lock serialises the
    read-modify-write, so no increment is lost (a plain upsert race would keep one writer's cells)."""
    grid = HeatmapGrid.covering("image", 64, 48, 16.0)
    q = timedelta(minutes=15)

    def inc(k: int, start: datetime) -> HeatBucket:
        cells = np.array([k % 12, (k * 5) % 12], np.int32) if k % 12 != (k * 5) % 12 else np.array([k % 12], np.int32)
        return HeatBucket(
            start.timestamp(), 900, cells, np.ones(len(cells), np.uint32), np.full(len(cells), 0.5, np.float32)
        )

    with open_database(pg_url) as db:
        barrier = threading.Barrier(3)
        errors: list[BaseException] = []

        def write(w: int) -> None:
            barrier.wait()
            try:
                for k in range(w, 60, 3):
                    with db.begin() as conn:
                        add_heatmap_buckets(
                            conn, store_id="s1", camera_id="cam1", grid=grid, buckets=[inc(k, T0), inc(k, T0 + q)]
                        )
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        expected = np.zeros(grid.size)
        for k in range(60):
            expected[inc(k, T0).cells] += 1
        with db.begin() as conn:
            for start in (T0, T0 + q):
                got = read_heatmap(conn, store_id="s1", camera_id="cam1", since=start, until=start + q)
                assert got is not None
                np.testing.assert_array_equal(got.traffic.ravel(), expected)
                np.testing.assert_allclose(got.dwell.ravel(), expected * 0.5)


def test_database_sink_into_postgres(pg_url: str, tmp_path: Path) -> None:
    events = [ev("zone.entered", i * 0.01, zone="z1") for i in range(3000)]
    sink = DatabaseSink(pg_url, batch_size=500, flush_interval_s=0.05, spool_dir=tmp_path / "spool")
    sink.write(events)
    sink.write(events[:700])
    assert sink.drain(60)
    sink.close()
    assert (sink.stats().inserted, sink.stats().duplicates, sink.stats().spooled) == (3000, 700, 0)
    with open_database(pg_url) as db, db.begin() as conn:
        assert count_events(conn) == 3000
        assert insert_events(conn, events[:10]) == []


def test_audit_truncation_is_detected_on_postgres(pg_url: str, tmp_path: Path) -> None:
    """Migration 0006 on PostgreSQL, and the seal with a configured key file (PostgreSQL has no
    file to put a default key next to): a cut head and a forged anchor both fail verify."""
    from storelens.security.audit import (
        append_audit,
        configure_audit_seal,
        purge_audit_before,
        use_audit_seal,
        verify_audit,
    )

    key = tmp_path / "audit.key"
    db = open_database(pg_url)
    try:
        configure_audit_seal(db, key)
        for i in range(12):
            append_audit(db, "auth.login", "u", details={"i": i}, now=T0 + timedelta(minutes=i))
        assert purge_audit_before(db, T0 + timedelta(minutes=3)) == 3
        assert verify_audit(db).ok
        with db.begin() as conn:
            conn.exec_driver_sql("DELETE FROM audit_log WHERE seq = 12")
        with open_database(pg_url) as fresh:  # another process, same key file
            use_audit_seal(fresh, key)
            v = verify_audit(fresh)
            assert not v.ok and "sealed head is 12" in (v.reason or ""), v
        with db.begin() as conn:
            conn.exec_driver_sql("DELETE FROM audit_log WHERE seq <= 6")
            conn.exec_driver_sql(
                "UPDATE audit_anchor SET seq = 6, hash = (SELECT prev_hash FROM audit_log WHERE seq = 7)"
            )
        v = verify_audit(db)
        assert not v.ok and "does not match its MAC" in (v.reason or ""), v
    finally:
        db.close()


def test_retention_empties_the_marked_fields_on_postgres(pg_url: str, tmp_path: Path) -> None:
    """The paths purge on JSONB: the fields marked ``retention="paths"`` (path, height_m) leave old
    visit.ended payloads and visits.path; the journey, an unmarked extra and newer visits stay."""
    from storelens.config.privacy import RetentionConfig
    from storelens.lifecycle.retention import purge
    from storelens.security.audit import configure_audit_seal
    from storelens.storage.models import EVENTS, VISITS

    now = T0 + timedelta(days=30)
    payload = {"path": [[0, 1.0, 2.0]], "height_m": 1.71, "journey": ["entrance", "z1"], "legacy": {"k": 1}}
    events = [
        Event(type="visit.ended", store_id="s1", ts=ts, subject=subject, payload=payload)
        for subject, ts in (("old", now - timedelta(days=10)), ("new", now - timedelta(hours=1)))
    ]
    with open_database(pg_url) as db:
        configure_audit_seal(db, tmp_path / "audit.key")
        with db.begin() as conn:
            store_events(conn, events, buckets_s=[3600])
        assert purge(db, RetentionConfig(paths_days=7), now).paths_cleared == 2
        assert purge(db, RetentionConfig(paths_days=7), now).paths_cleared == 0
        with db.engine.connect() as conn:
            stored = dict(conn.execute(sa.select(EVENTS.c.subject, EVENTS.c.payload)).all())
            paths = {r.id: (r.path, r.journey) for r in conn.execute(sa.select(VISITS))}
    assert stored["old"] == {"journey": ["entrance", "z1"], "legacy": {"k": 1}} and stored["new"] == payload
    assert paths == {"old": ([], ["entrance", "z1"]), "new": ([[0, 1.0, 2.0]], ["entrance", "z1"])}


def test_stored_probe_before_copy_reads_only_the_batch_months_partitions(pg_url: str) -> None:
    """insert_events looks up which ids are already stored before its COPY. With the id alone that
    look-up probes every month partition's primary key, a cost that grows with the months retained
    (it made one central consumer fall behind at a 3,000 events/s peak, bench/fleet.py). Bounded
    by the batch's ts range it must plan a scan of the batch's own month only."""
    batch = [ev("zone.entered", 60 * i, zone="z1") for i in range(50)]
    months = [add_months(month_start(T0), k) for k in range(-6, 7)]
    with open_database(pg_url) as db:
        with db.begin() as conn:
            ensure_partitions(conn, months)
            assert len(insert_events(conn, batch)) == 50
        with db.begin() as conn:
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            ids, lo, hi = [e.id for e in batch], min(e.ts for e in batch), max(e.ts for e in batch)
            cur.execute(f"EXPLAIN (FORMAT JSON) {_PG_STORED_SQL}", (ids, lo, hi))
            plan = cur.fetchone()[0]
            cur.execute(_PG_STORED_SQL, (ids, lo, hi))
            found = {row[0] for row in cur.fetchall()}

    def relations(node: dict[str, Any]) -> set[str]:
        own = {node["Relation Name"]} if "Relation Name" in node else set()
        return own.union(*(relations(n) for n in node.get("Plans", [])))

    assert relations(plan[0]["Plan"]) == {partition_name(month_start(T0))}
    assert found == set(ids)
