"""ByteTrack (Zhang et al., ECCV 2022), a clean implementation on storelens types.

The reference algorithm, kept recognisable so it can serve as the in-house baseline:

1. high-score detections (``>= high_score``) are matched to every confirmed track (tracked or
   lost) by IoU with the Kalman prediction, fused with the detection score (IoU × score);
2. the confirmed tracks that were tracked in the previous frame and are still unmatched get a
   second chance with the low-score detections (IoU only, stricter gate): this is what recovers
   partly occluded people whose detector score dropped;
3. tentative tracks are matched to the remaining high-score detections;
4. remaining detections with ``score >= new_track_score`` start tentative tracks.

Differences from the paper's code, all deliberate: time is in seconds (the Kalman noise grows
with the real ``dt``; ``max_age_s`` replaces the frame buffer), ids come from a per-instance
counter, and the Kalman state is ``cx, cy, w, h`` rather than ``cx, cy, aspect, h``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from storelens.tracking.association import iou_matrix, match
from storelens.tracking.kalman_tracker import FrameDetections, KalmanTrackerBase
from storelens.tracking.params import ByteTrackParams, build_params

I64 = npt.NDArray[np.int64]


class ByteTrackTracker(KalmanTrackerBase):
    """ByteTrack's two-stage (high, then low confidence) IoU association."""

    name: ClassVar[str] = "bytetrack"

    def __init__(self, params: ByteTrackParams | None = None) -> None:
        self.params = params or ByteTrackParams()
        p = self.params
        super().__init__(
            low_score=p.low_score,
            new_track_score=p.new_track_score,
            min_hits=2,
            max_age_s=p.max_age_s,
            coast_s=p.coast_s,
            reupdate=False,
            output_box="filtered",
        )

    @classmethod
    def from_params(cls, overrides: Mapping[str, Any] | None = None) -> ByteTrackTracker:
        return cls(build_params(ByteTrackParams, overrides, cls.name))

    def _associate(self, dets: FrameDetections, t: float, image: npt.NDArray[np.uint8] | None) -> tuple[I64, I64]:
        p = self.params
        tr = self._tracks
        pred = self._predicted_boxes()
        free_det = np.ones(len(dets), dtype=bool)
        high = dets.score >= p.high_score
        out_r: list[I64] = []
        out_c: list[I64] = []

        def run(rows: I64, cols: I64, sim: npt.NDArray[np.float64], gate: float) -> I64:
            r, c = match(sim, sim >= gate)
            out_r.append(rows[r])
            out_c.append(cols[c])
            free_det[cols[c]] = False
            return np.setdiff1d(rows, rows[r], assume_unique=True)

        confirmed = np.nonzero(tr.confirmed)[0].astype(np.int64)
        hi = np.nonzero(high)[0].astype(np.int64)
        sim = iou_matrix(pred[confirmed], dets.xyxy[hi]) * dets.score[hi][None, :]
        left = run(confirmed, hi, sim, p.match_iou)

        tracked = left[tr.missed[left] == 1]
        lo = np.nonzero(~high & free_det)[0].astype(np.int64)
        run(tracked, lo, iou_matrix(pred[tracked], dets.xyxy[lo]), p.low_match_iou)

        tentative = np.nonzero(~tr.confirmed)[0].astype(np.int64)
        hi = np.nonzero(high & free_det)[0].astype(np.int64)
        sim = iou_matrix(pred[tentative], dets.xyxy[hi]) * dets.score[hi][None, :]
        run(tentative, hi, sim, p.unconfirmed_iou)
        return np.concatenate(out_r), np.concatenate(out_c)
