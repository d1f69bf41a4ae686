"""Store fusion measured on the simulator: visits, journeys and occupancy against ground truth.

One run of :func:`evaluate_store` plays a simulated store through virtual cameras
(:mod:`storelens.sim.cameras`), maps each camera's boxes to the floor with the real
:class:`~storelens.analytics.floor.FloorMapper`, fuses them with the real
:class:`~storelens.analytics.storelevel.StoreLevelStage`, and scores three things:

* **visits**: store visits reported vs shoppers who came in; the naive baseline is what N
  independent cameras report, one visit per camera track;
* **journeys**: a shopper's journey is the zones they stayed in for at least
  :data:`~storelens.analytics.journeys.JOURNEY_MIN_STAY_S`, in order, as the same zone logic and
  the same :class:`~storelens.analytics.journeys.JourneySteps` read their *true* path; the
  shopper's main store visit (the one holding most of their sightings) must have exactly that
  sequence;
* **occupancy**: people in the store per frame, fused (open store visits) and naive (people in
  view summed over cameras), mean absolute error against the true count.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from storelens.analytics.floor import FloorMapper
from storelens.analytics.journeys import JourneySteps
from storelens.analytics.stage import StoreBehaviourStage
from storelens.analytics.storelevel import StoreLevelStage
from storelens.core.types import Tracks
from storelens.events.models import EventType, format_subject
from storelens.sim.cameras import FRAME_H, VirtualCamera, camera_frames, demo_cameras, store_with_cameras
from storelens.sim.layout import StoreLayout
from storelens.sim.runner import SimConfig, plan_shoppers

__all__ = ["StoreEval", "StoreLatency", "evaluate_store", "measure_latency"]


@dataclass(frozen=True, slots=True)
class StoreEval:
    shoppers: int
    visits_fused: int
    visits_naive: int
    journeys_exact: int
    occupancy_mae_fused: float
    occupancy_mae_naive: float
    occupancy_mean_true: float
    handoffs: int

    @property
    def visit_error_fused(self) -> float:
        return (self.visits_fused - self.shoppers) / self.shoppers if self.shoppers else 0.0

    @property
    def visit_error_naive(self) -> float:
        return (self.visits_naive - self.shoppers) / self.shoppers if self.shoppers else 0.0

    @property
    def journey_accuracy(self) -> float:
        return self.journeys_exact / self.shoppers if self.shoppers else 1.0


def _floor_points(ids: Sequence[int], xy: Sequence[tuple[float, float]]) -> Tracks:
    n = len(ids)
    pts = np.asarray(xy, dtype=np.float32).reshape(n, 2)
    return Tracks(
        xyxy=np.concatenate([pts, pts], axis=1),
        score=np.ones(n, np.float32),
        class_id=np.zeros(n, np.int32),
        track_id=np.asarray(ids, dtype=np.int64),
        detection_index=np.arange(n, dtype=np.int32),
        floor_xy=pts,
    )


def evaluate_store(layout: StoreLayout, cfg: SimConfig, cameras: Sequence[VirtualCamera] | None = None) -> StoreEval:
    cams = list(cameras) if cameras is not None else demo_cameras()
    store = store_with_cameras(layout, cams, cfg.store_id)
    plans = plan_shoppers(layout, cfg)
    mappers = {c.id: FloorMapper(c.calibration()) for c in cams}
    stage = StoreLevelStage(store, seed=cfg.seed)
    truth_stage = StoreBehaviourStage(store)
    journey_zones = stage.journey_zones
    truth_steps = JourneySteps(journey_zones)  # the same journey definition as the store visits'
    owner: dict[int, Counter[int]] = defaultdict(Counter)  # store subject -> shopper sightings
    naive_tracks: set[tuple[str, int]] = set()
    err_fused: list[float] = []
    err_naive: list[float] = []
    n_true: list[int] = []
    t0 = cfg.start_wall
    wall = t0
    for frame in camera_frames(layout, cfg, cams, plans):
        wall = frame.wall
        in_view = 0
        for cid, tracks in frame.cameras.items():
            mapped = mappers[cid].map(tracks, FRAME_H)
            stage.update(cid, mapped, wall, advance=False)
            naive_tracks.update((cid, int(t)) for t in tracks.track_id.tolist())
            in_view += len(tracks)
        stage.step(wall)
        links = stage.fusion.links()
        for cid, tracks in frame.cameras.items():
            for tid, shopper in zip(tracks.track_id.tolist(), tracks.data["shopper"].tolist(), strict=True):
                g = links.get((cid, int(tid)))
                if g is not None:
                    owner[g][int(shopper)] += 1
        ids = [s + 1 for s, _, _ in frame.truth]  # +1: subject ids are non-zero
        truth_stage.update(_floor_points(ids, [(x, y) for _, x, y in frame.truth]), wall - t0, wall)
        truth_steps.feed(truth_stage.measures.zones.transitions, wall)
        n = len(frame.truth)
        n_true.append(n)
        err_fused.append(abs(len(stage.visits) - n))
        err_naive.append(abs(in_view - n))
    stage.close(wall + 1.0)
    truth_stage.close(wall + 1.0 - t0, wall + 1.0)
    truth_steps.feed(truth_stage.measures.zones.transitions, wall + 1.0)
    journeys = {v.subject: v.journey for v in stage.finished}
    best: dict[int, tuple[int, int]] = {}  # shopper -> (sightings, store subject)
    for g, counts in owner.items():
        shopper, k = counts.most_common(1)[0]
        if k > best.get(shopper, (0, 0))[0]:
            best[shopper] = (k, g)
    people = [p.shopper for p in plans]
    exact = sum(1 for s in people if s in best and journeys.get(best[s][1]) == truth_steps.journey(s + 1))
    return StoreEval(
        shoppers=len(people),
        visits_fused=stage.visits_total,
        visits_naive=len(naive_tracks),
        journeys_exact=exact,
        occupancy_mae_fused=float(np.mean(err_fused)) if err_fused else 0.0,
        occupancy_mae_naive=float(np.mean(err_naive)) if err_naive else 0.0,
        occupancy_mean_true=float(np.mean(n_true)) if n_true else 0.0,
        handoffs=stage.fusion.handoffs,
    )


@dataclass(frozen=True, slots=True)
class StoreLatency:
    """How late store-level events are against the camera sightings they come from.

    ``visit_delay_s``: per shopper, the ``visit.started`` time of their store visit minus the frame
    time of the first camera sighting of them (the camera's own ``visit.started``), with the store
    stage fed camera by camera as a run feeds it (``tick_s`` store ticks); ``tick_ms``: processing
    time of each store tick on this machine (fusion, floor measures, events)."""

    visit_delay_s: list[float]
    tick_ms: list[float]
    tick_s: float

    def quantile(self, values: Sequence[float], q: float) -> float:
        return float(np.quantile(values, q)) if len(values) else float("nan")


def measure_latency(
    layout: StoreLayout, cfg: SimConfig, cameras: Sequence[VirtualCamera] | None = None, *, tick_s: float = 0.2
) -> StoreLatency:
    """Play the store through its cameras as :class:`~storelens.pipeline.storelevel.StoreLevelFeed`
    does (each camera frame an ``update``, the store clock ticking every ``tick_s``) and time it."""

    cams = list(cameras) if cameras is not None else demo_cameras()
    store = store_with_cameras(layout, cams, cfg.store_id)
    mappers = {c.id: FloorMapper(c.calibration()) for c in cams}
    stage = StoreLevelStage(store, tick_s=tick_s, seed=cfg.seed)
    first_seen: dict[int, float] = {}
    started: set[int] = set()
    delays: list[float] = []
    ticks_ms: list[float] = []
    for frame in camera_frames(layout, cfg, cams):
        wall = frame.wall
        for cid, tracks in frame.cameras.items():
            for shopper in tracks.data["shopper"].tolist():
                first_seen.setdefault(int(shopper), wall)
            before, tick = set(stage.visits), stage.last_tick
            t = time.perf_counter()
            events = stage.update(cid, mappers[cid].map(tracks, FRAME_H), wall)
            if stage.last_tick != tick:  # this call ran a store tick
                ticks_ms.append((time.perf_counter() - t) * 1000.0)
            new = set(stage.visits) - before
            if not new:
                continue
            ts = {e.subject: e.ts.timestamp() for e in events if e.type == EventType.VISIT_STARTED}
            links = stage.fusion.links()
            for cam, cam_tracks in frame.cameras.items():
                for tid, shopper in zip(cam_tracks.track_id.tolist(), cam_tracks.data["shopper"].tolist(), strict=True):
                    g = links.get((cam, int(tid)))
                    if g in new and int(shopper) not in started:
                        started.add(int(shopper))
                        emitted = ts.get(format_subject(g), wall)
                        delays.append(emitted - first_seen[int(shopper)])
    return StoreLatency(delays, ticks_ms, tick_s)
