"""Heat maps on a floor (or image) grid: traffic and dwell, kept apart, stored as sparse buckets.

Two questions, two maps. **Traffic** counts *unique visits* per cell (a shopper standing still for
a minute is one visit, not 600 detections, the mistake of per-detection heat maps). **Dwell** adds
the seconds spent per cell (each sighting credits the time since the previous analysed frame,
capped at ``max_step_s`` so a frame gap does not pour minutes into one cell).

Storage: per time bucket (default 15 min) only the non-empty cells are kept, as three small arrays,
so a month of a 20 m x 30 m store at 0.5 m cells is a few MB at most. A range query sums the
buckets in the range; a visit that stays in one cell across a bucket boundary counts once per
bucket, which is the price of range queries without keeping per-visit cell lists.
:meth:`HeatmapAccumulator.drain` hands out what was added since the previous drain as sparse
increments (closed buckets and the part of the open one), which is how the database table of
:mod:`storelens.storage.heatmaps` is kept up to date without ever counting anything twice.

Rendering draws the map over the floor plan (or a blank grid) with a colour legend and a scale bar,
using OpenCV only.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from storelens.analytics.timebuckets import BucketClock
from storelens.core.errors import as_disk_full

__all__ = [
    "HeatBucket",
    "HeatmapAccumulator",
    "HeatmapGrid",
    "aggregate_points",
    "render_heatmap",
    "write_png",
]


@dataclass(frozen=True, slots=True)
class HeatmapGrid:
    """A regular grid: cell (i, j) covers x in [x0 + j*cell, x0 + (j+1)*cell), same for y."""

    space: str  # "floor" (metres) | "image" (pixels)
    x0: float
    y0: float
    cell: float
    nx: int
    ny: int

    def __post_init__(self) -> None:
        # floats always: the stored grid key prints them, and a cell of 16 must be the grid of 16.0
        for name in ("x0", "y0", "cell"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.cell <= 0 or self.nx <= 0 or self.ny <= 0:
            raise ValueError(f"bad heat-map grid: cell={self.cell} nx={self.nx} ny={self.ny}")
        if self.nx * self.ny > 4_000_000:
            raise ValueError(f"heat-map grid of {self.nx}x{self.ny} cells is too fine; use a larger cell")

    @classmethod
    def covering(
        cls, space: str, width: float, height: float, cell: float, x0: float = 0.0, y0: float = 0.0
    ) -> HeatmapGrid:
        return cls(space, x0, y0, cell, max(1, math.ceil(width / cell)), max(1, math.ceil(height / cell)))

    @property
    def unit(self) -> str:
        return "m" if self.space == "floor" else "px"

    @property
    def size(self) -> int:
        return self.nx * self.ny

    def cell_index(self, xy: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Flat cell index (row-major, ``iy * nx + ix``) per point; -1 outside the grid or NaN."""
        pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        with np.errstate(invalid="ignore"):
            ix = np.floor((pts[:, 0] - self.x0) / self.cell)
            iy = np.floor((pts[:, 1] - self.y0) / self.cell)
            ok = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        out = np.full(len(pts), -1, dtype=np.int64)
        out[ok] = iy[ok].astype(np.int64) * self.nx + ix[ok].astype(np.int64)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"space": self.space, "x0": self.x0, "y0": self.y0, "cell": self.cell, "nx": self.nx, "ny": self.ny}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeatmapGrid:
        return cls(str(d["space"]), float(d["x0"]), float(d["y0"]), float(d["cell"]), int(d["nx"]), int(d["ny"]))


@dataclass(frozen=True, slots=True)
class HeatBucket:
    """One time bucket, sparse: ``cells`` are flat indices of the non-empty cells."""

    start: float
    bucket_s: int
    cells: npt.NDArray[np.int32]
    traffic: npt.NDArray[np.uint32]
    dwell: npt.NDArray[np.float32]

    @property
    def nbytes(self) -> int:
        return int(self.cells.nbytes + self.traffic.nbytes + self.dwell.nbytes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "bucket_s": self.bucket_s,
            "cells": self.cells.tolist(),
            "traffic": self.traffic.tolist(),
            "dwell": [round(float(v), 3) for v in self.dwell],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeatBucket:
        cells = np.asarray(d["cells"], dtype=np.int32)
        traffic = np.asarray(d["traffic"], dtype=np.uint32)
        dwell = np.asarray(d["dwell"], dtype=np.float32)
        if not (len(cells) == len(traffic) == len(dwell)):
            raise ValueError("heat bucket arrays differ in length")
        return cls(float(d["start"]), int(d["bucket_s"]), cells, traffic, dwell)


def aggregate_points(
    grid: HeatmapGrid, xy: npt.ArrayLike, subjects: npt.ArrayLike, dt: npt.ArrayLike | float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Dense (traffic, dwell) over ``grid.size`` cells for a batch of sightings.

    traffic[c] = number of distinct subjects with a sighting in c; dwell[c] = sum of ``dt`` of the
    sightings in c. Fully vectorised: one sort for the (cell, subject) pairs, two bincounts.
    """
    cells = grid.cell_index(xy)
    subj = np.asarray(subjects, dtype=np.int64).reshape(-1)
    weights = np.broadcast_to(np.asarray(dt, dtype=np.float64), cells.shape)
    ok = cells >= 0
    cells_ok = cells[ok]
    dwell = np.bincount(cells_ok, weights=weights[ok], minlength=grid.size).astype(np.float64)
    if len(cells_ok) == 0:
        return np.zeros(grid.size, dtype=np.int64), dwell
    uniq_subj, inv = np.unique(subj[ok], return_inverse=True)
    k = len(uniq_subj)
    # distinct (cell, visit) pairs by sort + neighbour compare (np.unique without inverse is much
    # slower on a million int64 keys in numpy 2.x)
    key = np.sort(cells_ok * k + inv.reshape(-1))
    first = np.empty(len(key), dtype=bool)
    first[0] = True
    np.not_equal(key[1:], key[:-1], out=first[1:])
    traffic = np.bincount(key[first] // k, minlength=grid.size).astype(np.int64)
    return traffic, dwell


class HeatmapAccumulator:
    """Online aggregation per time bucket. Call :meth:`update` every analysed frame.

    One accumulator per map serves every reader: the behaviour stage that feeds it (its summary and
    PNGs read :meth:`maps`, everything it saw) and the recorder that stores it
    (:class:`~storelens.pipeline.heatmaps.HeatmapRecorder` takes :meth:`drain` increments and shows
    :meth:`undrained` live), so the stored buckets are the stage's maps by construction. Drains
    never change what :meth:`maps` reports. Thread-safe: a camera thread updates while a flush
    thread drains and API threads read.
    """

    def __init__(self, grid: HeatmapGrid, bucket_s: int = 900, max_step_s: float = 2.0, timezone: str = "UTC") -> None:
        self.grid = grid
        self.bucket_s = bucket_s
        self.max_step_s = max_step_s
        self._clock = BucketClock(bucket_s, timezone)
        self.buckets: list[HeatBucket] = []  # closed buckets, whole
        # closed buckets' parts not drained yet; None until the first drain (an accumulator nobody
        # drains then keeps nothing twice)
        self._undrained: list[HeatBucket] | None = None
        self._cur_start: float | None = None
        self._dwell = np.zeros(grid.size, dtype=np.float64)  # open bucket, whole
        self._dwell_out: npt.NDArray[np.float64] | None = None  # open bucket's dwell already drained
        # (cell, subject) pairs of the open bucket: all of them (a visit is counted once per cell
        # and bucket) and those not drained yet; the same set object until the bucket's first drain
        self._pairs: set[tuple[int, int]] = set()
        self._new_pairs: set[tuple[int, int]] = self._pairs
        self._last_pts: float | None = None
        self._lock = threading.Lock()

    def update(
        self, subjects: npt.NDArray[np.int64], xy: npt.NDArray[np.float64], pts: float, wall_time: float
    ) -> None:
        with self._lock:
            dt = 0.0 if self._last_pts is None else min(max(pts - self._last_pts, 0.0), self.max_step_s)
            self._last_pts = pts
            start = self._clock.start(wall_time)
            if start != self._cur_start:
                self._close()
                self._cur_start = start
            if len(subjects) == 0:
                return
            cells = self.grid.cell_index(xy)
            ok = cells >= 0
            if not ok.any():
                return
            c = cells[ok]
            if dt > 0:
                self._dwell += np.bincount(c, minlength=self.grid.size) * dt
            pairs = zip(c.tolist(), subjects[ok].tolist(), strict=True)
            if self._new_pairs is self._pairs:
                self._pairs.update(pairs)
            else:
                new = set(pairs).difference(self._pairs)
                if new:
                    self._pairs |= new
                    self._new_pairs |= new

    def _traffic(self, pairs: set[tuple[int, int]]) -> npt.NDArray[np.int64]:
        if not pairs:
            return np.zeros(self.grid.size, dtype=np.int64)
        cells = np.fromiter((c for c, _ in pairs), dtype=np.int64, count=len(pairs))
        return np.bincount(cells, minlength=self.grid.size)

    def _sparse(self, traffic: npt.NDArray[np.int64], dwell: npt.NDArray[np.float64]) -> HeatBucket | None:
        assert self._cur_start is not None
        nz = np.flatnonzero((traffic > 0) | (dwell > 0))
        if not len(nz):
            return None
        cells = nz.astype(np.int32)
        return HeatBucket(
            self._cur_start, self.bucket_s, cells, traffic[nz].astype(np.uint32), dwell[nz].astype(np.float32)
        )

    def _open_dwell_increment(self) -> npt.NDArray[np.float64]:
        return self._dwell if self._dwell_out is None else self._dwell - self._dwell_out

    def _open_increment(self) -> HeatBucket | None:
        """The open bucket's part not drained yet, sparse (None when empty or no bucket is open)."""
        if self._cur_start is None:
            return None
        if self._new_pairs is self._pairs and self._dwell_out is None:
            return self._open_whole()
        return self._sparse(self._traffic(self._new_pairs), self._open_dwell_increment())

    def _open_whole(self) -> HeatBucket | None:
        return None if self._cur_start is None else self._sparse(self._traffic(self._pairs), self._dwell)

    def _close(self) -> None:
        if self._cur_start is None:
            return
        whole = self._open_whole()
        if whole is not None:
            self.buckets.append(whole)
        if self._undrained is not None:
            part = whole if self._new_pairs is self._pairs and self._dwell_out is None else self._open_increment()
            if part is not None:
                self._undrained.append(part)
        self._dwell = np.zeros(self.grid.size, dtype=np.float64)
        self._dwell_out = None
        self._pairs = set()
        self._new_pairs = self._pairs
        self._cur_start = None

    def flush(self) -> None:
        """Close the current bucket into sparse storage."""
        with self._lock:
            self._close()

    def drain(self) -> list[HeatBucket]:
        """Hand out everything added since the previous drain, oldest bucket first.

        Closed buckets' parts are returned whole; the open bucket contributes its dwell since the
        last drain and the (cell, visit) pairs first seen since then, and stays open. Adding up
        every drained increment of a bucket gives exactly the bucket in :attr:`buckets`: the pair
        set of the open bucket is kept, so a visit is still counted once per cell and bucket
        however often the accumulator is drained."""
        with self._lock:
            out = list(self.buckets) if self._undrained is None else self._undrained
            self._undrained = []
            part = self._open_increment()
            if part is not None:
                out.append(part)
            if self._cur_start is not None:
                self._dwell_out = self._dwell.copy()
                self._new_pairs = set()
            return out

    def maps(
        self, start: float | None = None, end: float | None = None
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(traffic, dwell) as (ny, nx) arrays for buckets starting in [start, end), including the
        bucket still being filled: everything this accumulator saw, drained or not."""
        with self._lock:
            return self._sum(self.buckets, self._pairs, self._dwell, start, end)

    def undrained(
        self, start: float | None = None, end: float | None = None
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Like :meth:`maps`, but only what has not been handed out by :meth:`drain` yet."""
        with self._lock:
            closed = self.buckets if self._undrained is None else self._undrained
            return self._sum(closed, self._new_pairs, self._open_dwell_increment(), start, end)

    def _sum(
        self,
        closed: Iterable[HeatBucket],
        pairs: set[tuple[int, int]],
        open_dwell: npt.NDArray[np.float64],
        start: float | None,
        end: float | None,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        traffic = np.zeros(self.grid.size, dtype=np.float64)
        dwell = np.zeros(self.grid.size, dtype=np.float64)
        for b in closed:
            if (start is None or b.start >= start) and (end is None or b.start < end):
                traffic[b.cells] += b.traffic
                dwell[b.cells] += b.dwell
        cur = self._cur_start
        if cur is not None and (start is None or cur >= start) and (end is None or cur < end):
            dwell += open_dwell
            traffic += self._traffic(pairs)
        shape = (self.grid.ny, self.grid.nx)
        return traffic.reshape(shape), dwell.reshape(shape)

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self.buckets)

    def to_dict(self) -> dict[str, Any]:
        return {
            "grid": self.grid.to_dict(),
            "bucket_s": self.bucket_s,
            "buckets": [b.to_dict() for b in self.buckets],
        }


# rendering ---------------------------------------------------------------------------------------

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _nice_length(target: float) -> float:
    """1, 2 or 5 times a power of ten, at most ``target`` (for the scale bar)."""
    if target <= 0:
        return 1.0
    exp = math.floor(math.log10(target))
    for m in (5, 2, 1):
        v = m * 10.0**exp
        if v <= target:
            return v
    return 10.0**exp


def _fmt(v: float) -> str:
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2g}"


def render_heatmap(
    values: npt.ArrayLike,
    grid: HeatmapGrid,
    *,
    background: npt.NDArray[np.uint8] | None = None,
    background_size: tuple[float, float] | None = None,
    title: str = "",
    legend_label: str = "",
    vmax: float | None = None,
    colormap: int = cv2.COLORMAP_INFERNO,
    target_px: int = 720,
    alpha: float = 0.7,
) -> npt.NDArray[np.uint8]:
    """A BGR image: the map over ``background`` (floor plan or camera frame) with legend and scale.

    ``background`` covers ``background_size`` (width, height) in grid units from the grid origin,
    by default the grid's extent. Empty cells stay transparent so the plan shows through; cells
    are drawn as blocks (no smoothing), so what you see is what was measured.
    """
    vals = np.asarray(values, dtype=np.float64).reshape(grid.ny, grid.nx)
    if not np.isfinite(vals).all() or (vals < 0).any():
        raise ValueError("heat-map values must be finite and >= 0")
    s = max(2, int(target_px // max(grid.nx, grid.ny)))
    map_w, map_h = grid.nx * s, grid.ny * s
    base: npt.NDArray[np.uint8] = np.full((map_h, map_w, 3), 245, dtype=np.uint8)
    if background is not None:
        bw, bh = background_size if background_size is not None else (grid.nx * grid.cell, grid.ny * grid.cell)
        pw = max(1, min(map_w, round(bw / grid.cell * s)))
        ph = max(1, min(map_h, round(bh / grid.cell * s)))
        base[:ph, :pw] = cv2.resize(background, (pw, ph), interpolation=cv2.INTER_AREA)
        base = np.asarray(cv2.addWeighted(base, 0.75, np.full_like(base, 255), 0.25, 0), dtype=np.uint8)  # fade plan
    if s >= 6:  # cell grid, faint
        base[::s, :] = (base[::s, :] * 0.85).astype(np.uint8)
        base[:, ::s] = (base[:, ::s] * 0.85).astype(np.uint8)
    top = float(vmax) if vmax is not None else float(vals.max())
    norm = np.clip(vals / top, 0, 1) if top > 0 else np.zeros_like(vals)
    lut = np.round(norm * 255).astype(np.uint8)
    colours = cv2.applyColorMap(lut, colormap)
    colours = cv2.resize(colours, (map_w, map_h), interpolation=cv2.INTER_NEAREST)
    mask = cv2.resize((vals > 0).astype(np.uint8), (map_w, map_h), interpolation=cv2.INTER_NEAREST).astype(bool)
    blended = base.copy()
    blended[mask] = (alpha * colours[mask] + (1 - alpha) * base[mask]).astype(np.uint8)

    pad_top, pad_bottom, pad_left, pad_right = 44, 56, 16, 110
    canvas = np.full((map_h + pad_top + pad_bottom, map_w + pad_left + pad_right, 3), 255, dtype=np.uint8)
    canvas[pad_top : pad_top + map_h, pad_left : pad_left + map_w] = blended
    cv2.rectangle(canvas, (pad_left - 1, pad_top - 1), (pad_left + map_w, pad_top + map_h), (80, 80, 80), 1)
    if title:
        cv2.putText(canvas, title, (pad_left, 28), _FONT, 0.7, (30, 30, 30), 2, cv2.LINE_AA)

    # legend: colour bar with 0, mid and max
    bar_h = max(60, int(map_h * 0.8))
    bar_x = pad_left + map_w + 20
    bar_y = pad_top + (map_h - bar_h) // 2
    ramp = np.linspace(255, 0, bar_h).astype(np.uint8).reshape(-1, 1)
    bar = cv2.applyColorMap(np.repeat(ramp, 18, axis=1), colormap)
    canvas[bar_y : bar_y + bar_h, bar_x : bar_x + 18] = bar
    cv2.rectangle(canvas, (bar_x - 1, bar_y - 1), (bar_x + 18, bar_y + bar_h), (80, 80, 80), 1)
    for frac in (0.0, 0.5, 1.0):
        y = int(bar_y + bar_h - frac * bar_h)
        cv2.line(canvas, (bar_x + 18, y), (bar_x + 23, y), (60, 60, 60), 1)
        cv2.putText(canvas, _fmt(frac * top), (bar_x + 26, y + 5), _FONT, 0.42, (30, 30, 30), 1, cv2.LINE_AA)
    if legend_label:
        cv2.putText(canvas, legend_label, (bar_x - 6, bar_y - 10), _FONT, 0.42, (30, 30, 30), 1, cv2.LINE_AA)

    # scale bar: a round length about a fifth of the map width
    length = _nice_length(grid.nx * grid.cell / 5)
    px = round(length / grid.cell * s)
    y = pad_top + map_h + 30
    x = pad_left
    cv2.line(canvas, (x, y), (x + px, y), (20, 20, 20), 3)
    for xx in (x, x + px):
        cv2.line(canvas, (xx, y - 7), (xx, y + 7), (20, 20, 20), 2)
    cv2.putText(canvas, f"{length:g} {grid.unit}", (x + px + 10, y + 6), _FONT, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
    cell_txt = f"cell {grid.cell:g} {grid.unit}"
    cv2.putText(canvas, cell_txt, (pad_left + map_w - 120, y + 6), _FONT, 0.42, (90, 90, 90), 1, cv2.LINE_AA)
    return canvas


def write_png(path: str | Path, image: npt.NDArray[np.uint8]) -> Path:
    """Write a BGR image as PNG, creating the folder; raise instead of failing silently.

    Encoded in memory and written by Python rather than by ``cv2.imwrite``, which only returns
    False: a full disk then raises :class:`~storelens.core.errors.DiskFullError` naming the file."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        ok, buf = cv2.imencode(out.suffix or ".png", image)  # the suffix picks the encoder, as imwrite
    except cv2.error as exc:
        raise OSError(f"could not write {out}: {exc}") from exc
    if not ok:
        raise OSError(f"could not write {out}: the image could not be encoded")
    try:
        out.write_bytes(buf.tobytes())
    except OSError as exc:
        out.unlink(missing_ok=True)  # no half image that a viewer would show as a broken heat map
        raise as_disk_full(exc, out) or exc from exc
    return out
