"""Buying units and child banding against hand-made paths and the simulated groups' truth (issue 20)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storelens.kpis.units import GroupingConfig, Person, buying_units, linked
from storelens.kpis.units_store import NO_HEIGHTS, compute_units
from storelens.sim.groups import simulate_groups

T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def walk(x0: float, y0: float, vx: float, vy: float, seconds: int) -> list[tuple[float, float, float]]:
    return [(float(t), x0 + vx * t, y0 + vy * t) for t in range(seconds + 1)]


def person(sid: str, dt_s: float, path: list[tuple[float, float, float]], **kw: object) -> Person:
    return Person(sid, T0 + timedelta(seconds=dt_s), path, **kw)  # type: ignore[arg-type]


def test_link_rule_by_hand() -> None:
    cfg = GroupingConfig(entry_window_s=10, max_distance=1.5, min_together_s=30, min_together_share=0.6)
    a = person("a", 0, walk(0, 0, 0.5, 0, 120))
    b = person("b", 2, walk(0.6, 0.5, 0.5, 0, 120))  # 2 s behind at 0.5 m/s: 0.4 m back, 0.5 m aside = 0.64 m
    far = person("c", 3, walk(0, 0, 0, 0.5, 120))  # same door, walks the other way
    late = person("d", 30, walk(0, 0, 0.5, 0, 120))  # same route but 30 s later: not together
    assert linked(a, b, cfg) and linked(b, a, cfg)
    assert not linked(a, far, cfg)
    assert not linked(a, late, cfg)
    # the distance is measured at the same wall time: b's path clock starts at its own entry
    assert linked(a, b, GroupingConfig(max_distance=0.66, min_together_share=0.95))
    assert not linked(a, b, GroupingConfig(max_distance=0.62))
    # image-space paths pair only within one camera
    ia = person("ia", 0, walk(0, 0, 20, 0, 60), space="image", camera_id="cam1")
    ib = person("ib", 1, walk(10, 0, 20, 0, 60), space="image", camera_id="cam2")
    assert not linked(ia, ib, cfg)
    assert linked(ia, Person("ic", ib.entered_at, ib.path, "image", "cam1"), cfg)


def test_units_children_and_transitive_groups() -> None:
    ppl = [
        person("mum", 0, walk(0, 0, 0.5, 0, 100), height_m=1.68),
        person("kid", 1, walk(0.5, 0.4, 0.5, 0, 100), height_m=1.10),
        person("dad", 2, walk(1.0, 0.8, 0.5, 0, 100), height_m=1.85),  # 1.3 m from mum: linked via kid
        person("solo", 4, walk(0, 0, 0, 0.6, 100), height_m=1.75),
        person("lone-kid", 300, walk(0, 0, 0.3, 0.3, 100), height_m=1.05),
    ]
    r = buying_units(ppl, GroupingConfig(max_distance=0.8))
    assert r.people == 5 and r.children == 2 and r.height_unknown == 0
    assert r.visitors == 3  # children excluded
    assert r.units == 2 and r.unit_sizes == {1: 1, 2: 1}
    assert r.groups[0] == ["dad", "kid", "mum"]
    kept = buying_units(ppl, GroupingConfig(max_distance=0.8, exclude_children=False))
    assert kept.visitors == 5 and kept.units == 3 and kept.unit_sizes == {1: 2, 3: 1}


def test_no_heights_is_not_measured_and_nobody_is_dropped() -> None:
    ppl = [person("a", 0, walk(0, 0, 0.5, 0, 60)), person("b", 1, walk(0.3, 0, 0.5, 0, 60))]
    r = buying_units(ppl)
    assert r.children is None and r.height_unknown == 2 and r.visitors == 2 and r.units == 1
    rows, total = compute_units(ppl, None, T0, T0 + timedelta(hours=1), UTC, "hour", GroupingConfig())
    assert total.notes["children"] == NO_HEIGHTS and total.buyers is None and total.unit_conversion is None
    assert rows[0].units == 1


def test_buckets_keep_a_unit_whole_and_conversions_side_by_side() -> None:
    # a pair straddling 11:00 belongs to 10:00 (its first entry), a single at 11:30
    ppl = [
        person("a", 3599, walk(0, 0, 0.5, 0, 90), height_m=1.7),
        person("b", 3601, walk(0.4, 0, 0.5, 0, 90), height_m=1.6),
        person("c", 5400, walk(0, 0, 0.5, 0, 90), height_m=1.8),
    ]
    sales = [(T0 + timedelta(minutes=50), 10.0), (T0 + timedelta(minutes=95), 5.0)]
    rows, total = compute_units(ppl, sales, T0, T0 + timedelta(hours=2), UTC, "hour", GroupingConfig())
    assert [(r.people, r.units, r.buyers) for r in rows] == [(2, 1, 1), (1, 1, 1)]
    assert rows[0].raw_conversion == pytest.approx(0.5) and rows[0].unit_conversion == pytest.approx(1.0)
    assert total.people == 3 and total.units == 2 and total.buyers == 2
    assert total.raw_conversion == pytest.approx(2 / 3) and total.unit_conversion == pytest.approx(1.0)
    assert total.people_per_unit == pytest.approx(1.5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_simulated_groups_and_children_match_the_truth(seed: int) -> None:
    sc = simulate_groups(40, seed=seed)
    assert sc.children > 0 and len(sc.units) < len(sc.visitors)  # there is something to find
    ppl = [Person(v.subject, T0 + timedelta(seconds=v.t0), v.path, height_m=v.height_m) for v in sc.visitors]
    r = buying_units(ppl)
    assert r.children == sc.children
    assert r.units == sc.adult_units()
    assert {tuple(g) for g in r.groups} == {tuple(sorted(u)) for u in sc.units}
    # entering together alone is not enough: the strangers right behind a group get merged
    naive = buying_units(ppl, GroupingConfig(min_together_s=0, min_together_share=0.0))
    assert naive.units < r.units
