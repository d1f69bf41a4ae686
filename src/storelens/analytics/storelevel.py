"""One store, not N cameras: store visits, journeys and occupancy from every calibrated camera.

Each camera's pipeline numbers its own people, so a shopper who walks past four cameras is four
camera visits. This stage takes every calibrated camera's tracks in floor coordinates, fuses them
(:class:`~storelens.analytics.fusion.StoreFusion`: overlaps de-duplicated, hand-offs across gaps
kept), and runs the floor measures once on the fused shoppers
(:class:`~storelens.analytics.stage.StoreBehaviourStage`). On top it reports what a retailer asks
of the whole store:

* **store visits**: ``visit.started`` at a fused shopper's first sighting and ``visit.ended`` once
  no camera has seen them for ``behaviour.subject_timeout_s``, with ``camera_id`` None and the
  visit's **journey** (the zones it entered, in order, shelves left out: a shelf face is where one
  reaches, not a place on the way) and how many cameras saw it;
* **store occupancy**: open store visits (a shopper crossing a gap between views still counts),
  an ``occupancy.changed`` event (``source: "fusion"``) whenever it changes.

Cameras feed it from their own threads (:meth:`update` is locked); the store clock advances at most
every ``tick_s`` so a store with many cameras fuses a few times a second, not once per camera frame.
Uncalibrated cameras cannot take part: :func:`fusion_cameras` says which cameras do and why the
others do not.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from storelens.analytics.fusion import StoreFusion
from storelens.analytics.journeys import JourneySteps, journey_flows
from storelens.analytics.stage import StoreBehaviourStage
from storelens.config.cameras import ZoneKind
from storelens.config.store import StoreConfig
from storelens.core.types import Tracks
from storelens.events.models import Event, EventType

__all__ = ["SMOOTHING_S", "StoreLevelStage", "Visit", "fusion_cameras", "journey_table", "zone_roles"]

SMOOTHING_S = 0.5
"""Time constant of the per-shopper smoothing of fused floor points before the zone measures."""


def fusion_cameras(store: StoreConfig) -> tuple[list[str], dict[str, str]]:
    """(enabled cameras that feed the store level, {camera: why not} for the others)."""
    fed: list[str] = []
    left: dict[str, str] = {}
    for cam in store.cameras:
        if not cam.enabled:
            continue
        if cam.calibration is None:
            left[cam.id] = "not calibrated: per-camera measures only (storelens calibrate places it on the floor)"
        else:
            fed.append(cam.id)
    return fed, left


@dataclass(slots=True)
class Visit:
    """One fused shopper's store visit (in memory only while it is open)."""

    subject: int
    first: float
    last: float
    journey: list[str] = field(default_factory=list)
    cameras: set[str] = field(default_factory=set)


class StoreLevelStage:
    """Feed :meth:`update` with each calibrated camera's tracks (``floor_xy`` set) as frames come."""

    def __init__(
        self,
        store: StoreConfig,
        *,
        tick_s: float = 0.2,
        seed: int | None = None,
        on_tick: Callable[[Tracks, float], None] | None = None,
    ) -> None:
        self.store = store
        self.on_tick = on_tick
        """Called every store tick with the fused shoppers (smoothed floor points) and the wall time,
        what the floor measures read: the store heat map in the database is fed from here."""
        floor = [z for z in store.zones if z.space == "floor"]
        exits = [z.points for z in floor if z.kind == ZoneKind.ENTRANCE]
        self.fusion = StoreFusion(store.behaviour.fusion, seed=seed, exits=exits)
        self.behaviour = StoreBehaviourStage(store)
        self.journey_zones = {z.id for z in floor if z.kind != ZoneKind.SHELF}
        self.steps = JourneySteps(self.journey_zones)
        self.timeout_s = store.behaviour.subject_timeout_s
        self.tick_s = tick_s
        self.visits: dict[int, Visit] = {}
        self.finished: list[Visit] = []
        """Ended visits, oldest first (the benchmark reads journeys here; a server keeps events)."""
        self.occupancy = 0
        self.visits_total = 0
        self._lock = threading.Lock()
        self._t0: float | None = None
        self._last_tick: float | None = None
        self._smooth: dict[int, tuple[float, float, float]] = {}  # store subject -> (wall, x, y)

    def update(self, camera_id: str, tracks: Tracks, wall_time: float, *, advance: bool = True) -> list[Event]:
        """Record ``camera_id``'s tracks at ``wall_time``; returns the store events this produced
        (none until the store clock has moved ``tick_s`` on). ``advance=False`` only records: a
        caller holding every camera's frame of one instant records them all, then :meth:`step`."""
        with self._lock:
            self.fusion.update(camera_id, tracks, wall_time)
            if not advance or (self._last_tick is not None and wall_time - self._last_tick < self.tick_s):
                return []
            return self._step(wall_time)

    @property
    def last_tick(self) -> float | None:
        """Wall time of the latest store tick (None before the first)."""
        return self._last_tick

    def step(self, wall_time: float) -> list[Event]:
        """Advance the store clock without new sightings (all cameras ended or stalled)."""
        with self._lock:
            return self._step(wall_time)

    def _step(self, wall: float) -> list[Event]:
        if self._last_tick is not None and wall < self._last_tick:
            return []  # a camera thread a little behind the others: its frame is in the next tick
        self._last_tick = wall
        if self._t0 is None:
            self._t0 = wall
        fused = self.fusion.fused(wall)
        out: list[Event] = []
        ids = fused.track_id.tolist()
        for g in ids:
            v = self.visits.get(g)
            if v is None:
                self.visits[g] = Visit(g, wall, wall)
                self.visits_total += 1
                out.append(self._event(EventType.VISIT_STARTED, wall, g))
            else:
                v.last = wall
        for (cam, _), g in self.fusion.links().items():
            v = self.visits.get(g)
            if v is not None:
                v.cameras.add(cam)
        smoothed = self._smoothed(fused, wall)
        out += self.behaviour.update(smoothed, wall - self._t0, wall)
        if self.on_tick is not None:
            self.on_tick(smoothed, wall)
        self._journeys(wall)
        for g, v in list(self.visits.items()):
            if wall - v.last > self.timeout_s:
                out.append(self._end(g))
        out += self._occupancy(wall)
        out.sort(key=lambda e: e.ts)
        return out

    def _smoothed(self, fused: Tracks, wall: float) -> Tracks:
        """Fused points smoothed per shopper (time constant ``SMOOTHING_S``): a feet point far from a
        camera jitters by tens of centimetres, and each jitter across a zone edge would be a step in
        the journey. Fusion itself gates on the raw points."""
        if fused.floor_xy is None or not len(fused):
            return fused
        xy = np.asarray(fused.floor_xy, dtype=np.float64).copy()
        for i, g in enumerate(fused.track_id.tolist()):
            prev = self._smooth.get(g)
            if prev is not None and 0 < wall - prev[0] <= self.timeout_s:
                a = 1.0 - math.exp(-(wall - prev[0]) / SMOOTHING_S)
                xy[i] = (prev[1] + a * (xy[i, 0] - prev[1]), prev[2] + a * (xy[i, 1] - prev[2]))
            self._smooth[g] = (wall, float(xy[i, 0]), float(xy[i, 1]))
        for g in [g for g, v in self._smooth.items() if wall - v[0] > self.timeout_s]:
            del self._smooth[g]
        pts = xy.astype(np.float32)
        return fused.replace(floor_xy=pts, xyxy=np.concatenate([pts, pts], axis=1))

    def close(self, wall_time: float) -> list[Event]:
        """End of the run: close open stays and every open visit."""
        with self._lock:
            out = self.behaviour.close(wall_time - (self._t0 or wall_time), wall_time)
            self._journeys(wall_time)
            for g in list(self.visits):
                out.append(self._end(g))
            out += self._occupancy(wall_time)
            return out

    def _journeys(self, wall: float) -> None:
        self.steps.feed(self.behaviour.measures.zones.transitions, wall)

    def _end(self, g: int) -> Event:
        v = self.visits.pop(g)
        v.journey = self.steps.journey(g)
        self.steps.forget(g)
        self.finished.append(v)
        return self._event(
            EventType.VISIT_ENDED,
            v.last,
            g,
            duration_s=round(v.last - v.first, 3),
            journey=list(v.journey),
            cameras=len(v.cameras),
        )

    def _occupancy(self, wall: float) -> list[Event]:
        if len(self.visits) == self.occupancy:
            return []
        self.occupancy = len(self.visits)
        return [
            Event.at(
                EventType.OCCUPANCY_CHANGED,
                self.store.store_id,
                wall,
                camera_id=None,
                occupancy=self.occupancy,
                source="fusion",
            )
        ]

    def _event(self, etype: EventType, wall: float, subject: int, **payload: Any) -> Event:
        return Event.at(etype, self.store.store_id, wall, camera_id=None, subject=subject, fused=True, **payload)

    def summary(self) -> dict[str, Any]:
        return {
            "visits": self.visits_total,
            "open_visits": len(self.visits),
            "handoffs": self.fusion.handoffs,
            "journeys": journey_table([v.journey for v in self.finished], self.store),
        }


def journey_table(journeys: Sequence[Sequence[str]], store: StoreConfig, top: int = 10) -> dict[str, Any]:
    """The common paths (:func:`~storelens.analytics.journeys.journey_flows`) as the run summary shows them."""
    f = journey_flows(journeys, top=top, **zone_roles(store))
    return {
        "visits": f.visits,
        "paths": {" > ".join(p): n for p, n in f.paths},
        "flows": {f"{a} > {b}": n for a, b, n in f.flows},
        "first_zone": dict(f.first_zone),
        "last_before_till": dict(f.last_before_till),
        "reached_till": f.reached_till,
    }


def zone_roles(store: StoreConfig) -> dict[str, set[str]]:
    """The floor zone ids a flow table treats apart: ``entrances``, ``tills`` (checkouts), ``queues``."""
    floor = [z for z in store.zones if z.space == "floor"]
    return {
        "entrances": {z.id for z in floor if z.kind == ZoneKind.ENTRANCE},
        "tills": {z.id for z in floor if z.kind == ZoneKind.CHECKOUT},
        "queues": {z.id for z in floor if z.kind == ZoneKind.QUEUE},
    }
