"""``/heatmaps/{camera_id}``: traffic or dwell per cell for a time range, as a JSON grid or a PNG;
``/heatmaps``: which cameras have any, so a client asks for maps that exist instead of collecting 404s.

Served from the ``heatmap_buckets`` table plus what this process's pipelines hold in memory and
have not stored yet (:mod:`storelens.service.heatmaps`): the maps cover every stored run of the
camera, across restarts, and a process that runs no pipelines serves what others stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response

from storelens.service.deps import Conn, Deps, time_range
from storelens.service.heatmaps import heatmap_view, render_png
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
    that is ``stored`` or ``live`` gets a 200 from ``/heatmaps/{camera_id}`` for the same range."""
    s, u = time_range(since, until)
    spans = stored_heatmap_spans(conn, store_id=deps.store.store_id, since=s, until=u)
    live = set(deps.heatmaps.cameras())
    out = []
    for cam in scope.cameras():
        span = spans.get(cam.id)
        out.append(
            HeatmapIndexOut(
                camera_id=cam.id,
                stored=span is not None,
                live=cam.id in live,
                first_bucket=None if span is None else span.first_bucket,
                last_bucket=None if span is None else span.last_bucket,
            )
        )
    return out


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
