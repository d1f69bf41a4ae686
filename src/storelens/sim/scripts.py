"""Shopper scripts: what each simulated shopper intends, does, and when (the ground truth).

A script is a small program over a :class:`ShopperBuilder`: walk to a shelf, stand and look,
reach, pick, put back, look around, queue, pay, leave. While it runs, the builder records a floor
trajectory, the interaction and expression events a perfect observer would report, and the
*phases*: which intent state is true from when ("needs_assistance in Coffee from 10:03:12").

Scripts and their primary intent (the state the evaluation expects a visit to be remembered by):

==============  ==================  =========================================================
script          primary             behaviour
==============  ==================  =========================================================
pass_through    passing_through     walks in, along the front or through one aisle, out; no stop
browse          browsing            3-6 short stops (2-6 s) in different departments, no picks
consider        considering         long look (20-60 s) at one category, reaches, no pick, leaves
need_help       needs_assistance    considers, then stuck: picks and returns, looks around,
                                    confused or frustrated; then buys or leaves
hesitate        hesitant            picks, holds, puts back, walks off and comes back, repeats;
                                    then buys or leaves
buy             high_intent         considers, picks (keeps) 1-2 items, queues, pays, leaves
staff           (none)              restocks; flagged staff by the behaviour stage
==============  ==================  =========================================================

Timing parameters are drawn per shopper from the ranges in each script; walking speed is
1.0-1.4 m/s (browsing between shelves at 75-90% of it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from storelens.events.models import EventType
from storelens.intent.states import IntentState
from storelens.sim.layout import Point, Spot, StoreLayout
from storelens.sim.trajectory import Trajectory

__all__ = [
    "PRIMARY",
    "SCRIPTS",
    "Phase",
    "PlannedEvent",
    "ShopperBuilder",
    "ShopperPlan",
    "build_plan",
    "finish_checkout",
]

S = IntentState

PRIMARY: dict[str, IntentState | None] = {
    "pass_through": S.PASSING_THROUGH,
    "browse": S.BROWSING,
    "consider": S.CONSIDERING,
    "need_help": S.NEEDS_ASSISTANCE,
    "hesitate": S.HESITANT,
    "buy": S.HIGH_INTENT,
    "staff": None,
}
SCRIPTS: tuple[str, ...] = tuple(PRIMARY)

DEFAULT_MIX: dict[str, float] = {
    "pass_through": 0.15,
    "browse": 0.2,
    "consider": 0.2,
    "need_help": 0.12,
    "hesitate": 0.13,
    "buy": 0.2,
}


@dataclass(frozen=True, slots=True)
class Phase:
    state: IntentState
    start: float
    category: str | None = None


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    """An interaction/expression event as a perfect observer would report it (before noise)."""

    t: float
    type: EventType
    target: str | None
    payload: dict[str, Any]


@dataclass
class ShopperPlan:
    shopper: int
    script: str
    staff: bool
    traj: Trajectory
    events: list[PlannedEvent] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    affect: list[tuple[float, str, float]] = field(default_factory=list)
    category: str | None = None
    wants_checkout: bool = False
    queue_arrival: float | None = None
    end: float = 0.0

    @property
    def primary(self) -> IntentState | None:
        return PRIMARY[self.script]

    def state_at(self, t: float) -> IntentState | None:
        cur = None
        for p in self.phases:
            if p.start <= t:
                cur = p.state
            else:
                break
        return cur


class ShopperBuilder:
    """Records one shopper's actions as trajectory, events, phases and affect."""

    def __init__(self, layout: StoreLayout, rng: np.random.Generator, plan: ShopperPlan) -> None:
        self.layout = layout
        self.rng = rng
        self.plan = plan
        self.speed = float(rng.uniform(1.0, 1.4))
        self.held: list[Spot] = []
        self.set_affect("neutral", float(rng.uniform(0.5, 0.7)))

    @property
    def t(self) -> float:
        return self.plan.traj.t

    @property
    def pos(self) -> Point:
        return self.plan.traj.pos

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def phase(self, state: IntentState, category: str | None = None) -> None:
        phases = self.plan.phases
        if phases and phases[-1].state == state and phases[-1].category == category:
            return
        phases.append(Phase(state, self.t, category))

    def set_affect(self, label: str, confidence: float) -> None:
        self.plan.affect.append((self.t, label, confidence))

    def _event(self, t: float, etype: EventType, target: str | None, **payload: Any) -> None:
        self.plan.events.append(PlannedEvent(t, etype, target, payload))

    # ------------------------------------------------------------------------- movement --
    def walk_to(self, p: Point, pace: float = 1.0) -> None:
        route = self.layout.route(self.pos, p)
        # people do not walk on the aisle's centre line: each turn point is off it by a few dm
        for i in range(1, len(route) - 1):
            dx, dy = np.clip(self.rng.normal(0.0, 0.25, size=2), -0.45, 0.45)
            route[i] = (route[i][0] + float(dx), route[i][1] + float(dy))
        self.plan.traj.walk(route, self.speed * pace)

    def stand(self, duration: float, spot: Spot | None = None, look: bool = True) -> None:
        t0 = self.t
        self.plan.traj.stand(duration, spot.pos if spot else None)
        if spot is not None and look and duration >= 1.5:
            self._event(t0 + 0.4, EventType.ATTENTION_STARTED, spot.shelf, category=spot.category)
            self._event(
                self.t,
                EventType.ATTENTION_ENDED,
                spot.shelf,
                category=spot.category,
                duration_s=round(self.t - t0 - 0.4, 2),
            )

    def look_around(self, targets: list[Spot], n: int) -> None:
        """Short glances at ``n`` different shelves/displays while standing (searching, lost)."""
        picks = self.rng.choice(len(targets), size=min(n, len(targets)), replace=False)
        here = self.pos
        for i in picks:
            s = targets[int(i)]
            t0 = self.t
            self.plan.traj.stand(self.u(1.0, 1.8), here)
            self._event(t0 + 0.2, EventType.ATTENTION_STARTED, s.shelf, category=s.category)
            self._event(
                self.t, EventType.ATTENTION_ENDED, s.shelf, category=s.category, duration_s=round(self.t - t0 - 0.2, 2)
            )

    def reach(self, spot: Spot, outcome: str | None = None) -> None:
        """Reach into the shelf (1-2.5 s); ``outcome`` 'pick' or 'return' adds that event."""
        dur = self.u(1.0, 2.5)
        self.plan.traj.stand(dur, spot.pos, drift_m=0.03)
        side = "right" if self.rng.random() < 0.7 else "left"
        self._event(
            self.t, EventType.SHELF_REACH, spot.shelf, category=spot.category, side=side, duration_s=round(dur, 2)
        )
        if outcome == "pick":
            self._event(self.t + 0.3, EventType.PRODUCT_PICKED, spot.shelf, category=spot.category, confidence=0.9)
            self.held.append(spot)
        elif outcome == "return":
            self._event(self.t + 0.3, EventType.PRODUCT_RETURNED, spot.shelf, category=spot.category, confidence=0.9)
            if spot in self.held:
                self.held.remove(spot)

    def leave(self) -> None:
        self.walk_to(self.layout.door)
        self.plan.end = self.t

    # ------------------------------------------------------------------------- choices --
    def spot_in(self, category: str, near: Point | None = None) -> Spot:
        spots = self.layout.spots_in(category)
        if near is not None:
            spots = sorted(spots, key=lambda s: (s.pos[0] - near[0]) ** 2 + (s.pos[1] - near[1]) ** 2)[:3]
        return spots[int(self.rng.integers(len(spots)))]

    def other_categories(self, exclude: str | None, n: int) -> list[str]:
        cats = [c for c in self.layout.categories if c != exclude]
        idx = self.rng.choice(len(cats), size=min(n, len(cats)), replace=False)
        return [cats[int(i)] for i in idx]

    def browse_stops(self, n: int, exclude: str | None = None) -> None:
        if n <= 0:
            return
        for cat in self.other_categories(exclude, n):
            spot = self.spot_in(cat)
            self.walk_to(spot.pos, pace=self.u(0.75, 0.9))
            self.phase(S.BROWSING)  # browsing shows from the first stop at a shelf
            self.stand(self.u(2.0, 6.0), spot)
            if self.rng.random() < 0.2:
                self.reach(spot)


# ------------------------------------------------------------------------------ scripts --
def _pass_through(b: ShopperBuilder) -> None:
    lay = b.layout
    b.phase(S.PASSING_THROUGH)
    if b.rng.random() < 0.6 or len(lay.categories) < 2:
        public = [
            n
            for n, p in lay.nodes.items()
            if not n.startswith(("staff", "till", "door", "q"))
            and abs(p[0] - lay.door[0]) + abs(p[1] - lay.door[1]) >= 8
        ] or list(lay.nodes)
        b.walk_to(lay.nodes[public[int(b.rng.integers(len(public)))]])
    else:  # cut through the store: up one aisle, along the back, and out
        a, c = b.other_categories(None, 2)
        b.walk_to(b.spot_in(a).pos)
        b.walk_to(b.spot_in(c).pos)
    if b.rng.random() < 0.3:
        b.stand(b.u(0.5, 1.2), look=False)
    b.leave()


def _browse(b: ShopperBuilder) -> None:
    b.browse_stops(int(b.rng.integers(3, 7)))
    b.leave()


def _consider(b: ShopperBuilder, cat: str) -> None:
    b.browse_stops(int(b.rng.integers(0, 2)), exclude=cat)
    spot = b.spot_in(cat)
    b.walk_to(spot.pos, pace=0.9)
    b.phase(S.CONSIDERING, cat)
    total = b.u(20, 60)
    end = b.t + total
    while b.t < end:
        b.stand(b.u(5, 14), spot)
        if b.rng.random() < 0.5:
            b.reach(spot)
        if b.t < end and b.rng.random() < 0.4:
            spot = b.spot_in(cat, near=spot.pos)
            b.walk_to(spot.pos, pace=0.6)
    if b.rng.random() < 0.3:  # steps away and comes back for one more look
        other = b.spot_in(b.other_categories(cat, 1)[0])
        b.walk_to(other.pos, pace=0.85)
        b.stand(b.u(2, 5), other)
        b.walk_to(spot.pos, pace=0.9)
        b.stand(b.u(5, 10), spot)
    b.phase(S.LEAVING_WITHOUT_PURCHASE, cat)
    b.leave()


def _need_help(b: ShopperBuilder, cat: str) -> None:
    b.browse_stops(int(b.rng.integers(0, 2)), exclude=cat)
    spot = b.spot_in(cat)
    b.walk_to(spot.pos, pace=0.9)
    b.phase(S.CONSIDERING, cat)
    b.stand(b.u(6, 12), spot)
    b.reach(spot)
    b.phase(S.NEEDS_ASSISTANCE, cat)
    b.set_affect("confused" if b.rng.random() < 0.65 else "negative", b.u(0.6, 0.85))
    end = b.t + b.u(35, 80)
    around = [
        s
        for s in b.layout.spots
        if s.shelf != spot.shelf and abs(s.pos[0] - spot.pos[0]) + abs(s.pos[1] - spot.pos[1]) < 8
    ]
    while b.t < end:
        b.look_around(around or b.layout.spots, int(b.rng.integers(3, 6)))
        b.reach(spot, "pick")
        b.stand(b.u(2, 4), spot)
        b.reach(spot, "return")
        b.stand(b.u(3, 6), spot)
        if b.rng.random() < 0.3:
            spot = b.spot_in(cat, near=spot.pos)
            b.walk_to(spot.pos, pace=0.5)
    if b.rng.random() < 0.5:  # helped (or gave it one more go) and buys
        b.set_affect("positive", b.u(0.5, 0.7))
        b.reach(spot, "pick")
        b.phase(S.HIGH_INTENT, cat)
        _to_checkout(b)
    else:
        b.phase(S.LEAVING_WITHOUT_PURCHASE, cat)
        b.leave()


def _hesitate(b: ShopperBuilder, cat: str) -> None:
    b.browse_stops(int(b.rng.integers(0, 2)), exclude=cat)
    spot = b.spot_in(cat)
    b.walk_to(spot.pos, pace=0.9)
    b.phase(S.CONSIDERING, cat)
    b.stand(b.u(5, 10), spot)
    b.set_affect("neutral" if b.rng.random() < 0.6 else "confused", b.u(0.5, 0.7))
    cycles = int(b.rng.integers(2, 4))
    keep = b.rng.random() < 0.5
    for k in range(cycles):
        b.reach(spot, "pick")
        b.stand(b.u(3, 8), spot, look=False)
        last = k == cycles - 1
        if last and keep:
            b.phase(S.HIGH_INTENT, cat)
            break
        b.reach(spot, "return")
        b.phase(S.HESITANT, cat)
        if last:
            break
        # walks off a few metres (along the aisle or to the next department) and comes back
        if b.rng.random() < 0.5:
            away = b.spot_in(b.other_categories(cat, 1)[0])
            b.walk_to(away.pos, pace=0.85)
            b.stand(b.u(2, 5), away)
        else:
            far = max(
                b.layout.spots_in(cat), key=lambda s: (s.pos[0] - spot.pos[0]) ** 2 + (s.pos[1] - spot.pos[1]) ** 2
            )
            b.walk_to(far.pos, pace=0.85)
            b.stand(b.u(1, 4), far)
        b.walk_to(spot.pos, pace=0.9)
        b.stand(b.u(2, 5), spot)
    if keep:
        _to_checkout(b)
    else:
        b.phase(S.LEAVING_WITHOUT_PURCHASE, cat)
        b.leave()


def _buy(b: ShopperBuilder, cat: str) -> None:
    b.browse_stops(int(b.rng.integers(0, 3)), exclude=cat)
    spot = b.spot_in(cat)
    b.walk_to(spot.pos, pace=0.9)
    b.phase(S.CONSIDERING, cat)
    b.stand(b.u(4, 15), spot)
    if b.rng.random() < 0.5:
        b.reach(spot)
    b.reach(spot, "pick")
    b.set_affect("positive" if b.rng.random() < 0.5 else "neutral", b.u(0.5, 0.75))
    b.phase(S.HIGH_INTENT, cat)
    b.stand(b.u(1, 3), spot, look=False)
    if b.rng.random() < 0.4:
        other = b.spot_in(b.other_categories(cat, 1)[0])
        b.walk_to(other.pos, pace=0.9)
        b.stand(b.u(3, 8), other)
        b.reach(other, "pick")
    _to_checkout(b)


def _staff(b: ShopperBuilder) -> None:
    lay = b.layout
    for _ in range(int(b.rng.integers(2, 5))):
        spot = lay.spots[int(b.rng.integers(len(lay.spots)))]
        b.walk_to(spot.pos)
        b.stand(b.u(10, 30), spot, look=False)
    b.walk_to(lay.staff_room or lay.door)
    b.plan.end = b.t


def _to_checkout(b: ShopperBuilder) -> None:
    lay = b.layout
    if lay.queue_entry is None or lay.till is None:
        b.phase(S.CHECKOUT)
        b.leave()
        return
    b.walk_to(lay.queue_entry)
    b.plan.wants_checkout = True
    b.plan.queue_arrival = b.t


def finish_checkout(b: ShopperBuilder, ahead_starts: list[float], service_start: float, service_end: float) -> None:
    """Second half of a buyer's script, once the shared till's schedule is known: stand in the
    queue slot behind those ahead (stepping forward as each is served), pay, leave."""
    lay = b.layout
    assert lay.till is not None
    slots = lay.queue_slots or [lay.queue_entry or lay.till]
    b.phase(S.CHECKOUT)
    waiting = sorted(t for t in ahead_starts if t > b.t)
    k = len(waiting)
    b.walk_to(slots[min(k, len(slots) - 1)], pace=0.8)
    for t_next in waiting:
        if t_next > b.t:
            b.stand(t_next - b.t, look=False)
        k -= 1
        b.walk_to(slots[min(k, len(slots) - 1)], pace=0.6)
    if service_start > b.t:
        b.stand(service_start - b.t, look=False)
    b.walk_to(lay.till, pace=0.9)
    if service_end > b.t:
        b.stand(service_end - b.t, look=False)
    b.set_affect("neutral", b.u(0.5, 0.7))
    b.leave()


def build_plan(
    layout: StoreLayout, rng: np.random.Generator, shopper: int, script: str, t0: float
) -> tuple[ShopperPlan, ShopperBuilder]:
    """Run ``script`` from the door (the stockroom for staff) at ``t0``. A buyer's plan stops at
    the queue entry (``wants_checkout``); :func:`finish_checkout` completes it."""
    if script not in PRIMARY:
        raise ValueError(f"unknown script {script!r} (known: {', '.join(SCRIPTS)})")
    staff = script == "staff"
    start = layout.staff_room if staff and layout.staff_room is not None else layout.door
    plan = ShopperPlan(shopper, script, staff, Trajectory(t0, start, rng))
    b = ShopperBuilder(layout, rng, plan)
    cats = [c for c in layout.categories if len(layout.spots_in(c)) >= 2] or layout.categories
    cat = cats[int(rng.integers(len(cats)))]
    if script in ("consider", "need_help", "hesitate", "buy"):
        plan.category = cat
    if script == "pass_through":
        _pass_through(b)
    elif script == "browse":
        _browse(b)
    elif script == "consider":
        _consider(b, cat)
    elif script == "need_help":
        _need_help(b, cat)
    elif script == "hesitate":
        _hesitate(b, cat)
    elif script == "buy":
        _buy(b, cat)
    else:
        _staff(b)
    return plan, b
