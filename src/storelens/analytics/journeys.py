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
from collections.abc import Collection, Sequence
from dataclasses import dataclass

__all__ = ["JourneyFlows", "journey_flows"]


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
