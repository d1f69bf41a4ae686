"""From camera pixels to the store floor: calibration, feet points and the floor plan.

Retail questions are asked in the floor plan ("how long do people stay in Electronics"), and only a
floor position lets two cameras agree that they see the same shopper. A camera looking at a flat
floor maps floor to image by a homography, which 4+ point pairs fix. Two things make that
practical:

* **Calibration that refuses bad input.** Three collinear points, a repeated point or a patch the
  size of a floor tile give a homography that fits the given points and is wildly wrong everywhere
  else. :func:`fit_homography` rejects those sets and reports the reprojection error per point, so
  a mistyped coordinate shows up as the one large error.
* **A feet point that survives occlusion.** The homography is only valid for points *on the
  floor*. The box's bottom edge is the feet when the feet are visible; when a shelf or the frame
  edge cuts the box, the ankles (pose keypoints), or the hips extended by a body proportion, give a
  far better floor contact point than the cut box bottom.

Floor coordinates are metres from the floor plan's top-left corner, x right and y down as the
plan is drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from storelens.config.cameras import CalibrationConfig, FloorPlanConfig
from storelens.config.store import StoreConfig
from storelens.core.geometry import apply_homography
from storelens.core.types import KP, Tracks

__all__ = [
    "FEET_ANKLES",
    "FEET_BOX",
    "FEET_BOX_EXTRAPOLATED",
    "FEET_HIPS",
    "Calibration",
    "CalibrationError",
    "FloorMapper",
    "FloorPlan",
    "estimate_feet",
    "fit_homography",
]

FEET_BOX = 0
"""Feet point is the bottom centre of the box (feet visible)."""
FEET_ANKLES = 1
"""Feet point from the ankle keypoints."""
FEET_HIPS = 2
"""Feet point extrapolated from hips and shoulders (legs hidden)."""
FEET_BOX_EXTRAPOLATED = 3
"""Box cut by the frame bottom and no usable keypoints: extended by a standing-person aspect ratio."""

MIN_FLOOR_AREA_M2 = 0.5
"""Calibration points must span at least this floor area; smaller patches extrapolate badly."""
MIN_IMAGE_AREA_PX2 = 400.0
STANDING_ASPECT = 2.6
"""Height / width of a standing adult's box, used only when the box is cut and no keypoints help."""


class CalibrationError(ValueError):
    """The point pairs cannot define a usable image → floor homography."""


@dataclass(frozen=True, slots=True)
class Calibration:
    """A fitted homography with its quality."""

    homography: npt.NDArray[np.float64]  # 3x3, image pixels -> floor metres
    image_points: npt.NDArray[np.float64]
    floor_points: npt.NDArray[np.float64]
    errors_m: npt.NDArray[np.float64]  # per point: |H(image) - floor| in metres
    rms_m: float

    def to_config(self) -> CalibrationConfig:
        return CalibrationConfig(
            image_points=[(float(x), float(y)) for x, y in self.image_points],
            floor_points=[(float(x), float(y)) for x, y in self.floor_points],
        )


def _check_point_set(pts: npt.NDArray[np.float64], what: str, min_area: float, unit: str) -> None:
    if not np.isfinite(pts).all():
        raise CalibrationError(f"{what} points must be finite numbers")
    d = np.hypot(pts[:, None, 0] - pts[None, :, 0], pts[:, None, 1] - pts[None, :, 1])
    d[np.tril_indices(len(pts))] = np.inf
    if (d < 1e-6 * max(1.0, float(np.abs(pts).max()))).any():
        i, j = (int(k) for k in np.argwhere(d == d.min())[0])
        raise CalibrationError(f"{what} points {i + 1} and {j + 1} are the same point {pts[i].tolist()}")
    centred = pts - pts.mean(axis=0)
    sv = np.linalg.svd(centred, compute_uv=False)
    if sv[0] == 0 or sv[1] / sv[0] < 1e-3:
        raise CalibrationError(f"{what} points are (nearly) on one line; spread them over the floor area")
    hull = cv2.convexHull(pts.astype(np.float32))
    area = float(cv2.contourArea(hull))
    if area < min_area:
        raise CalibrationError(
            f"{what} points span only {area:.3g} {unit}; they must span at least {min_area:g} {unit} "
            "(pick points far apart, near the corners of the area you want to measure)"
        )
    if len(pts) == 4:
        for a, b, c in combinations(range(4), 3):
            (ux, uy), (vx, vy) = pts[b] - pts[a], pts[c] - pts[a]
            tri = abs(ux * vy - uy * vx) / 2
            if tri < 1e-3 * area:
                raise CalibrationError(
                    f"{what} points {a + 1}, {b + 1}, {c + 1} are collinear; with 4 pairs no three may be on a line"
                )


def fit_homography(
    image_points: npt.ArrayLike,
    floor_points: npt.ArrayLike,
    *,
    min_floor_area_m2: float = MIN_FLOOR_AREA_M2,
) -> Calibration:
    """Fit image → floor from 4+ pairs (least squares over all of them) and measure the fit.

    Raises :class:`CalibrationError` for fewer than 4 pairs, mismatched counts, repeated or
    collinear points, a too-small area, or points on both sides of the horizon.
    """
    img = np.asarray(image_points, dtype=np.float64)
    flr = np.asarray(floor_points, dtype=np.float64)
    if img.ndim != 2 or img.shape[1:] != (2,) or flr.ndim != 2 or flr.shape[1:] != (2,):
        raise CalibrationError("points must be lists of [x, y] pairs")
    if len(img) != len(flr):
        raise CalibrationError(f"{len(img)} image points but {len(flr)} floor points; they must pair up")
    if len(img) < 4:
        raise CalibrationError(f"need at least 4 point pairs, got {len(img)}")
    _check_point_set(img, "image", MIN_IMAGE_AREA_PX2, "px²")
    _check_point_set(flr, "floor", min_floor_area_m2, "m²")
    found, _ = cv2.findHomography(img, flr, 0)
    if found is None or not np.isfinite(found).all() or abs(np.linalg.det(found)) < 1e-12:
        raise CalibrationError("no homography fits these points (check that the pairs correspond)")
    h: npt.NDArray[np.float64] = np.asarray(found, dtype=np.float64)
    if abs(h[2, 2]) > 1e-12:
        h = h / h[2, 2]
    w = img @ h[2, :2] + h[2, 2]
    if not ((w > 0).all() or (w < 0).all()):
        raise CalibrationError("the image points straddle the horizon of this homography; check the pairs' order")
    errors = np.hypot(*(apply_homography(h, img) - flr).T)
    return Calibration(
        homography=h,
        image_points=img,
        floor_points=flr,
        errors_m=errors,
        rms_m=float(np.sqrt(np.mean(errors**2))),
    )


def estimate_feet(
    xyxy: npt.NDArray[np.floating],
    keypoints: npt.NDArray[np.floating] | None,
    frame_height: float | None = None,
    *,
    hip_to_floor_ratio: float = 1.7,
    min_keypoint_conf: float = 0.3,
    bottom_margin_px: float = 2.0,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    """Floor contact point per person, and which rule produced it (``FEET_*``).

    The box bottom is trusted unless the box touches the frame bottom (feet cut off). Keypoints,
    when the detector gives them, win in that order: ankles (the floor is a few cm below them);
    else hips + ``hip_to_floor_ratio`` x the shoulder→hip vector (follows a leaning body); else, for
    a cut box, the box extended to a standing aspect ratio.

    Keypoints are used whenever the ankles are confidently visible, not only for cut boxes: a box
    that ends at a shelf edge also "occludes" the feet, and the ankles tell the truth there.
    """
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    n = len(boxes)
    feet = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]], axis=1)
    source = np.full(n, FEET_BOX, dtype=np.int8)
    if n == 0:
        return feet, source
    cut = np.zeros(n, dtype=bool)
    if frame_height is not None:
        cut = boxes[:, 3] >= frame_height - bottom_margin_px
    if cut.any():
        w = boxes[:, 2] - boxes[:, 0]
        extended = np.maximum(boxes[:, 3], boxes[:, 1] + STANDING_ASPECT * w)
        feet[cut, 1] = extended[cut]
        source[cut] = FEET_BOX_EXTRAPOLATED
    if keypoints is None:
        return feet, source
    kp = np.asarray(keypoints, dtype=np.float64).reshape(n, -1, 3)

    def pair(a: str, b: str) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """Mean of the confidently seen ones of two keypoints, and whether any was seen."""
        pa, pb = kp[:, KP[a]], kp[:, KP[b]]
        va, vb = pa[:, 2] >= min_keypoint_conf, pb[:, 2] >= min_keypoint_conf
        cnt = va.astype(float) + vb.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (pa[:, :2] * va[:, None] + pb[:, :2] * vb[:, None]) / cnt[:, None]
        return mean, cnt > 0

    ankles, has_ankles = pair("left_ankle", "right_ankle")
    hips, has_hips = pair("left_hip", "right_hip")
    shoulders, has_shoulders = pair("left_shoulder", "right_shoulder")
    # Legs hidden behind a shelf leave the box ending near the hips rather than well below them:
    # extrapolate there too, as for a box cut by the frame bottom.
    torso = hips[:, 1] - shoulders[:, 1]
    with np.errstate(invalid="ignore"):
        legs_hidden = (torso > 0) & (boxes[:, 3] - hips[:, 1] < 0.5 * torso)
    use_hips = ~has_ankles & has_hips & has_shoulders & (cut | legs_hidden)
    if use_hips.any():
        est = hips + hip_to_floor_ratio * (hips - shoulders)
        feet[use_hips] = est[use_hips]
        source[use_hips] = FEET_HIPS
    feet[has_ankles] = ankles[has_ankles]
    source[has_ankles] = FEET_ANKLES
    return feet, source


class FloorMapper:
    """Places one camera's tracks on the store floor (``Tracks.floor_xy``, metres).

    Points the homography sends behind the camera (beyond the horizon) get NaN: they are not on
    the floor and must not land in a zone or a heat-map cell.
    """

    def __init__(self, calibration: CalibrationConfig | Calibration, *, hip_to_floor_ratio: float = 1.7) -> None:
        if isinstance(calibration, CalibrationConfig):
            calibration = fit_homography(calibration.image_points, calibration.floor_points)
        self.calibration = calibration
        self.homography = calibration.homography
        self.inverse: npt.NDArray[np.float64] = np.asarray(np.linalg.inv(self.homography), dtype=np.float64)
        self.hip_to_floor_ratio = hip_to_floor_ratio
        # Which side of the horizon the calibrated (visible floor) points are on.
        self._w_sign = float(np.sign(calibration.image_points[0] @ self.homography[2, :2] + self.homography[2, 2]))

    @classmethod
    def for_camera(cls, store: StoreConfig, camera_id: str) -> FloorMapper | None:
        """The camera's mapper, or None when it has no calibration."""
        cam = store.camera(camera_id)
        if cam.calibration is None:
            return None
        return cls(cam.calibration, hip_to_floor_ratio=store.behaviour.hip_to_floor_ratio)

    def to_floor(self, image_points: npt.ArrayLike) -> npt.NDArray[np.float64]:
        pts = np.asarray(image_points, dtype=np.float64).reshape(-1, 2)
        out = apply_homography(self.homography, pts)
        if len(pts):
            w = pts @ self.homography[2, :2] + self.homography[2, 2]
            out[w * self._w_sign <= 0] = np.nan
        return out

    def to_image(self, floor_points: npt.ArrayLike) -> npt.NDArray[np.float64]:
        return apply_homography(self.inverse, np.asarray(floor_points, dtype=np.float64))

    def feet(
        self, tracks: Tracks, frame_height: float | None = None
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]:
        return estimate_feet(tracks.xyxy, tracks.keypoints, frame_height, hip_to_floor_ratio=self.hip_to_floor_ratio)

    def map(self, tracks: Tracks, frame_height: float | None = None) -> Tracks:
        """Tracks with ``floor_xy`` filled (and ``data['feet_source']`` saying how feet were found)."""
        feet, source = self.feet(tracks, frame_height)
        floor = self.to_floor(feet).astype(np.float32)
        data = dict(tracks.data)
        data["feet_source"] = source
        return tracks.replace(floor_xy=floor, data=data)


@dataclass(frozen=True, slots=True)
class FloorPlan:
    """The floor plan's extent in metres and, when configured, its image (BGR)."""

    width_m: float
    height_m: float
    image: npt.NDArray[np.uint8] | None = None

    @classmethod
    def from_config(cls, store: StoreConfig) -> FloorPlan | None:
        if store.floor_plan is None:
            return None
        return cls.load(store.floor_plan, store.resolve_path)

    @classmethod
    def load(cls, cfg: FloorPlanConfig, resolve: Callable[[str], Path] = Path) -> FloorPlan:
        if cfg.image is None:
            assert cfg.width_m is not None and cfg.height_m is not None  # enforced by the schema
            return cls(cfg.width_m, cfg.height_m)
        path = resolve(cfg.image)
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(f"floor plan image {path} is missing or not an image")
        h_px, w_px = img.shape[:2]
        mpp = cfg.metres_per_pixel if cfg.metres_per_pixel is not None else float(cfg.width_m or 0) / w_px
        return cls(w_px * mpp, h_px * mpp, np.ascontiguousarray(img, dtype=np.uint8))
