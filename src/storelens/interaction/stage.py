"""The interaction stage of one camera: reaches, pick-ups, attention and shelf state as events.

Wires the pieces of :mod:`storelens.interaction` together for the pipeline: per frame it takes the
image (for the shelf crops; they stay in memory), the person tracks with keypoints, and the frame's
``pts`` (durations) and ``wall_time`` (event timestamps). Events are dated when things happened,
not when the debounce confirmed them: a reach at its end, a pick at the end of its reach,
attention at its first attending frame.

Event payloads (``zone_id`` is the shelf/display id, ``subject`` the visit id):

* ``shelf.reach``: shelf, kind, category, side (left/right hand), duration_s, max_depth (pixels
  inside the polygon), max_depth_rel (torso lengths), hand_source (wrist/elbow), during_attention
* ``product.picked`` / ``product.returned``: shelf, category, side, confidence, reach_duration_s,
  plus the judge's evidence (changed/valid cells, direction, basis, carry)
* ``attention.started`` / ``attention.ended``: target, kind, category, yaw_deg; ended adds
  duration_s, mean_offset_deg, reached, engaged (display zones: attention plus a reach into it)
* ``shelf.state``: empty_fraction, judged_cells, empty_cells, occluded_fraction, reference_coverage
  (emitted on the first estimate and when the fraction moved by 0.05 or more)
* ``inventory.alert``: reason "empty_shelf" (empty_fraction, threshold) or
  "demand_exceeds_replenishment" (demand, expected, window_s)
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from storelens.config.cameras import ZoneConfig, ZoneKind
from storelens.config.store import StoreConfig
from storelens.core.types import Tracks
from storelens.events.models import Event
from storelens.events.payloads import (
    AttentionEnded,
    AttentionStarted,
    EventPayload,
    InventoryAlert,
    ProductPicked,
    ProductReturned,
    ShelfReach,
)
from storelens.events.payloads import ShelfState as ShelfStatePayload
from storelens.interaction.attention import AttentionEpisode, AttentionTracker
from storelens.interaction.pickup import PickupDecision, PickupJudge
from storelens.interaction.reach import Reach, ReachTracker, hand_points
from storelens.interaction.shelf_state import ShelfEstimate, ShelfRegion, ShelfState

log = logging.getLogger(__name__)

__all__ = ["InteractionStage", "ShelfStats"]

_STATE_EVENT_DELTA = 0.05
_EMPTY_REARM = 0.8
"""An empty-shelf alert re-arms once the fraction drops below this share of the threshold."""


@dataclass(slots=True)
class ShelfStats:
    """Counts for one shelf/display zone over the stage's lifetime (for the demo summary)."""

    zone_id: str
    kind: str
    category: str | None
    reaches: int = 0
    picks: int = 0
    returns: int = 0
    no_change: int = 0
    undetermined: int = 0
    attention_episodes: int = 0
    attention_s: float = 0.0
    engagements: int = 0
    empty_fraction: float | None = None
    inventory_alerts: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["attention_s"] = round(self.attention_s, 2)
        return d


class InteractionStage:
    """Shelf/display interaction analytics for one camera (see the module docstring).

    Raises ``ValueError`` for a camera id not in the store, a non-BGR image, a frame whose size
    differs from the first one, or a ``pts`` going backwards; the state is untouched then.
    """

    def __init__(self, store: StoreConfig, camera_id: str) -> None:
        store.camera(camera_id)  # KeyError for an unknown camera, before anything is built
        self.store = store
        self.camera_id = camera_id
        self.cfg = store.interaction
        self.zones: list[ZoneConfig] = [
            z for z in store.zones_for(camera_id) if z.kind in (ZoneKind.SHELF, ZoneKind.DISPLAY)
        ]
        self._zone = {z.id: z for z in self.zones}
        self.person_class = store.detector.person_class
        self.reaches = ReachTracker(self.zones, self.cfg.reach)
        self.attention = AttentionTracker(self.zones, self.cfg.attention, self.cfg.reach.min_visibility)
        self._stats = {z.id: ShelfStats(z.id, str(z.kind), z.category) for z in self.zones}
        self._regions: dict[str, ShelfRegion] | None = None
        self._states: dict[str, ShelfState] = {}
        self._judge: PickupJudge | None = None
        self._image_shape: tuple[int, int] | None = None
        self._last_pts: float | None = None
        self._wall_offset = 0.0
        self._demand: dict[str, deque[tuple[float, int]]] = {z.id: deque() for z in self.zones}
        self._last_alert: dict[tuple[str, str], float] = {}
        self._empty_armed: dict[str, bool] = {z.id: True for z in self.zones}
        self._last_state_emitted: dict[str, float] = {}
        self._warned_no_keypoints = False

    # -- public API ------------------------------------------------------------------------------
    def capture_reference(self, zone_id: str | None = None) -> None:
        """Re-capture the stocked reference of one shelf (or all) from the next clean views."""
        if zone_id is not None and zone_id not in self._zone:
            raise KeyError(f"no shelf/display zone {zone_id!r} on camera {self.camera_id!r}")
        for zid, state in self._states.items():
            if zone_id is None or zid == zone_id:
                state.request_reference()

    def stats(self) -> dict[str, ShelfStats]:
        """Reaches, picks, attention and the last empty fraction per shelf/display zone."""
        for zid, state in self._states.items():
            if state.last_estimate is not None:
                self._stats[zid].empty_fraction = round(state.last_estimate.empty_fraction, 3)
        return dict(self._stats)

    def update(self, image_bgr: npt.NDArray[np.uint8], tracks: Tracks, pts: float, wall_time: float) -> list[Event]:
        """Advance one analysed frame. Call for every frame, even with no tracks."""
        self._check(image_bgr, pts, wall_time)
        self._last_pts = pts
        self._wall_offset = wall_time - pts
        if not self.zones or not self.cfg.enabled:
            return []
        people = tracks[tracks.class_id == self.person_class] if len(tracks) else tracks
        subjects = people.subject_id
        keypoints = people.keypoints
        if keypoints is None and len(people) and not self._warned_no_keypoints:
            log.warning("camera %s: tracks carry no keypoints; reaches and attention need a pose model", self.camera_id)
            self._warned_no_keypoints = True
        events: list[Event] = []
        grays, occluded = self._shelf_views(image_bgr, people)

        kps = keypoints if keypoints is not None else np.zeros((len(people), 17, 3), np.float32)
        started, ended = self.reaches.update(subjects, kps, people.xyxy, pts)
        for sid, zid, _side in self.reaches.active_reaches():
            self.attention.mark_reach(sid, zid)
        att_started, att_ended = self.attention.update(subjects, kps, people.xyxy, pts)
        for r in ended:
            self.attention.mark_reach(r.subject, r.zone_id)
            events.append(self._reach_event(r))
        events += [self._attention_started(a.subject, a.zone_id, a.start_pts, a.yaw_deg) for a in att_started]
        events += [self._attention_ended(e) for e in att_ended]

        if self._judge is not None:
            for s in started:
                self._judge.reach_started(s)
            for r in ended:
                self._judge.reach_ended(r)
            hands = hand_points(kps, people.xyxy, self.cfg.reach)
            by_subject = {int(sid): (hands, i) for i, sid in enumerate(subjects.tolist())}
            decisions = self._judge.step(pts, grays, occluded, by_subject)
            self._judge.observe(pts, grays, occluded)
            events += self._pickup_events(decisions, pts)
        else:
            for r in ended:
                events += self._demand_event(r.zone_id, r.end_pts, +1, pts)

        if self.cfg.inventory.enabled:
            for zid, state in self._states.items():
                if zid in grays:
                    est = state.update(grays[zid], occluded[zid], pts)
                    if est is not None:
                        events += self._shelf_state_events(est)
        return events

    def close(self, pts: float, wall_time: float) -> list[Event]:
        """End of stream: finish open reaches and attention episodes, decide pending pick-ups."""
        if self._last_pts is not None and pts < self._last_pts:
            pts = self._last_pts
        self._wall_offset = wall_time - pts
        events: list[Event] = []
        ended = self.reaches.close()
        for r in ended:
            self.attention.mark_reach(r.subject, r.zone_id)
            events.append(self._reach_event(r))
        events += [self._attention_ended(e) for e in self.attention.close()]
        if self._judge is not None:
            for r in ended:
                self._judge.reach_ended(r)
            events += self._pickup_events(self._judge.close(pts), pts)
        else:
            for r in ended:
                events += self._demand_event(r.zone_id, r.end_pts, +1, pts)
        return events

    # -- internals -------------------------------------------------------------------------------
    def _check(self, image: npt.NDArray[np.uint8], pts: float, wall_time: float) -> None:
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            shape, dtype = getattr(image, "shape", None), getattr(image, "dtype", None)
            raise ValueError(f"image must be HxWx3 uint8 BGR, got shape={shape} dtype={dtype}")
        if not (math.isfinite(pts) and math.isfinite(wall_time)):
            raise ValueError(f"pts and wall_time must be finite, got {pts}, {wall_time}")
        if self._last_pts is not None and pts < self._last_pts:
            raise ValueError(f"pts went backwards ({self._last_pts} -> {pts}); start a new stage for a new stream")
        shape = (int(image.shape[0]), int(image.shape[1]))
        if self._image_shape is not None and shape != self._image_shape:
            raise ValueError(
                f"frame size changed from {self._image_shape[1]}x{self._image_shape[0]} to {shape[1]}x{shape[0]}; "
                "shelf polygons are in the first size's pixels"
            )
        if self._image_shape is None and self.zones:
            self._build(shape)
        self._image_shape = shape

    def _build(self, shape: tuple[int, int]) -> None:
        regions = {z.id: ShelfRegion(z, shape) for z in self.zones}
        self._regions = regions
        if self.cfg.inventory.enabled:
            self._states = {zid: ShelfState(r, self.cfg.inventory) for zid, r in regions.items()}
        if self.cfg.pickup.enabled:
            self._judge = PickupJudge(regions, self.cfg.pickup)
            self._judge.references = self._states

    def _shelf_views(
        self, image: npt.NDArray[np.uint8], people: Tracks
    ) -> tuple[dict[str, npt.NDArray[np.uint8]], dict[str, npt.NDArray[np.bool_]]]:
        grays: dict[str, npt.NDArray[np.uint8]] = {}
        occluded: dict[str, npt.NDArray[np.bool_]] = {}
        if self._regions is None or not (self.cfg.pickup.enabled or self.cfg.inventory.enabled):
            return grays, occluded
        margin = self.cfg.pickup.occluder_margin
        for zid, region in self._regions.items():
            grays[zid] = region.gray(image)
            occluded[zid] = region.occluded(people.xyxy, people.keypoints, margin, self.cfg.reach.min_visibility)
        return grays, occluded

    def _wall(self, pts: float) -> float:
        return pts + self._wall_offset

    def _zone_fields(self, zid: str) -> dict[str, Any]:
        z = self._zone[zid]
        return {"kind": str(z.kind), "category": z.category}

    def _event(self, payload: EventPayload, pts: float, zid: str, subject: int | None) -> Event:
        return Event.of(
            payload, self.store.store_id, self._wall(pts), camera_id=self.camera_id, zone_id=zid, subject=subject
        )

    def _reach_event(self, r: Reach) -> Event:
        self._stats[r.zone_id].reaches += 1
        return self._event(
            ShelfReach(
                shelf=r.zone_id,
                **self._zone_fields(r.zone_id),
                side=r.side,
                duration_s=round(r.duration_s, 3),
                max_depth=round(r.max_depth, 1),
                max_depth_rel=round(r.max_depth_rel, 3),
                hand_source=r.source,
                start_offset_s=round(r.start_pts - r.end_pts, 3),
            ),
            r.end_pts,
            r.zone_id,
            r.subject,
        )

    def _attention_started(self, subject: int, zid: str, start_pts: float, yaw: float) -> Event:
        return self._event(
            AttentionStarted(target=zid, **self._zone_fields(zid), yaw_deg=round(yaw, 1)), start_pts, zid, subject
        )

    def _attention_ended(self, e: AttentionEpisode) -> Event:
        st = self._stats[e.zone_id]
        st.attention_episodes += 1
        st.attention_s += e.duration_s
        st.engagements += int(e.engaged)
        return self._event(
            AttentionEnded(
                target=e.zone_id,
                **self._zone_fields(e.zone_id),
                duration_s=round(e.duration_s, 3),
                yaw_deg=round(e.mean_yaw_deg, 1),
                mean_offset_deg=round(e.mean_offset_deg, 1),
                reached=e.reached,
                engaged=e.engaged,
            ),
            e.end_pts,
            e.zone_id,
            e.subject,
        )

    def _pickup_events(self, decisions: list[PickupDecision], now: float) -> list[Event]:
        out: list[Event] = []
        for d in decisions:
            r = d.reach
            st = self._stats[r.zone_id]
            if d.outcome == "picked":
                st.picks += 1
                delta = +1
            elif d.outcome == "returned":
                st.returns += 1
                delta = -1
            else:
                if d.outcome == "none":
                    st.no_change += 1
                else:
                    st.undetermined += 1
                delta = +1 if self.cfg.inventory.count_reaches else 0
            if d.outcome in ("picked", "returned"):
                model = ProductPicked if d.outcome == "picked" else ProductReturned
                product = model(
                    shelf=r.zone_id,
                    **self._zone_fields(r.zone_id),
                    side=r.side,
                    confidence=d.confidence,
                    reach_duration_s=round(r.duration_s, 3),
                    evidence=d.details,
                )
                out.append(self._event(product, r.end_pts, r.zone_id, r.subject))
            if delta:
                out += self._demand_event(r.zone_id, r.end_pts, delta, now)
        return out

    def _demand_event(self, zid: str, at_pts: float, delta: int, now: float) -> list[Event]:
        inv = self.cfg.inventory
        if not inv.enabled:
            return []
        q = self._demand[zid]
        q.append((at_pts, delta))
        while q and now - q[0][0] > inv.rate_window_s:
            q.popleft()
        rate = inv.expected_picks_per_hour.get(zid, inv.default_expected_picks_per_hour)
        if rate is None:
            return []
        demand = sum(d for _, d in q)
        expected = rate * inv.rate_window_s / 3600.0
        if demand <= expected or not self._cooldown_ok(zid, "demand", now):
            return []
        self._stats[zid].inventory_alerts += 1
        return [
            self._event(
                InventoryAlert(
                    shelf=zid,
                    **self._zone_fields(zid),
                    reason="demand_exceeds_replenishment",
                    demand=demand,
                    expected=round(expected, 2),
                    window_s=inv.rate_window_s,
                ),
                now,
                zid,
                None,
            )
        ]

    def _cooldown_ok(self, zid: str, reason: str, now: float) -> bool:
        last = self._last_alert.get((zid, reason))
        if last is not None and now - last < self.cfg.inventory.alert_cooldown_s:
            return False
        self._last_alert[(zid, reason)] = now
        return True

    def _shelf_state_events(self, est: ShelfEstimate) -> list[Event]:
        zid = est.zone_id
        out: list[Event] = []
        self._stats[zid].empty_fraction = round(est.empty_fraction, 3)
        last = self._last_state_emitted.get(zid)
        if last is None or abs(est.empty_fraction - last) >= _STATE_EVENT_DELTA:
            self._last_state_emitted[zid] = est.empty_fraction
            out.append(
                self._event(
                    ShelfStatePayload(
                        shelf=zid,
                        **self._zone_fields(zid),
                        empty_fraction=round(est.empty_fraction, 3),
                        judged_cells=est.judged_cells,
                        empty_cells=est.empty_cells,
                        occluded_fraction=round(est.occluded_fraction, 3),
                        reference_coverage=round(est.reference_coverage, 3),
                    ),
                    est.pts,
                    zid,
                    None,
                )
            )
        threshold = self.cfg.inventory.empty_alert_fraction
        if est.empty_fraction < _EMPTY_REARM * threshold:
            self._empty_armed[zid] = True
        elif est.empty_fraction >= threshold and self._empty_armed[zid] and self._cooldown_ok(zid, "empty", est.pts):
            self._empty_armed[zid] = False
            self._stats[zid].inventory_alerts += 1
            out.append(
                self._event(
                    InventoryAlert(
                        shelf=zid,
                        **self._zone_fields(zid),
                        reason="empty_shelf",
                        empty_fraction=round(est.empty_fraction, 3),
                        threshold=threshold,
                    ),
                    est.pts,
                    zid,
                    None,
                )
            )
        return out
