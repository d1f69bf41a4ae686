"""A compact stand-in for the behaviour stage: zone stays, revisits, lingering, queues, visits.

The simulator needs the events the behaviour analytics (issue 4) would publish from its tracks:
``visit.started/ended``, ``zone.entered/exited`` (with dwell), ``zone.revisited``,
``zone.lingering`` and ``queue.updated``. This class produces them from floor positions with the
same semantics and the same config knobs (``zone_analytics`` grace periods and minimum dwell,
``behaviour`` revisit gap, lingering speed/time, subject timeout), so the intent engine sees what it
would see live: entries announced after the enter grace and minimum dwell but time-stamped at the
first inside sighting, exits announced after the exit grace, stamped at the last inside sighting.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from storelens.config.schema import BehaviourConfig, ZoneAnalyticsConfig, ZoneConfig, ZoneKind
from storelens.events.models import Event, EventType

__all__ = ["ZoneObserver"]


@dataclass(slots=True)
class _Stay:
    first: float
    last: float
    announced: bool = False
    slow_since: float | None = None
    lingered: bool = False


@dataclass(slots=True)
class _Subject:
    first: float
    last: float
    staff: bool = False
    staff_announced: bool = False
    pos: deque[tuple[float, float, float]] = field(default_factory=deque)
    stays: dict[str, _Stay] = field(default_factory=dict)
    ended: dict[str, tuple[float, int]] = field(default_factory=dict)  # zone -> (last exit, stays)


class ZoneObserver:
    """Feed :meth:`update` once per frame with ``(subject, x, y, staff)`` rows (floor metres)."""

    def __init__(
        self,
        store_id: str,
        zones: Sequence[ZoneConfig],
        zone_cfg: ZoneAnalyticsConfig | None = None,
        behaviour: BehaviourConfig | None = None,
        camera_id: str | None = "sim",
        staff_flag_after_s: float = 10.0,
    ) -> None:
        self.store_id = store_id
        self.zones = [z for z in zones if z.space == "floor"]
        self._by_id = {z.id: z for z in self.zones}
        # every zone edge in one table, so membership of all shoppers in all zones is one
        # vectorised even-odd test per frame (the same rule as core.geometry.points_in_polygon)
        edges: list[tuple[float, float, float, float, int]] = []
        starts: list[int] = []
        for j, z in enumerate(self.zones):
            poly = np.asarray(z.points, dtype=np.float64)
            starts.append(len(edges))
            for a, b in zip(poly, np.roll(poly, -1, axis=0), strict=True):
                edges.append((float(a[0]), float(a[1]), float(b[0]), float(b[1]), j))
        self._edges = np.asarray(edges, dtype=np.float64).reshape(-1, 5)
        self._starts = np.asarray(starts, dtype=np.intp)
        self.zc = zone_cfg or ZoneAnalyticsConfig()
        self.bc = behaviour or BehaviourConfig()
        self.camera_id = camera_id
        self.staff_flag_after_s = staff_flag_after_s
        self._subjects: dict[str, _Subject] = {}
        self._queue_len: dict[str, int] = {}

    def _payload(self, z: ZoneConfig) -> dict[str, object]:
        return {"zone_name": z.label, "zone_kind": str(z.kind), "category": z.category}

    def _ev(
        self, etype: EventType, t: float, subject: str | None, zone: ZoneConfig | None = None, **p: object
    ) -> Event:
        if zone is not None:
            p = {**self._payload(zone), **p}
        return Event.at(
            etype, self.store_id, t, camera_id=self.camera_id, zone_id=zone.id if zone else None, subject=subject, **p
        )

    def update(self, now: float, rows: Sequence[tuple[str, float, float, bool]]) -> list[Event]:
        out: list[Event] = []
        if rows:
            inside = self._inside(np.array([(x, y) for _, x, y, _ in rows], dtype=np.float64))
        for i, (subj, x, y, staff) in enumerate(rows):
            s = self._subjects.get(subj)
            if s is None:
                s = self._subjects[subj] = _Subject(now, now)
                out.append(self._ev(EventType.VISIT_STARTED, now, subj))
            s.last = now
            s.pos.append((now, x, y))
            while s.pos and now - s.pos[0][0] > self.bc.speed_window_s + 0.5:
                s.pos.popleft()
            if staff and not s.staff and now - s.first >= self.staff_flag_after_s:
                s.staff = True
            speed = self._speed(s, now)
            for j in np.flatnonzero(inside[i]):
                z = self.zones[int(j)]
                st = s.stays.get(z.id)
                if st is None:
                    st = s.stays[z.id] = _Stay(now, now)
                st.last = now
                self._advance(out, subj, s, z, st, now, speed)
        for subj, s in list(self._subjects.items()):
            if s.staff and not s.staff_announced:
                s.staff_announced = True
                out.append(self._ev(EventType.VISIT_STARTED, now, subj, staff=True))
            for zid, st in list(s.stays.items()):
                if now - st.last > self.zc.exit_grace_s:
                    del s.stays[zid]
                    z = self._by_id[zid]
                    if st.announced:
                        out.append(
                            self._ev(
                                EventType.ZONE_EXITED,
                                st.last,
                                subj,
                                z,
                                dwell_s=round(st.last - st.first, 3),
                                staff=s.staff,
                            )
                        )
                        prev = s.ended.get(zid, (0.0, 0))
                        s.ended[zid] = (st.last, prev[1] + 1)
            if now - s.last > self.bc.subject_timeout_s:
                for zid, st in s.stays.items():
                    if st.announced:
                        z = self._by_id[zid]
                        out.append(
                            self._ev(EventType.ZONE_EXITED, st.last, subj, z, dwell_s=round(st.last - st.first, 3))
                        )
                out.append(self._ev(EventType.VISIT_ENDED, s.last, subj, duration_s=round(s.last - s.first, 3)))
                del self._subjects[subj]
        out.extend(self._queues(now))
        out.sort(key=lambda e: e.ts)
        return out

    def _inside(self, pts: np.ndarray) -> np.ndarray:
        """(N, Z) membership of N points in every zone."""
        if len(self.zones) == 0:
            return np.zeros((len(pts), 0), dtype=bool)
        e = self._edges
        x, y = pts[:, 0:1], pts[:, 1:2]
        x1, y1, x2, y2 = e[:, 0], e[:, 1], e[:, 2], e[:, 3]
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = (x2 - x1) * (y - y1) / (y2 - y1) + x1
        hits = (crosses & (x < x_at)).astype(np.int32)
        return np.add.reduceat(hits, self._starts, axis=1) % 2 == 1

    def close(self, now: float) -> list[Event]:
        out: list[Event] = []
        for subj, s in self._subjects.items():
            for zid, st in s.stays.items():
                if st.announced:
                    z = self._by_id[zid]
                    out.append(self._ev(EventType.ZONE_EXITED, st.last, subj, z, dwell_s=round(st.last - st.first, 3)))
            out.append(self._ev(EventType.VISIT_ENDED, s.last, subj, duration_s=round(s.last - s.first, 3)))
        self._subjects.clear()
        return out

    def _speed(self, s: _Subject, now: float) -> float:
        ref = s.pos[0]
        for p in s.pos:
            if now - p[0] <= self.bc.speed_window_s:
                break
            ref = p
        dt = now - ref[0]
        if dt <= 0:
            return 0.0
        _, x, y = s.pos[-1]
        return math.hypot(x - ref[1], y - ref[2]) / dt

    def _advance(
        self, out: list[Event], subj: str, s: _Subject, z: ZoneConfig, st: _Stay, now: float, speed: float
    ) -> None:
        if not st.announced and now - st.first >= max(self.zc.enter_grace_s, self.zc.min_dwell_s):
            st.announced = True
            out.append(self._ev(EventType.ZONE_ENTERED, st.first, subj, z, staff=s.staff))
            prev = s.ended.get(z.id)
            if prev is not None and st.first - prev[0] >= self.bc.revisit_gap_s:
                out.append(
                    self._ev(
                        EventType.ZONE_REVISITED, now, subj, z, count=prev[1] + 1, away_s=round(st.first - prev[0], 3)
                    )
                )
        if not st.announced or st.lingered:
            return
        if speed < self.bc.lingering_speed_mps:
            if st.slow_since is None:
                st.slow_since = now
            elif now - st.slow_since >= self.bc.lingering_min_s:
                st.lingered = True
                out.append(self._ev(EventType.ZONE_LINGERING, now, subj, z, duration_s=round(now - st.slow_since, 3)))
        else:
            st.slow_since = None

    def _queues(self, now: float) -> list[Event]:
        out: list[Event] = []
        for z in self.zones:
            if z.kind != ZoneKind.QUEUE:
                continue
            n = sum(1 for s in self._subjects.values() if z.id in s.stays and s.stays[z.id].announced)
            if self._queue_len.get(z.id) != n:
                self._queue_len[z.id] = n
                out.append(self._ev(EventType.QUEUE_UPDATED, now, None, z, length=n))
        return out
