"""Decoding raw YOLO (v8/11, Ultralytics export) outputs into :class:`Detections`: pure functions.

An exported Ultralytics model without built-in NMS emits one tensor ``(N, C, A)``: for each of
``A`` anchors, ``cx, cy, w, h`` in input pixels, then ``nc`` class scores (already sigmoid), then
either 17 x (x, y, visibility) keypoints (pose; visibility is sigmoid-ed in the export graph, so
already 0..1) or 32 mask coefficients (segmentation; ignored here) or nothing (detection). The
layout is recognised from ``C`` alone, so a user's own model needs only its class list in config.

NMS runs through ``cv2.dnn.NMSBoxes`` by default: measured here (``bench/detector.py``, 300
clustered candidates) it is 5-10x faster than our vectorised numpy greedy loop (0.15 vs 0.7 ms),
whose per-kept-box numpy calls dominate. The numpy version stays as the tested reference; both keep the same boxes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from storelens.core.types import NUM_KEYPOINTS, Detections
from storelens.vision.letterbox import LetterboxInfo, boxes_to_frame, keypoints_to_frame

ModelKind = Literal["pose", "det"]

MASK_COEFFICIENTS = 32
"""Extra channels of an Ultralytics segmentation head (prototype coefficients)."""

MAX_CANDIDATES = 30_000
"""Cap on boxes entering NMS (as Ultralytics' ``max_nms``); only a broken model gets near it."""

COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip
"""The 80 COCO class names in YOLO index order (person = 0), for the vendored det model."""


class LayoutError(ValueError):
    """A model's output does not match any YOLO layout we can decode."""


@dataclass(frozen=True, slots=True)
class YoloLayout:
    """Channel layout of one anchor's output vector."""

    kind: ModelKind
    num_classes: int
    num_keypoints: int = 0
    num_extra: int = 0

    @property
    def channels(self) -> int:
        return 4 + self.num_classes + 3 * self.num_keypoints + self.num_extra


def infer_layout(channels: int, num_classes: int | None = None) -> YoloLayout:
    """Recognise the layout from the output's channel count ``C`` of ``(N, C, A)``.

    With ``num_classes`` known (from config or model metadata): ``4+nc`` is detection,
    ``4+nc+32`` detection with mask coefficients, ``4+nc+51`` pose. Without it, only the vendored
    shapes are recognised: 56 = pose (1 class), 84 / 116 = 80-class COCO detection.
    """
    if num_classes is not None:
        if num_classes < 1:
            raise LayoutError(f"num_classes must be >= 1, got {num_classes}")
        candidates = [
            YoloLayout("det", num_classes),
            YoloLayout("det", num_classes, num_extra=MASK_COEFFICIENTS),
            YoloLayout("pose", num_classes, num_keypoints=NUM_KEYPOINTS),
        ]
        for layout in candidates:
            if layout.channels == channels:
                return layout
        raise LayoutError(
            f"model output has {channels} channels per anchor, which fits no YOLO layout for "
            f"{num_classes} classes (expected {4 + num_classes} detect, "
            f"{4 + num_classes + MASK_COEFFICIENTS} segment or {4 + num_classes + 3 * NUM_KEYPOINTS} "
            "17-keypoint pose); check detector.classes"
        )
    known = {
        56: YoloLayout("pose", 1, num_keypoints=NUM_KEYPOINTS),
        84: YoloLayout("det", 80),
        84 + MASK_COEFFICIENTS: YoloLayout("det", 80, num_extra=MASK_COEFFICIENTS),
    }
    if channels in known:
        return known[channels]
    raise LayoutError(
        f"model output has {channels} channels per anchor; set detector.classes to the model's class "
        "names so the layout (4 box + classes [+ 32 mask | + 51 keypoints]) can be recognised"
    )


def cxcywh_to_xyxy(boxes: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """(N, 4) centre/size boxes to corner boxes."""
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    half = b[:, 2:] / 2
    return np.concatenate([b[:, :2] - half, b[:, :2] + half], axis=1)


def box_iou(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4), xyxy: an (N, M) matrix."""
    a = np.asarray(a, dtype=np.float32).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float32).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return iou.astype(np.float32)


NmsBackend = Literal["cv2", "numpy"]


def nms(
    xyxy: npt.ArrayLike,
    scores: npt.ArrayLike,
    iou_threshold: float,
    class_ids: npt.ArrayLike | None = None,
    max_detections: int | None = None,
    backend: NmsBackend = "cv2",
) -> npt.NDArray[np.intp]:
    """Greedy non-maximum suppression; indices of the kept boxes, highest score first.

    A box is suppressed when its IoU with a higher-scoring kept box is strictly greater than
    ``iou_threshold`` (torchvision's and OpenCV's rule). With ``class_ids``, only boxes of the same
    class suppress each other: boxes are shifted apart per class (Ultralytics' offset trick), so
    one pass handles every class. ``backend="cv2"`` runs ``cv2.dnn.NMSBoxes`` (the default: 5-10x
    faster than the numpy loop for 300 candidates, see ``bench/detector.py``); ``"numpy"`` is
    the readable reference both are tested against. Equal scores keep the earlier index first.
    """
    boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    s = np.asarray(scores, dtype=np.float32).reshape(-1)
    if len(s) != len(boxes):
        raise ValueError(f"nms: {len(boxes)} boxes but {len(s)} scores")
    if max_detections is not None and max_detections < 1:
        raise ValueError(f"nms: max_detections must be >= 1, got {max_detections}")
    if backend not in ("cv2", "numpy"):
        raise ValueError(f"nms: backend must be 'cv2' or 'numpy', got {backend!r}")
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.intp)
    if class_ids is not None:
        cls = np.asarray(class_ids).reshape(-1)
        if len(cls) != len(boxes):
            raise ValueError(f"nms: {len(boxes)} boxes but {len(cls)} class ids")
        lo = float(boxes.min())
        span = float(boxes.max()) - lo + 1.0
        boxes = boxes - np.float32(lo) + (cls.astype(np.float32) * np.float32(span))[:, None]
    if backend == "cv2":
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
        # OpenCV wants scores > a threshold >= 0 and does not promise a stable order for ties, so
        # it gets ranks (n..1, stable score order) instead: same ordering as the reference, for
        # any scores. Python lists, not arrays: the binding converts lists to Rect2d 3x faster.
        rank = np.empty(len(s), dtype=np.float32)
        rank[np.argsort(-s, kind="stable")] = np.arange(len(s), 0, -1, dtype=np.float32)
        kept = cv2.dnn.NMSBoxes(xywh.tolist(), rank.tolist(), 0.0, float(iou_threshold))
        out = np.asarray(kept, dtype=np.intp).reshape(-1)
        return out if max_detections is None else out[:max_detections]
    return _nms_numpy(boxes, s, iou_threshold, len(boxes) if max_detections is None else max_detections)


def _nms_numpy(
    boxes: npt.NDArray[np.float32], s: npt.NDArray[np.float32], iou_threshold: float, limit: int
) -> npt.NDArray[np.intp]:
    """Reference greedy NMS: keep the best box, drop the rest that overlap it, repeat."""
    order = np.argsort(-s, kind="stable")
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    keep: list[int] = []
    while order.size and len(keep) < limit:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        union = areas[i] + areas[rest] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(union > 0, inter / union, 0.0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.intp)


def decode(
    pred: npt.ArrayLike,
    layout: YoloLayout,
    info: LetterboxInfo,
    conf_threshold: float = 0.25,
    iou_threshold: float = 0.6,
    max_detections: int = 100,
    keep_classes: Collection[int] | None = None,
    nms_backend: NmsBackend = "cv2",
) -> Detections:
    """One image's raw output ``(C, A)`` to :class:`Detections` in frame pixels.

    Each anchor takes its best class (as Ultralytics does, so one object is never reported as two
    classes); anchors scoring ``> conf_threshold`` whose class is in ``keep_classes`` (``None`` =
    all) go through class-aware NMS; the best ``max_detections`` survive. Boxes and keypoints are
    mapped back through ``info`` and clipped to the frame; a box that clips to zero area (it lay
    entirely in the padding) is dropped. ``keypoints`` is (N, 17, 3) for pose models, else None.
    """
    p = np.asarray(pred, dtype=np.float32)
    if p.ndim != 2 or p.shape[0] != layout.channels:
        raise LayoutError(f"expected one image's output of shape ({layout.channels}, A), got {p.shape}")
    nc = layout.num_classes
    with_kp = layout.kind == "pose"
    cls_scores = p[4 : 4 + nc]
    if nc == 1:
        score = cls_scores[0]
        cls = np.zeros(p.shape[1], dtype=np.int32)
    else:
        cls = np.argmax(cls_scores, axis=0).astype(np.int32)
        score = np.take_along_axis(cls_scores, cls[None, :], axis=0)[0]
    mask = score > conf_threshold
    if keep_classes is not None:
        mask &= np.isin(cls, np.fromiter(keep_classes, dtype=np.int32))
    idx = np.flatnonzero(mask)
    if idx.size:
        idx = idx[np.isfinite(p[:4, idx]).all(axis=0)]
    if idx.size == 0:
        return Detections.empty(with_keypoints=with_kp)
    if idx.size > MAX_CANDIDATES:
        idx = idx[np.argsort(-score[idx], kind="stable")[:MAX_CANDIDATES]]
    boxes_in = cxcywh_to_xyxy(p[:4, idx].T)
    keep = nms(boxes_in, score[idx], iou_threshold, cls[idx], max_detections, nms_backend)
    sel = idx[keep]
    xyxy = boxes_to_frame(boxes_in[keep], info)
    kp: npt.NDArray[np.float32] | None = None
    if with_kp:
        start = 4 + nc
        raw = p[start : start + 3 * NUM_KEYPOINTS, sel].T.reshape(-1, NUM_KEYPOINTS, 3)
        kp = keypoints_to_frame(raw, info)
    valid = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    if not valid.all():
        xyxy, sel = xyxy[valid], sel[valid]
        kp = None if kp is None else kp[valid]
    return Detections(xyxy=xyxy, score=score[sel], class_id=cls[sel], keypoints=kp)
