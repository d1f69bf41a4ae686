"""Forecast, backtest, anomaly band and staffing on synthetic histories with known answers (issue 20)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from storelens.kpis import forecast as kf
from storelens.kpis.synthetic import WEEK, expected_week, history


def test_seasonal_naive_is_last_week_and_seasonal_mean_matches_a_plain_loop() -> None:
    y, _ = history(6, seed=1)
    assert np.array_equal(kf.forecast_week(y, "seasonal_naive"), y[-WEEK:])
    k = 3
    got = kf.forecast_week(y, "seasonal_mean", k)
    # independent: loop over hours, mean of the same hour in the last k weeks, damped level
    n = len(y)
    base = [sum(y[n - (w + 1) * WEEK + h] for w in range(k)) / k for h in range(WEEK)]
    ratio = sum(y[n - WEEK :]) / sum(base)
    level = min(2.0, max(0.5, 1 + 0.5 * (ratio - 1)))
    assert got == pytest.approx([b * level for b in base])


def test_too_short_history_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="at least one week"):
        kf.forecast_week(np.ones(100))
    with pytest.raises(ValueError, match="full weeks"):
        kf.backtest(np.ones(WEEK), "seasonal_naive")


@pytest.mark.parametrize("growth", [0.0, 0.03])
def test_the_method_beats_seasonal_naive_in_the_backtest(growth: float) -> None:
    y, _ = history(12, growth_per_week=growth, seed=7)
    res = {b.method: b for b in kf.score(y, k=4)}
    naive, mean = res["seasonal_naive"], res["seasonal_mean"]
    assert naive.mase == pytest.approx(1.0)
    assert mean.mase is not None and mean.mase < 0.9, (naive, mean)
    assert kf.best_method(y) == "seasonal_mean"
    # and its error against the known rate is below the naive one's
    f_naive, _ = kf.backtest(y, "seasonal_naive", 4, 4)
    f_mean, _ = kf.backtest(y, "seasonal_mean", 4, 4)
    _, rate = history(12, growth_per_week=growth, seed=7)
    truth = rate[4 * WEEK :]
    assert np.mean(np.abs(f_mean - truth)) < np.mean(np.abs(f_naive - truth))


def test_band_false_alarm_rate_stays_near_alpha_on_normal_traffic() -> None:
    alpha = 0.01
    flags = 0
    hours = 0
    for seed in range(30):
        y, _ = history(8, seed=100 + seed)
        f, _b = kf.anomalies(y, k=4, alpha=alpha)
        flags += int(f.sum())
        hours += len(f)
    rate = flags / hours
    print(f"false-alarm rate on normal synthetic traffic: {rate:.4f} per hour (alpha {alpha})")
    assert rate <= 2.5 * alpha, rate


def test_a_planted_anomaly_is_flagged() -> None:
    y, _ = history(8, seed=3)
    busy = int(np.argmax(expected_week()))  # Saturday 18:00
    last = len(y) - WEEK
    y[last + busy] *= 2.5
    y[last + busy - 24] = 0  # Friday evening: nobody came (door blocked)
    flags, b = kf.anomalies(y, k=4, alpha=0.01)
    assert flags[busy] and flags[busy - 24]
    assert y[last + busy] > b.high[busy] and b.low[busy - 24] > 0


def test_staffing_matches_a_hand_calculation() -> None:
    entries = [0.0, 10.0, 31.0, 120.0]
    got = kf.staff_needed(entries, mean_visit_s=1200, shoppers_per_staff=8, min_staff=1)
    want = [0] + [max(1, math.ceil(e * 1200 / 3600 / 8)) for e in entries[1:]]
    assert got == want == [0, 1, 2, 5]
    with pytest.raises(ValueError):
        kf.staff_needed(entries, 1200, 0)
