"""The batched constant-velocity Kalman filter, driven by real (irregular) time steps."""

from __future__ import annotations

import numpy as np
import pytest

from storelens.tracking.kalman import BatchKalman, xyxy_to_z, z_to_xyxy


def test_box_conversions_round_trip() -> None:
    boxes = np.array([[10.0, 20.0, 50.0, 120.0], [0.0, 0.0, 4.0, 2.0]])
    z = xyxy_to_z(boxes)
    np.testing.assert_allclose(z, [[30, 70, 40, 100], [2, 1, 4, 2]])
    np.testing.assert_allclose(z_to_xyxy(z), boxes)


def test_predict_moves_by_velocity_times_dt_and_dt_zero_is_identity() -> None:
    kf = BatchKalman()
    mean, cov = kf.initiate(np.array([[100.0, 200.0, 40.0, 100.0]]))
    mean[0, 4:6] = [50.0, -20.0]  # px/s
    m0, c0 = kf.predict(mean, cov, 0.0)
    np.testing.assert_array_equal(m0, mean)
    np.testing.assert_array_equal(c0, cov)
    m1, _ = kf.predict(mean, cov, 0.4)
    np.testing.assert_allclose(m1[0, :2], [120.0, 192.0])


def test_uncertainty_grows_with_the_time_gap() -> None:
    kf = BatchKalman()
    mean, cov = kf.initiate(np.array([[100.0, 200.0, 40.0, 100.0]]))
    var = [np.diag(kf.predict(mean, cov, dt)[1][0])[:2] for dt in (0.04, 0.2, 1.0)]
    assert (var[0] < var[1]).all() and (var[1] < var[2]).all()


def test_irregular_timestamps_recover_the_true_velocity() -> None:
    rng = np.random.default_rng(3)
    times = np.cumsum(rng.uniform(0.03, 0.5, 60))  # jittery frame rate with dropped frames
    vel = np.array([60.0, -25.0])
    kf = BatchKalman()
    start = np.array([100.0, 300.0])
    mean, cov = kf.initiate(np.array([[*start, 40.0, 120.0]]))
    prev = 0.0
    for t in times:
        mean, cov = kf.predict(mean, cov, t - prev)
        centre = start + vel * t + rng.normal(0, 1.0, 2)
        mean, cov = kf.update(mean, cov, np.array([[*centre, 40.0, 120.0]]))
        prev = t
    np.testing.assert_allclose(mean[0, 4:6], vel, atol=4.0)
    ahead, _ = kf.predict(mean, cov, 0.7)
    np.testing.assert_allclose(ahead[0, :2], start + vel * (prev + 0.7), atol=4.0)


def test_frame_count_would_be_wrong_real_time_is_right() -> None:
    """Two observations 1 s apart after steady 0.1 s steps: the filter must not read the gap as
    one slow frame (which a frame-count model would)."""
    kf = BatchKalman()
    mean, cov = kf.initiate(np.array([[0.0, 0.0, 40.0, 100.0]]))
    t = 0.0
    for k in range(1, 21):
        mean, cov = kf.predict(mean, cov, 0.1)
        t = k * 0.1
        mean, cov = kf.update(mean, cov, np.array([[100.0 * t, 0.0, 40.0, 100.0]]))
    mean, cov = kf.predict(mean, cov, 1.0)
    assert mean[0, 0] == pytest.approx(300.0, abs=3.0)
    mean, _ = kf.update(mean, cov, np.array([[300.0, 0.0, 40.0, 100.0]]))
    assert mean[0, 4] == pytest.approx(100.0, abs=3.0)


def test_batch_equals_one_by_one_and_update_shrinks_uncertainty() -> None:
    kf = BatchKalman()
    z = np.array([[100.0, 200.0, 40.0, 100.0], [300.0, 150.0, 20.0, 60.0], [50.0, 50.0, 30.0, 90.0]])
    mean, cov = kf.initiate(z)
    mean[:, 4] = [10.0, -30.0, 0.0]
    dts = np.array([0.1, 0.5, 1.5])
    bm, bc = kf.predict(mean, cov, dts)
    meas = z + np.array([[2.0, -1.0, 0.5, 1.0]])
    um, uc = kf.update(bm, bc, meas)
    for i in range(3):
        m1, c1 = kf.predict(mean[i : i + 1], cov[i : i + 1], dts[i])
        m2, c2 = kf.update(m1, c1, meas[i : i + 1])
        np.testing.assert_allclose(um[i], m2[0])
        np.testing.assert_allclose(uc[i], c2[0])
    assert (np.diagonal(uc, axis1=1, axis2=2)[:, :4] < np.diagonal(bc, axis1=1, axis2=2)[:, :4]).all()
    np.testing.assert_allclose(uc, np.transpose(uc, (0, 2, 1)))


def test_gating_distance_is_zero_at_the_mean_and_grows_away() -> None:
    kf = BatchKalman()
    mean, cov = kf.initiate(np.array([[100.0, 200.0, 40.0, 100.0]]))
    d = kf.gating_distance(
        mean, cov, np.array([[100.0, 200.0, 40, 100], [110.0, 200.0, 40, 100], [200.0, 200, 40, 100]])
    )
    assert d[0, 0] == pytest.approx(0.0) and 0 < d[0, 1] < d[0, 2]
