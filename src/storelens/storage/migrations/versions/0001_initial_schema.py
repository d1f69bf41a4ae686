"""initial schema: events, visits, aggregates, alerts, promotions, POS transactions, webhook outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Written by hand from ``storelens.storage.models`` (autogenerate output, made dialect-neutral).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = False, now_default: bool = False) -> sa.Column[Any]:
    default = sa.text("CURRENT_TIMESTAMP") if now_default else None
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, server_default=default)


def _id(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.String(64), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "events",
        _id("id"),
        _id("type"),
        _id("store_id"),
        _id("camera_id", True),
        _id("zone_id", True),
        _id("subject", True),
        _ts("ts"),
        sa.Column("payload", _json(), nullable=False),
        _ts("received_at", now_default=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_events_ts_id", "events", ["ts", "id"])
    op.create_index("ix_events_store_type_ts", "events", ["store_id", "type", "ts"])
    op.create_index("ix_events_zone_ts", "events", ["zone_id", "ts"])
    op.create_index("ix_events_camera_ts", "events", ["camera_id", "ts"])
    op.create_index("ix_events_subject", "events", ["subject"])

    op.create_table(
        "visits",
        _id("store_id"),
        _id("id"),
        _id("camera_id", True),
        _ts("started_at"),
        _ts("ended_at", nullable=True),
        sa.Column("fragments", sa.Integer(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("path", _json(), nullable=False),
        sa.Column("dwell_by_zone", _json(), nullable=False),
        sa.Column("intent_timeline", _json(), nullable=False),
        sa.Column("is_staff", sa.Boolean(), nullable=False),
        _ts("updated_at", now_default=True),
        sa.PrimaryKeyConstraint("store_id", "id"),
    )
    op.create_index("ix_visits_store_started", "visits", ["store_id", "started_at"])

    op.create_table(
        "aggregates",
        _id("store_id"),
        _id("zone_id"),
        _ts("bucket_start"),
        sa.Column("bucket_s", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in ("events", "entries", "exits", "dwell_count")),
        sa.Column("dwell_total_s", sa.Float(), nullable=False),
        sa.Column("dwell_max_s", sa.Float(), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in ("visits_started", "visits_ended", "occupancy_max", "queue_max")
        ),
        sa.PrimaryKeyConstraint("store_id", "zone_id", "bucket_start", "bucket_s"),
    )
    op.create_index("ix_aggregates_bucket", "aggregates", ["bucket_s", "bucket_start"])

    op.create_table(
        "alerts",
        _id("id"),
        _id("store_id"),
        _id("camera_id", True),
        _id("zone_id", True),
        _id("subject", True),
        _id("kind"),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("escalations", sa.Integer(), nullable=False),
        _ts("raised_at"),
        _ts("acknowledged_at", nullable=True),
        sa.Column("acknowledged_by", sa.String(128), nullable=True),
        _ts("closed_at", nullable=True),
        sa.Column("payload", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alerts_store_state_raised", "alerts", ["store_id", "state", "raised_at"])

    op.create_table(
        "promotions",
        _id("id"),
        _id("store_id"),
        _id("promotion_id"),
        _id("camera_id", True),
        _id("zone_id", True),
        _id("subject", True),
        _ts("ts"),
        sa.Column("payload", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_promotions_store_ts", "promotions", ["store_id", "ts"])

    op.create_table(
        "pos_transactions",
        _id("id"),
        _id("store_id"),
        _id("register_id"),
        _ts("ts"),
        sa.Column("basket_value", sa.Float(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(8), nullable=True),
        sa.Column("source", sa.String(32), nullable=False),
        _ts("imported_at", now_default=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pos_store_ts", "pos_transactions", ["store_id", "ts"])

    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _id("subscription_id"),
        _id("event_id"),
        _id("event_type"),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        _ts("created_at"),
        _ts("delivered_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_webhook_outbox_sub_event"),
    )
    op.create_index("ix_webhook_outbox_due", "webhook_outbox", ["status", "next_attempt_at"])


def downgrade() -> None:
    # Developer use only: storelens itself only ever upgrades (never drops data).
    for table in (
        "webhook_outbox",
        "pos_transactions",
        "promotions",
        "alerts",
        "aggregates",
        "visits",
        "events",
    ):
        op.drop_table(table)
