"""Choosing which decoded frames to analyse, and shrinking them: pure helpers every source shares.

Sampling works on media timestamps, not on frame counts, so a variable-frame-rate stream (GIFs,
cameras that drop frames under load) is still analysed at an even rate in *time*, which is what
dwell and speed measurements care about.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt


class FpsSampler:
    """Keep a frame whenever its pts reaches the next due time; due times advance by ``1 / fps``.

    Advancing the due time from the previous due time (not from the kept frame's pts) keeps the
    long-run rate exact even when source and analysis rates do not divide (10 fps analysed at
    6 fps keeps 6 frames a second, not 5). A small tolerance (5 ms, or a tenth of the interval at
    very high rates) absorbs timestamp rounding (millisecond container time bases, RTP clocks),
    which would otherwise make a frame that is due by a hair's breadth miss its slot; it is kept
    small so it does not shift which frames are chosen. When the stream jumps ahead (a gap, a stalled
    camera) the due time is re-anchored at the frame instead of letting a backlog of due times
    keep every following frame; when timestamps go backwards (a restarted stream) it restarts.
    """

    __slots__ = ("_due", "_interval", "_last_pts", "_tolerance")

    def __init__(self, fps: float) -> None:
        if not math.isfinite(fps) or fps <= 0:
            raise ValueError(f"fps must be a positive number, got {fps}")
        self._interval = 1.0 / fps
        self._tolerance = min(0.1 * self._interval, 0.005)
        self._due: float | None = None
        self._last_pts = -math.inf

    @property
    def interval(self) -> float:
        return self._interval

    def keep(self, pts: float) -> bool:
        """Whether the frame at ``pts`` (seconds) should be analysed. Call once per decoded frame."""
        if self._due is None or pts < self._last_pts:
            self._due = pts
        self._last_pts = pts
        if pts + self._tolerance < self._due:
            return False
        self._due += self._interval
        if self._due <= pts:
            self._due = pts + self._interval
        return True


def fit_width(image: npt.NDArray[np.uint8], max_width: int) -> npt.NDArray[np.uint8]:
    """Downscale ``image`` to at most ``max_width`` pixels wide, keeping the aspect ratio.

    INTER_AREA because it averages the source pixels a target pixel covers: the only OpenCV filter
    that does not alias fine texture (shelf labels, clothing patterns) into noise the detector
    could pick up. Narrower images are returned as they are, never upscaled.
    """
    height, width = image.shape[:2]
    if width <= max_width:
        return image
    new_height = max(1, round(height * max_width / width))
    out = cv2.resize(image, (max_width, new_height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(out, dtype=np.uint8)
