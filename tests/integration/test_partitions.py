"""Month partitions of the PostgreSQL event table (storage/partitions.py, migration 0007).

Each test gets a fresh database on the shared PostgreSQL (127.0.0.1:5432, dropped afterwards):
an old unpartitioned database migrates with its rows; keyset pages are ordered index ranges over
only the partitions they overlap (EXPLAIN); retention drops whole expired months; rows that landed
in the default partition move into the partition created for them and still de-duplicate; SQLite
stays one plain table.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storelens.events.models import Event
from storelens.storage import count_events, open_database, query_events, store_events
from storelens.storage.events import insert_events
from storelens.storage.migrate import alembic_config, head_revision
from storelens.storage.models import load_all_models
from storelens.storage.partitions import (
    DEFAULT,
    PartitionKeeper,
    ensure_partitions,
    include_object,
    is_partitioned,
    list_partitions,
)
from storelens.storage.retention import RetentionPolicy, purge_older_than

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _ev(ts: datetime, i: int, store: str = "s1") -> Event:
    return Event(
        id=f"ev{i:08d}", type="zone.entered", store_id=store, camera_id="cam1", zone_id="z1", subject=f"v{i}", ts=ts
    )


def _spread(start: datetime, days: int, n: int, store: str = "s1", first: int = 0) -> list[Event]:
    step = timedelta(days=days) / n
    return [_ev(start + step * k, first + k, store) for k in range(n)]


def _per_partition(conn: sa.Connection) -> dict[str, int]:
    rows = conn.exec_driver_sql("SELECT tableoid::regclass::text, count(*) FROM events GROUP BY 1").all()
    return {str(name): int(n) for name, n in rows}


def test_old_unpartitioned_database_migrates_with_its_rows(pg: tuple[str, str]) -> None:
    url = pg[0]
    engine = sa.create_engine(url)
    old = _spread(datetime(2024, 11, 10, tzinfo=UTC), 70, 300)  # Nov 2024 .. Jan 2025
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006_access_restrictions")
        assert not is_partitioned(conn)
        assert len(insert_events(conn, old)) == 300
    engine.dispose()
    with open_database(url) as db, db.begin() as conn:
        assert db.schema_revision() == head_revision()
        assert is_partitioned(conn)
        names = [p.name for p in list_partitions(conn)]
        assert {"events_p202411", "events_p202412", "events_p202501"} <= set(names)
        per = _per_partition(conn)
        assert sum(per.values()) == 300 and per.get(DEFAULT, 0) == 0
        assert per["events_p202411"] == sum(1 for e in old if e.ts.month == 11)
        # de-duplication by id survives the new (id, ts) key: a replay inserts nothing
        assert insert_events(conn, old[:50]) == []
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object}),
            load_all_models(),
        )
        assert diff == []


def _plan(conn: sa.Connection, run: Any) -> str:
    """EXPLAIN of the one SELECT ``run`` executes, with the same parameters."""
    seen: list[tuple[str, Any]] = []

    def grab(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    sa.event.listen(conn, "before_cursor_execute", grab)
    try:
        run()
    finally:
        sa.event.remove(conn, "before_cursor_execute", grab)
    statement, params = seen[-1]
    return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, params))


def test_keyset_pages_are_index_ranges_over_the_partitions_they_overlap(pg: tuple[str, str]) -> None:
    url = pg[0]
    with open_database(url) as db:
        events = _spread(datetime(2025, 1, 1, tzinfo=UTC), 120, 1500, "s1") + _spread(
            datetime(2025, 1, 1, tzinfo=UTC), 120, 1500, "s2", first=1500
        )
        PartitionKeeper().ensure_for(db.begin, (e.ts for e in events))
        with db.begin() as conn:
            store_events(conn, events)
            conn.exec_driver_sql("ANALYZE events")
        with db.begin() as conn:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # rows this few: judge the plan's shape
            since, until = datetime(2025, 2, 10, tzinfo=UTC), datetime(2025, 3, 20, tzinfo=UTC)
            first = query_events(conn, store_id="s1", since=since, until=until, limit=100)
            assert first.next_cursor is not None
            plan = _plan(
                conn,
                lambda: query_events(
                    conn, store_id="s1", since=since, until=until, cursor=first.next_cursor, limit=100
                ),
            )
    # pruned to February and March, each an index range in (store_id, ts, id) order, appended in
    # partition order: no sort of the rows after the cursor
    assert "events_p202502" in plan and "events_p202503" in plan, plan
    assert "events_p202501" not in plan and "events_p202504" not in plan and DEFAULT not in plan, plan
    assert "Index" in plan and "Sort" not in plan, plan


def test_retention_drops_whole_expired_months_and_trims_the_rest(pg: tuple[str, str]) -> None:
    url = pg[0]
    events = _spread(datetime(2025, 1, 1, tzinfo=UTC), 90, 900)  # Jan, Feb, Mar 2025
    with open_database(url) as db:
        PartitionKeeper().ensure_for(db.begin, (e.ts for e in events))
        with db.begin() as conn:
            store_events(conn, events)
        now = datetime(2025, 3, 31, tzinfo=UTC)
        cutoff = now - timedelta(days=45)  # Feb 14: January goes whole, February in part
        deleted = purge_older_than(db, RetentionPolicy(events_days=45), now=now)
        with db.begin() as conn:
            names = {p.name for p in list_partitions(conn)}
            left = count_events(conn)
    assert "events_p202501" not in names and {"events_p202502", "events_p202503"} <= names
    assert deleted["events"] == sum(1 for e in events if e.ts < cutoff) == 900 - left


def test_rows_in_the_default_partition_move_into_a_new_one_and_still_deduplicate(pg: tuple[str, str]) -> None:
    url = pg[0]
    far = _spread(datetime(2031, 6, 1, tzinfo=UTC), 20, 200)  # no partition for 2031 yet
    with open_database(url) as db:
        with db.begin() as conn:
            assert store_events(conn, far).inserted == 200
            assert _per_partition(conn) == {DEFAULT: 200}
        with db.begin() as conn:
            assert ensure_partitions(conn, [far[0].ts]) == ["events_p203106"]
            assert ensure_partitions(conn, [far[0].ts]) == []  # already there
        with db.begin() as conn:
            assert _per_partition(conn) == {"events_p203106": 200}
            assert store_events(conn, far).inserted == 0  # moved rows are still found by id
            assert count_events(conn) == 200


def test_database_sink_creates_partitions_ahead_of_its_rows(pg: tuple[str, str], tmp_path: Path) -> None:
    """An edge writing straight to PostgreSQL (DatabaseSink): this month's and far months' rows land
    in their own partitions, none in the default one."""
    from storelens.sinks.database import DatabaseSink

    url = pg[0]
    now = datetime.now(UTC)
    events = _spread(now - timedelta(hours=2), 0, 40) + _spread(datetime(2032, 2, 3, tzinfo=UTC), 3, 30, first=40)
    sink = DatabaseSink(url, batch_size=20, flush_interval_s=0.05, spool_dir=tmp_path / "spool")
    try:
        sink.write(events)
        sink.flush(30)
    finally:
        sink.close()
    this = f"events_p{events[0].ts:%Y%m}"
    with open_database(url) as db, db.begin() as conn:
        per = _per_partition(conn)
        names = {p.name for p in list_partitions(conn)}
    assert per.get(DEFAULT, 0) == 0 and sum(per.values()) == 70
    assert per[this] == 40 and per["events_p203202"] == 30
    assert {"events_p203203", "events_p203204"} <= names  # the months after a new one, ahead


def test_sqlite_stays_one_plain_table(tmp_path: Path) -> None:
    with open_database(tmp_path / "x.db") as db:
        keeper = PartitionKeeper()
        assert keeper.start(db.begin, datetime.now(UTC)) == []
        assert not keeper.enabled
        with db.begin() as conn:
            assert not is_partitioned(conn)
            assert store_events(conn, [_ev(datetime(2025, 1, 1, tzinfo=UTC), 1)]).inserted == 1
