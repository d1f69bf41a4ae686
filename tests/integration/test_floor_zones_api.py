"""``/floor-plan/zones``, the zones the editor draws on the floor plan (issue 17): every problem at
once and at its corner, nothing written until all are fixed; a good drawing written into the YAML's
``zones:`` block (the camera's zones and the rest of the file kept) and read back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from storelens.config import load_config
from storelens.service import ServiceDeps, ServiceSettings, create_app
from testdata import DEMO_COUNTER_CLIP

API = "/api/v1"
URL = f"{API}/floor-plan/zones"

STORE = f"""\
# my store
store_id: s1
cameras:
  - id: cam1
    source: {DEMO_COUNTER_CLIP}
    fps: 2
    calibration:
      image_points: [[100, 400], [700, 400], [600, 150], [200, 150]]
      floor_points: [[1, 9], [9, 9], [9, 1], [1, 1]]
zones:
  - id: counter
    camera: cam1
    points: [[0, 0], [100, 0], [100, 100]]
floor_plan:
  image: plan.png
  metres_per_pixel: 0.05
# the end
"""


def floor_zone(zid: str, points: list[list[float]], **extra: str) -> dict[str, object]:
    return {"id": zid, "space": "floor", "points": points, **extra}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    cv2.imwrite(str(tmp_path / "plan.png"), np.full((200, 200, 3), 240, np.uint8))  # 10 x 10 m
    path = tmp_path / "store.yaml"
    path.write_text(STORE)
    settings = ServiceSettings(
        store=load_config(path), config_path=path, database_url=f"sqlite:///{tmp_path / 'db'}", run_pipelines=False
    )
    with TestClient(create_app(settings, ServiceDeps.build(settings))) as c:
        yield c, path


def test_a_drawing_on_the_plan_is_saved_into_the_yaml_and_read_back(served: tuple[TestClient, Path]) -> None:
    c, path = served
    got = c.get(URL).json()
    assert got["zones"] == [] and got["calibrated"] == ["cam1"] and got["floor_plan"]["width_m"] == 10.0
    body = {"zones": [floor_zone("aisle-1", [[1, 1], [4, 1], [4, 9], [1, 9]], name="Aisle 1", kind="aisle")]}
    r = c.put(URL, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["applied"] == "saved" and "1 floor zone(s)" in r.json()["message"]
    stored = load_config(path)
    assert [(z.id, z.space, z.kind, z.camera) for z in stored.zones] == [
        ("counter", "image", "other", "cam1"),
        ("aisle-1", "floor", "aisle", None),
    ]
    assert stored.zones[1].points == [(1, 1), (4, 1), (4, 9), (1, 9)]
    text = path.read_text()
    assert text.startswith("# my store\n") and text.endswith("# the end\n")
    assert c.get(URL).json()["zones"][0]["name"] == "Aisle 1"
    assert c.put(URL, json={"zones": []}).status_code == 200  # [] removes them, the camera's zone stays
    assert [z.id for z in load_config(path).zones] == ["counter"]


def test_every_problem_is_refused_at_its_corner_and_nothing_is_written(served: tuple[TestClient, Path]) -> None:
    c, path = served
    before = path.read_text()
    body = {
        "zones": [
            floor_zone("far", [[1, 1], [30, 1], [1, 5]]),  # corner 2 is 20 m past the 10 m plan
            floor_zone("counter", [[5, 5], [6, 5], [6, 6]]),  # the camera zone's id
            {"id": "img", "space": "image", "camera": "cam1", "points": [[1, 1], [2, 1], [2, 2]]},
        ]
    }
    r = c.put(URL, json=body)
    assert r.status_code == 422
    locs = {tuple(e["loc"]): e["msg"] for e in r.json()["detail"]}
    assert "outside the 10 x 10 m floor plan" in locs[("body", "zones", 0, "points", 1)]
    assert "already used on camera cam1" in locs[("body", "zones", 1, "id")]
    assert "must be 'floor'" in locs[("body", "zones", 2, "space")]
    assert len(locs) == 3 and path.read_text() == before


def test_floor_zones_without_a_calibrated_camera_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.yaml"
    path.write_text(f"store_id: s1\ncameras:\n  - id: cam1\n    source: {DEMO_COUNTER_CLIP}\n")
    settings = ServiceSettings(
        store=load_config(path), config_path=path, database_url=f"sqlite:///{tmp_path / 'db'}", run_pipelines=False
    )
    with TestClient(create_app(settings, ServiceDeps.build(settings))) as c:
        r = c.put(URL, json={"zones": [floor_zone("z", [[1, 1], [2, 1], [2, 2]])]})
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["body", "zones", 0]], r.json()
    assert "no camera has a calibration" in r.json()["detail"][0]["msg"]
    assert "zones" not in path.read_text()
