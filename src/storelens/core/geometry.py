"""Plane geometry on numpy arrays: polygons, lines, homographies.

Everything here is a pure function over (N, 2) float arrays so that zone membership for every
shopper in a frame is one vectorised call, not a Python loop over people.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64] | npt.NDArray[np.float32]


def points_in_polygon(points: FloatArray, polygon: FloatArray | Sequence[Sequence[float]]) -> npt.NDArray[np.bool_]:
    """Even-odd ray casting for many points against one polygon. Points exactly on an edge may go
    either way, which is harmless for zones (grace periods absorb it)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        return np.zeros(0, dtype=bool)
    x, y = pts[:, 0:1], pts[:, 1:2]  # (N,1)
    x1, y1 = poly[:, 0], poly[:, 1]  # (M,)
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    crosses = (y1 > y) != (y2 > y)  # (N,M)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = (x2 - x1) * (y - y1) / (y2 - y1) + x1
    hits = crosses & (x < x_at)
    return np.asarray(hits.sum(axis=1) % 2 == 1)


def polygon_area(polygon: FloatArray | Sequence[Sequence[float]]) -> float:
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    x, y = poly[:, 0], poly[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def side_of_line(points: FloatArray, a: Sequence[float], b: Sequence[float]) -> npt.NDArray[np.float64]:
    """Signed cross product: > 0 left of a→b, < 0 right of it (in a y-down image, 'left' as drawn)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    ax, ay = a
    bx, by = b
    return np.asarray((bx - ax) * (pts[:, 1] - ay) - (by - ay) * (pts[:, 0] - ax))


def segments_intersect(p: FloatArray, q: FloatArray, a: Sequence[float], b: Sequence[float]) -> npt.NDArray[np.bool_]:
    """For each movement p[i]→q[i], whether it crosses the segment a–b (proper intersection)."""
    d1 = side_of_line(p, a, b)
    d2 = side_of_line(q, a, b)
    a_arr = np.asarray(a, dtype=np.float64)
    b_arr = np.asarray(b, dtype=np.float64)
    p64 = np.asarray(p, dtype=np.float64).reshape(-1, 2)
    q64 = np.asarray(q, dtype=np.float64).reshape(-1, 2)
    d3 = (q64[:, 0] - p64[:, 0]) * (a_arr[1] - p64[:, 1]) - (q64[:, 1] - p64[:, 1]) * (a_arr[0] - p64[:, 0])
    d4 = (q64[:, 0] - p64[:, 0]) * (b_arr[1] - p64[:, 1]) - (q64[:, 1] - p64[:, 1]) * (b_arr[0] - p64[:, 0])
    return np.asarray((d1 * d2 < 0) & (d3 * d4 < 0))


def apply_homography(h: npt.NDArray[np.float64], points: FloatArray) -> npt.NDArray[np.float64]:
    """Map (N, 2) points through a 3x3 homography."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        return np.zeros((0, 2))
    homog = np.hstack([pts, np.ones((len(pts), 1))]) @ np.asarray(h, dtype=np.float64).T
    return np.asarray(homog[:, :2] / homog[:, 2:3])


def iou_matrix(a: FloatArray, b: FloatArray) -> npt.NDArray[np.float64]:
    """Pairwise IoU of (N,4) and (M,4) xyxy boxes."""
    a64 = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b64 = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if len(a64) == 0 or len(b64) == 0:
        return np.zeros((len(a64), len(b64)))
    lt = np.maximum(a64[:, None, :2], b64[None, :, :2])
    rb = np.minimum(a64[:, None, 2:], b64[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = np.clip(a64[:, 2] - a64[:, 0], 0, None) * np.clip(a64[:, 3] - a64[:, 1], 0, None)
    area_b = np.clip(b64[:, 2] - b64[:, 0], 0, None) * np.clip(b64[:, 3] - b64[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(union > 0, inter / union, 0.0)
    return np.asarray(out)


class PolygonSet:
    """Many polygons tested against many points in one pass: (N, Z) membership.

    Per-frame zone checks are dominated by call overhead, not arithmetic (50 points x 30 edges is
    nothing), so all zones' edges are stacked once and the even-odd crossing counts are summed per
    polygon with one ``np.add.reduceat``. Same rule as :func:`points_in_polygon`; NaN points are
    outside everything.
    """

    def __init__(self, polygons: Sequence[FloatArray | Sequence[Sequence[float]]]) -> None:
        polys = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polygons]
        self.count = len(polys)
        if not polys:
            self._starts = np.zeros(0, dtype=np.intp)
            return
        x1 = np.concatenate([p[:, 0] for p in polys])
        y1 = np.concatenate([p[:, 1] for p in polys])
        x2 = np.concatenate([np.roll(p[:, 0], -1) for p in polys])
        y2 = np.concatenate([np.roll(p[:, 1], -1) for p in polys])
        dy = y2 - y1
        self._x1, self._y1, self._y2 = x1, y1, y2
        with np.errstate(divide="ignore", invalid="ignore"):
            self._k = np.where(dy != 0, (x2 - x1) / np.where(dy != 0, dy, 1.0), 0.0)
        self._starts = np.cumsum([0] + [len(p) for p in polys[:-1]]).astype(np.intp)

    def contains(self, points: FloatArray) -> npt.NDArray[np.bool_]:
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if len(pts) == 0 or self.count == 0:
            return np.zeros((len(pts), self.count), dtype=bool)
        x, y = pts[:, 0:1], pts[:, 1:2]
        crosses = (self._y1 > y) != (self._y2 > y)
        hits = crosses & (x < self._x1 + (y - self._y1) * self._k)
        counts = np.add.reduceat(hits.view(np.uint8).astype(np.int32), self._starts, axis=1)
        return np.asarray(counts % 2 == 1)
