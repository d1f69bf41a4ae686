"""Per-store and per-camera access: ``allowed_stores`` / ``allowed_cameras`` on users and tokens.

NULL means "all", so every existing user and token keeps exactly what it could see before; a
restriction is space-separated ids (``security.access``). Plain nullable TEXT columns: the same
``ADD COLUMN`` works on SQLite and PostgreSQL, and no row is rewritten.

Revision ID: 0006_access_restrictions
Revises: 0006_audit_anchor_mac (both were written as 0006 in parallel; this one runs second)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006_access_restrictions"
down_revision: str | None = "0006_audit_anchor_mac"
branch_labels = None
depends_on = None

_TABLES = ("users", "api_tokens")
_COLUMNS = ("allowed_stores", "allowed_cameras")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            for column in _COLUMNS:
                batch.add_column(sa.Column(column, sa.Text(), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            for column in _COLUMNS:
                batch.drop_column(column)
