"""The naive baseline the intent engine is compared against: dwell thresholds and nothing else.

This is the rule open-source retail demos use ("long dwell in a zone = interested; longer = needs
help"): it reads only how long the shopper has stood in the current zone. It consumes the very
same events and samples as :class:`~storelens.intent.engine.IntentEngine` and emits the same
``intent.changed`` / ``intent.ended`` events, so the benchmark can score both identically.

Rules, on the current unbroken stay: queue or checkout zone -> checkout; a category zone for 60 s
-> needs_assistance, 15 s -> considering, 3 s -> browsing; a visit 10 s old that has not stayed 3 s
anywhere -> passing_through. It never says high_intent, hesitant or leaving_without_purchase.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from storelens.config.cameras import ZoneConfig
from storelens.events.models import Event, EventType
from storelens.events.payloads import IntentChanged, IntentEnded
from storelens.intent.signals import KinematicSample, parse_zone, zone_catalogue
from storelens.intent.states import IntentState

__all__ = ["DwellThresholdBaseline"]

NAME = "dwell-threshold rule"


@dataclass(slots=True)
class _Visit:
    first: float
    last: float
    stays: dict[str, tuple[float, str, str | None]] = field(default_factory=dict)
    state: IntentState | None = None
    staff: bool = False
    history: list[str] = field(default_factory=list)


class DwellThresholdBaseline:
    name = NAME

    def __init__(
        self,
        store_id: str,
        zones: Sequence[ZoneConfig] = (),
        *,
        considering_s: float = 15.0,
        assistance_s: float = 60.0,
        browsing_s: float = 3.0,
        passing_s: float = 10.0,
        timeout_s: float = 10.0,
    ) -> None:
        self.store_id = store_id
        self._zones = zone_catalogue(zones)
        self.considering_s = considering_s
        self.assistance_s = assistance_s
        self.browsing_s = browsing_s
        self.passing_s = passing_s
        self.timeout_s = timeout_s
        self._visits: dict[int, _Visit] = {}

    def update(self, now: float, samples: Iterable[KinematicSample] = (), events: Iterable[Event] = ()) -> list[Event]:
        out: list[Event] = []
        for ev in events:
            subject = ev.subject_id
            if subject is None:
                continue
            t = ev.ts.timestamp()
            if ev.type == EventType.VISIT_ENDED:
                if subject in self._visits:
                    out.append(self._end(subject, t))
                continue
            v = self._visits.setdefault(subject, _Visit(t, t))
            v.last = max(v.last, t)
            if ev.typed_payload().staff is True:
                v.staff = True
            if ev.type in (EventType.ZONE_ENTERED, EventType.ZONE_EXITED):
                z = parse_zone(ev, self._zones)
                if z is None:
                    continue
                if ev.type == EventType.ZONE_ENTERED:
                    v.stays[z.zone.zone_id] = (t, z.zone.kind, z.zone.category)
                else:
                    v.stays.pop(z.zone.zone_id, None)
        for s in samples:
            v = self._visits.setdefault(s.subject, _Visit(s.ts, s.ts))
            v.last = max(v.last, s.ts)
        for subject, v in self._visits.items():
            if v.staff:
                continue
            state = self._rule(v, now)
            if state is not None and state != v.state:
                prev, v.state = v.state, state
                v.history.append(str(state))
                out.append(
                    Event.of(
                        IntentChanged(
                            state=str(state),
                            previous=None if prev is None else str(prev),
                            category=None,
                            score=1.0,
                            reasons=[f"{NAME}"],
                        ),
                        self.store_id,
                        now,
                        subject=subject,
                    )
                )
        for subject in [s for s, v in self._visits.items() if now - v.last > self.timeout_s]:
            out.append(self._end(subject, now))
        return out

    def _rule(self, v: _Visit, now: float) -> IntentState | None:
        longest = 0.0
        for since, kind, category in v.stays.values():
            if kind in ("queue", "checkout"):
                return IntentState.CHECKOUT
            if category:
                longest = max(longest, now - since)
        if longest >= self.assistance_s:
            return IntentState.NEEDS_ASSISTANCE
        if longest >= self.considering_s:
            return IntentState.CONSIDERING
        if longest >= self.browsing_s:
            return IntentState.BROWSING
        if v.state is None and now - v.first >= self.passing_s:
            return IntentState.PASSING_THROUGH
        return None

    def close(self, now: float) -> list[Event]:
        return [self._end(s, now) for s in list(self._visits)]

    def _end(self, subject: int, now: float) -> Event:
        v = self._visits.pop(subject)
        return Event.of(
            IntentEnded(
                state=None if v.state is None else str(v.state), states=v.history, reason="ended", staff=v.staff
            ),
            self.store_id,
            now,
            subject=subject,
        )
