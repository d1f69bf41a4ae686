"""Heat maps for the API: the stored buckets of a range plus what the pipelines hold in memory.

Recording is :class:`~storelens.pipeline.heatmaps.HeatmapRecorder` (one accumulator per camera fed
by the runner's frames, flushed to the ``heatmap_buckets`` table every minute and at shutdown);
storage is :mod:`storelens.storage.heatmaps`. A view adds the stored buckets that start in
[since, until) to the recorder's not-yet-stored part, under the camera's flush lock, so nothing is
counted twice or missed. It therefore works in a process that runs no pipelines (``serve
--no-pipelines``, or the database a ``storelens demo`` run left behind) and across restarts.

Scope: cells are the camera's behaviour-stage map (floor metres, ``behaviour.heatmap.cell_m``,
for a calibrated camera, else image pixels, ``cell_px``), time buckets of
``behaviour.heatmap.bucket_s``. The grid shown is the live one when the camera runs here, else the
one of its newest stored bucket; buckets recorded on another grid are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from storelens.analytics.floor import FloorPlan
from storelens.analytics.heatmap import HeatmapGrid, render_heatmap
from storelens.pipeline.heatmaps import HeatmapRecorder
from storelens.storage.events import Executor
from storelens.storage.heatmaps import read_heatmap


@dataclass(frozen=True, slots=True)
class HeatmapView:
    camera_id: str
    grid: HeatmapGrid
    traffic: npt.NDArray[np.float64]  # (ny, nx) unique visits per cell
    dwell: npt.NDArray[np.float64]  # (ny, nx) seconds per cell
    bucket_s: int


def heatmap_view(
    conn: Executor,
    recorder: HeatmapRecorder,
    store_id: str,
    camera_id: str,
    since: datetime | None,
    until: datetime | None,
) -> HeatmapView | None:
    """Stored + live maps summed over the buckets that start in [since, until); None if the camera
    has neither stored buckets (before ``until``) nor live data."""
    with recorder.reading(camera_id):
        live = recorder.live(camera_id, since, until)
        grid = None if live is None else live.grid
        stored = read_heatmap(conn, store_id=store_id, camera_id=camera_id, since=since, until=until, grid=grid)
    if live is None:
        if stored is None:
            return None
        bucket_s = stored.bucket_s if stored.bucket_s is not None else recorder.bucket_s
        return HeatmapView(camera_id, stored.grid, stored.traffic, stored.dwell, bucket_s)
    traffic, dwell = live.traffic, live.dwell
    if stored is not None:
        traffic = traffic + stored.traffic
        dwell = dwell + stored.dwell
    return HeatmapView(camera_id, live.grid, traffic, dwell, live.bucket_s)


def render_png(view: HeatmapView, metric: str, plan: FloorPlan | None = None, title: str | None = None) -> bytes:
    """PNG bytes of one metric's map: a floor map over the floor-plan image ``plan`` when it has
    one, else on a blank background (no camera image ever leaves the pipeline)."""
    import cv2

    values = view.traffic if metric == "traffic" else view.dwell
    label = "visits" if metric == "traffic" else "seconds"
    background, size = None, None
    if plan is not None and plan.image is not None and view.grid.space == "floor":
        background, size = plan.image, (plan.width_m - view.grid.x0, plan.height_m - view.grid.y0)
    image = render_heatmap(
        values,
        view.grid,
        background=background,
        background_size=size,
        title=title or f"{view.camera_id} {metric}",
        legend_label=label,
    )
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return bytes(buf.tobytes())
