"""Detect only when it matters: a per-camera gate in front of the detector.

The person detector is nearly all of a camera's CPU, yet most frames of a store camera show
either nobody or shoppers who barely move. The gate reads motion on a small grey copy of the
frame (``width`` pixels wide, about 0.1 ms) and decides whether this frame needs a detector run:

- the scene changed since the last detection (``change_fraction`` of the small frame's pixels
  differ from the frame that was detected): detect, every frame while people move
  (``move_fraction`` changed since the previous analysed frame), otherwise every ``calm_every``-th
  frame, since a slow change does not make the held detections wrong at once;
- the scene did not change: the last detections still describe it and are handed on unchanged
  (the tracker then sees the same boxes, its motion model settles to standing still), so an
  empty aisle or a shopper standing at a shelf costs a resize and a subtraction;
- whatever the motion, no two detections are further apart than ``max_gap_s`` of media time,
  so a shopper standing perfectly still (whom frame differencing cannot see) is re-detected and a
  gradual lighting change cannot freeze stale boxes forever.

Comparing with the *detected* frame rather than only the previous one is what makes the gate
safe: slow motion accumulates until it is large enough to matter, then triggers a detection.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from storelens.config.detection import GatingConfig
from storelens.core.types import Detections


@dataclass(frozen=True, slots=True)
class GateDecision:
    detect: bool
    reason: str  # "first", "max_gap", "moving", "changed", "calm", "still"
    changed: float  # fraction of small-frame pixels changed since the last detection
    moving: float  # fraction changed since the previous analysed frame


class MotionGate:
    """Decides per analysed frame whether to run the detector; holds the detections in between.

    Use: ``d = gate.decide(image, pts)``; when ``d.detect``, run the detector and pass its result
    to :meth:`detected`; otherwise use :attr:`held`. One gate per camera (it holds frames)."""

    def __init__(self, cfg: GatingConfig) -> None:
        self.cfg = cfg
        self._ref: npt.NDArray[np.int16] | None = None  # small frame at the last detection
        self._prev: npt.NDArray[np.int16] | None = None  # small frame of the previous analysed frame
        self._last_pts: float | None = None
        self._since = 0  # analysed frames since the last detection
        self.held: Detections = Detections.empty()
        self.frames = 0
        self.detections = 0

    def _small(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.int16]:
        h, w = image.shape[:2]
        width = min(self.cfg.width, w)
        height = max(1, round(h * width / w))
        grey = cv2.cvtColor(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        # a 3x3 blur takes out compression noise, which would otherwise read as motion everywhere
        return cv2.GaussianBlur(grey, (3, 3), 0).astype(np.int16)

    def _fraction(self, a: npt.NDArray[np.int16], b: npt.NDArray[np.int16] | None) -> float:
        if b is None or a.shape != b.shape:
            return 1.0
        return float(np.count_nonzero(np.abs(a - b) > self.cfg.pixel_threshold)) / a.size

    def decide(self, image: npt.NDArray[np.uint8], pts: float) -> GateDecision:
        small = self._small(image)
        changed = self._fraction(small, self._ref)
        moving = self._fraction(small, self._prev)
        self._prev = small
        self._since += 1
        self.frames += 1
        if self._ref is None or self._last_pts is None or changed >= 1.0:
            reason = "first"
        elif pts - self._last_pts >= self.cfg.max_gap_s or pts < self._last_pts:
            reason = "max_gap"  # (a source restart rewinds pts: start afresh)
        elif changed >= self.cfg.change_fraction and moving >= self.cfg.move_fraction:
            reason = "moving"
        elif changed >= self.cfg.change_fraction:
            reason = "changed" if self._since >= self.cfg.calm_every else "calm"
        else:
            reason = "still"
        detect = reason in ("first", "max_gap", "moving", "changed")
        if detect:
            self._ref = small
            self._last_pts = pts
            self._since = 0
            self.detections += 1
        return GateDecision(detect, reason, changed, moving)

    def detected(self, detections: Detections) -> None:
        """The detector's result for the frame :meth:`decide` asked to detect."""
        self.held = detections

    @property
    def detect_ratio(self) -> float:
        """Share of analysed frames the detector ran on."""
        return self.detections / self.frames if self.frames else 0.0


__all__ = ["GateDecision", "MotionGate"]
