"""Walking speed per subject, measured over a short window rather than frame to frame.

Frame-to-frame displacement of a feet point is mostly detector jitter (a few pixels, i.e. tens of
centimetres at the back of a store); over a window of about a second the walk dominates. The
estimator keeps a short history of whole frames (not per subject), so one update is a couple of
vectorised look-ups however many people are in view.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

__all__ = ["SpeedEstimator", "path_speeds"]


def path_speeds(t: npt.ArrayLike, xy: npt.ArrayLike, window_s: float) -> npt.NDArray[np.float64]:
    """Reference speed along one path: for each sample, distance to the latest sample at least
    ``window_s`` earlier (or the first sample) divided by the elapsed time; NaN for the first."""
    tt = np.asarray(t, dtype=np.float64)
    pp = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    out = np.full(len(tt), np.nan)
    for i in range(1, len(tt)):
        j = int(np.searchsorted(tt, tt[i] - window_s, side="right")) - 1
        j = max(j, 0)
        if tt[i] > tt[j]:
            out[i] = float(np.hypot(*(pp[i] - pp[j]))) / (tt[i] - tt[j])
    return out


class SpeedEstimator:
    """Per-frame speeds (units of ``xy`` per second) over a ``window_s`` sliding window.

    For each subject the reference sample is its latest sighting at least ``window_s`` ago, or its
    first sighting while it has been seen for less than that; a subject seen once has speed NaN.
    """

    def __init__(self, window_s: float = 1.0) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be > 0")
        self.window_s = window_s
        # frames: (pts, sorted subject ids, xy in that order, whether that xy is finite)
        self._frames: deque[tuple[float, npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]] = (
            deque()
        )

    def update(self, subjects: npt.ArrayLike, xy: npt.ArrayLike, pts: float) -> npt.NDArray[np.float64]:
        subj = np.asarray(subjects, dtype=np.int64).reshape(-1)
        pos = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if self._frames and pts < self._frames[-1][0]:
            self._frames.clear()  # clock restarted
        # drop frames older than the one that is the reference for "window_s ago"
        while len(self._frames) >= 2 and self._frames[1][0] <= pts - self.window_s:
            self._frames.popleft()
        speeds = np.full(len(subj), np.nan)
        finite: npt.NDArray[np.bool_] = np.asarray(np.isfinite(pos).all(axis=1), dtype=bool)
        todo = finite.copy()
        for f_pts, f_subj, f_xy, f_finite in self._frames:
            if not todo.any():
                break
            if len(f_subj) == 0 or f_pts >= pts:
                continue
            k = np.searchsorted(f_subj, subj)
            k = np.minimum(k, len(f_subj) - 1)
            hit = todo & (f_subj[k] == subj) & f_finite[k]
            if hit.any():
                d = np.hypot(*(pos[hit] - f_xy[k[hit]]).T)
                speeds[hit] = d / (pts - f_pts)
                todo &= ~hit
        order = np.argsort(subj, kind="stable")
        self._frames.append((pts, subj[order], pos[order], finite[order]))
        return speeds

    def reset(self) -> None:
        self._frames.clear()
