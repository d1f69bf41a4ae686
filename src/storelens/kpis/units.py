"""Buying units: people who came in together and moved together count as one shopper for conversion.

A couple or a family buys once; counting each of them as a visitor makes conversion look worse the
more people shop together, so retailers convert on *buying units*. Two visits are linked when

* they started within ``entry_window_s`` of each other (they came through the door together),
* their paths overlap in time for at least ``min_together_s``, and
* over that overlap they were within ``max_distance`` of each other for at least
  ``min_together_share`` of the time (sampled every ``sample_s`` on both interpolated paths).

Units are the connected groups of linked visits (A with B and B with C is one unit of three even
if A and C drifted apart). Distances are floor metres when the camera is calibrated; uncalibrated
paths are pixels, compared only within the same camera, against ``max_distance_px``.

Children are banded out by body height on the floor (``height_m`` below ``child_max_height_m``);
with ``exclude_children`` (the default) a child is not a visitor for conversion and a unit made
only of children is not a unit. A visit without a height is counted as an adult and reported in
``height_unknown``; a store with no heights at all gives children "not measured".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

__all__ = ["GroupingConfig", "Person", "UnitsResult", "buying_units", "linked"]


@dataclass(frozen=True, slots=True)
class GroupingConfig:
    entry_window_s: float = 10.0
    max_distance: float = 1.5
    max_distance_px: float = 80.0
    min_together_s: float = 30.0
    min_together_share: float = 0.6
    sample_s: float = 1.0
    child_max_height_m: float = 1.30
    exclude_children: bool = True


@dataclass(frozen=True, slots=True)
class Person:
    """One stored visit. ``path``: ``(t, x, y)`` with ``t`` in seconds on any clock of the visit's
    own source; it is placed on the wall clock by its first point = ``entered_at``."""

    subject: str
    entered_at: datetime
    path: Sequence[tuple[float, float, float]]
    space: str = "floor"  # "floor" (metres) or "image" (pixels)
    camera_id: str | None = None
    height_m: float | None = None


@dataclass(slots=True)
class UnitsResult:
    people: int
    children: int | None
    height_unknown: int
    visitors: int
    """People counted for conversion: adults (and unknown heights), or everyone when children are kept."""
    units: int
    unit_sizes: dict[int, int] = field(default_factory=dict)
    """Unit size (visitors in it) -> how many units had it."""
    groups: list[list[str]] = field(default_factory=list)
    """The subjects of each unit (visitors and their children), largest first."""


def _abs_path(p: Person) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    pts = [q for q in p.path if len(q) >= 3 and all(isinstance(v, int | float) and math.isfinite(v) for v in q[:3])]
    if not pts:
        return None
    a = np.asarray([q[:3] for q in pts], dtype=np.float64)
    a = a[np.argsort(a[:, 0], kind="stable")]
    t = a[:, 0] - a[0, 0] + p.entered_at.timestamp()
    return t, a[:, 1], a[:, 2]


def linked(a: Person, b: Person, cfg: GroupingConfig) -> bool:
    """Whether two visits move together by the rule in the module docstring."""
    if abs((a.entered_at - b.entered_at).total_seconds()) > cfg.entry_window_s:
        return False
    if a.space != b.space or (a.space != "floor" and a.camera_id != b.camera_id):
        return False
    pa, pb = _abs_path(a), _abs_path(b)
    if pa is None or pb is None:
        return False
    lo, hi = max(pa[0][0], pb[0][0]), min(pa[0][-1], pb[0][-1])
    if hi - lo < cfg.min_together_s:
        return False
    t = np.arange(lo, hi + 1e-9, cfg.sample_s)
    dx = np.interp(t, pa[0], pa[1]) - np.interp(t, pb[0], pb[1])
    dy = np.interp(t, pa[0], pa[2]) - np.interp(t, pb[0], pb[2])
    limit = cfg.max_distance if a.space == "floor" else cfg.max_distance_px
    share = float(np.mean(np.hypot(dx, dy) <= limit))
    return share >= cfg.min_together_share


def _is_child(p: Person, cfg: GroupingConfig) -> bool:
    return p.height_m is not None and p.height_m < cfg.child_max_height_m


def buying_units(people: Sequence[Person], cfg: GroupingConfig | None = None) -> UnitsResult:
    """Group ``people`` into buying units (pure)."""
    cfg = cfg or GroupingConfig()
    order = sorted(range(len(people)), key=lambda i: people[i].entered_at)
    parent = list(range(len(people)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # sweep in entry order: only visits within the entry window of each other are compared
    for k, i in enumerate(order):
        for j in order[k + 1 :]:
            if (people[j].entered_at - people[i].entered_at).total_seconds() > cfg.entry_window_s:
                break
            if find(i) != find(j) and linked(people[i], people[j], cfg):
                parent[find(j)] = find(i)
    measured = any(p.height_m is not None for p in people)
    child = [_is_child(p, cfg) for p in people]
    counts = [not (cfg.exclude_children and c) for c in child]
    comps: dict[int, list[int]] = {}
    for i in range(len(people)):
        comps.setdefault(find(i), []).append(i)
    sizes: dict[int, int] = {}
    groups: list[list[str]] = []
    for members in comps.values():
        n = sum(1 for i in members if counts[i])
        if n == 0:
            continue  # children on their own are no buying unit when children are excluded
        sizes[n] = sizes.get(n, 0) + 1
        groups.append(sorted(people[i].subject for i in members))
    groups.sort(key=lambda g: (-len(g), g))
    return UnitsResult(
        people=len(people),
        children=sum(child) if measured else None,
        height_unknown=sum(1 for p in people if p.height_m is None),
        visitors=sum(counts),
        units=sum(sizes.values()),
        unit_sizes=dict(sorted(sizes.items())),
        groups=groups,
    )
