"""Backgrounds without people: the temporal median behind heat maps and snapshots.

A heat map or a snapshot needs a picture of the camera's view. Any single camera frame shows the
shoppers who were there at that moment, and blurring only the people the detector found leaves
everyone it missed (small, far, occluded people: see issue 13) in plain view. The median of frames
taken seconds apart removes everyone who moves, whether or not they were detected, because at any
pixel the background is what is seen most of the time. What the median cannot remove, somebody who
stood still through most samples, is covered two ways: every area a detection box covered in a
large share of the samples is blurred whole, and so is every area where a good share of the
samples differ from the median (somebody stood there much of the time, then left: seen or not by
the detector). :func:`detect_people` looks at the result once more, in tiles (small people). Then the usual redaction
runs (remaining detections, privacy masks), so the result fails towards blurring too much.

Samples are kept at most :attr:`MedianBackground.max_frames` and at least
:attr:`MedianBackground.min_interval_s` apart in media time; when the buffer is full every other
sample is dropped and the interval doubled, so the samples stay spread over the whole run however
long it is, in bounded memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from storelens.privacy.redact import redact
from storelens.vision.base import Detector

Polygon = Sequence[tuple[float, float]]
Image = npt.NDArray[np.uint8]
Boxes = npt.NDArray[np.float32]


@dataclass(slots=True)
class _Sample:
    image: Image
    boxes: Boxes
    pts: float


class MedianBackground:
    """Collect frames with their person boxes; :meth:`render` returns the people-free background.

    ``linger_share``: an area covered by a detection in at least this share of the samples counts
    as a person who stayed (the median keeps them) and is blurred whole. With fewer than
    ``min_samples`` samples the median removes nobody reliably, so every sampled box is blurred.
    ``pad``: boxes are grown by this share of their size before they are blurred (a box is a
    detector's estimate; the person's edges, hair and bag stick out of it)."""

    def __init__(
        self,
        max_frames: int = 15,
        min_interval_s: float = 2.0,
        *,
        linger_share: float = 0.3,
        min_samples: int = 5,
        pad: float = 0.15,
        unstable_share: float = 0.2,
        unstable_level: int = 25,
    ) -> None:
        if max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        if min_interval_s < 0:
            raise ValueError(f"min_interval_s must be >= 0, got {min_interval_s}")
        self.max_frames = max_frames
        self.interval_s = float(min_interval_s)
        self.linger_share = linger_share
        self.min_samples = min_samples
        self.pad = pad
        self.unstable_share = unstable_share
        self.unstable_level = unstable_level
        self._samples: list[_Sample] = []
        self._last_pts: float | None = None

    def __len__(self) -> int:
        return len(self._samples)

    def wants(self, pts: float) -> bool:
        """Whether a frame at media time ``pts`` would be sampled (lets callers skip work)."""
        return self._last_pts is None or pts - self._last_pts >= self.interval_s

    def offer(self, image: Image, pts: float, person_xyxy: Boxes | None = None) -> bool:
        """Keep ``image`` (and the person boxes found in it) if it is due; True when kept.

        The frame is copied: the caller's array may be reused by the decoder."""
        if not self.wants(pts):
            return False
        if self._samples and image.shape != self._samples[0].image.shape:
            raise ValueError(f"frame size changed from {self._samples[0].image.shape} to {image.shape}")
        boxes = np.zeros((0, 4), np.float32) if person_xyxy is None else np.asarray(person_xyxy, np.float32)
        self._samples.append(_Sample(image.copy(), boxes.reshape(-1, 4).copy(), float(pts)))
        self._last_pts = float(pts)
        if len(self._samples) > self.max_frames:
            # keep every other sample (always the newest) and sample half as often from now on
            self._samples = self._samples[::2] if len(self._samples) % 2 else self._samples[1::2]
            self.interval_s = max(self.interval_s * 2, 1e-3)
        return True

    def padded(self, boxes: Boxes, shape: tuple[int, ...]) -> Boxes:
        """``boxes`` grown by ``pad`` of their size and clipped to an image of ``shape``."""
        b = np.asarray(boxes, np.float32).reshape(-1, 4)
        if not len(b):
            return b
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        out = np.stack(
            [b[:, 0] - self.pad * w, b[:, 1] - self.pad * h, b[:, 2] + self.pad * w, b[:, 3] + self.pad * h], axis=1
        )
        out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, shape[1])
        out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, shape[0])
        return out.astype(np.float32)

    def lingering(self) -> Boxes:
        """Boxes (xyxy) around every area a detection covered in ``linger_share`` of the samples.

        These are the people the median may still show; each connected area becomes one box."""
        if not self._samples:
            return np.zeros((0, 4), np.float32)
        shape = self._samples[0].image.shape
        n = len(self._samples)
        cover = np.zeros(shape[:2], np.uint16)
        for s in self._samples:
            hit = np.zeros(shape[:2], np.uint8)
            for x1, y1, x2, y2 in self.padded(s.boxes, shape):
                hit[int(y1) : int(np.ceil(y2)), int(x1) : int(np.ceil(x2))] = 1
            cover += hit
        need = 1 if n < self.min_samples else max(1, int(np.ceil(self.linger_share * n)))
        mask = (cover >= need).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        boxes = [(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h, _area in stats[1:count].tolist()]
        return np.asarray(boxes, np.float32).reshape(-1, 4)

    def unstable(self) -> Boxes:
        """Boxes around areas where at least ``unstable_share`` of the samples (three at least) differ
        from the median by ``unstable_level`` grey levels: somebody was there a good part of the time.

        A passer-by is in one or two samples; a shopper who stood somewhere for a while and then
        left is in several, and if they stood there in most, the median shows them and the samples
        without them differ. Either way the area is blurred, without any detection."""
        med = self.median()
        n = len(self._samples)
        if med is None or n < 3:
            return np.zeros((0, 4), np.float32)
        grey = cv2.cvtColor(med, cv2.COLOR_BGR2GRAY).astype(np.int16)
        differ = np.zeros(grey.shape, np.uint16)
        for s in self._samples:
            g = cv2.cvtColor(s.image, cv2.COLOR_BGR2GRAY).astype(np.int16)
            differ += (np.abs(g - grey) >= self.unstable_level).astype(np.uint16)
        need = max(3, int(np.ceil(self.unstable_share * n)))
        mask = (differ >= need).astype(np.uint8)
        mask = np.asarray(cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)), np.uint8)
        k = max(3, (min(grey.shape) // 60) | 1)
        mask = np.asarray(cv2.dilate(mask, np.ones((k, k), np.uint8), iterations=2), np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        min_area = max(16, grey.size // 20000)
        boxes = [(x, y, x + w, y + h) for x, y, w, h, area in stats[1:count].tolist() if area >= min_area]
        return self.padded(np.asarray(boxes, np.float32).reshape(-1, 4), med.shape)

    def median(self) -> Image | None:
        """The per-pixel temporal median of the samples (no redaction: never write this)."""
        if not self._samples:
            return None
        stack = np.stack([s.image for s in self._samples])
        return np.median(stack, axis=0).astype(np.uint8)

    def render(
        self,
        masks: Sequence[Polygon] = (),
        person_xyxy: Boxes | None = None,
    ) -> Image | None:
        """The background, redacted: median, lingering areas blurred, masks filled.

        ``person_xyxy``: people a detector found on :meth:`median` itself (the caller's detector),
        blurred whole as well. None when nothing was sampled."""
        med = self.median()
        if med is None:
            return None
        regions = [self.lingering(), self.unstable()]
        if person_xyxy is not None and len(person_xyxy):
            regions.append(self.padded(np.asarray(person_xyxy, np.float32), med.shape))
        return redact(
            med,
            np.zeros((0, 4), np.float32),
            masks=masks,
            regions=np.concatenate(regions).astype(np.float32),
        )


def detect_people(detector: Detector, image: Image, tiles: int = 2, overlap: float = 0.2) -> Boxes:
    """Person boxes in ``image`` from the whole image and from ``tiles`` x ``tiles`` overlapping tiles.

    Used on the one background image of a run, where the cost is paid once: each tile reaches the
    model at ``tiles`` times the resolution, so people too small for the whole-frame pass (issue
    13: under ~800 px input the default model misses 50 px people) are found and blurred."""
    h, w = image.shape[:2]
    found = [np.asarray(detector.detect(image).xyxy, np.float32).reshape(-1, 4)]
    if tiles > 1:
        tw, th = w / (tiles - (tiles - 1) * overlap), h / (tiles - (tiles - 1) * overlap)
        for row in range(tiles):
            for col in range(tiles):
                x0, y0 = int(col * tw * (1 - overlap)), int(row * th * (1 - overlap))
                x1, y1 = min(w, int(x0 + tw)), min(h, int(y0 + th))
                tile = np.ascontiguousarray(image[y0:y1, x0:x1])
                boxes = np.asarray(detector.detect(tile).xyxy, np.float32).reshape(-1, 4)
                found.append(boxes + np.array([x0, y0, x0, y0], np.float32))
    return np.concatenate(found).astype(np.float32).reshape(-1, 4)
