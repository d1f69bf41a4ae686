"""Attention: a shopper facing a shelf or display while slow or still.

Facing is judged in the image plane from :mod:`storelens.interaction.orientation`: the facing
vector ``(sin yaw, cos yaw)`` from the head must point into the zone polygon's angular extent (as
seen from the head), give or take ``max_angle_deg``. Two cases need their own rule:

* the head is *inside* the polygon (a shopper standing in front of a shelf face covers it in the
  image): whatever a person overlaps in the image is farther from the camera than they are, so they
  face it exactly when they face away from the camera; we accept ``|yaw| >= 90 - max_angle_deg``.
* ``camera_facing_zones``: signage with the camera on top. The polygon is the viewing area on the
  floor; attention is standing in it (feet point) while facing the camera within the angle.

A person attends to one zone at a time: of the zones they face, the nearest to the head along the
image (the first one the line of sight meets), so a display table in front of a wall shelf wins.
"Slow or still" is the track box's centre speed in box heights per second (scale-free, so it
needs no floor calibration), exponentially smoothed over ``speed_smoothing_s``.

Episodes use the same debounce as reaches: ``enter_s`` of continuous attending to start (the
episode then dates from its first attending frame), ``exit_s`` of not attending (or of an unknown
orientation) to end. An episode during which the same subject reached into the zone is flagged
``reached``; into a display zone that is an *engagement*.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from storelens.config.cameras import ZoneConfig, ZoneKind
from storelens.config.interaction import AttentionConfig
from storelens.core.geometry import points_in_polygon
from storelens.core.types import KP, NUM_KEYPOINTS
from storelens.interaction.orientation import Orientation, angle_diff, estimate_orientation

__all__ = ["AttentionEpisode", "AttentionStart", "AttentionTracker", "facing_offset", "head_point"]


def head_point(
    keypoints: npt.NDArray[np.float64], box: npt.NDArray[np.float64], min_visibility: float
) -> tuple[float, float]:
    """Where the line of sight starts: mean of the visible head keypoints, else between the
    shoulders, else a tenth of the box height below its top centre."""
    kp = np.asarray(keypoints, dtype=np.float64)
    seen = np.isfinite(kp).all(axis=1) & (np.nan_to_num(kp[:, 2]) >= min_visibility)
    head = [KP[k] for k in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]
    ids = [j for j in head if seen[j]]
    if not ids:
        ids = [j for j in (KP["left_shoulder"], KP["right_shoulder"]) if seen[j]]
    if ids:
        p = kp[ids, :2].mean(axis=0)
        return float(p[0]), float(p[1])
    return float((box[0] + box[2]) / 2), float(box[1] + 0.1 * (box[3] - box[1]))


def facing_offset(head_xy: tuple[float, float], yaw_deg: float, polygon: npt.ArrayLike) -> tuple[float, bool]:
    """Angle (degrees, >= 0) between the facing direction and the polygon's angular extent as seen
    from the head (0 when the line of sight hits the polygon), and whether the head is inside it.
    Inside, the offset is how far the face is from pointing away from the camera
    (``max(0, 90 - |yaw|)``), by the overlap rule in the module docstring."""
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    h = np.asarray(head_xy, dtype=np.float64)
    if points_in_polygon(h[None], poly)[0]:
        return max(0.0, 90.0 - abs(yaw_deg)), True
    d = poly - h
    angles = np.degrees(np.arctan2(d[:, 0], d[:, 1]))  # same convention as yaw: 0 = +y, 90 = +x
    c = poly.mean(axis=0) - h
    centre = math.degrees(math.atan2(c[0], c[1]))
    rel = np.array([angle_diff(a, centre) for a in angles])
    lo, hi = float(rel.min()), float(rel.max())
    y = angle_diff(yaw_deg, centre)
    if lo <= y <= hi:
        return 0.0, False
    return min(abs(angle_diff(y, lo)), abs(angle_diff(y, hi))), False


@dataclass(frozen=True, slots=True)
class AttentionStart:
    subject: int
    zone_id: str
    start_pts: float
    yaw_deg: float


@dataclass(frozen=True, slots=True)
class AttentionEpisode:
    subject: int
    zone_id: str
    start_pts: float
    end_pts: float
    mean_yaw_deg: float
    mean_offset_deg: float
    reached: bool
    engaged: bool

    @property
    def duration_s(self) -> float:
        return self.end_pts - self.start_pts


@dataclass(slots=True)
class _Episode:
    first: float
    last: float
    active: bool = False
    off_since: float | None = None
    yaw_sum_sin: float = 0.0
    yaw_sum_cos: float = 0.0
    offset_sum: float = 0.0
    frames: int = 0
    reached: bool = False


@dataclass(slots=True)
class _Motion:
    centre: npt.NDArray[np.float64]
    pts: float
    speed: float | None = None


class AttentionTracker:
    """Attention state per (subject, zone) for one camera's shelf and display zones."""

    def __init__(self, zones: Sequence[ZoneConfig], cfg: AttentionConfig, min_visibility: float = 0.5) -> None:
        self.cfg = cfg
        self.min_visibility = min_visibility
        self.zones = list(zones)
        self._polys = [np.asarray(z.points, dtype=np.float64) for z in self.zones]
        self._contours = [p.astype(np.float32).reshape(-1, 1, 2) for p in self._polys]
        self._camera_facing = set(cfg.camera_facing_zones)
        self._kinds = {z.id: z.kind for z in self.zones}
        self._episodes: dict[tuple[int, str], _Episode] = {}
        self._motion: dict[int, _Motion] = {}
        self.last_orientations: dict[int, Orientation] = {}

    def _speed(self, subject: int, box: npt.NDArray[np.float64], pts: float) -> float | None:
        centre = (box[:2] + box[2:]) / 2
        height = max(1.0, float(box[3] - box[1]))
        m = self._motion.get(subject)
        if m is None or pts <= m.pts:
            self._motion[subject] = _Motion(centre, pts, None if m is None else m.speed)
            return None if m is None else m.speed
        dt = pts - m.pts
        inst = float(np.hypot(*(centre - m.centre))) / height / dt
        tau = self.cfg.speed_smoothing_s
        speed = inst if m.speed is None or tau <= 0 else m.speed + (1.0 - math.exp(-dt / tau)) * (inst - m.speed)
        self._motion[subject] = _Motion(centre, pts, speed)
        return speed

    def target(
        self, orientation: Orientation, head: tuple[float, float], feet: tuple[float, float]
    ) -> tuple[str, float] | None:
        """The zone this person faces (nearest along the image), with the angular offset."""
        best: tuple[float, float, str] | None = None
        for zone, poly, contour in zip(self.zones, self._polys, self._contours, strict=True):
            if zone.id in self._camera_facing:
                if not points_in_polygon(np.asarray([feet]), poly)[0]:
                    continue
                off, dist = abs(orientation.yaw_deg), 0.0
                if off > self.cfg.max_angle_deg:
                    continue
            else:
                off, inside = facing_offset(head, orientation.yaw_deg, poly)
                if off > self.cfg.max_angle_deg:
                    continue
                dist = 0.0 if inside else -float(cv2.pointPolygonTest(contour, head, True))
            cand = (dist, off, zone.id)
            if best is None or cand[:2] < best[:2]:
                best = cand
        return None if best is None else (best[2], best[1])

    def mark_reach(self, subject: int, zone_id: str) -> None:
        """A reach by ``subject`` into ``zone_id`` is in progress: flag the attention episode."""
        ep = self._episodes.get((subject, zone_id))
        if ep is not None:
            ep.reached = True

    def update(
        self, subjects: npt.ArrayLike, keypoints: npt.ArrayLike | None, boxes: npt.ArrayLike, pts: float
    ) -> tuple[list[AttentionStart], list[AttentionEpisode]]:
        subj = np.asarray(subjects, dtype=np.int64).reshape(-1)
        bxs = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if len(bxs) != len(subj):
            raise ValueError(f"{len(subj)} subjects but {len(bxs)} boxes")
        kps = np.zeros((len(subj), NUM_KEYPOINTS, 3)) if keypoints is None else np.asarray(keypoints, np.float64)
        attending: dict[tuple[int, str], tuple[float, float]] = {}  # key -> (yaw, offset)
        known: set[int] = set()
        self.last_orientations = {}
        for i, sid in enumerate(subj.tolist()):
            speed = self._speed(sid, bxs[i], pts)
            ori = estimate_orientation(kps[i], self.min_visibility)
            self.last_orientations[sid] = ori
            if ori.confidence < self.cfg.min_confidence or speed is None:
                continue  # orientation or motion unknown: hold whatever state there is
            known.add(sid)
            if speed > self.cfg.max_speed:
                continue
            head = head_point(kps[i], bxs[i], self.min_visibility)
            feet = (float((bxs[i, 0] + bxs[i, 2]) / 2), float(bxs[i, 3]))
            tgt = self.target(ori, head, feet)
            if tgt is not None:
                attending[(sid, tgt[0])] = (ori.yaw_deg, tgt[1])
        for key in attending:
            if key not in self._episodes:
                self._episodes[key] = _Episode(first=pts, last=pts)
        started: list[AttentionStart] = []
        ended: list[AttentionEpisode] = []
        for key in list(self._episodes):
            ep = self._episodes[key]
            if key in attending:
                yaw, off = attending[key]
                ep.last = pts
                ep.off_since = None
                ep.frames += 1
                ep.yaw_sum_sin += math.sin(math.radians(yaw))
                ep.yaw_sum_cos += math.cos(math.radians(yaw))
                ep.offset_sum += off
                if not ep.active and pts - ep.first >= self.cfg.enter_s:
                    ep.active = True
                    started.append(AttentionStart(key[0], key[1], ep.first, yaw))
                continue
            if key[0] in known and not ep.active:
                del self._episodes[key]  # seen, and not attending: a pending episode is dropped
                continue
            if ep.off_since is None:
                ep.off_since = pts
            if pts - ep.off_since >= self.cfg.exit_s or pts - ep.last > self.cfg.exit_s:
                done = self._finish(key, ep)
                if done is not None:
                    ended.append(done)
        for sid in [s for s, m in self._motion.items() if pts - m.pts > max(5.0, 4 * self.cfg.exit_s)]:
            del self._motion[sid]
        return started, ended

    def _finish(self, key: tuple[int, str], ep: _Episode) -> AttentionEpisode | None:
        del self._episodes[key]
        if not ep.active:
            return None
        n = max(1, ep.frames)
        return AttentionEpisode(
            subject=key[0],
            zone_id=key[1],
            start_pts=ep.first,
            end_pts=ep.last,
            mean_yaw_deg=math.degrees(math.atan2(ep.yaw_sum_sin, ep.yaw_sum_cos)),
            mean_offset_deg=ep.offset_sum / n,
            reached=ep.reached,
            engaged=ep.reached and self._kinds.get(key[1]) == ZoneKind.DISPLAY,
        )

    def close(self) -> list[AttentionEpisode]:
        out = [e for key in list(self._episodes) if (e := self._finish(key, self._episodes[key])) is not None]
        self._motion.clear()
        return out

    def forget(self, subjects: Iterable[int]) -> list[AttentionEpisode]:
        gone = set(subjects)
        out = [
            e
            for key in list(self._episodes)
            if key[0] in gone and (e := self._finish(key, self._episodes[key])) is not None
        ]
        for sid in gone:
            self._motion.pop(sid, None)
        return out
