"""Regions that move but hold no detection: blurred in outgoing video, whatever the detector saw.

Redaction driven only by detections leaves every person the detector misses (small, far, partly
hidden people) unblurred in the annotated video. Motion is a cue that needs no model: a shopper
who walks changes pixels. Each frame is compared, at a small size (cheap, and compression noise
averages out), with the frames before it; moving pixels outside every (padded) person box are
grouped into areas, and each area's bounding box, grown generously (frame differences light up the
edges of a moving person, not the whole body), is blurred. Each frame is also compared with the
median of recent frames sampled a while apart, so a person who walked in and stands still (no
frame difference any more) still differs from the background and stays blurred until the median
has taken them in. An area stays blurred for a few frames after its motion stops as well. The
first frame of a camera has nothing to be compared with, so nothing is known about what moves in
it: it is blurred whole. False alarms (a flickering
light, a swinging door) cost a blurred patch; a miss costs a shopper's privacy, so the thresholds
lean towards blurring.
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
Boxes = npt.NDArray[np.float32]


class MotionRegions:
    """``regions(image, person_xyxy)`` -> xyxy boxes (frame pixels) of motion no detection explains.

    ``width``: the frames are compared at this width. ``threshold``: grey-level change that counts
    as motion. ``min_area``: smaller moving areas (at ``width``) are noise. ``grow``: a moving
    area's box is grown by this share of its size on each side. ``hold``: frames an area stays
    blurred after its motion was last seen. ``box_pad``: person boxes grown by this share before
    the motion inside them is attributed to that person. ``background_every``: every this many
    frames one is kept for the background median, of the last ``background_samples``;
    ``background=False`` compares with the previous frames only (what *moves*, for the detection
    self-check, which must not flag a place someone merely left)."""

    def __init__(
        self,
        width: int = 192,
        threshold: int = 14,
        min_area: int = 6,
        grow: float = 0.6,
        hold: int = 8,
        box_pad: float = 0.1,
        background_every: int = 5,
        background_samples: int = 15,
        background: bool = True,
    ) -> None:
        if width < 16:
            raise ValueError(f"width must be >= 16, got {width}")
        self.width = width
        self.threshold = threshold
        self.min_area = min_area
        self.grow = grow
        self.hold = hold
        self.box_pad = box_pad
        self._history: deque[Image] = deque(maxlen=2)
        self._recent: deque[Boxes] = deque(maxlen=max(1, hold))
        self._shape: tuple[int, ...] | None = None
        self.background_every = max(1, background_every)
        self.background = background
        self._samples: deque[Image] = deque(maxlen=max(3, background_samples))
        self._frames = 0
        self._median: Image | None = None

    def reset(self) -> None:
        self._history.clear()
        self._recent.clear()
        self._samples.clear()
        self._shape = None
        self._frames = 0
        self._median = None

    def _small(self, image: Image) -> tuple[Image, float]:
        h, w = image.shape[:2]
        scale = min(1.0, self.width / float(w))
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else grey
        return np.asarray(cv2.GaussianBlur(small, (5, 5), 0), np.uint8), scale

    def regions(self, image: Image, person_xyxy: Boxes | None = None) -> Boxes:
        """Boxes to blur in ``image`` (a frame of the same camera as the previous calls)."""
        if self._shape is not None and image.shape != self._shape:
            self.reset()  # a new source or size: old frames say nothing about this one
        self._shape = image.shape
        small, scale = self._small(image)
        found = np.zeros((0, 4), np.float32)
        refs = list(self._history)
        if self.background and len(self._samples) >= 3:
            if self._median is None:  # recomputed only when a sample was added
                self._median = np.median(np.stack(list(self._samples)), axis=0).astype(np.uint8)
            refs.append(self._median)
        fh, fw = image.shape[:2]
        whole = not refs  # nothing to compare with yet: anyone may be anywhere (this frame only)
        if refs:
            diff = np.max([cv2.absdiff(small, prev) for prev in refs], axis=0)
            moving = (diff >= self.threshold).astype(np.uint8)
            moving = cv2.dilate(moving, np.ones((3, 3), np.uint8), iterations=2)
            if person_xyxy is not None:
                for x1, y1, x2, y2 in np.asarray(person_xyxy, np.float32).reshape(-1, 4) * scale:
                    px, py = self.box_pad * (x2 - x1), self.box_pad * (y2 - y1)
                    moving[
                        max(int(y1 - py), 0) : max(int(np.ceil(y2 + py)), 0),
                        max(int(x1 - px), 0) : max(int(np.ceil(x2 + px)), 0),
                    ] = 0
            count, _, stats, _ = cv2.connectedComponentsWithStats(moving, connectivity=8)
            boxes = []
            for x, y, w, h, area in stats[1:count].tolist():
                if area < self.min_area:
                    continue
                gx, gy = self.grow * max(w, h / 2), self.grow * h
                boxes.append(((x - gx) / scale, (y - gy) / scale, (x + w + gx) / scale, (y + h + gy) / scale))
            if boxes:
                found = np.asarray(boxes, np.float32)
        self._history.appendleft(small)
        if self._frames % self.background_every == 0:
            self._samples.append(small)
            self._median = None
        self._frames += 1
        self._recent.append(found)
        if whole:
            return np.array([[0, 0, fw, fh]], np.float32)
        out = np.concatenate(list(self._recent)).astype(np.float32).reshape(-1, 4)
        out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, fw)
        out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, fh)
        return out
