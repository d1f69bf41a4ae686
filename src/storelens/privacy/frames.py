"""The frame redactor: person detector + face detector + :func:`~storelens.privacy.redact.redact`.

Every image that leaves storelens (live view, snapshot, clip, ``storelens redact`` output) is made
here, and the result is a :class:`RedactedFrame`: the snapshot store and the video writer accept
nothing else, so an unredacted frame has no type-correct way out.

Faces are looked for two ways and everything found is blurred (a false face costs a blurred patch,
a missed face costs a shopper's privacy): BlazeFace full range on the whole frame, and BlazeFace
short range on an upscaled square around each person's head (finds faces too small for the
whole-frame pass). On top, :func:`redact` blurs a head box per person from the pose keypoints, or
the top of the person box when the head keypoints are not visible, so a face the face detector
misses is still covered. Privacy masks are filled first.

For video (successive frames of one camera) a :class:`~storelens.privacy.motion.MotionRegions`
may be given: areas that move but hold no detection are blurred whole, so a person the detector
missed is not shown either (redaction that does not depend on the detector, issue 13).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from storelens.config.detection import DetectorConfig
from storelens.core.geometry import iou_matrix
from storelens.core.types import Detections
from storelens.privacy.motion import MotionRegions
from storelens.privacy.redact import head_boxes, redact
from storelens.vision.base import Detector
from storelens.vision.faces import FaceDetector, head_regions

Polygon = Sequence[tuple[float, float]]


@dataclass(frozen=True, slots=True, eq=False)
class RedactedFrame:
    """An image that went through :func:`redact` (BGR uint8), with what was blurred in it.

    Build it only through :class:`FrameRedactor`; its image is a fresh array nobody else holds."""

    image: npt.NDArray[np.uint8]
    people: int
    faces: int
    face_xyxy: npt.NDArray[np.float32] = field(repr=False)
    regions_xyxy: npt.NDArray[np.float32] = field(repr=False, default_factory=lambda: np.zeros((0, 4), np.float32))
    """Areas blurred whole (motion without a detection, caller's regions): what the proof checks."""
    heads_xyxy: npt.NDArray[np.float32] = field(repr=False, default_factory=lambda: np.zeros((0, 4), np.float32))
    """The head boxes blurred (one per person detection)."""
    person_xyxy: npt.NDArray[np.float32] = field(repr=False, default_factory=lambda: np.zeros((0, 4), np.float32))
    """The person detections whose heads were blurred."""

    def copy(self) -> RedactedFrame:
        """The same redacted frame on its own image array: a writer that encodes later (on another
        thread) keeps this, so nothing the caller does to its array afterwards can reach the file."""
        return RedactedFrame(
            self.image.copy(),
            self.people,
            self.faces,
            self.face_xyxy.copy(),
            self.regions_xyxy.copy(),
            self.heads_xyxy.copy(),
            self.person_xyxy.copy(),
        )

    def blurred_xyxy(self) -> npt.NDArray[np.float32]:
        """Every box blurred in :attr:`image`: heads, faces (padded as :func:`redact` pads them), regions."""
        f = self.face_xyxy.reshape(-1, 4)
        pad = np.stack([(f[:, 2] - f[:, 0]) * 0.25, (f[:, 3] - f[:, 1]) * 0.25], axis=1)
        faces = np.concatenate([f[:, :2] - pad, f[:, 2:] + pad], axis=1)
        return np.concatenate([self.heads_xyxy, faces, self.regions_xyxy]).astype(np.float32).reshape(-1, 4)

    def to_jpeg(self, quality: int = 85) -> bytes:
        ok, buf = cv2.imencode(".jpg", self.image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:  # pragma: no cover - OpenCV fails only on invalid arrays, which a RedactedFrame is not
            raise ValueError("JPEG encoding failed")
        return bytes(buf.tobytes())


def merge_boxes(boxes: npt.NDArray[np.float32], iou: float = 0.3) -> npt.NDArray[np.float32]:
    """Collapse boxes that overlap by more than ``iou`` into their union (one box per face).

    Both face searches usually find the same face; counting it once makes "faces blurred" a count
    of faces, and blurring the union covers whichever box was larger."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    if len(b) < 2:
        return b.copy()
    area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    order = list(np.argsort(-area))
    out: list[npt.NDArray[np.float32]] = []
    used = np.zeros(len(b), bool)
    ious = iou_matrix(b, b)
    for i in order:
        if used[i]:
            continue
        group = np.flatnonzero((ious[i] > iou) & ~used)
        used[group] = True
        g = b[group]
        out.append(np.array([g[:, 0].min(), g[:, 1].min(), g[:, 2].max(), g[:, 3].max()], np.float32))
    return np.stack(out).astype(np.float32)


class FrameRedactor:
    """Redact BGR frames: ``redactor(image)`` or ``redactor(image, detections)``.

    ``person_detector`` runs when the caller has no detections for the frame (``storelens
    redact``); the pipeline passes the detections it already has. ``whole_face`` and
    ``region_face`` are BlazeFace detectors (``storelens.vision.faces.FaceDetector``, full range
    and short range); either may be None when face detection is switched off
    (``privacy.face_detection: false``), leaving the pose head boxes. ``masks`` are polygons in the
    pixels of the frames given. ``motion`` (only for successive frames of one camera) blurs what
    moves outside every detection.
    """

    def __init__(
        self,
        *,
        person_detector: Detector | None = None,
        whole_face: FaceDetector | None = None,
        region_face: FaceDetector | None = None,
        masks: Sequence[Polygon] = (),
        head_padding: float = 2.0,
        motion: MotionRegions | None = None,
    ) -> None:
        self.person_detector = person_detector
        self.motion = motion
        self.whole_face = whole_face
        self.region_face = region_face
        self.masks = [list(m) for m in masks]
        self.head_padding = head_padding
        self.frames = 0
        self.faces = 0
        self.people = 0

    @classmethod
    def build(
        cls,
        *,
        detector: DetectorConfig | None = None,
        face_detection: bool = True,
        masks: Sequence[Polygon] = (),
        threads: int = 1,
        device: str = "cpu",
        with_person_detector: bool = True,
        motion: bool = False,
    ) -> FrameRedactor:
        """The standard set: YOLO pose (vendored ``yolo11n-pose``) and both BlazeFace variants."""
        from storelens.vision.detector import YoloDetector

        person: Detector | None = None
        if with_person_detector:
            cfg = detector or DetectorConfig(threads=threads, device="cpu" if device == "cpu" else "auto")
            person = YoloDetector(cfg)
        whole = region = None
        if face_detection:
            whole = FaceDetector("full_range", threads=threads, device=device)
            region = FaceDetector("short_range", threads=threads, device=device)
        return cls(
            person_detector=person,
            whole_face=whole,
            region_face=region,
            masks=masks,
            motion=MotionRegions() if motion else None,
        )

    def find_faces(self, image: npt.NDArray[np.uint8], detections: Detections) -> npt.NDArray[np.float32]:
        """Face boxes (frame pixels) from the whole-frame and the per-head searches, merged."""
        boxes: list[npt.NDArray[np.float32]] = []
        if self.whole_face is not None:
            boxes.append(self.whole_face.detect(image).xyxy)
        if self.region_face is not None and len(detections):
            for cx, cy, side in head_regions(detections.xyxy, detections.keypoints, padding=self.head_padding):
                boxes.append(self.region_face.detect_region(image, float(cx), float(cy), float(side)).xyxy)
        if not boxes:
            return np.zeros((0, 4), np.float32)
        return merge_boxes(np.concatenate(boxes).astype(np.float32))

    def __call__(
        self,
        image: npt.NDArray[np.uint8],
        detections: Detections | None = None,
        *,
        known_faces: npt.NDArray[np.float32] | None = None,
        regions: npt.NDArray[np.float32] | None = None,
    ) -> RedactedFrame:
        """Redact ``image``; ``known_faces`` are face boxes the caller already found (the pipeline's
        expression stage), blurred with the ones found here so a face either search sees is covered;
        ``regions`` (xyxy) are blurred whole, with the motion regions."""
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(
                f"expected an HxWx3 uint8 BGR image, got shape={getattr(image, 'shape', None)} "
                f"dtype={getattr(image, 'dtype', None)}"
            )
        if detections is None:
            if self.person_detector is None:
                raise ValueError("no detections given and no person detector configured: cannot locate heads")
            detections = self.person_detector.detect(image)
        faces = self.find_faces(image, detections)
        if known_faces is not None and len(known_faces):
            faces = merge_boxes(np.concatenate([faces, np.asarray(known_faces, np.float32).reshape(-1, 4)]))
        whole = [np.asarray(regions, np.float32).reshape(-1, 4)] if regions is not None else []
        if self.motion is not None:
            whole.append(self.motion.regions(image, detections.xyxy))
        blur = np.concatenate(whole).astype(np.float32) if whole else np.zeros((0, 4), np.float32)
        out = redact(image, detections.xyxy, detections.keypoints, face_xyxy=faces, masks=self.masks, regions=blur)
        self.frames += 1
        self.faces += len(faces)
        self.people += len(detections)
        heads = head_boxes(detections.xyxy, detections.keypoints) if len(detections) else np.zeros((0, 4), np.float32)
        people = np.asarray(detections.xyxy, np.float32).reshape(-1, 4).copy()
        return RedactedFrame(out, len(detections), len(faces), faces, blur, heads, people)
