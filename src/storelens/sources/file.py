"""Video files (mp4, avi, mkv, mov, gif, ...) read with PyAV.

A file is decoded lazily in the consumer's thread, with no queue: the consumer sets the pace, so a
file is analysed completely (only fps sampling drops frames) however slow the detector is, and
memory stays flat however long the file is. ``wall_time`` is ``start_wall_time + pts``, so events
from a recording carry the times at which they happened relative to a chosen start.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import av
import av.container
import av.video

from storelens.config.cameras import CameraConfig
from storelens.core.types import Frame
from storelens.sources.base import SourceError, StatusCallback
from storelens.sources.decode import (
    MonotonicClock,
    decode_frames,
    frame_seconds,
    open_input,
    stream_rate,
    stream_start_seconds,
    to_bgr,
)
from storelens.sources.recording import RecordingSource
from storelens.sources.sampling import FpsSampler
from storelens.sources.status import describe_error

log = logging.getLogger(__name__)

# Consecutive demuxer errors tolerated before a damaged file is treated as ending there.
_DEMUX_RETRIES = 16


def open_video_file(path: Path) -> tuple[av.container.InputContainer, av.video.VideoStream]:
    """Open a video file, turning every failure into a SourceError that names the file and why."""
    if not path.exists():
        raise SourceError(f"video file not found: {path}")
    if not path.is_file():
        raise SourceError(f"video source is not a regular file: {path}")
    try:
        return open_input(str(path))
    except av.FFmpegError as exc:
        reason = exc.strerror or str(exc)
        raise SourceError(f"cannot read video file {path}: {reason}") from exc
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot read video file {path}: {exc}") from exc


class FileSource(RecordingSource):
    """Frames of one video file, optionally replayed forever (``loop``).

    Looping keeps ``pts`` (and ``index``) increasing across the seam: each pass is shifted to start
    one frame interval after the previous pass's last frame, so dwell timers and trackers see one
    continuous timeline instead of time jumping back to zero.
    """

    def __init__(
        self,
        cam: CameraConfig,
        path: Path,
        on_status: StatusCallback | None = None,
        start_wall_time: float | None = None,
    ) -> None:
        super().__init__(cam, on_status, start_wall_time)
        self.path = path
        self._container: av.container.InputContainer | None = None
        self._stream: av.video.VideoStream | None = None
        self._container, self._stream = open_video_file(path)
        codec = self._stream.codec_context
        self.stats.extra.update(
            kind="file",
            path=str(path),
            native_width=codec.width,
            native_height=codec.height,
            codec=codec.name,
            rate=stream_rate(self._stream, cam.fps),
        )
        self.stats.online = True

    def close(self) -> None:
        super().close()
        container, self._container = self._container, None
        if container is not None:
            container.close()

    # -- internals --------------------------------------------------------------------------------
    def _generate(self) -> Iterator[Frame]:
        sampler = FpsSampler(self._fps)
        clock: MonotonicClock | None = None
        offset = 0.0  # added to this pass's timestamps so loops continue the timeline
        try:
            while not self._closed:
                if self._container is None or self._stream is None:
                    self._container, self._stream = open_video_file(self.path)
                container, stream = self._container, self._stream
                if clock is None:
                    clock = MonotonicClock(1.0 / stream_rate(stream, self._fps))
                start = stream_start_seconds(stream)
                decoded_before = self.stats.decoded
                for vf in decode_frames(container, stream, self._on_corrupt, demux_retries=_DEMUX_RETRIES):
                    t = frame_seconds(vf)
                    pts = clock.next(None if t is None else t - start + offset)
                    index = self.stats.decoded
                    self.stats.decoded += 1
                    if not sampler.keep(pts):
                        self.stats.dropped += 1
                        continue
                    image = to_bgr(vf, self._max_width, index, self._on_corrupt)
                    if image is None:
                        continue
                    wall_time = self._start_wall_time + pts
                    self.stats.emitted += 1
                    self.stats.last_frame_wall_time = wall_time
                    yield Frame(camera_id=self.camera_id, index=index, pts=pts, wall_time=wall_time, image=image)
                    if self._closed:
                        return
                self._container = self._stream = None
                container.close()
                if not self._loop:
                    return
                if self.stats.decoded == decoded_before:
                    raise SourceError(f"cannot loop video file {self.path}: a pass decoded no frames")
                # The next pass starts one frame interval after this pass's last frame.
                offset = (clock.last or 0.0) + clock.step
        except av.FFmpegError as exc:
            # Damage beyond what the retries could skip: the frames before it were delivered, the
            # rest of the file is unreadable, so the file ends here, with the reason recorded.
            self.stats.last_error = describe_error(exc)
            log.warning("camera %s: %s ends early: %s", self.camera_id, self.path, self.stats.last_error)
        finally:
            self.stats.online = False
            container_left, self._container = self._container, None
            if container_left is not None:
                container_left.close()

    def _on_corrupt(self, reason: str) -> None:
        last = self.stats.last_frame_wall_time
        self._status.corrupt(reason, last if last is not None else self._start_wall_time)
