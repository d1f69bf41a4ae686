"""The intent engine: per visit features -> state scores -> hysteresis -> ``intent.changed`` events.

Call :meth:`IntentEngine.update` once per analysed frame with that frame's kinematic samples and the
events the other stages produced for it. The engine ingests the events first, then the samples,
then re-scores every active visit (time alone changes some features: dwell grows while a shopper
stands), so an ``intent.changed`` is returned from the very update in which its evidence completed.

It consumes only events and :class:`~storelens.intent.signals.KinematicSample` (see
:mod:`storelens.intent.signals` for the payload keys), so it runs the same on the real pipeline and
on the store simulator. Visits are keyed by the ``int`` visit id (``Event.subject_id``, the
sample's ``subject``); the wire string is made only where its events are (``Event.of``), and an
event whose subject is no visit id (``queue-<zone>``...) says nothing about a visit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from storelens.config.cameras import ZoneConfig, ZoneKind
from storelens.config.intent import IntentConfig
from storelens.core.types import Tracks
from storelens.events.models import Event, EventType
from storelens.events.payloads import ExpressionSummary, IntentChanged, IntentEnded
from storelens.intent.calibration import Calibration, load_calibration
from storelens.intent.features import FeatureParams, FeatureSnapshot, VisitFeatures
from storelens.intent.scoring import ScoringModel
from storelens.intent.signals import (
    INTERACTION_EVENTS,
    ZONE_EVENTS,
    KinematicSample,
    ZoneInfo,
    parse_affect,
    parse_interaction,
    parse_zone,
    samples_from_tracks,
    zone_catalogue,
)
from storelens.intent.states import CATEGORISED, IntentState, StateMachine, effective_states

log = logging.getLogger(__name__)

__all__ = ["IntentEngine", "VisitIntent"]


@dataclass(frozen=True, slots=True)
class VisitIntent:
    """Where one visit stands now (for the API and tests)."""

    subject: int
    state: IntentState | None
    category: str | None
    since: float
    score: float
    reached: tuple[IntentState, ...]
    staff: bool


@dataclass(slots=True)
class _Visit:
    features: VisitFeatures
    machine: StateMachine
    last_seen: float
    camera_id: str | None = None
    scores: npt.NDArray[np.float64] | None = None
    history: list[tuple[float, IntentState, str | None]] = field(default_factory=list)


def _floor_exits(zones: Sequence[ZoneConfig]) -> list[tuple[float, float]]:
    out = []
    for z in zones:
        if z.kind == ZoneKind.ENTRANCE and z.space == "floor":
            pts = np.asarray(z.points, dtype=np.float64)
            out.append((float(pts[:, 0].mean()), float(pts[:, 1].mean())))
    return out


class IntentEngine:
    """Per store (or per camera) intent inference over visits.

    ``zones`` (the store config's zones) give kind/category/name to zone events that lack them and
    the exits (centroids of floor-space entrance zones) for "heading to the exit"; ``exits`` may
    name exit points directly. ``model`` replaces the rule weights (e.g. a learned calibration);
    otherwise ``config.calibration_file`` is loaded if set, else the rules in the config are used.
    """

    def __init__(
        self,
        store_id: str,
        config: IntentConfig | None = None,
        *,
        zones: Sequence[ZoneConfig] = (),
        exits: Sequence[tuple[float, float]] | None = None,
        model: ScoringModel | None = None,
        calibration: Calibration | None = None,
        base_dir: Path | None = None,
    ) -> None:
        self.store_id = store_id
        self.config = config or IntentConfig()
        self.specs = effective_states(self.config)
        if calibration is None and model is None and self.config.calibration_file:
            path = Path(self.config.calibration_file).expanduser()
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            calibration = load_calibration(path)
        if calibration is not None:
            self.specs = calibration.apply_thresholds(self.specs)
            model = calibration.to_model(self.specs)
        self.calibrated = calibration is not None
        self.model = model or ScoringModel.from_specs(self.specs)
        if self.model.states != tuple(s.name for s in self.specs):
            raise ValueError("the scoring model's states must be the engine's states, in STATE_ORDER")
        self._zones = zone_catalogue(zones)
        self._exits = list(exits) if exits is not None else _floor_exits(zones)
        self._visits: dict[int, _Visit] = {}
        self._params: dict[str, FeatureParams] = {}
        self.updates = 0

    # ------------------------------------------------------------------------------ public --
    def update(self, now: float, samples: Iterable[KinematicSample] = (), events: Iterable[Event] = ()) -> list[Event]:
        """Ingest one analysed frame (its events, then its samples), re-score every active visit,
        expire visits unseen for ``visit_timeout_s``. Returns intent.changed / intent.ended events."""
        out: list[Event] = []
        for ev in events:
            self._ingest(ev, out)
        for s in samples:
            v = self._visit(s.subject, s.ts, s.space)
            v.features.add_sample(s)
            v.last_seen = max(v.last_seen, s.ts)
            if s.camera_id is not None:
                v.camera_id = s.camera_id
        for subject, v in self._visits.items():
            if not v.features.staff:
                self._score(subject, v, now, out)
        timeout = self.config.visit_timeout_s
        for subject in [s for s, v in self._visits.items() if now - v.last_seen > timeout]:
            self._finish(subject, now, "timeout", out)
        self.updates += 1
        return out

    def update_tracks(
        self, tracks: Tracks, wall_time: float, events: Iterable[Event] = (), camera_id: str | None = None
    ) -> list[Event]:
        """:meth:`update` straight from a frame's tracks (floor positions when mapped)."""
        return self.update(wall_time, samples_from_tracks(tracks, wall_time, camera_id), events)

    def close(self, now: float) -> list[Event]:
        """End every visit (end of stream): one intent.ended each."""
        out: list[Event] = []
        for subject in list(self._visits):
            self._finish(subject, now, "stream_end", out)
        return out

    def observe_affect(self, subject: int, ts: float, scores: Mapping[str, float], confidence: float) -> None:
        """Feed the running expression value of a visit (affect -> probability, and the affect
        confidence), e.g. each analysed frame from the expression tracker, without an event."""
        ev = Event.of(
            ExpressionSummary(affect_scores=dict(scores), confidence=confidence), self.store_id, ts, subject=subject
        )
        reading = parse_affect(ev)
        v = self._visits.get(subject)
        if reading is not None and v is not None and not v.features.staff:
            v.features.add_affect(reading, ts)

    def visit(self, subject: int) -> VisitIntent | None:
        v = self._visits.get(subject)
        if v is None:
            return None
        m = v.machine
        state = self.specs[m.current].name if m.current is not None else None
        score = float(v.scores[m.current]) if v.scores is not None and m.current is not None else 0.0
        return VisitIntent(
            subject,
            state,
            m.category,
            m.since,
            score,
            tuple(self.specs[i].name for i in sorted(m.reached)),
            v.features.staff,
        )

    def features(self, subject: int, now: float) -> FeatureSnapshot | None:
        """The visit's current features (for calibration data, dashboards and tests)."""
        v = self._visits.get(subject)
        return v.features.snapshot(now) if v is not None else None

    @property
    def subjects(self) -> list[int]:
        return list(self._visits)

    # ---------------------------------------------------------------------------- internals --
    def _params_for(self, space: str) -> FeatureParams:
        p = self._params.get(space)
        if p is None:
            c = self.config
            p = FeatureParams.for_space(
                space,
                walking_mps=c.walking_speed_mps,
                stop_mps=c.stop_speed_mps,
                walking_px_s=c.walking_speed_px_s,
                stop_px_s=c.stop_speed_px_s,
                min_affect_confidence=c.min_affect_confidence,
                exits=self._exits,
            )
            self._params[space] = p
        return p

    def _visit(self, subject: int, ts: float, space: str = "floor") -> _Visit:
        v = self._visits.get(subject)
        if v is None:
            feats = VisitFeatures(subject=subject, first_ts=ts, params=self._params_for(space), last_ts=ts)
            machine = StateMachine.for_specs(
                self.specs, self.config.switch_margin, self.config.min_hold_s, self.config.emit_category_changes
            )
            v = _Visit(feats, machine, ts)
            self._visits[subject] = v
        elif v.features.space is None and space != "floor":
            v.features.params = self._params_for(space)
        return v

    def _ingest(self, ev: Event, out: list[Event]) -> None:
        subject = ev.subject_id
        if subject is None:
            return  # store-level events (queue.updated, camera.*) carry no visit
        t = ev.ts.timestamp()
        etype = ev.type
        if etype == EventType.VISIT_ENDED:
            if subject in self._visits:
                self._finish(subject, t, "visit_ended", out)
            return
        if (
            etype not in ZONE_EVENTS
            and etype not in INTERACTION_EVENTS
            and etype
            not in (
                EventType.VISIT_STARTED,
                EventType.EXPRESSION_SUMMARY,
            )
        ):
            return
        v = self._visit(subject, t)
        if ev.camera_id is not None:
            v.camera_id = ev.camera_id
        v.last_seen = max(v.last_seen, t)
        f = v.features
        if ev.typed_payload().staff is True and not f.staff:
            # staff are not shoppers: a visit flagged late ends its intent (closing any alert it
            # raised) and is followed silently from then on
            f.staff = True
            if v.machine.current is not None:
                out.append(self._end(subject, t, "staff"))
                self._visit(subject, t).features.staff = True
            return
        if f.staff:
            return
        if etype in ZONE_EVENTS:
            z = parse_zone(ev, self._zones)
            if z is None:
                return
            self._zone(f, etype, z.zone, t, z.dwell_s)
        elif etype in INTERACTION_EVENTS:
            sig = parse_interaction(ev, self._zones)
            if sig is None:
                return
            if etype == EventType.SHELF_REACH:
                f.reach(sig, t)
            elif etype == EventType.PRODUCT_PICKED:
                f.picked(sig, t)
            elif etype == EventType.PRODUCT_RETURNED:
                f.returned(sig, t)
            elif etype == EventType.ATTENTION_STARTED:
                f.attention_started(sig, t)
            else:
                f.attention_ended(sig, t)
        elif etype == EventType.EXPRESSION_SUMMARY:
            reading = parse_affect(ev)
            if reading is not None:
                f.add_affect(reading, t)

    @staticmethod
    def _zone(f: VisitFeatures, etype: str, zone: ZoneInfo, t: float, dwell_s: float | None) -> None:
        if etype == EventType.ZONE_ENTERED:
            f.zone_entered(zone, t)
        elif etype == EventType.ZONE_EXITED:
            f.zone_exited(zone, t, dwell_s)
        elif etype == EventType.ZONE_REVISITED:
            f.zone_revisited(zone)
        else:
            f.zone_lingering(zone)

    def _score(self, subject: int, v: _Visit, now: float, out: list[Event]) -> None:
        snap = v.features.snapshot(now)
        scores = self.model.scores(snap.values)
        v.scores = scores
        cats = [self._category(spec.name, snap) for spec in self.specs]
        tr = v.machine.step(now, scores, cats)
        if tr is None:
            return
        state = self.specs[tr.state].name
        prev = self.specs[tr.previous].name if tr.previous is not None else None
        v.history.append((now, state, tr.category))
        out.append(
            Event.of(
                IntentChanged(
                    state=str(state),
                    previous=None if prev is None else str(prev),
                    category=tr.category,
                    score=round(float(scores[tr.state]), 3),
                    reasons=self.model.reasons(tr.state, snap),
                    category_change=tr.category_only,
                    scores={str(s.name): round(float(x), 3) for s, x in zip(self.specs, scores, strict=True)},
                ),
                self.store_id,
                now,
                camera_id=v.camera_id,
                zone_id=snap.zone_id,
                subject=subject,
            )
        )

    @staticmethod
    def _category(state: IntentState, snap: FeatureSnapshot) -> str | None:
        if state not in CATEGORISED:
            return None
        if state == IntentState.HIGH_INTENT:
            return snap.holding_category or snap.category
        if state == IntentState.LEAVING_WITHOUT_PURCHASE:
            return snap.engaged_category
        return snap.category

    def _finish(self, subject: int, now: float, reason: str, out: list[Event]) -> None:
        v = self._visits[subject]
        if v.features.staff and v.machine.current is None:
            del self._visits[subject]  # nothing was said about this visit: nothing to end
            return
        out.append(self._end(subject, now, reason))

    def _end(self, subject: int, now: float, reason: str) -> Event:
        v = self._visits.pop(subject)
        m = v.machine
        return Event.of(
            IntentEnded(
                state=None if m.current is None else str(self.specs[m.current].name),
                category=m.category,
                duration_s=round(max(now - v.features.first_ts, 0.0), 3),
                states=[str(s) for i, (_, s, _) in enumerate(v.history) if i == 0 or v.history[i - 1][1] != s],
                reason=reason,
                staff=v.features.staff,
            ),
            self.store_id,
            now,
            camera_id=v.camera_id,
            subject=subject,
        )
