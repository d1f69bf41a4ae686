"""Run a simulated store: shoppers with scripts -> noisy observations -> intent engines -> actions.

One call to :func:`run_simulation` plans every shopper (ground truth), then replays the store frame
by frame as the real pipeline would see it: per frame, the visible shoppers' floor positions (with
tracker noise: jitter, misses, occlusions, fragments, id switches) go as :class:`Tracks` through the
real store-level behaviour analytics (:class:`~storelens.sim.analytics.StoreAnalyticsFeed`) and,
with the interaction and expression events (with their noise), into each intent engine through the
same
``update(now, samples, events)`` call the pipeline makes, then into that engine's
:class:`~storelens.actions.dispatcher.ActionEngine`. Time is simulated, so it runs far faster than
real time; everything random comes from the seed, so a seed replays exactly.

Several engines (e.g. ours and a baseline) can be driven by the very same observations in one run.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from storelens.actions.alerts import AlertError
from storelens.actions.dispatcher import ActionEngine
from storelens.config.store import StoreConfig
from storelens.events.models import Event, EventType, format_subject
from storelens.events.payloads import AlertRaised, typed
from storelens.intent.features import FeatureSnapshot
from storelens.intent.signals import AFFECTS, KinematicSample
from storelens.sim.analytics import StoreAnalyticsFeed
from storelens.sim.layout import StoreLayout
from storelens.sim.noise import NoiseConfig
from storelens.sim.scripts import DEFAULT_MIX, ShopperBuilder, ShopperPlan, build_plan, finish_checkout

__all__ = ["IntentLike", "SimConfig", "SimResult", "plan_shoppers", "run_simulation"]

START_WALL = 1741082400.0  # 2025-03-04 10:00:00 UTC: a weekday morning, outside usual quiet hours


class IntentLike(Protocol):
    """What the runner drives: :class:`~storelens.intent.engine.IntentEngine` or a baseline."""

    def update(
        self, now: float, samples: Iterable[KinematicSample] = (), events: Iterable[Event] = ()
    ) -> list[Event]: ...

    def close(self, now: float) -> list[Event]: ...


@dataclass(frozen=True, slots=True)
class SimConfig:
    shoppers: int = 30
    minutes: float = 10.0
    seed: int = 0
    fps: float = 5.0
    noise: NoiseConfig = field(default_factory=NoiseConfig.off)
    staff: int = 1
    mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    start_wall: float = START_WALL
    store_id: str = "sim-store"
    ack_prob: float = 0.8
    ack_delay_s: tuple[float, float] = (20.0, 150.0)

    def __post_init__(self) -> None:
        if self.shoppers < 0 or self.staff < 0:
            raise ValueError("shoppers and staff must be >= 0")
        if not 0 < self.minutes <= 24 * 60:
            raise ValueError("minutes must be within (0, 1440]")
        if not 0.5 <= self.fps <= 30:
            raise ValueError("fps must be within [0.5, 30]")
        bad = set(self.mix) - set(DEFAULT_MIX)
        if bad or not self.mix or sum(self.mix.values()) <= 0 or min(self.mix.values()) < 0:
            raise ValueError(f"mix must give non-negative weights to scripts {sorted(DEFAULT_MIX)}")


@dataclass
class SimResult:
    config: SimConfig
    plans: list[ShopperPlan]
    observed: list[Event]
    outputs: dict[str, list[Event]]
    owner: dict[str, int]
    frames: int
    samples: int
    sim_seconds: float
    wall_seconds: float
    training: tuple[npt.NDArray[np.float64], list[str]] | None = None
    idf1: float = 1.0
    cpu_s: dict[str, float] = field(default_factory=dict)
    """Thread CPU seconds spent in the analytics (``"analytics"``), each engine (``"intent:<name>"``)
    and its actions (``"actions:<name>"``): what a server would spend on these observations,
    without the simulator's own cost."""

    def wall(self, t: float) -> float:
        return self.config.start_wall + t

    @property
    def speedup(self) -> float:
        return self.sim_seconds / self.wall_seconds if self.wall_seconds > 0 else math.inf


def plan_shoppers(layout: StoreLayout, cfg: SimConfig) -> list[ShopperPlan]:
    """Every shopper's complete plan (ground truth), in arrival order. Depends only on the layout,
    the seed, counts, duration and mix: never on noise, so noisy and clean runs share the truth."""
    rng = np.random.default_rng([cfg.seed, 1])
    span = cfg.minutes * 60.0
    scripts = list(cfg.mix)
    w = np.array([cfg.mix[s] for s in scripts], dtype=np.float64)
    kinds = [scripts[int(i)] for i in rng.choice(len(scripts), size=cfg.shoppers, p=w / w.sum())]
    arrivals = np.sort(rng.uniform(0, span * 0.8, size=cfg.shoppers))
    plans: list[tuple[ShopperPlan, ShopperBuilder]] = []
    for i, (kind, t0) in enumerate(zip(kinds, arrivals, strict=True)):
        plans.append(build_plan(layout, np.random.default_rng([cfg.seed, 2, i]), i, kind, float(t0)))
    for j in range(cfg.staff):
        t0 = float(rng.uniform(0, span * 0.7))
        plans.append(build_plan(layout, np.random.default_rng([cfg.seed, 3, j]), cfg.shoppers + j, "staff", t0))
    # one till, first come first served: service starts when the previous customer is done
    buyers = sorted((p for p in plans if p[0].wants_checkout), key=lambda p: p[0].queue_arrival or 0.0)
    till_free = 0.0
    starts: list[float] = []
    for plan, b in buyers:
        arrival = plan.queue_arrival or 0.0
        start = max(arrival + 4.0, till_free + 2.0)
        end = start + b.u(15.0, 40.0)
        finish_checkout(b, [s for s in starts if s > arrival], start, end)
        starts.append(start)
        till_free = end
    return sorted((p for p, _ in plans), key=lambda p: p.traj.start)


@dataclass(slots=True)
class _Track:
    plan: ShopperPlan
    i0: int
    i1: int
    xy: npt.NDArray[np.float64]
    visible: npt.NDArray[np.bool_]
    relabel: dict[int, int]  # frame index -> fragment number (new id from then on)
    label: int = 0  # the random track/visit id the tracker gives it (changes on a fragment)


def _label(rng: np.random.Generator) -> int:
    return int(rng.integers(1, 2**47))


def _tracks(plans: Sequence[ShopperPlan], cfg: SimConfig, rng: np.random.Generator) -> list[_Track]:
    nz = cfg.noise
    out: list[_Track] = []
    for plan in plans:
        i0 = math.ceil(plan.traj.start * cfg.fps)
        i1 = math.floor(plan.end * cfg.fps)
        if i1 < i0:
            continue
        times = np.arange(i0, i1 + 1) / cfg.fps
        xy = plan.traj.sample(times)
        n = len(times)
        if nz.jitter_m > 0:
            xy = xy + rng.normal(0, nz.jitter_m, size=xy.shape)
        visible = np.ones(n, dtype=bool)
        if nz.miss_prob > 0:
            visible &= rng.random(n) >= nz.miss_prob
        dur_min = n / cfg.fps / 60.0
        for _ in range(int(rng.poisson(nz.occlusions_per_min * dur_min))):
            s = int(rng.integers(n))
            visible[s : s + int(rng.uniform(*nz.occlusion_s) * cfg.fps)] = False
        relabel: dict[int, int] = {}
        for k in range(int(rng.poisson(nz.fragments_per_min * dur_min))):
            s = int(rng.integers(n))
            gap = int(rng.uniform(*nz.fragment_gap_s) * cfg.fps)
            visible[s : s + gap] = False
            relabel[i0 + min(s + gap, n - 1)] = k + 1
        visible[0] = True  # every visit is seen at least when it walks in
        out.append(_Track(plan, i0, i1, xy, visible, relabel))
    return out


def _observed_events(
    tr: _Track, cfg: SimConfig, rng: np.random.Generator, layout: StoreLayout
) -> list[tuple[int, str, dict[str, object], str | None]]:
    """Interaction + expression events of one shopper after noise: (frame, type, payload, zone)."""
    nz = cfg.noise
    plan = tr.plan
    out: list[tuple[int, str, dict[str, object], str | None]] = []
    dropped_attention: set[str] = set()
    for e in plan.events:
        etype = e.type
        payload = dict(e.payload)
        if etype == EventType.SHELF_REACH and rng.random() >= nz.reach_recall:
            continue
        if etype in (EventType.PRODUCT_PICKED, EventType.PRODUCT_RETURNED):
            if rng.random() < nz.pick_return_miss:
                continue
            if rng.random() < nz.pick_return_flip:
                etype = EventType.PRODUCT_RETURNED if etype == EventType.PRODUCT_PICKED else EventType.PRODUCT_PICKED
                payload["confidence"] = 0.55
        if etype == EventType.ATTENTION_STARTED and rng.random() >= nz.attention_recall:
            dropped_attention.add(str(e.target))
            continue
        if etype == EventType.ATTENTION_ENDED and str(e.target) in dropped_attention:
            dropped_attention.discard(str(e.target))
            continue
        key = "target" if etype in (EventType.ATTENTION_STARTED, EventType.ATTENTION_ENDED) else "shelf"
        payload[key] = e.target
        out.append((math.ceil(e.t * cfg.fps), str(etype), payload, e.target))
    if nz.false_reaches_per_min > 0:
        dur_min = (plan.end - plan.traj.start) / 60.0
        for _ in range(int(rng.poisson(nz.false_reaches_per_min * dur_min))):
            t = float(rng.uniform(plan.traj.start, plan.end))
            p = plan.traj.sample(np.array([t]))[0]
            spot = min(layout.spots, key=lambda s: (s.pos[0] - p[0]) ** 2 + (s.pos[1] - p[1]) ** 2)
            if math.dist(spot.pos, (p[0], p[1])) < 1.5:
                out.append(
                    (
                        math.ceil(t * cfg.fps),
                        str(EventType.SHELF_REACH),
                        {"shelf": spot.shelf, "category": spot.category, "side": "right", "duration_s": 0.6},
                        spot.shelf,
                    )
                )
    if not plan.staff:
        t = plan.traj.start + float(rng.uniform(1.0, 2.5))
        k = 0
        while t < plan.end:
            while k + 1 < len(plan.affect) and plan.affect[k + 1][0] <= t:
                k += 1
            label, conf = plan.affect[k][1], plan.affect[k][2]
            if rng.random() >= nz.affect_drop:
                if rng.random() < nz.affect_flip:
                    label = str(rng.choice([a for a in AFFECTS if a != label]))
                conf *= nz.affect_conf_scale
                rest = (1.0 - conf) / (len(AFFECTS) - 1)
                scores = {a: round(conf if a == label else rest, 3) for a in AFFECTS}
                out.append(
                    (
                        math.ceil(t * cfg.fps),
                        str(EventType.EXPRESSION_SUMMARY),
                        {"affect": label, "confidence": round(conf, 3), "scores": scores, "running": True},
                        None,
                    )
                )
            t += 2.5
    out.sort(key=lambda r: r[0])
    return out


def run_simulation(
    layout: StoreLayout,
    cfg: SimConfig,
    engines: Mapping[str, IntentLike],
    actions: Mapping[str, ActionEngine] | None = None,
    *,
    store: StoreConfig | None = None,
    feature_every_s: float | None = None,
    feature_source: Callable[[int, float], FeatureSnapshot | None] | None = None,
) -> SimResult:
    """Simulate the store and drive every engine (and its action engine, if given) frame by frame.

    ``feature_every_s`` with ``feature_source`` (e.g. ``engine.features``) samples every visit's
    feature vector with its ground-truth state, as training data for a learned calibration.
    ``store`` supplies the analytics thresholds (zone grace periods, lingering...); by default the
    layout's own store config."""
    t_start = time.perf_counter()
    plans = plan_shoppers(layout, cfg)
    noise_rng = np.random.default_rng([cfg.seed, 4])
    label_rng = np.random.default_rng([cfg.seed, 5])
    ack_rng = np.random.default_rng([cfg.seed, 6])
    tracks = _tracks(plans, cfg, noise_rng)
    for tr in tracks:
        tr.label = _label(label_rng)
    pending: dict[int, list[tuple[_Track, str, dict[str, object], str | None]]] = {}
    for tr in tracks:
        for fi, etype, payload, zone in _observed_events(tr, cfg, noise_rng, layout):
            pending.setdefault(fi, []).append((tr, etype, payload, zone))
    analytics = StoreAnalyticsFeed(store or layout.store_config(cfg.store_id))
    cpu: defaultdict[str, float] = defaultdict(float)
    actions = actions or {}
    outputs: dict[str, list[Event]] = {name: [] for name in engines}
    observed: list[Event] = []
    owner_counts: dict[str, Counter[int]] = {}
    acks: list[tuple[float, str]] = []
    switch_seen: dict[tuple[int, int], float] = {}
    n_frames = math.floor(max((tr.i1 for tr in tracks), default=0) + 6 * cfg.fps) + 1
    xs: list[npt.NDArray[np.float64]] = []
    ys: list[str] = []
    next_feature = 0.0
    n_samples = 0
    ptr = 0
    active: list[_Track] = []
    first_primary = next(iter(engines), None)
    for fi in range(n_frames):
        t = fi / cfg.fps
        wall = cfg.start_wall + t
        while ptr < len(tracks) and tracks[ptr].i0 <= fi:
            active.append(tracks[ptr])
            ptr += 1
        active = [tr for tr in active if tr.i1 >= fi]
        rows: list[tuple[int, float, float, bool]] = []
        vis: list[_Track] = []
        for tr in active:
            k = fi - tr.i0
            if fi in tr.relabel:
                tr.label = _label(label_rng)
            if tr.visible[k]:
                vis.append(tr)
        if cfg.noise.id_switch_prob > 0 and len(vis) > 1:
            _id_switches(vis, fi, cfg, noise_rng, switch_seen)
        for tr in vis:
            x, y = tr.xy[fi - tr.i0]
            rows.append((tr.label, float(x), float(y), tr.plan.staff))
            owner_counts.setdefault(format_subject(tr.label), Counter())[tr.plan.shopper] += 1
        n_samples += len(rows)
        c0 = time.thread_time()
        frame_events = analytics.update(wall, rows)
        cpu["analytics"] += time.thread_time() - c0
        for tr, etype, payload, zone in pending.pop(fi, []):
            ends_episode = etype == EventType.ATTENTION_ENDED  # the stage closes episodes itself
            if not ends_episode and (fi > tr.i1 or not tr.visible[min(fi - tr.i0, len(tr.visible) - 1)]):
                continue  # nobody detected at that moment: no keypoints, no interaction, no face
            frame_events.append(
                Event.at(etype, cfg.store_id, wall, camera_id="sim", zone_id=zone, subject=tr.label, **payload)
            )
        observed.extend(frame_events)
        samples = [KinematicSample(lbl, wall, x, y, "floor", None, "sim") for lbl, x, y, _ in rows]
        for name, eng in engines.items():
            c0 = time.thread_time()
            ie = eng.update(wall, samples, frame_events)
            c1 = time.thread_time()
            cpu[f"intent:{name}"] += c1 - c0
            outputs[name].extend(ie)
            act = actions.get(name)
            if act is not None:
                ae = act.process(wall, [*frame_events, *ie])
                cpu[f"actions:{name}"] += time.thread_time() - c1
                outputs[name].extend(ae)
                if name == first_primary:
                    for ev in ae:
                        raised = typed(ev, AlertRaised)
                        if raised is not None and ack_rng.random() < cfg.ack_prob:
                            acks.append((wall + float(ack_rng.uniform(*cfg.ack_delay_s)), str(raised.alert_id)))
        if first_primary is not None and first_primary in actions and acks:
            due = [a for a in acks if a[0] <= wall]
            acks = [a for a in acks if a[0] > wall]
            for _, alert_id in due:
                with contextlib.suppress(AlertError):  # the shopper left first: nothing to acknowledge
                    outputs[first_primary].append(actions[first_primary].acknowledge(alert_id, "sim-staff", wall))
        if feature_every_s is not None and feature_source is not None and t >= next_feature:
            next_feature = t + feature_every_s
            by_label = {tr.label: tr for tr in vis}
            for lbl, tr in by_label.items():
                if tr.plan.staff:
                    continue
                state = tr.plan.state_at(t)
                snap = feature_source(lbl, wall)
                if state is not None and snap is not None:
                    xs.append(snap.values.copy())
                    ys.append(str(state))
    end_wall = cfg.start_wall + n_frames / cfg.fps
    tail = analytics.close(end_wall)
    observed.extend(tail)
    for name, eng in engines.items():
        fin = eng.update(end_wall, (), tail) + eng.close(end_wall)
        outputs[name].extend(fin)
        act = actions.get(name)
        if act is not None:
            outputs[name].extend(act.process(end_wall, fin))
    owner = {lbl: c.most_common(1)[0][0] for lbl, c in owner_counts.items()}
    truth_frames = sum(tr.i1 - tr.i0 + 1 for tr in tracks)
    training = (np.vstack(xs), ys) if xs else None
    return SimResult(
        config=cfg,
        plans=plans,
        observed=observed,
        outputs=outputs,
        owner=owner,
        frames=n_frames,
        samples=n_samples,
        sim_seconds=n_frames / cfg.fps,
        wall_seconds=time.perf_counter() - t_start,
        training=training,
        idf1=_idf1(owner_counts, truth_frames, n_samples),
        cpu_s=dict(cpu),
    )


def _idf1(counts: Mapping[str, Counter[int]], truth_frames: int, observed: int) -> float:
    """Identity F1 of the simulated observations (as py-motmetrics defines it): labels and true
    shoppers matched one to one to maximise shared frames; misses count against it too. This is
    how the injected tracker noise compares with the tracker's measured IDF1 (docs/TRACKING.md)."""
    if truth_frames + observed == 0:
        return 1.0
    from scipy.optimize import linear_sum_assignment

    labels = list(counts)
    shoppers = sorted({s for c in counts.values() for s in c})
    if not labels or not shoppers:
        return 0.0
    m = np.zeros((len(labels), len(shoppers)))
    col = {s: j for j, s in enumerate(shoppers)}
    for i, lbl in enumerate(labels):
        for s, n in counts[lbl].items():
            m[i, col[s]] = n
    r, c = linear_sum_assignment(-m)
    idtp = float(m[r, c].sum())
    return 2 * idtp / (truth_frames + observed)


def _id_switches(
    vis: list[_Track], fi: int, cfg: SimConfig, rng: np.random.Generator, seen: dict[tuple[int, int], float]
) -> None:
    """Two shoppers passing within ``id_switch_distance_m``: with some probability the tracker
    swaps their ids from this frame on (each close encounter is one chance, not one per frame)."""
    pts = np.array([tr.xy[fi - tr.i0] for tr in vis])
    d = np.hypot(pts[:, None, 0] - pts[None, :, 0], pts[:, None, 1] - pts[None, :, 1])
    ii, jj = np.nonzero(np.triu(d < cfg.noise.id_switch_distance_m, k=1))
    t = fi / cfg.fps
    for i, j in zip(ii.tolist(), jj.tolist(), strict=True):
        a, b = vis[i], vis[j]
        key = (min(a.plan.shopper, b.plan.shopper), max(a.plan.shopper, b.plan.shopper))
        if t - seen.get(key, -1e9) < 10.0:
            continue
        seen[key] = t
        if rng.random() < cfg.noise.id_switch_prob:
            a.label, b.label = b.label, a.label
