"""``/visits``: shopper visits with path, dwell per zone and intent timeline."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Path, Query

from storelens.service.deps import Conn, Deps, time_range
from storelens.service.schemas.common import ERROR_RESPONSES
from storelens.service.schemas.visits import VisitListOut, VisitOut
from storelens.service.scope import ScopeView
from storelens.storage.models import VISITS
from storelens.storage.visits import Visit, get_visit, list_visits

router = APIRouter(prefix="/visits", tags=["visits"], responses=ERROR_RESPONSES)


def visit_out(v: Visit, with_path: bool) -> VisitOut:
    return VisitOut(
        id=v.id,
        camera_id=v.camera_id,
        started_at=v.started_at,
        ended_at=v.ended_at,
        duration_s=v.duration_s,
        fragments=v.fragments,
        confidence=v.confidence,
        is_staff=v.is_staff,
        dwell_by_zone=v.dwell_by_zone,
        intent_timeline=v.intent_timeline,
        path=v.path if with_path else None,
        journey=v.journey,
    )


@router.get("", response_model=VisitListOut, summary="Visits that started in a time range")
def visits(
    deps: Deps,
    conn: Conn,
    view: ScopeView,
    since: datetime | None = Query(None, description="Visits starting at or after (ISO 8601)"),
    until: datetime | None = Query(None, description="Visits starting before (ISO 8601)"),
    include_staff: bool = Query(False),
    include_path: bool = Query(False, description="Include each visit's path (can be large)"),
    limit: int = Query(100, ge=1, le=1000),
) -> VisitListOut:
    s, u = time_range(since, until)
    rows = list_visits(
        conn,
        store_id=deps.store.store_id,
        since=s,
        until=u,
        include_staff=include_staff,
        limit=limit + 1,
        extra=view.sql_filter(VISITS.c.camera_id, None),
    )
    return VisitListOut(items=[visit_out(v, include_path) for v in rows[:limit]], truncated=len(rows) > limit)


@router.get("/{visit_id}", response_model=VisitOut, summary="One visit with its path and intent timeline")
def visit(deps: Deps, conn: Conn, view: ScopeView, visit_id: str = Path(max_length=64)) -> VisitOut:
    v = get_visit(conn, deps.store.store_id, visit_id)
    if v is None or not view.item_ok(v.camera_id, None):
        raise HTTPException(404, detail=f"unknown visit {visit_id!r} (visit ids are short-lived; it may have expired)")
    return visit_out(v, True)
