"""Walking speed per subject, measured over a short window rather than frame to frame.

Frame-to-frame displacement of a feet point is mostly detector jitter (a few pixels, i.e. tens of
centimetres at the back of a store); over a window of about a second the walk dominates. The
estimator keeps a short history of whole frames (not per subject), so one update is a couple of
vectorised look-ups however many people are in view.

A window alone is not enough for "is this shopper standing still": with feet jitter of about
0.1 m, the distance between two raw points a second apart reads 0.15-0.2 m/s for someone who does
not move, right at the lingering threshold, so lingering would be found only by luck. Positions are
therefore first smoothed per subject with an exponential moving average of time constant
``smoothing_s`` (1 s by default): for steady walking the smoothed point lags but moves at the true
speed, so speeds stay unbiased, while the speed that a standing shopper's jitter reads as drops
about fourfold (median 0.19 to 0.05 m/s at 0.12 m jitter and 5 fps; tests/unit/test_speed.py).
A stop shows as below 0.2 m/s about 2 s after it begins.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

__all__ = ["SpeedEstimator", "path_speeds"]

MAX_SMOOTH_GAP_S = 2.0
"""Unseen longer than this, a subject's smoothing restarts from its next raw position."""


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

    def __init__(self, window_s: float = 1.0, smoothing_s: float = 1.0) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be > 0")
        if smoothing_s < 0:
            raise ValueError("smoothing_s must be >= 0")
        self.window_s = window_s
        self.smoothing_s = smoothing_s
        # smoothed position per subject (sorted ids), with the time it was last updated
        self._s_subj = np.zeros(0, dtype=np.int64)
        self._s_xy = np.zeros((0, 2), dtype=np.float64)
        self._s_pts = np.zeros(0, dtype=np.float64)
        # frames: (pts, sorted subject ids, xy in that order, whether that xy is finite)
        self._frames: deque[tuple[float, npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]] = (
            deque()
        )

    def update(self, subjects: npt.ArrayLike, xy: npt.ArrayLike, pts: float) -> npt.NDArray[np.float64]:
        subj = np.asarray(subjects, dtype=np.int64).reshape(-1)
        pos = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if self._frames and pts < self._frames[-1][0]:
            self.reset()  # clock restarted
        pos = self._smooth(subj, pos, pts)
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

    def _smooth(self, subj: npt.NDArray[np.int64], pos: npt.NDArray[np.float64], pts: float) -> npt.NDArray[np.float64]:
        """Exponential moving average of each subject's position (raw when first seen, or after a
        gap of more than ``MAX_SMOOTH_GAP_S``: an old position says nothing about where it is now)."""
        if self.smoothing_s <= 0 or len(subj) == 0:
            return pos
        out = pos.copy()
        finite = np.isfinite(pos).all(axis=1)
        k = np.zeros(len(subj), dtype=np.intp)
        upd = np.zeros(len(subj), dtype=bool)  # rows whose subject has a smoothed position
        if len(self._s_subj):
            k = np.minimum(np.searchsorted(self._s_subj, subj), len(self._s_subj) - 1)
            upd = finite & (self._s_subj[k] == subj)
            known = upd & (pts - self._s_pts[k] <= MAX_SMOOTH_GAP_S)  # and recent enough to continue
            if known.any():
                kk = k[known]
                dt = np.maximum(pts - self._s_pts[kk], 0.0)
                alpha = 1.0 - np.exp(-dt / self.smoothing_s)
                out[known] = self._s_xy[kk] + alpha[:, None] * (pos[known] - self._s_xy[kk])
        # write back: update the known rows in place, then merge in the new subjects
        if upd.any():
            self._s_xy[k[upd]] = out[upd]
            self._s_pts[k[upd]] = pts
        new = finite & ~upd
        if new.any() or (len(self._s_pts) and self._s_pts.min() < pts - MAX_SMOOTH_GAP_S):
            keep = self._s_pts >= pts - MAX_SMOOTH_GAP_S  # forget subjects gone for a while
            s_subj = np.concatenate([self._s_subj[keep], subj[new]])
            s_xy = np.concatenate([self._s_xy[keep], out[new]])
            s_pts = np.concatenate([self._s_pts[keep], np.full(int(new.sum()), pts)])
            order = np.argsort(s_subj, kind="stable")
            self._s_subj, self._s_xy, self._s_pts = s_subj[order], s_xy[order], s_pts[order]
        return out

    def reset(self) -> None:
        self._frames.clear()
        self._s_subj = np.zeros(0, dtype=np.int64)
        self._s_xy = np.zeros((0, 2), dtype=np.float64)
        self._s_pts = np.zeros(0, dtype=np.float64)
