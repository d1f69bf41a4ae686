"""SpeedEstimator: jitter on a standing shopper must not read as walking; walking speed unbiased."""

from __future__ import annotations

import numpy as np
import pytest

from storelens.analytics.speed import SpeedEstimator

FPS = 5.0
JITTER_M = 0.12  # the simulator's "realistic" feet jitter (storelens.sim.noise)


def _speeds(est: SpeedEstimator, xy: np.ndarray) -> np.ndarray:
    out = []
    for i, p in enumerate(xy):
        out.append(est.update([7], p.reshape(1, 2), i / FPS)[0])
    return np.asarray(out[int(2 * FPS) :])  # after the first two seconds


def test_standing_with_jitter_reads_as_still_only_when_smoothed() -> None:
    rng = np.random.default_rng(0)
    xy = np.array([3.0, 4.0]) + rng.normal(0, JITTER_M, size=(int(60 * FPS), 2))
    smoothed = _speeds(SpeedEstimator(1.0, smoothing_s=1.0), xy)
    raw = _speeds(SpeedEstimator(1.0, smoothing_s=0.0), xy)
    # 0.2 m/s is the default lingering threshold
    assert np.mean(smoothed >= 0.2) < 0.01
    assert np.mean(raw >= 0.2) > 0.3  # what the raw window gave: lingering found only by luck
    assert np.median(smoothed) < np.median(raw) / 2.5


@pytest.mark.parametrize("smoothing_s", [0.0, 1.0])
def test_walking_speed_is_unbiased(smoothing_s: float) -> None:
    t = np.arange(int(30 * FPS)) / FPS
    xy = np.stack([1.1 * t, np.full_like(t, 2.0)], axis=1)
    speeds = _speeds(SpeedEstimator(1.0, smoothing_s=smoothing_s), xy)
    assert np.median(speeds[int(3 * FPS) :]) == pytest.approx(1.1, rel=0.02)


def test_stop_is_seen_within_a_few_seconds() -> None:
    t = np.arange(int(20 * FPS)) / FPS
    x = np.minimum(t, 10.0) * 1.2  # walks 10 s, then stands
    speeds = _speeds(SpeedEstimator(1.0, smoothing_s=1.0), np.stack([x, np.zeros_like(x)], axis=1))
    still = np.flatnonzero(speeds < 0.2)
    first_still_t = (still[0] + 2 * FPS) / FPS
    assert 10.0 < first_still_t <= 13.0


def test_gap_restarts_smoothing_and_new_subjects_merge() -> None:
    est = SpeedEstimator(1.0, smoothing_s=1.0)
    est.update([1, 2], np.array([[0.0, 0.0], [5.0, 5.0]]), 0.0)
    est.update([2, 3], np.array([[5.0, 5.0], [9.0, 9.0]]), 0.2)
    # subject 1 unseen for 5 s reappears 4 m away: no smoothing across the gap
    s = est.update([1], np.array([[4.0, 0.0]]), 5.2)
    assert np.isnan(s[0]) or s[0] >= 0.0
    assert est._s_xy[np.searchsorted(est._s_subj, 1)].tolist() == [4.0, 0.0]
    assert est._s_subj.tolist() == [1]  # 2 and 3 forgotten after the gap
