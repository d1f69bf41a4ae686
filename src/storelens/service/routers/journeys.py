"""``/journeys``: store-level journeys (issue 18), each fused store visit's zones in order, and their
common paths: a zone-to-zone flow table (the links of a Sankey picture), the first zone after the
entrance and the last zone before the till (:mod:`storelens.analytics.journeys`).

A journey exists only where two or more calibrated cameras feed the store-level stage; a store
without one answers empty lists, not an error. Journeys mix every camera of the store, so the route
table marks them ``whole_store`` (as ``/kpis``): a principal limited to some cameras gets 403. The
per-visit list is analyst data like ``/visits``; the flow table is an aggregate a viewer may read.
``format=csv|parquet`` returns the list or the flow table as one flat table, like ``/kpis``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from storelens.analytics.journeys import journey_flows
from storelens.analytics.storelevel import zone_roles
from storelens.service.deps import Conn, Deps, require_role
from storelens.service.routers.kpis import CSV_RESPONSE, FROM, STORE, TABLE, TO, Format, _csv, _range, _store
from storelens.service.schemas.common import ERROR_RESPONSES
from storelens.service.schemas.journeys import (
    FlowOut,
    FlowsOut,
    JourneyListOut,
    JourneyOut,
    PathOut,
    ZoneCountOut,
)
from storelens.service.scope import ScopeView, View
from storelens.storage.visits import Visit, list_journeys

router = APIRouter(prefix="/journeys", tags=["journeys"], responses=ERROR_RESPONSES)

MAX_RANGE = timedelta(days=400)
DEFAULT_RANGE = timedelta(days=7)
MAX_VISITS = 200_000
"""Journeys one flow table reads at most (a busy store's quarter); more is said, not silently cut."""


def _stored(
    deps: Deps,
    conn: Conn,
    view: View,
    range_: tuple[str | None, datetime | None, datetime | None],
    *,
    include_staff: bool,
    limit: int,
) -> tuple[datetime, datetime, list[Visit]]:
    """The checked range (store, from, to) and up to ``limit`` journeys of its store visits; both
    routes check the store and the range the same way before they read."""
    store, since, until = range_
    _store(view, store)
    s, u = _range(since, until or datetime.now(UTC), MAX_RANGE, DEFAULT_RANGE)  # journeys are not hourly
    rows = list_journeys(conn, store_id=deps.store.store_id, since=s, until=u, include_staff=include_staff, limit=limit)
    return s, u, rows


@router.get(
    "",
    response_model=JourneyListOut,
    responses=CSV_RESPONSE,
    summary="Each store visit's zones in order",
    dependencies=[Depends(require_role("analyst"))],  # per-visit data; the flow table is a viewer's
)
def journeys(
    deps: Deps,
    conn: Conn,
    view: ScopeView,
    store: str | None = STORE,
    since: datetime | None = FROM,
    until: datetime | None = TO,
    include_staff: bool = Query(False),
    limit: int = Query(1000, ge=1, le=10_000),
    format: Format = Query("json"),
) -> JourneyListOut | Response:
    _, _, rows = _stored(deps, conn, view, (store, since, until), include_staff=include_staff, limit=limit + 1)
    items = [
        JourneyOut(
            visit_id=v.id,
            started_at=v.started_at,
            ended_at=v.ended_at,
            duration_s=v.duration_s,
            journey=v.journey or [],
        )
        for v in rows[:limit]
    ]
    if format in TABLE:
        table = [{**i.model_dump(mode="json"), "journey": " > ".join(i.journey)} for i in items]
        return _csv(table, f"{deps.store.store_id}-journeys.csv", format)
    return JourneyListOut(items=items, truncated=len(rows) > limit)


@router.get("/flows", response_model=FlowsOut, responses=CSV_RESPONSE, summary="Common paths: zone-to-zone flows")
def flows(
    deps: Deps,
    conn: Conn,
    view: ScopeView,
    store: str | None = STORE,
    since: datetime | None = FROM,
    until: datetime | None = TO,
    top: int = Query(50, ge=1, le=1000, description="Most frequent flows, paths and zones kept"),
    include_staff: bool = Query(False),
    format: Format = Query("json"),
) -> FlowsOut | Response:
    """The flow table of the store visits that started in the range; ``format=csv|parquet`` returns
    the flow table (from_zone, to_zone, count), the input of a Sankey picture."""
    s, u, rows = _stored(deps, conn, view, (store, since, until), include_staff=include_staff, limit=MAX_VISITS + 1)
    f = journey_flows([v.journey or [] for v in rows[:MAX_VISITS]], top=top, **zone_roles(deps.store))
    out = FlowsOut(
        store_id=deps.store.store_id,
        since=s,
        until=u,
        visits=f.visits,
        reached_till=f.reached_till,
        truncated=len(rows) > MAX_VISITS,
        flows=[FlowOut(from_zone=a, to_zone=b, count=n) for a, b, n in f.flows],
        paths=[PathOut(path=list(p), count=n) for p, n in f.paths],
        first_zone=[ZoneCountOut(zone_id=z, count=n) for z, n in f.first_zone],
        last_before_till=[ZoneCountOut(zone_id=z, count=n) for z, n in f.last_before_till],
    )
    if format in TABLE:
        return _csv([r.model_dump(mode="json") for r in out.flows], f"{deps.store.store_id}-journey-flows.csv", format)
    return out
