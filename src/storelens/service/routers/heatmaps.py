"""``/heatmaps/{camera_id}``: traffic or dwell per cell for a time range, as a JSON grid or a PNG;
``/heatmaps``: which cameras have any, so a client asks for maps that exist instead of collecting 404s;
``/heatmaps/store/{store_id}``: the store-level map of a multi-camera store (fused shoppers, floor
metres, over the floor-plan image as PNG), counted once however many cameras see a shopper.

Served from the ``heatmap_buckets`` table plus what this process's pipelines hold in memory and
have not stored yet (:mod:`storelens.service.heatmaps`): the maps cover every stored run of the
camera, across restarts, and a process that runs no pipelines serves what others stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response

from storelens.analytics.floor import FloorPlan
from storelens.pipeline.heatmaps import STORE_HEATMAP
from storelens.service.deps import Conn, Deps, time_range
from storelens.service.heatmaps import HeatmapView, heatmap_view, render_png
from storelens.service.schemas.analytics import HeatmapGridOut, HeatmapIndexOut, HeatmapOut
from storelens.service.schemas.common import ERROR_RESPONSES
from storelens.service.scope import ScopeView
from storelens.storage.heatmaps import stored_heatmap_spans

router = APIRouter(prefix="/heatmaps", tags=["heatmaps"], responses=ERROR_RESPONSES)


@router.get("", response_model=list[HeatmapIndexOut], summary="Which configured cameras have heat-map data")
def heatmap_index(
    deps: Deps,
    conn: Conn,
    scope: ScopeView,
    since: datetime | None = Query(None, description="Buckets starting at or after (ISO 8601)"),
    until: datetime | None = Query(None, description="Buckets starting before (ISO 8601)"),
) -> list[HeatmapIndexOut]:
    """One grouped query over the bucket keys plus the recorder's cameras: no map is summed. A camera
    that is ``stored`` or ``live`` gets a 200 from ``/heatmaps/{camera_id}`` for the same range. The
    store-level map of a multi-camera store is listed last as ``*store`` (only to whole-store access,
    only when it is stored or live): it gets a 200 from ``/heatmaps/store/{store_id}``."""
    s, u = time_range(since, until)
    spans = stored_heatmap_spans(conn, store_id=deps.store.store_id, since=s, until=u)
    live = set(deps.heatmaps.cameras())

    def entry(key: str) -> HeatmapIndexOut:
        span = spans.get(key)
        return HeatmapIndexOut(
            camera_id=key,
            stored=span is not None,
            live=key in live,
            first_bucket=None if span is None else span.first_bucket,
            last_bucket=None if span is None else span.last_bucket,
        )

    out = [entry(cam.id) for cam in scope.cameras()]
    store_map = entry(STORE_HEATMAP)
    if scope.all_cameras and (store_map.stored or store_map.live):
        out.append(store_map)
    return out


PNG_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}}, "description": "JSON grid, or PNG with format=png"}
}
METRIC = Query("traffic", description="Unique visits or seconds per cell")
SINCE = Query(None, description="Buckets starting at or after (ISO 8601)")
UNTIL = Query(None, description="Buckets starting before (ISO 8601)")


@router.get(
    "/store/{store_id}",
    response_model=HeatmapOut,
    summary="Store-level heat map on the floor plan, in metres (JSON grid or PNG)",
    responses=PNG_RESPONSE,
)
def store_heatmap(
    deps: Deps,
    conn: Conn,
    scope: ScopeView,
    store_id: str = Path(max_length=64),
    metric: Literal["traffic", "dwell"] = METRIC,
    format: Literal["json", "png"] = Query("json"),
    since: datetime | None = SINCE,
    until: datetime | None = UNTIL,
) -> HeatmapOut | Response:
    """Traffic (unique store visits per cell) or dwell of the fused shoppers of every calibrated
    camera; ``camera_id`` in the answer is ``*store``. Mixes every camera: whole-store access."""
    s, u = time_range(since, until)
    scope.require_store()
    if store_id != deps.store.store_id:
        raise HTTPException(404, detail=f"unknown store {store_id!r}")
    view = heatmap_view(conn, deps.heatmaps, store_id, STORE_HEATMAP, s, u)
    if view is None:
        before = "" if u is None else f" before {u.isoformat()}"
        raise HTTPException(
            404,
            detail=f"no store-level heat map{before}: it needs two or more calibrated cameras feeding the store stage",
        )
    if format == "png":
        try:
            plan = FloorPlan.from_config(deps.store)
        except FileNotFoundError:  # the plan image is gone: the map on a blank floor still answers
            plan = None
        return Response(render_png(view, metric, plan, f"store {metric} (floor, m)"), media_type="image/png")
    return _out(view, STORE_HEATMAP, metric, s, u)


@router.get(
    "/{camera_id}",
    response_model=HeatmapOut,
    summary="Heat map of one camera (JSON grid or PNG)",
    responses={200: {"content": {"image/png": {}}, "description": "JSON grid, or PNG with format=png"}},
)
def heatmap(
    deps: Deps,
    conn: Conn,
    scope: ScopeView,
    camera_id: str = Path(max_length=64),
    metric: Literal["traffic", "dwell"] = Query("traffic", description="Unique visits or seconds per cell"),
    format: Literal["json", "png"] = Query("json"),
    since: datetime | None = Query(None, description="Buckets starting at or after (ISO 8601)"),
    until: datetime | None = Query(None, description="Buckets starting before (ISO 8601)"),
) -> HeatmapOut | Response:
    s, u = time_range(since, until)
    scope.require_camera(camera_id)
    view = heatmap_view(conn, deps.heatmaps, deps.store.store_id, camera_id, s, u)
    if view is None:
        why = "it has analysed no frame yet" if deps.runner is not None else "this process runs no pipelines"
        before = "" if u is None else f" before {u.isoformat()}"
        raise HTTPException(404, detail=f"no heat-map data for camera {camera_id!r}: none stored{before} and {why}")
    if format == "png":
        return Response(render_png(view, metric), media_type="image/png")
    return _out(view, camera_id, metric, s, u)


def _out(
    view: HeatmapView, camera_id: str, metric: Literal["traffic", "dwell"], s: datetime | None, u: datetime | None
) -> HeatmapOut:
    values = view.traffic if metric == "traffic" else view.dwell
    g = view.grid
    return HeatmapOut(
        camera_id=camera_id,
        metric=metric,
        since=s,
        until=u,
        bucket_s=view.bucket_s,
        grid=HeatmapGridOut(
            space="floor" if g.space == "floor" else "image",
            unit="m" if g.space == "floor" else "px",
            x0=g.x0,
            y0=g.y0,
            cell=g.cell,
            nx=g.nx,
            ny=g.ny,
        ),
        values=[[round(float(v), 3) for v in row] for row in values],
        max=round(float(values.max()), 3) if values.size else 0.0,
        total=round(float(values.sum()), 3),
    )
