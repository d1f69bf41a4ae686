"""A folder of still images (*.jpg, *.jpeg, *.png) played as a video at the camera's fps.

Useful for snapshot cameras that drop JPEGs into a folder, and for test sets. Image ``i`` has
``pts = i / fps``, so every image is analysed (the folder *is* the sampled timeline) and dwell
measured on it is in the same seconds a video of the same frames would give. Files are taken in
natural order (``img2`` before ``img10``), which is what numbered exports expect.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from storelens.config.cameras import CameraConfig
from storelens.core.types import Frame
from storelens.sources.base import SourceError, StatusCallback
from storelens.sources.recording import RecordingSource
from storelens.sources.sampling import fit_width

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})

_DIGITS = re.compile(r"(\d+)")


def _natural_key(path: Path) -> tuple[tuple[int, int | str], ...]:
    parts = _DIGITS.split(path.name)
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in parts)


def list_images(folder: Path) -> list[Path]:
    """The folder's image files in natural order (not recursive; hidden files skipped)."""
    files = [
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    ]
    return sorted(files, key=_natural_key)


class ImageFolderSource(RecordingSource):
    """Frames from the images of one folder; with ``loop`` the folder replays forever."""

    def __init__(
        self,
        cam: CameraConfig,
        folder: Path,
        on_status: StatusCallback | None = None,
        start_wall_time: float | None = None,
    ) -> None:
        super().__init__(cam, on_status, start_wall_time)
        self.folder = folder
        if not folder.is_dir():
            raise SourceError(f"image folder not found: {folder}")
        self._files = list_images(folder)
        if not self._files:
            raise SourceError(
                f"image folder {folder} contains no images (expected {', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        self.stats.extra.update(kind="images", path=str(folder), images=len(self._files))
        self.stats.online = True

    def _generate(self) -> Iterator[Frame]:
        index = 0
        try:
            while not self._closed:
                good = 0
                for path in self._files:
                    if self._closed:
                        return
                    pts = index / self._fps
                    wall_time = self._start_wall_time + pts
                    index += 1
                    self.stats.decoded += 1
                    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                    if image is None:
                        self._status.corrupt(f"unreadable image {path}", wall_time)
                        continue
                    good += 1
                    if "native_width" not in self.stats.extra:
                        self.stats.extra.update(native_width=image.shape[1], native_height=image.shape[0])
                    image = fit_width(np.ascontiguousarray(image, dtype=np.uint8), self._max_width)
                    self.stats.emitted += 1
                    self.stats.last_frame_wall_time = wall_time
                    yield Frame(camera_id=self.camera_id, index=index - 1, pts=pts, wall_time=wall_time, image=image)
                if not self._loop:
                    return
                if good == 0:
                    raise SourceError(f"cannot loop image folder {self.folder}: none of its images is readable")
        finally:
            self.stats.online = False
