"""``/promotions``: promotions triggered for shoppers (what was shown where, no personal data)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query

from storelens.service.deps import Conn, Deps, time_range
from storelens.service.schemas.actions import PromotionOut
from storelens.service.schemas.common import ERROR_RESPONSES
from storelens.service.scope import ScopeView
from storelens.storage.models import PROMOTIONS
from storelens.storage.records import list_promotions

router = APIRouter(prefix="/promotions", tags=["promotions"], responses=ERROR_RESPONSES)


@router.get("", response_model=list[PromotionOut], summary="Promotions triggered in a time range")
def promotions(
    deps: Deps,
    conn: Conn,
    view: ScopeView,
    since: datetime | None = Query(None, description="At or after (ISO 8601)"),
    until: datetime | None = Query(None, description="Before (ISO 8601)"),
    limit: int = Query(100, ge=1, le=1000),
) -> list[PromotionOut]:
    s, u = time_range(since, until)
    return [
        PromotionOut.of_record(p)
        for p in list_promotions(
            conn,
            store_id=deps.store.store_id,
            since=s,
            until=u,
            limit=limit,
            extra=view.sql_filter(PROMOTIONS.c.camera_id, PROMOTIONS.c.zone_id),
        )
    ]
