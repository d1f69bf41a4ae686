"""Staff exclusion: shelf-fillers and cashiers are not shoppers.

Counting staff inflates visits, dwell and heat exactly where staff work (tills, stock rooms), so
subjects are flagged as staff and kept apart by either of two rules:

* **zones**: more than ``staff_zone_fraction`` of the subject's observed time is inside
  ``staff_only`` zones (after at least ``min_observed_s``, so a shopper who strays past a staff
  door for a second is not flagged);
* **uniform**: the torso's colour falls in a configured HSV range in at least
  ``min_frame_fraction`` of the checked sightings (at least 3 checks).

The colour check reads only a torso patch in memory and keeps two counters; nothing of the image is
stored.

A subject is a **shopper** only once every configured rule has had its evidence and none fired
(:meth:`StaffClassifier.shopper_flags`): the zone rule after ``min_observed_s`` of observation (when
the camera sees a staff_only zone), the uniform rule after three torso checks. Until then it is
*unknown*. Anything that must never touch staff (the expression model: EU AI Act Art. 5(1)(f)
forbids inferring the emotions of people at work) runs on shoppers only, so unknown means not read.
With no rule configured nobody can be told apart from staff, so nobody is a shopper.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from storelens.analytics.slots import SlotMap, grow
from storelens.config.behaviour import StaffConfig, UniformRule
from storelens.core.types import KP

__all__ = ["StaffClassifier", "classify_staff", "torso_boxes", "uniform_matches"]

MIN_UNIFORM_CHECKS = 3


def classify_staff(
    observed_s: float, staff_zone_s: float, uniform_hits: int, uniform_checks: int, cfg: StaffConfig
) -> str | None:
    """The reason a subject is staff ("zones" or "uniform"), or None for a shopper."""
    if observed_s >= cfg.min_observed_s and observed_s > 0 and staff_zone_s / observed_s > cfg.staff_zone_fraction:
        return "zones"
    rule = cfg.uniform
    if (
        rule is not None
        and uniform_checks >= MIN_UNIFORM_CHECKS
        and uniform_hits / uniform_checks >= rule.min_frame_fraction
    ):
        return "uniform"
    return None


def torso_boxes(
    xyxy: npt.NDArray[np.floating], keypoints: npt.NDArray[np.floating] | None, min_conf: float = 0.3
) -> npt.NDArray[np.int64]:
    """Torso rectangle per person: shoulders-to-hips from keypoints when all four are seen, else the
    box's 20-55 % height band, middle half of its width (where a uniform shirt is)."""
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    out = np.stack([b[:, 0] + 0.25 * w, b[:, 1] + 0.2 * h, b[:, 2] - 0.25 * w, b[:, 1] + 0.55 * h], axis=1)
    if keypoints is not None and len(b):
        kp = np.asarray(keypoints, dtype=np.float64).reshape(len(b), -1, 3)
        idx = [KP["left_shoulder"], KP["right_shoulder"], KP["left_hip"], KP["right_hip"]]
        pts = kp[:, idx]
        seen = (pts[:, :, 2] >= min_conf).all(axis=1)
        if seen.any():
            x0, x1 = pts[:, :, 0].min(axis=1), pts[:, :, 0].max(axis=1)
            y0, y1 = pts[:, :, 1].min(axis=1), pts[:, :, 1].max(axis=1)
            good = seen & (x1 - x0 >= 4) & (y1 - y0 >= 4)
            out[good] = np.stack([x0, y0, x1, y1], axis=1)[good]
    return np.round(out).astype(np.int64)


def uniform_matches(
    image: npt.NDArray[np.uint8],
    xyxy: npt.NDArray[np.floating],
    keypoints: npt.NDArray[np.floating] | None,
    rule: UniformRule,
) -> npt.NDArray[np.int8]:
    """Per person: 1 = torso in the uniform colour, 0 = not, -1 = torso not checkable (off-frame or tiny)."""
    boxes = torso_boxes(xyxy, keypoints)
    h, w = image.shape[:2]
    out = np.full(len(boxes), -1, dtype=np.int8)
    lo = np.asarray(rule.hsv_low, dtype=np.uint8)
    hi = np.asarray(rule.hsv_high, dtype=np.uint8)
    for i, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 - x0 < 3 or y1 - y0 < 3:
            continue
        hsv = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2HSV)
        frac = float(np.count_nonzero(cv2.inRange(hsv, lo, hi))) / ((x1 - x0) * (y1 - y0))
        out[i] = 1 if frac >= rule.min_pixel_fraction else 0
    return out


_REASONS = (None, "zones", "uniform")


class StaffClassifier:
    """Accumulates per-subject evidence in slot arrays; once flagged a subject stays staff for the
    rest of its visit. ``last_flags`` holds the staff flag of each row of the last update."""

    def __init__(self, cfg: StaffConfig, zone_rule: bool = True) -> None:
        """``zone_rule``: whether the staff_only-zone rule can apply here (the camera sees such a
        zone); it then needs ``min_observed_s`` of evidence before a subject counts as a shopper."""
        self.cfg = cfg
        self.zone_rule = zone_rule
        self._slots = SlotMap()
        self._observed = np.zeros(0)
        self._zone_s = np.zeros(0)
        self._hits = np.zeros(0, dtype=np.int64)
        self._checks = np.zeros(0, dtype=np.int64)
        self._reason = np.zeros(0, dtype=np.int8)  # index into _REASONS
        self.last_flags: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self.last_shoppers: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)

    def update(
        self,
        subjects: npt.NDArray[np.int64],
        in_staff_zone: npt.NDArray[np.bool_],
        dt: float,
        uniform: npt.NDArray[np.int8] | None = None,
    ) -> list[int]:
        """Add one frame (``dt`` seconds since the previous one); returns newly flagged subjects."""
        subj_list = np.asarray(subjects).tolist()
        idx, _ = self._slots.lookup(subj_list)
        cap = self._slots.capacity
        if cap > len(self._observed):
            cap = max(cap, 2 * len(self._observed), 16)
            self._observed = grow(self._observed, cap, 0.0)
            self._zone_s = grow(self._zone_s, cap, 0.0)
            self._hits = grow(self._hits, cap, 0)
            self._checks = grow(self._checks, cap, 0)
            self._reason = grow(self._reason, cap, 0)
        # ids are unique within a frame, so buffered fancy-index adds are exact here
        self._observed[idx] += dt
        self._zone_s[idx[in_staff_zone]] += dt
        if uniform is not None:
            checked = uniform >= 0
            self._checks[idx[checked]] += 1
            self._hits[idx[checked]] += uniform[checked].astype(np.int64)
        cfg = self.cfg
        undecided = self._reason[idx] == 0
        obs = self._observed[idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            by_zone = (obs >= cfg.min_observed_s) & (obs > 0) & (self._zone_s[idx] / obs > cfg.staff_zone_fraction)
            by_uniform = np.zeros(len(idx), dtype=bool)
            if cfg.uniform is not None:
                checks = self._checks[idx]
                by_uniform = (checks >= MIN_UNIFORM_CHECKS) & (
                    self._hits[idx] / np.maximum(checks, 1) >= cfg.uniform.min_frame_fraction
                )
        new_zone = undecided & by_zone
        new_uniform = undecided & ~by_zone & by_uniform
        self._reason[idx[new_zone]] = 1
        self._reason[idx[new_uniform]] = 2
        self.last_flags = self._reason[idx] > 0
        self.last_shoppers = self._shoppers(idx)
        return [subj_list[i] for i in (new_zone | new_uniform).nonzero()[0].tolist()]

    @property
    def has_rules(self) -> bool:
        """Whether any staff rule can fire here (without one, nobody is a known shopper)."""
        return self.zone_rule or self.cfg.uniform is not None

    def _shoppers(self, idx: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        ok = (self._reason[idx] == 0) & self.has_rules
        if self.zone_rule:
            ok &= self._observed[idx] >= self.cfg.min_observed_s
        if self.cfg.uniform is not None:
            ok &= self._checks[idx] >= MIN_UNIFORM_CHECKS
        return np.asarray(ok, dtype=bool)

    def is_shopper(self, subject: int) -> bool:
        """True once the staff rules have had their evidence and none fired (never before)."""
        slot = self._slots.get(subject)
        return slot is not None and bool(self._shoppers(np.array([slot], np.int64))[0])

    def is_staff(self, subject: int) -> bool:
        slot = self._slots.get(subject)
        return slot is not None and bool(self._reason[slot] > 0)

    def staff(self) -> dict[int, str]:
        """Flagged subjects and why."""
        out: dict[int, str] = {}
        for slot in np.flatnonzero(self._reason[: self._slots.capacity] > 0).tolist():
            subject = self._slots.subject_of[slot]
            reason = _REASONS[int(self._reason[slot])]
            if subject is not None and reason is not None:
                out[subject] = reason
        return out

    def observed(self) -> dict[int, float]:
        return {s: float(self._observed[i]) for i, s in enumerate(self._slots.subject_of) if s is not None}
