"""Reaches into shelf and display zones from wrist (or elbow) keypoints.

A reach is a hand inside a shelf polygon for a while. "A wrist keypoint in the polygon on some
frame" is not one: in an image-space shelf polygon the shopper standing in front of the shelf is
*inside* it too, so a hand hanging by the hip would count, and a keypoint jittering across an edge
would make a dozen reaches a second. So each hand goes through three filters:

1. **visibility gating** -- keypoints below ``min_visibility`` are *unknown*, not "outside": an
   occluded hand neither starts nor ends a reach; it holds the state for ``occlusion_hold_s``.
   When the wrist is unseen but shoulder and elbow are, the wrist is placed on the upper arm's
   extension (``elbow + forearm_ratio * (elbow - shoulder)``): the arm reaching into a shelf is
   exactly the pose in which the wrist disappears between products.
2. **extension** -- the hand must be away from the body: at least ``min_extension`` torso lengths
   from the shoulder-hip quadrilateral, or raised above the shoulders (and not at the head, which is
   a phone call, not a reach). A hand hanging beside the hip is ~0.3 torso lengths away.
3. **temporal smoothing** -- hand points are exponentially smoothed with time constant
   ``smoothing_s`` (real timestamps, so dropped frames do not change the filter), then a small
   state machine per (subject, zone, hand) needs ``enter_s`` of continuous "inside" to start a
   reach and ``exit_s`` of "outside" to end it. The reach spans first to last inside observation;
   shorter than ``min_duration_s`` is dropped.

Sides are the person's anatomical left/right hand (COCO ``left_wrist`` / ``right_wrist``).
``max_depth`` is how far the hand went inside the polygon, in pixels from the nearest edge
(``max_depth_rel`` in torso lengths, comparable across camera distances).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import cv2
import numpy as np
import numpy.typing as npt

from storelens.config.cameras import ZoneConfig
from storelens.config.interaction import ReachConfig
from storelens.core.geometry import points_in_polygon
from storelens.core.types import KP, NUM_KEYPOINTS

__all__ = ["HAND_NAMES", "HandObservations", "HandSource", "Reach", "ReachStart", "ReachTracker", "hand_points"]

HAND_NAMES = ("left", "right")
_HEAD_CLEARANCE = 0.3
"""A raised hand closer than this (torso lengths) to the head is at the head, not reaching up."""
_ABOVE_SHOULDER_MARGIN = 0.1
_FALLBACK_TORSO_SHARE = 0.3
"""Torso length as a share of the box height when the hips are not visible (standing adult)."""


class HandSource(IntEnum):
    NONE = 0
    WRIST = 1
    ELBOW = 2


@dataclass(frozen=True, slots=True)
class HandObservations:
    """Per person and hand (index 0 = left, 1 = right) for one frame.

    ``xy`` (N, 2, 2) hand point in pixels, ``source`` (N, 2) a :class:`HandSource` value (NONE:
    unknown), ``extended`` (N, 2) whether the hand is away from the body, ``torso`` (N,) the torso
    length used as the person's scale (pixels), ``shoulder_y`` (N,) the higher shoulder's y.
    """

    xy: npt.NDArray[np.float64]
    source: npt.NDArray[np.int8]
    extended: npt.NDArray[np.bool_]
    torso: npt.NDArray[np.float64]
    shoulder_y: npt.NDArray[np.float64]

    @property
    def known(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.source != HandSource.NONE)


def _segment_distance(p: npt.NDArray[np.float64], a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    ab = b - a
    denom = float(ab @ ab)
    t = 0.0 if denom < 1e-12 else max(0.0, min(1.0, float((p - a) @ ab) / denom))
    return float(np.hypot(*(p - (a + t * ab))))


def _distance_to_quad(p: npt.NDArray[np.float64], quad: npt.NDArray[np.float64]) -> float:
    """0 inside the (possibly degenerate) quadrilateral, else the distance to its nearest edge."""
    if points_in_polygon(p[None], quad)[0]:
        return 0.0
    return min(_segment_distance(p, quad[i], quad[(i + 1) % len(quad)]) for i in range(len(quad)))


def hand_points(keypoints: npt.ArrayLike, boxes: npt.ArrayLike, cfg: ReachConfig) -> HandObservations:
    """Hand points, their source and whether each hand is extended, for every person."""
    kps = np.asarray(keypoints, dtype=np.float64)
    bxs = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    n = len(bxs)
    if kps.shape != (n, NUM_KEYPOINTS, 3):
        raise ValueError(f"keypoints must have shape ({n}, {NUM_KEYPOINTS}, 3) for {n} boxes, got {kps.shape}")
    xy = np.zeros((n, 2, 2))
    source = np.zeros((n, 2), np.int8)
    extended = np.zeros((n, 2), bool)
    torso_out = np.zeros(n)
    shoulder_out = np.full(n, np.nan)
    finite = np.isfinite(kps).all(axis=2)
    seen = finite & (np.nan_to_num(kps[..., 2]) >= cfg.min_visibility)
    sh = (KP["left_shoulder"], KP["right_shoulder"])
    el = (KP["left_elbow"], KP["right_elbow"])
    wr = (KP["left_wrist"], KP["right_wrist"])
    hips = (KP["left_hip"], KP["right_hip"])
    head_ids = [KP[k] for k in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]
    for i in range(n):
        k, s = kps[i, :, :2], seen[i]
        shoulders = [j for j in sh if s[j]]
        if not shoulders:
            continue  # no body frame of reference: cannot tell a reach from a hand at rest
        box_h = max(1.0, bxs[i, 3] - bxs[i, 1])
        sh_pts = k[list(shoulders)]
        if s[sh[0]] and s[sh[1]] and s[hips[0]] and s[hips[1]]:
            torso = float(np.hypot(*((k[sh[0]] + k[sh[1]]) / 2 - (k[hips[0]] + k[hips[1]]) / 2)))
            quad = np.stack([k[sh[0]], k[sh[1]], k[hips[1]], k[hips[0]]])
        else:
            torso = 0.0
            quad = np.empty((0, 2))
        if torso < 0.1 * box_h:
            torso = _FALLBACK_TORSO_SHARE * box_h
            drop = np.array([0.0, torso])
            a, b = (k[sh[0]], k[sh[1]]) if len(shoulders) == 2 else (sh_pts[0], sh_pts[0])
            quad = np.stack([a, b, b + drop, a + drop])
        torso_out[i] = torso
        top = float(sh_pts[:, 1].min())
        shoulder_out[i] = top
        heads = [j for j in head_ids if s[j]]
        head = k[heads].mean(axis=0) if heads else None
        for h in range(2):
            if s[wr[h]]:
                p = k[wr[h]].copy()
                src = HandSource.WRIST
            elif cfg.use_elbow_extension and s[el[h]] and s[sh[h]]:
                p = k[el[h]] + cfg.forearm_ratio * (k[el[h]] - k[sh[h]])
                src = HandSource.ELBOW
            else:
                continue
            xy[i, h] = p
            source[i, h] = src
            away = _distance_to_quad(p, quad) >= cfg.min_extension * torso
            raised = p[1] < top - _ABOVE_SHOULDER_MARGIN * torso
            at_head = head is not None and float(np.hypot(*(p - head))) < _HEAD_CLEARANCE * torso
            extended[i, h] = (away or raised) and not at_head
    return HandObservations(xy=xy, source=source, extended=extended, torso=torso_out, shoulder_y=shoulder_out)


@dataclass(frozen=True, slots=True)
class ReachStart:
    """A reach confirmed (inside for ``enter_s``); ``start_pts`` is its first inside time."""

    subject: int
    zone_id: str
    side: str
    start_pts: float


@dataclass(frozen=True, slots=True)
class Reach:
    """One finished reach. ``path`` is the smoothed hand point (pts, x, y) while inside."""

    subject: int
    zone_id: str
    side: str
    start_pts: float
    end_pts: float
    max_depth: float
    max_depth_rel: float
    source: str
    torso: float
    box_height: float
    path: tuple[tuple[float, float, float], ...] = ()

    @property
    def duration_s(self) -> float:
        return self.end_pts - self.start_pts


@dataclass(slots=True)
class _State:
    first_in: float
    last_in: float
    active: bool = False
    out_since: float | None = None
    max_depth: float = 0.0
    max_depth_rel: float = 0.0
    elbow_frames: int = 0
    frames: int = 0
    torso: float = 0.0
    box_height: float = 0.0
    path: list[tuple[float, float, float]] = field(default_factory=list)


@dataclass(slots=True)
class _Smooth:
    xy: npt.NDArray[np.float64]
    pts: float


_MAX_PATH = 256


class ReachTracker:
    """Reach state machines for every (subject, zone, hand) of one camera.

    Call :meth:`update` once per analysed frame, in pts order, with the frame's person tracks
    (an empty batch ages the states); :meth:`close` at the end of the stream.
    """

    def __init__(self, zones: Sequence[ZoneConfig], cfg: ReachConfig) -> None:
        self.cfg = cfg
        self.zones = list(zones)
        self._polys = [np.asarray(z.points, dtype=np.float64) for z in self.zones]
        self._contours = [p.astype(np.float32).reshape(-1, 1, 2) for p in self._polys]
        self._states: dict[tuple[int, str, int], _State] = {}
        self._smooth: dict[tuple[int, int], _Smooth] = {}

    def active_reaches(self) -> list[tuple[int, str, str]]:
        """(subject, zone id, side) of the reaches in progress (confirmed, not yet ended)."""
        return [(s, z, HAND_NAMES[h]) for (s, z, h), st in self._states.items() if st.active]

    def _smoothed(self, subject: int, hand: int, p: npt.NDArray[np.float64], pts: float) -> npt.NDArray[np.float64]:
        key = (subject, hand)
        prev = self._smooth.get(key)
        tau = self.cfg.smoothing_s
        if prev is None or pts - prev.pts > self.cfg.occlusion_hold_s or tau <= 0:
            out = p
        else:
            alpha = 1.0 - math.exp(-max(0.0, pts - prev.pts) / tau)
            out = prev.xy + alpha * (p - prev.xy)
        self._smooth[key] = _Smooth(out, pts)
        return out

    def update(
        self,
        subjects: npt.ArrayLike,
        keypoints: npt.ArrayLike | None,
        boxes: npt.ArrayLike,
        pts: float,
    ) -> tuple[list[ReachStart], list[Reach]]:
        """Advance to ``pts``; returns the reaches confirmed and the reaches finished in this frame."""
        subj = np.asarray(subjects, dtype=np.int64).reshape(-1)
        bxs = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if len(bxs) != len(subj):
            raise ValueError(f"{len(subj)} subjects but {len(bxs)} boxes")
        kps = np.zeros((len(subj), NUM_KEYPOINTS, 3)) if keypoints is None else np.asarray(keypoints, dtype=np.float64)
        hands = hand_points(kps, bxs, self.cfg)
        observed: dict[tuple[int, str, int], tuple[bool, float, float]] = {}
        for i, sid in enumerate(subj.tolist()):
            for h in range(2):
                if not hands.known[i, h]:
                    continue
                p = self._smoothed(sid, h, hands.xy[i, h], pts)
                for zone, contour in zip(self.zones, self._contours, strict=True):
                    depth = float(cv2.pointPolygonTest(contour, (float(p[0]), float(p[1])), True))
                    inside = bool(hands.extended[i, h]) and depth >= 0
                    observed[(sid, zone.id, h)] = (inside, depth, float(hands.torso[i]))
                    if inside:
                        st = self._states.get((sid, zone.id, h))
                        if st is None:
                            st = _State(first_in=pts, last_in=pts)
                            self._states[(sid, zone.id, h)] = st
                        st.box_height = float(bxs[i, 3] - bxs[i, 1])
                        st.frames += 1
                        st.elbow_frames += int(hands.source[i, h] == HandSource.ELBOW)
                        if len(st.path) < _MAX_PATH:
                            st.path.append((pts, float(p[0]), float(p[1])))
        for hand_key in [k for k, sm in self._smooth.items() if pts - sm.pts > self.cfg.occlusion_hold_s]:
            del self._smooth[hand_key]
        started: list[ReachStart] = []
        ended: list[Reach] = []
        for key in list(self._states):
            st = self._states[key]
            obs = observed.get(key)
            if obs is not None and obs[0]:
                _, depth, torso = obs
                st.last_in = pts
                st.out_since = None
                st.torso = torso
                st.max_depth = max(st.max_depth, depth)
                st.max_depth_rel = max(st.max_depth_rel, depth / max(torso, 1e-6))
                if not st.active and pts - st.first_in >= self.cfg.enter_s:
                    st.active = True
                    started.append(ReachStart(key[0], key[1], HAND_NAMES[key[2]], st.first_in))
                continue
            if obs is not None:  # seen outside (or not extended)
                if not st.active:
                    del self._states[key]
                    continue
                if st.out_since is None:
                    st.out_since = pts
            # outside long enough, or unseen for too long: the reach is over
            out_long = st.out_since is not None and pts - st.out_since >= self.cfg.exit_s
            unseen_long = pts - st.last_in > self.cfg.occlusion_hold_s
            if out_long or unseen_long:
                reach = self._finish(key, st)
                if reach is not None:
                    ended.append(reach)
        return started, ended

    def _finish(self, key: tuple[int, str, int], st: _State) -> Reach | None:
        del self._states[key]
        if not st.active or st.last_in - st.first_in < self.cfg.min_duration_s:
            return None
        return Reach(
            subject=key[0],
            zone_id=key[1],
            side=HAND_NAMES[key[2]],
            start_pts=st.first_in,
            end_pts=st.last_in,
            max_depth=st.max_depth,
            max_depth_rel=st.max_depth_rel,
            source="elbow" if st.elbow_frames * 2 > st.frames else "wrist",
            torso=st.torso,
            box_height=st.box_height,
            path=tuple(st.path),
        )

    def close(self) -> list[Reach]:
        """End every open reach at its last inside observation (end of stream)."""
        out = [r for key in list(self._states) if (r := self._finish(key, self._states[key])) is not None]
        self._smooth.clear()
        return out

    def forget(self, subjects: Iterable[int]) -> list[Reach]:
        """Close the reaches of subjects that left for good (visit ended)."""
        gone = set(subjects)
        out = [
            r
            for key in list(self._states)
            if key[0] in gone and (r := self._finish(key, self._states[key])) is not None
        ]
        for key in [k for k in self._smooth if k[0] in gone]:
            del self._smooth[key]
        return out
