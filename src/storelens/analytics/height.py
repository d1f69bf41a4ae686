"""Standing body height on a calibrated camera, from the floor homography alone.

Buying units band children out by height (issue 20), and a height needs a vertical scale that the
image -> floor homography does not state outright. It does imply one: the homography is
``K [r1 r2 t]`` of a pinhole camera, and with square pixels, no skew and the principal point at
the frame centre (true of every CCTV camera that is not a crop) the two rotation constraints
``r1 . r2 = 0`` and ``|r1| = |r2|`` fix the focal length (Zhang's plane calibration with one view).
That gives the full projection, so the image point of "1 m above this floor point" is known, and a
person's height is the height above their feet point whose projection is the top of their box.

Limits, which make :func:`camera_from_homography` return None rather than a wrong number: a camera
looking straight down (no perspective, the focal length is unobservable) and a homography whose
implied focal length is not positive (calibration points that do not come from a flat floor).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from storelens.core.geometry import apply_homography

__all__ = ["FloorCamera", "HeightSamples", "camera_from_homography", "measurable_rows"]

MIN_SAMPLES = 5
"""Frames of a visit with a usable head and feet before it gets a height (one frame is noise)."""
MAX_SAMPLES = 256
"""Samples kept per visit; beyond, every other one is dropped (the median barely moves)."""
_MEMORY = 4096
"""Subjects whose samples are kept until their visit ends (oldest dropped beyond)."""
PLAUSIBLE_M = (0.5, 2.4)
"""Heights outside this are a box that is not a standing person (a crouch, two people, a cart)."""

_MIN_TILT = 0.05
"""Below this |r3 . optical axis| deviation from straight down, the focal length is unobservable."""


@dataclass(frozen=True, slots=True)
class FloorCamera:
    """A pinhole camera placed over the floor: world x, y = floor metres, the third axis up."""

    K: npt.NDArray[np.float64]  # 3x3 intrinsics
    R: npt.NDArray[np.float64]  # columns: floor x, floor y, up, in camera coordinates
    t: npt.NDArray[np.float64]  # floor origin in camera coordinates
    floor_from_image: npt.NDArray[np.float64]  # the calibration homography (image -> floor)

    @property
    def height_m(self) -> float:
        """Camera height above the floor."""
        return float(-(self.R.T @ self.t)[2])

    def project(self, xyz: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """World points (N, 3) -> image pixels (N, 2)."""
        p = np.asarray(xyz, dtype=np.float64).reshape(-1, 3) @ self.R.T + self.t
        q = p @ self.K.T
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(q[:, :2] / q[:, 2:3], dtype=np.float64)

    def heights(self, feet_px: npt.ArrayLike, head_px: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Per person, the height above their feet point (on the floor) whose image is ``head_px``.

        The image row of ``F + h up`` is a ratio of two linear functions of ``h``; solved for the
        head's row (``head_px`` x is not used). NaN where the feet are not on the
        visible floor or the head is below the feet."""
        feet = np.asarray(feet_px, dtype=np.float64).reshape(-1, 2)
        head = np.asarray(head_px, dtype=np.float64).reshape(-1, 2)
        floor = apply_homography(self.floor_from_image, feet)
        base = np.column_stack([floor, np.zeros(len(floor))]) @ self.R.T + self.t  # camera coords of the feet
        q0 = base @ self.K.T  # (N, 3)
        qd = self.K @ self.R[:, 2]  # image direction of "up", same for everyone
        # the row of the head only: a box's top edge says how high the head is, not where along
        # it the head sits (the image of the vertical through the feet leans off-centre)
        a_v = qd[1] - head[:, 1] * qd[2]
        b_v = head[:, 1] * q0[:, 2] - q0[:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            h = b_v / a_v
        h = np.where(np.isfinite(h) & (base[:, 2] > 0) & (h > 0), h, np.nan)
        return np.asarray(h, dtype=np.float64)


def camera_from_homography(floor_from_image: npt.ArrayLike, frame_size: tuple[int, int]) -> FloorCamera | None:
    """The camera implied by an image -> floor homography and the frame size (principal point at
    its centre), or None when the view does not determine it (see the module docstring)."""
    h_if = np.asarray(floor_from_image, dtype=np.float64)
    w, hgt = frame_size
    cx, cy = w / 2.0, hgt / 2.0
    g = np.linalg.inv(h_if)  # floor -> image
    g = np.array([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]]) @ g  # principal point to 0
    g1, g2 = g[:, 0], g[:, 1]
    # r1 = (g1x/f, g1y/f, g1z) up to scale; the two constraints are linear in w = 1/f^2
    a = np.array([g1[0] * g2[0] + g1[1] * g2[1], g1[0] ** 2 + g1[1] ** 2 - g2[0] ** 2 - g2[1] ** 2])
    b = np.array([g1[2] * g2[2], g1[2] ** 2 - g2[2] ** 2])
    den = float(a @ a)
    if den <= 0:
        return None
    inv_f2 = -float(a @ b) / den
    if not np.isfinite(inv_f2) or inv_f2 <= 0:
        return None
    f = 1.0 / np.sqrt(inv_f2)
    if not 0.05 * max(w, hgt) <= f <= 50 * max(w, hgt):
        return None
    k = np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])
    m = np.diag([1 / f, 1 / f, 1.0]) @ g  # = lambda [r1 r2 t]
    lam = 2.0 / (np.linalg.norm(m[:, 0]) + np.linalg.norm(m[:, 1]))
    m = m * lam
    # the floor must be in front of the camera: a floor point has positive depth
    probe = apply_homography(h_if, np.array([[cx, cy * 1.5]]))[0]
    if (m @ np.array([probe[0], probe[1], 1.0]))[2] < 0:
        m = -m
    r12 = m[:, :2]
    u, _, vt = np.linalg.svd(r12, full_matrices=False)
    r12 = u @ vt  # nearest orthonormal pair
    r3 = np.cross(r12[:, 0], r12[:, 1])
    t = m[:, 2]
    # "up" is the side of the floor the camera is on (plans drawn y-down make x cross y point down)
    centre_z = -float(r3 @ t)
    if centre_z < 0:
        r3 = -r3
    if abs(float(r3[2])) > 1 - _MIN_TILT**2 / 2:
        return None  # looking straight down: no perspective to measure with
    return FloorCamera(k, np.column_stack([r12, r3]), t, h_if)


def measurable_rows(
    xyxy: npt.ArrayLike, feet_source: npt.ArrayLike, frame_size: tuple[int, int], margin_px: float = 2.0
) -> npt.NDArray[np.bool_]:
    """Rows whose whole body is in view: the box touches neither the top nor the bottom of the
    frame and the feet are seen (box bottom or ankles), not extrapolated from hips or aspect."""
    from storelens.analytics.floor import FEET_ANKLES, FEET_BOX

    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    src = np.asarray(feet_source)
    h = float(frame_size[1])
    seen = (src == FEET_BOX) | (src == FEET_ANKLES)
    return np.asarray(seen & (boxes[:, 1] > margin_px) & (boxes[:, 3] < h - margin_px), dtype=bool)


class HeightSamples:
    """Per-subject height samples over a visit; :meth:`take` gives their median when the visit ends.

    The median, not the mean: a visit mixes standing frames with bending to a low shelf, a box
    that merged with a neighbour for a moment, or a head cut by a shelf edge, and those are a
    minority that would drag a mean down or up."""

    def __init__(self) -> None:
        self._samples: OrderedDict[int, list[float]] = OrderedDict()

    def add(self, subjects: npt.ArrayLike, heights_m: npt.ArrayLike) -> None:
        lo, hi = PLAUSIBLE_M
        for s, h in zip(np.asarray(subjects).tolist(), np.asarray(heights_m, dtype=np.float64).tolist(), strict=True):
            if not (lo <= h <= hi):  # NaN fails too
                continue
            got = self._samples.get(s)
            if got is None:
                got = self._samples[s] = []
                while len(self._samples) > _MEMORY:
                    self._samples.popitem(last=False)
            got.append(h)
            if len(got) > MAX_SAMPLES:
                del got[::2]

    def take(self, subject: int) -> float | None:
        """The visit's median height (None with fewer than :data:`MIN_SAMPLES`); forgets it."""
        got = self._samples.pop(subject, None)
        if not got or len(got) < MIN_SAMPLES:
            return None
        return round(float(np.median(got)), 3)
