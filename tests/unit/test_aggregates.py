"""Per-zone bucket aggregates and dwell distributions against plain-loop references."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from storelens.analytics.aggregates import aggregate_zones
from storelens.analytics.dwell import dwell_distribution, dwell_stats
from storelens.analytics.occupancy import PeakOccupancy
from storelens.analytics.revisits import Revisit
from storelens.analytics.timebuckets import BucketClock, bucket_start
from storelens.analytics.zones import ZoneStay

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("UTC")).timestamp()  # a Monday, 09:00 UTC


def stay(subject: int, zone: str, start_min: float, dwell_s: float) -> ZoneStay:
    t = T0 + start_min * 60
    return ZoneStay(subject, zone, t, t + dwell_s, dwell_s, t - T0, t - T0 + dwell_s)


def test_empty() -> None:
    assert aggregate_zones([], 900) == []
    assert dwell_distribution([], ["a"])["a"]["count"] == 0
    assert dwell_stats([]) == {"count": 0}


def test_buckets_match_reference() -> None:
    rng = np.random.default_rng(5)
    stays = []
    for k in range(300):
        zone = ["tv", "phones", "till"][k % 3]
        stays.append(stay(int(rng.integers(0, 60)), zone, float(rng.uniform(0, 180)), float(rng.exponential(40))))
    revisits = [Revisit(s.subject, s.zone_id, 40.0, 2, s.enter_wall) for s in stays[::17]]
    staff = {3, 7}
    rows = aggregate_zones(stays, 900, revisits=revisits, checkout_zones=["till"], exclude_subjects=staff)
    assert [(r.start, r.zone_id) for r in rows] == sorted((r.start, r.zone_id) for r in rows)
    for r in rows:
        group = [
            s
            for s in stays
            if s.zone_id == r.zone_id and r.start <= s.enter_wall < r.start + 900 and s.subject not in staff
        ]
        assert r.visits == len(group)
        subjects = {s.subject for s in group}
        assert r.unique_visitors == len(subjects)
        if group:
            d = sorted(s.dwell_s for s in group)
            assert r.median_dwell_s == pytest.approx(float(np.median(d)))
            assert r.p90_dwell_s == pytest.approx(float(np.percentile(d, 90)))
        n_rv = sum(
            1
            for v in revisits
            if v.zone_id == r.zone_id and r.start <= v.wall < r.start + 900 and v.subject not in staff
        )
        assert r.revisits == n_rv
        conv = 0
        for subj in subjects:
            first = min(s.enter_wall for s in group if s.subject == subj)
            if any(s.zone_id == "till" and s.subject == subj and s.enter_wall >= first for s in stays):
                conv += 1
        assert r.conversions == conv
        assert r.conversion_rate == (pytest.approx(conv / len(subjects)) if subjects else None)
        assert r.peak_occupancy is None
    assert sum(r.visits for r in rows) == sum(1 for s in stays if s.subject not in staff)
    # the same stays in hour buckets add up to the same visits
    assert sum(r.visits for r in aggregate_zones(stays, 3600, exclude_subjects=staff)) == sum(r.visits for r in rows)


def test_day_bucket_starts_at_local_midnight() -> None:
    tz = "Europe/Berlin"
    late = datetime(2026, 7, 1, 23, 30, tzinfo=ZoneInfo(tz)).timestamp()  # 21:30 UTC
    start = bucket_start(late, 86400, tz)
    assert datetime.fromtimestamp(start, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") == "2026-07-01 00:00"
    after_midnight = late + 3600
    assert bucket_start(after_midnight, 86400, tz) == start + 86400
    clock = BucketClock(86400, tz)
    assert clock.start(late) == start and clock.start(after_midnight) == start + 86400
    s = ZoneStay(1, "a", late, late + 10, 10, 0, 10)
    rows = aggregate_zones([s], 86400, timezone=tz)
    assert rows[0].start == start
    assert aggregate_zones([s], 86400)[0].start != start  # UTC day starts elsewhere
    with pytest.raises(ValueError, match="unknown timezone"):
        bucket_start(late, 900, "Mars/Olympus")


def test_peak_occupancy_per_bucket() -> None:
    peaks = PeakOccupancy([900, 3600])
    series = [(0, 1), (100, 3), (200, 2), (950, 5), (1000, 0)]
    for t, n in series:
        peaks.update({"tv": n}, T0 + t)
    assert peaks.peak(900, "tv", T0) == 3
    assert peaks.peak(900, "tv", T0 + 900) == 5
    assert peaks.peak(3600, "tv", T0) == 5
    rows = aggregate_zones([stay(1, "tv", 1, 30)], 900, peaks=peaks.peaks)
    assert [(r.start - T0, r.visits, r.peak_occupancy) for r in rows] == [(0, 1, 3), (900, 0, 5)]
    assert peaks.overall() == {"tv": 5}


def test_dwell_distribution_histogram() -> None:
    stays = [stay(i, "tv", i, d) for i, d in enumerate([2, 7, 12, 45, 45, 200, 900])]
    d = dwell_distribution(stays, ["tv", "empty"])
    assert d["tv"]["count"] == 7 and d["tv"]["median_s"] == 45
    assert d["tv"]["histogram"] == {
        "0-5s": 1,
        "5-10s": 1,
        "10-30s": 1,
        "30-60s": 2,
        "60-120s": 0,
        "120-300s": 1,
        "300-600s": 0,
        ">=600s": 1,
    }
    assert d["empty"]["count"] == 0 and sum(d["empty"]["histogram"].values()) == 0
