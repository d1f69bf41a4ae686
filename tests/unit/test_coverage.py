"""``storelens calibrate STORE.yaml --coverage`` (issue 18): which floor cells two synthetic
calibrated cameras see, their 1 m overlap, the 2 m strip neither sees, and the coverage map."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from storelens.analytics.coverage import COLOURS_BGR, coverage
from storelens.cli.main import app
from storelens.config import load_config

FRAME = [[0, 0], [1000, 0], [1000, 400], [0, 400]]


def _camera(cid: str, x0: float, x1: float) -> dict[str, Any]:
    """A camera whose 1000x400 frame sees exactly the floor rectangle x0..x1, y 0..4 (m)."""
    floor = [[x0, 0], [x1, 0], [x1, 4], [x0, 4]]
    return {"id": cid, "source": f"{cid}.mp4", "calibration": {"image_points": FRAME, "floor_points": floor}}


def _store(tmp_path: Path, plan_image: bool = False) -> Path:
    data: dict[str, Any] = {
        "store_id": "s",
        "floor_plan": {"width_m": 12, "height_m": 4},
        "cameras": [_camera("a", 0, 6), _camera("b", 5, 10), {"id": "c", "source": "c.mp4"}],
        "zones": [{"id": "back", "kind": "aisle", "space": "floor", "points": [[9, 0], [12, 0], [12, 4], [9, 4]]}],
    }
    if plan_image:
        cv2.imwrite(str(tmp_path / "plan.png"), np.full((40, 120, 3), 200, np.uint8))
        data["floor_plan"] = {"image": "plan.png", "width_m": 12}
    path = tmp_path / "store.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_two_cameras_overlap_and_gap(tmp_path: Path) -> None:
    cov = coverage(load_config(_store(tmp_path)), {"a": (1000, 400), "b": (1000, 400)})
    assert cov.grid.cell == 0.5 and (cov.grid.nx, cov.grid.ny) == (24, 8)
    assert cov.area_m2(2, at_least=True) == pytest.approx(4.0)  # x 5..6: both
    assert cov.area_m2(1) == pytest.approx(36.0)
    assert cov.area_m2(0) == pytest.approx(8.0)  # x 10..12: neither
    assert cov.overlaps() == [("a", "b", pytest.approx(4.0))]
    assert cov.unseen_share([(9, 0), (12, 0), (12, 4), (9, 4)]) == pytest.approx(2 / 3)
    # a frame half as wide sees half the floor (the far half of the image is outside it)
    half = coverage(load_config(_store(tmp_path)), {"a": (500, 400)})
    assert half.area_m2(1) == pytest.approx(12.0) and half.overlaps() == []


def test_floor_behind_the_camera_is_not_seen(tmp_path: Path) -> None:
    """A perspective view: points past the horizon project into the frame upside down (w < 0)."""
    data = yaml.safe_load(_store(tmp_path).read_text())
    data["cameras"] = [
        {
            "id": "p",
            "source": "p.mp4",
            "calibration": {
                "image_points": [[300, 200], [700, 200], [1000, 400], [0, 400]],
                "floor_points": [[2, 1], [4, 1], [4, 3], [2, 3]],
            },
        }
    ]
    path = tmp_path / "persp.yaml"
    path.write_text(yaml.safe_dump(data))
    cov = coverage(load_config(path), {"p": (1000, 400)})
    seen = cov.seen["p"]
    assert seen.any() and not seen.all()
    assert cov.unseen_share([(2.2, 1.2), (3.8, 1.2), (3.8, 2.8), (2.2, 2.8)]) == 0.0  # the calibrated patch


def test_calibrate_coverage_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cov.png"
    res = runner.invoke(
        app,
        ["calibrate", str(_store(tmp_path, plan_image=True)), "--coverage", "--frame-size", "1000x400", "-o", str(out)],
    )
    assert res.exit_code == 0, res.output
    assert "c: not calibrated" in res.output
    assert "seen by no camera (gaps): 8.0 m² (17%)" in res.output
    assert "seen by two or more (overlaps): 4.0 m² (8%)" in res.output
    assert "a + b: 4.0 m²" in res.output
    assert "zone back: 67% of it seen by no camera" in res.output
    img = cv2.imread(str(out))
    assert img is not None
    s = img.shape[1] // 24  # pixels per cell
    gap, both, one = img[2 * s, int(11 * 2 * s)], img[2 * s, int(5.5 * 2 * s)], img[2 * s, 2 * s]

    def nearest(px: np.ndarray) -> int:
        return min(COLOURS_BGR, key=lambda n: float(np.abs(px.astype(float) - COLOURS_BGR[n]).sum()))

    assert (nearest(gap), nearest(one), nearest(both)) == (0, 1, 2)
    # bad input: one line each, no traceback
    bad = runner.invoke(app, ["calibrate", str(tmp_path / "store.yaml"), "--coverage", "--frame-size", "big"])
    assert bad.exit_code == 2 and "WIDTHxHEIGHT" in bad.output and "Traceback" not in bad.output
    unreadable = runner.invoke(app, ["calibrate", str(tmp_path / "store.yaml"), "--coverage", "-o", str(out)])
    assert unreadable.exit_code == 2 and "give --frame-size" in unreadable.output


def test_bundled_two_camera_example_is_one_store() -> None:
    """examples/two-cameras: both cameras calibrated on one floor plan, so `storelens run` builds
    the store-level stage for it; they share a strip (hand-offs by overlap) and its zones are seen."""
    from storelens.analytics.storelevel import fusion_cameras
    from storelens.events.bus import EventBus
    from storelens.pipeline.storelevel import StoreLevelFeed
    from testdata import REPO

    store = load_config(REPO / "examples" / "two-cameras" / "store.yaml")
    fed, left = fusion_cameras(store)
    assert fed == ["entrance-cam", "counter-cam"] and left == {}
    assert StoreLevelFeed.for_store(store, EventBus()) is not None
    for cam in store.cameras:  # the clips' files are the demo's
        assert store.resolve_path(cam.source).exists(), cam.source
    cov = coverage(store, {"entrance-cam": (480, 270), "counter-cam": (768, 432)})
    assert [(a, b) for a, b, _ in cov.overlaps()] == [("counter-cam", "entrance-cam")]
    for zone in ("entrance", "walkway", "counter"):
        share = cov.unseen_share(next(z.points for z in store.zones if z.id == zone))
        assert share == 0.0, zone
