"""The fleet load generator (sim/fleet.py): the trading-day shape and exact, unique event counts."""

from __future__ import annotations

import pytest

from storelens.sim.fleet import (
    LARGE_CAMERAS,
    SMALL_CAMERAS,
    FleetLoad,
    day_curve,
    fleet_stores,
    mean_of_day,
    visit_events,
)


def test_day_curve_is_closed_outside_hours_and_peaks_at_lunch() -> None:
    assert day_curve(7.9) == 0.0 and day_curve(21.0) == 0.0
    assert day_curve(12.5) == 1.0
    assert day_curve(9.0) < day_curve(11.8) < day_curve(12.5)
    assert day_curve(15.5) < day_curve(18.0) < day_curve(12.5)  # afternoon dip, lower evening peak
    assert 0.5 < mean_of_day() < 0.75


def test_fleet_stores_are_seeded_and_sized() -> None:
    a, b = fleet_stores(200, seed=3), fleet_stores(200, seed=3)
    assert a == b and len({s.store_id for s in a}) == 200
    assert {s.cameras for s in a} == {SMALL_CAMERAS, LARGE_CAMERAS}
    assert all(s.cameras == SMALL_CAMERAS for s in fleet_stores(20, large_share=0.0))
    with pytest.raises(ValueError):
        fleet_stores(0)


def test_a_compressed_day_follows_the_curve_with_unique_ids() -> None:
    stores = fleet_stores(12, seed=1)
    load = FleetLoad(stores, peak_events_s=400.0, day_s=13.0, id_prefix="T", live=False)
    per_tick: list[int] = []
    ids: set[str] = set()
    per_store: dict[str, int] = {}
    while not load.closed:
        evs = load.next_tick(0.25)  # a quarter of a simulated hour
        per_tick.append(len(evs))
        ids.update(e.id for e in evs)
        for e in evs:
            per_store[e.store_id] = per_store.get(e.store_id, 0) + 1
    assert len(per_tick) == 52 and sum(per_tick) == load.produced == len(ids)
    # the whole day is the curve's mean times the peak rate times its length, to rounding per store
    assert abs(load.produced - 400.0 * 13.0 * mean_of_day()) < 12 + 0.02 * load.produced
    lunch, morning = per_tick[17], per_tick[1]  # 12:15 vs 08:15
    assert lunch > 3 * morning
    large = next(s for s in stores if s.cameras == LARGE_CAMERAS).store_id
    small = next(s for s in stores if s.cameras == SMALL_CAMERAS).store_id
    assert per_store[large] / per_store[small] == pytest.approx(LARGE_CAMERAS / SMALL_CAMERAS, rel=0.05)
    assert len(visit_events(large, 0)) == 24


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        FleetLoad(fleet_stores(2), peak_events_s=0, day_s=10, id_prefix="x")
    with pytest.raises(ValueError):
        FleetLoad([], peak_events_s=10, day_s=10, id_prefix="x")
