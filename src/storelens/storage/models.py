"""SQLAlchemy 2 table models: the one schema shared by SQLite (default) and PostgreSQL.

The tables are written by sinks and read by the service. Two portability rules shape them:

* Times are stored as UTC through :class:`UTCDateTime`. SQLite has no time zone type, so a naive
  UTC value goes in and an aware UTC value comes out; PostgreSQL gets ``timestamptz``. Either way
  the application only ever sees aware UTC datetimes, and ordering/keyset comparisons are the same.
* Columns that are part of a unique key are NOT NULL (``''`` stands for "whole store" in
  ``aggregates.zone_id``), because NULLs never conflict in a unique index and ``ON CONFLICT`` upserts
  would silently create duplicates.

Any change here needs a new Alembic revision under ``storage/migrations/versions``; the unit tests
compare the migrated database with these models.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """An aware-UTC datetime on both dialects (naive values are taken to be UTC already)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType: sa.types.TypeEngine[Any] = sa.JSON().with_variant(JSONB(), "postgresql")
"""JSON on SQLite, JSONB on PostgreSQL (indexable, compact)."""

ID = 64  # max length of ids (matches the Event model's bounds)


class Base(DeclarativeBase):
    """Declarative base; ``Base.metadata`` is what the migrations are checked against."""


MODEL_MODULES: tuple[str, ...] = ("storelens.storage.models", "storelens.security.models")
"""Every module that declares tables on :class:`Base` (their migrations live in this package)."""


def load_all_models() -> sa.MetaData:
    """Import every model module so ``Base.metadata`` holds the whole schema (for Alembic)."""
    import importlib

    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base.metadata


class EventRow(Base):
    """Every event, exactly once (primary key = the event's random id, so replays are no-ops).

    On PostgreSQL migration 0007 makes this table partitioned by month of ``ts`` with the primary
    key ``(id, ts)`` (storage/partitions.py says why); the columns and indexes are these."""

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(sa.String(ID), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(ID), nullable=False)
    store_id: Mapped[str] = mapped_column(sa.String(ID), nullable=False)
    camera_id: Mapped[str | None] = mapped_column(sa.String(ID))
    zone_id: Mapped[str | None] = mapped_column(sa.String(ID))
    subject: Mapped[str | None] = mapped_column(sa.String(ID))
    ts: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, server_default=sa.func.now())

    __table_args__ = (
        # keyset pagination walks (ts, id): every filter index ends in (ts, id) so a filtered page
        # is an ordered index range, not a sort of everything after the cursor
        sa.Index("ix_events_ts_id", "ts", "id"),
        sa.Index("ix_events_store_ts_id", "store_id", "ts", "id"),
        sa.Index("ix_events_store_type_ts_id", "store_id", "type", "ts", "id"),
        sa.Index("ix_events_zone_ts_id", "zone_id", "ts", "id"),
        sa.Index("ix_events_camera_ts_id", "camera_id", "ts", "id"),
        sa.Index("ix_events_subject", "subject"),
    )


class VisitRow(Base):
    """One shopper visit (a stitched set of track fragments), built from visit.* events."""

    __tablename__ = "visits"

    store_id: Mapped[str] = mapped_column(sa.String(ID), primary_key=True)
    id: Mapped[str] = mapped_column(sa.String(ID), primary_key=True)
    camera_id: Mapped[str | None] = mapped_column(sa.String(ID))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fragments: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    confidence: Mapped[float | None] = mapped_column(sa.Float)
    path: Mapped[list[Any]] = mapped_column(JSONType, nullable=False, default=list)
    dwell_by_zone: Mapped[dict[str, float]] = mapped_column(JSONType, nullable=False, default=dict)
    intent_timeline: Mapped[list[Any]] = mapped_column(JSONType, nullable=False, default=list)
    is_staff: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    journey: Mapped[list[str] | None] = mapped_column(JSONType)  # store-level visits: floor zones in order
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, server_default=sa.func.now())

    __table_args__ = (sa.Index("ix_visits_store_started", "store_id", "started_at"),)


class AggregateRow(Base):
    """Counts and dwell statistics per (store, zone, time bucket), updated as events arrive."""

    __tablename__ = "aggregates"

    store_id: Mapped[str] = mapped_column(sa.String(ID), primary_key=True)
    zone_id: Mapped[str] = mapped_column(sa.String(ID), primary_key=True)  # '' = whole store
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    bucket_s: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    events: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    entries: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    exits: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    dwell_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    dwell_total_s: Mapped[float] = mapped_column(sa.Float, nullable=False, default=0.0)
    dwell_max_s: Mapped[float] = mapped_column(sa.Float, nullable=False, default=0.0)
    visits_started: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    visits_ended: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    occupancy_max: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    queue_max: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)

    __table_args__ = (sa.Index("ix_aggregates_bucket", "bucket_s", "bucket_start"),)


class HeatmapBucketRow(Base):
    """Heat-map cells of one camera and time bucket, stored sparsely (see ``storage/heatmaps.py``).

    The grid is part of the key (``grid_key`` names it; the columns spell it out) so that cells of
    two grids (the camera's resolution or cell size changed) are never added together. ``cells``,
    ``traffic`` and ``dwell`` are packed little-endian arrays of the non-empty cells (int32 flat
    index, uint32 unique visits, float32 seconds); the totals are kept for SQL-only reports.
    """

    __tablename__ = "heatmap_buckets"

    store_id: Mapped[str] = mapped_column(sa.String(ID), primary_key=True)
    camera_id: Mapped[str] = mapped_column(sa.String(ID), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    bucket_s: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    grid_key: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    space: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    x0: Mapped[float] = mapped_column(sa.Float, nullable=False)
    y0: Mapped[float] = mapped_column(sa.Float, nullable=False)
    cell: Mapped[float] = mapped_column(sa.Float, nullable=False)
    nx: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    ny: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    n_cells: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    cells: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    traffic: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    dwell: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    traffic_total: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    dwell_total_s: Mapped[float] = mapped_column(sa.Float, nullable=False, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, server_default=sa.func.now())


class AlertRow(Base):
    """A staff/inventory alert and its lifecycle (raised → acknowledged/escalated → closed)."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(sa.String(ID), primary_key=True)
    store_id: Mapped[str] = mapped_column(sa.String(ID), nullable=False)
    camera_id: Mapped[str | None] = mapped_column(sa.String(ID))
    zone_id: Mapped[str | None] = mapped_column(sa.String(ID))
    subject: Mapped[str | None] = mapped_column(sa.String(ID))
    kind: Mapped[str] = mapped_column(sa.String(ID), nullable=False, default="alert")
    severity: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="info")
    message: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    state: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="open")
    escalations: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(sa.String(128))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)

    __table_args__ = (sa.Index("ix_alerts_store_state_raised", "store_id", "state", "raised_at"),)


class PromotionRow(Base):
    """A promotion shown/triggered for a shopper (one row per promotion.triggered event)."""

    __tablename__ = "promotions"

    id: Mapped[str] = mapped_column(sa.String(ID), primary_key=True)
    store_id: Mapped[str] = mapped_column(sa.String(ID), nullable=False)
    promotion_id: Mapped[str] = mapped_column(sa.String(ID), nullable=False)
    camera_id: Mapped[str | None] = mapped_column(sa.String(ID))
    zone_id: Mapped[str | None] = mapped_column(sa.String(ID))
    subject: Mapped[str | None] = mapped_column(sa.String(ID))
    ts: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)

    __table_args__ = (sa.Index("ix_promotions_store_ts", "store_id", "ts"),)


class PosTransactionRow(Base):
    """A point-of-sale transaction imported from CSV or the API (idempotent by id)."""

    __tablename__ = "pos_transactions"

    id: Mapped[str] = mapped_column(sa.String(ID), primary_key=True)
    store_id: Mapped[str] = mapped_column(sa.String(ID), nullable=False)
    register_id: Mapped[str] = mapped_column(sa.String(ID), nullable=False)
    ts: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    basket_value: Mapped[float] = mapped_column(sa.Float, nullable=False)
    items: Mapped[int | None] = mapped_column(sa.Integer)
    currency: Mapped[str | None] = mapped_column(sa.String(8))
    source: Mapped[str] = mapped_column(sa.String(32), nullable=False, default="api")
    categories: Mapped[list[str] | None] = mapped_column(JSONType)  # product categories in the basket
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, server_default=sa.func.now())

    __table_args__ = (sa.Index("ix_pos_store_ts", "store_id", "ts"),)


class WebhookOutboxRow(Base):
    """One webhook delivery (subscription × event). Persisted so a restart loses nothing.

    ``status`` is ``pending`` (waiting for ``next_attempt_at``), ``delivered`` or ``dead`` (gave up
    after the configured number of attempts; visible in the API and re-queueable).
    """

    __tablename__ = "webhook_outbox"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(sa.String(ID), nullable=False)
    event_id: Mapped[str] = mapped_column(sa.String(ID), nullable=False)
    event_type: Mapped[str] = mapped_column(sa.String(ID), nullable=False)
    url: Mapped[str] = mapped_column(sa.Text, nullable=False)
    body: Mapped[str] = mapped_column(sa.Text, nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    last_status_code: Mapped[int | None] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_webhook_outbox_sub_event"),
        sa.Index("ix_webhook_outbox_due", "status", "next_attempt_at"),
    )


ALL_TABLES = tuple(Base.metadata.sorted_tables)


def _table(cls: type[Base]) -> sa.Table:
    table = cls.__table__
    assert isinstance(table, sa.Table)
    return table


# Core handles for the bulk paths (typed as Table, which the ORM classes' ``__table__`` is not)
EVENTS = _table(EventRow)
VISITS = _table(VisitRow)
AGGREGATES = _table(AggregateRow)
HEATMAP_BUCKETS = _table(HeatmapBucketRow)
ALERTS = _table(AlertRow)
PROMOTIONS = _table(PromotionRow)
POS_TRANSACTIONS = _table(PosTransactionRow)
WEBHOOK_OUTBOX = _table(WebhookOutboxRow)
