"""What every Kalman-based tracker here shares: the track table, the clock, input sanitising,
prediction, births, deaths, observation updates (with OC-SORT's re-update) and the output.

The tracks live in one table of numpy columns (a struct of arrays) rather than a list of track
objects: prediction, gating and output are then a few vectorised operations per frame, which is
what keeps the tracker above 1,000 frames/s at 20 people on one core. Subclasses only decide who
matches whom (:meth:`KalmanTrackerBase._associate`).

Lifecycle (birth/death hysteresis): a detection with ``score >= new_track_score`` that matched no
track starts a *tentative* track without an id; it gets an id once it has ``min_hits`` matches
and is dropped at its first miss before that (a one-frame false positive never gets an id). In
the first frame of a stream tentative tracks are confirmed at once (nothing to be consistent with
yet). A confirmed track that is not matched coasts on its prediction; it is reported for
``coast_s`` seconds and kept for re-acquisition for ``max_age_s`` seconds.

Low-score births (ByteTrack-style activation, size-aware): a person far from the camera is
detected at scores well under ``new_track_score`` (0.25-0.45 for people ~30-45 px tall in the
detector's input), so with the plain rule they are counted late or never. A detection with
``low_birth_score <= score < new_track_score`` whose box is shorter than ``low_birth_max_height``
of the frame height may start a tentative track too, but that track needs ``low_birth_hits``
matches before it gets an id, and is not confirmed in a stream's first frame: a one- or two-frame
low-score false positive never becomes a person. Tentative tracks may be matched by such detections
as well. Such a small person's detections flicker (a score of 0.3 in one frame, under the floor in
the next), so a low-born tentative track survives unmatched for up to ``low_birth_gap_s`` seconds
(k matches out of a few frames rather than k in a row); 0 drops it at its first miss. Without a
frame (``image=None``) and without :meth:`KalmanTrackerBase.set_frame_size` the size is unknown
and the rule applies only when ``low_birth_max_height >= 1`` (any size).
A low-score box lying more than ``low_birth_dup_inside`` of its area inside a detection scoring
>= ``new_track_score`` is part of that person (NMS keeps it: its IoU with the whole box is low)
and never counts as a small person (1 turns the guard off).

The tentative prefix is not lost: in the frame a track gets its id, the output's
``data[FIRST_BOX]`` holds the box it was first seen with and ``data[FIRST_AGO]`` how many seconds
ago (NaN for every other row; the keys are absent when no track was confirmed). A far-away person
may walk a metre while being confirmed; the behaviour stage counts a line crossed in that time.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from storelens.core.types import FIRST_AGO, FIRST_BOX, NUM_KEYPOINTS, Detections, Tracks
from storelens.tracking.appearance import DESCRIPTOR_DIM
from storelens.tracking.association import inside_fraction
from storelens.tracking.kalman import BatchKalman, KalmanNoise, xyxy_to_z, z_to_xyxy

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BoolArr = npt.NDArray[np.bool_]

_MAX_REUPDATE_STEPS = 30


@dataclass(slots=True)
class TrackTable:
    """All live tracks (tentative and confirmed) as columns of equal length."""

    ids: I64  # -1 while tentative
    mean: F64  # (N, 8) Kalman state
    cov: F64  # (N, 8, 8)
    snap_mean: F64  # posterior at the last observation (for the re-update after a gap)
    snap_cov: F64
    last_box: F64  # (N, 4) last observed (detection) box, xyxy
    last_t: F64  # time of the last observation
    hits: I64
    confirmed: BoolArr
    missed: I64  # frames since the last observation (1 right after prediction of a tracked track)
    score: npt.NDArray[np.float32]
    class_id: npt.NDArray[np.int32]
    keypoints: npt.NDArray[np.float32]  # (N, 17, 3) of the last matched detection
    obs_c: F64  # (N, K, 2) last K observed centres, most recent last
    obs_n: I64  # how many of them are filled
    app: npt.NDArray[np.float32]  # (N, D) appearance template (sqrt histograms)
    app_ok: BoolArr
    app_t: F64  # when the template was last refreshed
    need_hits: I64  # matches needed to confirm (more for a track born from a low-score detection)
    low_born: BoolArr  # born from a low-score detection (a tentative one may then skip frames)
    first_box: F64  # (N, 4) the box of the first observation (tentative prefix)
    first_t: F64
    confirmed_t: F64  # when the track got its id (inf while tentative)

    @classmethod
    def empty(cls, window: int) -> TrackTable:
        return cls(
            ids=np.zeros(0, np.int64),
            mean=np.zeros((0, 8)),
            cov=np.zeros((0, 8, 8)),
            snap_mean=np.zeros((0, 8)),
            snap_cov=np.zeros((0, 8, 8)),
            last_box=np.zeros((0, 4)),
            last_t=np.zeros(0),
            hits=np.zeros(0, np.int64),
            confirmed=np.zeros(0, bool),
            missed=np.zeros(0, np.int64),
            score=np.zeros(0, np.float32),
            class_id=np.zeros(0, np.int32),
            keypoints=np.zeros((0, NUM_KEYPOINTS, 3), np.float32),
            obs_c=np.zeros((0, window, 2)),
            obs_n=np.zeros(0, np.int64),
            app=np.zeros((0, DESCRIPTOR_DIM), np.float32),
            app_ok=np.zeros(0, bool),
            app_t=np.zeros(0),
            need_hits=np.zeros(0, np.int64),
            low_born=np.zeros(0, bool),
            first_box=np.zeros((0, 4)),
            first_t=np.zeros(0),
            confirmed_t=np.zeros(0),
        )

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def keep(self, mask: BoolArr) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name)[mask])

    def extend(self, other: TrackTable) -> None:
        for f in fields(self):
            setattr(self, f.name, np.concatenate([getattr(self, f.name), getattr(other, f.name)]))

    def shift_time(self, delta: float) -> None:
        """Move every stored time by ``delta`` (used when the clock jumps backwards)."""
        self.last_t += delta
        self.app_t += delta


@dataclass(slots=True)
class FrameDetections:
    """The valid detections of one frame, in float64, with their row in the caller's Detections."""

    index: npt.NDArray[np.int32]
    xyxy: F64
    score: npt.NDArray[np.float32]
    class_id: npt.NDArray[np.int32]
    keypoints: npt.NDArray[np.float32] | None

    def __len__(self) -> int:
        return int(self.index.shape[0])

    @property
    def centres(self) -> F64:
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2], 1)


class KalmanTrackerBase:
    """Shared machinery; see the module docstring. Call :meth:`update` once per analysed frame,
    with ``Detections.empty()`` when nothing was detected, so tracks age."""

    name: ClassVar[str] = "base"

    def __init__(
        self,
        *,
        low_score: float,
        new_track_score: float,
        min_hits: int,
        max_age_s: float,
        coast_s: float,
        velocity_window: int = 3,
        reupdate: bool = False,
        output_box: str = "filtered",
        noise: KalmanNoise | None = None,
        low_birth_score: float | None = None,
        low_birth_max_height: float = 1.0,
        low_birth_hits: int = 3,
        low_birth_gap_s: float = 0.0,
        low_birth_dup_inside: float = 1.0,
    ) -> None:
        self._low_score = low_score
        self._new_track_score = new_track_score
        self._min_hits = min_hits
        self._low_birth_score = new_track_score if low_birth_score is None else low_birth_score
        self._low_birth_max_height = low_birth_max_height
        self._low_birth_hits = max(low_birth_hits, min_hits)
        self._low_birth_gap_s = low_birth_gap_s
        self._low_birth_dup_inside = low_birth_dup_inside
        self._frame_h: int | None = None
        self._max_age_s = max_age_s
        self._coast_s = coast_s
        self._window = velocity_window + 1
        self._reupdate = reupdate
        self._output_detection_box = output_box == "detection"
        self._kf = BatchKalman(noise)
        self.reset()

    # -- public API ----------------------------------------------------------------------------
    def set_frame_size(self, width: int, height: int) -> None:
        """The frame size, for callers that track detections without passing frames (MOT files):
        the size-aware low-score birth needs the frame height. A frame passed to :meth:`update`
        overrides it."""
        if width <= 0 or height <= 0:
            raise ValueError(f"frame size must be positive, got {width}x{height}")
        self._frame_h = int(height)

    def reset(self) -> None:
        """Forget every track and restart ids at 1 (e.g. for a new video or scene)."""
        self._tracks = TrackTable.empty(self._window)
        self._next_id = 1
        self._clock: float | None = None
        self._frames = 0
        self._keypoints_seen = False

    def update(self, detections: Detections, timestamp: float, image: npt.NDArray[np.uint8] | None = None) -> Tracks:
        """Advance one frame (``timestamp`` in seconds) and return the confirmed tracks in it.

        Detections with NaN/inf coordinates or scores, zero or negative area, or a score below
        ``low_score`` are ignored. A timestamp that goes backwards is treated as no time passing
        (and logged), so a source that restarts its clock cannot freeze or kill every track.
        """
        if not isinstance(detections, Detections):
            raise TypeError(f"detections must be storelens Detections, got {type(detections).__name__}")
        dt = self._advance_clock(timestamp)
        t = float(self._clock if self._clock is not None else 0.0)
        dets = self._sanitise(detections)
        if image is not None:
            image = self._check_image(image)
            self._frame_h = int(image.shape[0])
        tr = self._tracks
        posterior = (tr.mean, tr.cov, tr.missed == 0)  # predict() returns new arrays: no copy
        if len(tr):
            tr.mean, tr.cov = self._kf.predict(tr.mean, tr.cov, dt)
            tr.missed += 1
            lost = tr.missed > 1
            if lost.any():
                # Size velocity is not trusted through an occlusion (ByteTrack does the same).
                tr.mean[lost, 6:8] = 0.0
            tr.mean[:, 2:4] = np.maximum(tr.mean[:, 2:4], 1.0)
        rows, cols = self._associate(dets, t, image)
        self._snapshot_lost(posterior, rows)
        self._observe(rows, dets, cols, t)
        matched_det = np.zeros(len(dets), dtype=bool)
        matched_det[cols] = True
        born_rows, born_cols = self._birth(dets, ~matched_det, t)
        rows = np.concatenate([rows, born_rows])
        cols = np.concatenate([cols, born_cols])
        self._after_update(dets, rows, cols, t, image)
        out = self._output(dets, t, rows, cols, detections.keypoints is not None)
        self._expire(t)
        self._frames += 1
        return out

    # -- hooks -----------------------------------------------------------------------------------
    def _associate(self, dets: FrameDetections, t: float, image: npt.NDArray[np.uint8] | None) -> tuple[I64, I64]:
        """Return matched (track rows, detection rows) for this frame."""
        raise NotImplementedError

    def _after_update(
        self,
        dets: FrameDetections,
        rows: I64,
        cols: I64,
        t: float,
        image: npt.NDArray[np.uint8] | None,
    ) -> None:
        """Called after observations and births (appearance template refresh lives here)."""

    # -- machinery -------------------------------------------------------------------------------
    def _advance_clock(self, timestamp: float) -> float:
        try:
            t = float(timestamp)
        except (TypeError, ValueError):
            raise ValueError(f"timestamp must be a number of seconds, got {timestamp!r}") from None
        if not math.isfinite(t):
            raise ValueError(f"timestamp must be finite, got {timestamp!r}")
        if self._clock is None:
            self._clock = t
            return 0.0
        dt = t - self._clock
        if dt < 0:
            log.warning("%s: timestamp went back by %.3f s; treating it as no time passing", self.name, -dt)
            self._tracks.shift_time(dt)
            dt = 0.0
        self._clock = t
        return dt

    @staticmethod
    def _check_image(image: Any) -> npt.NDArray[np.uint8]:
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            shape = getattr(image, "shape", None)
            raise ValueError(f"image must be an HxWx3 uint8 BGR array, got shape={shape}")
        return image

    def _sanitise(self, d: Detections) -> FrameDetections:
        ok = d.valid_mask() & (d.score >= self._low_score) if len(d) else np.zeros(0, dtype=bool)
        idx = np.nonzero(ok)[0].astype(np.int32)
        kp = None if d.keypoints is None else d.keypoints[idx]
        return FrameDetections(
            index=idx,
            xyxy=d.xyxy[idx].astype(np.float64),
            score=d.score[idx],
            class_id=d.class_id[idx],
            keypoints=kp,
        )

    def _observe(self, rows: I64, dets: FrameDetections, cols: I64, t: float) -> None:
        if len(rows) == 0:
            return
        tr = self._tracks
        z = xyxy_to_z(dets.xyxy[cols])
        gap = tr.missed[rows] > 1
        plain = rows[~gap]
        if len(plain):
            tr.mean[plain], tr.cov[plain] = self._kf.update(tr.mean[plain], tr.cov[plain], z[~gap])
        for r, zz in zip(rows[gap].tolist(), z[gap], strict=True):
            if self._reupdate:
                tr.mean[r], tr.cov[r] = self._reupdate_row(r, zz, t)
            else:
                m, c = self._kf.update(tr.mean[r : r + 1], tr.cov[r : r + 1], zz[None])
                tr.mean[r], tr.cov[r] = m[0], c[0]
        tr.last_box[rows] = dets.xyxy[cols]
        tr.last_t[rows] = t
        tr.hits[rows] += 1
        tr.missed[rows] = 0
        tr.score[rows] = dets.score[cols]
        tr.class_id[rows] = dets.class_id[cols]
        if dets.keypoints is not None:
            tr.keypoints[rows] = dets.keypoints[cols]
            self._keypoints_seen = True
        elif self._keypoints_seen:
            tr.keypoints[rows] = 0.0
        # Observation history for the momentum direction: shift left, append the new centre.
        tr.obs_c[rows, :-1] = tr.obs_c[rows, 1:]
        tr.obs_c[rows, -1] = z[:, :2]
        tr.obs_n[rows] = np.minimum(tr.obs_n[rows] + 1, self._window)
        newly = rows[(~tr.confirmed[rows]) & (tr.hits[rows] >= tr.need_hits[rows])]
        self._confirm(newly)

    def _snapshot_lost(self, posterior: tuple[F64, F64, BoolArr], rows: I64) -> None:
        """Keep the posterior of tracks that were observed last frame and are missed now: the
        re-update after the gap restarts from it. Saving it only on loss (not on every
        observation) keeps the per-frame cost down."""
        mean, cov, fresh = posterior
        if not len(fresh):
            return
        lost_now = fresh.copy()
        lost_now[rows[rows < len(fresh)]] = False
        if lost_now.any():
            tr = self._tracks
            idx = np.nonzero(lost_now)[0]
            tr.snap_mean[idx] = mean[idx]
            tr.snap_cov[idx] = cov[idx]

    def _reupdate_row(self, r: int, z: F64, t: float) -> tuple[F64, F64]:
        """OC-SORT's observation-centric re-update: restart from the state at the last observation
        and run the filter along a straight virtual path to the new observation, one step per
        frame missed, so the velocity is re-estimated from what was *seen* instead of the drift
        accumulated while coasting."""
        tr = self._tracks
        steps = int(min(tr.missed[r], _MAX_REUPDATE_STEPS))
        step_dt = max(t - float(tr.last_t[r]), 0.0) / steps
        z0 = xyxy_to_z(tr.last_box[r][None])[0]
        mean, cov = tr.snap_mean[r : r + 1], tr.snap_cov[r : r + 1]
        for k in range(1, steps + 1):
            mean, cov = self._kf.predict(mean, cov, step_dt)
            virtual = z0 + (z - z0) * (k / steps)
            mean, cov = self._kf.update(mean, cov, virtual[None])
        return mean[0], cov[0]

    def _confirm(self, rows: I64) -> None:
        if len(rows) == 0:
            return
        tr = self._tracks
        tr.confirmed[rows] = True
        tr.confirmed_t[rows] = self._clock if self._clock is not None else 0.0
        tr.ids[rows] = np.arange(self._next_id, self._next_id + len(rows), dtype=np.int64)
        self._next_id += len(rows)

    def _low_birth(self, dets: FrameDetections) -> BoolArr:
        """Detections under ``new_track_score`` that may still start (or feed) a tentative track:
        score >= ``low_birth_score``, a box shorter than ``low_birth_max_height`` of the frame, and
        not a duplicate of a confident detection (:meth:`_not_duplicate`)."""
        low = (dets.score >= self._low_birth_score) & (dets.score < self._new_track_score)
        if not low.any():
            return low
        if self._low_birth_max_height < 1.0:
            if self._frame_h is None:
                return np.zeros(len(dets), dtype=bool)
            height = dets.xyxy[:, 3] - dets.xyxy[:, 1]
            low &= height < self._low_birth_max_height * self._frame_h
        return self._not_duplicate(dets, low)

    def _not_duplicate(self, dets: FrameDetections, low: BoolArr) -> BoolArr:
        """``low`` without the boxes that lie more than ``low_birth_dup_inside`` of their area
        inside a detection scoring >= ``new_track_score`` in the same frame: a part of a confident
        person (their right half, their legs), which the detector's NMS kept because its IoU with
        the whole box is low. As a track of its own it doubles that person (a false zone stay)."""
        if self._low_birth_dup_inside >= 1.0 or not low.any():
            return low
        strong = dets.score >= self._new_track_score
        if not strong.any():
            return low
        cand = np.nonzero(low)[0]
        inside = inside_fraction(dets.xyxy[cand], dets.xyxy[strong]).max(axis=1)
        out = low.copy()
        out[cand[inside > self._low_birth_dup_inside]] = False
        return out

    def _birth(self, dets: FrameDetections, unmatched: BoolArr, t: float) -> tuple[I64, I64]:
        """Start tentative tracks; returns their (rows, detection rows)."""
        strong = dets.score >= self._new_track_score
        new = np.nonzero(unmatched & (strong | self._low_birth(dets)))[0].astype(np.int64)
        n = len(new)
        if n == 0:
            return np.zeros(0, np.int64), new
        z = xyxy_to_z(dets.xyxy[new])
        mean, cov = self._kf.initiate(z)
        obs_c = np.zeros((n, self._window, 2))
        obs_c[:, -1] = z[:, :2]
        kp = np.zeros((n, NUM_KEYPOINTS, 3), np.float32)
        if dets.keypoints is not None:
            kp[:] = dets.keypoints[new]
        born = TrackTable(
            ids=np.full(n, -1, np.int64),
            mean=mean,
            cov=cov,
            snap_mean=mean.copy(),
            snap_cov=cov.copy(),
            last_box=dets.xyxy[new].copy(),
            last_t=np.full(n, t),
            hits=np.ones(n, np.int64),
            confirmed=np.zeros(n, bool),
            missed=np.zeros(n, np.int64),
            score=dets.score[new].copy(),
            class_id=dets.class_id[new].copy(),
            keypoints=kp,
            obs_c=obs_c,
            obs_n=np.ones(n, np.int64),
            app=np.zeros((n, DESCRIPTOR_DIM), np.float32),
            app_ok=np.zeros(n, bool),
            app_t=np.full(n, -np.inf),
            need_hits=np.where(strong[new], self._min_hits, self._low_birth_hits).astype(np.int64),
            low_born=~strong[new],
            first_box=dets.xyxy[new].copy(),
            first_t=np.full(n, t),
            confirmed_t=np.full(n, np.inf),
        )
        start = len(self._tracks)
        self._tracks.extend(born)
        rows = np.arange(start, start + n, dtype=np.int64)
        if self._frames == 0:
            self._confirm(rows[strong[new]])
        else:
            self._confirm(rows[born.need_hits <= 1])
        return rows, new

    def _expire(self, t: float) -> None:
        tr = self._tracks
        if not len(tr):
            return
        # a tentative track dies at its first miss, one born from a low score after a short gap
        patient = tr.low_born & (t - tr.last_t <= self._low_birth_gap_s)
        dead = (~tr.confirmed & (tr.missed > 0) & ~patient) | (t - tr.last_t > self._max_age_s)
        if dead.any():
            tr.keep(~dead)

    def _output(self, dets: FrameDetections, t: float, rows: I64, cols: I64, with_kp: bool) -> Tracks:
        tr = self._tracks
        n = len(tr)
        if n == 0:
            return _empty_tracks(with_kp)
        det_col = np.full(n, -1, np.int64)
        det_col[rows] = cols
        matched = det_col >= 0
        show = tr.confirmed & (matched | (t - tr.last_t <= self._coast_s))
        sel = np.nonzero(show)[0]
        if len(sel) == 0:
            return _empty_tracks(with_kp)
        sel = sel[np.argsort(tr.ids[sel], kind="stable")]
        boxes = z_to_xyxy(tr.mean[sel])
        m_sel = matched[sel]
        if self._output_detection_box and m_sel.any():
            boxes[m_sel] = dets.xyxy[det_col[sel][m_sel]]
        det_index = np.full(len(sel), -1, np.int32)
        det_index[m_sel] = dets.index[det_col[sel][m_sel]]
        kp = None
        if with_kp:
            kp = tr.keypoints[sel].copy()
            kp[~m_sel] = 0.0  # nothing was observed for a coasting track this frame
        data: dict[str, np.ndarray] = {}
        fresh = (tr.confirmed_t[sel] == t) & (tr.first_t[sel] < t)
        if fresh.any():
            data[FIRST_BOX] = np.where(fresh[:, None], tr.first_box[sel], np.nan).astype(np.float32)
            data[FIRST_AGO] = np.where(fresh, t - tr.first_t[sel], np.nan)
        return Tracks(
            xyxy=boxes.astype(np.float32),
            score=tr.score[sel],
            class_id=tr.class_id[sel],
            track_id=tr.ids[sel],
            detection_index=det_index,
            keypoints=kp,
            data=data,
        )

    def predicted_boxes(self, timestamp: float) -> F64:
        """Where every live track (tentative and lost ones included) is expected at ``timestamp``,
        xyxy, without changing any state: the places a second detector pass looks at before this
        frame's :meth:`update` (``storelens.pipeline.second_pass``)."""
        tr = self._tracks
        if not len(tr):
            return np.zeros((0, 4))
        dt = 0.0 if self._clock is None else max(float(timestamp) - self._clock, 0.0)
        mean, _ = self._kf.predict(tr.mean, tr.cov, dt)
        mean[:, 2:4] = np.maximum(mean[:, 2:4], 1.0)
        return z_to_xyxy(mean)

    # -- helpers for subclasses -------------------------------------------------------------------
    def _predicted_boxes(self) -> F64:
        return z_to_xyxy(self._tracks.mean) if len(self._tracks) else np.zeros((0, 4))

    def _velocity_directions(self, rows: I64) -> tuple[F64, BoolArr, F64]:
        """For track ``rows``: observed motion direction (unit), whether there is one, and the
        reference centre it is measured from (the oldest observation kept)."""
        tr = self._tracks
        n = len(rows)
        oldest = self._window - np.minimum(tr.obs_n[rows], self._window)
        ref = tr.obs_c[rows, oldest]
        vec = tr.obs_c[rows, -1] - ref
        norm = np.sqrt(vec[:, 0] ** 2 + vec[:, 1] ** 2)
        has = (tr.obs_n[rows] >= 2) & (norm > 1e-6)
        direction = np.zeros((n, 2))
        direction[has] = vec[has] / norm[has, None]
        return direction, has, ref


def _empty_tracks(with_kp: bool) -> Tracks:
    if not with_kp:
        return Tracks.empty()
    t = Tracks.empty()
    return t.replace(keypoints=np.zeros((0, NUM_KEYPOINTS, 3), np.float32))
