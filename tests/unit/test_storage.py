"""Storage on real SQLite files: migrations, idempotent ingest, queries, projections, the database sink.

PostgreSQL runs the same repository code in tests/integration/test_postgres.py.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storelens.events.models import Event, EventType
from storelens.sinks.buffer import Backoff, DiskSpool
from storelens.sinks.database import DatabaseSink
from storelens.storage import (
    CursorError,
    MigrationError,
    PosTransaction,
    RetentionPolicy,
    Visit,
    acknowledge_alert,
    bucket_start,
    compute_deltas,
    count_events,
    get_alert,
    get_visit,
    head_revision,
    insert_events,
    insert_pos_transactions,
    list_pos_transactions,
    list_promotions,
    list_visits,
    open_database,
    purge_older_than,
    query_aggregates,
    query_events,
    store_events,
    upsert_visit,
)
from storelens.storage.database import Database, normalise_url
from storelens.storage.models import load_all_models
from storelens.storage.partitions import include_object

T0 = datetime(2025, 3, 1, 10, 0, 0, tzinfo=UTC)


def ev(
    etype: str, sec: float, /, *, zone: str | None = None, cam: str = "cam1", subject: str | None = None, **p: object
) -> Event:
    return Event(
        type=etype,
        store_id="s1",
        ts=T0 + timedelta(seconds=sec),
        camera_id=cam,
        zone_id=zone,
        subject=subject,
        payload=dict(p),
    )


@pytest.fixture
def db(tmp_path: Path) -> Database:
    d = open_database(tmp_path / "store.db")
    yield d
    d.close()


# ------------------------------------------------------------------------------ migrations


def test_migrations_from_empty_create_every_table_and_match_models(tmp_path: Path) -> None:
    db = open_database(tmp_path / "new.db")
    try:
        assert db.schema_revision() == head_revision()
        names = set(sa.inspect(db.engine).get_table_names())
        assert {t.name for t in load_all_models().sorted_tables} | {"alembic_version"} == names
        with db.engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object}),
                load_all_models(),
            )
        assert diff == []
    finally:
        db.close()


def test_reopening_keeps_data_and_is_a_noop(tmp_path: Path) -> None:
    path = tmp_path / "keep.db"
    with open_database(path) as db, db.begin() as conn:
        insert_events(conn, [ev("zone.entered", 1, zone="z1")])
    with open_database(path) as db, db.begin() as conn:
        assert count_events(conn) == 1
        assert db.schema_revision() == head_revision()


def test_database_from_a_newer_storelens_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    open_database(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE alembic_version SET version_num = '9999_future'")
    con.commit()
    con.close()
    with pytest.raises(MigrationError, match="newer storelens"):
        open_database(path)


def test_sqlite_connection_settings(db: Database) -> None:
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


@pytest.mark.parametrize(
    ("given", "expected_prefix"),
    [
        ("postgresql://u@127.0.0.1/db", "postgresql+psycopg://u@127.0.0.1/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
        ("relative/file.db", "sqlite:////"),
    ],
)
def test_normalise_url(given: str, expected_prefix: str) -> None:
    assert normalise_url(given).startswith(expected_prefix)


def test_bad_urls_get_clear_errors() -> None:
    from storelens.storage.database import StorageError, create_engine

    with pytest.raises(StorageError, match="unsupported database backend"):
        create_engine("mysql://u@h/db")
    with pytest.raises(StorageError, match="empty"):
        create_engine("  ")


# ------------------------------------------------------------------------------ events


def test_insert_is_idempotent_and_reports_only_new_events(db: Database) -> None:
    a, b, c = ev("zone.entered", 1, zone="z1"), ev("zone.exited", 2, zone="z1"), ev("visit.started", 3)
    with db.begin() as conn:
        assert [e.id for e in insert_events(conn, [a, b, a])] == [a.id, b.id]
    with db.begin() as conn:
        assert [e.id for e in insert_events(conn, [a, b, c])] == [c.id]
        assert count_events(conn) == 3


def test_events_round_trip_exactly(db: Database) -> None:
    e = ev("zone.exited", 1.25, zone="z1", subject="ab12", dwell_s=np.float32(2.5), tags=["a", "b"])
    with db.begin() as conn:
        insert_events(conn, [e])
        got = query_events(conn).items[0]
    assert got.model_dump() == {**e.model_dump(), "payload": {"dwell_s": 2.5, "tags": ["a", "b"]}}
    assert got.ts.tzinfo is not None and got.ts == e.ts


@pytest.fixture
def filled(db: Database) -> tuple[Database, list[Event]]:
    events = []
    for i in range(60):
        kind = ["zone.entered", "zone.exited", "queue.updated"][i % 3]
        events.append(ev(kind, i // 2, zone=f"z{i % 2}", cam=f"cam{i % 4}", subject=f"v{i % 5}"))
    with db.begin() as conn:
        insert_events(conn, events)
    return db, events


@pytest.mark.parametrize(
    ("filters", "predicate"),
    [
        ({}, lambda e: True),
        ({"types": ["zone.entered"]}, lambda e: e.type == "zone.entered"),
        ({"types": ["zone."]}, lambda e: e.type.startswith("zone.")),
        ({"types": ["queue.updated", "zone.exited"]}, lambda e: e.type in ("queue.updated", "zone.exited")),
        ({"zone_id": "z1"}, lambda e: e.zone_id == "z1"),
        ({"camera_id": "cam2"}, lambda e: e.camera_id == "cam2"),
        ({"subject": "v3"}, lambda e: e.subject == "v3"),
        (
            {"since": T0 + timedelta(seconds=5), "until": T0 + timedelta(seconds=12)},
            lambda e: T0 + timedelta(seconds=5) <= e.ts < T0 + timedelta(seconds=12),
        ),
        ({"zone_id": "z0", "types": ["zone.exited"]}, lambda e: e.zone_id == "z0" and e.type == "zone.exited"),
        ({"zone_id": "nope"}, lambda e: False),
    ],
)
@pytest.mark.parametrize("descending", [False, True])
def test_filters_and_keyset_pagination_visit_each_match_once(
    filled: tuple[Database, list[Event]], filters: dict[str, object], predicate: object, descending: bool
) -> None:
    db, events = filled
    expected = sorted((e for e in events if predicate(e)), key=lambda e: (e.ts, e.id), reverse=descending)  # type: ignore[operator]
    seen: list[Event] = []
    cursor = None
    with db.begin() as conn:
        assert count_events(conn, **filters) == len(expected)  # type: ignore[arg-type]
        for _ in range(100):
            page = query_events(conn, cursor=cursor, limit=7, descending=descending, **filters)  # type: ignore[arg-type]
            assert len(page.items) <= 7
            seen += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
    assert [e.id for e in seen] == [e.id for e in expected]


def test_cursor_survives_inserts_between_pages(filled: tuple[Database, list[Event]]) -> None:
    db, events = filled
    with db.begin() as conn:
        first = query_events(conn, limit=10)
        insert_events(conn, [ev("zone.entered", -100, zone="z0")])  # earlier than every page
        rest = query_events(conn, limit=1000, cursor=first.next_cursor)
    assert len(first.items) + len(rest.items) == len(events)


@pytest.mark.parametrize("bad", ["garbage", "", "eyJ4IjoxfQ", "WyJub3QtYS1kYXRlIiwieCJd"])
def test_bad_cursor_is_a_clear_error(db: Database, bad: str) -> None:
    with db.begin() as conn, pytest.raises(CursorError, match="invalid cursor"):
        query_events(conn, cursor=bad)


def test_limit_bounds(db: Database) -> None:
    with db.begin() as conn, pytest.raises(ValueError, match="limit"):
        query_events(conn, limit=0)


# ------------------------------------------------------------------------------ aggregates


def test_bucket_start() -> None:
    assert bucket_start(T0 + timedelta(minutes=7, seconds=3), 300) == T0 + timedelta(minutes=5)
    assert bucket_start(T0 + timedelta(minutes=59), 3600) == T0


def test_compute_deltas_hand_counted() -> None:
    events = [
        ev("zone.entered", 10, zone="z1"),
        ev("zone.exited", 20, zone="z1", dwell_s=10.0),
        ev("zone.exited", 400, zone="z1", dwell_s=4.0),  # next 5-minute bucket, same hour
        ev("zone.exited", 401, zone="z1", dwell_s=float("nan")),  # counted as an exit, not a dwell
        ev("visit.started", 5),
        ev("occupancy.changed", 30, occupancy=np.int64(3)),
        ev("queue.updated", 31, zone="q", length=4),
        ev("queue.updated", 32, zone="q", length=2),
    ]
    d = compute_deltas(events, [300, 3600])
    h = d[("s1", "z1", T0, 3600)]
    assert (h.events, h.entries, h.exits, h.dwell_count, h.dwell_total_s, h.dwell_max_s) == (4, 1, 3, 2, 14.0, 10.0)
    m0 = d[("s1", "z1", T0, 300)]
    m1 = d[("s1", "z1", T0 + timedelta(minutes=5), 300)]
    assert (m0.exits, m0.dwell_total_s, m1.exits, m1.dwell_total_s) == (1, 10.0, 2, 4.0)
    store = d[("s1", "", T0, 3600)]
    assert (store.events, store.visits_started, store.occupancy_max) == (8, 1, 3)
    assert d[("s1", "q", T0, 3600)].queue_max == 4


def test_a_fused_store_visit_is_not_counted_beside_its_camera_visits() -> None:
    # one shopper seen by two cameras: two camera visits and one fused store visit; the store-wide
    # count stays the cameras' count (as for a store without fusion), the fused visit adds nothing
    events = [ev("visit.started", 5), ev("visit.started", 6), ev("visit.started", 5, fused=True)]
    events += [ev("visit.ended", 50), ev("visit.ended", 51), ev("visit.ended", 51, fused=True)]
    store = compute_deltas(events, [3600])[("s1", "", T0, 3600)]
    assert (store.visits_started, store.visits_ended, store.events) == (2, 2, 6)


def test_aggregates_are_not_double_counted_on_replay(db: Database) -> None:
    batch = [ev("zone.exited", i, zone="z1", dwell_s=2.0) for i in range(10)]
    for _ in range(3):
        with db.begin() as conn:
            store_events(conn, batch, buckets_s=(3600,))
    with db.begin() as conn:
        store_events(conn, [ev("zone.exited", 50, zone="z1", dwell_s=8.0)], buckets_s=(3600,))
        rows = query_aggregates(conn, store_id="s1", bucket_s=3600, zone_id="z1")
    assert len(rows) == 1
    assert (rows[0].exits, rows[0].dwell_total_s, rows[0].dwell_max_s) == (11, 28.0, 8.0)
    assert rows[0].dwell_mean_s == pytest.approx(28.0 / 11)


# ------------------------------------------------------------------------------ projections


def test_visit_built_from_events(db: Database) -> None:
    events = [
        ev("visit.started", 0, subject="v1"),
        ev("zone.exited", 10, zone="z1", subject="v1", dwell_s=6.0),
        ev("zone.exited", 20, zone="z1", subject="v1", dwell_s=1.5),
        ev("intent.changed", 21, zone="z1", subject="v1", state="interested", score=0.7),
        ev("zone.exited", 22, zone="z9", subject="nobody", dwell_s=3.0),  # no visit: ignored
        ev("visit.ended", 30, subject="v1", fragments=2, confidence=0.8),
    ]
    with db.begin() as conn:
        store_events(conn, events[:3])
        store_events(conn, events[3:])
        store_events(conn, events)  # replay: no change
        v = get_visit(conn, "s1", "v1")
        assert get_visit(conn, "s1", "nobody") is None
    assert v is not None
    assert (v.started_at, v.ended_at, v.fragments, v.confidence) == (T0, T0 + timedelta(seconds=30), 2, 0.8)
    assert v.dwell_by_zone == {"z1": 7.5}
    assert [x["state"] for x in v.intent_timeline] == ["interested"]
    assert v.duration_s == 30


def test_visit_upsert_and_list(db: Database) -> None:
    with db.begin() as conn:
        upsert_visit(conn, Visit(store_id="s1", id="a", started_at=T0, path=[[0, 1.0, 2.0]]))
        upsert_visit(conn, Visit(store_id="s1", id="b", started_at=T0 + timedelta(minutes=1), is_staff=True))
        upsert_visit(conn, Visit(store_id="s1", id="a", started_at=T0, path=[[0, 1.0, 2.0], [1, 2.0, 2.0]]))
        customers = list_visits(conn, store_id="s1")
        everyone = list_visits(conn, store_id="s1", include_staff=True)
    assert [v.id for v in customers] == ["a"] and len(customers[0].path) == 2
    assert [v.id for v in everyone] == ["a", "b"]


def test_alert_lifecycle_and_promotions(db: Database) -> None:
    raised = ev("alert.raised", 1, zone="q", alert_id="A1", kind="queue_long", severity="warning", message="3 waiting")
    with db.begin() as conn:
        store_events(conn, [raised, ev("promotion.triggered", 2, zone="z1", subject="v1", promotion_id="p7")])
        store_events(conn, [ev("alert.escalated", 3, alert_id="A1")])
        assert acknowledge_alert(conn, "A1", by="ann", at=T0 + timedelta(seconds=4))
        assert not acknowledge_alert(conn, "missing", by="ann", at=T0)
        alert = get_alert(conn, "A1")
        promos = list_promotions(conn, store_id="s1")
    assert alert is not None
    assert (alert.kind, alert.severity, alert.state, alert.escalations, alert.acknowledged_by) == (
        "queue_long",
        "warning",
        "acknowledged",
        1,
        "ann",
    )
    assert [p.promotion_id for p in promos] == ["p7"]


def test_pos_import_is_idempotent(db: Database) -> None:
    rows = [PosTransaction(id=f"t{i}", store_id="s1", register_id="r1", ts=T0, basket_value=10.0 * i) for i in range(3)]
    with db.begin() as conn:
        assert insert_pos_transactions(conn, rows) == 3
        assert insert_pos_transactions(conn, rows) == 0
        assert [r.basket_value for r in list_pos_transactions(conn, store_id="s1")] == [0.0, 10.0, 20.0]


def test_retention_deletes_only_old_rows(db: Database) -> None:
    old = [ev("zone.entered", -86400 * 40 + i, zone="z1") for i in range(7)]
    new = [ev("zone.entered", i, zone="z1") for i in range(3)]
    with db.begin() as conn:
        store_events(conn, old + new)
    deleted = purge_older_than(db, RetentionPolicy(events_days=30, aggregates_days=None), now=T0, chunk=3)
    assert deleted["events"] == 7 and "aggregates" not in deleted
    with db.begin() as conn:
        assert count_events(conn) == 3


# ------------------------------------------------------------------------------ spool


def test_spool_bounded_persistent_and_tolerates_torn_lines(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path, name="t", max_records=10, segment_records=4, fsync=False)
    spool.append([{"i": i} for i in range(8)])
    assert spool.pending == 8
    dropped = spool.append([{"i": i} for i in range(8, 12)])
    assert dropped == 4 and spool.pending == 8  # whole oldest segment (0..3) dropped
    # a torn write at the end of the newest segment
    newest = sorted(tmp_path.glob("t-*.jsonl"))[-1]
    with newest.open("a") as fh:
        fh.write('{"i": 99')
    again = DiskSpool(tmp_path, name="t", max_records=10, segment_records=4, fsync=False)
    got = []
    while (seg := again.peek()) is not None:
        got += [r["i"] for r in seg.records]
        again.ack(seg)
    assert got == list(range(4, 12)) and again.corrupt == 1 and again.pending == 0


def test_backoff_grows_with_jitter_and_caps() -> None:
    import random

    b = Backoff(0.5, 4.0, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(8)]
    assert all(0.25 <= d <= 4.0 for d in delays)
    assert max(delays[:2]) <= 1.0 < max(delays[3:])
    b.reset()
    assert b.next_delay() <= 0.5


# ------------------------------------------------------------------------------ database sink


def test_sink_writes_batches_idempotently(tmp_path: Path) -> None:
    events = [ev("zone.exited", i * 0.01, zone=f"z{i % 3}", dwell_s=1.0) for i in range(2500)]
    sink = DatabaseSink(tmp_path / "s.db", batch_size=400, flush_interval_s=0.05)
    sink.write(events[:1500])
    sink.write(events[1000:])  # 500 duplicates across writes
    assert sink.drain(30)
    sink.close()
    st = sink.stats()
    assert (st.inserted, st.duplicates, st.spooled, st.rejected) == (2500, 500, 0, 0)
    with open_database(tmp_path / "s.db") as db, db.begin() as conn:
        assert count_events(conn) == 2500
        assert sum(a.exits for a in query_aggregates(conn, store_id="s1", bucket_s=3600) if a.zone_id) == 2500


def test_sink_spools_while_sqlite_is_locked_and_recovers_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    open_database(path).close()
    sink = DatabaseSink(
        open_database(path, busy_timeout_ms=50),
        batch_size=50,
        flush_interval_s=0.05,
        spool_dir=tmp_path / "spool",
        retry_initial_s=0.05,
        retry_max_s=0.2,
        fsync=False,
    )
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another process holding the write lock: the database is "down"
    events = [ev("zone.entered", i, zone="z1") for i in range(300)]
    try:
        sink.write(events[:200])
        sink.flush()
        assert sink.stats().spooled > 0 and sink.stats().inserted == 0
        assert sink.stats().last_error and "locked" in sink.stats().last_error
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    sink.write(events[100:])  # overlaps the spooled ones
    assert sink.drain(30)
    sink.close()
    st = sink.stats()
    assert st.inserted == 300 and st.pending_spool == 0 and st.failures >= 1
    assert not list((tmp_path / "spool").glob("events-*.jsonl"))
    with open_database(path) as db, db.begin() as conn:
        assert count_events(conn) == 300
        agg = query_aggregates(conn, store_id="s1", bucket_s=3600, zone_id="z1")
        assert sum(a.entries for a in agg) == 300


def test_spool_left_at_close_is_replayed_by_the_next_sink(tmp_path: Path) -> None:
    path = tmp_path / "restart.db"
    open_database(path).close()
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    sink = DatabaseSink(
        open_database(path, busy_timeout_ms=50), flush_interval_s=0.05, spool_dir=tmp_path / "sp", fsync=False
    )
    events = [ev("zone.entered", i, zone="z1") for i in range(120)]
    sink.write(events)
    sink.close(timeout_s=10)
    locker.execute("ROLLBACK")
    locker.close()
    assert sink.stats().pending_spool == 120
    second = DatabaseSink(path, flush_interval_s=0.05, spool_dir=tmp_path / "sp")
    assert second.drain(30)
    second.close()
    with open_database(path) as db, db.begin() as conn:
        assert count_events(conn) == 120


def test_unserialisable_event_is_rejected_to_a_file_and_the_rest_stored(tmp_path: Path) -> None:
    good = [ev("zone.entered", i, zone="z1") for i in range(5)]
    bad = ev("zone.entered", 99, zone="z1", thing=threading.Lock())
    sink = DatabaseSink(tmp_path / "r.db", flush_interval_s=0.05, spool_dir=tmp_path / "sp")
    sink.write([*good[:2], bad, *good[2:]])
    assert sink.drain(30)
    sink.close()
    assert sink.stats().inserted == 5 and sink.stats().rejected == 1
    lines = (tmp_path / "sp" / "rejected.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["event"]["id"] == bad.id


def test_sink_with_unreachable_url_spools_instead_of_failing(tmp_path: Path) -> None:
    sink = DatabaseSink(
        "postgresql+psycopg://nobody@127.0.0.1:1/none",
        flush_interval_s=0.05,
        spool_dir=tmp_path / "sp",
        retry_initial_s=0.05,
        retry_max_s=0.1,
        fsync=False,
    )
    sink.write([ev("zone.entered", 1, zone="z1")])
    sink.flush()
    sink.close(timeout_s=10)
    assert sink.stats().pending_spool == 1 and sink.stats().inserted == 0


def test_write_after_close_raises(tmp_path: Path) -> None:
    sink = DatabaseSink(tmp_path / "c.db", flush_interval_s=0.05)
    sink.close()
    with pytest.raises(RuntimeError, match="closed"):
        sink.write([ev(EventType.ZONE_ENTERED.value, 1)])
