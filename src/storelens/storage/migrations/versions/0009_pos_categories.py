"""POS categories: ``pos_transactions.categories``, the product categories a basket holds.

With them a sale can be credited to the shelf zones of its categories (``zones[].category``), which
gives per-zone conversion in the funnel (docs/KPIS.md): a shopper who engaged at the coffee shelf
and paid for coffee converted there. A nullable JSON list: older imports and POS exports without
the column stay as they are, the same ``ADD COLUMN`` works on SQLite and PostgreSQL, and no row is
rewritten.

Revision ID: 0009_pos_categories
Revises: 0008_events_partitioned
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_pos_categories"
down_revision: str | None = "0008_events_partitioned"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pos_transactions") as batch:
        batch.add_column(
            sa.Column("categories", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("pos_transactions") as batch:
        batch.drop_column("categories")
