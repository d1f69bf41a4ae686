"""Revisits: a shopper comes back to a zone after being away for at least ``revisit_gap_s``.

A return after a short absence is already folded into one stay by the zone exit grace; a revisit
is the slower "looked at the TVs, walked the store, came back to the TVs" that signals interest.
Gaps are measured in media time between the end of one reported stay and the start of the next.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from storelens.analytics.zones import ZoneStay, ZoneTransition
from storelens.config.cameras import ZoneConfig
from storelens.events.models import Event
from storelens.events.payloads import ZoneRevisited

__all__ = ["Revisit", "RevisitDetector", "find_revisits"]


@dataclass(frozen=True, slots=True)
class Revisit:
    subject: int
    zone_id: str
    gap_s: float
    visit_number: int  # 2 for the first return
    wall: float  # start of the returning stay


def find_revisits(stays: Iterable[ZoneStay], gap_s: float) -> list[Revisit]:
    """Revisits in a list of finished stays (offline form, for aggregates and checks)."""
    by_key: dict[tuple[int, str], list[ZoneStay]] = {}
    for s in stays:
        by_key.setdefault((s.subject, s.zone_id), []).append(s)
    out: list[Revisit] = []
    for (subj, zid), group in by_key.items():
        group.sort(key=lambda s: s.enter_pts)
        for i in range(1, len(group)):
            gap = group[i].enter_pts - group[i - 1].exit_pts
            if gap >= gap_s:
                out.append(Revisit(subj, zid, gap, i + 1, group[i].enter_wall))
    out.sort(key=lambda r: r.wall)
    return out


class RevisitDetector:
    """Online form: feed it the zone transitions of each frame; emits ``zone.revisited``."""

    def __init__(self, store_id: str, camera_id: str | None, zones: Sequence[ZoneConfig], gap_s: float) -> None:
        self.store_id = store_id
        self.camera_id = camera_id
        self.gap_s = gap_s
        self._zones = {z.id: z for z in zones}
        self._last_exit: dict[tuple[int, str], float] = {}
        self._count: dict[tuple[int, str], int] = {}
        self.revisits: list[Revisit] = []

    def update(self, transitions: Iterable[ZoneTransition]) -> list[Event]:
        events: list[Event] = []
        for tr in transitions:
            key = (tr.subject, tr.zone_id)
            if tr.kind == "exit":
                self._last_exit[key] = tr.pts
                continue
            n = self._count.get(key, 0) + 1
            self._count[key] = n
            last = self._last_exit.get(key)
            if last is None or tr.pts - last < self.gap_s:
                continue
            rv = Revisit(tr.subject, tr.zone_id, tr.pts - last, n, tr.wall)
            self.revisits.append(rv)
            zone = self._zones.get(tr.zone_id)
            events.append(
                Event.of(
                    ZoneRevisited(
                        zone_name=zone.label if zone else tr.zone_id, gap_s=round(rv.gap_s, 3), visit_number=n
                    ),
                    self.store_id,
                    tr.wall,
                    camera_id=self.camera_id,
                    zone_id=tr.zone_id,
                    subject=tr.subject,
                )
            )
        return events

    def forget(self, subjects: Iterable[int]) -> None:
        """Drop state of visits that ended (keeps memory flat over a long run)."""
        gone = set(subjects)
        for d in (self._last_exit, self._count):
            for key in [k for k in d if k[0] in gone]:
                del d[key]
