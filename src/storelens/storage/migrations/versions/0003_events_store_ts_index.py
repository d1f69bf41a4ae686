"""Index events on (store_id, ts, id) for keyset pagination within a store.

Without it the query planner picks (store_id, type, ts) and sorts the whole store for every page
of an unfiltered event listing.

Revision ID: 0003_events_store_ts
Revises: 0002_security
"""

from __future__ import annotations

from alembic import op

revision: str = "0003_events_store_ts"
down_revision: str | None = "0002_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_store_ts_id", "events", ["store_id", "ts", "id"])


def downgrade() -> None:
    op.drop_index("ix_events_store_ts_id", table_name="events")
