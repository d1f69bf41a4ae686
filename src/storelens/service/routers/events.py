"""``/events``: filter by type, zone, camera, subject and time; keyset (cursor) pagination."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Path, Query

from storelens.events.models import Event
from storelens.service.deps import Conn, Deps, time_range
from storelens.service.schemas.common import ERROR_RESPONSES, TypeFilter
from storelens.service.schemas.events import EventPageOut
from storelens.service.scope import ScopeView
from storelens.storage.events import CursorError, get_event, query_events
from storelens.storage.models import EVENTS

router = APIRouter(prefix="/events", tags=["events"], responses=ERROR_RESPONSES)


@router.get("", response_model=EventPageOut, summary="Query events")
def list_events(
    deps: Deps,
    conn: Conn,
    view: ScopeView,
    type: list[TypeFilter] | None = Query(
        None, description="Event type, or a prefix ending in '.' (repeat for several)", max_length=50
    ),
    zone_id: str | None = Query(None, max_length=64),
    camera_id: str | None = Query(None, max_length=64),
    subject: str | None = Query(None, max_length=64, description="Visit/track id"),
    since: datetime | None = Query(None, description="Inclusive, ISO 8601 (naive = UTC)"),
    until: datetime | None = Query(None, description="Exclusive, ISO 8601 (naive = UTC)"),
    order: Literal["asc", "desc"] = Query("asc", description="By time, then id"),
    limit: int = Query(100, ge=1, le=1000),
    cursor: str | None = Query(None, max_length=512, description="next_cursor of the previous page"),
) -> EventPageOut:
    s, u = time_range(since, until)
    if limit > deps.settings.max_page:
        raise HTTPException(422, detail=f"limit must be <= {deps.settings.max_page}")
    if zone_id is not None:
        view.require_zone(zone_id, conn)
    if camera_id is not None:
        view.require_camera(camera_id, conn)
    try:
        page = query_events(
            conn,
            store_id=deps.store.store_id,
            types=type,
            zone_id=zone_id,
            camera_id=camera_id,
            subject=subject,
            since=s,
            until=u,
            cursor=cursor,
            limit=limit,
            descending=order == "desc",
            extra=view.sql_filter(EVENTS.c.camera_id, EVENTS.c.zone_id),
        )
    except CursorError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    return EventPageOut(items=page.items, next_cursor=page.next_cursor)


@router.get("/{event_id}", response_model=Event, summary="One event")
def read_event(deps: Deps, conn: Conn, view: ScopeView, event_id: str = Path(max_length=64)) -> Event:
    event = get_event(conn, event_id)
    if event is None or event.store_id != deps.store.store_id or not view.item_ok(event.camera_id, event.zone_id):
        raise HTTPException(404, detail=f"unknown event {event_id!r}")
    return event
