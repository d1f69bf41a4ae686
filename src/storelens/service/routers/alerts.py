"""``/alerts``: list and acknowledge staff/inventory alerts."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request

from storelens.events.models import Event
from storelens.events.payloads import AlertAcknowledged
from storelens.security.rbac import principal_of
from storelens.service.deps import Conn, Deps, require_role, time_range
from storelens.service.schemas.actions import AckIn, AlertOut, AlertState
from storelens.service.schemas.common import ERROR_RESPONSES, ErrorBody
from storelens.service.scope import ScopeView
from storelens.storage.models import ALERTS
from storelens.storage.records import acknowledge_alert, get_alert, list_alerts

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=ERROR_RESPONSES)


@router.get("", response_model=list[AlertOut], summary="List alerts, newest first")
def alerts(
    deps: Deps,
    conn: Conn,
    view: ScopeView,
    state: list[AlertState] | None = Query(None, description="Only these states (repeat for several)"),
    since: datetime | None = Query(None, description="Raised at or after (ISO 8601)"),
    until: datetime | None = Query(None, description="Raised before (ISO 8601)"),
    limit: int = Query(100, ge=1, le=1000),
) -> list[AlertOut]:
    s, u = time_range(since, until)
    rows = list_alerts(
        conn,
        store_id=deps.store.store_id,
        states=state,
        since=s,
        until=u,
        limit=limit,
        extra=view.sql_filter(ALERTS.c.camera_id, ALERTS.c.zone_id),
    )
    return [AlertOut.of_record(a) for a in rows]


@router.get("/{alert_id}", response_model=AlertOut, summary="One alert")
def alert(deps: Deps, conn: Conn, view: ScopeView, alert_id: str = Path(max_length=64)) -> AlertOut:
    a = get_alert(conn, alert_id)
    if a is None or a.store_id != deps.store.store_id or not view.item_ok(a.camera_id, a.zone_id):
        raise HTTPException(404, detail=f"unknown alert {alert_id!r}")
    return AlertOut.of_record(a)


@router.post(
    "/{alert_id}/ack",
    response_model=AlertOut,
    dependencies=[Depends(require_role("viewer"))],
    responses={409: {"model": ErrorBody, "description": "The alert is closed"}},
    summary="Acknowledge an alert",
)
def acknowledge(
    request: Request,
    deps: Deps,
    view: ScopeView,
    alert_id: str = Path(max_length=64),
    body: AckIn | None = Body(None),
) -> AlertOut:
    """Marks the alert acknowledged at once and publishes ``alert.acknowledged`` (WebSocket clients,
    MQTT/webhooks see it; the database projection of the event is idempotent).

    With authentication on, ``acknowledged_by`` is the signed-in user, whatever the body says: the
    time-to-acknowledge report must not be attributable to someone else. ``by`` in the body is
    only used by a server that runs without authentication (e.g. a kiosk on the store network)."""
    ack = body or AckIn()
    principal = principal_of(request)
    if principal is not None:
        ack = AckIn(by=principal.username, note=ack.note)
    now = datetime.now(UTC)
    with deps.db.begin() as conn:
        a = get_alert(conn, alert_id)
        if a is None or a.store_id != deps.store.store_id or not view.item_ok(a.camera_id, a.zone_id):
            raise HTTPException(404, detail=f"unknown alert {alert_id!r}")
        if a.state == "closed":
            raise HTTPException(409, detail=f"alert {alert_id!r} is closed and cannot be acknowledged")
        acknowledge_alert(conn, alert_id, by=ack.by, at=now)
        updated = get_alert(conn, alert_id)
    assert updated is not None
    payload = (
        AlertAcknowledged(alert_id=alert_id, by=ack.by, note=ack.note)
        if ack.note
        else AlertAcknowledged(alert_id=alert_id, by=ack.by)
    )
    deps.bus.publish(
        Event.of(payload, deps.store.store_id, time.time(), camera_id=a.camera_id, zone_id=a.zone_id, subject=a.subject)
    )
    return AlertOut.of_record(updated)
