"""Zone enter/exit and dwell per shopper, with grace periods so a flickering box is one stay.

Why the grace periods: a detector misses a person for a frame, or the feet point jitters across a
polygon edge, and a naive "inside now / outside now" rule reports two short stays instead of one
long one (the failure every open-source peer has). So a stay is a small state machine per
(subject, zone):

* **enter**: the subject must be inside continuously for ``enter_grace_s``; the stay then starts
  at the *first* inside time (the grace is not lost from the dwell).
* **exit**: the subject must be outside (or missing from the tracks) for ``exit_grace_s``; the stay
  then ends at the *last* inside time, so a gap shorter than the grace joins two halves into one.
* **report**: a stay is announced (``zone.entered``) once it has lasted ``min_dwell_s``; shorter
  stays produce no event at all, so every ``zone.exited`` has a matching ``zone.entered``.

The key is ``tracks.subject_id`` (the stitched visit id when the tracker provides one), so a track
id switch that visit stitching repairs does not restart the dwell timer.

Durations use the frame ``pts`` (monotonic media time); event timestamps use ``wall_time``. Entry
and exit events carry the wall time of the first / last inside observation, not the moment the
grace period confirmed them, so stored events say when things actually happened.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from storelens.analytics.slots import SlotMap, grow
from storelens.config.behaviour import ZoneAnalyticsConfig
from storelens.config.cameras import ZoneConfig
from storelens.config.store import StoreConfig
from storelens.core.geometry import PolygonSet
from storelens.core.types import Tracks
from storelens.events.models import Event
from storelens.events.payloads import ZoneDwellExceeded, ZoneEntered, ZoneExited

log = logging.getLogger(__name__)

__all__ = ["ZoneAnalytics", "ZoneStay", "ZoneTransition", "zone_membership"]


@dataclass(frozen=True, slots=True)
class ZoneStay:
    """One finished, reported stay of a subject in a zone."""

    subject: int
    zone_id: str
    enter_wall: float
    exit_wall: float
    dwell_s: float
    enter_pts: float = 0.0
    exit_pts: float = 0.0
    camera_id: str | None = None


@dataclass(frozen=True, slots=True)
class ZoneTransition:
    """A reported entry ("enter": at the stay's first inside time) or exit ("exit": last inside
    time), with media time for the measures that need durations (revisits, queue waits)."""

    kind: str  # "enter" | "exit"
    zone_id: str
    subject: int
    pts: float
    wall: float


class _PreparedZones:
    """Zones grouped by coordinate space, each group as one :class:`PolygonSet`."""

    def __init__(self, zones: Sequence[ZoneConfig]) -> None:
        self.zones = list(zones)
        self.groups: list[tuple[str, npt.NDArray[np.intp], PolygonSet]] = []
        for space in ("image", "floor"):
            cols = np.asarray([j for j, z in enumerate(self.zones) if z.space == space], dtype=np.intp)
            if len(cols):
                self.groups.append((space, cols, PolygonSet([self.zones[j].points for j in cols])))

    def membership(self, tracks: Tracks) -> npt.NDArray[np.bool_]:
        floor = None if tracks.floor_xy is None else np.asarray(tracks.floor_xy, dtype=np.float64)
        return self.membership_points(np.asarray(tracks.bottom_center, dtype=np.float64), floor)

    def membership_points(
        self, image_points: npt.NDArray[np.float64], floor_points: npt.NDArray[np.float64] | None
    ) -> npt.NDArray[np.bool_]:
        n = len(image_points)
        out = np.zeros((n, len(self.zones)), dtype=bool)
        if n == 0:
            return out
        for space, cols, polys in self.groups:
            if space == "floor":
                if floor_points is None:
                    first = self.zones[int(cols[0])].id
                    raise ValueError(
                        f"zone {first!r} is in floor space but the tracks have no floor_xy "
                        "(run the FloorMapper first, or give this camera a calibration)"
                    )
                pts = floor_points
            else:
                pts = image_points
            # NaN points (e.g. feet beyond the calibrated floor) are outside every polygon
            out[:, cols] = polys.contains(pts)
        return out


def zone_membership(tracks: Tracks, zones: Sequence[ZoneConfig]) -> npt.NDArray[np.bool_]:
    """(N, Z) boolean: whether each track's feet point is inside each zone.

    Image-space zones test the box's bottom centre in frame pixels; floor-space zones test
    ``tracks.floor_xy`` (metres). A floor zone with tracks that have no ``floor_xy`` is a wiring
    error (the floor mapper did not run) and raises rather than silently reporting nobody.
    """
    return _PreparedZones(zones).membership(tracks)


class ZoneAnalytics:
    """Per-camera zone stays: call :meth:`update` once per analysed frame (also with empty tracks),
    and :meth:`close` at the end of the stream.

    By default it watches the image-space zones drawn on ``camera_id``; pass ``zones`` to watch
    others (e.g. floor-space zones on fused store tracks, with ``camera_id=None``).

    State is one row of small arrays per subject inside (or just out of) some zone, one column per
    zone, so a frame is a handful of array operations whatever the crowd; Python only runs for the
    rare frames where a stay starts being reported, alerts or ends.
    """

    def __init__(
        self,
        store: StoreConfig,
        camera_id: str | None,
        zones: Sequence[ZoneConfig] | None = None,
        *,
        config: ZoneAnalyticsConfig | None = None,
    ) -> None:
        if camera_id is not None:
            known = [c.id for c in store.cameras]
            if camera_id not in known:
                raise ValueError(f"unknown camera {camera_id!r} (known: {known})")
        if zones is None:
            if camera_id is None:
                raise ValueError("give camera_id or an explicit zones list")
            zones = store.zones_for(camera_id)
        ids = [z.id for z in zones]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate zone ids: {ids}")
        self.store_id = store.store_id
        self.camera_id = camera_id
        self.config = config if config is not None else store.zone_analytics
        self.zones: list[ZoneConfig] = list(zones)
        self._prepared = _PreparedZones(self.zones)
        nz = len(self.zones)
        self._slots = SlotMap()
        self._active = np.zeros((0, nz), dtype=bool)  # a stay (or entry candidate) is open
        self._confirmed = np.zeros((0, nz), dtype=bool)  # enter grace passed
        self._announced = np.zeros((0, nz), dtype=bool)  # zone.entered emitted (dwell >= min_dwell)
        self._alerted = np.zeros((0, nz), dtype=bool)  # zone.dwell_exceeded emitted
        self._first_pts = np.zeros((0, nz))
        self._last_pts = np.zeros((0, nz))
        self._first_wall = np.zeros((0, nz))
        self._last_wall = np.zeros((0, nz))
        self._stays: list[ZoneStay] = []
        self._clock: float | None = None
        self.last_membership: npt.NDArray[np.bool_] = np.zeros((0, nz), dtype=bool)
        """The (N, Z) membership of the last update, for measures that build on it."""
        self.transitions: list[ZoneTransition] = []
        """Entries and exits reported by the last update/close call, in event order."""

    def _grow(self) -> None:
        cap = self._slots.capacity
        if cap <= len(self._active):
            return
        cap = max(cap, 2 * len(self._active), 16)
        for name in ("_active", "_confirmed", "_announced", "_alerted"):
            setattr(self, name, grow(getattr(self, name), cap, False))
        for name in ("_first_pts", "_last_pts", "_first_wall", "_last_wall"):
            setattr(self, name, grow(getattr(self, name), cap, 0.0))

    # public API --------------------------------------------------------------------------------
    def membership(
        self, image_points: npt.NDArray[np.float64], floor_points: npt.NDArray[np.float64] | None = None
    ) -> npt.NDArray[np.bool_]:
        """(N, Z) membership from feet points directly (image pixels, floor metres), for callers
        that place feet themselves and pass the result to :meth:`update`."""
        return self._prepared.membership_points(image_points, floor_points)

    def update(
        self,
        tracks: Tracks,
        pts: float,
        wall_time: float,
        membership: npt.NDArray[np.bool_] | None = None,
        since: npt.NDArray[np.float64] | None = None,
        since_inside: npt.NDArray[np.bool_] | None = None,
    ) -> list[Event]:
        """Advance one frame. ``membership`` may pass a precomputed :func:`zone_membership` for
        ``self.zones`` (the behaviour stage shares one across measures).

        ``since`` (N,), with ``since_inside`` (N, Z): for a track confirmed in this frame, the pts
        it was first seen at (NaN for the others) and whether it was inside each zone then. A stay
        that starts now for such a track starts at that time instead, when it was inside then too:
        the person was there while the tracker was still confirming them (a small, far-away person
        needs a few frames), and in a short visit that time decides whether ``min_dwell_s`` is met."""
        if not np.isfinite(pts) or not np.isfinite(wall_time):
            raise ValueError(f"pts and wall_time must be finite, got pts={pts} wall_time={wall_time}")
        if membership is None:
            membership = self._prepared.membership(tracks)
        elif membership.shape != (len(tracks), len(self.zones)):
            raise ValueError(f"membership has shape {membership.shape}, expected {(len(tracks), len(self.zones))}")
        events: list[Event] = []
        transitions: list[ZoneTransition] = []
        if self._clock is not None and pts < self._clock:
            # The source restarted (reconnect, looped file): close what was open at the old clock
            # rather than computing negative durations, and start over.
            log.warning(
                "camera %s: pts went back from %.3f to %.3f; closing open stays", self.camera_id, self._clock, pts
            )
            events.extend(self.close(self._clock, wall_time))
            transitions = self.transitions
        self.transitions = transitions
        self._clock = pts
        self.last_membership = membership
        if not self.zones:
            return events
        cfg = self.config
        rows = np.nonzero(membership.any(axis=1))[0]
        if len(rows) == 0 and self._slots.capacity == 0:
            return events
        idx, _ = self._slots.lookup(np.asarray(tracks.subject_id)[rows].tolist())
        self._grow()
        here = np.zeros(self._active.shape, dtype=bool)
        here[idx] |= membership[rows]
        active = self._active
        new = here & ~active
        self._first_pts[new] = pts
        self._first_wall[new] = wall_time
        if since is not None and since_inside is not None:
            back = since[rows]
            ok = np.isfinite(back) & (back < pts)
            if ok.any():
                sl, rb = idx[ok], rows[ok]
                m = new[sl] & since_inside[rb]
                self._first_pts[sl] = np.where(m, back[ok][:, None], self._first_pts[sl])
                self._first_wall[sl] = np.where(m, wall_time - (pts - back[ok])[:, None], self._first_wall[sl])
        self._confirmed[new] = False
        self._announced[new] = False
        self._alerted[new] = False
        self._last_pts[here] = pts
        self._last_wall[here] = wall_time
        active |= here
        self._confirmed |= here & (pts - self._first_pts >= cfg.enter_grace_s)
        dwell = self._last_pts - self._first_pts
        announce = here & self._confirmed & ~self._announced & (dwell >= cfg.min_dwell_s)
        rs, js = announce.nonzero()  # row-major, as argwhere
        for slot, j in zip(rs.tolist(), js.tolist(), strict=True):
            self._announced[slot, j] = True
            events.append(self._entered(slot, j))
        if cfg.dwell_alert_s is not None:
            alert = here & self._announced & ~self._alerted & (dwell >= cfg.dwell_alert_s)
            rs, js = alert.nonzero()  # row-major, as argwhere
            for slot, j in zip(rs.tolist(), js.tolist(), strict=True):
                self._alerted[slot, j] = True
                events.append(self._alert(slot, j, float(dwell[slot, j]), wall_time))
        out = active & ~here
        # entry needs continuous presence: a candidate that steps out is dropped
        active &= ~(out & ~self._confirmed)
        finish = out & self._confirmed & (pts - self._last_pts >= cfg.exit_grace_s)
        rs, js = finish.nonzero()  # row-major, as argwhere
        for slot, j in zip(rs.tolist(), js.tolist(), strict=True):
            active[slot, j] = False
            events.extend(self._finish(slot, j))
        n = self._slots.capacity
        idle = (~active[:n].any(axis=1) & self._slots.active()).nonzero()[0]
        if len(idle):
            self._slots.release(idle)
        return events

    def close(self, pts: float, wall_time: float) -> list[Event]:
        """End of stream: finish every open stay at its last inside time."""
        events: list[Event] = []
        self.transitions = []
        n = self._slots.capacity
        for j in range(len(self.zones)):
            slots = np.flatnonzero(self._active[:n, j] & self._confirmed[:n, j]).tolist()
            for slot in sorted(slots, key=lambda k: self._slots.subject_of[k] or 0):
                events.extend(self._finish(slot, j))
        self._active[:] = False
        self._slots.release(np.flatnonzero(self._slots.active()))
        self._clock = None
        return events

    def occupancy(self) -> dict[str, int]:
        """Zone id -> subjects with an announced, not yet finished stay (what entered - exited says)."""
        counts = (self._active & self._announced).sum(axis=0)
        return {z.id: int(counts[j]) for j, z in enumerate(self.zones)}

    def stays(self) -> list[ZoneStay]:
        """Finished, reported stays in the order they finished."""
        return list(self._stays)

    def open_stays(self) -> dict[str, dict[int, float]]:
        """Zone id -> {subject: first inside pts} of announced open stays (live dwell timers)."""
        out: dict[str, dict[int, float]] = {}
        for j, z in enumerate(self.zones):
            slots = np.flatnonzero(self._active[:, j] & self._announced[:, j]).tolist()
            out[z.id] = {self._subject(k): float(self._first_pts[k, j]) for k in slots}
        return out

    # internals ---------------------------------------------------------------------------------
    def _subject(self, slot: int) -> int:
        s = self._slots.subject_of[slot]
        assert s is not None
        return s

    def _payload(self, zone: ZoneConfig) -> dict[str, Any]:
        return {"zone_name": zone.label, "zone_kind": str(zone.kind), "category": zone.category}

    def _entered(self, slot: int, j: int) -> Event:
        zone, subj = self.zones[j], self._subject(slot)
        first_pts, first_wall = float(self._first_pts[slot, j]), float(self._first_wall[slot, j])
        self.transitions.append(ZoneTransition("enter", zone.id, subj, first_pts, first_wall))
        return Event.of(
            ZoneEntered(**self._payload(zone)),
            self.store_id,
            first_wall,
            camera_id=self.camera_id,
            zone_id=zone.id,
            subject=subj,
        )

    def _alert(self, slot: int, j: int, dwell: float, wall: float) -> Event:
        zone = self.zones[j]
        return Event.of(
            ZoneDwellExceeded(dwell_s=round(dwell, 3), threshold_s=self.config.dwell_alert_s, **self._payload(zone)),
            self.store_id,
            wall,
            camera_id=self.camera_id,
            zone_id=zone.id,
            subject=self._subject(slot),
        )

    def _finish(self, slot: int, j: int) -> list[Event]:
        # Announcement happens on the frame that reached min_dwell, so an unannounced stay here is
        # shorter than min_dwell: not reported.
        if not self._announced[slot, j]:
            return []
        zone, subj = self.zones[j], self._subject(slot)
        first_pts, last_pts = float(self._first_pts[slot, j]), float(self._last_pts[slot, j])
        first_wall, last_wall = float(self._first_wall[slot, j]), float(self._last_wall[slot, j])
        dwell = last_pts - first_pts
        self._stays.append(
            ZoneStay(
                subject=subj,
                zone_id=zone.id,
                enter_wall=first_wall,
                exit_wall=last_wall,
                dwell_s=dwell,
                enter_pts=first_pts,
                exit_pts=last_pts,
                camera_id=self.camera_id,
            )
        )
        self.transitions.append(ZoneTransition("exit", zone.id, subj, last_pts, last_wall))
        return [
            Event.of(
                ZoneExited(
                    dwell_s=round(dwell, 3),
                    entered_at=datetime.fromtimestamp(first_wall, tz=UTC).isoformat(),
                    **self._payload(zone),
                ),
                self.store_id,
                last_wall,
                camera_id=self.camera_id,
                zone_id=zone.id,
                subject=subj,
            )
        ]
