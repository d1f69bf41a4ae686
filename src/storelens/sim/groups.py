"""Shoppers who come in groups, with children, walking the simulated store: the known answer for
the buying-unit and child-banding KPIs (:mod:`storelens.kpis.units`).

Each unit is planned first (ground truth: its members, who is a child, each body height); a unit's
leader walks from the door through a few shelf spots (standing at each) and back, and the others
follow at a side offset and a short lag, one of them sometimes splitting off to a nearby shelf for
a while (families do), so "together" is most of the visit, not all of it. Singles arrive at random
and some of them right behind a group (inside the entry window) but walk their own route: those
are what a rule based only on entering together would wrongly merge. Paths are down-sampled like
the pipeline's :class:`~storelens.analytics.paths.PathRecorder` (0.25 m steps); heights carry the
measurement noise of a keypoint estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from storelens.analytics.paths import downsample
from storelens.sim.layout import StoreLayout
from storelens.sim.trajectory import Trajectory

__all__ = ["GroupScenario", "SimVisitor", "simulate_groups"]


@dataclass(frozen=True, slots=True)
class SimVisitor:
    subject: str
    unit: int
    child: bool
    height_m: float
    """Measured (noisy) body height."""
    t0: float
    path: list[tuple[float, float, float]]


@dataclass(slots=True)
class GroupScenario:
    visitors: list[SimVisitor]
    units: list[list[str]] = field(default_factory=list)
    """True buying units: the subjects of each (children included)."""

    @property
    def adults(self) -> int:
        return sum(1 for v in self.visitors if not v.child)

    @property
    def children(self) -> int:
        return sum(1 for v in self.visitors if v.child)

    def adult_units(self) -> int:
        """Units with at least one adult: the buying units when children are excluded."""
        child = {v.subject for v in self.visitors if v.child}
        return sum(1 for u in self.units if any(s not in child for s in u))


def _leader(layout: StoreLayout, rng: np.random.Generator, t0: float, stops: int) -> Trajectory:
    tr = Trajectory(t0, layout.door, rng)
    for spot in rng.choice(len(layout.spots), size=stops, replace=False):
        s = layout.spots[int(spot)]
        tr.walk(layout.route(tr.pos, s.pos), float(rng.uniform(0.9, 1.2)))
        tr.stand(float(rng.uniform(15, 45)), s.pos)
    tr.walk(layout.route(tr.pos, layout.door), 1.1)
    return tr


def _stored(t: np.ndarray, xy: np.ndarray) -> list[tuple[float, float, float]]:
    keep = downsample(xy, 0.25)
    return [(round(float(t[i]), 2), round(float(xy[i, 0]), 3), round(float(xy[i, 1]), 3)) for i in keep]


def simulate_groups(
    units: int = 40,
    *,
    seed: int = 0,
    minutes: float = 60.0,
    p_group: float = 0.5,
    p_child: float = 0.35,
    tailgate_share: float = 0.3,
    height_noise_m: float = 0.04,
    layout: StoreLayout | None = None,
) -> GroupScenario:
    """``units`` buying units over ``minutes``; a unit is a group (2-4 people) with ``p_group``,
    each extra member a child with ``p_child``; a ``tailgate_share`` of the groups has a single
    stranger entering 2-6 s after it."""
    layout = layout or StoreLayout.demo()
    rng = np.random.default_rng([seed, 20])
    arrivals = np.sort(rng.uniform(0, minutes * 60 * 0.8, size=units))
    out = GroupScenario([])
    n = 0

    def add(unit: int, child: bool, t: np.ndarray, xy: np.ndarray) -> str:
        nonlocal n
        n += 1
        sid = f"v{n:04d}"
        true_h = rng.uniform(0.95, 1.22) if child else rng.uniform(1.52, 1.95)
        h = float(true_h + rng.normal(0, height_noise_m))
        out.visitors.append(SimVisitor(sid, unit, child, round(h, 3), float(t[0]), _stored(t, xy)))
        return sid

    for u, t0 in enumerate(arrivals):
        lead = _leader(layout, rng, float(t0), int(rng.integers(2, 5)))
        t = np.arange(lead.start, lead.t, 0.2)
        members = [add(u, False, t, lead.sample(t))]
        size = int(rng.integers(2, 5)) if rng.random() < p_group else 1
        for m in range(1, size):
            lag = float(rng.uniform(0.2, 1.0))
            side = rng.uniform(0.35, 0.8) * rng.choice([-1.0, 1.0])
            tm = t + lag
            xy = lead.sample(t) + np.array([side * 0.7, side * 0.7])
            xy += rng.normal(0, 0.05, size=xy.shape)
            if m == 1 and len(t) > 50 and rng.random() < 0.5:  # splits off for up to a quarter of the visit
                a = int(rng.integers(len(t) // 4, len(t) // 2))
                b = a + int(rng.integers(len(t) // 10, len(t) // 4))
                away = np.asarray(layout.spots[int(rng.integers(len(layout.spots)))].pos)
                xy[a:b] = away + rng.normal(0, 0.05, size=(b - a, 2))
            members.append(add(u, m >= 1 and rng.random() < p_child, tm, xy))
        out.units.append(members)
        if size > 1 and rng.random() < tailgate_share:  # a stranger right behind the group
            stranger = _leader(layout, rng, float(t0 + rng.uniform(2, 6)), int(rng.integers(1, 4)))
            ts = np.arange(stranger.start, stranger.t, 0.2)
            out.units.append([add(len(out.units) + 10_000, False, ts, stranger.sample(ts))])
    return out
