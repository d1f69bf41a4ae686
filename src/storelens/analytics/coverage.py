"""Which floor cells each calibrated camera sees: gaps and overlaps before store numbers are trusted.

Store-level measures fuse cameras on the floor (:mod:`storelens.analytics.fusion`): two cameras
that see the same cells see one shopper twice (fusion merges them), a strip no camera sees is
where a shopper is lost for a moment (hand-off bridges short gaps, not a blind aisle), and a floor
zone partly unseen under-counts its dwell. This module answers, before any video is analysed, from
the calibrations alone: a floor cell (the store heat-map grid, ``behaviour.heatmap.cell_m``) is seen
by a camera when its centre projects, through the inverse of the camera's homography, in front of
the camera (the calibrated points' side of the horizon) and inside its frame.

It is the camera-layout check of ``storelens calibrate STORE.yaml --coverage``, which prints the
table and writes the coverage map (cells seen by 0 / 1 / 2+ cameras) on the floor plan.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from storelens.analytics.floor import FloorMapper, FloorPlan
from storelens.analytics.heatmap import HeatmapGrid
from storelens.analytics.stage import floor_extent
from storelens.config.store import StoreConfig
from storelens.core.geometry import points_in_polygon

__all__ = ["Coverage", "coverage", "render_coverage"]

COLOURS_BGR = {0: (60, 60, 220), 1: (90, 180, 90), 2: (200, 120, 40)}
"""Unseen (red), one camera (green), two or more (blue)."""


@dataclass(frozen=True, slots=True)
class Coverage:
    grid: HeatmapGrid
    seen: dict[str, npt.NDArray[np.bool_]]
    """camera -> (ny, nx) cells it sees."""
    count: npt.NDArray[np.int32]
    """(ny, nx) how many cameras see each cell."""

    @property
    def cell_area_m2(self) -> float:
        return self.grid.cell**2

    def area_m2(self, cameras: int, *, at_least: bool = False) -> float:
        """Floor seen by exactly ``cameras`` cameras (or at least that many)."""
        cells = self.count >= cameras if at_least else self.count == cameras
        return float(cells.sum()) * self.cell_area_m2

    def overlaps(self) -> list[tuple[str, str, float]]:
        """(camera, camera, m² both see), for every pair that shares a cell, largest first."""
        out = [
            (a, b, float((self.seen[a] & self.seen[b]).sum()) * self.cell_area_m2)
            for a, b in itertools.combinations(sorted(self.seen), 2)
        ]
        return sorted((o for o in out if o[2] > 0), key=lambda o: (-o[2], o[0], o[1]))

    def unseen_share(self, polygon: list[tuple[float, float]]) -> float | None:
        """Share of a floor polygon's cells no camera sees (None: no cell centre inside it)."""
        inside = points_in_polygon(self._centres(), np.asarray(polygon, dtype=np.float64)).reshape(self.count.shape)
        if not inside.any():
            return None
        return float((self.count[inside] == 0).mean())

    def _centres(self) -> npt.NDArray[np.float64]:
        g = self.grid
        xs = g.x0 + (np.arange(g.nx) + 0.5) * g.cell
        ys = g.y0 + (np.arange(g.ny) + 0.5) * g.cell
        gx, gy = np.meshgrid(xs, ys)
        return np.stack([gx.ravel(), gy.ravel()], axis=1)


def _seen(mapper: FloorMapper, centres: npt.NDArray[np.float64], frame_size: tuple[int, int]) -> npt.NDArray[np.bool_]:
    p = np.c_[centres, np.ones(len(centres))] @ mapper.inverse.T
    w = p[:, 2]
    # in front of the camera: the image points of the calibration are on this side of the horizon
    ref = mapper.calibration.floor_points[0]
    w_ref = float(np.r_[ref, 1.0] @ mapper.inverse[2])
    ok = np.sign(w) == np.sign(w_ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        u, v = p[:, 0] / w, p[:, 1] / w
    fw, fh = frame_size
    return np.asarray(ok & (u >= 0) & (u < fw) & (v >= 0) & (v < fh))


def coverage(store: StoreConfig, frame_sizes: dict[str, tuple[int, int]]) -> Coverage:
    """Coverage of the store's floor grid by the calibrated cameras named in ``frame_sizes``
    (camera -> native (width, height), the pixels its calibration's image points are in)."""
    x0, y0, w, h = floor_extent(store)
    grid = HeatmapGrid.covering("floor", w, h, store.behaviour.heatmap.cell_m, x0, y0)
    cov = Coverage(grid, {}, np.zeros((grid.ny, grid.nx), np.int32))
    centres = cov._centres()
    for cam_id, size in frame_sizes.items():
        mapper = FloorMapper.for_camera(store, cam_id)
        if mapper is None:
            raise ValueError(f"camera {cam_id!r} has no calibration")
        mask = _seen(mapper, centres, size).reshape(grid.ny, grid.nx)
        cov.seen[cam_id] = mask
        cov.count[mask] += 1
    return cov


def render_coverage(cov: Coverage, plan: FloorPlan | None = None, target_px: int = 720) -> npt.NDArray[np.uint8]:
    """A BGR image of the floor: cells seen by 0 / 1 / 2+ cameras, over the plan image when there is
    one, with each camera's name at the centre of what it sees and a legend."""
    g = cov.grid
    s = max(2, int(target_px // max(g.nx, g.ny)))
    w, h = g.nx * s, g.ny * s
    if plan is not None and plan.image is not None:
        # the plan image spans (0, 0)-(width_m, height_m); the grid starts at (x0, y0)
        ph, pw = plan.image.shape[:2]
        sx, sy = pw / plan.width_m, ph / plan.height_m
        m = np.array([[sx * g.cell / s, 0, sx * g.x0], [0, sy * g.cell / s, sy * g.y0]], dtype=np.float64)
        base = cv2.warpAffine(
            plan.image, m, (w, h), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_AREA, borderValue=(255, 255, 255)
        )
    else:
        base = np.full((h, w, 3), 255, np.uint8)
    colour = np.zeros((g.ny, g.nx, 3), np.uint8)
    for n, bgr in COLOURS_BGR.items():
        colour[np.minimum(cov.count, 2) == n] = bgr
    overlay = cv2.resize(colour, (w, h), interpolation=cv2.INTER_NEAREST)
    img = cv2.addWeighted(base, 0.45, overlay, 0.55, 0.0)
    for cam, mask in sorted(cov.seen.items()):
        if mask.any():
            iy, ix = np.nonzero(mask)
            cx, cy = int((ix.mean() + 0.5) * s), int((iy.mean() + 0.5) * s)
            cv2.putText(img, cam, (cx - 4 * len(cam), cy), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    legend = np.full((28, w, 3), 255, np.uint8)
    x = 8
    for n, label in ((0, "no camera"), (1, "1 camera"), (2, "2+ cameras")):
        cv2.rectangle(legend, (x, 8), (x + 14, 22), COLOURS_BGR[n], -1)
        cv2.putText(legend, label, (x + 20, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        x += 130
    cv2.putText(legend, f"cell {g.cell:g} m", (x, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (90, 90, 90), 1, cv2.LINE_AA)
    return np.ascontiguousarray(np.vstack([img, legend]))
