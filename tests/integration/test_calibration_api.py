"""``/cameras/{id}/calibration``, the point pairs the editor draws (issue 17): every problem at once
and at its point, a good fit written into the camera's entry of the YAML (the rest of the file
kept) and read back with its error per pair; the floor plan the floor halves are drawn on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from storelens.config import load_config
from storelens.service import ServiceDeps, ServiceSettings, create_app
from storelens.service.config_store import replace_camera_calibration
from testdata import DEMO_COUNTER_CLIP

API = "/api/v1"
CAL = f"{API}/cameras/cam1/calibration"
IMAGE = [[100, 400], [700, 400], [600, 150], [200, 150]]  # a floor trapezoid in the 768x432 clip
FLOOR = [[1, 9], [9, 9], [9, 1], [1, 1]]  # metres on the 10 x 10 m plan

STORE = f"""\
# my store
store_id: s1
cameras:
  - id: cam1
    source: {DEMO_COUNTER_CLIP}   # the door camera
    fps: 2
  - id: cam2
    source: {DEMO_COUNTER_CLIP}
    enabled: false
floor_plan:
  image: plan.png
  metres_per_pixel: 0.05
# the end
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path]]:
    folder = tmp_path_factory.mktemp("cal")
    cv2.imwrite(str(folder / "plan.png"), np.full((200, 200, 3), 240, np.uint8))  # 10 x 10 m
    path = folder / "store.yaml"
    path.write_text(STORE)
    db = f"sqlite:///{folder / 'db.sqlite'}"
    settings = ServiceSettings(store=load_config(path), config_path=path, database_url=db, run_pipelines=False)
    with TestClient(create_app(settings, ServiceDeps.build(settings))) as c:
        yield c, path


def put(c: TestClient, image: list[list[float]], floor: list[list[float]]) -> Any:
    return c.put(CAL, json={"image_points": image, "floor_points": floor})


def test_floor_plan_extent_and_image(served: tuple[TestClient, Path]) -> None:
    c, _ = served
    assert c.get(f"{API}/floor-plan").json() == {"width_m": 10.0, "height_m": 10.0, "image": True}
    png = c.get(f"{API}/floor-plan/image")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    got = c.get(CAL).json()
    assert got["image_points"] == [] and got["rms_m"] is None
    assert got["frame"]["width"] == 768 and got["floor_plan"]["image"] is True


def test_bad_pairs_are_refused_at_their_point_and_nothing_is_written(served: tuple[TestClient, Path]) -> None:
    c, path = served
    before = path.read_text()
    # outside the frame and outside the plan: both at their point, in one answer
    bad = put(c, [*IMAGE[:3], [5000, 150]], [*FLOOR[:3], [1, 40]])
    assert bad.status_code == 422
    locs = {tuple(d["loc"]): d["msg"] for d in bad.json()["detail"]}
    assert locs.keys() == {("body", "image_points", 3), ("body", "floor_points", 3)}, locs
    assert "outside the 768x432 frame" in locs["body", "image_points", 3]
    assert "outside the 10 x 10 m floor plan" in locs["body", "floor_points", 3]
    # too few pairs, unpaired points, a degenerate set: one message each, on the body
    cases = [
        (IMAGE[:3], FLOOR[:3], "need at least 4 pairs, got 3"),
        (IMAGE, FLOOR[:3], "4 image point(s) but 3 floor point(s)"),
        (IMAGE, [[1, 1], [2, 2], [3, 3], [4, 4]], "on one line"),
    ]
    for image, floor, text in cases:
        r = put(c, image, floor)
        assert r.status_code == 422, r.text
        (err,) = r.json()["detail"]
        assert err["loc"] == ["body"] and text in err["msg"], err
    assert c.put(CAL, json={"image_points": IMAGE, "floor_points": FLOOR, "homography": 1}).status_code == 422
    assert path.read_text() == before


def test_a_good_fit_is_saved_in_the_cameras_entry_and_read_back(served: tuple[TestClient, Path]) -> None:
    c, path = served
    r = put(c, IMAGE, FLOOR)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["applied"] == "saved" and body["rms_m"] < 1e-6 and len(body["errors_m"]) == 4
    text = path.read_text()
    assert "# the door camera" in text and text.startswith("# my store") and text.endswith("# the end\n")
    cam1 = load_config(path).camera("cam1")
    assert cam1.calibration is not None and [list(p) for p in cam1.calibration.floor_points] == FLOOR
    assert load_config(path).camera("cam2").calibration is None
    assert c.get(CAL).json()["image_points"] == IMAGE
    # removed again: the entry goes, the rest stays
    gone = c.delete(CAL)
    assert gone.status_code == 200 and gone.json()["image_points"] == []
    assert "calibration" not in path.read_text() and "# the door camera" in path.read_text()


def test_yaml_edit_keeps_other_cameras_and_appends_to_a_last_camera_without_newline() -> None:
    cal = _calibration()
    text = "store_id: s\ncameras:\n- id: a\n  source: x.mp4\n- id: b\n  source: y.mp4"
    out = replace_camera_calibration(text, "b", cal)
    assert out.startswith("store_id: s\ncameras:\n- id: a\n  source: x.mp4\n- id: b\n  source: y.mp4\n  calibration:\n")
    assert replace_camera_calibration(out, "b", None) == text + "\n"
    with pytest.raises(ValueError, match="not in the file"):
        replace_camera_calibration(text, "c", cal)


def _calibration() -> Any:
    from storelens.config.cameras import CalibrationConfig

    return CalibrationConfig(image_points=[tuple(p) for p in IMAGE], floor_points=[tuple(p) for p in FLOOR])
