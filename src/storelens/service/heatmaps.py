"""Live heat maps per camera, fed by the runner's frames and read by the API.

The aggregation and rendering are :mod:`storelens.analytics.heatmap` (traffic = unique visits per
cell, dwell = seconds per cell, sparse time buckets). This module only owns one accumulator per
camera and a lock: the camera thread updates it every frame while API threads read it, and the
accumulator itself is not thread-safe.

Scope: cells are in the camera's image pixels (``behaviour.heatmap.cell_px``), time buckets of
``behaviour.heatmap.bucket_s``; the maps cover what this process analysed since it started (the
storage layer has no heat-map table yet, so they are not kept across restarts).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from storelens.analytics.heatmap import HeatmapAccumulator, HeatmapGrid, render_heatmap
from storelens.config.schema import StoreConfig
from storelens.pipeline.camera import FrameResult


@dataclass(frozen=True, slots=True)
class HeatmapView:
    camera_id: str
    grid: HeatmapGrid
    traffic: npt.NDArray[np.float64]  # (ny, nx) unique visits per cell
    dwell: npt.NDArray[np.float64]  # (ny, nx) seconds per cell
    bucket_s: int


class LiveHeatmaps:
    """One :class:`HeatmapAccumulator` per camera (created on its first frame, sized to it)."""

    def __init__(self, store: StoreConfig) -> None:
        self.cell_px = store.behaviour.heatmap.cell_px
        self.bucket_s = store.behaviour.heatmap.bucket_s
        self.max_step_s = store.behaviour.heatmap.max_step_s
        self.timezone = store.timezone
        self._acc: dict[str, HeatmapAccumulator] = {}
        self._lock = threading.Lock()

    def observe(self, camera_id: str, result: FrameResult) -> None:
        """Frame observer (camera thread): add the frame's feet points."""
        frame = result.frame
        tracks = result.tracks
        with self._lock:
            acc = self._acc.get(camera_id)
            if acc is None or acc.grid.nx * self.cell_px < frame.width or acc.grid.ny * self.cell_px < frame.height:
                grid = HeatmapGrid.covering("image", frame.width, frame.height, float(self.cell_px))
                acc = self._acc[camera_id] = HeatmapAccumulator(grid, self.bucket_s, self.max_step_s, self.timezone)
            acc.update(
                np.asarray(tracks.subject_id, dtype=np.int64),
                np.asarray(tracks.bottom_center, dtype=np.float64),
                frame.pts,
                frame.wall_time,
            )

    def cameras(self) -> list[str]:
        with self._lock:
            return sorted(self._acc)

    def view(self, camera_id: str, since: datetime | None, until: datetime | None) -> HeatmapView | None:
        """Maps summed over the buckets that start in [since, until); None if the camera has no data."""
        with self._lock:
            acc = self._acc.get(camera_id)
            if acc is None:
                return None
            traffic, dwell = acc.maps(
                None if since is None else since.timestamp(), None if until is None else until.timestamp()
            )
            return HeatmapView(camera_id, acc.grid, traffic.copy(), dwell.copy(), acc.bucket_s)


def render_png(view: HeatmapView, metric: str) -> bytes:
    """PNG bytes of one metric's map (blank background: no camera image ever leaves the pipeline)."""
    import cv2

    values = view.traffic if metric == "traffic" else view.dwell
    label = "visits" if metric == "traffic" else "seconds"
    image = render_heatmap(values, view.grid, title=f"{view.camera_id} {metric}", legend_label=label)
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return bytes(buf.tobytes())
