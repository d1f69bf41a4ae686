"""Calibration, feet points and floor mapping: synthetic tables plus real MOT ground truth."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from factories import make_tracks
from storelens.analytics.floor import (
    FEET_ANKLES,
    FEET_BOX,
    FEET_BOX_EXTRAPOLATED,
    FEET_HIPS,
    CalibrationError,
    FloorMapper,
    FloorPlan,
    estimate_feet,
    fit_homography,
)
from storelens.cli.main import app
from storelens.config.cameras import CalibrationConfig, FloorPlanConfig
from storelens.core.geometry import apply_homography
from storelens.core.types import KP, Tracks
from testdata import shared_data, shared_data_path

MOT = shared_data_path("mot")

# A camera looking down at a floor: maps floor metres to image pixels (inverse used for checks).
FLOOR_TO_IMAGE = np.array([[60.0, -8.0, 120.0], [2.0, 25.0, 80.0], [0.0, 0.04, 1.0]])
FLOOR_PTS = np.array([[0, 0], [8, 0], [8, 10], [0, 10], [4, 5], [2, 7.5]], dtype=float)
IMAGE_PTS = apply_homography(FLOOR_TO_IMAGE, FLOOR_PTS)


def test_fit_recovers_known_homography() -> None:
    cal = fit_homography(IMAGE_PTS, FLOOR_PTS)
    assert cal.rms_m < 1e-6
    probe = np.array([[1.0, 1.0], [7.0, 9.0], [3.3, 6.1]])
    np.testing.assert_allclose(
        apply_homography(cal.homography, apply_homography(FLOOR_TO_IMAGE, probe)), probe, atol=1e-6
    )


def test_mistyped_pair_shows_as_largest_error() -> None:
    floor = FLOOR_PTS.copy()
    floor[4] += [0.8, 0.0]  # one pair measured 80 cm off
    cal = fit_homography(IMAGE_PTS, floor)
    assert int(np.argmax(cal.errors_m)) == 4
    assert cal.rms_m == pytest.approx(float(np.sqrt(np.mean(cal.errors_m**2))))
    assert cal.rms_m > 0.05


@pytest.mark.parametrize(
    ("image", "floor", "message"),
    [
        (IMAGE_PTS[:3], FLOOR_PTS[:3], "at least 4"),
        (IMAGE_PTS[:5], FLOOR_PTS[:4], "must pair up"),
        ([[0, 0], [100, 0], [100, 0], [0, 100]], [[0, 0], [5, 0], [5, 5], [0, 5]], "same point"),
        ([[0, 0], [100, 100], [200, 200], [300, 300]], [[0, 0], [5, 0], [5, 5], [0, 5]], "one line"),
        ([[0, 0], [100, 0], [200, 0], [0, 100]], [[0, 0], [5, 0], [5, 5], [0, 5]], "collinear"),
        ([[0, 0], [100, 0], [100, 100], [0, 100]], [[0, 0], [0.3, 0], [0.3, 0.3], [0, 0.3]], "span only"),
        ([[0, 0], [100, 0], [np.nan, 100], [0, 100]], [[0, 0], [5, 0], [5, 5], [0, 5]], "finite"),
        ([[0, 0], [1, 0], [1, 1], [0, 1]], [[0, 0], [5, 0], [5, 5], [0, 5]], "span only"),
        (IMAGE_PTS[:4], [[0, 0], [8, 0], [0, 10], [8, 10]], "horizon"),  # pairs swapped: a twisted map
    ],
)
def test_degenerate_point_sets_rejected(image: object, floor: object, message: str) -> None:
    with pytest.raises(CalibrationError, match=message):
        fit_homography(image, floor)  # type: ignore[arg-type]


def test_points_beyond_horizon_are_nan() -> None:
    mapper = FloorMapper(fit_homography(IMAGE_PTS, FLOOR_PTS))
    # the floor's horizon line in the image: where the third row of image->floor vanishes
    h = mapper.homography
    y_far = float(-(h[2, 2] + h[2, 0] * 300) / h[2, 1])  # on the horizon at x=300
    pts = np.array([[300.0, 300.0], [300.0, y_far - 50 * np.sign(h[2, 1])]])
    out = mapper.to_floor(pts)
    assert np.isfinite(out[0]).all() and np.isnan(out[1]).all()
    np.testing.assert_allclose(mapper.to_image(out[:1]), pts[:1], atol=1e-6)


def _kp(n: int, **named: tuple[float, float, float]) -> np.ndarray:
    kp = np.zeros((n, 17, 3), np.float32)
    for name, v in named.items():
        kp[:, KP[name]] = v
    return kp


@pytest.mark.parametrize(
    ("box", "kp", "frame_h", "want_xy", "want_src"),
    [
        ((100, 100, 140, 300), None, 480, (120, 300), FEET_BOX),  # feet visible
        ((100, 100, 140, 300), None, None, (120, 300), FEET_BOX),  # frame size unknown
        ((100, 400, 140, 480), None, 480, (120, 400 + 2.6 * 40), FEET_BOX_EXTRAPOLATED),  # cut by frame bottom
        (
            (100, 100, 140, 300),
            _kp(1, left_ankle=(110, 296, 0.9), right_ankle=(126, 292, 0.8)),
            480,
            (118, 294),
            FEET_ANKLES,
        ),
        (  # cut box, legs out of frame, torso seen: hips + 1.7 x (hips - shoulders)
            (100, 300, 140, 480),
            _kp(
                1,
                left_shoulder=(110, 330, 0.9),
                right_shoulder=(130, 330, 0.9),
                left_hip=(112, 400, 0.9),
                right_hip=(128, 400, 0.9),
            ),
            480,
            (120, 400 + 1.7 * 70),
            FEET_HIPS,
        ),
        (  # legs hidden behind a shelf: box ends just below the hips
            (100, 100, 140, 215),
            _kp(
                1,
                left_shoulder=(110, 130, 0.9),
                right_shoulder=(130, 130, 0.9),
                left_hip=(112, 200, 0.9),
                right_hip=(128, 200, 0.9),
            ),
            480,
            (120, 200 + 1.7 * 70),
            FEET_HIPS,
        ),
        (  # low-confidence ankles are ignored
            (100, 100, 140, 300),
            _kp(1, left_ankle=(50, 50, 0.1)),
            480,
            (120, 300),
            FEET_BOX,
        ),
    ],
)
def test_estimate_feet(box: tuple, kp: np.ndarray | None, frame_h: float | None, want_xy: tuple, want_src: int) -> None:
    feet, src = estimate_feet(np.array([box], np.float32), kp, frame_h)
    np.testing.assert_allclose(feet[0], want_xy, atol=1e-3)
    assert src[0] == want_src


def test_estimate_feet_empty() -> None:
    feet, src = estimate_feet(np.zeros((0, 4)), np.zeros((0, 17, 3)), 480)
    assert feet.shape == (0, 2) and src.shape == (0,)


def test_mapper_fills_floor_xy() -> None:
    mapper = FloorMapper(CalibrationConfig(image_points=IMAGE_PTS.tolist(), floor_points=FLOOR_PTS.tolist()))
    img = apply_homography(FLOOR_TO_IMAGE, np.array([[2.0, 3.0], [6.0, 8.0]]))
    xyxy = np.stack([img[:, 0] - 15, img[:, 1] - 80, img[:, 0] + 15, img[:, 1]], axis=1)
    t = make_tracks(xyxy, [1, 2])
    out = mapper.map(t, frame_height=2000)
    np.testing.assert_allclose(out.floor_xy, [[2, 3], [6, 8]], atol=1e-3)
    assert out.data["feet_source"].tolist() == [FEET_BOX, FEET_BOX]
    assert mapper.map(Tracks.empty()).floor_xy.shape == (0, 2)


def _mot(seq: str) -> np.ndarray:
    return np.loadtxt(shared_data("mot", seq, "gt", "gt.txt"), delimiter=",")


def test_real_ground_plane_from_mot_ground_truth() -> None:
    """TUD-Stadtmitte's ground truth gives each pedestrian's world position on the ground (m):
    fitting feet points of half the pedestrians must predict the other half to about 10 cm."""
    g = _mot("TUD-Stadtmitte")
    feet = np.stack([g[:, 2] + g[:, 4] / 2, g[:, 3] + g[:, 5]], axis=1)
    world = g[:, 7:9]
    train = g[:, 1] % 2 == 0
    _, first = np.unique(world[train].round(2), axis=0, return_index=True)  # standing people repeat points
    cal = fit_homography(feet[train][first], world[train][first])
    mapper = FloorMapper(cal)
    err = np.hypot(*(mapper.to_floor(feet[~train]) - world[~train]).T)
    assert cal.rms_m < 0.15
    assert float(np.sqrt(np.mean(err**2))) < 0.15
    assert float(np.median(err)) < 0.1


def test_floor_plan_load(tmp_path: Path) -> None:
    img = np.full((200, 400, 3), 255, np.uint8)
    cv2.imwrite(str(tmp_path / "plan.png"), img)
    plan = FloorPlan.load(FloorPlanConfig(image="plan.png", metres_per_pixel=0.05), lambda p: tmp_path / p)
    assert (plan.width_m, plan.height_m) == pytest.approx((20.0, 10.0))
    plan = FloorPlan.load(FloorPlanConfig(image="plan.png", width_m=40), lambda p: tmp_path / p)
    assert (plan.width_m, plan.height_m) == pytest.approx((40.0, 20.0))
    assert FloorPlan.load(FloorPlanConfig(width_m=12, height_m=8)).image is None
    with pytest.raises(FileNotFoundError, match="missing"):
        FloorPlan.load(FloorPlanConfig(image="nope.png", width_m=4), lambda p: tmp_path / p)
    with pytest.raises(ValueError, match="width_m and height_m"):
        FloorPlanConfig(width_m=3)


def test_calibrate_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    img = " ".join(f"{x:.3f},{y:.3f}" for x, y in IMAGE_PTS)
    flr = " ".join(f"{x:g},{y:g}" for x, y in FLOOR_PTS)
    res = runner.invoke(app, ["calibrate", "--image", img, "--floor", flr])
    assert res.exit_code == 0, res.output
    assert "RMS: 0.0 cm over 6 points" in res.output
    snippet = yaml.safe_load(res.output.split("# paste under the camera in your store YAML:")[1])
    CalibrationConfig.model_validate(snippet["calibration"])  # pastes cleanly
    bad = runner.invoke(app, ["calibrate", "--image", "0,0 1,1 2,2 3,3", "--floor", "0,0 1,0 1,1 0,1"])
    assert bad.exit_code == 2 and "calibration rejected" in bad.output
    f = tmp_path / "pairs.yaml"
    floor_off = FLOOR_PTS.copy()
    floor_off[2] += [1.5, 0]
    f.write_text(yaml.safe_dump({"image_points": IMAGE_PTS.tolist(), "floor_points": floor_off.tolist()}))
    res = runner.invoke(app, ["calibrate", str(f), "--max-rms", "0.1"])
    assert res.exit_code == 3 and "exceeds --max-rms" in res.output
    typo = runner.invoke(app, ["calibrate", "--image", "0,0 1;x", "--floor", "0,0"])
    assert typo.exit_code == 2 and "is not 'x,y'" in typo.output
