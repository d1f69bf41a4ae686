"""The default tracker: ByteTrack's two stages, OC-SORT's observation-centric steps, a colour
appearance cue, and birth/death hysteresis, with every time in seconds.

Per frame, after predicting every track to the frame's timestamp:

1. **Momentum + IoU** (OC-SORT's OCM): confirmed tracks × high-score detections, scored by IoU with
   the prediction plus a direction-consistency term (does the detection lie where the track's
   *observed* motion points?). Where the match is ambiguous (a detection overlaps several tracks or
   the reverse) and a frame is given, the colour-stripe similarity is added, so two crossing
   shoppers in different clothes keep their ids. A lost track is never re-acquired by a detection
   whose colours clearly differ.
2. **BYTE**: tracks seen in the previous frame and still unmatched × low-score detections (a person
   partly hidden behind a shelf end often drops below the high threshold).
3. **Recovery** (OC-SORT's OCR): still-unmatched tracks × remaining high-score detections by IoU with
   the track's *last observed* box: recovers a person who stopped while occluded, where the
   prediction ran on.
4. **Small and lost**: lost confirmed tracks × the remaining small low-score detections that would
   be allowed to start a track (``reacquire_low``), by IoU with the prediction or the last
   observed box, colours permitting. A far-away person scores 0.25-0.45 in every frame, so once
   missed for a frame they are out of reach of stages 1-3 (high scores, or seen last frame); the
   detection would otherwise start a new track and the person's dwell restart. Boxes lying mostly
   inside a confident detection (``low_birth_dup_inside``: part of that person, which NMS kept)
   are not candidates: without that guard a duplicate low-score box over a shopper was kept alive
   into a false zone stay on the tune clips (docs/TRACKING.md).
5. Tentative tracks × remaining high-score detections and the small low-score ones allowed to
   start a track (see the lifecycle in ``kalman_tracker``).
6. **Re-acquisition by appearance** (frames only): lost tracks × remaining high-score detections
   inside the Kalman position gate (which widens with the time lost) with similar colours and size.

A track re-acquired after a gap is re-updated along a virtual straight path (OC-SORT's ORU) so its
velocity comes from observations, not from the drift it accumulated while coasting.

Appearance is computed lazily: only for detections in ambiguous or re-acquisition pairs, and to
refresh a track's template at most every ``appearance_refresh_s`` from an unoccluded detection.
Templates (EMA of 60-bin stripe histograms) live in memory only and die with their track.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from storelens.tracking import appearance
from storelens.tracking.association import direction_consistency, iou_matrix, match
from storelens.tracking.kalman import xyxy_to_z
from storelens.tracking.kalman_tracker import FrameDetections, KalmanTrackerBase
from storelens.tracking.params import StorelensParams, build_params

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BoolArr = npt.NDArray[np.bool_]

_CLEAN_IOU = 0.3
"""A detection overlapping another by more than this is not used to refresh a colour template
(its crop holds two people)."""
_SIZE_RATIO = 1.4
"""Re-acquisition by appearance: the new box height may differ by at most this factor."""


class _LazyDescriptors:
    """Per-frame cache: appearance descriptors of detections, computed on first request."""

    def __init__(self, image: npt.NDArray[np.uint8], boxes: F64) -> None:
        self._image = image
        self._boxes = boxes
        n = len(boxes)
        self.desc = np.zeros((n, appearance.DESCRIPTOR_DIM), np.float32)
        self.ok = np.zeros(n, dtype=bool)
        self.done = np.zeros(n, dtype=bool)

    def ensure(self, cols: I64) -> None:
        todo = np.unique(cols[~self.done[cols]])
        if len(todo):
            d, ok = appearance.stripe_descriptors(self._image, self._boxes[todo])
            self.desc[todo] = d
            self.ok[todo] = ok
            self.done[todo] = True


class StorelensTracker(KalmanTrackerBase):
    """The default, most accurate tracker; see the module docstring."""

    name: ClassVar[str] = "storelens"

    def __init__(self, params: StorelensParams | None = None) -> None:
        self.params = params or StorelensParams()
        p = self.params
        super().__init__(
            low_score=p.low_score,
            new_track_score=p.new_track_score,
            min_hits=p.min_hits,
            max_age_s=p.max_age_s,
            coast_s=p.coast_s,
            velocity_window=p.velocity_window,
            reupdate=p.reupdate,
            output_box=p.output_box,
            low_birth_score=p.low_birth_score,
            low_birth_max_height=p.low_birth_max_height,
            low_birth_hits=p.low_birth_hits,
            low_birth_gap_s=p.low_birth_gap_s,
            low_birth_dup_inside=p.low_birth_dup_inside,
        )
        self._feats: _LazyDescriptors | None = None

    @classmethod
    def from_params(cls, overrides: Mapping[str, Any] | None = None) -> StorelensTracker:
        return cls(build_params(StorelensParams, overrides, cls.name))

    def reset(self) -> None:
        super().reset()
        self._feats = None

    # -- association -------------------------------------------------------------------------------
    def _associate(self, dets: FrameDetections, t: float, image: npt.NDArray[np.uint8] | None) -> tuple[I64, I64]:
        p = self.params
        tr = self._tracks
        n_trk, n_det = len(tr), len(dets)
        empty = np.zeros(0, np.int64)
        if n_trk == 0 or n_det == 0:
            self._feats = None
            return empty, empty
        use_app = p.appearance and image is not None
        self._feats = _LazyDescriptors(image, dets.xyxy) if use_app and image is not None else None
        pred = self._predicted_boxes()
        free_trk = np.ones(n_trk, dtype=bool)
        free_det = np.ones(n_det, dtype=bool)
        high = dets.score >= p.high_score
        out_r: list[I64] = []
        out_c: list[I64] = []

        def take(rows: I64, cols: I64, score: F64, allowed: BoolArr) -> None:
            r, c = match(score, allowed)
            if len(r):
                out_r.append(rows[r])
                out_c.append(cols[c])
                free_trk[rows[r]] = False
                free_det[cols[c]] = False

        lost = tr.missed > 1
        # 1. confirmed tracks x high detections: IoU + momentum (+ appearance where ambiguous).
        # A track seen in the previous frame has a sharp prediction (tight gate); a lost one has
        # drifted and gets a loose gate, the momentum term and colours to pick the right box.
        rows = np.nonzero(tr.confirmed)[0]
        cols = np.nonzero(high)[0]
        if len(rows) and len(cols):
            iou = iou_matrix(pred[rows], dets.xyxy[cols])
            gate = np.where(lost[rows], p.lost_match_iou, p.match_iou)
            allowed = iou >= gate[:, None]
            if allowed.any():
                score = iou
                if p.direction_weight > 0:
                    vdir, has_v, ref = self._velocity_directions(rows)
                    score = score + (
                        p.direction_weight
                        * direction_consistency(vdir, has_v, ref, dets.centres[cols])
                        * dets.score[cols][None, :]
                    )
                if self._feats is not None:
                    self._appearance_terms(rows, cols, score, allowed)
                take(rows, cols, score, allowed)

        # 2. BYTE: tracks seen in the previous frame x low-score detections
        rows = np.nonzero(free_trk & tr.confirmed & ~lost)[0]
        cols = np.nonzero(~high & free_det)[0]
        if len(rows) and len(cols):
            iou = iou_matrix(pred[rows], dets.xyxy[cols])
            take(rows, cols, iou, iou >= p.low_match_iou)

        # 3. OCR: remaining confirmed tracks x remaining high detections, by last observed box
        rows = np.nonzero(free_trk & tr.confirmed)[0]
        cols = np.nonzero(high & free_det)[0]
        if len(rows) and len(cols):
            iou = iou_matrix(tr.last_box[rows], dets.xyxy[cols])
            allowed = iou >= p.recover_iou
            if allowed.any():
                if self._feats is not None:
                    self._appearance_terms(rows, cols, iou, allowed)
                take(rows, cols, iou, allowed)

        # 4. lost tracks x small low-score detections (those that could start a track anyway)
        if p.reacquire_low:
            rows = np.nonzero(free_trk & tr.confirmed & lost)[0]
            cols = np.nonzero(self._low_birth(dets) & free_det)[0]
            if len(rows) and len(cols):
                iou = np.maximum(
                    iou_matrix(pred[rows], dets.xyxy[cols]), iou_matrix(tr.last_box[rows], dets.xyxy[cols])
                )
                allowed = iou >= p.recover_iou
                if allowed.any():
                    if self._feats is not None:
                        self._appearance_terms(rows, cols, iou, allowed)
                    take(rows, cols, iou, allowed)

        # 5. tentative tracks x remaining high detections (and the small low-score ones that may
        # start a track: a far-away person stays at their low score while being confirmed)
        rows = np.nonzero(~tr.confirmed)[0]
        cols = np.nonzero((high | self._low_birth(dets)) & free_det)[0]
        if len(rows) and len(cols):
            iou = iou_matrix(pred[rows], dets.xyxy[cols])
            take(rows, cols, iou, iou >= p.unconfirmed_iou)

        # 6. lost tracks x remaining high detections, by motion gate + appearance
        if self._feats is not None:
            rows = np.nonzero(free_trk & tr.confirmed & lost & tr.app_ok)[0]
            cols = np.nonzero(high & free_det)[0]
            if len(rows) and len(cols):
                self._reacquire(rows, cols, dets, take)
        if not out_r:
            return empty, empty
        return np.concatenate(out_r), np.concatenate(out_c)

    def _appearance_terms(self, rows: I64, cols: I64, score: F64, allowed: BoolArr) -> None:
        """Add the colour term to ambiguous pairs and veto re-acquisitions with clashing colours."""
        feats = self._feats
        if feats is None or not allowed.any():
            return
        tr = self._tracks
        p = self.params
        ambiguous = allowed & ((allowed.sum(axis=0) > 1)[None, :] | (allowed.sum(axis=1) > 1)[:, None])
        lost = (tr.missed[rows] > 1)[:, None] & allowed
        need = (ambiguous | lost) & tr.app_ok[rows][:, None]
        if not need.any():
            return
        need_cols = np.nonzero(need.any(axis=0))[0]
        feats.ensure(cols[need_cols])
        ok_c = feats.ok[cols]
        need &= ok_c[None, :]
        if not need.any():
            return
        sim = appearance.similarity(tr.app[rows], feats.desc[cols])
        score[ambiguous & need] += p.appearance_weight * (sim[ambiguous & need] - p.appearance_pivot)
        allowed[lost & need & (sim < p.appearance_min)] = False

    def _reacquire(self, lost: I64, cols: I64, dets: FrameDetections, take: Any) -> None:
        feats = self._feats
        tr = self._tracks
        p = self.params
        if feats is None:
            return
        z = xyxy_to_z(dets.xyxy[cols])
        d2 = self._kf.gating_distance(tr.mean[lost], tr.cov[lost], z)
        ratio = z[None, :, 3] / np.maximum(tr.last_box[lost, 3] - tr.last_box[lost, 1], 1.0)[:, None]
        allowed = (d2 <= p.reacquire_gate) & (ratio <= _SIZE_RATIO) & (ratio >= 1 / _SIZE_RATIO)
        if not allowed.any():
            return
        feats.ensure(cols[allowed.any(axis=0)])
        sim = appearance.similarity(tr.app[lost], feats.desc[cols])
        allowed &= feats.ok[cols][None, :] & (sim >= p.appearance_pivot)
        take(lost, cols, sim, allowed)

    # -- appearance templates -------------------------------------------------------------------
    def _after_update(
        self,
        dets: FrameDetections,
        rows: I64,
        cols: I64,
        t: float,
        image: npt.NDArray[np.uint8] | None,
    ) -> None:
        feats = self._feats
        self._feats = None  # the frame is not kept beyond this call
        if feats is None or len(rows) == 0:
            return
        tr = self._tracks
        p = self.params
        due = ~tr.app_ok[rows] | (t - tr.app_t[rows] >= p.appearance_refresh_s) | feats.done[cols]
        if not due.any():
            return
        overlap = iou_matrix(dets.xyxy, dets.xyxy)
        np.fill_diagonal(overlap, 0.0)
        clean = overlap.max(axis=1) < _CLEAN_IOU if len(dets) > 1 else np.ones(len(dets), bool)
        due &= clean[cols]
        if not due.any():
            return
        r, c = rows[due], cols[due]
        feats.ensure(c)
        good = feats.ok[c]
        r, c = r[good], c[good]
        if not len(r):
            return
        fresh = ~tr.app_ok[r]
        obs = feats.desc[c]
        blended = appearance.blend(tr.app[r], obs, p.appearance_ema)
        tr.app[r] = np.where(fresh[:, None], obs, blended)
        tr.app_ok[r] = True
        tr.app_t[r] = t
