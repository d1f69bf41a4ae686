"""The one supervised runner behind `storelens run` and `storelens serve` (issue 16).

Every enabled camera gets a *supervisor* thread that starts a **worker** (one attempt at the
camera: build its source, detector, tracker and stages, run the pipeline) and watches it:

- a worker that **raises** is reported as ``camera.offline`` (``reason`` ``pipeline_error``, or
  ``source_error`` when the source did not open) and, where the owner's policy allows, rebuilt
  after an exponentially growing, jittered delay (``retry_in_s`` in the event); a run that stayed
  up for ``healthy_after_s`` resets the backoff, so a crash loop neither spins nor stays slow;
- a worker that **hangs**, no analysed frame for ``stall_timeout_s`` (default
  :func:`default_stall_timeout`, scaled to the camera's fps and reconnect backoff so a live camera
  that is legitimately reconnecting is not mistaken for a hung one), is told to stop, reported as
  ``camera.offline`` with ``reason`` ``pipeline_hung`` and ``stalled_s``, and restarted the same way;
- a **slow stage lowers the camera's fps** instead of growing lag or memory: live sources hand
  frames over through a bounded queue that evicts the oldest frame (:class:`LatestFrames`), and a
  paced (replayed-as-live) file gets the same bound here (:class:`QueuedSource`); evictions are
  counted in the source's ``dropped`` and ``queue_dropped`` (the camera status and ``/metrics``);
- **stopping** (SIGTERM/Ctrl-C set the run's stop event; the service calls :meth:`stop`) ends each
  camera between frames: its pipeline closes open stays and visits and publishes them, the store
  stage closes its store visits, and only then does the owner close its sinks, which flush. An
  offline file run is not queued at all: it reads every frame, so its output is deterministic.

Workers are threads of this process: onnxruntime releases the GIL while it infers, so a thread per
camera overlaps well on 2 cores, and `bench/throughput.py --processes K` measures the alternative
(the README quotes both). A worker is only reached through :class:`CameraWorker` (start, stop,
``done``, ``error``, ``last_beat``, abandon), so a process worker can replace :class:`ThreadWorker`
without touching the supervision; what a thread cannot do is be killed: a worker stuck inside a
native call is abandoned: its camera restarts beside it and its frames are no longer counted, but
should the call ever return, that attempt still closes its visits onto the bus (a process worker
would be killed instead). The stall clock runs only while a camera is running: a build (source
open, model load) that never returns is not detected.

The store-level stage (:class:`~storelens.pipeline.storelevel.StoreLevelFeed`, two or more
calibrated cameras) is fed by every camera's worker in both commands and closed by :meth:`finish`.

**One detector for every camera** (``detector.shared: true``): the runner owns a
:class:`~storelens.vision.shared_detector.SharedDetectorPool`; each attempt of each camera gets a
view onto its one session (``detector.threads`` set once for the machine; the camera's own
``detector_input_size`` travels with its frames). The session belongs to the run, not to a
camera: a camera that crashes or hangs is rebuilt onto the same worker (a failed batch fails only
its frames' cameras, the worker lives on), and :meth:`stop` closes it after every camera ended,
running the frames already handed over first. A native call of the shared session that never
returns stalls every camera; the first camera rebuilt after its stall timeout finds the session's
batch still running that long and gets a new session (the old worker thread is abandoned, as a
hung camera's is).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from storelens.config.cameras import CameraConfig
from storelens.config.store import StoreConfig
from storelens.core.results import FrameResult
from storelens.core.types import Frame
from storelens.events.bus import EventBus
from storelens.events.models import Event
from storelens.events.payloads import CameraOffline, CameraOnline, EventPayload
from storelens.pipeline.build import BuiltCamera, build_camera
from storelens.pipeline.heatmaps import HeatmapRecorder
from storelens.pipeline.storelevel import StoreLevelFeed
from storelens.sinks.buffer import Backoff
from storelens.sources.base import FrameSource, SourceError, SourceStats
from storelens.sources.live import LatestFrames
from storelens.sources.status import describe_error, redact_url
from storelens.vision.base import Detector
from storelens.vision.shared_detector import SharedDetectorPool

log = logging.getLogger(__name__)

CameraState = Literal["starting", "running", "restarting", "finished", "stopped", "disabled", "failed"]
Decision = Literal["restart", "fail", "stop"]
"""What to do with a camera whose worker failed: build it again, give it up, or stop every camera."""
FrameObserver = Callable[[str, FrameResult], None]
BuildCamera = Callable[..., BuiltCamera]
DetectorFactory = Callable[[StoreConfig, CameraConfig], Detector]
DecidePolicy = Callable[[CameraConfig, BaseException | None], Decision]
"""The owner's policy: the camera and the worker's exception (None: it hung)."""

FPS_WINDOW_S = 5.0
QUEUE_SIZE = 2
"""Frames a paced source may hold for a camera that is behind (as the live sources do)."""
_STOP_GRACE_S = 5.0
"""How long a worker told to stop (hung, reloaded, shut down) may take before it is abandoned."""
_POLL_S = 0.2


def is_file_source(cam: CameraConfig) -> bool:
    src = cam.source.strip()
    return "://" not in src and not src.lower().startswith("webcam:") and not src.startswith("/dev/video")


def default_stall_timeout(cam: CameraConfig) -> float:
    """Seconds without an analysed frame after which a camera's worker counts as hung.

    At least 20 s (a model load on a busy 2-core machine), 50 frame periods (a slow camera), and
    twice the camera's longest reconnect delay plus the live source's open timeout (10 s), so a
    camera that is reconnecting, which its source reports itself, is not restarted under it."""
    return max(20.0, 50.0 / cam.fps, 2.0 * cam.reconnect_max_s + 10.0)


# ------------------------------------------------------------------------------------ sources
class PacedSource:
    """Wrap a file source so frames come out no faster than their capture times (``wall_time``).

    A file's frames carry ``start + pts`` as capture time; pacing them makes a replayed clip look
    live (the dashboard sees events at the rate they happened). Waiting uses the run's stop event,
    so stopping is immediate even in a long gap."""

    def __init__(self, inner: FrameSource, stop: threading.Event) -> None:
        self.inner = inner
        self.camera_id = inner.camera_id
        self.stats: SourceStats = inner.stats  # the same object: counters stay live
        self._stop = stop

    def frames(self) -> Iterator[Frame]:
        for frame in self.inner.frames():
            delay = frame.wall_time - time.time()
            if delay > 0 and self._stop.wait(delay):
                return
            yield frame

    def close(self) -> None:
        self.inner.close()


class QueuedSource:
    """Read ``inner`` on a thread of its own into a bounded queue that evicts the oldest frame.

    A live-like source (a paced file) must not wait for a slow pipeline: while the pipeline works
    on one frame the reader keeps the source's clock, and a frame the pipeline did not take before
    ``size`` newer ones arrived is dropped and counted (``stats.dropped`` and
    ``stats.queue_dropped``). Lag stays bounded by ``size`` frames and memory by ``size`` images.
    The reader thread also closes ``inner`` (a decoder is closed on the thread that used it)."""

    def __init__(self, inner: FrameSource, stop: threading.Event, size: int = QUEUE_SIZE) -> None:
        self.inner = inner
        self.camera_id = inner.camera_id
        self.stats: SourceStats = inner.stats
        self.queue = LatestFrames(size)
        self._stop = stop
        self._closing = threading.Event()
        self.ended = threading.Event()
        """Set once the reader put its last frame (the source ended, failed or was closed)."""
        self._error: BaseException | None = None
        self._reader: threading.Thread | None = None

    def frames(self) -> Iterator[Frame]:
        if self._reader is None:
            self._reader = threading.Thread(target=self._read, name=f"reader-{self.camera_id}", daemon=True)
            self._reader.start()
        while not self._stop.is_set() and not self._closing.is_set():
            ended = self.ended.is_set()  # read before get: a frame put just before the end is still taken
            frame = self.queue.get(_POLL_S)
            if frame is not None:
                yield frame
            elif ended:
                if self._error is not None:
                    raise self._error
                return

    def _read(self) -> None:
        frames = self.inner.frames()
        try:
            for frame in frames:
                if self._stop.is_set() or self._closing.is_set():
                    break
                evicted = self.queue.put(frame)
                if evicted:
                    self.stats.dropped += evicted
                    self.stats.queue_dropped += evicted
        except Exception as exc:  # the consumer raises it: the pipeline fails like a direct read would
            self._error = exc
        finally:
            close = getattr(frames, "close", None)
            try:
                if callable(close):
                    close()
            finally:
                self.inner.close()
                self.ended.set()
                self.queue.wake()

    def interrupt(self) -> None:
        interrupt = getattr(self.inner, "interrupt", None)
        if callable(interrupt):
            interrupt()

    def close(self) -> None:
        self._closing.set()
        self.queue.wake()
        if self._reader is None:
            self.inner.close()
            return
        if self._reader is not threading.current_thread():
            self._reader.join(_STOP_GRACE_S)
            if self._reader.is_alive():
                log.warning("camera %s: frame reader still blocked after close; left to end on its own", self.camera_id)


# ------------------------------------------------------------------------------------ workers
class CameraWorker(Protocol):
    """One attempt at one camera, as the supervisor sees it (a thread today; a process could be)."""

    done: threading.Event
    error: BaseException | None

    @property
    def last_beat(self) -> float:
        """``time.monotonic()`` of the last analysed frame (or of the start)."""
        ...

    def start(self) -> None: ...

    def stop(self) -> None:
        """Ask the attempt to end after its current frame (it publishes its closing events)."""
        ...

    def abandon(self) -> None:
        """Give up on an attempt that did not stop (a process would be killed here)."""
        ...


class ThreadWorker:
    """A :class:`CameraWorker` on a thread of this process: ``target(worker)`` is the attempt."""

    def __init__(self, target: Callable[[ThreadWorker], None], name: str) -> None:
        self.stop_event = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.abandoned = False
        self._beat = time.monotonic()
        self._target = target
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)

    @property
    def last_beat(self) -> float:
        return self._beat

    def beat(self) -> None:
        self._beat = time.monotonic()

    def start(self) -> None:
        self.thread.start()

    def _main(self) -> None:
        try:
            self._target(self)
        except BaseException as exc:  # reported by the supervisor; never a thread traceback
            self.error = exc
        finally:
            self.done.set()

    def stop(self) -> None:
        self.stop_event.set()

    def abandon(self) -> None:
        self.abandoned = True  # a thread cannot be killed; its frames are no longer counted
        self.stop_event.set()


# ------------------------------------------------------------------------------------- status
@dataclass(frozen=True, slots=True)
class CameraStatus:
    """A point-in-time view of one camera (see :meth:`StoreSupervisor.status`)."""

    camera_id: str
    name: str | None
    enabled: bool
    state: CameraState
    online: bool
    fps: float
    frames: int
    last_frame_time: datetime | None
    lag_s: float | None
    dropped_frames: int
    corrupt_frames: int
    reconnects: int
    restarts: int
    errors: int
    last_error: str | None
    stage_ms: dict[str, float] = field(default_factory=dict)
    queue_dropped: int = 0
    """Of ``dropped_frames``: evicted from the bounded queue because analysis was behind."""
    hangs: int = 0
    """Times the camera's worker stopped analysing (no frame for the stall timeout) and was restarted."""


class _CameraSupervisor:
    """One camera: start a worker, watch it, restart it with backoff (module docstring)."""

    def __init__(self, runner: StoreSupervisor, camera: CameraConfig) -> None:
        self.runner = runner
        self.camera = camera
        self.state: CameraState = "starting" if camera.enabled else "disabled"
        self.frames = 0
        self.restarts = 0
        self.errors = 0
        self.hangs = 0
        self.last_error: str | None = None
        self.last_frame_wall: float | None = None
        self.built: BuiltCamera | None = None
        self.worker: ThreadWorker | None = None
        self._frame_times: deque[float] = deque(maxlen=256)
        self._lock = threading.Lock()
        self._stop = runner.stop_event  # every camera must end (SIGTERM, shutdown, a full disk)
        self._reload = threading.Event()  # the current attempt must end and be rebuilt
        self._backoff = Backoff(runner.restart_initial_s, runner.restart_max_s)
        self.thread = threading.Thread(target=self._loop, name=f"camera-{camera.id}", daemon=True)

    # ------------------------------------------------------------------------------ control
    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        w = self.worker
        if w is not None:
            w.stop()

    def reload(self) -> None:
        """End the current attempt; the loop rebuilds the camera from the runner's current config."""
        self._reload.set()
        w = self.worker
        if w is not None:
            w.stop()

    # --------------------------------------------------------------------------------- loop
    def _loop(self) -> None:
        cam_id = self.camera.id
        while not self._stop.is_set():
            store = self.runner.store
            try:
                cam = store.camera(cam_id)
            except KeyError:
                self.state = "stopped"
                return
            if self.runner.loop and is_file_source(cam):
                cam = cam.model_copy(update={"loop": True})
            self._reload.clear()
            worker = ThreadWorker(functools.partial(self._attempt, store=store, cam=cam), f"worker-{cam_id}")
            self.worker = worker
            started = time.monotonic()
            worker.start()
            stalled = self._watch(worker, cam)
            crashed = worker.error if stalled is None else None
            if stalled is None and crashed is None:
                if self._stop.is_set():
                    self.state = "stopped"
                elif self._reload.is_set():
                    continue  # config changed: rebuild at once
                else:
                    self.state = "finished"  # file ended or max_frames reached
                    self.runner._camera_finished()
                return
            # a failure while stopping (the closing events hit a full disk) is still the owner's to judge
            self.errors += 1
            if stalled is not None:
                self.hangs += 1
                self.last_error = f"no frame analysed for {stalled:.0f} s (worker hung)"
                reason = "pipeline_hung"
            else:
                assert crashed is not None
                # a source that did not open says so itself (its message is credential-free)
                opened = not isinstance(crashed, SourceError)
                self.last_error = describe_error(crashed) if opened else redact_url(str(crashed))
                reason = "pipeline_error" if opened else "source_error"
            # the owner reports a failure it stops on (run prints one line per camera); a restart is
            # the runner's own doing, so it logs that one line itself
            log.debug("camera %s failure", cam_id, exc_info=crashed)
            decision = self.runner.decide(cam, crashed)
            if decision == "stop":  # the owner stops the whole run (a full disk); it knows why
                self.state = "stopped"
                self.runner.stop_all()
                return
            if decision == "fail" or self._stop.is_set():
                self.state = "failed"
                self.runner._publish_status(
                    cam_id, CameraOffline(reason=reason, error=self.last_error, stalled_s=_round(stalled))
                )
                return
            if time.monotonic() - started >= self.runner.healthy_after_s:
                self._backoff.reset()
            delay = self._backoff.next_delay()
            self.state = "restarting"
            log.error("camera %s: %s; restarting in %.1f s", cam_id, self.last_error, delay)
            self.runner._publish_status(
                cam_id,
                CameraOffline(
                    reason=reason,
                    error=self.last_error,
                    retry_in_s=round(delay, 3),
                    restarts=self.restarts,
                    stalled_s=_round(stalled),
                ),
            )
            if self._stop.wait(delay):
                self.state = "stopped"
                return
            self.restarts += 1
        self.state = "stopped"  # the stop came before (another) attempt started

    def _watch(self, worker: ThreadWorker, cam: CameraConfig) -> float | None:
        """Wait for ``worker`` to end; seconds it stalled if it hung (it is stopped, else abandoned)."""
        timeout = self.runner.stall_timeout_s or default_stall_timeout(cam)
        poll = min(_POLL_S, timeout / 4)
        while not worker.done.wait(poll):
            if self._stop.is_set() or self._reload.is_set():
                worker.stop()
                if not worker.done.wait(self.runner.stop_grace_s):
                    log.error("camera %s did not stop within %.0f s; abandoned", cam.id, self.runner.stop_grace_s)
                    worker.abandon()
                return None
            if self.state != "running":
                worker.beat()  # building (a model load) is covered by a running camera's timeout only
                continue
            stalled = time.monotonic() - worker.last_beat
            if stalled >= timeout:
                worker.stop()  # a blocked source is interrupted; the attempt closes what it can
                if not worker.done.wait(self.runner.stop_grace_s):
                    worker.abandon()
                return stalled
        return None

    def _attempt(self, worker: ThreadWorker, store: StoreConfig, cam: CameraConfig) -> None:
        self.state = "starting"
        runner = self.runner
        built = runner.build(store, cam, runner.bus, runner.video_dir, **runner._build_kwargs(store, cam))
        if worker.abandoned:
            built.source.close()
            return
        self.built = built
        store_feed = runner.store_feed
        feed = store_feed.observer(cam.id) if store_feed is not None else None
        try:
            if store_feed is not None and feed is not None:
                store_feed.camera_started(cam.id)
                built.pipeline.observers.append(feed)
            if runner.on_built is not None:
                runner.on_built(built)
            source: FrameSource = built.source
            if is_file_source(cam) and runner.realtime:
                source = QueuedSource(PacedSource(source, worker.stop_event), worker.stop_event, runner.queue_size)
            remaining = None
            if runner.max_frames is not None:
                remaining = runner.max_frames - self.frames
                if remaining <= 0:
                    source.close()
                    return
            self.state = "running"
            worker.beat()
            if self.restarts:
                runner._publish_status(cam.id, CameraOnline(reason="pipeline_restarted"))
            built.pipeline.run(
                source, stop=worker.stop_event, on_frame=lambda r: self._on_frame(worker, r), max_frames=remaining
            )
            built.close()  # the video's last frames: a full disk may show only here
        finally:
            if store_feed is not None and feed is not None:
                store_feed.camera_done(cam.id)
            try:
                built.close()
            except Exception as exc:  # already raised by the close above
                log.debug("camera %s: close after failure: %s", cam.id, exc)

    def _on_frame(self, worker: ThreadWorker, result: FrameResult) -> None:
        if worker.abandoned:
            return
        worker.beat()
        now = time.monotonic()
        with self._lock:
            self.frames += 1
            self.last_frame_wall = result.frame.wall_time
            self._frame_times.append(now)
        if self._backoff.failures and now - self._frame_times[0] >= self.runner.healthy_after_s:
            self._backoff.reset()
        for observer in self.runner.observers:
            try:
                observer(self.camera.id, result)
            except Exception:
                self.runner.observer_errors += 1
                log.exception("frame observer %r failed on camera %s", observer, self.camera.id)
        if self._stop.is_set():
            worker.stop()  # the run's stop reaches the pipeline before its next frame

    # ------------------------------------------------------------------------------- status
    def status(self) -> CameraStatus:
        now_mono = time.monotonic()
        with self._lock:
            recent = [t for t in self._frame_times if now_mono - t <= FPS_WINDOW_S]
            last_wall = self.last_frame_wall
            frames = self.frames
        fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) >= 2 and recent[-1] > recent[0] else 0.0
        built = self.built
        stats = built.source.stats if built is not None else None
        stage_ms: dict[str, float] = {}
        if built is not None:
            stage_ms = {
                k: round(sum(v[-50:]) / len(v[-50:]), 2) for k, v in list(built.pipeline.stats.stage_ms.items()) if v
            }
        online = bool(stats.online) if stats is not None else False
        online = online and self.state == "running"
        return CameraStatus(
            camera_id=self.camera.id,
            name=self.camera.name,
            enabled=self.camera.enabled,
            state=self.state,
            online=online,
            fps=round(fps, 2),
            frames=frames,
            last_frame_time=None if last_wall is None else datetime.fromtimestamp(last_wall, tz=UTC),
            lag_s=None if last_wall is None else round(max(0.0, time.time() - last_wall), 3),
            dropped_frames=stats.dropped if stats is not None else 0,
            corrupt_frames=stats.corrupt if stats is not None else 0,
            reconnects=stats.reconnects if stats is not None else 0,
            restarts=self.restarts,
            errors=self.errors,
            last_error=self.last_error or (stats.last_error if stats is not None else None),
            stage_ms=stage_ms,
            queue_dropped=stats.queue_dropped if stats is not None else 0,
            hangs=self.hangs,
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def restart_always(cam: CameraConfig, exc: BaseException | None) -> Decision:
    """The service's policy: every camera is rebuilt after a failure, whatever it was."""
    return "restart"


class StoreSupervisor:
    """Camera workers of one store, supervised (module docstring).

    ``loop`` replays file sources forever (demos); ``realtime`` paces file sources to their capture
    times (through the drop-oldest queue); ``max_frames`` stops each camera after that many analysed
    frames, across restarts (tests, benchmarks); ``video_dir`` is where annotated videos go (None:
    none); ``decide`` says what a failed worker's camera becomes (default: restarted); ``on_built``
    sees every camera as it is built (observers the owner attaches); ``store_level`` feeds the
    store-level stage when two or more cameras are calibrated, and ``store_heat`` is the owner's
    heat-map recorder that then keeps the store map too (flushed and shown live with the camera
    maps; None: the feed keeps its own until the end of the run); ``stop``, once set, ends every
    camera after its current frame (the CLI's signal handlers set it). With ``detector.shared``
    every camera's attempt gets a view onto one session of ``shared_detectors`` (module
    docstring). ``build``, ``detector_factory`` and ``shared_detectors`` are injectable: tests use
    them to provoke crashes and to give the shared session a synthetic detector.
    """

    def __init__(
        self,
        store: StoreConfig,
        bus: EventBus,
        *,
        loop: bool = False,
        realtime: bool = False,
        max_frames: int | None = None,
        restart_initial_s: float = 1.0,
        restart_max_s: float = 60.0,
        healthy_after_s: float = 60.0,
        stall_timeout_s: float | None = None,
        stop_grace_s: float = _STOP_GRACE_S,
        queue_size: int = QUEUE_SIZE,
        observers: Sequence[FrameObserver] = (),
        build: BuildCamera = build_camera,
        detector_factory: DetectorFactory | None = None,
        decide: DecidePolicy = restart_always,
        on_built: Callable[[BuiltCamera], None] | None = None,
        video_dir: Path | None = None,
        store_level: bool = True,
        store_heat: HeatmapRecorder | None = None,
        stop: threading.Event | None = None,
        shared_detectors: SharedDetectorPool | None = None,
    ) -> None:
        if max_frames is not None and max_frames < 1:
            raise ValueError("max_frames must be >= 1")
        if not 0 < restart_initial_s <= restart_max_s:
            raise ValueError("need 0 < restart_initial_s <= restart_max_s")
        if stall_timeout_s is not None and stall_timeout_s <= 0:
            raise ValueError("stall_timeout_s must be > 0")
        if queue_size < 1:
            raise ValueError("queue_size must be >= 1")
        self.store = store
        self.bus = bus
        self.loop = loop
        self.realtime = realtime
        self.max_frames = max_frames
        self.restart_initial_s = restart_initial_s
        self.restart_max_s = restart_max_s
        self.healthy_after_s = healthy_after_s
        self.stall_timeout_s = stall_timeout_s
        self.stop_grace_s = stop_grace_s
        self.queue_size = queue_size
        self.observers: list[FrameObserver] = list(observers)
        self.build = build
        self.detector_factory = detector_factory
        self.shared_detectors = shared_detectors if shared_detectors is not None else SharedDetectorPool()
        self.decide = decide
        self.on_built = on_built
        self.video_dir = video_dir
        # recorded files analysed as fast as they go: the store stage needs their frames in step
        sync = not realtime and all(is_file_source(c) for c in store.cameras if c.enabled)
        self.store_feed = StoreLevelFeed.for_store(store, bus, store_heat, sync=sync) if store_level else None
        self.stop_event = stop if stop is not None else threading.Event()
        self.observer_errors = 0
        self._workers: dict[str, _CameraSupervisor] = {c.id: _CameraSupervisor(self, c) for c in store.cameras}
        self._started = False
        self._finished = False
        self._lock = threading.Lock()

    def _build_kwargs(self, store: StoreConfig, cam: CameraConfig) -> dict[str, Any]:
        if self.detector_factory is not None:
            return {"detector": self.detector_factory(store, cam)}
        if store.detector.shared:  # a view onto the run's one session, which outlives this attempt
            stuck = self.stall_timeout_s or default_stall_timeout(cam)  # a batch this long hung the cameras
            view = self.shared_detectors.for_camera(store.detector, store.base_dir, cam.detector_input_size, stuck)
            return {"detector": view}
        return {}

    def _publish_status(self, camera_id: str, status: EventPayload) -> None:
        try:
            payload = type(status)(source="runner", **status.wire())
            self.bus.publish(Event.of(payload, self.store.store_id, time.time(), camera_id=camera_id))
        except Exception as exc:  # a status event is best effort, unless the owner stops on it
            cam = self._workers[camera_id].camera
            if self.decide(cam, exc) == "stop":
                self.stop_all()
            else:
                log.exception("could not publish %s for camera %s", status.TYPE, camera_id)

    @property
    def started(self) -> bool:
        return self._started

    def start(self, cameras: Sequence[str] | None = None) -> None:
        """Start a supervisor per enabled camera (``cameras``: only those; idempotent)."""
        with self._lock:
            if self._started:
                return
            self._started = True
            for w in self._workers.values():
                if w.camera.enabled and (cameras is None or w.camera.id in cameras):
                    w.start()

    def stop_all(self) -> None:
        """Tell every camera to stop (returns at once; :meth:`join` waits)."""
        self.stop_event.set()
        for w in self._workers.values():
            w.stop()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop every camera (each closes its open visits and stays), wait, close the store stage."""
        self.stop_all()
        deadline = time.monotonic() + timeout_s
        for w in self._workers.values():
            if w.thread.is_alive():
                w.thread.join(max(0.0, deadline - time.monotonic()))
                if w.thread.is_alive():
                    log.error("camera %s did not stop within %.0f s", w.camera.id, timeout_s)
        self.finish()
        # after the cameras: frames they already handed over still run, then the session closes
        self.shared_detectors.close(timeout=self.stop_grace_s)

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait until every camera ended (sources finished or stopped); False on timeout."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for w in self._workers.values():
            if w.thread.is_alive():
                w.thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(w.thread.is_alive() for w in self._workers.values())

    def _camera_finished(self) -> None:
        """A camera's source ended for good (a file, not replayed). Once no camera is left running,
        the store stage's open visits end now, with their journeys, instead of waiting for a
        shutdown: `storelens serve` over recorded files keeps serving after the files end, and the
        store clock, which only frames move, would otherwise hold the last visits open."""
        if all(w.state in ("finished", "stopped", "failed", "disabled") for w in self._workers.values()):
            self.finish()

    def finish(self) -> None:
        """After the cameras ended: the store stage's open visits end with their journeys (once)."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
        if self.store_feed is not None:
            self.store_feed.close()

    def add_observer(self, observer: FrameObserver) -> None:
        self.observers.append(observer)

    def camera_ids(self) -> list[str]:
        return list(self._workers)

    def status(self) -> list[CameraStatus]:
        return [w.status() for w in self._workers.values()]

    def camera_status(self, camera_id: str) -> CameraStatus:
        return self._workers[camera_id].status()

    def built(self, camera_id: str) -> BuiltCamera | None:
        """The camera's latest build (None before its first)."""
        return self._workers[camera_id].built

    def is_running(self, camera_id: str) -> bool:
        """Whether the camera's supervisor is alive (an edit reaches it by a rebuild, see update_store)."""
        w = self._workers.get(camera_id)
        return w is not None and w.thread.is_alive()

    def frame_size(self, camera_id: str) -> tuple[int, int] | None:
        """The native (width, height) of the camera's frames, once its source has opened."""
        w = self._workers.get(camera_id)
        built = w.built if w is not None else None
        if built is None:
            return None
        extra = built.source.stats.extra
        width, height = extra.get("native_width"), extra.get("native_height")
        return (int(width), int(height)) if width and height else None

    def update_store(self, store: StoreConfig, changed_cameras: Sequence[str] = ()) -> None:
        """Adopt a new config (e.g. edited zones) and rebuild the cameras it changed: their current
        run ends cleanly (open stays and visits are closed) and restarts with the new geometry."""
        self.store = store
        for cam_id in changed_cameras:
            w = self._workers.get(cam_id)
            if w is not None and w.thread.is_alive():
                w.reload()
