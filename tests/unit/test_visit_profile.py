"""``visit.ended`` carries the visit's path and body height from the live pipeline (issue 20).

The simulated groups (:func:`storelens.sim.groups.simulate_groups`, truth: units, children,
heights) are filmed by a synthetic pinhole camera: each person is a box from their feet to the top
of their head, projected. The camera loop runs on those boxes (a detector and tracker that
replay them), and the buying-unit KPI computed from its ``visit.ended`` events alone must find
the true units and children.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from storelens.analytics.height import HeightSamples, camera_from_homography
from storelens.analytics.paths import VISIT_PATH_MAX_POINTS
from storelens.config.cameras import CalibrationConfig, CameraConfig
from storelens.config.store import StoreConfig
from storelens.core.types import Detections, Frame, Tracks
from storelens.events.aggregate_only import anonymise_event
from storelens.events.bus import EventBus
from storelens.events.models import Event, EventType
from storelens.events.payloads import VisitEnded, typed
from storelens.kpis.units import Person, buying_units
from storelens.pipeline.camera import CameraPipeline
from storelens.pipeline.stages import BehaviourStageAdapter
from storelens.sim.groups import GroupScenario, SimVisitor, simulate_groups
from storelens.tracking.stitching import VisitSummary

W, H = 1280, 720
FPS = 2.0
T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)


class PinholeCamera:
    """A camera at ``centre`` looking at ``target`` (world z up, x/y the floor plan)."""

    def __init__(self, centre: Sequence[float], target: Sequence[float], f: float) -> None:
        c, tg = np.asarray(centre, float), np.asarray(target, float)
        z = (tg - c) / np.linalg.norm(tg - c)
        x = np.cross(z, [0.0, 0.0, 1.0])
        x /= np.linalg.norm(x)
        self.R = np.stack([x, np.cross(z, x), z])
        self.t = -self.R @ c
        self.K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1.0]])

    def project(self, xyz: npt.ArrayLike) -> npt.NDArray[np.float64]:
        p = np.asarray(xyz, float).reshape(-1, 3) @ self.R.T + self.t
        q = p @ self.K.T
        return np.asarray(q[:, :2] / q[:, 2:], dtype=np.float64)

    def calibration(self, floor: Sequence[tuple[float, float]]) -> CalibrationConfig:
        fl = np.asarray(floor, float)
        img = self.project(np.column_stack([fl, np.zeros(len(fl))]))
        return CalibrationConfig(
            image_points=[(float(u), float(v)) for u, v in img], floor_points=[(float(x), float(y)) for x, y in fl]
        )


def test_heights_from_the_floor_homography_alone() -> None:
    cam = PinholeCamera((3, -2, 3.0), (4, 5, 0), 900)
    cal = cam.calibration([(0, 2), (8, 2), (8, 10), (0, 10), (4, 6)])
    hom, _ = cv2.findHomography(np.asarray(cal.image_points), np.asarray(cal.floor_points), 0)
    got = camera_from_homography(hom, (W, H))
    assert got is not None
    assert got.K[0, 0] == pytest.approx(900, rel=1e-3) and got.height_m == pytest.approx(3.0, abs=1e-3)
    feet_w = np.array([[2, 4, 0], [6, 8, 0], [5, 3, 0]], float)
    tall = np.array([1.75, 1.10, 1.50])
    head_w = feet_w + np.column_stack([np.zeros((3, 2)), tall])
    assert got.heights(cam.project(feet_w), cam.project(head_w)) == pytest.approx(tall, abs=1e-3)
    # a plan drawn y-down (mirrored floor axes) measures the same
    mirrored, _ = cv2.findHomography(np.asarray(cal.image_points), np.asarray(cal.floor_points) * [1, -1], 0)
    again = camera_from_homography(mirrored, (W, H))
    assert again is not None
    assert again.heights(cam.project(feet_w), cam.project(head_w)) == pytest.approx(tall, abs=1e-3)
    # straight down there is no perspective to measure a height with
    down = PinholeCamera((4, 6, 4.0), (4, 6.0001, 0), 900).calibration([(2, 4), (6, 4), (6, 8), (2, 8)])
    hd, _ = cv2.findHomography(np.asarray(down.image_points), np.asarray(down.floor_points), 0)
    assert camera_from_homography(hd, (W, H)) is None


def test_height_is_the_median_and_needs_enough_frames() -> None:
    hs = HeightSamples()
    hs.add([7] * 9, [1.70, 1.71, 1.69, 1.72, 1.70, 0.9, 0.95, 3.0, float("nan")])  # bending, a merge, NaN
    hs.add([8] * 3, [1.2, 1.2, 1.2])
    assert hs.take(7) == pytest.approx(1.70, abs=0.011)
    assert hs.take(7) is None  # forgotten once taken
    assert hs.take(8) is None  # 3 frames are not a measurement


class ReplayDetector:
    """Hands the pipeline the boxes of the current frame (set by the test)."""

    def __init__(self) -> None:
        self.boxes = np.zeros((0, 4), np.float32)

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        n = len(self.boxes)
        return Detections(self.boxes, np.ones(n, np.float32), np.zeros(n, np.int32))


class ReplayTracker:
    def __init__(self) -> None:
        self.ids = np.zeros(0, np.int64)

    def update(self, det: Detections, pts: float, image: object = None) -> Tracks:
        n = len(det)
        return Tracks(det.xyxy, det.score, det.class_id, self.ids.copy(), np.arange(n, dtype=np.int32))


class GapStitcher:
    """A visit is its track id and ends 2 s after its last sighting (the real stitcher's contract)."""

    def __init__(self) -> None:
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def update(self, tracks: Tracks, timestamp: float, image: object = None) -> Tracks:
        for tid in tracks.track_id.tolist():
            self.first.setdefault(tid, timestamp)
            self.last[tid] = timestamp
        return tracks.replace(visit_id=tracks.track_id.copy())

    def _pop(self, ids: list[int]) -> list[VisitSummary]:
        return [VisitSummary(i, self.first.pop(i), self.last.pop(i), 1, 1.0, (i,)) for i in ids]

    def pop_finished(self, timestamp: float) -> list[VisitSummary]:
        return self._pop([i for i, t in self.last.items() if timestamp - t > 2.0])

    def flush(self) -> list[VisitSummary]:
        return self._pop(list(self.last))


_PATHS: dict[str, npt.NDArray[np.float64]] = {}


def _at(v: SimVisitor, t: float) -> tuple[float, float] | None:
    p = _PATHS.get(v.subject)
    if p is None:
        p = _PATHS[v.subject] = np.asarray(v.path, dtype=np.float64)
    if t < p[0, 0] or t > p[-1, 0]:
        return None
    return float(np.interp(t, p[:, 0], p[:, 1])), float(np.interp(t, p[:, 0], p[:, 2]))


def _film(sc: GroupScenario, calibrated: bool) -> tuple[list[Event], dict[int, SimVisitor], PinholeCamera]:
    """Run the camera loop over the scenario filmed from above the door wall of the 24 x 18 m store."""
    cam = PinholeCamera((12, -9, 8.0), (12, 8, 0), 620)
    cal = cam.calibration([(1, 1), (23, 1), (23, 17), (1, 17), (12, 9)]) if calibrated else None
    camera = CameraConfig(id="c", source="x.mp4", calibration=cal)
    store = StoreConfig.model_validate({"store_id": "s", "cameras": [camera], "detector": {"self_check": False}})
    det, trk = ReplayDetector(), ReplayTracker()
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    pipe = CameraPipeline(
        store, store.cameras[0], det, trk, [BehaviourStageAdapter(store, "c")], bus, stitcher=GapStitcher()
    )
    by_id = {i + 1: v for i, v in enumerate(sc.visitors)}
    end = max(v.path[-1][0] for v in sc.visitors) + 5
    image = np.zeros((H, W, 3), np.uint8)
    for k in range(int(end * FPS)):
        t = k / FPS
        ids, boxes = [], []
        for i, v in by_id.items():
            xy = _at(v, t)
            if xy is None:
                continue
            foot, head = cam.project([[*xy, 0.0], [*xy, v.height_m]])
            half = 0.2 * (foot[1] - head[1])
            box = np.clip([foot[0] - half, head[1], foot[0] + half, foot[1]], [0, 0, 0, 0], [W, H, W, H])
            if box[2] - box[0] > 2 and box[3] - box[1] > 2:
                ids.append(i)
                boxes.append(box)
        det.boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        trk.ids = np.asarray(ids, np.int64)
        pipe.process(Frame("c", k, t, T0.timestamp() + t, image))
    pipe.finish()
    return events, by_id, cam


@pytest.fixture(scope="module")
def scenario() -> GroupScenario:
    return simulate_groups(10, seed=3, minutes=8)


def _ended(events: list[Event]) -> dict[int, tuple[Event, VisitEnded]]:
    out = {}
    for e in events:
        if e.type == EventType.VISIT_ENDED and (p := typed(e, VisitEnded)) is not None:
            assert e.subject is not None
            out[int(e.subject, 16)] = (e, p)
    return out


def test_calibrated_visit_ended_carries_floor_path_and_height(scenario: GroupScenario) -> None:
    assert scenario.children > 0 and len(scenario.units) < len(scenario.visitors)
    events, by_id, _ = _film(scenario, calibrated=True)
    ended = _ended(events)
    assert set(ended) == set(by_id)
    people = []
    for sid, (_, p) in ended.items():
        v = by_id[sid]
        assert p.height_m == pytest.approx(v.height_m, abs=0.02), v.subject
        assert p.path is not None and 2 <= len(p.path) <= VISIT_PATH_MAX_POINTS
        t, x, y = np.asarray(p.path, float).T
        truth = np.array([_at(v, float(s)) for s in t], dtype=float)
        off = np.hypot(*(truth - np.column_stack([x, y])).T)
        # floor metres on the route (at the door the feet leave the frame and are extrapolated)
        assert np.median(off) < 0.01 and off.max() < 0.25
        assert t[-1] - t[0] > 0.8 * (v.path[-1][0] - v.path[0][0])  # the whole visit, not a piece
        start = T0 + timedelta(seconds=float(t[0]))
        people.append(Person(v.subject, start, [tuple(q) for q in p.path], "floor", "c", p.height_m))
    r = buying_units(people)
    assert r.children == scenario.children
    assert {tuple(g) for g in r.groups} == {tuple(sorted(u)) for u in scenario.units}
    # per-visit fields: aggregate-only mode takes both off the event
    e, _ = next(iter(ended.values()))
    anon = anonymise_event(e)
    assert anon is None or ("path" not in anon.payload and "height_m" not in anon.payload)


def test_uncalibrated_visit_ended_has_an_image_path_and_no_height(scenario: GroupScenario) -> None:
    small = GroupScenario(scenario.visitors[:3], [])
    events, by_id, cam = _film(small, calibrated=False)
    ended = _ended(events)
    assert set(ended) == set(by_id)
    for sid, (_, p) in ended.items():
        assert p.height_m is None
        assert p.path is not None
        t, u, vv = np.asarray(p.path, float).T
        xy = _at(by_id[sid], float(t[len(t) // 2]))
        assert xy is not None
        feet = cam.project([[*xy, 0.0]])[0]
        if 0 <= feet[0] < W and 0 <= feet[1] < H:
            assert np.hypot(u[len(t) // 2] - feet[0], vv[len(t) // 2] - feet[1]) < 1.0  # image feet pixels
