"""Which way a shopper faces, from the COCO head and shoulder keypoints of one camera view.

There is no face model here on purpose: the 17 body keypoints YOLO-pose already gives are enough to
tell *which side of the head the camera sees*, and that is what attention needs (is the shopper
facing the shelf or the aisle?), at no extra inference cost and with no face crop at all.

Convention (image plane, one camera): ``yaw_deg`` is 0 when the person faces the camera, +90 when
they face the right edge of the image, -90 the left edge, ±180 when they face away from the
camera. The matching unit vector in image pixels is ``(sin yaw, cos yaw)`` (x right, y down): for
a camera above head height "toward the camera" is roughly "down the image". It is a 2-D estimate,
good to tens of degrees, not a calibrated 3-D head pose.

How the head cues map to yaw (see ``docs/INTERACTION.md`` for the derivation):

* nose and both ears (or both eyes) visible: a frontal view; the nose's offset from the midpoint
  between the ears, as a share of half the ear distance, is ``sin(yaw)`` (for the eyes, which sit
  less far from the head's axis than the nose tip, ``tan(yaw) * 0.8``);
* nose and one ear: a profile; the nose is on the side the person faces;
* no face, ears only: a back view; with one ear only, the *right* ear is visible exactly when the
  person faces somewhere in the image's right half (yaw in (0°, 180°)), the left ear the left half;
* no head at all: the shoulders: a person's left shoulder is on the image's right when they face
  the camera and on its left when they face away; their projected width says how square-on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from storelens.core.types import KP, NUM_KEYPOINTS

__all__ = ["Orientation", "angle_diff", "estimate_orientation", "estimate_orientations", "yaw_vector"]

_EYE_NOSE_DEPTH = 0.8
"""(nose-tip depth - eye depth from the head's vertical axis) / half the eye distance: turns the
nose-to-eye-midpoint offset into ``tan(yaw)``. Adult head averages, good to ~15°."""

_PROFILE_YAW = 85.0
_THREE_QUARTER_YAW = 60.0
_BACK_ONE_EAR_YAW = 130.0
_SHOULDER_SQUARE_RATIO = 0.65
"""Projected shoulder width / torso length of a person square to the camera (adult average); a
narrower projection means the body is turned toward a profile."""


@dataclass(frozen=True, slots=True)
class Orientation:
    """One person's facing direction in the image plane.

    ``confidence`` is 0..1 (keypoint visibility times how informative the cue is); ``source`` says
    which cue gave it: "face" (nose between ears/eyes), "profile", "back" (ears, no face),
    "shoulders", or "none" (nothing visible; ``yaw_deg`` is then meaningless and confidence 0).
    ``body_yaw_deg`` is the shoulders' own estimate when they are visible (front/back is known,
    the turn direction is borrowed from the head when there is one).
    """

    yaw_deg: float
    confidence: float
    source: str
    body_yaw_deg: float | None = None

    @property
    def vector(self) -> tuple[float, float]:
        return yaw_vector(self.yaw_deg)

    @property
    def label(self) -> str:
        """Coarse direction for overlays and logs: toward / right / away / left (of the image)."""
        if self.source == "none":
            return "unknown"
        a = abs(self.yaw_deg)
        if a <= 45:
            return "toward"
        if a >= 135:
            return "away"
        return "right" if self.yaw_deg > 0 else "left"


def yaw_vector(yaw_deg: float) -> tuple[float, float]:
    """Unit vector in image pixels (x right, y down) of a yaw in the convention above."""
    r = math.radians(yaw_deg)
    return math.sin(r), math.cos(r)


def angle_diff(a_deg: float, b_deg: float) -> float:
    """Signed smallest difference a - b, in (-180, 180]."""
    d = (a_deg - b_deg + 180.0) % 360.0 - 180.0
    return 180.0 if d == -180.0 else d


def _wrap(yaw: float) -> float:
    return angle_diff(yaw, 0.0)


def _lateral_offset(nose: npt.NDArray[np.float64], a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    """Nose offset from the midpoint of a pair (ears or eyes) along the pair's axis, as a share of
    half the pair distance, positive toward the image's right. Projecting on the pair's own axis
    (rather than on image x) keeps a tilted (rolled) head from reading as a turned one."""
    axis = a - b
    length = float(np.hypot(axis[0], axis[1]))
    if length < 1e-6:
        return 0.0
    u = axis / length
    if u[0] < 0:
        u = -u
    mid = (a + b) / 2.0
    return float(np.dot(nose - mid, u) / (length / 2.0))


def _head_yaw(kp: npt.NDArray[np.float64], seen: npt.NDArray[np.bool_]) -> tuple[float, float, str] | None:
    nose, leye, reye, lear, rear = (KP[n] for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear"))
    xy = kp[:, :2]
    vis = kp[:, 2]
    if seen[nose] and seen[lear] and seen[rear]:
        r = _lateral_offset(xy[nose], xy[lear], xy[rear])
        yaw = math.degrees(math.asin(max(-1.0, min(1.0, r))))
        return yaw, float(np.mean(vis[[nose, lear, rear]])), "face"
    if seen[nose] and seen[leye] and seen[reye]:
        r = _lateral_offset(xy[nose], xy[leye], xy[reye])
        yaw = math.degrees(math.atan(r / _EYE_NOSE_DEPTH))
        yaw = max(-_PROFILE_YAW, min(_PROFILE_YAW, yaw))
        return yaw, float(np.mean(vis[[nose, leye, reye]])), "face"
    one_ear = seen[lear] ^ seen[rear]
    if seen[nose] and one_ear:
        ear = lear if seen[lear] else rear
        dx = float(xy[nose, 0] - xy[ear, 0])
        # the visible ear itself says which half: the right ear shows when facing image-right
        ear_sign = 1.0 if ear == rear else -1.0
        sign = math.copysign(1.0, dx) if abs(dx) > 1e-6 else ear_sign
        mag = _PROFILE_YAW
        conf = float(np.mean(vis[[nose, ear]])) * (0.9 if sign == ear_sign else 0.5)
        return sign * mag, conf, "profile"
    face_seen = bool(seen[nose] or seen[leye] or seen[reye])
    if not face_seen and (seen[lear] or seen[rear]):
        if seen[lear] and seen[rear]:
            return 180.0, 0.7 * float(np.mean(vis[[lear, rear]])), "back"
        if seen[rear]:
            return _BACK_ONE_EAR_YAW, 0.6 * float(vis[rear]), "back"
        return -_BACK_ONE_EAR_YAW, 0.6 * float(vis[lear]), "back"
    if seen[nose] and (seen[leye] ^ seen[reye]):
        eye = leye if seen[leye] else reye
        dx = float(xy[nose, 0] - xy[eye, 0])
        sign = math.copysign(1.0, dx) if abs(dx) > 1e-6 else (1.0 if eye == reye else -1.0)
        return sign * _THREE_QUARTER_YAW, 0.4 * float(np.mean(vis[[nose, eye]])), "profile"
    return None


def _body_yaw(
    kp: npt.NDArray[np.float64], seen: npt.NDArray[np.bool_], turn_hint: float | None
) -> tuple[float, float] | None:
    ls, rs, lh, rh = (KP[n] for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip"))
    if not (seen[ls] and seen[rs]):
        return None
    xy = kp[:, :2]
    width = float(xy[ls, 0] - xy[rs, 0])  # > 0: the person's left shoulder is on the image's right
    mid_sh = (xy[ls] + xy[rs]) / 2.0
    if seen[lh] and seen[rh]:
        torso = float(np.hypot(*(mid_sh - (xy[lh] + xy[rh]) / 2.0)))
    else:
        torso = abs(width) / _SHOULDER_SQUARE_RATIO
    if torso < 1e-6:
        return None
    square = min(1.0, abs(width) / (_SHOULDER_SQUARE_RATIO * torso))
    turn = math.degrees(math.acos(square))  # 0 = square on, 90 = profile
    sign = 1.0 if turn_hint is None or turn_hint >= 0 else -1.0
    yaw = sign * turn if width > 0 else sign * (180.0 - turn)
    # a square-on view is unambiguous; near a profile the front/back sign is a guess
    conf = float(np.mean(kp[[ls, rs], 2])) * 0.6 * square
    return _wrap(yaw), conf


def estimate_orientation(keypoints: npt.ArrayLike, min_visibility: float = 0.5) -> Orientation:
    """Facing direction of one person from their (17, 3) keypoints (x, y, visibility)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.shape != (NUM_KEYPOINTS, 3):
        raise ValueError(f"keypoints must have shape ({NUM_KEYPOINTS}, 3), got {kp.shape}")
    finite = np.asarray(np.isfinite(kp).all(axis=1), dtype=bool)
    seen = np.asarray(finite & (np.nan_to_num(kp[:, 2]) >= min_visibility), dtype=bool)
    kp = np.where(finite[:, None], kp, 0.0)
    head = _head_yaw(kp, seen)
    body = _body_yaw(kp, seen, None if head is None else head[0])
    body_yaw = None if body is None else body[0]
    if head is not None:
        return Orientation(_wrap(head[0]), max(0.0, min(1.0, head[1])), head[2], body_yaw)
    if body is not None:
        return Orientation(body[0], max(0.0, min(1.0, body[1])), "shoulders", body_yaw)
    return Orientation(0.0, 0.0, "none", None)


def estimate_orientations(keypoints: npt.ArrayLike, min_visibility: float = 0.5) -> list[Orientation]:
    """:func:`estimate_orientation` for every row of an (N, 17, 3) keypoint array."""
    kps = np.asarray(keypoints, dtype=np.float64)
    if kps.ndim != 3 or kps.shape[1:] != (NUM_KEYPOINTS, 3):
        raise ValueError(f"keypoints must have shape (N, {NUM_KEYPOINTS}, 3), got {kps.shape}")
    return [estimate_orientation(k, min_visibility) for k in kps]
