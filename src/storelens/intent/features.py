"""Per visit features: what a shopper has done so far, as named numbers in [0, 1].

Each feature has a *raw* value in everyday units (seconds, counts, a probability) and a
*normalised* value ``min(raw / scale, 1)``: the scale is the amount of evidence that counts as
"fully there" (e.g. 40 s of dwell in one category). State scores are weighted sums of normalised
features, so a weight reads directly as "how much this evidence, at full strength, adds to the
state's score", and a reason can quote the raw value ("dwell 48 s in Electronics").

Some features are deliberately conjunctions ("kept walking" is the share of the visit spent
walking *times* a ramp over the first seconds of the visit) because a linear score cannot express
AND; baking the AND into the feature keeps the scoring a plain, explainable weighted sum.

Focus category
--------------
Category features (dwell, reaches, returns...) are measured in the visit's *focus* category (see
:meth:`VisitFeatures.focus_category`: hands, then feet, then eyes, then a zone just left). With no
focus they are 0: a shopper walking the front aisle is not "considering Coffee" any more.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from storelens.config.intent import register_feature_weight_check
from storelens.intent.signals import AFFECTS, AffectReading, InteractionSignal, KinematicSample, ZoneInfo

__all__ = [
    "FEATURES",
    "FEATURE_INDEX",
    "FEATURE_NAMES",
    "FeatureParams",
    "FeatureSnapshot",
    "FeatureSpec",
    "VisitFeatures",
]


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """A feature: its name, the raw amount that counts as full evidence, and what it means."""

    name: str
    scale: float
    meaning: str


FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("time_in_store", 120.0, "seconds since the visit was first seen"),
    FeatureSpec("walking", 1.0, "current speed as a share of walking speed"),
    FeatureSpec("kept_walking", 1.0, "share of the visit spent walking, ramped over its first 30 s"),
    FeatureSpec("straightness", 1.0, "net displacement / path length over the last 10 s"),
    FeatureSpec("stops", 2.0, "stops of 1.5 s or more so far"),
    FeatureSpec("stopped", 8.0, "seconds standing still right now"),
    FeatureSpec("zones_visited", 3.0, "distinct product categories visited"),
    FeatureSpec("dwell_focus", 30.0, "seconds spent in the focus category (all stays)"),
    FeatureSpec("stay_focus", 60.0, "seconds of the current, unbroken stay in the focus category"),
    FeatureSpec("attention_focus", 8.0, "seconds facing shelves/displays of the focus category"),
    FeatureSpec("reaches_focus", 3.0, "reaches into shelves of the focus category"),
    FeatureSpec("holding", 1.0, "items picked and not put back (whole visit)"),
    FeatureSpec("returns_focus", 3.0, "items put back in the focus category"),
    FeatureSpec("pick_return", 1.0, "pick-then-return cycles in the focus category"),
    FeatureSpec("revisits_focus", 2.0, "times the shopper came back to the focus category"),
    FeatureSpec("lingering", 1.0, "1 while lingering (slow, in a zone) in the focus category"),
    FeatureSpec("look_around", 3.0, "glances (looks under 2.5 s) at distinct shelves/displays in the last 20 s"),
    FeatureSpec("back_forth", 3.0, "direction reversals while walking in the last 45 s"),
    FeatureSpec("negative", 1.0, "negative/frustrated affect above chance x confidence"),
    FeatureSpec("confused", 1.0, "confused/surprised affect above chance x confidence"),
    FeatureSpec("positive", 1.0, "positive affect above chance x confidence"),
    FeatureSpec("in_queue", 1.0, "1 while in a queue zone"),
    FeatureSpec("at_checkout", 1.0, "1 while in a checkout zone"),
    FeatureSpec("heading_exit", 1.0, "in the entrance zone, or walking straight at an exit less than 6 m away"),
    FeatureSpec("engaged", 1.0, "strongest engagement with any category: dwell/40 s + reaches/4"),
    FeatureSpec("queued", 1.0, "1 once the visit has been in a queue or checkout zone"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
FEATURE_INDEX: dict[str, int] = {n: i for i, n in enumerate(FEATURE_NAMES)}


def check_feature_weights(weights: Mapping[str, float]) -> None:
    """Raise ``ValueError`` naming the known features when ``weights`` names another one (the
    store config's ``intent.states.*.weights``; registered with :mod:`storelens.config.intent` below)."""
    for name in weights:
        if name not in FEATURE_INDEX:
            raise ValueError(f"unknown feature {name!r} (known: {', '.join(FEATURE_NAMES)})")


register_feature_weight_check(check_feature_weights)

_SCALES = np.array([f.scale for f in FEATURES], dtype=np.float64)

# time windows and constants of the feature definitions (documented in docs/INTENT.md)
INTERACTION_FOCUS_S = 10.0
RECENT_ZONE_S = 8.0
STOP_MIN_S = 1.5
STOP_RELEASE = 1.4
KEPT_WALKING_RAMP_S = 5.0
STRAIGHT_WINDOW_S = 10.0
LOOK_WINDOW_S = 20.0
REVERSAL_WINDOW_S = 45.0
AFFECT_STALE_S = 60.0
AFFECT_BLEND_S = 1.0
SPEED_WINDOW_S = 1.0
SPEED_AVERAGE_S = 0.4
MAX_GAP_S = 2.0
HEADING_EXIT_MIN_VISIT_S = 15.0
HEADING_EXIT_RANGE_M = 6.0
GLANCE_MAX_S = 2.5
ATTENTION_MAX_S = 120.0
LONG_LOOK_S = 3.0
IMPLIED_PICK_CONFIDENCE = 0.7


@dataclass(frozen=True, slots=True)
class FeatureParams:
    """Speed thresholds per coordinate space and what counts as a usable affect reading."""

    walking_speed: float = 1.2
    stop_speed: float = 0.35
    segment_len: float = 1.0
    min_affect_confidence: float = 0.3
    exits: tuple[tuple[float, float], ...] = ()

    @classmethod
    def for_space(
        cls,
        space: str,
        *,
        walking_mps: float,
        stop_mps: float,
        walking_px_s: float,
        stop_px_s: float,
        min_affect_confidence: float,
        exits: Sequence[tuple[float, float]] = (),
    ) -> FeatureParams:
        if space == "floor":
            return cls(walking_mps, stop_mps, 1.0, min_affect_confidence, tuple(exits))
        # pixels: a segment is "a stride" at walking speed; exits are floor points, not usable here
        return cls(walking_px_s, stop_px_s, walking_px_s * 0.8, min_affect_confidence, ())


@dataclass(slots=True)
class FeatureSnapshot:
    """Features of one visit at one time: normalised ``values`` (for scoring), ``raw`` (for
    reasons), and the context the reasons and events need."""

    values: npt.NDArray[np.float64]
    raw: npt.NDArray[np.float64]
    category: str | None
    zone_id: str | None
    engaged_category: str | None
    holding_category: str | None
    dwell_by_category: dict[str, float]

    def as_dict(self) -> dict[str, float]:
        return {n: round(float(v), 4) for n, v in zip(FEATURE_NAMES, self.values, strict=True)}

    def reason(self, name: str) -> str:
        """The human sentence for one feature, quoting its raw value."""
        return _REASONS[name](self, float(self.raw[FEATURE_INDEX[name]]))


def _times(n: float) -> str:
    k = round(n)
    return "once" if k == 1 else "twice" if k == 2 else f"{k} times"


def _cat(s: FeatureSnapshot) -> str:
    return s.category or "this area"


_REASONS: dict[str, Callable[[FeatureSnapshot, float], str]] = {
    "time_in_store": lambda s, r: f"in store {r:.0f} s",
    "walking": lambda s, r: f"walking ({r * 100:.0f}% of walking speed)",
    "kept_walking": lambda s, r: f"kept walking ({r * 100:.0f}% of the visit)",
    "straightness": lambda s, r: f"straight path ({r * 100:.0f}%)",
    "stops": lambda s, r: f"stopped {_times(r)}",
    "stopped": lambda s, r: f"standing still {r:.0f} s",
    "zones_visited": lambda s, r: f"visited {r:.0f} department{'' if r == 1 else 's'}",
    "dwell_focus": lambda s, r: f"dwell {r:.0f} s in {_cat(s)}",
    "stay_focus": lambda s, r: f"{r:.0f} s in {_cat(s)} without leaving",
    "attention_focus": lambda s, r: f"looked at {_cat(s)} shelves {r:.0f} s",
    "reaches_focus": lambda s, r: f"reached {_times(r)} in {_cat(s)}",
    "holding": lambda s, r: (
        f"holding {r:.0f} item{'s' if r != 1 else ''}" + (f" from {s.holding_category}" if s.holding_category else "")
    ),
    "returns_focus": lambda s, r: f"returned {_times(r)}",
    "pick_return": lambda s, r: f"picked and returned {r:.0f} item{'s' if r != 1 else ''}",
    "revisits_focus": lambda s, r: f"came back to {_cat(s)} {_times(r)}",
    "lingering": lambda s, r: f"lingering in {_cat(s)}",
    "look_around": lambda s, r: f"looked around ({r:.0f} glances in 20 s)",
    "back_forth": lambda s, r: f"turned back {_times(r)}",
    "negative": lambda s, r: f"frustrated {r * 100:.0f}%",
    "confused": lambda s, r: f"confused {r * 100:.0f}%",
    "positive": lambda s, r: f"happy {r * 100:.0f}%",
    "in_queue": lambda s, r: "in the checkout queue",
    "at_checkout": lambda s, r: "at the checkout",
    "heading_exit": lambda s, r: "heading to the exit",
    "engaged": lambda s, r: (
        f"spent {s.dwell_by_category.get(s.engaged_category or '', 0.0):.0f} s in "
        f"{s.engaged_category or 'a department'}"
    ),
    "queued": lambda s, r: "went to the checkout",
}
assert set(_REASONS) == set(FEATURE_NAMES)


@dataclass(slots=True)
class _OpenStay:
    info: ZoneInfo
    since: float


@dataclass(slots=True)
class VisitFeatures:
    """The running evidence of one visit. Feed it events and kinematic samples in time order
    (roughly: events may be back-dated a little, as zone analytics do), then :meth:`snapshot`."""

    subject: int
    first_ts: float
    params: FeatureParams
    last_ts: float = 0.0
    staff: bool = False
    space: str | None = None
    # kinematics
    _pos: deque[tuple[float, float, float]] = field(default_factory=deque)
    _coarse: deque[tuple[float, float, float]] = field(default_factory=deque)
    speed: float = 0.0
    _given_speed: bool = False
    moving_s: float = 0.0
    observed_s: float = 0.0
    _stop_since: float | None = None
    _stop_counted: bool = False
    stops: int = 0
    _anchor: tuple[float, float] | None = None
    _heading: tuple[float, float] | None = None
    _reversals: deque[float] = field(default_factory=deque)
    # zones
    _open: dict[str, _OpenStay] = field(default_factory=dict)
    _cat_open_since: dict[str, float] = field(default_factory=dict)
    _cat_open_count: Counter[str] = field(default_factory=Counter)
    dwell_closed: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    categories_visited: set[str] = field(default_factory=set)
    _last_zone_cat: tuple[str, float] | None = None
    revisits: Counter[str] = field(default_factory=Counter)
    _lingering: dict[str, str | None] = field(default_factory=dict)
    queued: bool = False
    # interaction
    reaches: Counter[str] = field(default_factory=Counter)
    picks: Counter[str] = field(default_factory=Counter)
    returns: Counter[str] = field(default_factory=Counter)
    shelf_reaches: Counter[str] = field(default_factory=Counter)
    shelf_picks: Counter[str] = field(default_factory=Counter)
    shelf_returns: Counter[str] = field(default_factory=Counter)
    _held: list[str] = field(default_factory=list)
    _last_interaction: tuple[str, float] | None = None
    _attn_open: dict[str, tuple[float, str | None]] = field(default_factory=dict)
    attention_closed: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    attention_episodes: int = 0
    _glances: deque[tuple[float, str]] = field(default_factory=deque)
    _last_look: tuple[str, float] | None = None
    # affect
    affect: dict[str, float] = field(default_factory=dict)
    affect_conf: float = 0.0
    affect_ts: float | None = None

    # ---------------------------------------------------------------------------- kinematics --
    def add_sample(self, s: KinematicSample) -> None:
        if self.space is not None and s.space != self.space:
            # the visit moved between a calibrated and an uncalibrated view: positions are not
            # comparable, so the motion history restarts (zones and interactions are kept)
            self._pos.clear()
            self._coarse.clear()
            self._anchor = None
            self._heading = None
        self.space = s.space
        prev = self._pos[-1] if self._pos else None
        if prev is not None and s.ts <= prev[0]:
            return  # duplicate or out of order: ignore, positions must move forward in time
        self.last_ts = max(self.last_ts, s.ts)
        self._pos.append((s.ts, s.x, s.y))
        while self._pos and s.ts - self._pos[0][0] > STRAIGHT_WINDOW_S:
            self._pos.popleft()
        if s.speed is not None:
            self.speed = s.speed if not self._given_speed else 0.5 * self.speed + 0.5 * s.speed
            self._given_speed = True
        else:
            estimate = self._estimate_speed(s.ts)
            if estimate is None:
                # under a second of track: the speed is unknown, which is neither walking nor
                # standing, so this time is not counted either way (stops, kept walking)
                self._track_heading(s)
                return
            self.speed = estimate
        if prev is None:
            return
        dt = s.ts - prev[0]
        p = self.params
        if dt > MAX_GAP_S:
            # a detection gap is not credited as walking or standing; a stop survives it only if
            # the shopper reappears where they stood
            if math.hypot(s.x - prev[1], s.y - prev[2]) > p.segment_len * 0.5:
                self._stop_since = None
            self._anchor = (s.x, s.y)
            return
        self.observed_s += dt
        # hysteresis: a stop ends only at a clear walking pace, so one noisy frame does not split it
        threshold = p.stop_speed * (STOP_RELEASE if self._stop_since is not None else 1.0)
        if self.speed >= threshold:
            self.moving_s += dt
            self._stop_since = None
            self._stop_counted = False
        else:
            if self._stop_since is None:
                self._stop_since = s.ts
            if not self._stop_counted and s.ts - self._stop_since >= STOP_MIN_S:
                self.stops += 1
                self._stop_counted = True
        self._track_heading(s)

    def _estimate_speed(self, now: float) -> float | None:
        """Displacement between the mean position of the last 0.4 s and the mean position one
        second earlier: averaging a few frames at each end divides per-frame jitter so a shopper
        standing still reads as still, while a real stop still shows within about a second."""
        recent_x = recent_y = old_x = old_y = 0.0
        n_recent = n_old = 0
        t_recent = t_old = 0.0
        for t, x, y in reversed(self._pos):
            age = now - t
            if age <= SPEED_AVERAGE_S:
                recent_x += x
                recent_y += y
                t_recent += t
                n_recent += 1
            elif SPEED_WINDOW_S <= age <= SPEED_WINDOW_S + SPEED_AVERAGE_S:
                old_x += x
                old_y += y
                t_old += t
                n_old += 1
            elif age > SPEED_WINDOW_S + SPEED_AVERAGE_S:
                break
        if n_recent == 0 or n_old == 0:
            return None if self.observed_s == 0 else self.speed
        dt = t_recent / n_recent - t_old / n_old
        if dt <= 0:
            return None if self.observed_s == 0 else self.speed
        return math.hypot(recent_x / n_recent - old_x / n_old, recent_y / n_recent - old_y / n_old) / dt

    def _track_heading(self, s: KinematicSample) -> None:
        if not self._coarse or s.ts - self._coarse[-1][0] >= 1.0:
            self._coarse.append((s.ts, s.x, s.y))
            while self._coarse and s.ts - self._coarse[0][0] > STRAIGHT_WINDOW_S:
                self._coarse.popleft()
        if self._anchor is None:
            self._anchor = (s.x, s.y)
            return
        dx, dy = s.x - self._anchor[0], s.y - self._anchor[1]
        d = math.hypot(dx, dy)
        if d < self.params.segment_len:
            return
        h = (dx / d, dy / d)
        if self._heading is not None and h[0] * self._heading[0] + h[1] * self._heading[1] < -0.5:
            self._reversals.append(s.ts)
        self._heading = h
        self._anchor = (s.x, s.y)

    # --------------------------------------------------------------------------------- zones --
    def zone_entered(self, info: ZoneInfo, ts: float) -> None:
        if info.zone_id in self._open:
            return
        self._open[info.zone_id] = _OpenStay(info, ts)
        if info.kind in ("checkout", "queue"):
            self.queued = True
        cat = info.category
        if cat:
            if self._cat_open_count[cat] == 0:
                self._cat_open_since[cat] = ts
            self._cat_open_count[cat] += 1
            self.categories_visited.add(cat)

    def zone_exited(self, info: ZoneInfo, ts: float, dwell_s: float | None) -> None:
        stay = self._open.pop(info.zone_id, None)
        self._lingering.pop(info.zone_id, None)
        cat = stay.info.category if stay is not None else info.category
        if stay is None:
            # we never saw it start (engine started mid-stay): trust the analytics' dwell
            if cat and dwell_s:
                self.dwell_closed[cat] += dwell_s
                self.categories_visited.add(cat)
                self._last_zone_cat = (cat, ts)
            return
        if cat:
            self._cat_open_count[cat] -= 1
            if self._cat_open_count[cat] <= 0:
                del self._cat_open_count[cat]
                since = self._cat_open_since.pop(cat, ts)
                self.dwell_closed[cat] += max(ts - since, 0.0)
            self._last_zone_cat = (cat, ts)

    def zone_revisited(self, info: ZoneInfo) -> None:
        if info.category:
            self.revisits[info.category] += 1

    def zone_lingering(self, info: ZoneInfo) -> None:
        self._lingering[info.zone_id] = info.category

    # --------------------------------------------------------------------------- interaction --
    def _touch(self, sig: InteractionSignal, ts: float) -> str:
        """Hands on a shelf: the strongest sign of which category the shopper is about."""
        cat = sig.category or sig.target
        self._last_interaction = (cat, ts)
        return cat

    def reach(self, sig: InteractionSignal, ts: float) -> None:
        cat = self._touch(sig, ts)
        self.reaches[cat] += 1
        self.shelf_reaches[sig.target] += 1

    def picked(self, sig: InteractionSignal, ts: float) -> None:
        cat = self._touch(sig, ts)
        self.picks[cat] += 1
        self.shelf_picks[sig.target] += 1
        self._held.append(cat)

    def returned(self, sig: InteractionSignal, ts: float) -> None:
        cat = self._touch(sig, ts)
        self.returns[cat] += 1
        self.shelf_returns[sig.target] += 1
        if cat in self._held:  # put back what was taken from this category
            self._held.reverse()
            self._held.remove(cat)
            self._held.reverse()
        elif sig.confidence >= IMPLIED_PICK_CONFIDENCE:
            # nothing from here was seen picked, yet something was surely put back: the pick was
            # missed (occluded hand, undetermined view), so the pick-then-return cycle counts
            self.picks[cat] += 1

    def attention_started(self, sig: InteractionSignal, ts: float) -> None:
        for tgt, (start, _) in list(self._attn_open.items()):
            if ts - start > ATTENTION_MAX_S:  # its end was lost: do not count it as looking forever
                del self._attn_open[tgt]
        if sig.target not in self._attn_open:
            self._attn_open[sig.target] = (ts, sig.category)
            self.attention_episodes += 1

    def attention_ended(self, sig: InteractionSignal, ts: float) -> None:
        opened = self._attn_open.pop(sig.target, None)
        cat = sig.category or (opened[1] if opened else None) or sig.target
        if opened is not None:
            dur = max(ts - opened[0], 0.0)
        else:
            dur = sig.duration_s or 0.0
            self.attention_episodes += 1
        self.attention_closed[cat] += dur
        if dur < GLANCE_MAX_S:
            # a glance: searching rather than studying; it must not move the focus category
            self._glances.append((ts, sig.target))
        else:
            self._last_look = (cat, ts)

    # -------------------------------------------------------------------------------- affect --
    def add_affect(self, reading: AffectReading, ts: float) -> None:
        if reading.confidence < self.params.min_affect_confidence:
            return
        if not self.affect or self.affect_ts is None:
            self.affect = dict(reading.probs)
            self.affect_conf = reading.confidence
        else:
            # Readings are already smoothed upstream; a light blend keeps one outlier from ruling.
            # The blend is by elapsed time, not per reading, so it means the same whether the
            # expression tracker feeds every frame (live pipeline) or a summary every few seconds.
            w = 1.0 - math.exp(-max(ts - self.affect_ts, 0.0) / AFFECT_BLEND_S)
            for a in AFFECTS:
                self.affect[a] = (1.0 - w) * self.affect.get(a, 0.0) + w * reading.probs.get(a, 0.0)
            self.affect_conf = (1.0 - w) * self.affect_conf + w * reading.confidence
        self.affect_ts = max(ts, self.affect_ts or ts)

    # ------------------------------------------------------------------------------ features --
    def focus_category(self, now: float) -> str | None:
        """Hands first (a reach/pick/return in the last 10 s), then feet (the category zone the
        shopper stands in), then eyes (a look of 3 s or more, ongoing or in the last 10 s, e.g. at
        a display outside any category zone), then a category zone left less than 8 s ago."""
        if self._last_interaction is not None and now - self._last_interaction[1] <= INTERACTION_FOCUS_S:
            return self._last_interaction[0]
        best: tuple[float, str] | None = None
        for stay in self._open.values():
            if stay.info.category and (best is None or stay.since > best[0]):
                best = (stay.since, stay.info.category)
        if best is not None:
            return best[1]
        for start, cat in self._attn_open.values():
            if cat and now - start >= LONG_LOOK_S:
                return cat
        if self._last_look is not None and now - self._last_look[1] <= INTERACTION_FOCUS_S:
            return self._last_look[0]
        if self._last_zone_cat is not None and now - self._last_zone_cat[1] <= RECENT_ZONE_S:
            return self._last_zone_cat[0]
        return None

    def dwell(self, cat: str, now: float) -> float:
        d = float(self.dwell_closed.get(cat, 0.0))
        since = self._cat_open_since.get(cat)
        if since is not None:
            d += max(now - since, 0.0)
        return d

    def attention(self, cat: str, now: float) -> float:
        a = float(self.attention_closed.get(cat, 0.0))
        for start, c in self._attn_open.values():
            if (c or "") == cat:
                a += max(now - start, 0.0)
        return a

    def current_zone(self) -> str | None:
        """The most specific zone the shopper is in: shelf/display before aisle, latest first."""
        rank = {"shelf": 0, "display": 1, "queue": 2, "checkout": 2, "aisle": 3}
        best: tuple[int, float, str] | None = None
        for zid, stay in self._open.items():
            key = (rank.get(stay.info.kind, 4), -stay.since, zid)
            if best is None or key < best:
                best = key
        return best[2] if best else None

    def snapshot(self, now: float) -> FeatureSnapshot:
        raw = np.zeros(len(FEATURES), dtype=np.float64)
        p = self.params
        t = max(now - self.first_ts, 0.0)
        raw[0] = t
        raw[1] = min(self.speed / p.walking_speed, 1.5)
        share = self.moving_s / self.observed_s if self.observed_s > 0 else 0.0
        raw[2] = share * min(t / KEPT_WALKING_RAMP_S, 1.0)
        raw[3] = self._straightness()
        raw[4] = self.stops
        raw[5] = now - self._stop_since if self._stop_since is not None else 0.0
        raw[6] = len(self.categories_visited)
        focus = self.focus_category(now)
        if focus is not None:
            raw[7] = self.dwell(focus, now)
            since = self._cat_open_since.get(focus)
            raw[8] = now - since if since is not None else 0.0
            raw[9] = self.attention(focus, now)
            raw[10] = self.reaches.get(focus, 0)
            raw[12] = self.returns.get(focus, 0)
            raw[13] = min(self.picks.get(focus, 0), self.returns.get(focus, 0))
            raw[14] = self.revisits.get(focus, 0)
            raw[15] = 1.0 if focus in self._lingering.values() else 0.0
        raw[11] = len(self._held)
        while self._glances and now - self._glances[0][0] > LOOK_WINDOW_S:
            self._glances.popleft()
        raw[16] = len({tgt for _, tgt in self._glances})
        while self._reversals and now - self._reversals[0] > REVERSAL_WINDOW_S:
            self._reversals.popleft()
        raw[17] = len(self._reversals)
        if self.affect and self.affect_ts is not None and now - self.affect_ts <= AFFECT_STALE_S:
            # only what is above chance (1/4 each) counts: a flat, unsure reading is no evidence
            chance = 1.0 / len(AFFECTS)
            for k, a in ((18, "negative"), (19, "confused"), (20, "positive")):
                raw[k] = max(self.affect.get(a, 0.0) - chance, 0.0) / (1.0 - chance) * self.affect_conf
        kinds = {stay.info.kind for stay in self._open.values()}
        raw[21] = 1.0 if "queue" in kinds else 0.0
        raw[22] = 1.0 if "checkout" in kinds else 0.0
        raw[23] = self._heading_exit(t, "entrance" in kinds)
        dwell_by_cat = {c: self.dwell(c, now) for c in self.categories_visited | set(self.reaches)}
        engaged_cat, engaged = None, 0.0
        for c, d in dwell_by_cat.items():
            e = d / 40.0 + self.reaches.get(c, 0) / 4.0
            if e > engaged:
                engaged_cat, engaged = c, e
        raw[24] = min(engaged, 1.0)
        raw[25] = 1.0 if self.queued else 0.0
        values = np.clip(raw / _SCALES, 0.0, 1.0)
        return FeatureSnapshot(
            values=values,
            raw=raw,
            category=focus,
            zone_id=self.current_zone(),
            engaged_category=engaged_cat,
            holding_category=self._held[-1] if self._held else None,
            dwell_by_category=dwell_by_cat,
        )

    def _straightness(self) -> float:
        pts = self._coarse
        if len(pts) < 3:
            return 0.0
        path = 0.0
        for a, b in zip(pts, list(pts)[1:], strict=False):
            path += math.hypot(b[1] - a[1], b[2] - a[2])
        if path < 2 * self.params.segment_len:
            return 0.0
        net = math.hypot(pts[-1][1] - pts[0][1], pts[-1][2] - pts[0][2])
        return net / path

    def _heading_exit(self, t: float, in_entrance: bool) -> float:
        if t < HEADING_EXIT_MIN_VISIT_S:
            return 0.0
        if in_entrance:
            return 1.0
        exits = self.params.exits
        if not exits or len(self._pos) < 2 or self.speed < 0.5 * self.params.walking_speed:
            return 0.0
        ts1, x1, y1 = self._pos[-1]
        ref = self._pos[0]
        for p in self._pos:
            if ts1 - p[0] <= 2.0:
                break
            ref = p
        vx, vy = x1 - ref[1], y1 - ref[2]
        vn = math.hypot(vx, vy)
        if vn <= 1e-6:
            return 0.0
        best = 0.0
        for ex, ey in exits:
            dx, dy = ex - x1, ey - y1
            dn = math.hypot(dx, dy)
            if dn > HEADING_EXIT_RANGE_M or dn < 1e-6:
                continue
            cos = (vx * dx + vy * dy) / (vn * dn)
            best = max(best, (cos - 0.5) / 0.5)
        return best
