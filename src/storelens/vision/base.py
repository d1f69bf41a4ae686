"""The Detector protocol: an image in, person Detections (with keypoints when available) out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from storelens.core.types import Detections


@runtime_checkable
class Detector(Protocol):
    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        """Detect in one BGR uint8 image; coordinates are in that image's pixels."""
        ...

    def detect_batch(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]: ...
