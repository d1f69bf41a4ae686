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
from storelens.config.emotion import EmotionConfig
from storelens.core.types import Tracks
from storelens.vision.expressions import EXPRESSION_LABELS, UNCERTAIN, ExpressionClassifier, calibrate
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
from storelens.vision.letterbox import check_image

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
    smoothing. ``face_xyxy`` is the face box in frame pixels when a face was found. ``probs`` are
    temperature-calibrated (``emotion.temperature``); ``uncertain`` when their top value is below
    ``emotion.min_confidence``: the reading then has no label and is not used in per-visit summaries.
    ``aligned``: the eye line was levelled (the detection was sure enough to trust its landmarks).
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
    uncertain: bool = False
    aligned: bool = False

    @property
    def label(self) -> str:
        """Single-frame argmax label, "uncertain" or "unknown" (prefer the smoothed label for anything shown)."""
        if self.probs is None:
            return UNKNOWN
        if self.uncertain:
            return UNCERTAIN
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
        self.upright = AlignParams(margin=cfg.align_margin, rotate=False)
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
                flip_weight=self.cfg.flip_weight if self.cfg.flip_average else 0.0,
                threads=self.cfg.threads,
                device=self.cfg.device,
            )
        return self._classifier

    def find_faces(
        self, image_bgr: npt.NDArray[np.uint8], tracks: Tracks, only: npt.NDArray[np.bool_] | None = None
    ) -> tuple[Faces, dict[int, str]]:
        """Faces of the tracked people, attached to their rows, and the rows left without one
        (with the reason). Does not read expressions; usable on its own for blurring. ``only``:
        per row, whether it may be looked at at all (the others are skipped, with no reason)."""
        check_image(image_bgr)
        self._frames += 1
        if only is not None and len(only) != len(tracks):
            raise ValueError(f"only has {len(only)} values for {len(tracks)} tracks")
        rows = [
            i
            for i in range(len(tracks))
            if int(tracks.class_id[i]) == self.person_class and (only is None or bool(only[i]))
        ]
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

    def process(
        self,
        image_bgr: npt.NDArray[np.uint8],
        tracks: Tracks,
        ts: float,
        only: npt.NDArray[np.bool_] | None = None,
    ) -> dict[int, ExpressionReading]:
        """Readings for this frame keyed by row index in ``tracks`` (person rows only); empty when
        emotion is disabled. ``ts`` is the frame time in seconds (kept for the caller's tracker;
        the per-frame work does not depend on it). ``only``: per row, whether it may be read; the
        pipeline passes the known shoppers outside staff zones, so a staff member's face is never
        looked for and has no reading at all (not even an "unknown" one)."""
        if not self.cfg.enabled:
            self.last_faces = Faces.empty()
            return {}
        if not math.isfinite(ts):
            raise ValueError(f"timestamp must be finite, got {ts}")
        faces, missing = self.find_faces(image_bgr, tracks, only)
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
        # Level the eye line only where the detection is sure: an unsure box's landmarks are often
        # off, and a wrong rotation costs more than none (issue 19). The others are cropped upright.
        aligned = readable & (attached.score >= self.cfg.align_min_score)
        if readable.any():
            crops = np.zeros((len(attached), self.align.out_size, self.align.out_size), np.uint8)
            for mask, params in ((aligned, self.align), (readable & ~aligned, self.upright)):
                if mask.any():
                    r = attached[mask]
                    rk, lk = r.keypoints[:, FKP["right_eye"]], r.keypoints[:, FKP["left_eye"]]
                    crops[mask] = align_faces(image_bgr, r.xyxy, rk, lk, params)
            probs[readable] = calibrate(self.classifier.predict(crops[readable]), self.cfg.temperature)
            del crops  # the only copy of the face pixels; gone before this call returns
        uncertain = probs.max(axis=1) < self.cfg.min_confidence
        for k in range(len(attached)):
            row = int(attached.track_row[k])
            if readable[k]:
                p, q, reason = probs[k].copy(), float(quality[k]), None
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
                uncertain=bool(readable[k] and uncertain[k]),
                aligned=bool(aligned[k]),
            )
        return out


def feed_tracker(tracker: ExpressionTracker, tracks: Tracks, readings: dict[int, ExpressionReading], ts: float) -> None:
    """Pass one frame's readings to the per-visit tracker, keyed by the tracks' subject id (visit
    id when stitched). Coasting rows are skipped: the person was not seen, so there is neither a
    reading nor evidence of an unreadable face. An uncertain reading goes in as no reading: the
    per-visit summary is built from confident readings only (issue 19)."""
    subjects = tracks.subject_id
    for row, r in readings.items():
        if r.reason == REASON_COASTING:
            continue
        tracker.update(int(subjects[row]), None if r.uncertain else r.probs, r.quality, ts)


def tracker_from_config(cfg: EmotionConfig) -> ExpressionTracker:
    return ExpressionTracker(half_life_s=cfg.half_life_s, hysteresis=cfg.hysteresis, min_hold_s=cfg.min_hold_s)


STILL_TIGHT = "tight_crop"  # the image is already a face crop: read whole
STILL_NO_FACE = "no_face"  # no face detected: read whole
STILL_UNSURE = "unsure_face"  # the detection scored below emotion.align_min_score: read whole
STILL_ALIGNED = "aligned"  # eye-line alignment on the detected face


@dataclass(frozen=True, slots=True, eq=False)
class StillReading:
    """The expression of the main face of a still image (the ``storelens expressions`` CLI).

    ``probs`` are calibrated; ``label`` is "uncertain" when their top value is below
    ``emotion.min_confidence``; ``crop`` says which preprocessing was used (``STILL_*``)."""

    label: str
    probs: npt.NDArray[np.float32]
    face_xyxy: npt.NDArray[np.float32]
    crop: str

    @property
    def whole_image(self) -> bool:
        """True when the whole image was read as the face (tight crop, or no sure detection)."""
        return self.crop != STILL_ALIGNED

    @property
    def confidence(self) -> float:
        return float(np.max(self.probs))


def is_tight_crop(shape: tuple[int, ...], cfg: EmotionConfig) -> bool:
    """A small, nearly square image is a face crop already (a 48x48 FER/CK+ face): nothing else of
    that size has a readable expression, so the detector and the alignment are skipped. They cost
    5x the classifier and measured no gain on such crops (bench/expression_cv.py)."""
    h, w = shape[:2]
    return min(h, w) <= cfg.tight_crop_px and max(h, w) <= 1.25 * min(h, w)


def read_still(
    image_bgr: npt.NDArray[np.uint8],
    detectors: list[FaceDetector],
    classifier: ExpressionClassifier,
    cfg: EmotionConfig | None = None,
) -> StillReading:
    """Read the expression of the largest face in a still image; never worse than the plain crop.

    The plain model on the whole image (the ``fer`` way) is the floor; the alignment is used only
    where it can help: the image is not already a tight crop (:func:`is_tight_crop`, or a detected
    face filling ``tight_crop_fraction`` of it) and a detector (short range, then full range) is sure
    of the face (score >= ``align_min_score``). Everything else is read whole, unaligned. Flip
    averaging follows the classifier's setting. Probabilities are calibrated with
    ``cfg.temperature``; below ``cfg.min_confidence`` the label is "uncertain".
    """
    cfg = cfg or EmotionConfig()
    check_image(image_bgr)
    h, w = image_bgr.shape[:2]
    crop = STILL_TIGHT
    if not is_tight_crop(image_bgr.shape, cfg):
        crop = STILL_NO_FACE
        for det in detectors:
            faces = det.detect(image_bgr)
            if not len(faces):
                continue
            f = faces[int(np.argmax(faces.score * faces.size_px))]
            if float(f.size_px[0]) >= cfg.tight_crop_fraction * min(h, w):
                crop = STILL_TIGHT
            elif float(f.score[0]) < cfg.align_min_score:
                crop = STILL_UNSURE
            else:
                align = AlignParams(margin=cfg.align_margin)
                rk, lk = f.keypoints[:, FKP["right_eye"]], f.keypoints[:, FKP["left_eye"]]
                probs = calibrate(classifier.predict(align_faces(image_bgr, f.xyxy, rk, lk, align))[0], cfg.temperature)
                return StillReading(_still_label(probs, cfg), probs.astype(np.float32), f.xyxy[0], STILL_ALIGNED)
            break
    gray = np.asarray(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY), np.uint8)
    probs = calibrate(classifier.predict(plain_crop(gray)[None])[0], cfg.temperature)
    box = np.array([0, 0, w, h], np.float32)
    return StillReading(_still_label(probs, cfg), probs.astype(np.float32), box, crop)


def _still_label(probs: npt.NDArray[np.float64], cfg: EmotionConfig) -> str:
    if float(probs.max()) < cfg.min_confidence:
        return UNCERTAIN
    return EXPRESSION_LABELS[int(np.argmax(probs))]


def _area(xyxy: npt.NDArray[np.float32]) -> float:
    return float(max(xyxy[2] - xyxy[0], 0) * max(xyxy[3] - xyxy[1], 0))
