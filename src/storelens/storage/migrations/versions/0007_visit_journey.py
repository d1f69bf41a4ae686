"""Store-level journeys: ``visits.journey``, the floor zones a fused store visit entered, in order.

A journey is what a retailer asks of a whole-store visit (issue 18): which zones, in which order.
It arrives on the fused ``visit.ended`` and is kept with the visit so the flow table (zone to zone
counts, first zone after entry, last zone before the till) is one query over the visits of a
range. A nullable JSON column: per-camera visits have none, the same ``ADD COLUMN`` works on SQLite
and PostgreSQL, and no row is rewritten.

Revision ID: 0007_visit_journey
Revises: 0006_access_restrictions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_visit_journey"
down_revision: str | None = "0006_access_restrictions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("visits") as batch:
        batch.add_column(sa.Column("journey", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("visits") as batch:
        batch.drop_column("journey")
