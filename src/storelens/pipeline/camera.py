"""The per-camera loop: frames → detections → tracks (→ visits) → analytics stages → events.

The loop is deliberately plain: every stage is an object with an ``update`` method, called once
per analysed frame in a fixed order, so a stage sees the events the earlier stages emitted in the
same frame (intent needs the zone exit that just happened, not the one from the previous frame).
Per-stage wall time is measured here so the benchmark and the service report the same numbers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from storelens.config.cameras import CameraConfig
from storelens.config.store import StoreConfig
from storelens.core.results import FrameResult
from storelens.core.types import Frame, Tracks
from storelens.events.bus import EventBus
from storelens.events.models import Event
from storelens.events.payloads import CameraDegraded, EventPayload, VisitEnded, VisitStarted, payload_model
from storelens.pipeline.gating import MotionGate
from storelens.pipeline.second_pass import SecondPass, second_pass_for
from storelens.pipeline.selfcheck import DetectionSelfCheck
from storelens.sources.base import FrameSource
from storelens.tracking.base import PredictsBoxes, Tracker
from storelens.vision.base import Detector

if TYPE_CHECKING:
    from storelens.analytics.heatmap import HeatmapAccumulator

_FRAME_MEMORY = 3000  # frames whose index an event can still name (5 min at 10 fps)

log = logging.getLogger(__name__)


class Stage(Protocol):
    """An analytics stage. ``events`` holds what earlier stages emitted in this frame."""

    name: str

    def update(self, frame: Frame, tracks: Tracks, events: Sequence[Event]) -> list[Event]: ...

    def close(self, pts: float, wall_time: float, events: Sequence[Event]) -> list[Event]: ...

    def summary(self) -> dict[str, Any]: ...


@runtime_checkable
class VisitProfiler(Protocol):
    """A stage that knows a visit's route and body (the behaviour stage): its :meth:`visit_profile`
    fields go into the ``visit.ended`` event (``path``, ``height_m``), read once as the visit ends."""

    def visit_profile(self, subject: int) -> dict[str, Any]: ...


@runtime_checkable
class HeatmapKeeper(Protocol):
    """A stage that keeps the camera's heat map (the behaviour stage): its accumulator goes out
    with every :class:`FrameResult`, for the heat-map recorder to store (it counts nothing itself)."""

    @property
    def heatmap(self) -> HeatmapAccumulator | None: ...


@runtime_checkable
class ImageWriter(Protocol):
    """A stage that renders images at the end of a run (the behaviour stage's heat maps)."""

    def write_images(self, out_dir: Path) -> dict[str, Path]: ...


@runtime_checkable
class FaceLocator(Protocol):
    """A stage that found faces in the last frame (the emotion stage): outgoing annotated frames
    blur them on top of the keypoint head boxes."""

    def face_boxes(self) -> np.ndarray: ...


@runtime_checkable
class BusSubscriber(Protocol):
    """A stage that listens to events published elsewhere (the intent stage follows the API's
    ``alert.acknowledged``); subscribed once, when the camera's stages are built."""

    def subscribe(self, bus: EventBus) -> None: ...


class Stitcher(Protocol):
    def update(self, tracks: Tracks, timestamp: float, image: Any = None) -> Tracks: ...

    def pop_finished(self, timestamp: float) -> list[Any]: ...

    def flush(self) -> list[Any]: ...


Observer = Callable[[FrameResult], None]


@dataclass(slots=True)
class RunStats:
    frames: int = 0
    detections: int = 0
    events: int = 0
    visits: int = 0
    detector_runs: int = 0  # frames the detector ran on (fewer than frames when gated)
    wall_s: float = 0.0
    media_s: float = 0.0
    stage_ms: dict[str, list[float]] = field(default_factory=dict)

    def add_timings(self, timings: dict[str, float]) -> None:
        for k, v in timings.items():
            self.stage_ms.setdefault(k, []).append(v)

    def median_ms(self) -> dict[str, float]:
        return {k: float(np.median(v)) for k, v in self.stage_ms.items() if v}

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


class CameraPipeline:
    """Runs one camera's frames through detection, tracking and the analytics stages."""

    def __init__(
        self,
        store: StoreConfig,
        camera: CameraConfig,
        detector: Detector,
        tracker: Tracker,
        stages: Sequence[Stage] | Callable[[Frame], Sequence[Stage]],
        bus: EventBus,
        stitcher: Stitcher | None = None,
        observers: Iterable[Observer] = (),
    ) -> None:
        self.store = store
        self.camera = camera
        self.detector = detector
        self.tracker = tracker
        self.stitcher = stitcher
        # Stages may be built lazily from the first frame: zones are drawn in the camera's native
        # pixels and must be scaled when the source downscales frames.
        self._stage_factory = stages if callable(stages) else None
        self.stages: list[Stage] = [] if callable(stages) else list(stages)
        self.bus = bus
        self.observers = list(observers)
        self.stats = RunStats()
        self.selfcheck = (
            DetectionSelfCheck(camera.id, store.detector.model, store.detector_for(camera.id).input_size)
            if store.detector.self_check
            else None
        )
        gating = store.detector_for(camera.id).gating
        # detect only when the scene changed (issue 16); None: every analysed frame is detected
        self.gate: MotionGate | None = MotionGate(gating) if gating.enabled else None
        # crops where a small person may be (issue 13); None: the full-frame pass only
        self.second_pass: SecondPass | None = second_pass_for(detector, store.detector_for(camera.id))
        self._active_subjects: dict[int, float] = {}  # subject id -> first pts (visits without stitching)
        self._wall_offset = 0.0  # wall_time - pts of the latest frame, to date visit summaries
        self._last_pts = 0.0
        # media time (ms) -> source frame index of recent frames: an event dated to an earlier
        # frame (a zone entry confirmed after its grace time) still names the frame it happened on
        self._frame_at: OrderedDict[int, int] = OrderedDict()

    # -- events helpers -------------------------------------------------------------------------
    def _event(self, payload: EventPayload, wall_time: float, *, subject: int | None = None) -> Event:
        return Event.of(payload, self.store.store_id, wall_time, camera_id=self.camera.id, subject=subject)

    def _media_time(self, event: Event) -> Event:
        """Stamp the source's own clock on an event: ``pts`` (the wall clock minus this source's
        offset, so a visit that ended earlier gets its own media time) and ``frame``, the index of
        the recent frame it happened on (None when that is too long ago). Whoever scores
        storelens against labelled footage needs the frame, not the wall clock, which for a file
        is only a configured start plus pts."""
        if event.pts is not None:
            return event
        pts = round(event.ts.timestamp() - self._wall_offset, 3)
        index = self._frame_at.get(round(pts * 1000))
        return event.model_copy(update={"pts": pts, "frame": index})

    def status_event(self, type_: str, wall_time: float, payload: dict[str, Any]) -> None:
        """Source status callback (camera.offline / camera.online / camera.frame_corrupt)."""
        self.bus.publish(self._event(payload_model(type_)(**payload), wall_time))

    def _visit_events(self, tracks: Tracks, frame: Frame) -> list[Event]:
        out: list[Event] = []
        for sid in tracks.subject_id.tolist():
            if sid not in self._active_subjects:
                self._active_subjects[sid] = frame.pts
                out.append(self._event(VisitStarted(), frame.wall_time, subject=sid))
        if self.stitcher is not None:
            for visit in self.stitcher.pop_finished(frame.pts):
                out.append(self._visit_ended(visit))
        return out

    def _profile(self, subject: int) -> dict[str, Any]:
        """The ended visit's path and body height from the stages that record them."""
        out: dict[str, Any] = {}
        for stage in self.stages:
            if isinstance(stage, VisitProfiler):
                out.update(stage.visit_profile(subject))
        return out

    def _visit_ended(self, visit: Any) -> Event:
        self._active_subjects.pop(int(visit.visit_id), None)
        self.stats.visits += 1
        return self._event(
            VisitEnded(
                duration_s=round(float(visit.ended_ts - visit.started_ts), 3),
                fragments=int(visit.fragments),
                confidence=round(float(visit.confidence), 3),
                **self._profile(int(visit.visit_id)),
            ),
            float(visit.ended_ts) + self._wall_offset,
            subject=int(visit.visit_id),
        )

    # -- the loop ---------------------------------------------------------------------------------
    def process(self, frame: Frame) -> FrameResult:
        if self._stage_factory is not None:
            self.stages = list(self._stage_factory(frame))
            self._stage_factory = None
        t0 = time.perf_counter()
        if self.gate is None or self.gate.decide(frame.image, frame.pts).detect:
            detections = self.detector.detect(frame.image)
            if self.second_pass is not None:
                predicted = self.tracker.predicted_boxes(frame.pts) if isinstance(self.tracker, PredictsBoxes) else None
                detections = self.second_pass.run(frame.image, detections, predicted)
            self.stats.detector_runs += 1
            if self.gate is not None:
                self.gate.detected(detections)
        else:
            detections = self.gate.held
        t1 = time.perf_counter()
        tracks = self.tracker.update(detections, frame.pts, frame.image)
        if self.stitcher is not None:
            tracks = self.stitcher.update(tracks, frame.pts, frame.image)
        t2 = time.perf_counter()
        self._wall_offset = frame.wall_time - frame.pts
        self._frame_at[round(frame.pts * 1000)] = frame.index
        while len(self._frame_at) > _FRAME_MEMORY:
            self._frame_at.popitem(last=False)
        self._last_pts = frame.pts
        events = self._visit_events(tracks, frame)
        if self.selfcheck is not None:
            for finding in self.selfcheck.update(frame.image, detections, frame.pts):
                log.warning("%s", finding.message)
                events.append(
                    self._event(
                        CameraDegraded(reason=finding.reason, message=finding.message, **finding.measured),
                        frame.wall_time,
                    )
                )
        timings = {"detect": (t1 - t0) * 1e3, "track": (t2 - t1) * 1e3}
        for stage in self.stages:
            ts = time.perf_counter()
            events.extend(stage.update(frame, tracks, events))
            timings[stage.name] = (time.perf_counter() - ts) * 1e3
        events = [self._media_time(e) for e in events]
        self.bus.publish_all(events)
        heat = next((s.heatmap for s in self.stages if isinstance(s, HeatmapKeeper)), None)
        result = FrameResult(frame, detections, tracks, events, timings, heat)
        if self.observers:
            to = time.perf_counter()
            for obs in self.observers:
                obs(result)
            timings["output"] = (time.perf_counter() - to) * 1e3
        self.stats.frames += 1
        self.stats.detections += len(detections)
        self.stats.events += len(events)
        self.stats.add_timings(timings)
        return result

    def finish(self) -> list[Event]:
        """End of stream: close open stays and visits so nothing in progress is lost."""
        pts, wall = self._last_pts, self._last_pts + self._wall_offset
        events: list[Event] = []
        for stage in self.stages:
            events.extend(stage.close(pts, wall, events))
        if self.stitcher is not None:
            for visit in self.stitcher.flush():
                events.append(self._visit_ended(visit))
        for sid, first in list(self._active_subjects.items()):  # visits without stitching
            self.stats.visits += 1
            ended = VisitEnded(duration_s=round(pts - first, 3), fragments=1, **self._profile(sid))
            events.append(self._event(ended, wall, subject=sid))
        self._active_subjects.clear()
        events = [self._media_time(e) for e in events]
        self.bus.publish_all(events)
        self.stats.events += len(events)
        return events

    def run(
        self,
        source: FrameSource,
        stop: threading.Event | None = None,
        on_frame: Callable[[FrameResult], None] | None = None,
        max_frames: int | None = None,
    ) -> RunStats:
        """Consume a source until it ends, ``stop`` is set or ``max_frames`` were analysed.

        ``stop`` is checked between frames; a source that can wait a long time for its next frame
        (a live camera that accepts the connection and never sends anything) and offers
        ``interrupt()`` is interrupted as soon as ``stop`` is set, so stopping never waits for it."""
        started = time.perf_counter()
        first_pts: float | None = None
        frames = source.frames()
        done = threading.Event()
        interrupt = getattr(source, "interrupt", None)
        if stop is not None and callable(interrupt):
            threading.Thread(
                target=_interrupt_on_stop, args=(stop, done, interrupt), name=f"stop-{self.camera.id}", daemon=True
            ).start()
        try:
            while stop is None or not stop.is_set():
                td = time.perf_counter()
                try:
                    frame = next(frames)
                except StopIteration:
                    break
                decode_ms = (time.perf_counter() - td) * 1e3
                if first_pts is None:
                    first_pts = frame.pts
                result = self.process(frame)
                result.timings_ms["decode"] = decode_ms
                self.stats.stage_ms.setdefault("decode", []).append(decode_ms)
                self.stats.media_s = frame.pts - first_pts
                if on_frame is not None:
                    on_frame(result)
                if max_frames is not None and self.stats.frames >= max_frames:
                    break
        finally:
            done.set()
            source.close()
            self.finish()
            self.stats.wall_s = time.perf_counter() - started
        return self.stats


_STOP_POLL_S = 0.2
"""How often a run's stop event is looked at on behalf of a source that may block (cheap: a wait)."""


def _interrupt_on_stop(stop: threading.Event, done: threading.Event, interrupt: Callable[[], None]) -> None:
    """Call ``interrupt`` once ``stop`` is set, unless the run ended first (``done``)."""
    while not done.is_set():
        if stop.wait(_STOP_POLL_S):
            if not done.is_set():
                interrupt()
            return
