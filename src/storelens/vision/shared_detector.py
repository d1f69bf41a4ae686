"""One detector for many cameras: a worker thread that runs whatever frames the cameras have
queued as one batch.

With a session per camera, eight cameras are eight sessions each asking for every core, and
their thread pools fight over the same two (README "Cameras per server": 4 all-core sessions cost
1.76x one thread each). :class:`SharedDetector` owns the one session of the machine instead, with
its threads set once (``detector.threads``, 0 = every usable core), and a camera thread or process
feeder calls :meth:`SharedDetector.submit` (a :class:`~concurrent.futures.Future` back) or the
blocking :meth:`SharedDetector.detect`. The worker takes everything queued, up to ``max_batch``,
and runs it through :meth:`~storelens.vision.detector.YoloDetector.detect_batch`: frames of the
same size share one model run with a dynamic batch axis (the vendored models' batch dim is
symbolic), other sizes run after, and each future gets exactly the detections that frame alone
would get (``tests/unit/test_shared_detector.py``). There is no waiting for a batch to fill:
while one batch runs, the next queues up, so a lone camera pays no batching latency.

It implements the :class:`~storelens.vision.base.Detector` protocol itself, so the same object
can be handed to every camera's :func:`storelens.pipeline.build.build_camera` (``detector=``).
A camera with its own ``detector_input_size`` gets a view that passes it to :meth:`SharedDetector.submit`
(:meth:`SharedDetector.for_camera`): frames are batched per input size, all on the one session.
``detector.shared: true`` makes the supervised runner (`storelens run` and `serve`) use one for
every camera (:class:`SharedDetectorPool`, closed when the run stops).
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from storelens.config.detection import DetectorConfig
from storelens.core.types import Detections
from storelens.vision.base import Detector
from storelens.vision.detector import YoloDetector
from storelens.vision.letterbox import check_image

log = logging.getLogger(__name__)

MAX_BATCH = 8
"""Frames per model run at most: a store server's cameras at one submission each."""


class DetectorClosed(RuntimeError):
    """A frame was submitted after :meth:`SharedDetector.close`."""


@dataclass(frozen=True, slots=True)
class SharedDetectorStats:
    frames: int
    batches: int
    pending: int
    largest_batch: int

    @property
    def mean_batch(self) -> float:
        return self.frames / self.batches if self.batches else 0.0


class SharedDetector:
    """A thread-safe batching front for one :class:`Detector` (see the module docstring).

    ``max_batch`` caps the frames per run. :meth:`close` stops taking frames, runs what is still
    queued (``drain=True``, so a SIGTERM loses no frame already handed over) or fails it with
    :class:`DetectorClosed`, and joins the worker."""

    def __init__(self, detector: Detector, max_batch: int = MAX_BATCH, name: str = "shared-detector") -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.detector = detector
        self.max_batch = max_batch
        # YoloDetector.detect_batch(images, input_size=...): frames at a camera's own input size
        self._sized = "input_size" in inspect.signature(detector.detect_batch).parameters
        self._queue: deque[tuple[npt.NDArray[np.uint8], int | None, Future[Detections]]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._frames = self._batches = self._largest = 0
        self._busy_since: float | None = None  # time.monotonic() the running batch began
        self._worker = threading.Thread(target=self._loop, name=name, daemon=True)
        self._worker.start()

    @classmethod
    def from_config(
        cls, cfg: DetectorConfig, base_dir: Path | None = None, max_batch: int = MAX_BATCH
    ) -> SharedDetector:
        """The machine's one detector for ``cfg``: one session, ``cfg.threads`` threads (0 = all
        usable cores), the backend ``cfg.backend`` chooses."""
        return cls(YoloDetector(cfg, base_dir), max_batch=max_batch)

    # Detector protocol ------------------------------------------------------------------------
    def submit(self, image: npt.NDArray[np.uint8], input_size: int | None = None) -> Future[Detections]:
        """Queue one BGR frame; the future resolves to its detections (or the detector's error).
        ``input_size`` (a multiple of 32, 64..2048) overrides the detector's for this frame."""
        frame = check_image(image)  # raised to this camera now: a bad frame never fails a shared batch
        if input_size is not None:
            if not self._sized:
                raise ValueError("a per-frame input_size needs a detector whose detect_batch takes input_size")
            if not 64 <= input_size <= 2048 or input_size % 32:
                raise ValueError(f"input_size must be a multiple of 32 in 64..2048, got {input_size}")
        fut: Future[Detections] = Future()
        with self._cond:
            if self._closed:
                raise DetectorClosed("the shared detector is closed")
            self._queue.append((frame, input_size, fut))
            self._cond.notify()
        return fut

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        return self.submit(image).result()

    def detect_batch(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        futures = [self.submit(img) for img in images]
        return [f.result() for f in futures]

    def for_camera(self, input_size: int | None = None) -> CameraDetector:
        """A camera's view: a :class:`Detector` whose frames go to this worker at the camera's own
        ``input_size`` (None, or the detector's own size: batched with every such camera)."""
        if isinstance(self.detector, YoloDetector) and input_size == self.detector.cfg.input_size:
            input_size = None
        return CameraDetector(self, input_size)

    # ------------------------------------------------------------------------------------------
    def stats(self) -> SharedDetectorStats:
        with self._cond:
            return SharedDetectorStats(self._frames, self._batches, len(self._queue), self._largest)

    @property
    def closed(self) -> bool:
        return self._closed

    def busy_for(self) -> float:
        """Seconds the batch now running has taken (0 when idle): a native call that never
        returns shows here, and :class:`SharedDetectorPool` replaces the session."""
        since = self._busy_since
        return 0.0 if since is None else time.monotonic() - since

    def close(self, drain: bool = True, timeout: float | None = None) -> None:
        with self._cond:
            self._closed = True
            if not drain:
                while self._queue:
                    _, _, fut = self._queue.popleft()
                    if fut.set_running_or_notify_cancel():  # a cancelled one stays cancelled
                        fut.set_exception(DetectorClosed("the shared detector closed before this frame ran"))
            self._cond.notify_all()
        self._worker.join(timeout)

    def __enter__(self) -> SharedDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _take(self) -> list[tuple[npt.NDArray[np.uint8], int | None, Future[Detections]]] | None:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if not self._queue:
                return None  # closed and drained
            n = min(self.max_batch, len(self._queue))
            batch = [self._queue.popleft() for _ in range(n)]
        # a future cancelled by its camera (it gave up waiting) is not run
        return [item for item in batch if item[2].set_running_or_notify_cancel()]

    def _run(self, frames: list[npt.NDArray[np.uint8]], size: int | None) -> list[Detections]:
        if size is None:
            return self.detector.detect_batch(frames)
        run: Callable[..., list[Detections]] = self.detector.detect_batch  # input_size: checked in submit
        return run(frames, input_size=size)

    def _loop(self) -> None:
        while (batch := self._take()) is not None:
            if not batch:
                continue
            by_size: dict[int | None, list[tuple[npt.NDArray[np.uint8], Future[Detections]]]] = {}
            for frame, size, fut in batch:
                by_size.setdefault(size, []).append((frame, fut))
            for size, group in by_size.items():
                self._busy_since = time.monotonic()
                try:
                    results = self._run([frame for frame, _ in group], size)
                except Exception as exc:  # every waiting camera gets the error, the worker lives on
                    log.warning("shared detector: a batch of %d frames failed: %s", len(group), exc)
                    for _, fut in group:
                        fut.set_exception(exc)
                    continue
                finally:
                    self._busy_since = None
                with self._cond:
                    self._frames += len(group)
                    self._batches += 1
                    self._largest = max(self._largest, len(group))
                for (_, fut), det in zip(group, results, strict=True):
                    fut.set_result(det)


class CameraDetector:
    """One camera's :class:`Detector` on a :class:`SharedDetector` (:meth:`SharedDetector.for_camera`).

    It holds nothing of its own, so a camera rebuilt after a crash or a hang gets a new view onto
    the same worker: restarting a camera never restarts, or waits for, the shared session."""

    def __init__(self, shared: SharedDetector, input_size: int | None = None) -> None:
        self.shared = shared
        self.input_size = input_size

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        return self.shared.submit(image, self.input_size).result()

    def detect_batch(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        futures = [self.shared.submit(img, self.input_size) for img in images]
        return [f.result() for f in futures]


DetectorMaker = Callable[[DetectorConfig, Path | None], Detector]


class SharedDetectorPool:
    """The shared detectors of one run: one :class:`SharedDetector` per detector configuration.

    A store has one ``detector`` section, so this is one session for the whole machine; the pool
    exists so that an edited detector section (``update_store`` in `serve`) gets a session of its
    own for the cameras rebuilt with it, while cameras still on the old one keep theirs. Built on
    the first camera that asks (``make``: :class:`YoloDetector` by default; tests give a synthetic
    one), closed once by :meth:`close`, after the cameras ended (frames already queued still run)."""

    def __init__(self, make: DetectorMaker | None = None, max_batch: int = MAX_BATCH) -> None:
        self.make: DetectorMaker = make if make is not None else YoloDetector
        self.max_batch = max_batch
        self._shared: dict[str, SharedDetector] = {}
        self.abandoned: list[SharedDetector] = []
        """Sessions replaced because a batch never returned (their threads cannot be killed)."""
        self._lock = threading.Lock()
        self._closed = False

    def for_camera(
        self, cfg: DetectorConfig, base_dir: Path | None, input_size: int | None, stuck_after_s: float | None = None
    ) -> CameraDetector:
        """A camera's view onto the shared detector of ``cfg`` (the store's ``detector`` section;
        ``input_size``: the camera's own, if it sets one). A session whose running batch has taken
        ``stuck_after_s`` or more (a native call that never returns: every camera on it hangs, and
        the supervisor rebuilds them) is given up and replaced by a new one: its worker thread is
        abandoned, its queued frames fail with :class:`DetectorClosed`."""
        key = f"{base_dir}|{cfg.model_dump_json()}"
        with self._lock:  # one load even when every camera starts at once
            if self._closed:
                raise DetectorClosed("the run's shared detectors are closed")
            shared = self._shared.get(key)
            if shared is not None and stuck_after_s is not None and shared.busy_for() >= stuck_after_s:
                log.error("shared detector: a batch has run for %.0f s; replaced by a new session", shared.busy_for())
                shared.close(drain=False, timeout=0)
                self.abandoned.append(shared)
                shared = None
            if shared is None:
                shared = SharedDetector(self.make(cfg, base_dir), self.max_batch)
                self._shared[key] = shared
        return shared.for_camera(input_size)

    def detectors(self) -> list[SharedDetector]:
        with self._lock:
            return list(self._shared.values())

    def close(self, timeout: float | None = None) -> None:
        with self._lock:
            self._closed = True
            shared, self._shared = list(self._shared.values()), {}
        for sd in shared:
            sd.close(drain=True, timeout=timeout)


__all__ = [
    "MAX_BATCH",
    "CameraDetector",
    "DetectorClosed",
    "SharedDetector",
    "SharedDetectorPool",
    "SharedDetectorStats",
]
