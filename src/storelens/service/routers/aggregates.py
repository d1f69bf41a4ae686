"""``/aggregates``: counts and dwell per zone and time bucket (maintained as events arrive)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Query
from sqlalchemy.engine import Connection

from storelens.service.deps import Conn, Deps, time_range
from storelens.service.schemas.analytics import AggregateListOut, AggregateOut
from storelens.service.schemas.common import ERROR_RESPONSES
from storelens.service.scope import ScopeView
from storelens.storage.aggregates import STORE_WIDE, Aggregate, query_aggregates
from storelens.storage.models import AGGREGATES


def _zone_rows(
    conn: Connection,
    store_id: str,
    bucket_s: int,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    zones: frozenset[str] | None = None,
) -> list[Aggregate]:
    """Every zone's rows (or only ``zones``'), without the store-wide ones (the repository selects
    one zone or all)."""
    c = AGGREGATES.c
    where = [c.store_id == store_id, c.bucket_s == bucket_s, c.zone_id != STORE_WIDE]
    if zones is not None:
        where.append(c.zone_id.in_(sorted(zones)))
    if since is not None:
        where.append(c.bucket_start >= since)
    if until is not None:
        where.append(c.bucket_start < until)
    stmt = sa.select(AGGREGATES).where(*where).order_by(c.bucket_start, c.zone_id).limit(limit)
    return [Aggregate(**row._mapping) for row in conn.execute(stmt)]


router = APIRouter(prefix="/aggregates", tags=["aggregates"], responses=ERROR_RESPONSES)


@router.get("", response_model=AggregateListOut, summary="Time-bucketed aggregates")
def aggregates(
    deps: Deps,
    conn: Conn,
    view: ScopeView,
    bucket_s: int = Query(3600, ge=60, le=2_678_400, description="Bucket size; one of the store's stored sizes"),
    zone_id: str | None = Query(None, max_length=64, description="Only this zone"),
    level: Literal["all", "store", "zones"] = Query("all", description="Store-wide rows, zone rows, or both"),
    since: datetime | None = Query(None, description="Buckets starting at or after (ISO 8601)"),
    until: datetime | None = Query(None, description="Buckets starting before (ISO 8601)"),
    limit: int = Query(1000, ge=1, le=10_000),
) -> AggregateListOut:
    s, u = time_range(since, until)
    sizes = list(deps.store.storage.aggregate_buckets_s)
    if bucket_s not in sizes:
        raise HTTPException(422, detail=f"bucket_s must be one of {sizes} (the sizes this store keeps)")
    if zone_id is not None:
        if level == "store":
            raise HTTPException(422, detail="zone_id cannot be combined with level=store")
        view.require_zone(zone_id, conn)
    if not view.all_cameras and zone_id is None:
        # store-wide rows sum every camera: only the visible cameras' zones are shown
        visible = view.zone_ids() or frozenset()
        rows = [] if level == "store" else _zone_rows(conn, deps.store.store_id, bucket_s, s, u, limit + 1, visible)
    elif level == "zones" and zone_id is None:
        rows = _zone_rows(conn, deps.store.store_id, bucket_s, s, u, limit + 1)
    else:
        selector = zone_id if zone_id is not None else (STORE_WIDE if level == "store" else None)
        rows = query_aggregates(
            conn, store_id=deps.store.store_id, bucket_s=bucket_s, zone_id=selector, since=s, until=u, limit=limit + 1
        )
    items = [
        AggregateOut(
            zone_id=r.zone_id or None,
            bucket_start=r.bucket_start,
            bucket_s=r.bucket_s,
            events=r.events,
            entries=r.entries,
            exits=r.exits,
            dwell_count=r.dwell_count,
            dwell_total_s=r.dwell_total_s,
            dwell_mean_s=r.dwell_mean_s,
            dwell_max_s=r.dwell_max_s,
            visits_started=r.visits_started,
            visits_ended=r.visits_ended,
            occupancy_max=r.occupancy_max,
            queue_max=r.queue_max,
        )
        for r in rows[:limit]
    ]
    return AggregateListOut(bucket_s=bucket_s, items=items, truncated=len(rows) > limit)
