"""Zone enter/exit/dwell on synthetic tracks: table-driven timelines at 10 fps."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from factories import standing_tracks
from storelens.analytics.zones import ZoneAnalytics, zone_membership
from storelens.config.cameras import ZoneConfig
from storelens.config.store import StoreConfig
from storelens.core.types import Tracks
from storelens.events.models import Event, format_subject

FPS = 10
T0_WALL = 1_700_000_000.0
INSIDE = (50.0, 50.0)  # feet point inside the zone square (0,0)-(100,100)
OUTSIDE = (300.0, 50.0)


def make_store(**zone_cfg: float | None) -> StoreConfig:
    return StoreConfig.model_validate(
        {
            "store_id": "s1",
            "cameras": [{"id": "cam1", "source": "x.mp4"}],
            "zones": [
                {
                    "id": "z1",
                    "name": "Electronics",
                    "kind": "shelf",
                    "camera": "cam1",
                    "category": "tv",
                    "points": [[0, 0], [100, 0], [100, 100], [0, 100]],
                },
                {
                    "id": "z2",
                    "kind": "aisle",
                    "camera": "cam1",
                    "points": [[200, 0], [400, 0], [400, 100], [200, 100]],
                },
            ],
            "zone_analytics": dict(zone_cfg),
        }
    )


def tracks_at(rows: list[tuple[int, int | None, tuple[float, float]]]) -> Tracks:
    """rows: (track_id, visit_id or None, feet point). Box is 20x60 px standing on the feet point."""
    return standing_tracks(rows, width=20, height=60)


@dataclass
class Case:
    name: str
    # (track_id, visit_id) -> segments of (first_frame, last_frame, where) with where in {"in", "out"};
    # frames not covered by any segment: the track is absent from Tracks.
    presence: dict[tuple[int, int | None], list[tuple[int, int, str]]]
    n_frames: int
    expected: list[tuple[int, float]]  # (subject, dwell_s) of the reported stays, in finish order
    close_at_end: bool = False
    cfg: dict[str, float | None] = field(default_factory=dict)


BASE = {"enter_grace_s": 0.3, "exit_grace_s": 1.0, "min_dwell_s": 1.0}

CASES = [
    Case("enter_then_exit", {(1, None): [(0, 30, "in"), (31, 60, "out")]}, 61, [(1, 3.0)]),
    Case(
        "flicker_within_grace_is_one_stay",
        {(1, None): [(0, 20, "in"), (21, 25, "out"), (26, 40, "in"), (41, 70, "out")]},
        71,
        [(1, 4.0)],
    ),
    Case(
        "gap_longer_than_grace_is_two_stays",
        {(1, None): [(0, 20, "in"), (21, 35, "out"), (36, 50, "in"), (51, 80, "out")]},
        81,
        [(1, 2.0), (1, 1.4)],
    ),
    Case("too_short_stay_not_reported", {(1, None): [(0, 5, "in"), (6, 30, "out")]}, 31, []),
    Case(
        "enter_grace_not_reached",
        {(1, None): [(0, 1, "in"), (2, 3, "out"), (4, 5, "in"), (6, 30, "out")]},
        31,
        [],
        cfg={"min_dwell_s": 0.0},
    ),
    Case(
        "two_subjects",
        {
            (1, None): [(0, 30, "in"), (31, 60, "out")],
            (2, None): [(0, 10, "out"), (11, 50, "in"), (51, 70, "out")],
        },
        71,
        [(1, 3.0), (2, 3.9)],
    ),
    Case("empty_frames", {}, 50, []),
    Case("vanishing_subject_counts_as_outside", {(1, None): [(0, 20, "in")]}, 60, [(1, 2.0)]),
    Case("close_finishes_open_stay", {(1, None): [(0, 25, "in")]}, 26, [(1, 2.5)], close_at_end=True),
    Case("close_drops_unreported_candidate", {(1, None): [(0, 3, "in")]}, 4, [], close_at_end=True),
    Case(
        "id_switch_with_stitched_visit_keeps_dwell",
        {(1, 7): [(0, 20, "in")], (2, 7): [(21, 50, "in"), (51, 70, "out")]},
        71,
        [(7, 5.0)],
    ),
    Case(
        "id_switch_without_stitching_restarts",
        {(1, None): [(0, 20, "in")], (2, None): [(21, 50, "in"), (51, 70, "out")]},
        71,
        [(1, 2.0), (2, 2.9)],
    ),
    Case(
        "zero_graces",
        {(1, None): [(0, 10, "in"), (11, 11, "out"), (12, 30, "in"), (31, 40, "out")]},
        41,
        [(1, 1.0), (1, 1.8)],
        cfg={"enter_grace_s": 0.0, "exit_grace_s": 0.0},
    ),
]


def run_case(case: Case) -> tuple[ZoneAnalytics, list[Event]]:
    za = ZoneAnalytics(make_store(**{**BASE, **case.cfg}), "cam1")
    events: list[Event] = []
    for i in range(case.n_frames):
        rows = []
        for (tid, vid), segs in case.presence.items():
            for a, b, where in segs:
                if a <= i <= b:
                    rows.append((tid, vid, INSIDE if where == "in" else OUTSIDE))
        pts = i / FPS
        events += za.update(tracks_at(rows), pts, T0_WALL + pts)
    if case.close_at_end:
        pts = (case.n_frames - 1) / FPS
        events += za.close(pts, T0_WALL + pts)
    return za, events


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_stays(case: Case) -> None:
    za, events = run_case(case)
    got = [(s.subject, s.dwell_s) for s in za.stays() if s.zone_id == "z1"]
    assert [g[0] for g in got] == [e[0] for e in case.expected]
    np.testing.assert_allclose([g[1] for g in got], [e[1] for e in case.expected], atol=1e-9)
    z1 = [e for e in events if e.zone_id == "z1"]
    entered = [e for e in z1 if e.type == "zone.entered"]
    exited = [e for e in z1 if e.type == "zone.exited"]
    # every reported stay has exactly one entered and one exited event, nothing else
    assert len(entered) == len(exited) == len(case.expected)
    for stay, ex in zip([s for s in za.stays() if s.zone_id == "z1"], exited, strict=True):
        assert ex.subject == format_subject(stay.subject)
        assert ex.payload["dwell_s"] == pytest.approx(stay.dwell_s, abs=1e-3)
        assert ex.ts.timestamp() == pytest.approx(stay.exit_wall)
        assert ex.payload["entered_at"].startswith("2023-11-14T22:13")
    assert za.occupancy()["z1"] == 0 or not case.close_at_end


def test_event_payloads_and_timestamps() -> None:
    _, events = run_case(CASES[0])
    entered, exited = [e for e in events if e.zone_id == "z1"]
    assert entered.type == "zone.entered" and exited.type == "zone.exited"
    assert entered.store_id == "s1" and entered.camera_id == "cam1" and entered.zone_id == "z1"
    assert entered.payload == {"zone_name": "Electronics", "zone_kind": "shelf", "category": "tv"}
    # entered is stamped with the first inside observation, exited with the last one
    assert entered.ts.timestamp() == pytest.approx(T0_WALL + 0.0)
    assert exited.ts.timestamp() == pytest.approx(T0_WALL + 3.0)
    assert exited.payload["entered_at"] == entered.ts.isoformat()
    assert exited.payload["zone_kind"] == "shelf"


def test_occupancy_while_inside_and_in_exit_grace() -> None:
    za = ZoneAnalytics(make_store(**BASE), "cam1")
    for i in range(20):  # two subjects inside for 2 s
        za.update(tracks_at([(1, None, INSIDE), (2, None, INSIDE), (3, None, OUTSIDE)]), i / FPS, T0_WALL + i / FPS)
    assert za.occupancy() == {"z1": 2, "z2": 1}  # OUTSIDE lies in the aisle zone z2
    za.update(tracks_at([(1, None, INSIDE)]), 2.0, T0_WALL + 2.0)  # 2 vanished, still within exit grace
    assert za.occupancy()["z1"] == 2
    za.update(tracks_at([(1, None, INSIDE)]), 3.0, T0_WALL + 3.0)
    assert za.occupancy()["z1"] == 1
    ev = za.close(3.0, T0_WALL + 3.0)
    assert [e.subject for e in ev] == [format_subject(1)]
    assert za.occupancy()["z1"] == 0


def test_dwell_exceeded_once_per_stay() -> None:
    za = ZoneAnalytics(make_store(**BASE, dwell_alert_s=2.0), "cam1")
    events = []
    for i in range(60):
        events += za.update(tracks_at([(1, None, INSIDE)]), i / FPS, T0_WALL + i / FPS)
    alerts = [e for e in events if e.type == "zone.dwell_exceeded"]
    assert len(alerts) == 1
    assert alerts[0].payload["dwell_s"] == pytest.approx(2.0)
    assert alerts[0].ts.timestamp() == pytest.approx(T0_WALL + 2.0)


def test_pts_going_back_closes_open_stays() -> None:
    za = ZoneAnalytics(make_store(**BASE), "cam1")
    events = []
    for i in range(30):
        events += za.update(tracks_at([(1, None, INSIDE)]), 100 + i / FPS, T0_WALL + i / FPS)
    events += za.update(tracks_at([(1, None, INSIDE)]), 0.0, T0_WALL + 3.0)  # source restarted
    assert [e.type for e in events] == ["zone.entered", "zone.exited"]
    assert za.stays()[0].dwell_s == pytest.approx(2.9)


def test_floor_zone_needs_floor_xy() -> None:
    store = StoreConfig.model_validate(
        {
            "store_id": "s1",
            "cameras": [
                {
                    "id": "cam1",
                    "source": "x.mp4",
                    "calibration": {
                        "image_points": [[0, 0], [1, 0], [1, 1], [0, 1]],
                        "floor_points": [[0, 0], [1, 0], [1, 1], [0, 1]],
                    },
                }
            ],
            "zones": [{"id": "f1", "space": "floor", "points": [[0, 0], [2, 0], [2, 2], [0, 2]]}],
        }
    )
    za = ZoneAnalytics(store, None, store.zones)
    assert za.update(Tracks.empty(), 0.0, T0_WALL) == []  # nothing to place: fine
    with pytest.raises(ValueError, match="floor_xy"):
        za.update(tracks_at([(1, None, INSIDE)]), 0.1, T0_WALL)
    t = tracks_at([(1, None, INSIDE), (2, None, INSIDE)]).replace(
        floor_xy=np.array([[1.0, 1.0], [np.nan, np.nan]], np.float32)
    )
    assert zone_membership(t, store.zones).tolist() == [[True], [False]]


def test_bad_arguments() -> None:
    store = make_store(**BASE)
    with pytest.raises(ValueError, match="unknown camera"):
        ZoneAnalytics(store, "nope")
    za = ZoneAnalytics(store, "cam1")
    with pytest.raises(ValueError, match="finite"):
        za.update(Tracks.empty(), float("nan"), T0_WALL)
    with pytest.raises(ValueError, match="shape"):
        za.update(tracks_at([(1, None, INSIDE)]), 0.0, T0_WALL, membership=np.zeros((0, 2), bool))


def test_membership_matches_per_point_reference() -> None:
    rng = np.random.default_rng(0)
    zone = ZoneConfig(id="tri", camera="cam1", points=[(10, 10), (200, 40), (60, 180)])
    feet = rng.uniform(0, 220, size=(200, 2))
    t = tracks_at([(i, None, (float(x), float(y))) for i, (x, y) in enumerate(feet)])

    def inside(px: float, py: float) -> bool:  # barycentric test, independent of ray casting
        (ax, ay), (bx, by), (cx, cy) = zone.points
        d = (by - cy) * (ax - cx) + (cx - bx) * (ay - cy)
        u = ((by - cy) * (px - cx) + (cx - bx) * (py - cy)) / d
        v = ((cy - ay) * (px - cx) + (ax - cx) * (py - cy)) / d
        return u >= 0 and v >= 0 and u + v <= 1

    got = zone_membership(t, [zone])[:, 0]
    ref = [inside(float(x), float(y)) for x, y in t.bottom_center]
    assert got.tolist() == ref
    assert 20 < got.sum() < 180
