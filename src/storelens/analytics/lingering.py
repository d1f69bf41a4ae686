"""Lingering: staying slow inside a zone (browsing a shelf) rather than walking through it.

Dwell alone cannot tell a shopper studying a display from one queuing past it in a crowd; speed
can. A subject lingers in a zone once its windowed speed has stayed below the threshold for
``lingering_min_s`` while inside; the event fires once per slow spell, and a spell ends when the
subject speeds up or leaves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from storelens.analytics.slots import SlotMap, grow
from storelens.config.cameras import ZoneConfig
from storelens.events.models import Event
from storelens.events.payloads import ZoneLingering

__all__ = ["LingeringDetector", "slow_spells"]


def slow_spells(
    t: npt.ArrayLike, speed: npt.ArrayLike, inside: npt.ArrayLike, threshold: float, min_s: float
) -> list[tuple[float, float]]:
    """Reference form for one subject and zone: (start, end) of every slow-and-inside spell lasting
    at least ``min_s``. A NaN speed (not yet measurable) counts as not slow."""
    tt = np.asarray(t, dtype=np.float64)
    ok = (np.nan_to_num(np.asarray(speed, dtype=np.float64), nan=np.inf) < threshold) & np.asarray(inside, bool)
    out: list[tuple[float, float]] = []
    start: float | None = None
    for i in range(len(tt)):
        if ok[i] and start is None:
            start = float(tt[i])
        if (not ok[i] or i == len(tt) - 1) and start is not None:
            end = float(tt[i]) if ok[i] else float(tt[i - 1])
            if end - start >= min_s:
                out.append((start, end))
            start = None
    return out


class LingeringDetector:
    """Slow spells per (subject, zone) in slot arrays: one vectorised pass per frame."""

    def __init__(
        self,
        store_id: str,
        camera_id: str | None,
        zones: Sequence[ZoneConfig],
        speed_threshold: float,
        min_s: float,
        unit: str,
    ) -> None:
        self.store_id = store_id
        self.camera_id = camera_id
        self.zones = list(zones)
        self.threshold = speed_threshold
        self.min_s = min_s
        self.unit = unit
        nz = len(self.zones)
        self._slots = SlotMap()
        self._start = np.zeros((0, nz))  # NaN: no spell
        self._reported = np.zeros((0, nz), dtype=bool)
        self._sum = np.zeros((0, nz))
        self._n = np.zeros((0, nz))
        self.counts: dict[str, int] = {z.id: 0 for z in self.zones}

    def update(
        self,
        subjects: npt.NDArray[np.int64],
        speeds: npt.NDArray[np.float64],
        membership: npt.NDArray[np.bool_],
        pts: float,
        wall_time: float,
    ) -> list[Event]:
        """``membership`` is the (N, Z) zone mask for ``self.zones``; ``speeds`` NaN = unknown."""
        if not self.zones:
            return []
        # NaN (unknown speed) compares False, exactly as the +inf it used to be replaced by
        slow = speeds < self.threshold
        here = membership & slow[:, None]
        rows = np.nonzero(here.any(axis=1))[0]
        if len(rows) == 0 and len(self._slots) == 0:
            return []  # nobody slow in a zone now or before: nothing to do
        cap_before = len(self._start)
        if len(rows):
            idx, _ = self._slots.lookup(np.asarray(subjects)[rows].tolist())
            cap = self._slots.capacity
            if cap > cap_before:
                cap = max(cap, 2 * cap_before, 16)
                self._start = grow(self._start, cap, np.nan)
                self._reported = grow(self._reported, cap, False)
                self._sum = grow(self._sum, cap, 0.0)
                self._n = grow(self._n, cap, 0.0)
        else:
            idx = np.zeros(0, dtype=np.intp)
        h = np.zeros(self._start.shape, dtype=bool)
        h[idx] = here[rows]
        active = ~np.isnan(self._start)
        ending = active & ~h
        self._start[ending] = np.nan
        self._reported[ending] = False
        self._sum[ending] = 0.0
        self._n[ending] = 0.0
        starting = h & ~active
        self._start[starting] = pts
        self._sum[idx] += np.where(here[rows], speeds[rows, None], 0.0)
        self._n[idx] += here[rows]
        newly = h & ~self._reported & (pts - self._start >= self.min_s)  # NaN start: no spell, compares False
        events: list[Event] = []
        ns, nj = newly.nonzero()  # row-major, as argwhere
        for slot, j in zip(ns.tolist(), nj.tolist(), strict=True):
            self._reported[slot, j] = True
            zone = self.zones[j]
            self.counts[zone.id] += 1
            subject = self._slots.subject_of[slot]
            assert subject is not None
            events.append(
                Event.of(
                    ZoneLingering(
                        zone_name=zone.label,
                        duration_s=round(pts - float(self._start[slot, j]), 3),
                        mean_speed=round(float(self._sum[slot, j] / self._n[slot, j]), 4),
                        speed_unit=self.unit,
                    ),
                    self.store_id,
                    wall_time,
                    camera_id=self.camera_id,
                    zone_id=zone.id,
                    subject=subject,
                )
            )
        n = self._slots.capacity
        idle = (~h[:n].any(axis=1) & self._slots.active()).nonzero()[0]
        if len(idle):
            self._slots.release(idle)
        return events
