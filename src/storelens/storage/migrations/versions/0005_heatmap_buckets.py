"""Heat maps per camera and time bucket (``heatmap_buckets``).

Until now heat maps lived only in the memory of the process that analysed the frames: a restart lost
them and a ``serve`` without pipelines had none. One row per (store, camera, bucket start, bucket
size, grid) holds the non-empty cells as packed arrays; ``storage/heatmaps.py`` says why.
The primary key, led by (store_id, camera_id, bucket_start), is also the index of range queries.

Revision ID: 0005_heatmap_buckets
Revises: 0004_events_filter_idx
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005_heatmap_buckets"
down_revision: str | None = "0004_events_filter_idx"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "heatmap_buckets",
        sa.Column("store_id", sa.String(64), nullable=False),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bucket_s", sa.Integer(), nullable=False),
        sa.Column("grid_key", sa.String(128), nullable=False),
        sa.Column("space", sa.String(16), nullable=False),
        sa.Column("x0", sa.Float(), nullable=False),
        sa.Column("y0", sa.Float(), nullable=False),
        sa.Column("cell", sa.Float(), nullable=False),
        sa.Column("nx", sa.Integer(), nullable=False),
        sa.Column("ny", sa.Integer(), nullable=False),
        sa.Column("n_cells", sa.Integer(), nullable=False),
        sa.Column("cells", sa.LargeBinary(), nullable=False),
        sa.Column("traffic", sa.LargeBinary(), nullable=False),
        sa.Column("dwell", sa.LargeBinary(), nullable=False),
        sa.Column("traffic_total", sa.BigInteger(), nullable=False),
        sa.Column("dwell_total_s", sa.Float(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("CURRENT_TIMESTAMP")
        ),
        sa.PrimaryKeyConstraint("store_id", "camera_id", "bucket_start", "bucket_s", "grid_key"),
    )


def downgrade() -> None:
    op.drop_table("heatmap_buckets")
