"""Face alignment for the expression model: level the eyes, crop as the model was trained, grey.

mini-Xception was trained on FER2013, whose 48x48 faces are tight, upright crops (forehead to
chin, cheek to cheek) scaled to 64x64 for this network. A shopper's head is rarely upright and a
detector box is not framed like FER2013, so each face is mapped with one similarity transform
(rotation by the eye line, scale from the detector box times a margin, centred on the box) straight
from the frame into a 64x64 crop: one resampling, no intermediate full-frame copy. The margin and
vertical offset defaults were chosen on half of CK+48 (see ``bench/expressions.py`` and
docs/EMOTION.md) and the other half reports the result.

Crops exist only in the arrays returned here; nothing is written anywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

EXPRESSION_INPUT = 64
"""Side of the mini-Xception input (FER2013's 48 px crops scaled up)."""


@dataclass(frozen=True, slots=True)
class AlignParams:
    """How a face box becomes a crop.

    ``margin``: crop side = margin x face size (the mean of box width and height); BlazeFace boxes
    run from the brows to the chin, FER2013 crops a little wider. ``shift_y``: the crop centre is
    moved down (positive) by this fraction of the face size. ``rotate``: level the eye line (off
    for the unaligned baseline).
    """

    margin: float = 1.0
    shift_y: float = 0.0
    rotate: bool = True
    out_size: int = EXPRESSION_INPUT

    def __post_init__(self) -> None:
        if not 0.3 <= self.margin <= 4.0:
            raise ValueError(f"margin must be in [0.3, 4], got {self.margin}")
        if not -1.0 <= self.shift_y <= 1.0:
            raise ValueError(f"shift_y must be in [-1, 1], got {self.shift_y}")
        if not 8 <= self.out_size <= 1024:
            raise ValueError(f"out_size must be in [8, 1024], got {self.out_size}")


def eye_angle(right_eye: npt.ArrayLike, left_eye: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Roll of each face in degrees: the angle of the line from the subject's right eye (image
    left) to the left eye (image right), positive when it goes down to the right in image
    coordinates (y down), i.e. the head is tilted clockwise as seen on screen."""
    r = np.asarray(right_eye, dtype=np.float64).reshape(-1, 2)
    le = np.asarray(left_eye, dtype=np.float64).reshape(-1, 2)
    d = le - r
    return np.asarray(np.degrees(np.arctan2(d[:, 1], d[:, 0])))


def alignment_matrices(
    face_xyxy: npt.ArrayLike,
    right_eye: npt.ArrayLike | None,
    left_eye: npt.ArrayLike | None,
    params: AlignParams = AlignParams(),
) -> npt.NDArray[np.float64]:
    """(N, 2, 3) affine maps from frame pixels to ``out_size`` crop pixels, one per face.

    The crop is the square of side ``margin x face size`` centred on the box centre (moved down by
    ``shift_y``), rotated so the eye line is horizontal when ``params.rotate`` and eyes are given.
    """
    boxes = np.asarray(face_xyxy, dtype=np.float64).reshape(-1, 4)
    n = len(boxes)
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    size = (bw + bh) / 2
    if np.any(~np.isfinite(boxes)) or np.any(bw <= 0) or np.any(bh <= 0):
        raise ValueError("face boxes must be finite with positive size")
    if params.rotate and right_eye is not None and left_eye is not None:
        angles = eye_angle(right_eye, left_eye)
        if len(angles) != n:
            raise ValueError(f"{len(angles)} eye pairs for {n} faces")
    else:
        angles = np.zeros(n)
    out = params.out_size
    mats = np.zeros((n, 2, 3))
    for i in range(n):
        cx = (boxes[i, 0] + boxes[i, 2]) / 2
        cy = (boxes[i, 1] + boxes[i, 3]) / 2 + params.shift_y * size[i]
        scale = out / (params.margin * size[i])
        m = cv2.getRotationMatrix2D((float(cx), float(cy)), float(angles[i]), float(scale))
        m[0, 2] += out / 2 - cx
        m[1, 2] += out / 2 - cy
        mats[i] = m
    return mats


def warp_faces(
    gray: npt.NDArray[np.uint8], matrices: npt.NDArray[np.float64], out_size: int = EXPRESSION_INPUT
) -> npt.NDArray[np.uint8]:
    """Apply each alignment matrix to a greyscale frame: (N, out, out) uint8 crops.

    A face much larger than the crop (a shopper close to the camera) is first shrunk with area
    averaging around its own region: a single bilinear warp would skip pixels and alias the fine
    texture (teeth, brow furrows) the classifier looks at. Outside the frame is edge-replicated,
    so a face cut by the frame border does not get a black bar the model never saw in training.
    """
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"expected an HxW uint8 greyscale image, got shape={gray.shape} dtype={gray.dtype}")
    n = len(matrices)
    crops = np.empty((n, out_size, out_size), np.uint8)
    h, w = gray.shape
    for i in range(n):
        m = matrices[i]
        scale = math.hypot(m[0, 0], m[0, 1])
        src = gray
        m_use = m
        if scale < 0.5:
            # the region of the frame that lands in the crop (its inverse-mapped corners)
            inv = cv2.invertAffineTransform(m)
            corners = np.array([[0, 0, 1], [out_size, 0, 1], [0, out_size, 1], [out_size, out_size, 1]], float)
            pts = corners @ inv.T
            x0 = max(math.floor(pts[:, 0].min()) - 2, 0)
            y0 = max(math.floor(pts[:, 1].min()) - 2, 0)
            x1 = min(math.ceil(pts[:, 0].max()) + 2, w)
            y1 = min(math.ceil(pts[:, 1].max()) + 2, h)
            if x1 - x0 >= 2 and y1 - y0 >= 2:
                f = 2 * scale  # shrink to twice the final resolution, then warp the rest
                region = gray[y0:y1, x0:x1]
                rw, rh = max(1, round((x1 - x0) * f)), max(1, round((y1 - y0) * f))
                src = np.asarray(cv2.resize(region, (rw, rh), interpolation=cv2.INTER_AREA), np.uint8)
                fx, fy = rw / (x1 - x0), rh / (y1 - y0)
                # region pixel (u, v) = ((x - x0) * fx, (y - y0) * fy); compose m with its inverse
                to_frame = np.array([[1 / fx, 0, x0], [0, 1 / fy, y0], [0, 0, 1]])
                m_use = m @ to_frame
        crops[i] = cv2.warpAffine(
            src, m_use, (out_size, out_size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    return crops


def to_model_input(crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """(N, H, W) uint8 greyscale crops to the (N, H, W, 1) float32 tensor mini-Xception expects:
    ``(x / 255 - 0.5) * 2``, the ``fer`` package's preprocessing."""
    c = np.asarray(crops)
    if c.ndim != 3 or c.dtype != np.uint8:
        raise ValueError(f"expected (N, H, W) uint8 crops, got shape={c.shape} dtype={c.dtype}")
    return (c.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0))[..., None]


def align_faces(
    image_bgr: npt.NDArray[np.uint8],
    face_xyxy: npt.ArrayLike,
    right_eye: npt.ArrayLike | None,
    left_eye: npt.ArrayLike | None,
    params: AlignParams = AlignParams(),
    gray: npt.NDArray[np.uint8] | None = None,
) -> npt.NDArray[np.uint8]:
    """Aligned greyscale crops (N, out, out) uint8 for faces of one BGR frame. Pass ``gray`` when
    the caller already has the greyscale frame (converted once per frame, not once per face)."""
    mats = alignment_matrices(face_xyxy, right_eye, left_eye, params)
    if gray is None:
        # convert only the part of the frame the crops read from (a 1080p frame with two faces
        # would otherwise spend more time in the colour conversion than in the classifier)
        h, w = image_bgr.shape[:2]
        out = params.out_size
        corners = np.array([[0, 0, 1], [out, 0, 1], [0, out, 1], [out, out, 1]], float)
        pts = np.concatenate([corners @ cv2.invertAffineTransform(m).T for m in mats]) if len(mats) else None
        if pts is None:
            return np.zeros((0, out, out), np.uint8)
        x0 = min(max(math.floor(pts[:, 0].min()) - 2, 0), w - 1)
        y0 = min(max(math.floor(pts[:, 1].min()) - 2, 0), h - 1)
        x1 = max(min(math.ceil(pts[:, 0].max()) + 2, w), x0 + 1)
        y1 = max(min(math.ceil(pts[:, 1].max()) + 2, h), y0 + 1)
        gray = np.asarray(cv2.cvtColor(image_bgr[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY), np.uint8)
        mats = mats.copy()
        mats[:, :, 2] += mats[:, :, :2] @ np.array([x0, y0], float)
    return warp_faces(np.asarray(gray, np.uint8), mats, params.out_size)


def plain_crop(gray_face: npt.NDArray[np.uint8], out_size: int = EXPRESSION_INPUT) -> npt.NDArray[np.uint8]:
    """The unaligned baseline: a whole (already cropped) greyscale face image resized to the model
    input, as the ``fer`` package and most tutorials feed it."""
    if gray_face.ndim != 2:
        raise ValueError(f"expected a greyscale image, got shape {gray_face.shape}")
    return np.asarray(cv2.resize(gray_face, (out_size, out_size), interpolation=cv2.INTER_AREA), np.uint8)
