"""The one supervised runner behind `storelens run` and `storelens serve` (issue 16).

Synthetic cameras only (a few tiny frames, a detector that reports one person box sliding across,
the real tracker and pipeline): a worker that raises is restarted and reported, a worker that hangs
is found and restarted, the drop-oldest queue keeps a slow camera's lag and memory bounded, a stop
in the middle of a run loses no event, and the store-level stage is fed through the runner.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from storelens.config.cameras import CameraConfig
from storelens.config.store import StoreConfig
from storelens.core.results import FrameResult
from storelens.core.types import Detections, Frame
from storelens.events.bus import EventBus
from storelens.events.models import Event
from storelens.pipeline.build import BuiltCamera, build_camera
from storelens.pipeline.camera import CameraPipeline
from storelens.pipeline.run import run_store
from storelens.pipeline.supervisor import QueuedSource, StoreSupervisor, default_stall_timeout
from storelens.sim.cameras import VirtualCamera
from storelens.sources.base import SourceStats
from storelens.sources.images import ImageFolderSource
from storelens.tracking.registry import make_tracker
from storelens.vision.shared_detector import CameraDetector, DetectorClosed, SharedDetectorPool

pytestmark = pytest.mark.timeout(60)

T0 = 1.8e9
IMAGE = np.zeros((48, 64, 3), np.uint8)


class ListSource:
    """``n`` synthetic frames at 10 fps; ``gate`` (if given) is waited for after the first frame."""

    def __init__(self, camera_id: str, n: int, gate: threading.Event | None = None, live: bool = False) -> None:
        self.camera_id = camera_id
        self.stats = SourceStats()
        self.n = n
        self.gate = gate
        self.live = live  # capture times from now on (a file replayed as live is paced to them)
        self.closed = False

    def frames(self) -> Iterator[Frame]:
        t0 = time.time() if self.live else T0
        for i in range(self.n):
            if i == 1 and self.gate is not None:
                self.gate.wait(10)
            self.stats.decoded += 1
            self.stats.emitted += 1
            self.stats.online = True
            yield Frame(self.camera_id, i, i / 10, t0 + i / 10, IMAGE)

    def close(self) -> None:
        self.closed = True
        self.stats.online = False


class SlidingPerson:
    """One person box moving 1 px a frame; raises on call ``fail_at``, blocks on ``hang_at``,
    takes ``cost_s`` a call (a detector slower than the camera)."""

    def __init__(self, fail_at: int | None = None, hang_at: int | None = None, cost_s: float = 0.0) -> None:
        self.calls = 0
        self.fail_at = fail_at
        self.hang_at = hang_at
        self.cost_s = cost_s
        self.release = threading.Event()

    def detect(self, image: Any) -> Detections:
        self.calls += 1
        if self.cost_s:
            time.sleep(self.cost_s)
        if self.calls == self.fail_at:
            raise RuntimeError("simulated inference failure")
        if self.calls == self.hang_at:
            self.release.wait(30)  # a native call that never returns (until the test ends)
        x = float(self.calls % 40)
        return Detections(
            xyxy=np.array([[x, 4, x + 12, 44]], np.float32), score=np.array([0.9], np.float32), class_id=np.zeros(1)
        )

    def detect_batch(self, images: Any) -> list[Detections]:
        return [self.detect(image) for image in images]


def store(*cams: CameraConfig) -> StoreConfig:
    cfg = StoreConfig(store_id="t", cameras=list(cams or [CameraConfig(id="c1", source="sim://c1", fps=10)]))
    det = cfg.detector.model_copy(update={"self_check": False})
    return cfg.model_copy(update={"detector": det, "emotion": cfg.emotion.model_copy(update={"enabled": False})})


def synthetic_build(n_frames: int, live: bool = False) -> Any:
    def build(
        store: StoreConfig, cam: CameraConfig, bus: EventBus, video_dir: Path | None, *, detector: Any = None
    ) -> BuiltCamera:
        pipeline = CameraPipeline(store, cam, detector or SlidingPerson(), make_tracker(store.tracker), [], bus)
        return BuiltCamera(camera=cam, pipeline=pipeline, source=ListSource(cam.id, n_frames, live=live))

    return build


def camera_events(bus: EventBus) -> list[Event]:
    seen: list[Event] = []
    bus.subscribe(seen.append, ["camera."])
    return seen


def test_a_worker_that_raises_is_restarted_with_backoff_and_reported() -> None:
    bus = EventBus()
    seen = camera_events(bus)
    detector = SlidingPerson(fail_at=5)  # one detector across restarts: it fails once
    runner = StoreSupervisor(
        store(),
        bus,
        max_frames=20,
        restart_initial_s=0.01,
        restart_max_s=0.02,
        build=synthetic_build(100),
        detector_factory=lambda s, c: detector,
    )
    runner.start()
    assert runner.join(30)
    status = runner.camera_status("c1")
    assert (status.state, status.frames, status.restarts, status.errors, status.hangs) == ("finished", 20, 1, 1, 0)
    assert "simulated inference failure" in (status.last_error or "")
    offline = [e for e in seen if e.type == "camera.offline"]
    assert len(offline) == 1
    assert offline[0].payload["reason"] == "pipeline_error" and offline[0].payload["source"] == "runner"
    assert 0 < offline[0].payload["retry_in_s"] <= 0.02 and offline[0].payload["restarts"] == 0
    assert [e.payload["reason"] for e in seen if e.type == "camera.online"] == ["pipeline_restarted"]


def test_a_worker_that_hangs_is_detected_and_restarted() -> None:
    bus = EventBus()
    seen = camera_events(bus)
    detector = SlidingPerson(hang_at=5)  # the 5th inference never returns
    runner = StoreSupervisor(
        store(),
        bus,
        max_frames=20,
        restart_initial_s=0.01,
        restart_max_s=0.02,
        stall_timeout_s=1.0,  # far above a synthetic frame's cost, even on a loaded machine
        stop_grace_s=0.1,
        build=synthetic_build(100),
        detector_factory=lambda s, c: detector,
    )
    try:
        runner.start()
        assert runner.join(30)
        status = runner.camera_status("c1")
        # the stuck attempt analysed 4 frames; its replacement the remaining 16
        assert (status.state, status.frames, status.restarts, status.hangs) == ("finished", 20, 1, 1)
        hung = [e for e in seen if e.type == "camera.offline"]
        assert len(hung) == 1 and hung[0].payload["reason"] == "pipeline_hung"
        assert hung[0].payload["stalled_s"] >= 1.0 and "no frame analysed" in hung[0].payload["error"]
    finally:
        detector.release.set()  # the abandoned thread ends (its frames are no longer counted)


def test_file_cameras_in_run_are_given_up_not_replayed() -> None:
    """`storelens run`'s policy: a file is not played again after a failure (events counted twice)."""
    bus = EventBus()
    seen = camera_events(bus)
    detector = SlidingPerson(fail_at=3)
    runner = StoreSupervisor(
        store(CameraConfig(id="f", source="clip.mp4", fps=10)),
        bus,
        build=synthetic_build(10),
        detector_factory=lambda s, c: detector,
        decide=lambda cam, exc: "fail",
    )
    runner.start()
    assert runner.join(30)
    status = runner.camera_status("f")
    assert (status.state, status.frames, status.restarts) == ("failed", 2, 0)
    offline = [e for e in seen if e.type == "camera.offline"]
    assert len(offline) == 1 and "retry_in_s" not in offline[0].payload


def test_a_failure_the_owner_calls_fatal_stops_every_camera() -> None:
    """`storelens run` on a full disk: nothing more can be recorded, so every camera stops."""
    detectors = {"a": SlidingPerson(fail_at=3), "b": SlidingPerson()}
    judged: list[str] = []

    def decide(cam: CameraConfig, exc: BaseException | None) -> Any:
        judged.append(cam.id)
        return "stop"

    runner = StoreSupervisor(
        store(CameraConfig(id="a", source="sim://a"), CameraConfig(id="b", source="sim://b")),
        EventBus(),
        build=synthetic_build(10**6),  # b would run for a day
        detector_factory=lambda s, c: detectors[c.id],
        decide=decide,
    )
    runner.start()
    assert runner.join(30)
    assert judged == ["a"] and runner.stop_event.is_set()
    assert [runner.camera_status(c).state for c in ("a", "b")] == ["stopped", "stopped"]


def test_the_drop_oldest_queue_bounds_a_slow_cameras_lag() -> None:
    """While the pipeline works on frame 0 the source delivers 49 more: only the newest 2 wait."""
    gate = threading.Event()
    inner = ListSource("c1", 50, gate)
    queued = QueuedSource(inner, threading.Event(), size=2)
    it = queued.frames()
    assert next(it).index == 0
    gate.set()  # the source runs on while the consumer is "busy"
    assert queued.ended.wait(10)
    assert len(queued.queue) == 2
    assert [f.index for f in it] == [48, 49]
    assert queued.stats.dropped == queued.stats.queue_dropped == 47
    assert inner.closed  # the reader thread closed its source


def test_a_slow_camera_replayed_as_live_drops_frames_instead_of_lagging() -> None:
    """`serve` paces a file to real time: a detector 2.5 times slower than the camera's frames
    makes it skip frames (counted), and every frame is either analysed or counted as dropped."""
    bus = EventBus()
    detector = SlidingPerson(cost_s=0.25)  # the camera delivers a frame every 0.1 s
    runner = StoreSupervisor(
        store(CameraConfig(id="f", source="clip.mp4", fps=10)),
        bus,
        realtime=True,
        build=synthetic_build(8, live=True),
        detector_factory=lambda s, c: detector,
    )
    runner.start()
    assert runner.join(30)
    status = runner.camera_status("f")
    assert status.state == "finished" and status.queue_dropped >= 1
    assert status.frames + status.queue_dropped == 8
    assert status.dropped_frames == status.queue_dropped


def test_stall_timeout_default_leaves_a_reconnecting_camera_alone() -> None:
    cam = CameraConfig(id="c", source="rtsp://x/y", fps=2, reconnect_max_s=30)
    assert default_stall_timeout(cam) >= 2 * cam.reconnect_max_s
    assert default_stall_timeout(CameraConfig(id="c", source="a.mp4", fps=0.5, reconnect_max_s=1)) >= 100


def test_a_stop_mid_run_loses_no_event(tmp_path: Path) -> None:
    """`storelens run` stopped (SIGTERM sets the same event) while a visit is open: its closing
    events are published, and every published event is in the JSONL file and the database."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(60):
        cv2.imwrite(str(folder / f"f{i}.png"), IMAGE)
    cfg = store(CameraConfig(id="c1", source=str(folder), fps=10))
    cfg.base_dir = tmp_path
    stop = threading.Event()

    def progress(cam: CameraConfig, expected: int | None) -> Any:
        def tick(result: FrameResult) -> None:
            if result.frame.index == 25:
                stop.set()

        return tick

    out = run_store(
        cfg,
        tmp_path / "out",
        stop=stop,
        progress=progress,
        annotate=False,
        detector_factory=lambda s, c: SlidingPerson(),
    )
    assert out.stopped and out.stats["c1"].frames < 60
    lines = [json.loads(line) for line in (out.events_jsonl or Path()).read_text().splitlines()]
    assert len(lines) == out.events > 0
    types = [e["type"] for e in lines]
    assert types.count("visit.started") == types.count("visit.ended") >= 1  # the open visit was closed
    from storelens.storage import open_database
    from storelens.storage.events import count_events

    with open_database(out.database_url) as db, db.begin() as conn:
        assert count_events(conn) == out.events


def test_the_store_level_stage_is_fed_through_the_runner() -> None:
    """Two calibrated cameras: the runner builds the store stage and attaches it to every camera."""
    cams = [VirtualCamera("a", (-1.0, 0.0, 8.0, 3.0)), VirtualCamera("b", (6.0, 0.0, 14.0, 3.0))]
    bus = EventBus()
    got: list[Event] = []
    bus.subscribe(got.append)
    runner = StoreSupervisor(store(*(c.camera_config() for c in cams)), bus, build=synthetic_build(30))
    assert runner.store_feed is not None
    runner.start()
    assert runner.join(30)
    for cid in ("a", "b"):
        built = runner.built(cid)
        assert built is not None and len(built.pipeline.observers) == 1  # the store feed
    runner.finish()
    assert runner.store_feed.summary()["cameras"] == ["a", "b"]
    assert any(e.type == "visit.started" and e.camera_id is None for e in got)  # a store visit


def test_store_visits_end_when_every_recorded_camera_has_ended() -> None:
    """`storelens serve` over files keeps serving after they end: once no camera is left running,
    the store stage's open visits end (with their journeys) without waiting for a shutdown."""
    cams = [VirtualCamera("a", (-1.0, 0.0, 8.0, 3.0)), VirtualCamera("b", (6.0, 0.0, 14.0, 3.0))]
    bus = EventBus()
    got: list[Event] = []
    bus.subscribe(got.append)
    runner = StoreSupervisor(store(*(c.camera_config() for c in cams)), bus, build=synthetic_build(30))
    runner.start()
    assert runner.join(30)
    started = [e.subject for e in got if e.type == "visit.started" and e.camera_id is None]
    ended = [e.subject for e in got if e.type == "visit.ended" and e.camera_id is None]
    assert started and sorted(ended) == sorted(started)  # no runner.finish() or stop_all() called


# ------------------------------------------------------------------ one detector for every camera
class FindBlock:
    """The bright block of a synthetic frame as one person (results depend on the image only, so
    the same frames give the same detections whichever camera's session runs them);
    raises on call ``fail_at`` (counted over every camera it serves)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls = 0
        self.fail_at = fail_at
        self.sizes: set[int | None] = set()  # input sizes it was asked for

    def detect(self, image: Any) -> Detections:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Any, input_size: int | None = None) -> list[Detections]:
        self.sizes.add(input_size)
        out = []
        for image in images:
            self.calls += 1
            if self.calls == self.fail_at:
                raise RuntimeError("simulated inference failure")
            ys, xs = np.nonzero(image[:, :, 0] > 128)
            xyxy = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
            out.append(Detections(xyxy=xyxy, score=np.array([0.9], np.float32), class_id=np.zeros(1)))
        return out


def block_frames(folder: Path, n: int, step: int) -> None:
    """``n`` PNG frames (96x64) of a 10x30 block walking ``step`` px a frame into the zone and out."""
    folder.mkdir(parents=True)
    for i in range(n):
        image = np.zeros((64, 96, 3), np.uint8)
        x = 2 + (i * step) % 80
        image[20:50, x : x + 10] = 255
        cv2.imwrite(str(folder / f"f{i:03d}.png"), image)


def two_block_cameras(tmp_path: Path, shared: bool) -> StoreConfig:
    block_frames(tmp_path / "a", 40, 2)
    block_frames(tmp_path / "b", 40, 3)
    data = store().model_dump()
    data["cameras"] = [
        {"id": "a", "source": str(tmp_path / "a"), "fps": 10},
        {"id": "b", "source": str(tmp_path / "b"), "fps": 10, "detector_input_size": 320},
    ]
    data["zones"] = [
        {
            "id": f"z{c}",
            "name": f"z{c}",
            "kind": "display",
            "camera": c,
            "points": [[40, 0], [96, 0], [96, 64], [40, 64]],
        }
        for c in ("a", "b")
    ]
    data["detector"]["shared"] = shared
    cfg = StoreConfig.model_validate(data)
    cfg.base_dir = tmp_path
    return cfg


def comparable(events: list[Event]) -> list[tuple[Any, ...]]:
    """Events without their random ids: subjects renamed in order of appearance."""
    names: dict[str, str] = {}

    def rename(value: Any) -> Any:
        if isinstance(value, str) and value in names:
            return names[value]
        if isinstance(value, dict):
            return {k: rename(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rename(v) for v in value]
        return value

    out = []
    for e in sorted(events, key=lambda e: (e.camera_id or "", e.frame or 0, e.type)):
        if e.subject is not None and e.subject not in names:
            names[e.subject] = f"s{len(names)}"
        out.append((e.type, e.camera_id, e.zone_id, rename(e.subject), e.pts, e.frame, rename(e.payload)))
    return out


def build_at_t0(store: StoreConfig, cam: CameraConfig, bus: EventBus, video_dir: Path | None, **kw: Any) -> BuiltCamera:
    """The real build, its folder's frames captured from T0 (events comparable between runs)."""
    built = build_camera(store, cam, bus, video_dir, **kw)
    built.source.close()
    built.source = ImageFolderSource(cam, Path(cam.source), start_wall_time=T0)
    return built


def run_cameras(cfg: StoreConfig, **kwargs: Any) -> tuple[list[Event], StoreSupervisor]:
    bus = EventBus()
    got: list[Event] = []
    bus.subscribe(got.append)
    runner = StoreSupervisor(cfg, bus, store_level=False, build=build_at_t0, **kwargs)
    runner.start()
    assert runner.join(30)
    runner.stop()
    return got, runner


def test_two_cameras_on_one_shared_detector_give_the_events_of_their_own_detectors(tmp_path: Path) -> None:
    """``detector.shared``: both cameras (one with its own input size) on one session, through the
    real build (tracker, stitching, zones): the same events as with a detector each."""
    own, _ = run_cameras(two_block_cameras(tmp_path / "own", shared=False), detector_factory=lambda s, c: FindBlock())
    made: list[FindBlock] = []

    def make(cfg: Any, base_dir: Any) -> FindBlock:
        made.append(FindBlock())
        return made[-1]

    pool = SharedDetectorPool(make=make)
    shared, runner = run_cameras(two_block_cameras(tmp_path / "shared", shared=True), shared_detectors=pool)
    assert len(made) == 1 and made[0].sizes == {None, 320}  # one session for both cameras
    views = [runner.built(c).pipeline.detector for c in ("a", "b")]  # type: ignore[union-attr]
    assert all(isinstance(v, CameraDetector) for v in views)
    assert views[0].shared is views[1].shared and (views[0].input_size, views[1].input_size) == (None, 320)
    assert views[0].shared.stats().frames == 80 and views[0].shared.closed  # the run's stop closed it
    assert any(e.type == "zone.exited" for e in own) and any(e.type == "visit.ended" for e in own)
    assert comparable(shared) == comparable(own)


def test_a_restarted_camera_keeps_using_the_shared_worker() -> None:
    """A failed batch fails the cameras whose frames were in it; they are rebuilt onto the same
    live worker (one model load in all), and closing the run closes the worker."""
    bus = EventBus()
    seen = camera_events(bus)
    detector = FindBlock(fail_at=5)
    makes: list[int] = []

    def make(cfg: Any, base_dir: Any) -> FindBlock:
        makes.append(1)
        return detector

    cfg = store(CameraConfig(id="c1", source="sim://c1", fps=10), CameraConfig(id="c2", source="sim://c2", fps=10))
    cfg = cfg.model_copy(update={"detector": cfg.detector.model_copy(update={"shared": True})})
    image = IMAGE.copy()
    image[10:40, 20:30] = 255

    def build(
        store: StoreConfig, cam: CameraConfig, bus: EventBus, video_dir: Path | None, *, detector: Any
    ) -> BuiltCamera:
        source = ListSource(cam.id, 100)
        source.frames = lambda: (  # type: ignore[method-assign]
            Frame(cam.id, i, i / 10, T0 + i / 10, image) for i in range(100)
        )
        pipeline = CameraPipeline(store, cam, detector, make_tracker(store.tracker), [], bus)
        return BuiltCamera(camera=cam, pipeline=pipeline, source=source)

    pool = SharedDetectorPool(make=make)
    runner = StoreSupervisor(
        cfg, bus, max_frames=20, restart_initial_s=0.01, restart_max_s=0.02, build=build, shared_detectors=pool
    )
    runner.start()
    assert runner.join(30)
    statuses = {s.camera_id: s for s in runner.status()}
    assert [s.frames for s in statuses.values()] == [20, 20]
    # the failed batch held one frame, or one of each camera: those cameras failed and were rebuilt
    errors = sum(s.errors for s in statuses.values())
    assert errors in (1, 2) and sum(s.restarts for s in statuses.values()) == errors
    assert [e.payload["reason"] for e in seen if e.type == "camera.offline"] == ["pipeline_error"] * errors
    (shared,) = pool.detectors()
    assert len(makes) == 1 and not shared.closed and shared._worker.is_alive()  # the restart reused it
    for cid in ("c1", "c2"):
        view = runner.built(cid).pipeline.detector  # type: ignore[union-attr]
        assert isinstance(view, CameraDetector) and view.shared is shared
    assert shared.stats().frames == 40
    runner.stop()
    assert shared.closed and not shared._worker.is_alive()
    with pytest.raises(DetectorClosed):
        pool.for_camera(cfg.detector, None, None)


def test_a_shared_session_that_hangs_is_replaced() -> None:
    """The shared session's native call never returns: the camera is found hung, and its rebuild
    gets a new session instead of queueing behind the stuck one."""
    bus = EventBus()
    hung = SlidingPerson(hang_at=5)
    made = [hung, SlidingPerson()]
    pool = SharedDetectorPool(make=lambda cfg, base_dir: made.pop(0))
    cfg = store()
    cfg = cfg.model_copy(update={"detector": cfg.detector.model_copy(update={"shared": True})})
    runner = StoreSupervisor(
        cfg,
        bus,
        max_frames=20,
        restart_initial_s=0.01,
        restart_max_s=0.02,
        stall_timeout_s=1.0,
        stop_grace_s=0.1,
        build=synthetic_build(100),
        shared_detectors=pool,
    )
    try:
        runner.start()
        assert runner.join(30)
        status = runner.camera_status("c1")
        assert (status.state, status.frames, status.hangs) == ("finished", 20, 1)
        assert made == [] and len(pool.abandoned) == 1 and len(pool.detectors()) == 1
        runner.stop()
    finally:
        hung.release.set()
