"""All per-camera behaviour measures behind one object, for the pipeline and the demo summary.

One ``update`` per analysed frame: feet points are placed on the floor (when the camera is
calibrated), zone membership is computed once and shared, and each measure advances its small
state. The measures stay separate modules with their own tests; this class only wires them and
applies staff exclusion (events of flagged subjects carry ``staff: true``; summaries and
aggregates leave them out and report them separately).

Space: a calibrated camera measures paths, speed, lingering and heat in floor metres and also
watches floor-space zones and lines; an uncalibrated one works in image pixels. Store-level
de-duplication across overlapping cameras is :class:`~storelens.analytics.fusion.StoreFusion`
feeding a :class:`FloorBehaviour`-style stage with ``camera_id=None`` (see ``StoreBehaviourStage``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from storelens.analytics.aggregates import aggregate_zones
from storelens.analytics.dwell import dwell_distribution, dwell_stats
from storelens.analytics.floor import FloorMapper, FloorPlan, estimate_feet
from storelens.analytics.heatmap import HeatmapAccumulator, HeatmapGrid, render_heatmap, write_png
from storelens.analytics.height import FloorCamera, HeightSamples, camera_from_homography, measurable_rows
from storelens.analytics.lines import LineCounter
from storelens.analytics.lingering import LingeringDetector
from storelens.analytics.occupancy import PeakOccupancy
from storelens.analytics.paths import PathRecorder
from storelens.analytics.queues import QueueMonitor, queue_pairs
from storelens.analytics.revisits import RevisitDetector
from storelens.analytics.speed import SpeedEstimator
from storelens.analytics.staff import StaffClassifier, uniform_matches
from storelens.analytics.zones import ZoneAnalytics
from storelens.config.cameras import LineConfig, ZoneConfig, ZoneKind
from storelens.config.store import StoreConfig
from storelens.core.types import FIRST_AGO, FIRST_BOX, Tracks
from storelens.events.models import Event

__all__ = ["BehaviourStage", "StoreBehaviourStage", "floor_extent", "write_heatmaps"]

DEFAULT_FRAME_SIZE = (1280, 720)
"""Image grid used for an uncalibrated camera until a frame size is known."""


def floor_extent(store: StoreConfig) -> tuple[float, float, float, float]:
    """(x0, y0, width, height) in metres for the floor heat-map grid: the floor plan when there is
    one, else everything calibrated or drawn on the floor, padded by a metre."""
    plan = store.floor_plan
    if plan is not None and plan.width_m is not None and plan.height_m is not None:
        return 0.0, 0.0, plan.width_m, plan.height_m
    if plan is not None:
        fp = FloorPlan.from_config(store)
        assert fp is not None
        return 0.0, 0.0, fp.width_m, fp.height_m
    pts: list[tuple[float, float]] = []
    for cam in store.cameras:
        if cam.calibration is not None:
            pts.extend(cam.calibration.floor_points)
    for z in store.zones:
        if z.space == "floor":
            pts.extend(z.points)
    for ln in store.lines:
        if ln.space == "floor":
            pts.extend([ln.a, ln.b])
    if not pts:
        return 0.0, 0.0, 10.0, 10.0
    arr = np.asarray(pts, dtype=np.float64)
    lo = arr.min(axis=0) - 1.0
    hi = arr.max(axis=0) + 1.0
    return float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])


class _Measures:
    """The measures for one coordinate space and one zone/line set (shared by both stages)."""

    def __init__(
        self,
        store: StoreConfig,
        camera_id: str | None,
        zones: Sequence[ZoneConfig],
        lines_by_space: dict[str, list[LineConfig]],
        space: str,
        grid: HeatmapGrid | None,
    ) -> None:
        b = store.behaviour
        self.store = store
        self.camera_id = camera_id
        self.space = space
        self.zones = ZoneAnalytics(store, camera_id, zones)
        zl = self.zones.zones
        self.revisits = RevisitDetector(store.store_id, camera_id, zl, b.revisit_gap_s)
        unit = "m/s" if space == "floor" else "px/s"
        threshold = b.lingering_speed_mps if space == "floor" else b.lingering_speed_px_s
        self.lingering = LingeringDetector(store.store_id, camera_id, zl, threshold, b.lingering_min_s, unit)
        self.speed = SpeedEstimator(b.speed_window_s, b.speed_smoothing_s)
        # One counter for all lines, image and floor alike: each line reads its own space's points.
        all_lines = [ln for lines in lines_by_space.values() for ln in lines]
        self._line_space = [ln.space for ln in all_lines]
        self.lines: LineCounter | None = None
        if all_lines:
            self.lines = LineCounter(
                store.store_id,
                camera_id,
                all_lines,
                [b.line_hysteresis_m if ln.space == "floor" else b.line_hysteresis_px for ln in all_lines],
                max_gap_s=b.subject_timeout_s,
            )
        self.queues = [QueueMonitor(store.store_id, camera_id, q) for q in queue_pairs(zl, b.queues)]
        step = b.path_min_step_m if space == "floor" else b.path_min_step_px
        self.paths = PathRecorder(space, step, b.path_max_points, b.subject_timeout_s)
        self._staff_cols = [j for j, z in enumerate(zl) if z.kind == ZoneKind.STAFF_ONLY]
        self.staff = StaffClassifier(b.staff, zone_rule=bool(self._staff_cols))
        self.last_in_staff_zone: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self.peaks = PeakOccupancy(b.aggregate_buckets_s, store.timezone)
        self.grid = grid
        self.heat: HeatmapAccumulator | None = None
        if grid is not None:
            self.heat = HeatmapAccumulator(grid, b.heatmap.bucket_s, b.heatmap.max_step_s, store.timezone)
        self._last_pts: float | None = None
        self._seen: set[int] = set()  # every subject seen (for the shopper count)
        self.frames = 0

    def set_grid(self, grid: HeatmapGrid) -> None:
        b = self.store.behaviour
        self.grid = grid
        self.heat = HeatmapAccumulator(grid, b.heatmap.bucket_s, b.heatmap.max_step_s, self.store.timezone)

    def update(
        self,
        tracks: Tracks,
        image_pts: npt.NDArray[np.float64],
        floor_pts: npt.NDArray[np.float64] | None,
        pts: float,
        wall_time: float,
        uniform: npt.NDArray[np.int8] | None,
        since: npt.NDArray[np.float64] | None = None,
        since_inside: npt.NDArray[np.bool_] | None = None,
    ) -> list[Event]:
        """``image_pts`` are the box bottom centres; ``floor_pts`` the mapped feet (or None when
        uncalibrated). Measures run in ``self.space`` on the matching points. ``since`` and
        ``since_inside``: the tentative prefix of newly confirmed tracks, for the zones (see
        :meth:`ZoneAnalytics.update`)."""
        points = floor_pts if self.space == "floor" and floor_pts is not None else image_pts
        self.frames += 1
        dt = 0.0 if self._last_pts is None else max(0.0, pts - self._last_pts)
        self._last_pts = pts
        subjects = np.asarray(tracks.subject_id, dtype=np.int64)
        self._seen.update(subjects.tolist())
        membership = self.zones.membership(image_pts, floor_pts)
        events = self.zones.update(tracks, pts, wall_time, membership, since, since_inside)
        transitions = self.zones.transitions
        events += self.revisits.update(transitions)
        speeds = self.speed.update(subjects, points, pts)
        events += self.lingering.update(subjects, speeds, membership, pts, wall_time)
        if self.lines is not None:
            # (N, L, 2): each line's own points, NaN for floor lines of an uncalibrated frame
            per_line = np.empty((len(subjects), len(self._line_space), 2))
            for k, sp in enumerate(self._line_space):
                per_line[:, k] = (floor_pts if floor_pts is not None else np.nan) if sp == "floor" else image_pts
            events += self.lines.update(subjects, per_line, pts, wall_time)
        occ = self.zones.occupancy()
        for q in self.queues:
            events += q.update(transitions, occ.get(q.cfg.queue_zone, 0), pts, wall_time)
        self.paths.update(subjects, points, pts)
        in_staff: npt.NDArray[np.bool_] = np.zeros(len(subjects), dtype=bool)
        if self._staff_cols:
            in_staff = np.asarray(membership[:, self._staff_cols].any(axis=1), dtype=bool)
        self.staff.update(subjects, in_staff, dt, uniform)
        self.last_in_staff_zone = in_staff
        if self.heat is not None:
            keep = ~self.staff.last_flags
            self.heat.update(subjects[keep], points[keep], pts, wall_time)
        self.peaks.update(occ, wall_time)
        return self._mark_staff(events)

    def line_prefix(
        self,
        subjects: npt.NDArray[np.int64],
        image_pts: npt.NDArray[np.float64],
        floor_pts: npt.NDArray[np.float64] | None,
        first_pts: npt.NDArray[np.float64],
        pts: float,
        wall_time: float,
    ) -> list[Event]:
        """Feed the lines where tracks confirmed in this frame were first seen, at the time they
        were seen, before this frame's points: a crossing made while a track was still tentative
        (a small person needs a few matches to get an id) is then counted, once, when it gets one.
        ``pts``/``wall_time`` are this frame's; the first sightings' wall times follow from them."""
        if self.lines is None or not len(subjects):
            return []
        events: list[Event] = []
        for i in np.argsort(first_pts, kind="stable").tolist():
            per_line = np.empty((1, len(self._line_space), 2))
            for k, sp in enumerate(self._line_space):
                if sp == "floor":
                    per_line[0, k] = floor_pts[i] if floor_pts is not None else np.nan
                else:
                    per_line[0, k] = image_pts[i]
            then = float(first_pts[i])
            events += self.lines.update(subjects[i : i + 1], per_line, then, wall_time - (pts - then))
        return events

    def close(self, pts: float, wall_time: float) -> list[Event]:
        events = self.zones.close(pts, wall_time)
        events += self.revisits.update(self.zones.transitions)
        self.paths.close()
        if self.heat is not None:
            self.heat.flush()
        return self._mark_staff(events)

    def _mark_staff(self, events: list[Event]) -> list[Event]:
        if not events:
            return events
        staff = self.staff.staff()
        if not staff:
            return events
        return [
            e.model_copy(update={"payload": {**e.payload, "staff": True}}) if e.subject_id in staff else e
            for e in events
        ]

    # summary --------------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        staff = self.staff.staff()
        all_stays = self.zones.stays()
        stays = [s for s in all_stays if s.subject not in staff]
        staff_stays = [s for s in all_stays if s.subject in staff]
        revisits = [r for r in self.revisits.revisits if r.subject not in staff]
        dist = dwell_distribution(stays, [z.id for z in self.zones.zones])
        tills = {z.id for z in self.zones.zones if z.kind == ZoneKind.CHECKOUT}
        till_entries: dict[int, list[float]] = {}
        for s in stays:
            if s.zone_id in tills:
                till_entries.setdefault(s.subject, []).append(s.enter_wall)
        peaks = self.peaks.overall()
        zones_out = []
        for z in self.zones.zones:
            zs = [s for s in stays if s.zone_id == z.id]
            firsts: dict[int, float] = {}
            for s in zs:
                firsts[s.subject] = min(firsts.get(s.subject, s.enter_wall), s.enter_wall)
            conv = sum(1 for subj, t in firsts.items() if any(c >= t for c in till_entries.get(subj, ())))
            d = dist[z.id]
            zones_out.append(
                {
                    "zone_id": z.id,
                    "name": z.label,
                    "kind": str(z.kind),
                    "visits": len(zs),
                    "unique_visitors": len(firsts),
                    "median_dwell_s": d.get("median_s"),
                    "p90_dwell_s": d.get("p90_s"),
                    "mean_dwell_s": d.get("mean_s"),
                    "total_dwell_s": d.get("total_s", 0.0),
                    "dwell_histogram": d["histogram"],
                    "revisits": sum(1 for r in revisits if r.zone_id == z.id),
                    "lingering": self.lingering.counts.get(z.id, 0),
                    "peak_occupancy": peaks.get(z.id, 0),
                    "conversion_rate": round(conv / len(firsts), 3) if firsts else None,
                }
            )
        lines_out = []
        if self.lines is not None:
            for ln in self.lines.lines:
                c = self.lines.counts[ln.id]
                lines_out.append({"line_id": ln.id, "name": ln.name or ln.id, "in": c["in"], "out": c["out"]})
        occupancy_lines = self.lines.occupancy if self.lines is not None else 0
        paths = [p for p in self.paths.finished + list(self.paths.open_paths().values()) if p.subject not in staff]
        speeds = [p.mean_speed for p in paths if p.mean_speed is not None]
        aggregates = {
            str(b): [
                r.to_dict()
                for r in aggregate_zones(
                    stays,
                    b,
                    timezone=self.store.timezone,
                    revisits=revisits,
                    checkout_zones=tills,
                    peaks=self.peaks.peaks,
                    exclude_subjects=staff,
                )
            ]
            for b in self.store.behaviour.aggregate_buckets_s
        }
        out: dict[str, Any] = {
            "camera_id": self.camera_id,
            "space": self.space,
            "frames": self.frames,
            "subjects": {"shoppers": len([s for s in self._seen if s not in staff]), "staff": len(staff)},
            "zones": zones_out,
            "lines": lines_out,
            "occupancy": {"from_lines": occupancy_lines, "zones_now": self.zones.occupancy()},
            "queues": [
                {
                    **(q.state.payload() if q.state is not None else {}),
                    "waits": dwell_stats(q.waits),
                }
                for q in self.queues
            ],
            "paths": {
                "count": len(paths),
                "unit": "m" if self.space == "floor" else "px",
                "median_distance": round(float(np.median([p.distance for p in paths])), 2) if paths else None,
                "median_speed": round(float(np.median(speeds)), 3) if speeds else None,
            },
            "staff": {
                "subjects": len(staff),
                "reasons": sorted(set(staff.values())),
                "zone_visits": len(staff_stays),
            },
            "aggregates": aggregates,
        }
        if self.heat is not None:
            traffic, dwell = self.heat.maps()
            out["heatmaps"] = {
                "grid": self.heat.grid.to_dict(),
                "traffic": traffic.astype(int).tolist(),
                "dwell_s": np.round(dwell, 2).tolist(),
                "stored_bytes": self.heat.nbytes,
            }
        return out


class _MeasuresStage:
    """``close``, ``summary`` and ``heatmap`` of a stage that keeps its measures in a
    :class:`_Measures`: the per-camera and the store-level stage differ only in what they feed it."""

    measures: _Measures

    def close(self, pts: float, wall_time: float) -> list[Event]:
        return self.measures.close(pts, wall_time)

    def summary(self) -> dict[str, Any]:
        return self.measures.summary()

    @property
    def heatmap(self) -> HeatmapAccumulator | None:
        return self.measures.heat


class BehaviourStage(_MeasuresStage):
    """Per-camera behaviour analytics: ``update`` per frame, ``close`` at the end, ``summary()``.

    ``update`` also takes the frame (BGR) when a uniform-colour staff rule is configured (the torso
    colour is read in memory only) and the frame size for the heat-map grid of an uncalibrated
    camera (taken from ``image`` when given).
    """

    def __init__(self, store: StoreConfig, camera_id: str) -> None:
        self.store = store
        self.camera_id = camera_id
        self.mapper = FloorMapper.for_camera(store, camera_id)
        calibrated = self.mapper is not None
        zones = store.zones_for(camera_id)
        lines: dict[str, list[LineConfig]] = {
            "image": [ln for ln in store.lines if ln.space == "image" and ln.camera == camera_id]
        }
        if calibrated:
            zones = zones + [z for z in store.zones if z.space == "floor"]
            lines["floor"] = [ln for ln in store.lines if ln.space == "floor"]
        self.space = "floor" if calibrated else "image"
        grid: HeatmapGrid | None = None
        if calibrated:
            x0, y0, w, h = floor_extent(store)
            grid = HeatmapGrid.covering("floor", w, h, store.behaviour.heatmap.cell_m, x0, y0)
        self._grid_from_frame = not calibrated
        self.measures = _Measures(store, camera_id, zones, lines, self.space, grid)
        self._uniform_rule = store.behaviour.staff.uniform
        self.heights = HeightSamples()
        self._camera: FloorCamera | None = None  # the camera implied by the calibration (body heights)
        self._camera_for: tuple[int, int] | None = None  # the frame size it was derived for

    def _ensure_grid(self, frame_size: tuple[int, int] | None) -> None:
        """Uncalibrated cameras bin heat in frame pixels: the grid follows the first real frame size
        (a default size until one is known)."""
        if not self._grid_from_frame:
            return
        if frame_size is not None:
            w, h = frame_size
            self._grid_from_frame = False
        elif self.measures.grid is None:
            w, h = DEFAULT_FRAME_SIZE
        else:
            return
        self.measures.set_grid(HeatmapGrid.covering("image", w, h, self.store.behaviour.heatmap.cell_px))

    def update(
        self,
        tracks: Tracks,
        pts: float,
        wall_time: float,
        *,
        image: npt.NDArray[np.uint8] | None = None,
        frame_size: tuple[int, int] | None = None,
    ) -> list[Event]:
        if frame_size is None and image is not None:
            frame_size = (int(image.shape[1]), int(image.shape[0]))
        self._ensure_grid(frame_size)
        frame_h = float(frame_size[1]) if frame_size is not None else None
        image_pts = np.asarray(tracks.bottom_center, dtype=np.float64)
        floor_pts = None
        if self.mapper is not None:
            # feet with the occlusion fallbacks, then the floor (no new Tracks object: it is hot)
            feet, source = self.mapper.feet(tracks, frame_h)
            floor_pts = self.mapper.to_floor(feet)
            if frame_size is not None and len(tracks):
                self._sample_heights(tracks, feet, source, frame_size)
        uniform = None
        if self._uniform_rule is not None and image is not None and len(tracks):
            uniform = uniform_matches(image, tracks.xyxy, tracks.keypoints, self._uniform_rule)
        if FIRST_AGO not in tracks.data:
            return self.measures.update(tracks, image_pts, floor_pts, pts, wall_time, uniform)
        events, since, since_inside = self._prefix(tracks, frame_h, pts, wall_time)
        return events + self.measures.update(tracks, image_pts, floor_pts, pts, wall_time, uniform, since, since_inside)

    def _prefix(
        self, tracks: Tracks, frame_h: float | None, pts: float, wall_time: float
    ) -> tuple[list[Event], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """The tentative prefix of tracks confirmed in this frame (``Tracks.data[FIRST_BOX]``):
        lines crossed before they were confirmed (:meth:`_Measures.line_prefix`), and per track
        the time it was first seen with its zone membership then, for the zones. The first box's
        bottom centre (or its floor point) stands for where the person was."""
        age = np.asarray(tracks.data[FIRST_AGO], dtype=np.float64)
        rows = np.flatnonzero(np.isfinite(age) & (age > 0))
        since = np.full(len(tracks), np.nan)
        since_inside = np.zeros((len(tracks), len(self.measures.zones.zones)), dtype=bool)
        if not len(rows):
            return [], since, since_inside
        boxes = np.asarray(tracks.data[FIRST_BOX], dtype=np.float64)[rows]
        image_first = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]], axis=1)
        floor_first = None
        if self.mapper is not None:
            feet, _ = estimate_feet(boxes, None, frame_h, hip_to_floor_ratio=self.mapper.hip_to_floor_ratio)
            floor_first = self.mapper.to_floor(feet)
        subjects = np.asarray(tracks.subject_id, dtype=np.int64)[rows]
        since[rows] = pts - age[rows]
        since_inside[rows] = self.measures.zones.membership(image_first, floor_first)
        events = self.measures.line_prefix(subjects, image_first, floor_first, since[rows], pts, wall_time)
        return events, since, since_inside

    def _sample_heights(
        self,
        tracks: Tracks,
        feet: npt.NDArray[np.float64],
        source: npt.NDArray[np.int8],
        frame_size: tuple[int, int],
    ) -> None:
        """One body-height sample per fully visible person (box top above the feet point)."""
        assert self.mapper is not None
        if self._camera_for != frame_size:
            self._camera_for = frame_size
            self._camera = camera_from_homography(self.mapper.homography, frame_size)
        if self._camera is None:
            return
        rows = measurable_rows(tracks.xyxy, source, frame_size)
        if not rows.any():
            return
        box = np.asarray(tracks.xyxy, dtype=np.float64)[rows]
        head = np.column_stack([(box[:, 0] + box[:, 2]) / 2, box[:, 1]])
        self.heights.add(np.asarray(tracks.subject_id)[rows], self._camera.heights(feet[rows], head))

    def visit_profile(self, subject: int) -> dict[str, Any]:
        """What ``visit.ended`` carries about the visit's body and route (both per-visit fields):
        ``path`` ([t, x, y], floor metres when calibrated, else the image feet points, thinned) and
        ``height_m`` (median standing height; calibrated cameras only). Forgets the subject."""
        out: dict[str, Any] = {}
        digits = 3 if self.space == "floor" else 1
        path = self.measures.paths.take(subject)
        if path:
            out["path"] = [[round(t, 2), round(x, digits), round(y, digits)] for t, x, y in path]
        height = self.heights.take(subject)
        if height is not None:
            out["height_m"] = height
        return out


class StoreBehaviourStage(_MeasuresStage):
    """Store-level measures on fused floor tracks (see :class:`~storelens.analytics.fusion.StoreFusion`):
    floor zones and lines, counted once however many cameras see a shopper."""

    def __init__(self, store: StoreConfig) -> None:
        self.store = store
        x0, y0, w, h = floor_extent(store)
        grid = HeatmapGrid.covering("floor", w, h, store.behaviour.heatmap.cell_m, x0, y0)
        zones = [z for z in store.zones if z.space == "floor"]
        lines = {"floor": [ln for ln in store.lines if ln.space == "floor"]}
        self.measures = _Measures(store, None, zones, lines, "floor", grid)

    def update(
        self, fused: Tracks, pts: float, wall_time: float, *, uniform: npt.NDArray[np.int8] | None = None
    ) -> list[Event]:
        """``uniform``: per row 1/0 whether the uniform-colour rule matched (-1 unknown), when the
        caller read it (see :func:`~storelens.analytics.staff.uniform_matches`)."""
        if fused.floor_xy is None:
            raise ValueError("store-level tracks need floor_xy (use StoreFusion.fused)")
        floor = np.asarray(fused.floor_xy, dtype=np.float64)
        return self.measures.update(fused, floor, floor, pts, wall_time, uniform)


def write_heatmaps(
    stage: BehaviourStage | StoreBehaviourStage,
    out_dir: str | Path,
    *,
    background: npt.NDArray[np.uint8] | None = None,
    prefix: str | None = None,
) -> dict[str, Path]:
    """Write ``<prefix>traffic.png`` and ``<prefix>dwell.png``; returns {"traffic": path, "dwell": path}.

    Floor maps are drawn over the store's floor-plan image when configured. For an image-space
    map ``background`` may be a camera frame, which must already be redacted (privacy: no
    unblurred frame is written to disk); by default the map is drawn on a blank grid.
    """
    heat = stage.heatmap
    if heat is None:
        return {}
    grid = heat.grid
    bg_size: tuple[float, float] | None = None
    if grid.space == "floor":
        plan = FloorPlan.from_config(stage.store)
        if plan is not None and plan.image is not None:
            background = plan.image
            bg_size = (plan.width_m - grid.x0, plan.height_m - grid.y0)
    name = prefix if prefix is not None else (f"{stage.camera_id}_" if isinstance(stage, BehaviourStage) else "store_")
    traffic, dwell = heat.maps()
    where = "floor" if grid.space == "floor" else "image"
    out = Path(out_dir)
    maps = {
        "traffic": (traffic, f"Traffic: unique visits per cell ({where})", "visits"),
        "dwell": (dwell, f"Dwell: seconds per cell ({where})", "seconds"),
    }
    return {
        metric: write_png(
            out / f"{name}heatmap_{metric}.png",
            render_heatmap(
                values, grid, background=background, background_size=bg_size, title=title, legend_label=label
            ),
        )
        for metric, (values, title, label) in maps.items()
    }
