"""Counting lines: footfall in/out with direction, and the occupancy that follows from it.

Direction convention (as :class:`~storelens.config.cameras.LineConfig` states): stand at ``a``
looking at ``b`` *on the drawing* (image or floor plan, both y-down); crossing from your left to
your right is "in". In y-down coordinates the visual left is where
:func:`~storelens.core.geometry.side_of_line` is negative.

Jitter around a line must not count as many crossings, so a subject's side only changes when its
point is at least ``hysteresis`` away from the line (a dead band), and a crossing is counted only
when the step between the last two clear sightings actually passes through the segment a–b (walking
around the end of a line is not a crossing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from storelens.analytics.slots import SlotMap, grow
from storelens.config.cameras import LineConfig
from storelens.core.geometry import segments_intersect, side_of_line
from storelens.events.models import Event
from storelens.events.payloads import LineCrossed, OccupancyChanged

__all__ = ["Crossing", "LineCounter", "count_crossings"]


@dataclass(frozen=True, slots=True)
class Crossing:
    line_id: str
    subject: int
    direction: str  # "in" | "out"
    pts: float
    wall: float


def _signed_distance(
    points: npt.NDArray[np.float64], a: Sequence[float], b: Sequence[float]
) -> npt.NDArray[np.float64]:
    length = float(np.hypot(b[0] - a[0], b[1] - a[1]))
    return side_of_line(points, a, b) / length


def count_crossings(
    t: npt.ArrayLike, xy: npt.ArrayLike, line: LineConfig, hysteresis: float = 0.0
) -> list[tuple[float, str]]:
    """Reference form for one path: (time, direction) of every crossing, by a plain loop."""
    tt = np.asarray(t, dtype=np.float64)
    pp = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    dist = _signed_distance(pp, line.a, line.b)
    out: list[tuple[float, str]] = []
    last: int | None = None
    for i in range(len(tt)):
        if abs(dist[i]) < hysteresis or dist[i] == 0:
            continue
        if (
            last is not None
            and np.sign(dist[i]) != np.sign(dist[last])
            and segments_intersect(pp[last : last + 1], pp[i : i + 1], line.a, line.b)[0]
        ):
            out.append((float(tt[i]), "in" if dist[i] > 0 else "out"))
        last = i
    return out


class LineCounter:
    """Counts crossings of every line for one camera (image space) or the store (floor space).

    ``occupancy`` is ins minus outs over all lines, never below zero: lines are meant to be drawn
    across the store's entrances. A subject unseen for ``max_gap_s`` loses its side, so a new
    track appearing on the other side of the line is not a crossing. Per-subject state (last clear
    side and point per line) lives in slot arrays, so a frame is a few array operations.
    """

    def __init__(
        self,
        store_id: str,
        camera_id: str | None,
        lines: Sequence[LineConfig],
        hysteresis: float | Sequence[float],
        max_gap_s: float = 5.0,
    ) -> None:
        self.store_id = store_id
        self.camera_id = camera_id
        self.lines = list(lines)
        nl = len(self.lines)
        self.hysteresis = np.broadcast_to(np.asarray(hysteresis, dtype=np.float64), (nl,)).copy()
        self.max_gap_s = max_gap_s
        self._a = np.asarray([ln.a for ln in self.lines], dtype=np.float64).reshape(nl, 2)
        self._b = np.asarray([ln.b for ln in self.lines], dtype=np.float64).reshape(nl, 2)
        self._len = np.hypot(*(self._b - self._a).T)
        self._slots = SlotMap()
        self._sign = np.zeros((0, nl), dtype=np.int8)  # 0: no clear side yet
        self._xy = np.zeros((0, nl, 2))
        self._t = np.zeros((0, nl))
        self._seen = np.zeros(0)
        self._frames = 0
        self.counts: dict[str, dict[str, int]] = {ln.id: {"in": 0, "out": 0} for ln in self.lines}
        self.occupancy = 0
        self.crossings: list[Crossing] = []

    def _grow(self) -> None:
        cap = self._slots.capacity
        if cap <= len(self._seen):
            return
        cap = max(cap, 2 * len(self._seen), 16)
        self._sign = grow(self._sign, cap, 0)
        self._xy = grow(self._xy, cap, np.nan)
        self._t = grow(self._t, cap, -np.inf)
        self._seen = grow(self._seen, cap, -np.inf)

    def update(
        self, subjects: npt.NDArray[np.int64], xy: npt.NDArray[np.float64], pts: float, wall_time: float
    ) -> list[Event]:
        """``xy`` is (N, 2), or (N, L, 2) with each line's own points (image and floor lines in one
        counter: one pass instead of two). NaN points are skipped for that line."""
        if not self.lines:
            return []
        nl = len(self.lines)
        allp = np.asarray(xy, dtype=np.float64)
        if allp.ndim == 2:
            allp = np.broadcast_to(allp[:, None, :], (len(allp), nl, 2))
        finite_all: npt.NDArray[np.bool_] = np.asarray(np.isfinite(allp).all(axis=2), dtype=bool)
        if finite_all.all():  # the usual frame: no copies
            p, finite, subj_list = allp, finite_all, np.asarray(subjects).tolist()
        else:
            keep = finite_all.any(axis=1)
            p = allp[keep]  # (N, L, 2)
            finite = finite_all[keep]
            subj_list = np.asarray(subjects)[keep].tolist()
        events: list[Event] = []
        if subj_list:
            idx, _ = self._slots.lookup(subj_list)
            self._grow()
            self._seen[idx] = pts
            a, b = self._a[None], self._b[None]  # (1, L, 2)
            with np.errstate(invalid="ignore"):
                cross = (b[..., 0] - a[..., 0]) * (p[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (
                    p[..., 0] - a[..., 0]
                )
                dist = cross / self._len[None]  # (N, L) signed distance
                clear = finite & (np.abs(dist) >= self.hysteresis[None]) & (dist != 0)
            sign_now = np.where(dist > 0, 1, -1).astype(np.int8)
            old_sign = self._sign[idx]
            recent = pts - self._t[idx] <= self.max_gap_s
            cand = clear & (old_sign != 0) & (old_sign != sign_now) & recent
            rows, cols = np.nonzero(clear)
            if cand.any():
                ci, cl = np.nonzero(cand)
                prev = self._xy[idx[ci], cl]
                hit = segments_cross(prev, p[ci, cl], self._a[cl], self._b[cl])
                for i, j in zip(ci[hit].tolist(), cl[hit].tolist(), strict=True):
                    events.append(self._count(j, subj_list[i], "in" if dist[i, j] > 0 else "out", pts, wall_time))
            self._sign[idx[rows], cols] = sign_now[rows, cols]
            self._xy[idx[rows], cols] = p[rows, cols]
            self._t[idx[rows], cols] = pts
        self._frames += 1
        if self._frames % 50 == 0:  # forget subjects long gone, keeping the arrays small
            n = self._slots.capacity
            gone = np.flatnonzero(self._slots.active() & (self._seen[:n] < pts - self.max_gap_s))
            if len(gone):
                self._sign[gone] = 0
                self._t[gone] = -np.inf
                self._slots.release(gone)
        if events:
            events.append(
                Event.of(
                    OccupancyChanged(occupancy=self.occupancy, source="lines"),
                    self.store_id,
                    wall_time,
                    camera_id=self.camera_id,
                )
            )
        return events

    def _count(self, j: int, subject: int, direction: str, pts: float, wall_time: float) -> Event:
        line = self.lines[j]
        self.counts[line.id][direction] += 1
        self.occupancy = max(0, self.occupancy + (1 if direction == "in" else -1))
        self.crossings.append(Crossing(line.id, subject, direction, pts, wall_time))
        return Event.of(
            LineCrossed(
                line_id=line.id,
                line_name=line.name or line.id,
                direction=direction,
                count_in=self.counts[line.id]["in"],
                count_out=self.counts[line.id]["out"],
            ),
            self.store_id,
            wall_time,
            camera_id=self.camera_id,
            subject=subject,
        )


def segments_cross(
    p: npt.NDArray[np.float64], q: npt.NDArray[np.float64], a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]
) -> npt.NDArray[np.bool_]:
    """Row-wise proper intersection of p[i]→q[i] with a[i]–b[i] (all (K, 2))."""

    def orient(
        u: npt.NDArray[np.float64], v: npt.NDArray[np.float64], w: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        return np.asarray((v[:, 0] - u[:, 0]) * (w[:, 1] - u[:, 1]) - (v[:, 1] - u[:, 1]) * (w[:, 0] - u[:, 0]))

    return np.asarray((orient(a, b, p) * orient(a, b, q) < 0) & (orient(p, q, a) * orient(p, q, b) < 0))
