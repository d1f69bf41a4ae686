"""PostgreSQL: ``events`` becomes a table partitioned by month of ``ts`` (SQLite: nothing changes).

Why and how the partitions are kept: :mod:`storelens.storage.partitions`. An existing database is
migrated in place, in the migration's one transaction: the old table is renamed, the partitioned
one is created with the same columns and indexes (declared on the parent, so every partition gets
its own), a month partition is made for every month the old rows cover plus the current one and the
next two, the rows are copied and the old table dropped. The copy is one ``INSERT .. SELECT``: on a
database of hundreds of millions of rows, run ``storelens`` once in a maintenance window (writers
wait on the migration lock meanwhile, and nothing is lost: the edges' outboxes hold their events).

The primary key becomes ``(id, ts)`` (PostgreSQL wants the partition key in every unique index);
inserts use a target-less ``ON CONFLICT DO NOTHING``, so they work before and after this revision.

Revision ID: 0008_events_partitioned
Revises: 0007_visit_journey
"""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import op

from storelens.storage.partitions import DEFAULT, add_months, ensure_partitions, month_start, months_between

revision: str = "0008_events_partitioned"
down_revision: str | None = "0007_visit_journey"
branch_labels = None
depends_on = None

_INDEXES = (  # the models' indexes, every one ending in (ts, id) for keyset pages
    ("ix_events_ts_id", "ts, id"),
    ("ix_events_store_ts_id", "store_id, ts, id"),
    ("ix_events_store_type_ts_id", "store_id, type, ts, id"),
    ("ix_events_zone_ts_id", "zone_id, ts, id"),
    ("ix_events_camera_ts_id", "camera_id, ts, id"),
    ("ix_events_subject", "subject"),
)
_COLUMNS = "id, type, store_id, camera_id, zone_id, subject, ts, payload, received_at"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE events RENAME TO events_unpartitioned")
    op.execute("ALTER TABLE events_unpartitioned RENAME CONSTRAINT events_pkey TO events_unpartitioned_pkey")
    for name, _ in _INDEXES:
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_old")
    op.execute(
        "CREATE TABLE events ("
        " id VARCHAR(64) NOT NULL, type VARCHAR(64) NOT NULL, store_id VARCHAR(64) NOT NULL,"
        " camera_id VARCHAR(64), zone_id VARCHAR(64), subject VARCHAR(64),"
        " ts TIMESTAMP WITH TIME ZONE NOT NULL, payload JSONB NOT NULL,"
        " received_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,"
        " CONSTRAINT events_pkey PRIMARY KEY (id, ts)"
        ") PARTITION BY RANGE (ts)"
    )
    for name, cols in _INDEXES:
        op.execute(f"CREATE INDEX {name} ON events ({cols})")
    op.execute(f"CREATE TABLE {DEFAULT} PARTITION OF events DEFAULT")
    lo, hi = bind.exec_driver_sql("SELECT min(ts), max(ts) FROM events_unpartitioned").one()
    this = month_start(datetime.now(UTC))
    months = {add_months(this, k) for k in range(-1, 3)}
    if isinstance(lo, datetime) and isinstance(hi, datetime):
        months.update(months_between(lo, hi))
    ensure_partitions(bind, months)
    op.execute(f"INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM events_unpartitioned")
    op.execute("DROP TABLE events_unpartitioned")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE events RENAME TO events_partitioned")
    op.execute("ALTER TABLE events_partitioned RENAME CONSTRAINT events_pkey TO events_partitioned_pkey")
    for name, _ in _INDEXES:
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_part")
    op.execute("CREATE TABLE events (LIKE events_partitioned INCLUDING DEFAULTS)")
    op.execute(f"INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM events_partitioned")
    op.execute("ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (id)")
    for name, cols in _INDEXES:
        op.execute(f"CREATE INDEX {name} ON events ({cols})")
    op.execute("DROP TABLE events_partitioned CASCADE")
