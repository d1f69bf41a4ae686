"""A chain's event load: N simulated stores, sized by camera count, following a trading day.

Why: central is sized for the peak, and a chain's peak is not its average. Stores open at 08:00 and
close at 21:00; traffic climbs through the morning, peaks at lunchtime (12:00-13:30), dips in the
afternoon and has a second, lower peak after work (17:30-18:30). :func:`day_curve` is that shape
(1.0 = the lunchtime peak; 0 while closed), and :class:`FleetLoad` turns it into events: each store
owes ``cameras x per-camera peak rate x curve(hour)`` events per simulated second, and emits them
as whole shopper visits (:func:`visit_events`, the event mix of ``bench/ingest.py``).

The day is compressed (``day_s`` wall seconds for the 13 opening hours) and the whole fleet's rate
is scaled to ``peak_events_s`` at lunchtime, so a benchmark can replay a day's shape in a minute
at the rate its machine can take. ``ts`` is the wall clock at generation (what an edge stamps), so
end-to-end latency can be read off the stored rows. Only synthetic ids: nothing identifies anyone.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from storelens.events.models import Event

OPEN_H, CLOSE_H = 8.0, 21.0
# (hour, level) corners of the trading day, linear in between; 1.0 = lunchtime peak
_CURVE = (
    (8.0, 0.25),
    (10.0, 0.45),
    (11.5, 0.8),
    (12.0, 1.0),
    (13.5, 1.0),
    (14.5, 0.6),
    (16.0, 0.55),
    (17.5, 0.85),
    (18.5, 0.85),
    (20.0, 0.4),
    (21.0, 0.2),
)
SMALL_CAMERAS, LARGE_CAMERAS = 8, 30


def day_curve(hour: float) -> float:
    """Traffic at ``hour`` (0-24, local store time) relative to the lunchtime peak; 0 while closed."""
    if not OPEN_H <= hour < CLOSE_H:
        return 0.0
    for (h0, v0), (h1, v1) in itertools.pairwise(_CURVE):
        if hour < h1:
            return v0 + (v1 - v0) * (hour - h0) / (h1 - h0)
    return _CURVE[-1][1]


def mean_of_day() -> float:
    """Mean of :func:`day_curve` over the opening hours (the day's traffic / peak traffic)."""
    steps = 1300
    return sum(day_curve(OPEN_H + (CLOSE_H - OPEN_H) * (k + 0.5) / steps) for k in range(steps)) / steps


@dataclass(frozen=True, slots=True)
class FleetStore:
    store_id: str
    cameras: int


def fleet_stores(n: int, *, seed: int = 0, large_share: float = 0.5) -> list[FleetStore]:
    """``n`` stores, ``large_share`` of them large (30 cameras), the rest small (8); seeded."""
    if n < 1:
        raise ValueError(f"a fleet needs at least one store, got {n}")
    if not 0.0 <= large_share <= 1.0:
        raise ValueError(f"large_share must be in [0, 1], got {large_share}")
    rng = random.Random(seed)
    return [FleetStore(f"st{i:05d}", LARGE_CAMERAS if rng.random() < large_share else SMALL_CAMERAS) for i in range(n)]


Template = tuple[str, str | None, str, str | None, dict[str, Any]]


def visit_events(store: str, visit: int) -> list[Template]:
    """One shopper visit's events (type, subject, camera, zone, payload), 24 of them: start, nine
    zones entered and left with dwell, three intent changes, a queue update, end."""
    sub, cam = f"{store}v{visit}", f"cam{visit % 4}"
    out: list[Template] = [("visit.started", sub, cam, None, {})]
    for j in range(9):
        zone = f"z{(visit + j) % 12}"
        out.append(("zone.entered", sub, cam, zone, {}))
        out.append(("zone.exited", sub, cam, zone, {"dwell_s": 30.0 + j}))
        if j % 3 == 2:
            out.append(("intent.changed", sub, cam, zone, {"state": "interested", "score": 0.6}))
    out.append(("queue.updated", None, cam, "q1", {"length": visit % 6}))
    out.append(("visit.ended", sub, cam, None, {"duration_s": 600.0, "fragments": 1}))
    return out


class FleetLoad:
    """The fleet's events, tick by tick, following :func:`day_curve` over a compressed day.

    ``next_tick(dt_s)`` advances the simulated clock by ``dt_s`` wall seconds and returns the
    events due in that time (every store's share, rounded by carrying fractions forward, so the
    total over a run is exact). ``id_prefix`` makes ids unique per run and edge."""

    def __init__(
        self,
        stores: list[FleetStore],
        *,
        peak_events_s: float,
        day_s: float,
        id_prefix: str,
        start_hour: float = OPEN_H,
        live: bool = True,
        t0: datetime | None = None,
    ) -> None:
        if peak_events_s <= 0 or day_s <= 0:
            raise ValueError("peak_events_s and day_s must be > 0")
        if not stores:
            raise ValueError("a fleet needs at least one store")
        self.stores = stores
        self.day_s = day_s
        self.hour = start_hour
        self.id_prefix = id_prefix
        self.live = live
        self.t0 = t0 or datetime(2025, 3, 1, tzinfo=UTC)
        cams = sum(s.cameras for s in stores)
        self._rate = [peak_events_s * s.cameras / cams for s in stores]  # events/s at the peak, per store
        self._owed = [0.0] * len(stores)
        self._streams = [self._store_stream(s.store_id) for s in stores]
        self.produced = 0

    @property
    def closed(self) -> bool:
        return self.hour >= CLOSE_H

    def rate_now(self) -> float:
        """Fleet events/s (wall) at the current simulated hour."""
        return sum(self._rate) * day_curve(self.hour)

    def next_tick(self, dt_s: float) -> list[Event]:
        level = day_curve(self.hour)
        out: list[Event] = []
        for i, rate in enumerate(self._rate):  # stamped at the tick's start (synthetic ts)
            self._owed[i] += rate * level * dt_s
            k = int(self._owed[i])
            self._owed[i] -= k
            stream = self._streams[i]
            out.extend(next(stream) for _ in range(k))
        self.hour += dt_s * (CLOSE_H - OPEN_H) / self.day_s
        self.produced += len(out)
        return out

    def _store_stream(self, store: str) -> Iterator[Event]:
        visit = n = 0
        while True:
            for kind, sub, cam, zone, payload in visit_events(store, visit):
                ts = datetime.now(UTC) if self.live else self.t0 + timedelta(hours=self.hour)
                n += 1
                yield Event(
                    id=f"{self.id_prefix}{store}e{n:09d}",
                    type=kind,
                    store_id=store,
                    camera_id=cam,
                    zone_id=zone,
                    subject=sub,
                    ts=ts,
                    payload=payload,
                )
            visit += 1
