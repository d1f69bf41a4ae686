"""Counting lines: direction, dead band, line ends, gaps, occupancy."""

from __future__ import annotations

import numpy as np
import pytest

from storelens.analytics.lines import LineCounter, count_crossings
from storelens.config.cameras import LineConfig

# Horizontal line drawn left to right. Standing at a looking at b (towards +x on screen), the visual
# left is up (smaller y in a y-down image): walking down across it is "in".
LINE = LineConfig(id="door", name="Front door", camera="cam1", a=(0.0, 100.0), b=(200.0, 100.0))


def run(
    paths: dict[int, list[tuple[float, float] | None]], hysteresis: float = 2.0, max_gap_s: float = 5.0, dt: float = 0.1
) -> LineCounter:
    counter = LineCounter("s1", "cam1", [LINE], hysteresis, max_gap_s)
    n = max((len(p) for p in paths.values()), default=0)
    for i in range(n):
        subj = [s for s, p in paths.items() if i < len(p) and p[i] is not None]
        xy = np.array([paths[s][i] for s in subj], dtype=np.float64).reshape(-1, 2)
        counter.update(np.array(subj, dtype=np.int64), xy, i * dt, 1e9 + i * dt)
    return counter


def walk(x0: float, y0: float, x1: float, y1: float, n: int = 10) -> list[tuple[float, float] | None]:
    return [(x0 + (x1 - x0) * k / (n - 1), y0 + (y1 - y0) * k / (n - 1)) for k in range(n)]


CASES = [
    ("down_is_in", {1: walk(100, 50, 100, 150)}, {"in": 1, "out": 0}, 1),
    ("up_is_out", {1: walk(100, 150, 100, 50)}, {"in": 0, "out": 1}, 0),
    ("in_then_out", {1: walk(100, 50, 100, 150) + walk(100, 150, 100, 50)}, {"in": 1, "out": 1}, 0),
    ("around_the_end_is_not_a_crossing", {1: walk(260, 50, 260, 150)}, {"in": 0, "out": 0}, 0),
    ("jitter_inside_dead_band", {1: [(100, 100 + (-1) ** k * 1.5) for k in range(30)]}, {"in": 0, "out": 0}, 0),
    (
        "two_in_one_out",
        {1: walk(50, 40, 60, 160), 2: walk(150, 30, 140, 170), 3: walk(120, 180, 110, 20)},
        {"in": 2, "out": 1},
        1,
    ),
    ("empty", {}, {"in": 0, "out": 0}, 0),
    (
        "vanish_and_new_id_other_side",
        {1: walk(100, 50, 100, 90), 2: [None] * 10 + walk(100, 110, 100, 150)},
        {"in": 0, "out": 0},
        0,
    ),
    (
        "gap_longer_than_max_gap",
        {1: walk(100, 50, 100, 80) + [None] * 60 + walk(100, 120, 100, 150)},
        {"in": 0, "out": 0},
        0,
    ),
    (
        "short_gap_still_counts",
        {1: walk(100, 50, 100, 80) + [None] * 5 + walk(100, 120, 100, 150)},
        {"in": 1, "out": 0},
        1,
    ),
    (
        "occupancy_never_negative",
        {1: walk(100, 150, 100, 50), 2: [None] * 12 + walk(100, 50, 100, 150)},
        {"in": 1, "out": 1},
        1,
    ),
]


@pytest.mark.parametrize(("name", "paths", "counts", "occupancy"), CASES, ids=[c[0] for c in CASES])
def test_line_cases(name: str, paths: dict, counts: dict[str, int], occupancy: int) -> None:
    counter = run(paths)
    assert counter.counts["door"] == counts
    assert counter.occupancy == occupancy


def test_events() -> None:
    counter = LineCounter("s1", "cam1", [LINE], 2.0)
    events = []
    for i, (x, y) in enumerate(walk(100, 50, 100, 150)):
        events += counter.update(np.array([7]), np.array([[x, y]]), i * 0.1, 1e9 + i * 0.1)
    assert [e.type for e in events] == ["line.crossed", "occupancy.changed"]
    crossed, occ = events
    assert crossed.payload["direction"] == "in" and crossed.payload["line_id"] == "door"
    assert crossed.payload["line_name"] == "Front door" and crossed.subject == "7"
    assert crossed.payload["count_in"] == 1 and occ.payload["occupancy"] == 1


def test_matches_reference_loop_on_random_walks() -> None:
    rng = np.random.default_rng(3)
    counter = LineCounter("s1", "cam1", [LINE], 3.0, max_gap_s=100)
    tracks = {
        s: np.cumsum(rng.normal(0, 6, size=(200, 2)), axis=0) + np.array([rng.uniform(0, 200), rng.uniform(60, 140)])
        for s in range(12)
    }
    for i in range(200):
        subj = np.arange(12)
        counter.update(subj, np.array([tracks[s][i] for s in subj]), i * 0.1, 1e9 + i * 0.1)
    t = np.arange(200) * 0.1
    ref = [c for s in range(12) for c in count_crossings(t, tracks[s], LINE, 3.0)]
    assert counter.counts["door"]["in"] == sum(1 for _, d in ref if d == "in")
    assert counter.counts["door"]["out"] == sum(1 for _, d in ref if d == "out")
    assert len(ref) > 5  # the walks do cross


def test_nan_points_are_ignored() -> None:
    counter = LineCounter("s1", None, [LINE], 2.0)
    counter.update(np.array([1]), np.array([[100.0, 50.0]]), 0.0, 1e9)
    counter.update(np.array([1]), np.array([[np.nan, np.nan]]), 0.1, 1e9)
    counter.update(np.array([1]), np.array([[100.0, 150.0]]), 0.2, 1e9)
    assert counter.counts["door"]["in"] == 1
