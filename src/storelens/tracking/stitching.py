"""Visit stitching: join track fragments into one shopper *visit*.

Even a good tracker breaks a shopper's track when they stand behind a shelf end for four seconds
or are hidden by a passing trolley: the tracker must give up a lost track after ``max_age_s``
(seconds) or it starts swapping ids between people. Dwell, revisits and intent are measured per
visit, so this second layer, which can afford to wait longer and look harder, joins a track that
starts shortly after another ended when the two are

* **close in time**: the new track starts at most ``max_gap_s`` after the old one was last seen;
* **close in space**: the new feet point is within ``max_distance_h + speed_h_per_s * gap`` box
  heights of where the old track was last seen (or of where its last velocity would have taken it);
* **of similar size**: box heights within a factor ``max_size_ratio``;
* **alike** (when frames are given): the colour-stripe descriptors of the two fragments have a
  similarity of at least ``appearance_min``.

A join needs **evidence**, not just "someone appeared nearby soon after":

* without an appearance match (no frames, or a fragment never seen unoccluded) a join is made only
  on tight motion continuity: the new feet point within ``motion_only_distance_h`` box heights of
  where the old track's velocity would have taken it, after at most ``motion_only_gap_s``;
* a track that was last seen touching the image edge most likely *left the view*; a track that
  starts at the edge most likely *entered* it. Joining the two needs a strong appearance match
  (``edge_appearance_min``), never motion alone: on a public pedestrian clip the old rule joined a
  person leaving at the edge to a different one entering there 2.7 s later;
* an **ambiguous** join (a second candidate almost as good, within ``ambiguity_ratio``, for the
  same new track or the same ended visit) is not made: in a crowd a wrong join costs more identity
  than a missed one (it merges two people's dwell), so the stitcher abstains.

Each join gets a confidence in [0, 1] from those four cues; a visit's confidence is the product of
its joins' (1.0 for a single fragment), so a visit built from several uncertain joins says so.
Several new tracks and ended visits are assigned together (Hungarian), never greedily.

A track that was taken over by a newer fragment is *retired*: if the tracker still reports it as
coasting it is dropped from the output (one shopper, one row), and if it is matched again it starts
a new visit. Visit ids are random 47-bit integers (``secrets.randbits``), short-lived, and carry no
identity; appearance descriptors live in memory and are dropped when the visit finishes.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import Field
from scipy.optimize import linear_sum_assignment

from storelens.config.base import StrictModel
from storelens.core.types import Tracks
from storelens.tracking import appearance
from storelens.tracking.association import iou_matrix
from storelens.tracking.params import build_params

_CLEAN_IOU = 0.3
_UNKNOWN_APPEARANCE = 0.6
"""Appearance factor of a join when either fragment has no descriptor (no frames, or always
occluded): motion alone can join, but with less confidence than a colour match."""


class StitchParams(StrictModel):
    """Visit stitching parameters; times in seconds, distances in box heights."""

    max_gap_s: float = Field(default=4.0, gt=0, le=600, description="Longest unseen time within a visit")
    max_distance_h: float = Field(default=1.0, gt=0, le=20, description="Spatial tolerance at gap 0")
    speed_h_per_s: float = Field(default=0.8, ge=0, le=10, description="Walking speed while unseen")
    max_size_ratio: float = Field(default=1.5, gt=1, le=5, description="Max box height ratio")
    appearance_min: float = Field(default=0.7, ge=0, le=1, description="Min colour similarity to join")
    min_confidence: float = Field(default=0.3, ge=0, le=1, description="Joins below this are not made")
    appearance_refresh_s: float = Field(default=0.5, gt=0, le=60, description="Descriptor refresh interval")
    appearance_ema: float = Field(default=0.8, ge=0, lt=1, description="Descriptor memory")
    motion_only_gap_s: float = Field(default=1.5, gt=0, le=600, description="Longest gap of a join without appearance")
    motion_only_distance_h: float = Field(
        default=0.6, gt=0, le=20, description="Distance from the extrapolated point for a join without appearance"
    )
    edge_margin: float = Field(default=0.02, ge=0, le=0.5, description="Image-edge band, share of the long side")
    edge_appearance_min: float = Field(
        default=0.85, ge=0, le=1, description="Colour similarity needed to join an edge exit to an edge entry"
    )
    ambiguity_ratio: float = Field(
        default=0.8, gt=0, le=1, description="A runner-up at this share of the best join makes the join ambiguous"
    )


@dataclass(frozen=True, slots=True)
class VisitSummary:
    """A finished visit: times are the stream's timestamps (seconds) of its first and last
    observation; ``fragments`` is the number of track fragments joined (1 = never broken)."""

    visit_id: int
    started_ts: float
    ended_ts: float
    fragments: int
    confidence: float
    track_ids: tuple[int, ...]


@dataclass(slots=True)
class _Visit:
    visit_id: int
    started_ts: float
    last_ts: float  # last time one of its tracks was matched to a detection
    present_ts: float  # last time one of its tracks was in the output (matched or coasting)
    feet: npt.NDArray[np.float64]  # last observed feet point (x, y)
    height: float
    at_edge: bool = False  # last observed box touched the image edge
    velocity: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(2))
    track_ids: list[int] = field(default_factory=list)
    confidence: float = 1.0
    app: npt.NDArray[np.float32] | None = None
    app_t: float = -math.inf

    def summary(self) -> VisitSummary:
        return VisitSummary(
            visit_id=self.visit_id,
            started_ts=self.started_ts,
            ended_ts=self.last_ts,
            fragments=len(self.track_ids),
            confidence=float(min(max(self.confidence, 0.0), 1.0)),
            track_ids=tuple(self.track_ids),
        )


class VisitStitcher:
    """Joins one camera's track fragments into visits; call :meth:`update` after the tracker on
    every frame, :meth:`pop_finished` to collect visits that can no longer grow, :meth:`flush` at
    the end of the stream."""

    def __init__(self, params: StitchParams | None = None, frame_size: tuple[int, int] | None = None) -> None:
        """``frame_size`` (width, height) locates the image edges when :meth:`update` gets no
        image (a replay of detections); with images their shape is used."""
        self.params = params or StitchParams()
        self.frame_size = frame_size
        self._visits: dict[int, _Visit] = {}
        self._track_visit: dict[int, int] = {}
        self._retired: set[int] = set()
        self._clock: float | None = None

    @classmethod
    def from_params(cls, overrides: Mapping[str, Any] | None = None) -> VisitStitcher:
        return cls(build_params(StitchParams, overrides, "stitching"))

    # -- public API ----------------------------------------------------------------------------
    def update(self, tracks: Tracks, timestamp: float, image: npt.NDArray[np.uint8] | None = None) -> Tracks:
        """Assign a visit id to every track row; returns the tracks with ``visit_id`` set."""
        t = float(timestamp)
        if not math.isfinite(t):
            raise ValueError(f"timestamp must be finite, got {timestamp!r}")
        if self._clock is not None and t < self._clock:
            # A clock that restarts must not make finished visits look fresh or resurrect them.
            self._shift_time(t - self._clock)
        self._clock = t
        n = len(tracks)
        if n == 0:
            return tracks.replace(visit_id=np.zeros(0, np.int64))
        tids = tracks.track_id.tolist()
        matched = tracks.detection_index >= 0
        keep = np.ones(n, dtype=bool)
        new_rows: list[int] = []
        for i, tid in enumerate(tids):
            if tid in self._retired:
                if not matched[i]:
                    keep[i] = False  # a coasting ghost of a fragment another track continued
                    continue
                self._retired.discard(tid)
                self._track_visit.pop(tid, None)
            if tid not in self._track_visit:
                new_rows.append(i)
        feet = tracks.bottom_center.astype(np.float64)
        heights = (tracks.xyxy[:, 3] - tracks.xyxy[:, 1]).astype(np.float64)
        edge = self._at_edge(tracks.xyxy, image)
        descs: dict[int, npt.NDArray[np.float32]] = {}
        if new_rows:
            self._start_tracks(tracks, new_rows, feet, heights, edge, matched, t, image, descs)
        out_ids = np.zeros(n, np.int64)
        for i, tid in enumerate(tids):
            if tid in self._retired and not matched[i]:
                keep[i] = False  # continued by another track this frame or earlier
            if not keep[i]:
                continue
            v = self._visits[self._track_visit[tid]]
            out_ids[i] = v.visit_id
            v.present_ts = t
            if matched[i]:
                gap = t - v.last_ts
                if 0 < gap <= 1.0:
                    step = (feet[i] - v.feet) / gap
                    v.velocity = 0.7 * v.velocity + 0.3 * step
                v.feet = feet[i]
                v.height = float(heights[i])
                v.at_edge = bool(edge[i])
                v.last_ts = t
        if image is not None:
            self._refresh_appearance(tracks, keep & matched, out_ids, t, image, descs)
        out = tracks.replace(visit_id=out_ids)
        return out if keep.all() else out[keep]

    def pop_finished(self, timestamp: float) -> list[VisitSummary]:
        """Visits that can no longer be extended at ``timestamp`` (unseen for more than
        ``max_gap_s``), oldest first; their state, appearance included, is dropped."""
        t = float(timestamp)
        done = [v for v in self._visits.values() if t - v.present_ts > self.params.max_gap_s]
        return self._finish(done)

    def flush(self) -> list[VisitSummary]:
        """End of stream: every open visit, finished now."""
        out = self._finish(list(self._visits.values()))
        self._retired.clear()
        self._clock = None
        return out

    @property
    def open_visits(self) -> int:
        return len(self._visits)

    # -- internals --------------------------------------------------------------------------------
    def _finish(self, done: list[_Visit]) -> list[VisitSummary]:
        done.sort(key=lambda v: (v.started_ts, v.visit_id))
        out = []
        for v in done:
            out.append(v.summary())
            del self._visits[v.visit_id]
            for tid in v.track_ids:
                if self._track_visit.get(tid) == v.visit_id:
                    del self._track_visit[tid]
                self._retired.discard(tid)
            v.app = None
        return out

    def _shift_time(self, delta: float) -> None:
        for v in self._visits.values():
            v.started_ts += delta
            v.last_ts += delta
            v.present_ts += delta
            v.app_t += delta

    def _at_edge(self, xyxy: npt.NDArray[np.float32], image: npt.NDArray[np.uint8] | None) -> npt.NDArray[np.bool_]:
        """Rows whose box touches the image edge band (all False when the frame size is unknown)."""
        if image is not None:
            h, w = image.shape[:2]
        elif self.frame_size is not None:
            w, h = self.frame_size
        else:
            return np.zeros(len(xyxy), dtype=bool)
        m = self.params.edge_margin * max(w, h)
        b = xyxy.astype(np.float64)
        return np.asarray((b[:, 0] <= m) | (b[:, 1] <= m) | (b[:, 2] >= w - m) | (b[:, 3] >= h - m), dtype=bool)

    def _new_visit_id(self) -> int:
        while True:
            vid = secrets.randbits(47)
            if vid and vid not in self._visits:
                return vid

    def _start_tracks(
        self,
        tracks: Tracks,
        rows: list[int],
        feet: npt.NDArray[np.float64],
        heights: npt.NDArray[np.float64],
        edge: npt.NDArray[np.bool_],
        matched: npt.NDArray[np.bool_],
        t: float,
        image: npt.NDArray[np.uint8] | None,
        descs: dict[int, npt.NDArray[np.float32]],
    ) -> None:
        # Visits seen (matched) in this frame cannot be continued by another track; a visit whose
        # track is only coasting can: that is exactly the tracker handing a shopper a new id.
        present = {
            self._track_visit[tid]
            for tid, m in zip(tracks.track_id.tolist(), matched.tolist(), strict=True)
            if m and tid in self._track_visit
        }
        dormant = [
            v for v in self._visits.values() if v.visit_id not in present and 0 < t - v.last_ts <= self.params.max_gap_s
        ]
        joins: dict[int, tuple[_Visit, float]] = {}
        if dormant:
            if image is not None:
                d, ok = appearance.stripe_descriptors(image, tracks.xyxy[rows])
                for k, i in enumerate(rows):
                    if ok[k]:
                        descs[i] = d[k]
            conf = np.zeros((len(rows), len(dormant)))
            for a, i in enumerate(rows):
                for b, v in enumerate(dormant):
                    conf[a, b] = self._join_confidence(v, feet[i], heights[i], bool(edge[i]), descs.get(i), t)
            conf[conf < self.params.min_confidence] = 0.0
            r, c = linear_sum_assignment(-conf)
            for a, b in zip(r.tolist(), c.tolist(), strict=True):
                if conf[a, b] > 0 and not self._ambiguous(conf, a, b):
                    joins[rows[a]] = (dormant[b], float(conf[a, b]))
        for i in rows:
            tid = int(tracks.track_id[i])
            if i in joins:
                v, c = joins[i]
                self._retired.update(v.track_ids)
                v.track_ids.append(tid)
                v.confidence *= c
            else:
                v = _Visit(
                    visit_id=self._new_visit_id(),
                    started_ts=t,
                    last_ts=t,
                    present_ts=t,
                    feet=feet[i].copy(),
                    height=float(heights[i]),
                    track_ids=[tid],
                )
                self._visits[v.visit_id] = v
            self._retired.discard(tid)
            self._track_visit[tid] = v.visit_id

    def _ambiguous(self, conf: npt.NDArray[np.float64], a: int, b: int) -> bool:
        """True when another candidate for the same new track (row) or the same ended visit
        (column) scores within ``ambiguity_ratio`` of the chosen join."""
        best = conf[a, b]
        row = np.delete(conf[a], b)
        col = np.delete(conf[:, b], a)
        runner_up = max(row.max(initial=0.0), col.max(initial=0.0))
        return bool(runner_up > 0 and runner_up >= self.params.ambiguity_ratio * best)

    def _join_confidence(
        self,
        v: _Visit,
        feet: npt.NDArray[np.float64],
        height: float,
        starts_at_edge: bool,
        desc: npt.NDArray[np.float32] | None,
        t: float,
    ) -> float:
        p = self.params
        gap = t - v.last_ts
        if not 0 < gap <= p.max_gap_s or height <= 0 or v.height <= 0:
            return 0.0
        ratio = max(height, v.height) / min(height, v.height)
        if ratio > p.max_size_ratio:
            return 0.0
        h_ref = max(v.height, height)
        extrapolated = v.feet + v.velocity * min(gap, 1.0)
        dist = min(float(np.linalg.norm(feet - v.feet)), float(np.linalg.norm(feet - extrapolated))) / h_ref
        tolerance = p.max_distance_h + p.speed_h_per_s * gap
        if dist > tolerance:
            return 0.0
        s_space = 1.0 - 0.5 * dist / tolerance
        s_time = 1.0 - 0.5 * gap / p.max_gap_s
        s_size = 1.0 - 0.5 * (ratio - 1.0) / (p.max_size_ratio - 1.0)
        edge_pair = v.at_edge and starts_at_edge
        if desc is not None and v.app is not None:
            sim = float(appearance.similarity(v.app[None], desc[None])[0, 0])
            if sim < (p.edge_appearance_min if edge_pair else p.appearance_min):
                return 0.0
            s_app = 0.75 + 0.25 * (sim - p.appearance_min) / max(1.0 - p.appearance_min, 1e-6)
        else:
            # Motion alone is evidence only when the new track continues the old one's motion.
            to_extrapolated = float(np.linalg.norm(feet - extrapolated)) / h_ref
            if edge_pair or gap > p.motion_only_gap_s or to_extrapolated > p.motion_only_distance_h:
                return 0.0
            s_app = _UNKNOWN_APPEARANCE
        return s_space * s_time * s_size * s_app

    def _refresh_appearance(
        self,
        tracks: Tracks,
        rows_mask: npt.NDArray[np.bool_],
        visit_ids: npt.NDArray[np.int64],
        t: float,
        image: npt.NDArray[np.uint8],
        descs: dict[int, npt.NDArray[np.float32]],
    ) -> None:
        """Keep each visit's colour descriptor current from unoccluded observations, at most every
        ``appearance_refresh_s`` (it is needed when the visit's track *ends*, which is only known
        afterwards)."""
        p = self.params
        rows = np.flatnonzero(rows_mask)
        if not len(rows):
            return
        due = [
            i
            for i in rows.tolist()
            if i in descs or t - self._visits[int(visit_ids[i])].app_t >= p.appearance_refresh_s
        ]
        if not due:
            return
        boxes = tracks.xyxy.astype(np.float64)
        overlap = iou_matrix(boxes, boxes)
        np.fill_diagonal(overlap, 0.0)
        clean = [i for i in due if overlap[i].max(initial=0.0) < _CLEAN_IOU]
        todo = [i for i in clean if i not in descs]
        if todo:
            d, ok = appearance.stripe_descriptors(image, boxes[todo])
            for k, i in enumerate(todo):
                if ok[k]:
                    descs[i] = d[k]
        for i in clean:
            desc = descs.get(i)
            if desc is None:
                continue
            v = self._visits[int(visit_ids[i])]
            v.app = desc.copy() if v.app is None else appearance.blend(v.app[None], desc[None], p.appearance_ema)[0]
            v.app_t = t
