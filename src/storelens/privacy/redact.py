"""The one redaction function every outgoing frame passes through.

Any frame that leaves the pipeline (annotated video, live view, snapshot, debug image) must be
produced by :func:`redact`. Heads are located from the pose keypoints (nose, eyes, ears) and, when
the keypoints are missing or too uncertain, the top of the person box is blurred instead: failing
towards blurring too much is the privacy-safe direction. Face boxes from a face detector, when the
caller has them, are blurred as well, and configured privacy-mask polygons are filled solid.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from storelens.core.types import KP

HEAD_POINTS = (KP["nose"], KP["left_eye"], KP["right_eye"], KP["left_ear"], KP["right_ear"])
SHOULDERS = (KP["left_shoulder"], KP["right_shoulder"])
BLOCKS_PER_SIDE = 4
"""Pixelation blocks across the shorter side of a blurred region."""
BLUR_SIDE = 48
"""Short side (px) at which a region's blur is computed (see blur_region)."""


def head_boxes(
    xyxy: npt.NDArray[np.float32],
    keypoints: npt.NDArray[np.float32] | None,
    min_visibility: float = 0.3,
    pad: float = 0.35,
) -> npt.NDArray[np.float32]:
    """One square head box per person (xyxy, frame pixels).

    With at least two visible head keypoints the box is centred on them and sized from their
    spread, the shoulder width and the person box width (whichever is largest, so a profile view
    whose eyes are close together still gets a full head). Otherwise the top 30% of the person box
    is used, full width: a person whose head we cannot place is still blurred.
    """
    n = len(xyxy)
    out = np.zeros((n, 4), np.float32)
    for i in range(n):
        x1, y1, x2, y2 = (float(v) for v in xyxy[i])
        bw, bh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
        fallback = (x1, y1, x2, y1 + 0.3 * bh)
        if keypoints is None:
            out[i] = fallback
            continue
        kp = keypoints[i]
        vis = kp[list(HEAD_POINTS), 2] >= min_visibility
        if vis.sum() < 2:
            out[i] = fallback
            continue
        pts = kp[list(HEAD_POINTS)][vis, :2]
        cx, cy = pts.mean(axis=0)
        spread = float(np.ptp(pts, axis=0).max())
        sh = kp[list(SHOULDERS)]
        shoulder_w = float(abs(sh[0, 0] - sh[1, 0])) if (sh[:, 2] >= min_visibility).all() else 0.0
        size = max(spread * 2.2, shoulder_w * 0.75, bw * 0.45, 8.0) * (1 + pad)
        out[i] = (cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2)
    return out


def blur_region(image: npt.NDArray[np.uint8], box: Sequence[float] | npt.NDArray[np.float32]) -> None:
    """Pixelate and blur ``box`` (xyxy, clipped to the image) of ``image`` in place.

    Public because redaction that does not come from a person detection (a region that moves but
    holds no detection, a person who stood still in a background median) must use the very same
    irreversible blur as the head boxes, not a weaker one of its own."""
    h, w = image.shape[:2]
    x1, y1 = max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0)
    x2, y2 = min(int(np.ceil(box[2])), w), min(int(np.ceil(box[3])), h)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return
    roi = image[y1:y2, x1:x2]
    # Pixelate then blur: pixelation alone can be partly inverted, blur alone keeps contours at
    # small kernel sizes. At most ``BLOCKS_PER_SIDE`` blocks span the region whatever its size (a
    # 6x6 mosaic of a face still reads as a face to a face detector, and mosaics of 8x8 and more
    # have been re-identified by trained models), and the blur kernel spans half the region, so
    # what is left is a smooth colour gradient with no facial layout.
    side = min(x2 - x1, y2 - y1)
    bs = max(2, -(-side // BLOCKS_PER_SIDE))
    small = cv2.resize(roi, (max(1, (x2 - x1) // bs), max(1, (y2 - y1) // bs)), interpolation=cv2.INTER_AREA)
    coarse = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)
    # The blur runs at a resolution where the short side is at most BLUR_SIDE pixels and is scaled
    # back up with linear interpolation: the same kernel relative to the region (half its short
    # side), so the same smooth gradient, at a cost that no longer grows with the kernel (a
    # full-resolution kernel of half a 300 px head box made blurring most of a camera's CPU time).
    scale = max(1, side // BLUR_SIDE)
    rw, rh = max(1, (x2 - x1) // scale), max(1, (y2 - y1) // scale)
    work = coarse if scale == 1 else cv2.resize(coarse, (rw, rh), interpolation=cv2.INTER_AREA)
    k = (max(3, min(rw, rh) // 2) // 2) * 2 + 1
    blurred = cv2.GaussianBlur(work, (k, k), 0)
    if scale > 1:
        blurred = cv2.resize(blurred, (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR)
    image[y1:y2, x1:x2] = blurred


def redact(
    image: npt.NDArray[np.uint8],
    person_xyxy: npt.NDArray[np.float32],
    keypoints: npt.NDArray[np.float32] | None = None,
    face_xyxy: npt.NDArray[np.float32] | None = None,
    masks: Sequence[Sequence[tuple[float, float]]] = (),
    regions: npt.NDArray[np.float32] | Sequence[Sequence[float]] | None = None,
) -> npt.NDArray[np.uint8]:
    """Return a redacted copy of ``image`` (BGR): heads and faces blurred, masks filled.

    ``regions`` (xyxy) are blurred whole: areas that may hold a person the detector did not see
    (motion without a detection) or a whole person left in a background image. They let the
    caller fail towards blurring more without depending on the detector having seen everyone.
    The input is never modified, so an unredacted frame cannot leak through aliasing."""
    out = image.copy()
    polys = [np.round(np.asarray(poly, dtype=np.float64)).astype(np.int32).reshape(-1, 1, 2) for poly in masks]
    # Masks are filled before blurring (so a blur next to a mask cannot spread masked pixels
    # outside it) and again after (so a blur cannot smear neighbouring pixels into the mask).
    for pts in polys:  # one by one: a single call with overlapping polygons leaves holes
        cv2.fillPoly(out, [pts], (0, 0, 0))
    if len(person_xyxy):
        for box in head_boxes(np.asarray(person_xyxy, np.float32), keypoints):
            blur_region(out, box)
    if face_xyxy is not None:
        for box in np.asarray(face_xyxy, np.float32).reshape(-1, 4):
            x1, y1, x2, y2 = box
            px, py = 0.25 * (x2 - x1), 0.25 * (y2 - y1)
            blur_region(out, (x1 - px, y1 - py, x2 + px, y2 + py))
    if regions is not None:
        for box in np.asarray(regions, np.float32).reshape(-1, 4):
            blur_region(out, box)
    for pts in polys:  # one by one: a single call with overlapping polygons leaves holes
        cv2.fillPoly(out, [pts], (0, 0, 0))
    return out
