"""Common paths through the store: what the journeys of many store visits have in common.

A journey is the sequence of floor zones one fused store visit entered
(:class:`~storelens.analytics.storelevel.StoreLevelStage`). One journey says little; a retailer
asks of many: where do people go from each zone (a Sankey-style flow table: from, to, count), where
do they go first once inside, and where were they last before the till. This module answers from
the journeys alone, so the run summary, the API and the exports give the same figures.

* **flows**: each step of a journey (zone a, then zone b) counts once per visit and step, so a
  shopper walking a > b > a > b adds two a > b flows: the table is how often a walk crosses from one
  zone to the next, which is what a flow picture draws;
* **first zone after entry**: the first zone of the journey that is not an entrance zone (a journey
  that never leaves the entrance has none);
* **last zone before the till**: for journeys that reach a checkout zone, the last zone before the
  first checkout that is neither a queue nor an entrance (waiting in line is not a choice of where
  to shop); a journey straight from the door to the till has none.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from storelens.analytics.zones import ZoneTransition

__all__ = ["JOURNEY_MIN_STAY_S", "JourneyFlows", "JourneySteps", "journey_flows"]

JOURNEY_MIN_STAY_S = 1.0
"""A zone is a journey step once a stay in it has lasted this long (the zone logic's own grace
periods still apply): a corner cut across a zone for half a second is not a place on the way."""


@dataclass(slots=True)
class JourneySteps:
    """Each subject's journey from the zone transitions: the zones (of ``zones``) it stayed in for
    at least ``min_stay_s``, in order of entry, one step per stay, a zone repeated back to back
    counted once. The one definition for store visits and for the benchmark's ground truth."""

    zones: Collection[str]
    min_stay_s: float = JOURNEY_MIN_STAY_S
    _open: dict[tuple[int, str], tuple[float, bool]] = field(default_factory=dict)  # -> (entry wall, counted)
    _steps: dict[int, list[tuple[float, str]]] = field(default_factory=dict)

    def feed(self, transitions: Iterable[ZoneTransition], wall: float) -> None:
        """One update's transitions, then every open stay checked against ``wall``."""
        for tr in transitions:
            if tr.zone_id not in self.zones:
                continue
            key = (tr.subject, tr.zone_id)
            if tr.kind == "enter":
                self._open[key] = (tr.wall, False)
            elif key in self._open:
                t0, counted = self._open.pop(key)
                if not counted and tr.wall - t0 >= self.min_stay_s:
                    self._steps.setdefault(tr.subject, []).append((t0, tr.zone_id))
        for key, (t0, counted) in list(self._open.items()):
            if not counted and wall - t0 >= self.min_stay_s:
                self._open[key] = (t0, True)
                self._steps.setdefault(key[0], []).append((t0, key[1]))

    def journey(self, subject: int) -> list[str]:
        out: list[str] = []
        for _, zone in sorted(self._steps.get(subject, [])):
            if not out or out[-1] != zone:
                out.append(zone)
        return out

    def forget(self, subject: int) -> None:
        """Drop a finished subject's state."""
        self._steps.pop(subject, None)
        for key in [k for k in self._open if k[0] == subject]:
            del self._open[key]


@dataclass(frozen=True, slots=True)
class JourneyFlows:
    visits: int
    """Journeys counted (store visits with at least one zone)."""
    flows: list[tuple[str, str, int]]
    """(from zone, to zone, count), most frequent first (ties by zone ids)."""
    paths: list[tuple[tuple[str, ...], int]]
    """Whole journeys and how many visits walked exactly that, most frequent first."""
    first_zone: list[tuple[str, int]]
    """First zone after the entrance, per zone."""
    last_before_till: list[tuple[str, int]]
    """Last zone before the till, per zone (only journeys that reached a checkout zone)."""
    reached_till: int
    """Journeys that entered a checkout zone."""


def _ranked(counter: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


def journey_flows(
    journeys: Sequence[Sequence[str]],
    *,
    entrances: Collection[str] = (),
    tills: Collection[str] = (),
    queues: Collection[str] = (),
    top: int | None = None,
) -> JourneyFlows:
    """The flow table of ``journeys`` (zone ids in order). ``entrances``, ``tills`` and ``queues``
    are the zone ids of those kinds; ``top`` keeps the most frequent flows/paths/zones (None: all)."""
    walked = [list(j) for j in journeys if j]
    flows: Counter[tuple[str, str]] = Counter()
    paths: Counter[tuple[str, ...]] = Counter()
    first: Counter[str] = Counter()
    last: Counter[str] = Counter()
    reached = 0
    for j in walked:
        paths[tuple(j)] += 1
        flows.update((a, b) for a, b in itertools.pairwise(j) if a != b)
        inside = next((z for z in j if z not in entrances), None)
        if inside is not None:
            first[inside] += 1
        till = next((i for i, z in enumerate(j) if z in tills), None)
        if till is not None:
            reached += 1
            before = [z for z in j[:till] if z not in queues and z not in entrances and z not in tills]
            if before:
                last[before[-1]] += 1
    flow_rows = sorted(((a, b, n) for (a, b), n in flows.items()), key=lambda r: (-r[2], r[0], r[1]))
    path_rows = sorted(paths.items(), key=lambda kv: (-kv[1], kv[0]))
    return JourneyFlows(
        visits=len(walked),
        flows=flow_rows[:top],
        paths=path_rows[:top],
        first_zone=_ranked(first)[:top],
        last_before_till=_ranked(last)[:top],
        reached_till=reached,
    )
