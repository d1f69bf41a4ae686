"""Funnel buckets in store time and the pure funnel against a plain count (issue 20)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from storelens.kpis.buckets import bucket_starts
from storelens.kpis.funnel import NO_POS, NO_STOREFRONT, FunnelInputs, compute_funnel, funnel_total

BERLIN = ZoneInfo("Europe/Berlin")


def test_local_days_and_weeks_across_a_dst_change() -> None:
    since = datetime(2025, 3, 29, tzinfo=BERLIN)  # Saturday; clocks go forward on Sunday 30 March
    until = datetime(2025, 4, 1, tzinfo=BERLIN)
    days = bucket_starts(since, until, BERLIN, "day")
    assert [d.astimezone(BERLIN).day for d in days] == [29, 30, 31]
    assert (days[2] - days[1]) == timedelta(hours=23)
    hours = bucket_starts(days[1], days[2], BERLIN, "hour")
    assert len(hours) == 23 and len(set(hours)) == 23
    weeks = bucket_starts(since, datetime(2025, 4, 15, tzinfo=BERLIN), BERLIN, "week")
    assert [w.astimezone(BERLIN).strftime("%a %d") for w in weeks] == ["Mon 24", "Mon 31", "Mon 07", "Mon 14"]


def test_funnel_against_a_plain_count() -> None:
    t0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
    at = [t0 + timedelta(minutes=7 * i) for i in range(60)]  # 7 hours of times
    inputs = FunnelInputs(
        passers_by=at,
        entries=at[::3],
        entries_source="entrance_line",
        engaged=at[::6],
        sales=[(t, 2.5) for t in at[::9]],
    )
    rows = compute_funnel(inputs, t0, t0 + timedelta(hours=7), UTC, "hour")
    for r in rows:
        end = r.bucket_start + timedelta(hours=1)

        def n(ts: list[datetime], start: datetime = r.bucket_start, stop: datetime = end) -> int:
            return sum(start <= t < stop for t in ts)

        assert (r.passers_by, r.entries, r.engaged) == (n(at), n(at[::3]), n(at[::6]))
        assert r.buyers == n(at[::9]) and r.sales == 2.5 * n(at[::9])
        if r.entries:
            assert r.conversion == r.buyers / r.entries
    total = funnel_total(inputs, t0, t0 + timedelta(hours=7))
    assert (total.passers_by, total.entries, total.buyers) == (60, 20, 7)
    assert total.capture_rate == 20 / 60 and total.sales_per_visitor == 7 * 2.5 / 20
    missing = FunnelInputs(None, at, "visits", [], None)
    r0 = compute_funnel(missing, t0, t0 + timedelta(hours=1), UTC, "hour")[0]
    assert r0.passers_by is None and r0.notes["capture_rate"] == NO_STOREFRONT
    assert r0.buyers is None and r0.conversion is None and r0.notes["conversion"] == NO_POS
