"""The annotated video: redacted frames encoded to an H.264 MP4 on a background thread.

Colour conversion and libx264 cost several milliseconds a frame; done inside a camera's frame loop
they slow analysis by as much. Here the loop only hands a private copy of an already-redacted frame
(:class:`~storelens.privacy.frames.RedactedFrame`, nothing else is accepted) to a small bounded
queue, and one thread per video feeds storelens's one encoder,
:class:`~storelens.privacy.media.RedactedWriter`. A full queue blocks the loop rather than dropping
a frame, so the video holds every analysed frame, in order. An encoder failure is re-raised in the
loop at the next :meth:`VideoWriter.write` or at :meth:`VideoWriter.close`.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from types import TracebackType

from storelens.core.errors import as_disk_full
from storelens.privacy.frames import RedactedFrame
from storelens.privacy.media import RedactedWriter, require_redacted

_LIVENESS_S = 0.5
"""How often a write blocked on a full queue checks that the encoder thread is still there."""


class VideoWriteError(RuntimeError):
    """The background encoder failed; the message names the file and the frame it failed on."""


class VideoWriter:
    """Write :class:`RedactedFrame` objects to an H.264 MP4 (yuv420p, even size) off the caller's thread.

    ``frames`` counts frames accepted, ``wait_s`` the time :meth:`write` spent blocked on a full
    queue (the encoder falling behind the loop). :meth:`close` flushes, joins the thread and
    raises :class:`VideoWriteError` if encoding failed and no write has reported it yet.
    """

    def __init__(self, path: Path, fps: float, *, crf: int = 26, preset: str = "veryfast", queue_size: int = 4) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One libx264 thread: encoding already runs beside the frame loop, and x264's own frame
        # threads would compete with the detector for the same cores (and cost ~15% more CPU a
        # frame at 768x432 on a 2-core machine).
        self._writer = RedactedWriter(self.path, fps, crf=crf, preset=preset, threads=1)
        self._queue: queue.Queue[RedactedFrame | None] = queue.Queue(maxsize=queue_size)
        self._error: Exception | None = None
        self._error_at = ""
        self._reported = False
        self._closed = False
        self.frames = 0
        self.wait_s = 0.0
        self._thread = threading.Thread(target=self._encode_all, name=f"video-{self.path.name}", daemon=True)
        self._thread.start()

    @property
    def encoded(self) -> int:
        """Frames the encoder has taken so far (``frames`` once :meth:`close` returned)."""
        return self._writer.frames

    def write(self, frame: RedactedFrame) -> None:
        """Queue ``frame`` for encoding; blocks while the queue is full."""
        red = require_redacted(frame)
        if self._closed:
            raise ValueError(f"{self.path}: written after close")
        self._raise_if_failed(always=True)
        private = red.copy()  # the thread encodes this later; the caller may reuse its own array
        t0 = time.perf_counter()
        self._put(private)
        self.wait_s += time.perf_counter() - t0
        self.frames += 1

    def close(self) -> None:
        """Encode what is queued, flush the encoder, close the file and join the thread."""
        if not self._closed:
            self._closed = True
            self._put(None)
            self._thread.join()
        self._raise_if_failed(always=False)

    def _put(self, item: RedactedFrame | None) -> None:
        while True:
            try:
                self._queue.put(item, timeout=_LIVENESS_S)
                return
            except queue.Full:
                # the thread drains the queue even after a failure; only a thread that is gone
                # (killed by something no handler sees) can leave it full for good
                if not self._thread.is_alive():
                    raise VideoWriteError(f"{self.path}: the encoder thread stopped unexpectedly") from None

    def _raise_if_failed(self, *, always: bool) -> None:
        if self._error is None or (self._reported and not always):
            return
        self._reported = True
        full = as_disk_full(self._error, self.path)
        if full is not None:  # one line that says what to fix, not an encoder error
            raise full from self._error
        raise VideoWriteError(
            f"encoding {self.path} failed {self._error_at}: {type(self._error).__name__}: {self._error}"
        ) from self._error

    def _encode_all(self) -> None:
        while (frame := self._queue.get()) is not None:
            if self._error is not None:
                continue  # failed: keep draining so a writer blocked on a full queue is released
            try:
                self._writer.write(frame)
            except Exception as exc:  # re-raised on the loop's thread by write()/close()
                self._error_at, self._error = f"at frame {self._writer.frames}", exc
        try:
            self._writer.close()
        except Exception as exc:
            if self._error is None:
                self._error_at, self._error = f"finishing the file after {self._writer.frames} frames", exc

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
