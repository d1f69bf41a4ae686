"""End every event filter index in (ts, id).

Keyset pages are ordered by (ts, id). With (zone_id, ts) the database had to sort every matching
row after the cursor before taking a page (bench/api.py: a zone + type filtered page deep in a
million events took 76 ms p95); with (zone_id, ts, id) the page is an ordered index range.

Revision ID: 0004_events_filter_idx
Revises: 0003_events_store_ts
"""

from __future__ import annotations

from alembic import op

revision: str = "0004_events_filter_idx"
down_revision: str | None = "0003_events_store_ts"
branch_labels = None
depends_on = None

_CHANGES = (
    ("ix_events_store_type_ts", "ix_events_store_type_ts_id", ["store_id", "type", "ts", "id"]),
    ("ix_events_zone_ts", "ix_events_zone_ts_id", ["zone_id", "ts", "id"]),
    ("ix_events_camera_ts", "ix_events_camera_ts_id", ["camera_id", "ts", "id"]),
)


def upgrade() -> None:
    for old, new, cols in _CHANGES:
        op.create_index(new, "events", cols)
        op.drop_index(old, table_name="events")


def downgrade() -> None:
    for old, new, cols in _CHANGES:
        op.create_index(old, "events", cols[:-1])
        op.drop_index(new, table_name="events")
