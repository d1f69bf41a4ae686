"""Run every enabled camera's pipeline in its own thread, keep them running, report their health.

One thread per camera (the detector releases the GIL inside onnxruntime, so threads overlap well and
share one process with the API). Each camera's worker loops: build the camera (source, detector,
tracker, stages), run it until its source ends or it is told to stop, and if the pipeline raised,
publish ``camera.offline``, wait an exponentially growing, jittered delay and build it again: a
flaky RTSP camera or a bad frame never takes the other cameras or the API down, and a crash loop
does not spin. A run that stayed up for ``healthy_after_s`` resets the backoff.

The pipeline publishes its events to the bus it was built with; the service subscribes the
database sink and the WebSocket hub to that bus. ``on_frame`` observers (overlay metadata, live
heat maps) run in the camera thread after every analysed frame; they must be cheap, and an
observer that raises is logged and skipped rather than crashing the camera.

``status()`` gives a snapshot per camera for the API and ``/metrics``: state, online, fps over the
last few seconds, last frame time, lag (now minus the frame's capture time), dropped and corrupt
frames, restarts, errors and the last error (credential-free).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from storelens.config.schema import CameraConfig, StoreConfig
from storelens.core.results import FrameResult
from storelens.core.types import Frame
from storelens.events.bus import EventBus
from storelens.events.models import Event
from storelens.events.payloads import CameraOffline, CameraOnline, EventPayload
from storelens.pipeline.build import BuiltCamera, build_camera
from storelens.sinks.buffer import Backoff
from storelens.sources.base import FrameSource, SourceStats
from storelens.sources.status import describe_error
from storelens.vision.base import Detector

log = logging.getLogger(__name__)

CameraState = Literal["starting", "running", "restarting", "finished", "stopped", "disabled"]
FrameObserver = Callable[[str, FrameResult], None]
BuildCamera = Callable[..., BuiltCamera]
DetectorFactory = Callable[[StoreConfig, CameraConfig], Detector]

FPS_WINDOW_S = 5.0


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """A point-in-time view of one camera (see the module docstring)."""

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


def is_file_source(cam: CameraConfig) -> bool:
    src = cam.source.strip()
    return "://" not in src and not src.lower().startswith("webcam:") and not src.startswith("/dev/video")


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


class _CameraWorker:
    """One camera's thread: build, run, restart with backoff (see module docstring)."""

    def __init__(self, runner: StoreRunner, camera: CameraConfig) -> None:
        self.runner = runner
        self.camera = camera
        self.state: CameraState = "starting" if camera.enabled else "disabled"
        self.frames = 0
        self.restarts = 0
        self.errors = 0
        self.last_error: str | None = None
        self.last_frame_wall: float | None = None
        self.built: BuiltCamera | None = None
        self._frame_times: deque[float] = deque(maxlen=256)
        self._lock = threading.Lock()
        self._stop = threading.Event()  # the worker must end
        self._run_stop = threading.Event()  # the current run must end (stop or reload)
        self._reload = False
        self._backoff = Backoff(runner.restart_initial_s, runner.restart_max_s)
        self.thread = threading.Thread(target=self._loop, name=f"camera-{camera.id}", daemon=True)

    # ------------------------------------------------------------------------------ control
    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._run_stop.set()

    def reload(self) -> None:
        """End the current run; the loop rebuilds the camera from the runner's current config."""
        with self._lock:
            self._reload = True
        self._run_stop.set()

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
            self._run_stop.clear()
            with self._lock:
                self._reload = False
            started = time.monotonic()
            crashed: BaseException | None = None
            try:
                self._run_once(store, cam)
            except Exception as exc:  # any failure of one camera is contained and retried
                crashed = exc
            with self._lock:
                reload = self._reload
            if self._stop.is_set():
                self.state = "stopped"
                return
            if crashed is None and reload:
                continue  # config changed: rebuild at once
            if crashed is None:
                self.state = "finished"  # file ended or max_frames reached
                return
            self.errors += 1
            self.last_error = describe_error(crashed)
            log.error("camera %s pipeline failed: %s", cam_id, self.last_error, exc_info=crashed)
            self.runner._publish_status(cam_id, CameraOffline(reason="pipeline_error", error=self.last_error))
            if time.monotonic() - started >= self.runner.healthy_after_s:
                self._backoff.reset()
            delay = self._backoff.next_delay()
            self.state = "restarting"
            if self._stop.wait(delay):
                self.state = "stopped"
                return
            self.restarts += 1

    def _run_once(self, store: StoreConfig, cam: CameraConfig) -> None:
        self.state = "starting"
        built = self.runner.build(store, cam, self.runner.bus, None, **self.runner._build_kwargs(store, cam))
        self.built = built
        try:
            source: FrameSource = built.source
            if self.runner.realtime and is_file_source(cam):
                source = PacedSource(source, self._run_stop)
            remaining = None
            if self.runner.max_frames is not None:
                remaining = self.runner.max_frames - self.frames
                if remaining <= 0:
                    source.close()
                    return
            self.state = "running"
            if self.restarts:
                self.runner._publish_status(cam.id, CameraOnline(reason="pipeline_restarted"))
            built.pipeline.run(source, stop=self._run_stop, on_frame=self._on_frame, max_frames=remaining)
        finally:
            built.close()

    def _on_frame(self, result: FrameResult) -> None:
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
        )


class StoreRunner:
    """Camera pipelines of one store, one thread each, restarted on failure (module docstring).

    ``loop`` replays file sources forever (demos); ``realtime`` paces file sources to their capture
    times; ``max_frames`` stops each camera after that many analysed frames (tests, benchmarks).
    ``build`` and ``detector_factory`` are injectable: tests use them to provoke crashes and to
    share one detector session between cameras.
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
        observers: Sequence[FrameObserver] = (),
        build: BuildCamera = build_camera,
        detector_factory: DetectorFactory | None = None,
    ) -> None:
        if max_frames is not None and max_frames < 1:
            raise ValueError("max_frames must be >= 1")
        if not 0 < restart_initial_s <= restart_max_s:
            raise ValueError("need 0 < restart_initial_s <= restart_max_s")
        self.store = store
        self.bus = bus
        self.loop = loop
        self.realtime = realtime
        self.max_frames = max_frames
        self.restart_initial_s = restart_initial_s
        self.restart_max_s = restart_max_s
        self.healthy_after_s = healthy_after_s
        self.observers: list[FrameObserver] = list(observers)
        self.build = build
        self.detector_factory = detector_factory
        self.observer_errors = 0
        self._workers: dict[str, _CameraWorker] = {c.id: _CameraWorker(self, c) for c in store.cameras}
        self._started = False
        self._lock = threading.Lock()

    def _build_kwargs(self, store: StoreConfig, cam: CameraConfig) -> dict[str, Any]:
        if self.detector_factory is None:
            return {}
        return {"detector": self.detector_factory(store, cam)}

    def _publish_status(self, camera_id: str, status: EventPayload) -> None:
        try:
            payload = type(status)(source="runner", **status.wire())
            self.bus.publish(Event.of(payload, self.store.store_id, time.time(), camera_id=camera_id))
        except Exception:  # status events are best effort; the status API still shows the state
            log.exception("could not publish %s for camera %s", status.TYPE, camera_id)

    @property
    def started(self) -> bool:
        return self._started

    def start(self) -> None:
        """Start a thread per enabled camera (idempotent)."""
        with self._lock:
            if self._started:
                return
            self._started = True
            for w in self._workers.values():
                if w.camera.enabled:
                    w.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop every camera (each closes its open visits and stays) and wait for the threads."""
        for w in self._workers.values():
            w.stop()
        deadline = time.monotonic() + timeout_s
        for w in self._workers.values():
            if w.thread.is_alive():
                w.thread.join(max(0.0, deadline - time.monotonic()))
                if w.thread.is_alive():
                    log.error("camera %s did not stop within %.0f s", w.camera.id, timeout_s)

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait until every camera thread ended (sources finished or stopped); False on timeout."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for w in self._workers.values():
            if w.thread.is_alive():
                w.thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(w.thread.is_alive() for w in self._workers.values())

    def add_observer(self, observer: FrameObserver) -> None:
        self.observers.append(observer)

    def camera_ids(self) -> list[str]:
        return list(self._workers)

    def status(self) -> list[CameraStatus]:
        return [w.status() for w in self._workers.values()]

    def camera_status(self, camera_id: str) -> CameraStatus:
        return self._workers[camera_id].status()

    def is_running(self, camera_id: str) -> bool:
        """Whether the camera's thread is alive (an edit reaches it by a rebuild, see update_store)."""
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
