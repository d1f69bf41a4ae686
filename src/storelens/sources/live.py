"""Live sources (RTSP/RTSPS, HTTP(S) streams, webcams): a reader thread that survives outages.

A camera produces frames at its own pace whether or not anyone is ready for them, so a reader
thread decodes continuously and hands frames over through a two-slot buffer where the newest frame
wins. A consumer that falls behind (a slow detector) therefore always gets a recent picture and
never accumulates lag or memory; every frame it never saw is counted in ``stats.dropped``.

Outages are part of normal life for cameras: the reader reports ``camera.offline`` once, retries
with exponential backoff and jitter (so a store's cameras do not all hammer a rebooted NVR in
lock-step), and reports ``camera.online`` when frames flow again. The source never ends on its
own; only ``close()`` stops it, and it does so promptly even in the middle of a backoff wait.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Iterator

import av

from storelens.config.cameras import CameraConfig
from storelens.core.types import Frame
from storelens.sources.base import ClosingSource, SourceStats, StatusCallback
from storelens.sources.decode import MonotonicClock, decode_frames, frame_seconds, open_input, stream_rate, to_bgr
from storelens.sources.sampling import FpsSampler
from storelens.sources.status import CAMERA_OFFLINE, CAMERA_ONLINE, StatusReporter, describe_error, redact_url

log = logging.getLogger(__name__)


class LatestFrames:
    """A bounded hand-off where a new frame evicts the oldest one once ``size`` are waiting."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"queue size must be >= 1, got {size}")
        self._size = size
        self._items: deque[Frame] = deque()
        self._cond = threading.Condition()

    def put(self, frame: Frame) -> int:
        """Add ``frame``; returns how many older frames were evicted to make room."""
        with self._cond:
            evicted = 0
            while len(self._items) >= self._size:
                self._items.popleft()
                evicted += 1
            self._items.append(frame)
            self._cond.notify()
            return evicted

    def get(self, timeout: float) -> Frame | None:
        """The oldest waiting frame, or None if none arrived within ``timeout`` seconds."""
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            return self._items.popleft() if self._items else None

    def wake(self) -> None:
        """Release a consumer blocked in :meth:`get` (used by close)."""
        with self._cond:
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


class Backoff:
    """Exponential reconnect delays: ``initial``, doubling up to ``maximum``, with jitter.

    Each delay is up to 20% shorter than its nominal value: enough to spread the retries of many
    cameras that lost the same switch, never longer than the configured cap.
    """

    def __init__(self, initial_s: float, maximum_s: float, rng: random.Random | None = None) -> None:
        if initial_s <= 0 or maximum_s < initial_s:
            raise ValueError(f"need 0 < initial ({initial_s}) <= maximum ({maximum_s})")
        self.initial_s = initial_s
        self.maximum_s = maximum_s
        self._nominal_s = initial_s
        self._rng = rng or random.Random()

    def next(self) -> float:
        """The delay before the next attempt; each call doubles the one after it (up to the cap)."""
        delay = self._nominal_s * self._rng.uniform(0.8, 1.0)
        self._nominal_s = min(self.maximum_s, self._nominal_s * 2)
        return delay

    def reset(self) -> None:
        """Back to the initial delay, once a connection has delivered frames again."""
        self._nominal_s = self.initial_s


class LiveSource(ClosingSource):
    """Frames from a stream or device that keeps producing until someone stops listening.

    ``pts`` comes from the stream's own timestamps, re-based per connection so it starts at 0 and
    continues across reconnects: after an outage it resumes at the previous pts plus the real
    time the outage lasted, so a dwell timer neither jumps back nor silently skips the gap.
    ``wall_time`` is the local clock when the frame was decoded (camera clocks are often wrong).

    ``on_status`` is called from the reader thread; it must be thread-safe and quick.
    """

    def __init__(
        self,
        cam: CameraConfig,
        url: str,
        *,
        container_format: str | None = None,
        options: dict[str, str] | None = None,
        on_status: StatusCallback | None = None,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 10.0,
        queue_size: int = 2,
        close_timeout_s: float = 2.0,
    ) -> None:
        self.camera_id = cam.id
        self.url = url
        self.stats = SourceStats()
        self.stats.extra.update(kind="live", url=redact_url(url))
        self._fps = cam.fps
        self._max_width = cam.max_width
        self._format = container_format
        self._options = dict(options or {})
        self._timeout = (open_timeout_s, read_timeout_s)
        self._close_timeout_s = close_timeout_s
        self._status = StatusReporter(cam.id, self.stats, on_status)
        self._queue = LatestFrames(queue_size)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._iterator: Iterator[Frame] | None = None
        # reader-thread state
        self._backoff = Backoff(cam.reconnect_initial_s, cam.reconnect_max_s)
        self._in_outage = False  # camera.offline reported and camera.online not yet
        self._sampler = FpsSampler(cam.fps)
        self._clock = MonotonicClock(1.0 / cam.fps)
        self._last_frame_mono: float | None = None

    # -- FrameSource ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the reader thread (frames() does this on first use)."""
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name=f"source-{self.camera_id}", daemon=True)
                self._thread.start()

    def frames(self) -> Iterator[Frame]:
        """The one frame iterator of this source; it ends only when close() is called."""
        if self._iterator is None:
            self._iterator = self._consume()
        return self._iterator

    def interrupt(self) -> None:
        """End :meth:`frames` now, from any thread, without waiting for the reader: a consumer
        blocked waiting for a frame from a camera that never answers returns at once. The
        consumer's :meth:`close` then stops the reader (it may still sit in a connect attempt)."""
        self._stop.set()
        self._queue.wake()

    def close(self) -> None:
        """Stop reading. Returns within ``close_timeout_s`` even if the camera hangs mid-read: the
        daemon reader thread then finishes on its own at the next read timeout."""
        self._stop.set()
        self._queue.wake()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self._close_timeout_s)
            if thread.is_alive():
                log.warning("camera %s: reader still blocked in I/O after close; left to time out", self.camera_id)
        self.stats.online = False

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    @property
    def is_running(self) -> bool:
        """Whether the reader thread is alive (False before the first frames() and after close)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def pending(self) -> int:
        """Frames decoded and waiting for the consumer (at most the queue size)."""
        return len(self._queue)

    # -- consumer side ----------------------------------------------------------------------------
    def _consume(self) -> Iterator[Frame]:
        self.start()
        while not self._stop.is_set():
            frame = self._queue.get(timeout=0.25)
            if frame is None:
                continue
            self.stats.emitted += 1
            yield frame

    # -- reader thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    error = self._session()
                except Exception as exc:  # a bug must not silently kill a camera: log, retry
                    log.exception("camera %s: unexpected error in reader", self.camera_id)
                    error = describe_error(exc)
                if self._stop.is_set():
                    break
                delay = self._went_offline(error)
                if self._stop.wait(delay):
                    break
        finally:
            self.stats.online = False

    def _session(self) -> str:
        """Read one connection until it fails or ends; returns why it ended."""
        self.stats.extra["connect_attempts"] = int(self.stats.extra.get("connect_attempts", 0)) + 1
        try:
            container, stream = open_input(
                self.url, container_format=self._format, options=self._options, timeout=self._timeout
            )
        except (av.FFmpegError, OSError, ValueError) as exc:
            return describe_error(exc)
        try:
            if self._stop.is_set():
                return "closed"
            self._clock.step = 1.0 / stream_rate(stream, self._fps)
            base = 0.0
            step = self._clock.step
            origin: float | None = None  # stream time that maps to ``base``
            n = 0  # frames decoded in this session
            online = False
            for vf in decode_frames(container, stream, self._on_corrupt, demux_retries=0):
                if self._stop.is_set():
                    return "closed"
                wall_time = time.time()
                if n == 0:
                    base = self._session_base()  # at the first frame: the outage includes probing
                self._last_frame_mono = time.monotonic()
                t = frame_seconds(vf)
                # RTSP often gives the first frame(s) no timestamp: place them one step apart
                # from ``base`` and anchor the stream clock so the first timestamped frame follows.
                candidate: float | None
                if t is not None:
                    if origin is None:
                        origin = t - n * step
                    candidate = base + (t - origin)
                else:
                    candidate = base + n * step if origin is None else None
                n += 1
                pts = self._clock.next(candidate)
                if not online:
                    online = True
                    self._came_online(wall_time, vf.width, vf.height)
                index = self.stats.decoded
                self.stats.decoded += 1
                self.stats.last_frame_wall_time = wall_time
                if not self._sampler.keep(pts):
                    self.stats.dropped += 1
                    continue
                image = to_bgr(vf, self._max_width, index, self._on_corrupt)
                if image is None:
                    continue
                frame = Frame(camera_id=self.camera_id, index=index, pts=pts, wall_time=wall_time, image=image)
                evicted = self._queue.put(frame)
                self.stats.dropped += evicted
                self.stats.queue_dropped += evicted
            return "stream ended"
        except (av.FFmpegError, OSError, ValueError) as exc:
            return describe_error(exc)
        finally:
            container.close()

    def _session_base(self) -> float:
        """pts of the first frame of a new connection: the previous pts plus the outage length."""
        if self._clock.last is None or self._last_frame_mono is None:
            return 0.0
        gap = max(self._clock.step, time.monotonic() - self._last_frame_mono)
        return self._clock.last + gap

    def _came_online(self, wall_time: float, width: int, height: int) -> None:
        self.stats.online = True
        self.stats.extra.update(native_width=width, native_height=height)
        self._backoff.reset()
        if self._in_outage:
            self._in_outage = False
            self.stats.reconnects += 1
            log.info("camera %s: back online (reconnect %d)", self.camera_id, self.stats.reconnects)
            self._status.emit(CAMERA_ONLINE, wall_time, {"reconnects": self.stats.reconnects})

    def _went_offline(self, error: str) -> float:
        """Record an outage (reported once per outage) and return how long to wait before retrying."""
        self.stats.online = False
        self.stats.last_error = error
        delay = self._backoff.next()
        if not self._in_outage:
            self._in_outage = True
            log.warning("camera %s offline (%s); retrying in %.1f s", self.camera_id, error, delay)
            self._status.emit(CAMERA_OFFLINE, time.time(), {"error": error, "retry_in_s": round(delay, 3)})
        else:
            log.debug("camera %s still offline (%s); retrying in %.1f s", self.camera_id, error, delay)
        return delay

    def _on_corrupt(self, reason: str) -> None:
        self._status.corrupt(redact_url(reason), time.time())
