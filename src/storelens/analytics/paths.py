"""The path of each visit as a down-sampled polyline (floor metres when calibrated, else pixels).

A path point every frame is 10 points a second of mostly jitter; keeping a point only when the
subject has moved ``min_step`` since the last kept one gives a few points per metre walked, which
is what a path overlay or a route analysis needs, and keeps a day of paths small. The last
sighting is always kept so a path ends where the visit ended.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from storelens.analytics.slots import SlotMap, grow

__all__ = ["VISIT_PATH_MAX_POINTS", "PathRecorder", "VisitPath", "downsample", "thin"]

VISIT_PATH_MAX_POINTS = 200
"""Points of the path a ``visit.ended`` carries: a 10-minute visit keeps a point every 3 s, enough
to tell two shoppers walking together from two who crossed (buying units), at ~4 kB a visit."""

_ENDED_MEMORY = 4096
"""Subjects whose finished path pieces are kept for :meth:`PathRecorder.take` (a visit whose end
never comes must not grow memory)."""


def thin(points: list[tuple[float, float, float]], max_points: int) -> list[tuple[float, float, float]]:
    """At most ``max_points`` of ``points``, evenly spread, first and last kept."""
    if len(points) <= max_points:
        return points
    idx = np.unique(np.round(np.linspace(0, len(points) - 1, max(2, max_points))).astype(int))
    return [points[i] for i in idx.tolist()]


def downsample(xy: npt.ArrayLike, min_step: float) -> npt.NDArray[np.intp]:
    """Reference form: indices kept by the min-step rule (first, each point >= min_step from the
    last kept one, and the last)."""
    pp = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if len(pp) == 0:
        return np.zeros(0, dtype=np.intp)
    keep = [0]
    for i in range(1, len(pp)):
        if np.hypot(*(pp[i] - pp[keep[-1]])) >= min_step:
            keep.append(i)
    if keep[-1] != len(pp) - 1:
        keep.append(len(pp) - 1)
    return np.asarray(keep, dtype=np.intp)


@dataclass(slots=True)
class VisitPath:
    subject: int
    space: str  # "floor" (metres) | "image" (pixels)
    t: list[float] = field(default_factory=list)  # pts of each kept point
    xy: list[tuple[float, float]] = field(default_factory=list)
    tail: tuple[float, float, float] | None = None  # latest sighting (pts, x, y), if not kept
    distance: float = 0.0  # walked distance along every sighting (not only kept points)

    @property
    def duration_s(self) -> float:
        end = self.tail[0] if self.tail is not None else (self.t[-1] if self.t else 0.0)
        return end - self.t[0] if self.t else 0.0

    @property
    def mean_speed(self) -> float | None:
        d = self.duration_s
        return self.distance / d if d > 0 else None

    def points(self) -> list[tuple[float, float, float]]:
        pts = [(t, x, y) for t, (x, y) in zip(self.t, self.xy, strict=True)]
        if self.tail is not None:
            pts.append(self.tail)
        return pts

    def to_dict(self) -> dict[str, object]:
        return {
            "space": self.space,
            "duration_s": round(self.duration_s, 2),
            "distance": round(self.distance, 3),
            "mean_speed": None if self.mean_speed is None else round(self.mean_speed, 3),
            "points": [[round(t, 2), round(x, 3), round(y, 3)] for t, x, y in self.points()],
        }


class PathRecorder:
    """Paths of all subjects in view; per-subject numbers live in slot arrays (one vectorised pass
    per frame), only the kept points are appended in Python."""

    def __init__(self, space: str, min_step: float, max_points: int = 500, timeout_s: float = 5.0) -> None:
        self.space = space
        self.min_step = min_step
        self.max_points = max(2, max_points)
        self.timeout_s = timeout_s
        self._slots = SlotMap()
        self._paths: list[VisitPath | None] = []
        self._prev = np.zeros((0, 2))
        self._kept = np.zeros((0, 2))
        self._dist = np.zeros(0)
        self._seen = np.zeros(0)
        self._tail_t = np.zeros(0)
        self._tail_xy = np.zeros((0, 2))
        self._alive = np.zeros(0, dtype=bool)
        self.finished: list[VisitPath] = []
        self._ended: OrderedDict[int, list[VisitPath]] = OrderedDict()  # subject -> finished pieces

    def _grow(self) -> None:
        cap = self._slots.capacity
        if cap <= len(self._dist):
            return
        cap = max(cap, 2 * len(self._dist), 16)
        self._prev = grow(self._prev, cap, np.nan)
        self._kept = grow(self._kept, cap, np.nan)
        self._dist = grow(self._dist, cap, 0.0)
        self._seen = grow(self._seen, cap, -np.inf)
        self._tail_t = grow(self._tail_t, cap, np.nan)
        self._tail_xy = grow(self._tail_xy, cap, np.nan)
        self._alive = grow(self._alive, cap, False)
        self._paths.extend([None] * (cap - len(self._paths)))

    def update(self, subjects: npt.NDArray[np.int64], xy: npt.NDArray[np.float64], pts: float) -> list[VisitPath]:
        """Add one frame; returns the paths that ended (unseen for ``timeout_s``) in this call."""
        finite = np.isfinite(xy).all(axis=1)
        pos = np.asarray(xy, dtype=np.float64)[finite]
        subj_list = np.asarray(subjects)[finite].tolist()
        if subj_list:
            idx, new = self._slots.lookup(subj_list)
            self._grow()
            for i in new.nonzero()[0].tolist():
                slot = int(idx[i])
                x, y = float(pos[i, 0]), float(pos[i, 1])
                self._paths[slot] = VisitPath(subj_list[i], self.space, [pts], [(x, y)])
                self._kept[slot] = pos[i]
                self._prev[slot] = pos[i]
                self._dist[slot] = 0.0
                self._tail_t[slot] = np.nan
            old = ~new
            step = np.hypot(*(pos - self._prev[idx]).T)
            self._dist[idx[old]] += step[old]  # ids are unique within a frame
            self._prev[idx] = pos
            self._seen[idx] = pts
            self._alive[idx] = True
            moved = old & (np.hypot(*(pos - self._kept[idx]).T) >= self.min_step)
            still = old & ~moved
            self._tail_t[idx[still]] = pts
            self._tail_xy[idx[still]] = pos[still]
            if moved.any():
                mi = moved.nonzero()[0]
                self._kept[idx[mi]] = pos[mi]
                self._tail_t[idx[mi]] = np.nan
                paths, max_points = self._paths, self.max_points
                for slot, (x, y) in zip(idx[mi].tolist(), pos[mi].tolist(), strict=True):
                    p = paths[slot]
                    assert p is not None
                    p.t.append(pts)
                    p.xy.append((x, y))
                    if len(p.t) > max_points:  # thin evenly, keep both ends
                        p.t = [*p.t[:-1:2], p.t[-1]]
                        p.xy = [*p.xy[:-1:2], p.xy[-1]]
        gone = (self._alive & (self._seen < pts - self.timeout_s)).nonzero()[0]
        return self._finish(gone.tolist())

    def close(self) -> list[VisitPath]:
        return self._finish(np.flatnonzero(self._alive).tolist())

    def _materialise(self, slot: int) -> VisitPath:
        p = self._paths[slot]
        assert p is not None
        p.distance = float(self._dist[slot])
        t = float(self._tail_t[slot])
        p.tail = None if np.isnan(t) else (t, float(self._tail_xy[slot, 0]), float(self._tail_xy[slot, 1]))
        return p

    def open_paths(self) -> dict[int, VisitPath]:
        return {p.subject: p for p in (self._materialise(s) for s in np.flatnonzero(self._alive).tolist())}

    def _finish(self, slots: list[int]) -> list[VisitPath]:
        out = [self._materialise(s) for s in slots]
        for s in slots:
            self._paths[s] = None
            self._alive[s] = False
        self._slots.release(slots)
        self.finished.extend(out)
        for p in out:
            self._ended.setdefault(p.subject, []).append(p)
            self._ended.move_to_end(p.subject)
        while len(self._ended) > _ENDED_MEMORY:
            self._ended.popitem(last=False)
        return out

    def take(self, subject: int, max_points: int = VISIT_PATH_MAX_POINTS) -> list[tuple[float, float, float]]:
        """The whole path of ``subject`` so far (every piece: a visit unseen for longer than the
        timeout and seen again has several), thinned to ``max_points``; its finished pieces are
        forgotten (the visit is over). Empty when the subject was never placed."""
        pieces = list(self._ended.pop(subject, ()))
        slot = self._slots.get(subject)
        if slot is not None and self._alive[slot]:
            pieces.append(self._materialise(slot))
        pts = sorted((q for p in pieces for q in p.points()), key=lambda q: q[0])
        return thin(pts, max_points)
