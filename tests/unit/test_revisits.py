"""Revisits (and lingering) on synthetic zone timelines, online state vs offline reference."""

from __future__ import annotations

import numpy as np
import pytest

from factories import standing_tracks
from storelens.analytics.lingering import LingeringDetector, slow_spells
from storelens.analytics.revisits import RevisitDetector, find_revisits
from storelens.analytics.zones import ZoneAnalytics
from storelens.config.store import StoreConfig
from storelens.core.types import Tracks

FPS = 10
GAP = 5.0


def store() -> StoreConfig:
    return StoreConfig.model_validate(
        {
            "store_id": "s1",
            "cameras": [{"id": "cam1", "source": "x.mp4"}],
            "zones": [
                {"id": "tv", "name": "TVs", "camera": "cam1", "points": [[0, 0], [100, 0], [100, 100], [0, 100]]}
            ],
            "zone_analytics": {"enter_grace_s": 0.2, "exit_grace_s": 1.0, "min_dwell_s": 0.5},
            "behaviour": {"revisit_gap_s": GAP},
        }
    )


def tracks(rows: list[tuple[int, int | None, float, float]]) -> Tracks:
    """rows: (track id, visit id or None, feet x, feet y); each a 10x50 px box on its feet."""
    return standing_tracks([(t, v, (x, y)) for t, v, x, y in rows], width=10, height=50)


# per subject key (track, visit): list of (first_frame, last_frame) inside; other frames outside (visible)
CASES = [
    ("away_longer_than_gap", {(1, None): [(0, 20), (100, 130)]}, [(1, 2)]),
    ("away_shorter_than_gap_is_two_stays_no_revisit", {(1, None): [(0, 20), (50, 80)]}, []),
    ("three_stays_two_revisits", {(1, None): [(0, 20), (100, 130), (200, 230)]}, [(1, 2), (1, 3)]),
    ("stitched_visit_survives_id_switch", {(1, 9): [(0, 20)], (2, 9): [(100, 130)]}, [(9, 2)]),
    ("unstitched_id_switch_is_two_people", {(1, None): [(0, 20)], (2, None): [(100, 130)]}, []),
    ("two_subjects_independent", {(1, None): [(0, 20), (100, 130)], (2, None): [(30, 60)]}, [(1, 2)]),
    ("empty", {}, []),
]


@pytest.mark.parametrize(("name", "inside", "expected"), CASES, ids=[c[0] for c in CASES])
def test_revisits(name: str, inside: dict, expected: list[tuple[int, int]]) -> None:
    cfg = store()
    za = ZoneAnalytics(cfg, "cam1")
    rd = RevisitDetector("s1", "cam1", za.zones, GAP)
    events = []
    for i in range(260):
        rows = []
        for (tid, vid), spans in inside.items():
            first, last = spans[0][0], spans[-1][1]
            if not (first <= i <= last + 15):
                continue  # the track exists from its first entry to shortly after its last exit
            is_in = any(a <= i <= b for a, b in spans)
            rows.append((tid, vid, 50.0 if is_in else 300.0, 50.0))
        za.update(tracks(rows), i / FPS, 1e9 + i / FPS)
        events += rd.update(za.transitions)
    za.close(259 / FPS, 1e9 + 25.9)
    events += rd.update(za.transitions)
    got = [(int(r.subject), r.visit_number) for r in rd.revisits]
    assert got == expected
    assert [e.type for e in events] == ["zone.revisited"] * len(expected)
    offline = find_revisits(za.stays(), GAP)
    assert [(r.subject, r.visit_number) for r in offline] == expected
    for on, off in zip(rd.revisits, offline, strict=True):
        assert on.gap_s == pytest.approx(off.gap_s)
        assert on.gap_s >= GAP


def test_revisit_event_payload() -> None:
    cfg = store()
    za = ZoneAnalytics(cfg, "cam1")
    rd = RevisitDetector("s1", "cam1", za.zones, GAP)
    ev = []
    for i in range(140):
        x = 50.0 if (i <= 20 or i >= 100) else 300.0
        za.update(tracks([(4, None, x, 50.0)]), i / FPS, 1e9 + i / FPS)
        ev += rd.update(za.transitions)
    (e,) = ev
    assert e.zone_id == "tv" and e.subject == "4"
    assert e.payload["zone_name"] == "TVs" and e.payload["visit_number"] == 2
    assert e.payload["gap_s"] == pytest.approx(10.0 - 2.0)  # last inside 2.0 s, back inside at 10.0 s


def test_lingering_matches_reference() -> None:
    cfg = store()
    zones = cfg.zones
    det = LingeringDetector("s1", "cam1", zones, speed_threshold=0.3, min_s=2.0, unit="m/s")
    rng = np.random.default_rng(1)
    n = 300
    t = np.arange(n) / FPS
    speed = np.where((t > 5) & (t < 12), 0.1, 1.0) + rng.normal(0, 0.02, n)  # slow spell 5-12 s
    speed[(t > 20) & (t < 21)] = 0.1  # too short to count
    speed[0] = np.nan
    inside = np.ones(n, bool)
    inside[(t > 8) & (t < 8.25)] = False  # stepped out briefly: spell restarts
    events = []
    for i in range(n):
        events += det.update(np.array([1]), np.array([speed[i]]), inside[i : i + 1, None], t[i], 1e9 + t[i])
    ref = slow_spells(t, speed, inside, 0.3, 2.0)
    assert len(events) == len(ref) == 2
    for e, (a, _) in zip(events, ref, strict=True):
        assert e.type == "zone.lingering" and e.payload["speed_unit"] == "m/s"
        assert e.ts.timestamp() == pytest.approx(1e9 + a + 2.0, abs=0.11)
    assert det.counts == {"tv": 2}
    assert det.update(np.zeros(0, np.int64), np.zeros(0), np.zeros((0, 1), bool), 40.0, 1e9) == []
