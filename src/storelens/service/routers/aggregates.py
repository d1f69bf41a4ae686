"""``/aggregates``: counts and dwell per zone and time bucket (maintained as events arrive)."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Literal

from fastapi import APIRouter, HTTPException, Query

from storelens.service.deps import Conn, Deps, time_range
from storelens.service.schemas.analytics import AggregateListOut, AggregateOut
from storelens.service.schemas.common import ERROR_RESPONSES
from storelens.service.scope import ScopeView
from storelens.storage.aggregates import STORE_WIDE, query_aggregates

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
    query = partial(
        query_aggregates, conn, store_id=deps.store.store_id, bucket_s=bucket_s, since=s, until=u, limit=limit + 1
    )
    if not view.all_cameras and zone_id is None:
        # store-wide rows sum every camera: only the visible cameras' zones are shown
        visible = view.zone_ids() or frozenset()
        rows = [] if level == "store" else query(zones=visible, store_wide=False)
    elif level == "zones" and zone_id is None:
        rows = query(store_wide=False)
    else:
        selector = zone_id if zone_id is not None else (STORE_WIDE if level == "store" else None)
        rows = query(zone_id=selector)
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
