"""What the two recorded sources (a video file, an image folder) share: the setup and the one iterator.

Both are read lazily on the consumer's thread, both stamp ``wall_time = start_wall_time + pts`` and
both may replay (``loop``); only how a pass is decoded differs, which is each subclass's
``_generate``. Keeping the setup here means a new camera field (fps, width cap, loop) is wired for
both in one place, and ``frames()`` is the same single iterator for both.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from storelens.config.cameras import CameraConfig
from storelens.core.types import Frame
from storelens.sources.base import ClosingSource, SourceStats, StatusCallback
from storelens.sources.status import StatusReporter


class RecordingSource(ClosingSource):
    """A finite recording played on the caller's thread at the camera's fps, optionally looped."""

    def __init__(self, cam: CameraConfig, on_status: StatusCallback | None, start_wall_time: float | None) -> None:
        self.camera_id = cam.id
        self.stats = SourceStats()
        self._fps = cam.fps
        self._max_width = cam.max_width
        self._loop = cam.loop
        self._start_wall_time = time.time() if start_wall_time is None else start_wall_time
        self._status = StatusReporter(cam.id, self.stats, on_status)
        self._closed = False
        self._iterator: Iterator[Frame] | None = None

    def frames(self) -> Iterator[Frame]:
        """The one frame iterator of this source (calling again continues the same iteration)."""
        if self._iterator is None:
            self._iterator = self._generate()
        return self._iterator

    def close(self) -> None:
        self._closed = True
        self.stats.online = False

    def _generate(self) -> Iterator[Frame]:
        """Every pass over the recording, until it ends (no ``loop``) or ``close()``."""
        raise NotImplementedError
