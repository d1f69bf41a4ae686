"""Adapters that fit each capability's own API into the pipeline's Stage protocol.

Capabilities keep the signatures natural to them (zones want tracks and times, interaction wants
the image too, emotion wants faces); the adapters here are the only place that knows both sides.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from storelens.analytics.expressions import AFFECTS
from storelens.config.store import StoreConfig
from storelens.core.types import Frame, Tracks
from storelens.events.bus import EventBus
from storelens.events.models import Event, EventType
from storelens.events.payloads import AlertAcknowledged, ExpressionSummary, ZoneExited, typed
from storelens.pipeline.camera import Stage
from storelens.privacy.background import MedianBackground, detect_people
from storelens.privacy.masks import masks_for
from storelens.vision.base import Detector

if TYPE_CHECKING:
    from storelens.analytics.heatmap import HeatmapAccumulator


# Tracks.data columns one stage adds for the stages after it in the same frame (they run in
# STAGES order on one Tracks object), so no adapter reads another adapter's internals.
SHOPPER = "behaviour.shopper"
"""(N,) bool: staff rules have cleared the row as a shopper (written by the behaviour stage)."""
STAFF = "behaviour.staff"
"""(N,) bool: the row's subject is flagged as staff."""
IN_STAFF_ZONE = "behaviour.in_staff_zone"
"""(N,) bool: the row stands in a staff_only zone."""
AFFECT_SCORES = "emotion.affect_scores"
"""(N, 4) float: the running affect scores of the row's visit (:data:`AFFECT_NAMES` order), NaN
without a usable reading (written by the emotion stage)."""
AFFECT_CONFIDENCE = "emotion.affect_confidence"
"""(N,) float: the confidence of those scores, NaN without a usable reading."""


def _put(tracks: Tracks, key: str, column: np.ndarray) -> None:
    """Add a per-row column for the later stages of this frame (``Tracks`` is frozen, its
    ``data`` dict is not: a column added here follows the rows like any other)."""
    if len(column) != len(tracks):
        raise ValueError(f"column {key!r} has {len(column)} rows, tracks have {len(tracks)}")
    tracks.data[key] = column


AFFECT_NAMES: tuple[str, ...] = tuple(AFFECTS)
"""Column order of :data:`AFFECT_SCORES` (the expression tracker's affect groups)."""


class BehaviourStageAdapter:
    """Zones and dwell, revisits, lingering, lines, queues, paths, heat maps for one camera.

    The image-space heat maps are drawn over a :class:`MedianBackground` of the camera (people
    removed by the temporal median, people who stayed blurred, privacy masks filled), never over a
    camera frame: a frame shows every shopper the detector missed. ``store`` must already be in
    the frame's pixels (:func:`storelens.pipeline.build.scale_camera_geometry`), masks included.
    ``detector``, when given, looks at the finished median once more and its finds are blurred."""

    name = "behaviour"

    def __init__(self, store: StoreConfig, camera_id: str, detector: Detector | None = None) -> None:
        from storelens.analytics.stage import BehaviourStage

        self.stage = BehaviourStage(store, camera_id)
        self.background = MedianBackground()
        self.masks = masks_for(store, camera_id)
        self.detector = detector

    def update(self, frame: Frame, tracks: Tracks, events: Sequence[Event]) -> list[Event]:
        # every detected box of the frame (coasting tracks too): a person who stays must be covered
        self.background.offer(frame.image, frame.pts, tracks.xyxy)
        events = self.stage.update(tracks, frame.pts, frame.wall_time, image=frame.image)
        m = self.stage.measures
        _put(tracks, SHOPPER, m.staff.last_shoppers)
        _put(tracks, STAFF, m.staff.last_flags)
        _put(tracks, IN_STAFF_ZONE, m.last_in_staff_zone)
        return events

    def render_background(self) -> np.ndarray | None:
        """The redacted people-free backdrop of the heat maps (None before the first frame)."""
        found = None
        if self.detector is not None:
            median = self.background.median()
            if median is not None:
                found = detect_people(self.detector, median)
        return self.background.render(self.masks, found)

    def close(self, pts: float, wall_time: float, events: Sequence[Event]) -> list[Event]:
        return self.stage.close(pts, wall_time)

    def visit_profile(self, subject: int) -> dict[str, Any]:
        """``path`` and ``height_m`` for the ending visit's ``visit.ended`` (per-visit fields)."""
        return self.stage.visit_profile(subject)

    @property
    def heatmap(self) -> HeatmapAccumulator | None:
        """The camera's heat map (stored by the recorder from :attr:`FrameResult.heat`)."""
        return self.stage.heatmap

    def summary(self) -> dict[str, Any]:
        return self.stage.summary()

    def write_images(self, out_dir: Path) -> dict[str, Path]:
        from storelens.analytics.stage import write_heatmaps

        paths = write_heatmaps(self.stage, out_dir, background=self.render_background())
        return {f"{self.stage.camera_id}_heatmap_{k}": v for k, v in paths.items()}


class InteractionStageAdapter:
    """Reaches, pick-ups, attention and shelf state for the camera's shelf/display zones."""

    name = "interaction"

    def __init__(self, store: StoreConfig, camera_id: str) -> None:
        from storelens.interaction.stage import InteractionStage

        self.stage = InteractionStage(store, camera_id)

    def update(self, frame: Frame, tracks: Tracks, events: Sequence[Event]) -> list[Event]:
        return self.stage.update(frame.image, tracks, frame.pts, frame.wall_time)

    def close(self, pts: float, wall_time: float, events: Sequence[Event]) -> list[Event]:
        return self.stage.close(pts, wall_time)

    def summary(self) -> dict[str, Any]:
        return {zone: s.to_dict() for zone, s in self.stage.stats().items()}


class EmotionStageAdapter:
    """Facial expressions per visit; ``expression.summary`` at every zone exit.

    Runs after the behaviour stage so it sees this frame's ``zone.exited`` events and its staff
    classification. Only known shoppers outside staff_only zones are read: staff rules run first,
    and a subject they have not yet cleared (unknown) is not read, so a staff member never reaches
    the face search or the expression model (EU AI Act Art. 5(1)(f): no emotion inference at
    work). Without a behaviour stage nobody is read. Face crops exist only inside
    :meth:`EmotionStage.process`; what is kept per visit is a smoothed distribution."""

    name = "emotion"

    def __init__(self, store: StoreConfig, camera_id: str) -> None:
        from storelens.analytics.emotion import EmotionStage, tracker_from_config
        from storelens.config.cameras import ZoneKind

        self.store_id = store.store_id
        self.camera_id = camera_id
        self.stage = EmotionStage(store.emotion, person_class=store.detector.person_class)
        self.tracker = tracker_from_config(store.emotion)
        self._staff_zones = {z.id for z in store.zones if z.kind == ZoneKind.STAFF_ONLY}
        self.readings = 0
        self.unknown = 0
        self.not_read = 0  # person sightings skipped: staff, in a staff zone, or not yet known to be a shopper
        self.summaries = 0

    def face_boxes(self) -> np.ndarray:
        """The faces found in the last frame (for the redaction of outgoing frames)."""
        return np.asarray(self.stage.last_faces.xyxy, dtype=np.float32)

    def _summaries(self, events: Sequence[Event]) -> list[Event]:
        from storelens.analytics.expressions import summary_payload

        out: list[Event] = []
        for e in events:
            subject = e.subject_id
            if e.type == EventType.VISIT_ENDED and subject is not None:
                self.tracker.forget(subject)
            exited = typed(e, ZoneExited)
            if exited is None or subject is None:
                continue
            if e.zone_id in self._staff_zones or exited.staff:
                continue  # a staff zone never triggers a reading or a summary
            state = self.tracker.current(subject)
            if state is None:
                continue
            self.summaries += 1
            out.append(
                Event(
                    type=EventType.EXPRESSION_SUMMARY,
                    store_id=self.store_id,
                    ts=e.ts,
                    camera_id=e.camera_id,
                    zone_id=e.zone_id,
                    subject=e.subject,
                    payload=ExpressionSummary(dwell_s=exited.dwell_s, **summary_payload(state)).wire(),
                )
            )
        return out

    def update(self, frame: Frame, tracks: Tracks, events: Sequence[Event]) -> list[Event]:
        from storelens.analytics.emotion import feed_tracker

        only = self.readable(tracks)
        self.not_read += int((~only).sum())
        readings = self.stage.process(frame.image, tracks, frame.pts, only=only)
        for r in readings.values():
            self.readings += 1
            self.unknown += r.probs is None
        feed_tracker(self.tracker, tracks, readings, frame.pts)
        out = self._summaries(events)
        self._put_affect(tracks)
        return out

    def _put_affect(self, tracks: Tracks) -> None:
        """Each row's running affect (as the tracker holds it after this frame), for the intent stage."""
        scores = np.full((len(tracks), len(AFFECT_NAMES)), np.nan)
        confidence = np.full(len(tracks), np.nan)
        for i, sid in enumerate(tracks.subject_id.tolist()):
            state = self.tracker.current(int(sid))
            if state is not None and state.n_readings:
                scores[i] = [state.affect_scores[a] for a in AFFECT_NAMES]
                confidence[i] = state.affect_confidence
        _put(tracks, AFFECT_SCORES, scores)
        _put(tracks, AFFECT_CONFIDENCE, confidence)

    def close(self, pts: float, wall_time: float, events: Sequence[Event]) -> list[Event]:
        return self._summaries(events)

    def readable(self, tracks: Tracks) -> np.ndarray:
        """Per row: a known shopper (staff rules cleared) outside every staff_only zone. Subjects
        flagged as staff lose whatever expression state they had."""
        d = tracks.data
        if SHOPPER not in d or STAFF not in d or IN_STAFF_ZONE not in d:
            return np.zeros(len(tracks), dtype=bool)  # no behaviour stage has seen these rows
        shoppers, flags, in_zone = d[SHOPPER], d[STAFF], d[IN_STAFF_ZONE]
        for sid in np.asarray(tracks.subject_id)[flags].tolist():
            self.tracker.forget(int(sid))
        return np.asarray(shoppers & ~in_zone, dtype=bool)

    def summary(self) -> dict[str, Any]:
        return {
            "readings": self.readings,
            "unknown": self.unknown,
            "not_read": self.not_read,
            "expression_summaries": self.summaries,
        }


class IntentStageAdapter:
    """Intent per visit from this frame's tracks and events, then the actions it triggers.

    Runs last: it consumes what the behaviour, interaction and emotion stages emitted in the same
    frame, so an ``intent.changed`` is emitted in the frame whose evidence completed it. The running
    expression value of each visible visit is fed every frame (not only at zone exits)."""

    name = "intent"

    def __init__(self, store: StoreConfig, camera_id: str) -> None:
        from storelens.actions.dispatcher import ActionEngine
        from storelens.intent.engine import IntentEngine

        self.camera_id = camera_id
        self.engine = IntentEngine(store.store_id, store.intent, zones=store.zones, base_dir=store.base_dir)
        self.actions = ActionEngine.from_store(store)
        self.changes = 0
        self.actions_emitted = 0

    def subscribe(self, bus: EventBus) -> None:
        """Acknowledgements made elsewhere (the API publishes ``alert.acknowledged``) stop this
        camera's escalation timers for the alert."""
        bus.subscribe(self._on_ack, types=[str(EventType.ALERT_ACKNOWLEDGED)])

    def _on_ack(self, event: Event) -> None:
        from storelens.actions.alerts import AlertError

        ack = typed(event, AlertAcknowledged)
        if ack is not None and ack.alert_id is not None and ack.by is not None:
            with contextlib.suppress(AlertError):  # another camera's alert, or our own event coming back
                self.actions.acknowledge(ack.alert_id, ack.by, now=event.ts.timestamp())

    def _feed_affect(self, tracks: Tracks, now: float) -> None:
        scores, confidence = tracks.data.get(AFFECT_SCORES), tracks.data.get(AFFECT_CONFIDENCE)
        if scores is None or confidence is None:
            return  # no emotion stage on this camera
        for i, sid in enumerate(tracks.subject_id.tolist()):
            if not np.isnan(confidence[i]):
                affect = dict(zip(AFFECT_NAMES, scores[i].tolist(), strict=True))
                self.engine.observe_affect(int(sid), now, affect, float(confidence[i]))

    def update(self, frame: Frame, tracks: Tracks, events: Sequence[Event]) -> list[Event]:
        now = frame.wall_time
        self._feed_affect(tracks, now)
        intent = self.engine.update_tracks(tracks, now, events, camera_id=self.camera_id)
        acted = self.actions.process(now, [*events, *intent])
        self.changes += sum(1 for e in intent if e.type == EventType.INTENT_CHANGED)
        self.actions_emitted += len(acted)
        return [*intent, *acted]

    def close(self, pts: float, wall_time: float, events: Sequence[Event]) -> list[Event]:
        intent = self.engine.close(wall_time)
        return [*intent, *self.actions.process(wall_time, [*events, *intent])]

    def summary(self) -> dict[str, Any]:
        return {"intent_changes": self.changes, "action_events": self.actions_emitted}


# ------------------------------------------------------------------------------------- registry


def _behaviour(store: StoreConfig, camera_id: str, built: Mapping[str, Stage], detector: Detector | None) -> Stage:
    return BehaviourStageAdapter(store, camera_id, detector)


def _interaction(store: StoreConfig, camera_id: str, built: Mapping[str, Stage], detector: Detector | None) -> Stage:
    return InteractionStageAdapter(store, camera_id)


def _emotion(store: StoreConfig, camera_id: str, built: Mapping[str, Stage], detector: Detector | None) -> Stage:
    # reads the behaviour stage's staff classification (its Tracks.data columns): shoppers only
    return EmotionStageAdapter(store, camera_id)


def _intent(store: StoreConfig, camera_id: str, built: Mapping[str, Stage], detector: Detector | None) -> Stage:
    # reads the emotion stage's running affect (its Tracks.data columns), when there is one
    return IntentStageAdapter(store, camera_id)


def _sees_shelves(store: StoreConfig, camera_id: str) -> bool:
    from storelens.config.cameras import ZoneKind

    return any(z.kind in (ZoneKind.SHELF, ZoneKind.DISPLAY) for z in store.zones_for(camera_id))


@dataclass(frozen=True, slots=True)
class StageSpec:
    """One registered camera stage: whether a camera gets it, and how it is built (``built``: the
    stages made before it for this camera, by name, for a stage that reads another's results)."""

    name: str
    wanted: Callable[[StoreConfig, str], bool]
    build: Callable[[StoreConfig, str, Mapping[str, Stage], Detector | None], Stage]


STAGES: tuple[StageSpec, ...] = (
    StageSpec("behaviour", lambda store, camera_id: True, _behaviour),
    StageSpec("interaction", _sees_shelves, _interaction),
    StageSpec("emotion", lambda store, camera_id: store.emotion.enabled, _emotion),
    StageSpec("intent", lambda store, camera_id: store.intent.enabled, _intent),
)
"""The camera stages in the order they run (each sees the events of those before it in a frame).
A new stage is its analytics module, its adapter and one entry here, and its config section."""
