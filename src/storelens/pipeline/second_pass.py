"""A second detector pass on upscaled crops, for the people too small for the full frame (issue 13).

Why: a person 40-60 px tall in the detector's input is missed, or scored 0.25-0.45, by the
full-frame pass; a line crossing or a zone stay of such a person is then lost, and no tracker rule
brings it back. A larger input for the whole frame costs several times the default; a crop around
the few places a small person may be, upscaled so they are ~70 px tall in a small input, costs one
small inference each (``bench/crop_probe.py``: recall under 40 px 0.33 -> 1.00 with oracle
positions). This module finds those places without an oracle:

1. **Tracks the full frame did not find**: every live track (tentative and lost ones included),
   predicted to this frame by the tracker (:class:`~storelens.tracking.base.PredictsBoxes`), that
   no full-frame detection overlaps and that is small;
2. **Small moving regions no detection explains**: frame differences on a small grey copy of the
   frame (:class:`~storelens.privacy.motion.MotionRegions`, the redaction's own motion cue, here
   without the background median: what *moves*), outside every detection, no taller than a small
   person would be.

At most ``max_crops`` crops per frame, tracks first (a person already seen is the likelier one),
then the largest moving regions. Each crop is a square ``context`` expected heights wide, kept
inside the frame, resized to ``crop_input`` pixels; all crops run as one batch. What the crops
find is mapped back to frame pixels (keypoints too) and kept only if it is small, not cut by a crop
edge inside the frame, and not already found by the full frame (IoU, or lying mostly inside a
full-frame box); crops that overlap may find the same person twice, so NMS runs over the finds.
The full-frame detections are returned unchanged in front of the new ones, so a frame with
nothing to look at costs only the motion read (well under a millisecond at 192 px wide).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from storelens.config.detection import DetectorConfig, SecondPassConfig
from storelens.core.types import NUM_KEYPOINTS, Detections
from storelens.privacy.motion import MotionRegions
from storelens.vision.base import Detector
from storelens.vision.yolo import box_iou, nms

Image = npt.NDArray[np.uint8]
Boxes = npt.NDArray[np.float32]
AnyBoxes = npt.NDArray[np.floating]

FOUND_IOU = 0.3
"""A crop find overlapping a full-frame detection by more than this is that detection again."""
FOUND_INSIDE = 0.6
"""... and so is one lying this much inside a full-frame box (a part of that person)."""
EDGE_PX = 2.0
"""A find within this many crop-input pixels of a crop edge that is not the frame's edge is cut off."""
MIN_HEIGHT = 16.0
"""Smallest expected person height (frame pixels) a crop is sized for: a motion blob of a few
pixels is part of a person, whose height is not known from it."""


@dataclass(frozen=True, slots=True)
class Crop:
    """One square crop in frame pixels: (x0, y0) its corner, ``side`` its size, ``why``
    ``"track"`` or ``"motion"``."""

    x0: int
    y0: int
    side: int
    why: str


def _inside(a: Boxes, b: Boxes) -> npt.NDArray[np.float32]:
    """Share of each box of ``a`` lying inside each box of ``b`` (N, M)."""
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = np.maximum((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), 1e-6)
    return np.asarray(inter / area[:, None], np.float32)


def _merge(a: Detections, b: Detections) -> Detections:
    kp = None
    if a.keypoints is not None and b.keypoints is not None:
        kp = np.concatenate([a.keypoints, b.keypoints])
    return Detections(
        xyxy=np.concatenate([a.xyxy, b.xyxy]),
        score=np.concatenate([a.score, b.score]),
        class_id=np.concatenate([a.class_id, b.class_id]),
        keypoints=kp,
    )


class SecondPass:
    """``run(image, pts, detections, predicted)`` -> the detections plus what the crops found.

    ``detector`` runs the crops: it must take a ``crop_input`` square at that size (a
    :class:`~storelens.vision.detector.YoloDetector` with ``input_size=crop_input``, or a shared
    detector's view at that size). ``input_size`` is the full-frame detector's, so ``max_height``
    (in its input pixels) becomes frame pixels. One instance per camera (the motion cue holds the
    previous frame). After each call ``last_crops`` lists the crops that ran."""

    def __init__(self, cfg: SecondPassConfig, detector: Detector, input_size: int) -> None:
        self.cfg = cfg
        self.detector = detector
        self.input_size = input_size
        self.motion = MotionRegions(width=cfg.motion_width, hold=1, grow=0.0, background=False) if cfg.motion else None
        self.last_crops: list[Crop] = []
        self.crops_run = 0
        self.found = 0

    def _max_height(self, image: Image) -> float:
        h, w = image.shape[:2]
        return self.cfg.max_height * max(h, w) / float(self.input_size)

    def plan(self, image: Image, detections: Detections, predicted: AnyBoxes | None) -> list[Crop]:
        """Where to look in this frame (at most ``max_crops``); feeds the motion cue, so call it
        once per frame, in order."""
        fh, fw = image.shape[:2]
        limit = self._max_height(image)
        dets = detections.xyxy.reshape(-1, 4)
        wanted: list[tuple[float, float, float, str]] = []  # centre x, y, expected height, why
        if predicted is not None and len(predicted):
            boxes = np.asarray(predicted, np.float32).reshape(-1, 4)
            heights = boxes[:, 3] - boxes[:, 1]
            on_frame = (boxes[:, 2] > 0) & (boxes[:, 0] < fw) & (boxes[:, 3] > 0) & (boxes[:, 1] < fh)
            keep = (heights > 0) & (heights <= limit) & on_frame
            if len(dets) and keep.any():
                keep &= box_iou(boxes, dets).max(axis=1) < FOUND_IOU
            for x0, y0, x1, y1 in boxes[keep].tolist():
                wanted.append(((x0 + x1) / 2, (y0 + y1) / 2, y1 - y0, "track"))
        if self.motion is not None:
            regions = self.motion.regions(image, dets if len(dets) else None)
            if len(regions):
                h = regions[:, 3] - regions[:, 1]
                w = regions[:, 2] - regions[:, 0]
                small = (h <= 1.5 * limit) & (w <= 1.5 * limit) & (h > 0) & (w > 0)
                order = np.argsort(-(h * w)[small], kind="stable")
                for x0, y0, x1, y1 in regions[small][order].tolist():
                    wanted.append(((x0 + x1) / 2, (y0 + y1) / 2, y1 - y0, "motion"))
        crops: list[Crop] = []
        for cx, cy, height, why in wanted:
            if len(crops) >= self.cfg.max_crops:
                break
            if any(
                c.x0 + c.side / 4 <= cx <= c.x0 + 3 * c.side / 4 and c.y0 + c.side / 4 <= cy <= c.y0 + 3 * c.side / 4
                for c in crops
            ):
                continue  # well inside a crop already planned: that crop sees this person
            expected = min(max(height, MIN_HEIGHT), limit)
            side = int(min(round(self.cfg.context * expected), fw, fh))
            if side < 8:
                continue
            x0 = int(min(max(round(cx - side / 2), 0), fw - side))
            y0 = int(min(max(round(cy - side / 2), 0), fh - side))
            crops.append(Crop(x0, y0, side, why))
        return crops

    def run(self, image: Image, detections: Detections, predicted: AnyBoxes | None = None) -> Detections:
        """The full-frame ``detections`` followed by the small people the crops found."""
        crops = self.plan(image, detections, predicted)
        self.last_crops = crops
        if not crops:
            return detections
        size = self.cfg.crop_input
        inputs: list[Image] = [
            np.ascontiguousarray(
                cv2.resize(
                    image[c.y0 : c.y0 + c.side, c.x0 : c.x0 + c.side], (size, size), interpolation=cv2.INTER_LINEAR
                ),
                dtype=np.uint8,
            )
            for c in crops
        ]
        self.crops_run += len(crops)
        found = [
            self._back(d, c, image.shape[1], image.shape[0])
            for d, c in zip(self.detector.detect_batch(inputs), crops, strict=True)
        ]
        new = found[0]
        for f in found[1:]:
            new = _merge(new, f)
        if not len(new):
            return detections
        limit = self._max_height(image)
        keep = (new.xyxy[:, 3] - new.xyxy[:, 1]) <= 1.5 * limit
        dets = detections.xyxy.reshape(-1, 4)
        if len(dets):
            keep &= box_iou(new.xyxy, dets).max(axis=1) <= FOUND_IOU
            keep &= _inside(new.xyxy, dets).max(axis=1) < FOUND_INSIDE
        new = new[np.nonzero(keep)[0]]
        if len(new):
            new = new[nms(new.xyxy, new.score, 0.5)]
        self.found += len(new)
        return _merge(detections, self._like(detections, new))

    def _back(self, d: Detections, c: Crop, fw: int, fh: int) -> Detections:
        """``d`` (crop-input pixels) in frame pixels, minus finds cut by an inner crop edge."""
        if not len(d):
            return d
        s = self.cfg.crop_input
        lo, hi = EDGE_PX, s - EDGE_PX
        cut = np.zeros(len(d), bool)
        if c.x0 > 0:
            cut |= d.xyxy[:, 0] <= lo
        if c.y0 > 0:
            cut |= d.xyxy[:, 1] <= lo
        if c.x0 + c.side < fw:
            cut |= d.xyxy[:, 2] >= hi
        if c.y0 + c.side < fh:
            cut |= d.xyxy[:, 3] >= hi
        d = d[np.nonzero(~cut)[0]]
        k = c.side / float(s)
        shift = np.array([c.x0, c.y0, c.x0, c.y0], np.float32)
        kp = None
        if d.keypoints is not None:
            kp = d.keypoints.copy()
            kp[:, :, 0] = kp[:, :, 0] * k + c.x0
            kp[:, :, 1] = kp[:, :, 1] * k + c.y0
        return Detections(xyxy=d.xyxy * k + shift, score=d.score, class_id=d.class_id, keypoints=kp)

    @staticmethod
    def _like(ref: Detections, d: Detections) -> Detections:
        """``d`` with keypoints exactly when ``ref`` has them (an empty find of a pose model has
        keypoints of shape (0, 17, 3); the merge keeps one layout)."""
        if ref.keypoints is not None and d.keypoints is None:
            return Detections(d.xyxy, d.score, d.class_id, np.zeros((len(d), NUM_KEYPOINTS, 3), np.float32))
        if ref.keypoints is None and d.keypoints is not None:
            return Detections(d.xyxy, d.score, d.class_id, None)
        return d


def crop_detector(detector: Detector, cfg: DetectorConfig) -> Detector:
    """The detector the crops run on: the camera's own model at ``crop_input``, sharing its
    session (a YOLO detector; one model in memory) or its shared worker (a shared detector's view);
    any other detector (a test's synthetic one) is used as it is."""
    from storelens.vision.detector import YoloDetector
    from storelens.vision.shared_detector import CameraDetector

    size = cfg.second_pass.crop_input
    if isinstance(detector, YoloDetector):
        crop_cfg = detector.cfg.model_copy(update={"input_size": size})
        return YoloDetector(crop_cfg, session=detector.session, keep_classes=detector.keep_classes)
    if isinstance(detector, CameraDetector):
        return detector.shared.for_camera(size)
    return detector


def second_pass_for(detector: Detector, cfg: DetectorConfig) -> SecondPass | None:
    """A camera's second pass, or None when ``detector.second_pass`` is off."""
    if not cfg.second_pass.enabled:
        return None
    return SecondPass(cfg.second_pass, crop_detector(detector, cfg), cfg.input_size)


__all__ = ["Crop", "SecondPass", "crop_detector", "second_pass_for"]
