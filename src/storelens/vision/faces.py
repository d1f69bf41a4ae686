"""BlazeFace face detection: SSD anchors, box/keypoint decoding and weighted NMS, done here.

The vendored ``blazeface-*.onnx`` files are the raw MediaPipe networks: they output one 16-value
regression (box centre, size and 6 keypoints, relative to an anchor) and one logit per anchor,
with no post-processing. The decoding below reproduces MediaPipe's ``SsdAnchorsCalculator``,
``TensorsToDetectionsCalculator`` and weighted ``NonMaxSuppressionCalculator`` so the networks
behave as Google shipped them; getting an anchor layout or a scale wrong does not fail loudly, it
just finds fewer faces, which is why the pieces are separate pure functions with their own tests.

Two ways to look for faces are offered: on a square region around a tracked person's head (the
crop is upscaled, so a 20-pixel face in a 480x270 frame becomes a 60-pixel face for the
network, and the face belongs to that track by construction) and on the whole letterboxed frame
(one pass, but small faces shrink below what the network can see). ``bench/expressions.py``
measures both on hand-annotated frames; the head-region search is the default because it finds
more of them.

Keypoint order (MediaPipe): right eye, left eye, nose tip, mouth centre, right ear tragion, left
ear tragion, where right/left are the *subject's* (the subject's right eye is on the image left
for a camera facing them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from storelens.core.types import KP
from storelens.vision.letterbox import check_image
from storelens.vision.models import resolve_model
from storelens.vision.onnx_session import create_session

FaceModel = Literal["short_range", "full_range"]

NUM_FACE_KEYPOINTS = 6
FACE_KEYPOINT_NAMES: tuple[str, ...] = (
    "right_eye",
    "left_eye",
    "nose_tip",
    "mouth_center",
    "right_ear",
    "left_ear",
)
FKP = {name: i for i, name in enumerate(FACE_KEYPOINT_NAMES)}


@dataclass(frozen=True, slots=True)
class BlazeFaceSpec:
    """Anchor layout and decoding constants of one BlazeFace variant (MediaPipe's graph options)."""

    model: str
    input_size: int
    strides: tuple[int, ...]
    interpolated_scale: bool
    """MediaPipe ``interpolated_scale_aspect_ratio > 0``: one extra anchor per layer."""
    min_score: float
    """MediaPipe's ``min_score_thresh`` for this variant."""


SPECS: dict[str, BlazeFaceSpec] = {
    "short_range": BlazeFaceSpec("blazeface-short_range", 128, (8, 16, 16, 16), True, 0.5),
    "full_range": BlazeFaceSpec("blazeface-full_range", 192, (4,), False, 0.6),
}


def ssd_anchors(
    input_size: int, strides: Sequence[int], interpolated_scale: bool = True, offset: float = 0.5
) -> npt.NDArray[np.float32]:
    """Anchor centres (A, 2) as (x, y) in [0, 1] of the input, in the network's output order.

    MediaPipe's ``SsdAnchorsCalculator`` with one aspect ratio and ``fixed_anchor_size``: layers
    that share a stride are merged into one feature map whose cells carry the anchors of all of
    them (2 per layer with the interpolated scale, else 1), cells in row-major order and the
    anchors of a cell consecutive. Anchor width and height are 1 (fixed size), so they are not
    returned. Short range: 16x16x2 + 8x8x6 = 896; full range: 48x48x1 = 2304.
    """
    if input_size <= 0 or not strides or any(s <= 0 for s in strides):
        raise ValueError(f"bad anchor spec: input_size={input_size}, strides={list(strides)}")
    per_layer = 2 if interpolated_scale else 1
    out: list[npt.NDArray[np.float32]] = []
    i = 0
    while i < len(strides):
        stride = strides[i]
        j = i
        while j < len(strides) and strides[j] == stride:
            j += 1
        n_anchors = per_layer * (j - i)
        side = math.ceil(input_size / stride)
        ys, xs = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
        centres = np.stack([(xs + offset) / side, (ys + offset) / side], axis=-1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, n_anchors, axis=1).reshape(-1, 2).astype(np.float32))
        i = j
    return np.concatenate(out, axis=0)


def decode_blazeface(
    regressors: npt.ArrayLike,
    logits: npt.ArrayLike,
    anchors: npt.NDArray[np.float32],
    input_size: int,
    min_score: float,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Turn raw outputs into (boxes, scores, keypoints) in input-relative [0, 1] units.

    ``regressors`` (A, 16): x, y, w, h, then 6 (x, y) keypoints, all in input pixels relative to
    the anchor centre (MediaPipe ``reverse_output_order``, scales = input size, anchor size 1).
    ``logits`` (A,) or (A, 1): clipped to +-100 and passed through a sigmoid. Returns only anchors
    scoring at least ``min_score``: boxes (N, 4) xyxy, scores (N,), keypoints (N, 6, 2).
    """
    reg = np.asarray(regressors, dtype=np.float32).reshape(-1, 16)
    raw = np.asarray(logits, dtype=np.float32).reshape(-1)
    if reg.shape[0] != anchors.shape[0] or raw.shape[0] != anchors.shape[0]:
        raise ValueError(f"{reg.shape[0]} regressors / {raw.shape[0]} scores do not match {anchors.shape[0]} anchors")
    if not 0.0 < min_score < 1.0:
        raise ValueError(f"min_score must be in (0, 1), got {min_score}")
    # sigmoid(x) >= s  <=>  x >= logit(s): filter on the logits, take the sigmoid of survivors only
    keep = np.flatnonzero(raw >= np.float32(math.log(min_score / (1.0 - min_score))))
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw[keep].astype(np.float64), -100.0, 100.0)))
    reg = reg[keep] / np.float32(input_size)
    anc = anchors[keep]
    cx = reg[:, 0] + anc[:, 0]
    cy = reg[:, 1] + anc[:, 1]
    half_w, half_h = reg[:, 2] / 2, reg[:, 3] / 2
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    kps = reg[:, 4:16].reshape(-1, NUM_FACE_KEYPOINTS, 2) + anc[:, None, :]
    return boxes.astype(np.float32), scores.astype(np.float32), kps.astype(np.float32)


def weighted_nms(
    boxes: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float32],
    keypoints: npt.NDArray[np.float32],
    iou_threshold: float = 0.3,
    max_out: int | None = None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """MediaPipe's weighted non-maximum suppression.

    Take the best remaining detection; every remaining detection overlapping it by IoU above
    ``iou_threshold`` (itself included) is merged into one whose box and keypoints are the
    score-weighted mean of the group and whose score is the best one's. BlazeFace fires on many
    neighbouring anchors for one face; averaging them, rather than keeping only the top one as
    plain NMS does, steadies the box and landmarks from frame to frame (what alignment needs).
    """
    n = len(boxes)
    out_b: list[npt.NDArray[np.float64]] = []
    out_s: list[float] = []
    out_k: list[npt.NDArray[np.float64]] = []
    if n:
        order = np.argsort(-scores, kind="stable")
        b = boxes[order].astype(np.float64)
        s = scores[order].astype(np.float64)
        k = keypoints[order].astype(np.float64)
        wh = np.clip(b[:, 2:] - b[:, :2], 0, None)
        areas = wh[:, 0] * wh[:, 1]
        alive = np.ones(n, bool)
        for i in range(n):
            if not alive[i]:
                continue
            if max_out is not None and len(out_b) >= max_out:
                break
            inter_wh = np.clip(np.minimum(b[i, 2:], b[:, 2:]) - np.maximum(b[i, :2], b[:, :2]), 0, None)
            inter = inter_wh[:, 0] * inter_wh[:, 1]
            union = areas[i] + areas - inter
            iou = np.divide(inter, union, out=np.zeros(n), where=union > 0)
            group = alive & (iou > iou_threshold)
            group[i] = True  # a zero-area top box overlaps nothing, not even itself
            w = s[group]
            total = w.sum()
            if total > 0:
                out_b.append((b[group] * w[:, None]).sum(axis=0) / total)
                out_k.append((k[group] * w[:, None, None]).sum(axis=0) / total)
            else:
                out_b.append(b[i])
                out_k.append(k[i])
            out_s.append(float(s[i]))
            alive &= ~group
    return (
        np.asarray(out_b, dtype=np.float32).reshape(-1, 4),
        np.asarray(out_s, dtype=np.float32),
        np.asarray(out_k, dtype=np.float32).reshape(-1, NUM_FACE_KEYPOINTS, 2),
    )


@dataclass(frozen=True, slots=True, eq=False)
class Faces:
    """Faces found in one image, as columns (frame pixels).

    ``xyxy`` (N, 4) float32, ``score`` (N,), ``keypoints`` (N, 6, 2) in :data:`FACE_KEYPOINT_NAMES`
    order, ``track_row`` (N,) int32: the row of the frame's Tracks the face belongs to, -1 when it
    was found without a track (whole-frame search that matched nobody).
    """

    xyxy: npt.NDArray[np.float32]
    score: npt.NDArray[np.float32]
    keypoints: npt.NDArray[np.float32]
    track_row: npt.NDArray[np.int32]

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        xyxy = np.asarray(self.xyxy, np.float32).reshape(n, 4)
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "score", np.asarray(self.score, np.float32).reshape(n))
        object.__setattr__(self, "keypoints", np.asarray(self.keypoints, np.float32).reshape(n, 6, 2))
        object.__setattr__(self, "track_row", np.asarray(self.track_row, np.int32).reshape(n))

    @classmethod
    def empty(cls) -> Faces:
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros((0, 6, 2), np.float32),
            np.zeros(0, np.int32),
        )

    @classmethod
    def concat(cls, parts: Sequence[Faces]) -> Faces:
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.score for p in parts]),
            np.concatenate([p.keypoints for p in parts]),
            np.concatenate([p.track_row for p in parts]),
        )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, idx: Any) -> Faces:
        if isinstance(idx, int):
            idx = np.array([idx])
        return Faces(self.xyxy[idx], self.score[idx], self.keypoints[idx], self.track_row[idx])

    @property
    def size_px(self) -> npt.NDArray[np.float32]:
        """Face size in frame pixels: the mean of box width and height."""
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return np.asarray(wh.mean(axis=1), dtype=np.float32)


def square_crop(
    image: npt.NDArray[np.uint8], cx: float, cy: float, side: float, out_size: int
) -> tuple[npt.NDArray[np.uint8], float, float, float]:
    """The ``out_size``-square resample of the square of ``side`` pixels centred on (cx, cy).

    Parts outside the image are black (what MediaPipe's letterbox padding feeds the network).
    Returns the crop and (scale, x0, y0) such that ``image_xy = crop_xy / scale + (x0, y0)``.
    Shrinking uses area interpolation (a 1280-pixel frame squeezed to 128 otherwise aliases).
    """
    if side <= 0 or not math.isfinite(side) or not (math.isfinite(cx) and math.isfinite(cy)):
        raise ValueError(f"bad crop square: centre=({cx}, {cy}) side={side}")
    h, w = image.shape[:2]
    x0 = round(cx - side / 2)
    y0 = round(cy - side / 2)
    s = max(1, round(side))
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + s, w), min(y0 + s, h)
    if xb <= xa or yb <= ya:
        crop = np.zeros((s, s, 3), np.uint8)
    else:
        crop = image[ya:yb, xa:xb]
        if (xa, ya, xb, yb) != (x0, y0, x0 + s, y0 + s):
            crop = np.asarray(
                cv2.copyMakeBorder(
                    crop, ya - y0, y0 + s - yb, xa - x0, x0 + s - xb, cv2.BORDER_CONSTANT, value=(0, 0, 0)
                ),
                np.uint8,
            )
    interp = cv2.INTER_AREA if s > out_size else cv2.INTER_LINEAR
    resized = cv2.resize(crop, (out_size, out_size), interpolation=interp)
    return np.asarray(resized, np.uint8), out_size / s, float(x0), float(y0)


def head_regions(
    xyxy: npt.NDArray[np.float32],
    keypoints: npt.NDArray[np.float32] | None,
    padding: float = 2.0,
    min_visibility: float = 0.3,
) -> npt.NDArray[np.float32]:
    """Square head regions (N, 3) as (cx, cy, side) in frame pixels, one per person box.

    With pose keypoints: centred on the visible face points (nose, eyes, ears); the head size is
    the largest of 1.2 x the face-point spread, 2.5 x the eye distance and 0.5 x the shoulder width
    (whichever the pose model saw), times ``padding`` so the whole face plus context fits (BlazeFace
    short range was trained on faces filling about half its input). Without face points (keypoints absent, or
    the person faces away or is occluded): the top of the box, a square of 0.5 x box width, where
    a standing person's head usually is.
    """
    n = len(xyxy)
    out = np.zeros((n, 3), np.float32)
    for i in range(n):
        x1, y1, x2 = (float(v) for v in xyxy[i, :3])
        bw = max(x2 - x1, 1.0)
        fallback = (
            (x1 + x2) / 2,
            y1 + 0.3 * bw,
            max(0.55 * bw, 8.0) * padding,
        )
        if keypoints is None:
            out[i] = fallback
            continue
        kp = keypoints[i]
        face_idx = [KP["nose"], KP["left_eye"], KP["right_eye"], KP["left_ear"], KP["right_ear"]]
        vis = [j for j in face_idx if kp[j, 2] >= min_visibility]
        if not vis:
            out[i] = fallback
            continue
        pts = kp[vis, :2]
        centre = pts.mean(axis=0)
        spread = float(np.ptp(pts, axis=0).max()) if len(pts) > 1 else 0.0
        size = 1.2 * spread
        eyes = [KP["left_eye"], KP["right_eye"]]
        if all(kp[j, 2] >= min_visibility for j in eyes):
            # a head is about 2.5 eye distances wide (63 mm between pupils, ~150 mm head)
            size = max(size, 2.5 * float(np.linalg.norm(kp[eyes[0], :2] - kp[eyes[1], :2])))
        sh = [KP["left_shoulder"], KP["right_shoulder"]]
        if all(kp[j, 2] >= min_visibility for j in sh):
            size = max(size, 0.5 * float(np.linalg.norm(kp[sh[0], :2] - kp[sh[1], :2])))
        if size < 4.0:  # only one face point seen and no shoulders: fall back to the box width
            size = 0.5 * bw
        out[i] = (float(centre[0]), float(centre[1]), size * padding)
    return out


class FaceDetector:
    """BlazeFace on whole frames or on square regions (head crops), results in frame pixels.

    ``model``: "short_range" (128 px input, faces filling a good part of the input; right for head
    crops) or "full_range" (192 px, faces down to ~5 % of the input; for whole frames).
    ``score_threshold`` defaults to MediaPipe's for the variant. The network takes batch 1 only,
    so regions are run one after another (about 1 ms each for short range on one CPU core).
    """

    def __init__(
        self,
        model: FaceModel = "short_range",
        score_threshold: float | None = None,
        nms_iou: float = 0.3,
        threads: int = 0,
        device: str = "auto",
    ) -> None:
        if model not in SPECS:
            raise ValueError(f"face model must be one of {sorted(SPECS)}, got {model!r}")
        self.spec = SPECS[model]
        self.score_threshold = self.spec.min_score if score_threshold is None else float(score_threshold)
        if not 0.0 < self.score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in (0, 1), got {self.score_threshold}")
        self.nms_iou = float(nms_iou)
        self.anchors = ssd_anchors(self.spec.input_size, self.spec.strides, self.spec.interpolated_scale)
        self._session = create_session(resolve_model(self.spec.model), threads=threads, device=device)
        self._input = self._session.get_inputs()[0].name
        outs = self._session.get_outputs()
        # regressors have 16 values per anchor, classificators 1: tell them apart by shape
        self._out_reg = next(o.name for o in outs if o.shape[-1] == 16)
        self._out_cls = next(o.name for o in outs if o.shape[-1] == 1)

    @property
    def input_size(self) -> int:
        return self.spec.input_size

    def run_square(self, square_bgr: npt.NDArray[np.uint8]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detect in one ``input_size``-square BGR image; boxes and keypoints in its pixels."""
        n = self.spec.input_size
        if square_bgr.shape != (n, n, 3):
            raise ValueError(f"expected a {n}x{n}x3 image, got {square_bgr.shape}")
        rgb = cv2.cvtColor(square_bgr, cv2.COLOR_BGR2RGB)
        x = (rgb.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0))[None]
        reg, cls = self._session.run([self._out_reg, self._out_cls], {self._input: x})
        boxes, scores, kps = decode_blazeface(reg[0], cls[0], self.anchors, n, self.score_threshold)
        boxes, scores, kps = weighted_nms(boxes, scores, kps, self.nms_iou)
        return boxes * n, scores, kps * n

    def detect_region(self, image_bgr: npt.NDArray[np.uint8], cx: float, cy: float, side: float) -> Faces:
        """Faces in the square of ``side`` pixels centred on (cx, cy), in image pixels."""
        crop, scale, x0, y0 = square_crop(image_bgr, cx, cy, side, self.spec.input_size)
        boxes, scores, kps = self.run_square(crop)
        boxes = np.asarray(boxes / scale + np.array([x0, y0, x0, y0]), np.float32)
        kps = np.asarray(kps / scale + np.array([x0, y0]), np.float32)
        return Faces(boxes, scores, kps, np.full(len(boxes), -1, np.int32))

    def detect(self, image_bgr: npt.NDArray[np.uint8]) -> Faces:
        """Faces in a whole image, letterboxed (centred square with black bars) into the input."""
        check_image(image_bgr)
        h, w = image_bgr.shape[:2]
        return self.detect_region(image_bgr, w / 2, h / 2, float(max(h, w)))


def pick_face_for_region(faces: Faces, cx: float, cy: float, side: float) -> int | None:
    """Which of the faces found in a head region belongs to the person the region was cut for.

    A head crop of one shopper can show the face of a neighbour near its edge; the owner's face
    is the one nearest the region centre (the pose model's face points), so the score is
    discounted by the distance from the centre in units of the region side.
    """
    if len(faces) == 0:
        return None
    centres = (faces.xyxy[:, :2] + faces.xyxy[:, 2:]) / 2
    dist = np.linalg.norm(centres - np.array([cx, cy], np.float32), axis=1) / max(side, 1e-6)
    inside = dist < 0.5
    if not inside.any():
        return None
    merit = np.where(inside, faces.score * (1.0 - dist), -1.0)
    return int(np.argmax(merit))


def assign_faces_to_boxes(faces: Faces, person_xyxy: npt.NDArray[np.float32]) -> Faces:
    """Attach faces found on a whole frame to person boxes: the face centre must lie in the top
    half of the box; each person gets at most one face (the best scoring), the rest stay -1."""
    rows = np.full(len(faces), -1, np.int32)
    if len(faces) == 0 or len(person_xyxy) == 0:
        return Faces(faces.xyxy, faces.score, faces.keypoints, rows)
    centres = (faces.xyxy[:, :2] + faces.xyxy[:, 2:]) / 2
    taken: set[int] = set()
    for f in np.argsort(-faces.score):
        cx, cy = centres[f]
        x1, y1, x2, y2 = (person_xyxy[:, k] for k in range(4))
        inside = (cx >= x1) & (cx <= x2) & (cy >= y1) & (cy <= y1 + 0.5 * (y2 - y1))
        cand = [int(p) for p in np.flatnonzero(inside) if int(p) not in taken]
        if not cand:
            continue
        # the person whose box top-centre is nearest the face
        tops = np.stack([(x1 + x2) / 2, y1], axis=1)[cand]
        best = cand[int(np.argmin(np.linalg.norm(tops - centres[f], axis=1)))]
        rows[f] = best
        taken.add(best)
    return Faces(faces.xyxy, faces.score, faces.keypoints, rows)


def face_frontality(keypoints: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """How frontal each face is, in [0, 1] (1 = looking at the camera), from BlazeFace keypoints.

    Yaw moves the nose tip toward one eye and hides one ear behind the cheek, so two symmetries
    are measured along the eye line (which makes the measure independent of head roll): the nose's
    offset from the eye midpoint in half eye-distances, and the balance of the nose-to-ear spans
    on either side. The result is the smaller of the two, so one wrong landmark cannot make a
    profile face look frontal. Pitch is not measured (BlazeFace's 6 points do not pin it down).
    """
    k = np.asarray(keypoints, dtype=np.float64).reshape(-1, NUM_FACE_KEYPOINTS, 2)
    re, le = k[:, FKP["right_eye"]], k[:, FKP["left_eye"]]
    d = le - re
    dist = np.linalg.norm(d, axis=1)
    u = d / np.maximum(dist, 1e-9)[:, None]
    mid = (re + le) / 2

    def along(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(((p - mid) * u).sum(axis=1))

    nose = along(k[:, FKP["nose_tip"]])
    nose_sym = 1.0 - np.abs(nose) / np.maximum(dist / 2, 1e-9)
    span_r = nose - along(k[:, FKP["right_ear"]])
    span_l = along(k[:, FKP["left_ear"]]) - nose
    lo, hi = np.minimum(span_r, span_l), np.maximum(span_r, span_l)
    ear_sym = np.where(hi > 0, lo / np.maximum(hi, 1e-9), 0.0)
    out = np.clip(np.minimum(nose_sym, ear_sym), 0.0, 1.0)
    out[dist < 1e-6] = 0.0
    return out.astype(np.float32)
