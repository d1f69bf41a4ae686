"""Seal the audit anchor: ``audit_anchor.mac`` and ``audit_anchor.last_ts``.

Retention moves the anchor forward; until now anyone who could write the database could delete the
first records and insert an anchor for them, and ``audit verify`` believed it. ``mac`` is an HMAC,
with the audit key kept outside the database (``security.audit_key_file``), over the anchor's seq,
hash and ``last_ts`` (the time of the last record it covers), so ``verify`` refuses an anchor the
key did not sign, and one that covers records younger than the retention. Both columns are nullable:
an anchor written before this revision has none and is reported by ``verify`` (SECURITY.md says what
to do).

Revision ID: 0006_audit_anchor_mac
Revises: 0005_heatmap_buckets
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006_audit_anchor_mac"
down_revision: str | None = "0005_heatmap_buckets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # add_column is a plain ALTER TABLE ... ADD COLUMN on both SQLite and PostgreSQL (nullable, no
    # default), so no batch mode is needed
    op.add_column("audit_anchor", sa.Column("mac", sa.String(64), nullable=True))
    op.add_column("audit_anchor", sa.Column("last_ts", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_anchor") as batch:
        batch.drop_column("last_ts")
        batch.drop_column("mac")
