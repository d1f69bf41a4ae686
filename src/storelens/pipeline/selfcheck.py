"""Know when the detector is not seeing: a running per-camera self-check.

Why: on a high-mounted camera with people 40-60 px tall, the pose model at 640 found almost
nobody, and nothing said so: ``run`` was silent and the annotated frames read ``people=0`` with
seven people in view. Every number storelens produces starts with a detection, so a camera whose
detector is blind must say so, with the fix. Two cues need no ground truth:

* **motion without people**: things that move like people (taller than wide, larger than noise)
  while no person box explains them, in a good share of the frames of a window. A flickering sign
  or a swinging door is usually wider than tall or always in one place; a share threshold and a
  window of tens of seconds keep one trolley from raising it;
* **people small for the input**: the median detected person height, measured in the detector's
  input pixels (what the model sees after letterboxing), below what YOLO models find reliably.

A finding becomes one ``camera.degraded`` event (reason, one-line message with the suggested
setting, the measured figures) and a log warning, at most once per reason per ``cooldown_s``;
``storelens validate --probe`` runs the same check on sampled frames.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from storelens.config.cameras import CameraConfig
from storelens.config.store import StoreConfig
from storelens.core.types import Detections
from storelens.privacy.motion import MotionRegions

MIN_INPUT_HEIGHT = 48.0
"""Median person height (detector input pixels) below which detection gets unreliable."""
TARGET_INPUT_HEIGHT = 72.0
"""Height the suggested input size aims for."""
MAX_SUGGESTED_INPUT = 1280


@dataclass(frozen=True, slots=True)
class Finding:
    reason: str  # "motion_without_people" | "people_small_for_input"
    message: str
    measured: dict[str, float]


@dataclass(slots=True)
class _Record:
    pts: float
    moving: bool  # person-like motion and no person detected in the frame
    people: int
    motion_heights: list[float]  # unexplained person-like motion areas, frame pixels
    heights: list[float]  # detected people, frame pixels


def suggested_input(input_size: int, long_side: int, frame_height_px: float) -> int:
    """Smallest multiple of 32 at which a person ``frame_height_px`` tall reaches the target
    height in the detector's input (capped at 1280)."""
    if frame_height_px <= 0:
        return MAX_SUGGESTED_INPUT
    need = TARGET_INPUT_HEIGHT * long_side / frame_height_px
    return int(min(MAX_SUGGESTED_INPUT, max(input_size + 32, 32 * math.ceil(need / 32))))


class DetectionSelfCheck:
    """Feed every analysed frame with its detections; returns new findings (usually none)."""

    def __init__(
        self,
        camera_id: str,
        model: str,
        input_size: int,
        *,
        window_s: float = 30.0,
        min_frames: int = 20,
        motion_share: float = 0.3,
        cooldown_s: float = 600.0,
    ) -> None:
        self.camera_id = camera_id
        self.model = model
        self.input_size = input_size
        self.window_s = window_s
        self.min_frames = min_frames
        self.motion_share = motion_share
        self.cooldown_s = cooldown_s
        # the moving areas as they are (no blur margin), this frame only, against the frames before it
        self._motion = MotionRegions(hold=1, grow=0.0, background=False)
        self._window: deque[_Record] = deque()
        self._last: dict[str, float] = {}
        self._long_side = 0

    def update(self, image: npt.NDArray[np.uint8], detections: Detections, pts: float) -> list[Finding]:
        if self._window and pts < self._window[-1].pts:  # the source's clock restarted (a looped file)
            self._window.clear()
            self._last.clear()
        h, w = image.shape[:2]
        self._long_side = max(h, w)
        people = detections.xyxy.astype(np.float32).reshape(-1, 4)
        areas = self._motion.regions(image, people)
        heights = areas[:, 3] - areas[:, 1]
        widths = areas[:, 2] - areas[:, 0]
        person_like = (heights >= 0.03 * h) & (heights >= 0.8 * widths)
        rec = _Record(
            pts=float(pts),
            moving=bool(person_like.any()) and len(people) == 0,
            people=len(people),
            motion_heights=heights[person_like].tolist(),
            heights=(people[:, 3] - people[:, 1]).tolist(),
        )
        self._window.append(rec)
        while self._window and rec.pts - self._window[0].pts > self.window_s:
            self._window.popleft()
        if rec.pts - self._window[0].pts < 0.9 * self.window_s:
            return []
        return [f for f in self.findings() if self._due(f.reason, rec.pts)]

    def findings(self) -> list[Finding]:
        """What the frames in the window say now (``validate --probe`` calls this directly)."""
        recs = list(self._window)
        if len(recs) < self.min_frames or not self._long_side:
            return []
        out: list[Finding] = []
        scale = self.input_size / float(self._long_side)
        span = recs[-1].pts - recs[0].pts
        share = float(np.mean([r.moving for r in recs]))
        per_frame = float(np.mean([r.people for r in recs]))
        if share >= self.motion_share:
            mh = [x for r in recs for x in r.motion_heights]
            typical = float(np.median(mh)) if mh else 0.0
            size = suggested_input(self.input_size, self._long_side, typical)
            out.append(
                Finding(
                    "motion_without_people",
                    f"camera {self.camera_id}: person-like motion that no detection explains in {share:.0%} of "
                    f"the frames of the last {span:.0f} s ({per_frame:.1f} people detected per frame): people may be "
                    f"too small for {self.model} at input {self.input_size} (moving areas ~{typical:.0f} px tall, "
                    f"{typical * scale:.0f} px in the model's input); try {self._fix(size)}",
                    {
                        "motion_share": round(share, 3),
                        "people_per_frame": round(per_frame, 2),
                        "motion_height_px": round(typical, 1),
                        "suggested_input_size": float(size),
                    },
                )
            )
        heights = [x for r in recs for x in r.heights]
        if len(heights) >= 10:
            median = float(np.median(heights))
            if median * scale < MIN_INPUT_HEIGHT:
                size = suggested_input(self.input_size, self._long_side, median)
                out.append(
                    Finding(
                        "people_small_for_input",
                        f"camera {self.camera_id}: detected people are {median:.0f} px tall, {median * scale:.0f} px "
                        f"in the detector's input ({self.model} at {self.input_size}); below "
                        f"{MIN_INPUT_HEIGHT:.0f} px many are missed: try {self._fix(size)}",
                        {
                            "person_height_px": round(median, 1),
                            "input_height_px": round(median * scale, 1),
                            "suggested_input_size": float(size),
                        },
                    )
                )
        return out

    def person_heights(self) -> tuple[float, float] | None:
        """(median, 10th percentile) of the detected people's heights in frame pixels over the
        window, or None with fewer than 10 detections."""
        heights = [x for r in self._window for x in r.heights]
        if len(heights) < 10:
            return None
        return float(np.median(heights)), float(np.percentile(heights, 10))

    def smallest_input(self) -> int | None:
        """The smallest detector input (multiple of 32, >= 320) at which nine in ten of the people
        seen stay at least ``MIN_INPUT_HEIGHT`` px tall in the model's input: the cheapest setting
        that keeps this camera's people detectable (detection cost grows with the input's area)."""
        heights = self.person_heights()
        if heights is None or not self._long_side:
            return None
        need = MIN_INPUT_HEIGHT * self._long_side / max(heights[1], 1.0)
        return int(min(MAX_SUGGESTED_INPUT, max(320, 32 * math.ceil(need / 32))))

    def _fix(self, size: int) -> str:
        """The suggested setting: the det model finds small people the pose model misses (see
        bench/detection_scale.py), and a larger input makes every person larger for the model."""
        if "pose" in self.model:
            return f"detector.model: yolo11n-det or detector.input_size: {size}"
        return f"detector.input_size: {size}"

    def _due(self, reason: str, pts: float) -> bool:
        last = self._last.get(reason)
        if last is not None and pts - last < self.cooldown_s:
            return False
        self._last[reason] = pts
        return True


def probe_camera(
    store: StoreConfig, cam: CameraConfig, *, seconds: float = 30.0, max_frames: int = 90
) -> DetectionSelfCheck:
    """Run the self-check on a sample of the camera's frames (``storelens validate --probe``):
    up to ``max_frames`` frames spread over the first ``seconds`` of the source, with the store's
    own detector; returns the check (``findings()``, ``person_heights()``, ``smallest_input()``).
    Raises :class:`~storelens.sources.base.SourceError` when the source cannot be read, like the
    pipeline would."""
    import time

    from storelens.sources.factory import open_source
    from storelens.vision.detector import YoloDetector

    settings = store.detector_for(cam.id)
    detector = YoloDetector(settings, base_dir=store.base_dir)
    check = DetectionSelfCheck(cam.id, settings.model, settings.input_size, window_s=seconds, min_frames=10)
    step = max(seconds / max_frames, 1e-3)
    source = open_source(cam, store.base_dir)
    deadline = time.monotonic() + seconds + 30.0  # a live camera: do not wait for ever
    try:
        next_pts = 0.0
        first: float | None = None
        for frame in source.frames():
            first = frame.pts if first is None else first
            t = frame.pts - first
            if t > seconds or time.monotonic() > deadline:
                break
            if t + 1e-9 < next_pts:
                continue
            next_pts = t + step
            check.update(frame.image, detector.detect(frame.image), t)
    finally:
        source.close()
    return check
