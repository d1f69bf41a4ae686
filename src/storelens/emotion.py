"""The emotion pipeline stage: faces of tracked people -> quality gate -> aligned crops -> expression.

Per frame: find each tracked person's face (BlazeFace on a head crop placed by the pose
keypoints, or on the whole frame), decide from face size and frontality whether an expression
can be read at all, align the readable ones, classify them in one batch, and return one
:class:`ExpressionReading` per person row: the 7-class probabilities with a quality weight, or
the reason it is "unknown". Smoothing over time is :mod:`storelens.analytics.expressions`'s job
(:func:`feed_tracker` connects the two).

Privacy: face crops exist only as local arrays inside :meth:`EmotionStage.process` and are
released when it returns; readings hold numbers and a face box, no pixels. With
``emotion.enabled: false`` the stage loads no model and returns nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from storelens.analytics.expressions import ExpressionTracker
from storelens.config.schema import EmotionConfig
from storelens.core.types import Tracks
from storelens.vision.expressions import EXPRESSION_LABELS, ExpressionClassifier
from storelens.vision.face_align import AlignParams, align_faces, plain_crop
from storelens.vision.faces import (
    FKP,
    FaceDetector,
    Faces,
    assign_faces_to_boxes,
    face_frontality,
    head_regions,
    pick_face_for_region,
)

UNKNOWN = "unknown"

# reasons a person row has no expression reading
REASON_COASTING = "coasting"  # the tracker predicted the box; the person was not seen this frame
REASON_NO_FACE = "no_face"
REASON_TOO_SMALL = "face_too_small"
REASON_NOT_FRONTAL = "not_frontal"
REASON_FACING_AWAY = "facing_away"  # the pose model sees no nose or eye: a face box there is a false find
REASON_DEFERRED = "deferred"  # more people than emotion.max_faces: read on a later frame


@dataclass(frozen=True, slots=True, eq=False)
class ExpressionReading:
    """One person's expression in one frame.

    ``probs`` (7,) over :data:`EXPRESSION_LABELS` when the face passed the quality gate, else None
    with ``reason`` saying why. ``quality`` in [0, 1] (0 when unread) weights the reading in
    smoothing. ``face_xyxy`` is the face box in frame pixels when a face was found.
    """

    row: int
    track_id: int
    probs: npt.NDArray[np.float32] | None
    quality: float
    reason: str | None
    face_xyxy: npt.NDArray[np.float32] | None = None
    face_score: float = 0.0
    face_px: float = 0.0
    frontality: float = 0.0

    @property
    def label(self) -> str:
        """Single-frame argmax label, or "unknown" (prefer the smoothed label for anything shown)."""
        if self.probs is None:
            return UNKNOWN
        return EXPRESSION_LABELS[int(np.argmax(self.probs))]

    @property
    def confidence(self) -> float:
        """Single-frame confidence: top probability x quality (0 when unknown)."""
        if self.probs is None:
            return 0.0
        return float(np.max(self.probs)) * self.quality


def reading_quality(
    face_px: npt.ArrayLike, frontality: npt.ArrayLike, full_quality_face_px: float
) -> npt.NDArray[np.float32]:
    """Quality weight in [0, 1]: size factor (face px / full-quality px, capped at 1) times
    frontality. On CK+48 accuracy fell from 77 % at 46 px faces to 62 % at 23 px and 47 % at 19 px
    (bench/expressions.py), so small faces count for less even above the gate."""
    size = np.clip(np.asarray(face_px, np.float64) / max(full_quality_face_px, 1e-6), 0.0, 1.0)
    front = np.clip(np.asarray(frontality, np.float64), 0.0, 1.0)
    return np.asarray(size * front, np.float32)


class EmotionStage:
    """Expression readings for the tracked people of one camera.

    ``person_class``: only tracks of this class are looked at. ``detector`` / ``classifier`` may
    be passed to share sessions (e.g. with the redaction code); otherwise they are created from
    ``cfg`` on first use. After :meth:`process`, :attr:`last_faces` holds every face found in that
    frame (boxes and landmarks in frame pixels, ``track_row`` = row in the tracks or -1), for
    blurring.
    """

    def __init__(
        self,
        cfg: EmotionConfig,
        *,
        person_class: int = 0,
        detector: FaceDetector | None = None,
        classifier: ExpressionClassifier | None = None,
    ) -> None:
        self.cfg = cfg
        self.person_class = person_class
        self._detector = detector
        self._classifier = classifier
        self.align = AlignParams(margin=cfg.align_margin)
        self.last_faces: Faces = Faces.empty()
        self._last_looked: dict[int, int] = {}  # track id -> frame count when its face was last looked for
        self._frames = 0

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            self._detector = FaceDetector(
                self.cfg.detector, self.cfg.face_score, threads=self.cfg.threads, device=self.cfg.device
            )
        return self._detector

    @property
    def classifier(self) -> ExpressionClassifier:
        if self._classifier is None:
            self._classifier = ExpressionClassifier(
                flip_average=self.cfg.flip_average, threads=self.cfg.threads, device=self.cfg.device
            )
        return self._classifier

    def find_faces(self, image_bgr: npt.NDArray[np.uint8], tracks: Tracks) -> tuple[Faces, dict[int, str]]:
        """Faces of the tracked people, attached to their rows, and the rows left without one
        (with the reason). Does not read expressions; usable on its own for blurring."""
        _check_image(image_bgr)
        self._frames += 1
        rows = [i for i in range(len(tracks)) if int(tracks.class_id[i]) == self.person_class]
        missing: dict[int, str] = {}
        seen = [i for i in rows if tracks.detection_index[i] >= 0]
        for i in rows:
            if tracks.detection_index[i] < 0:
                missing[i] = REASON_COASTING
        # Budget: at most max_faces face searches per frame. The people looked at longest ago go
        # first (never-looked-at ones before all), larger (nearer) people breaking ties, so with
        # more people than the budget everyone is still read every few frames.
        ids = [int(t) for t in tracks.track_id]
        seen.sort(key=lambda i: (self._last_looked.get(ids[i], -1), -_area(tracks.xyxy[i])))
        for i in seen[self.cfg.max_faces :]:
            missing[i] = REASON_DEFERRED
        seen = seen[: self.cfg.max_faces]
        present = set(ids)
        self._last_looked = {k: v for k, v in self._last_looked.items() if k in present}
        for i in seen:
            self._last_looked[ids[i]] = self._frames
        if not seen:
            return Faces.empty(), missing
        idx = np.asarray(seen)
        if self.cfg.face_search == "frame":
            found = assign_faces_to_boxes(self.detector.detect(image_bgr), tracks.xyxy[idx])
            rows_arr = np.where(found.track_row >= 0, idx[np.maximum(found.track_row, 0)], -1)
            faces = Faces(found.xyxy, found.score, found.keypoints, rows_arr.astype(np.int32))
        else:
            kps = None if tracks.keypoints is None else tracks.keypoints[idx]
            regions = head_regions(tracks.xyxy[idx], kps, padding=self.cfg.head_padding)
            parts: list[Faces] = []
            for row, (cx, cy, side) in zip(seen, regions, strict=True):
                cand = self.detector.detect_region(image_bgr, float(cx), float(cy), float(side))
                best = pick_face_for_region(cand, float(cx), float(cy), float(side))
                if best is not None:
                    f = cand[best]
                    parts.append(Faces(f.xyxy, f.score, f.keypoints, np.array([row], np.int32)))
            faces = Faces.concat(parts)
        with_face = {int(r) for r in faces.track_row if r >= 0}
        for i in seen:
            if i not in with_face:
                missing[i] = REASON_NO_FACE
        return faces, missing

    def process(self, image_bgr: npt.NDArray[np.uint8], tracks: Tracks, ts: float) -> dict[int, ExpressionReading]:
        """Readings for this frame keyed by row index in ``tracks`` (person rows only); empty when
        emotion is disabled. ``ts`` is the frame time in seconds (kept for the caller's tracker;
        the per-frame work does not depend on it)."""
        if not self.cfg.enabled:
            self.last_faces = Faces.empty()
            return {}
        if not math.isfinite(ts):
            raise ValueError(f"timestamp must be finite, got {ts}")
        faces, missing = self.find_faces(image_bgr, tracks)
        self.last_faces = faces
        out: dict[int, ExpressionReading] = {
            row: ExpressionReading(row, int(tracks.track_id[row]), None, 0.0, reason) for row, reason in missing.items()
        }
        attached = faces[faces.track_row >= 0]
        if len(attached) == 0:
            return out
        size = attached.size_px
        front = face_frontality(attached.keypoints)
        quality = reading_quality(size, front, self.cfg.full_quality_face_px)
        readable = (size >= self.cfg.min_face_px) & (front >= self.cfg.min_frontality)
        facing_away = np.zeros(len(attached), dtype=bool)
        if tracks.keypoints is not None:
            # BlazeFace finds "faces" on the backs of heads now and then; the pose keypoints of the
            # same person say whether any facial feature is visible at all.
            face_vis = tracks.keypoints[attached.track_row][:, :3, 2].max(axis=1)
            facing_away = face_vis < self.cfg.min_face_keypoint_visibility
            readable &= ~facing_away
        probs = np.zeros((len(attached), len(EXPRESSION_LABELS)), np.float32)
        if readable.any():
            r = attached[readable]
            crops = align_faces(
                image_bgr, r.xyxy, r.keypoints[:, FKP["right_eye"]], r.keypoints[:, FKP["left_eye"]], self.align
            )
            probs[readable] = self.classifier.predict(crops)
            del crops  # the only copy of the face pixels; gone before this call returns
        for k in range(len(attached)):
            row = int(attached.track_row[k])
            if readable[k]:
                p, q, reason = probs[k], float(quality[k]), None
            else:
                p, q = None, 0.0
                if facing_away[k]:
                    reason = REASON_FACING_AWAY
                elif size[k] < self.cfg.min_face_px:
                    reason = REASON_TOO_SMALL
                else:
                    reason = REASON_NOT_FRONTAL
            out[row] = ExpressionReading(
                row=row,
                track_id=int(tracks.track_id[row]),
                probs=p,
                quality=q,
                reason=reason,
                face_xyxy=attached.xyxy[k].copy(),
                face_score=float(attached.score[k]),
                face_px=float(size[k]),
                frontality=float(front[k]),
            )
        return out


def feed_tracker(tracker: ExpressionTracker, tracks: Tracks, readings: dict[int, ExpressionReading], ts: float) -> None:
    """Pass one frame's readings to the per-visit tracker, keyed by the tracks' subject id (visit
    id when stitched). Coasting rows are skipped: the person was not seen, so there is neither a
    reading nor evidence of an unreadable face."""
    subjects = tracks.subject_id
    for row, r in readings.items():
        if r.reason == REASON_COASTING:
            continue
        tracker.update(int(subjects[row]), r.probs, r.quality, ts)


def tracker_from_config(cfg: EmotionConfig) -> ExpressionTracker:
    return ExpressionTracker(half_life_s=cfg.half_life_s, hysteresis=cfg.hysteresis, min_hold_s=cfg.min_hold_s)


@dataclass(frozen=True, slots=True, eq=False)
class StillReading:
    """The expression of the main face of a still image (the ``storelens expressions`` CLI)."""

    label: str
    probs: npt.NDArray[np.float32]
    face_xyxy: npt.NDArray[np.float32]
    whole_image: bool
    """True when no face was detected and the whole image was read as the face."""


def read_still(
    image_bgr: npt.NDArray[np.uint8],
    detectors: list[FaceDetector],
    classifier: ExpressionClassifier,
    align: AlignParams = AlignParams(),
) -> StillReading:
    """Read the expression of the largest confident face in a still image.

    Detectors are tried in order (short range, then full range for smaller faces) until one finds
    a face. When none does (e.g. a tiny, already tightly cropped 48x48 face), the whole image is
    taken as the face, unaligned: this path always answers with one of the 7 labels, because a
    measurement list needs one per image, so there is no quality gate here.
    """
    _check_image(image_bgr)
    for det in detectors:
        faces = det.detect(image_bgr)
        if len(faces):
            best = int(np.argmax(faces.score * faces.size_px))
            f = faces[best]
            crops = align_faces(
                image_bgr, f.xyxy, f.keypoints[:, FKP["right_eye"]], f.keypoints[:, FKP["left_eye"]], align
            )
            probs = classifier.predict(crops)[0]
            return StillReading(EXPRESSION_LABELS[int(np.argmax(probs))], probs, f.xyxy[0], False)
    gray = np.asarray(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY), np.uint8)
    probs = classifier.predict(plain_crop(gray)[None])[0]
    h, w = gray.shape
    box = np.array([0, 0, w, h], np.float32)
    return StillReading(EXPRESSION_LABELS[int(np.argmax(probs))], probs, box, True)


def _area(xyxy: npt.NDArray[np.float32]) -> float:
    return float(max(xyxy[2] - xyxy[0], 0) * max(xyxy[3] - xyxy[1], 0))


def _check_image(image: object) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"expected an HxWx3 uint8 BGR image, got shape={getattr(image, 'shape', None)} "
            f"dtype={getattr(image, 'dtype', None)}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError("image is empty")
