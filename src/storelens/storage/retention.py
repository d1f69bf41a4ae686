"""Retention: delete rows older than the configured horizon, in bounded chunks.

Deleting in chunks of ``chunk`` ids keeps each transaction short, so the writers (sinks) never wait
long on a lock while a large purge runs, and a purge interrupted half-way is simply resumed by the
next run. On PostgreSQL the events of whole expired months go first by dropping their partitions
(:mod:`storelens.storage.partitions`): no row-by-row delete, no bloat, the space back at once; the
chunked delete then only sees the partly expired month and the default partition. Aggregates have
their own (usually much longer) horizon because they carry no subject ids and are what reports are
built on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from storelens.storage.database import Database
from storelens.storage.models import (
    AGGREGATES,
    ALERTS,
    EVENTS,
    HEATMAP_BUCKETS,
    POS_TRANSACTIONS,
    PROMOTIONS,
    VISITS,
    WEBHOOK_OUTBOX,
)
from storelens.storage.partitions import drop_partitions_before


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Days to keep each kind of row (``None`` = keep forever)."""

    events_days: float | None = 30
    visits_days: float | None = 30
    aggregates_days: float | None = 400
    heatmaps_days: float | None = 400  # per-camera cell counts, no subject ids
    alerts_days: float | None = 90
    promotions_days: float | None = 90
    pos_days: float | None = 400
    webhook_outbox_days: float | None = 7  # delivered and dead-lettered rows only


def _purge(
    db: Database, table: sa.Table, ts_col: str, before: datetime, chunk: int, extra: list[sa.ColumnElement[bool]]
) -> int:
    pk = list(table.primary_key.columns)
    total = 0
    while True:
        with db.begin() as conn:
            sel = sa.select(*pk).where(table.c[ts_col] < before, *extra).limit(chunk)
            keys = conn.execute(sel).all()
            if not keys:
                return total
            if len(pk) == 1:
                cond: sa.ColumnElement[bool] = pk[0].in_([k[0] for k in keys])
            else:
                cond = sa.tuple_(*pk).in_([tuple(k) for k in keys])
            conn.execute(sa.delete(table).where(cond))
            total += len(keys)
        if len(keys) < chunk:
            return total


def purge_older_than(db: Database, policy: RetentionPolicy, *, now: datetime, chunk: int = 5000) -> dict[str, int]:
    """Apply ``policy`` relative to ``now``; returns rows deleted per table."""
    plan: list[tuple[str, sa.Table, str, float | None, list[sa.ColumnElement[bool]]]] = [
        ("events", EVENTS, "ts", policy.events_days, []),
        ("visits", VISITS, "started_at", policy.visits_days, []),
        ("aggregates", AGGREGATES, "bucket_start", policy.aggregates_days, []),
        ("heatmap_buckets", HEATMAP_BUCKETS, "bucket_start", policy.heatmaps_days, []),
        ("alerts", ALERTS, "raised_at", policy.alerts_days, []),
        ("promotions", PROMOTIONS, "ts", policy.promotions_days, []),
        ("pos_transactions", POS_TRANSACTIONS, "ts", policy.pos_days, []),
        (
            "webhook_outbox",
            WEBHOOK_OUTBOX,
            "created_at",
            policy.webhook_outbox_days,
            [WEBHOOK_OUTBOX.c.status != "pending"],
        ),
    ]
    out: dict[str, int] = {}
    for name, table, col, days, extra in plan:
        if days is None:
            continue
        dropped = 0
        if table is EVENTS and db.dialect == "postgresql":
            with db.begin() as conn:
                dropped = sum(drop_partitions_before(conn, now - timedelta(days=days)).values())
        out[name] = dropped + _purge(db, table, col, now - timedelta(days=days), chunk, extra)
    return out
