"""``/cameras/{id}/geometry``, what the zone editor saves (issue 17): every problem of a drawing at
once, each at its shape and point; a valid drawing written to the YAML (the rest of the file kept)
and applied to the running camera by a rebuild, with no restart of the service."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from budget import scaled
from storelens.config import load_config
from storelens.pipeline.build import BuiltCamera, build_camera
from storelens.service import ServiceDeps, ServiceSettings, create_app
from testdata import DEMO_COUNTER_CLIP

API = "/api/v1"
GEOMETRY = f"{API}/cameras/cam1/geometry"
W, H = 768, 432  # the demo clip's native size


def write_store(tmp_path: Path) -> Path:
    data: dict[str, Any] = {
        "store_id": "s1",
        "cameras": [
            {"id": "cam1", "source": str(DEMO_COUNTER_CLIP), "fps": 2},
            {"id": "cam2", "source": str(DEMO_COUNTER_CLIP), "enabled": False},
        ],
        "zones": [
            {"id": "queue", "kind": "queue", "camera": "cam1", "points": [[0, 200], [100, 200], [100, 300]]},
            {"id": "till", "kind": "checkout", "camera": "cam1", "points": [[200, 200], [300, 200], [300, 300]]},
            {"id": "other", "camera": "cam2", "points": [[0, 0], [50, 0], [50, 50]]},
        ],
        "lines": [{"id": "door", "camera": "cam2", "a": [10, 10], "b": [10, 90]}],
        "behaviour": {"queues": [{"queue_zone": "queue", "checkout_zone": "till"}]},
    }
    path = tmp_path / "store.yaml"
    path.write_text("# my store\n" + yaml.safe_dump(data, sort_keys=False) + "# the end\n")
    return path


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    path = write_store(tmp_path)
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    settings = ServiceSettings(store=load_config(path), config_path=path, database_url=db, run_pipelines=False)
    with TestClient(create_app(settings, ServiceDeps.build(settings))) as c:
        yield c, path


def zone(zone_id: str, points: list[list[float]], **kw: Any) -> dict[str, Any]:
    return {"id": zone_id, "camera": "cam1", "points": points, **kw}


def line(line_id: str, a: list[float], b: list[float], **kw: Any) -> dict[str, Any]:
    return {"id": line_id, "camera": "cam1", "a": a, "b": b, **kw}


KEEP = [
    zone("queue", [[0, 200], [100, 200], [100, 300]], kind="queue"),
    zone("till", [[200, 200], [300, 200], [300, 300]], kind="checkout"),
]


def test_read_then_replace_a_cameras_zones_and_lines(client: tuple[TestClient, Path]) -> None:
    c, path = client
    got = c.get(GEOMETRY).json()
    assert got["frame"] == {"width": W, "height": H, "source": "source"}
    assert [z["id"] for z in got["zones"]] == ["queue", "till"] and got["lines"] == []

    body = {
        "zones": [*KEEP, zone("shelf", [[400, 50], [600, 50], [600, 200], [400, 200]], kind="shelf", name="Shelf")],
        "lines": [line("approach", [640, 432], [640, 280], role="entrance")],
    }
    r = c.put(GEOMETRY, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["applied"] == "saved" and "store.yaml" in r.json()["message"]
    on_disk = load_config(path)
    assert [z.id for z in on_disk.zones] == ["queue", "till", "shelf", "other"]  # cam2's zone kept
    assert [(ln.id, ln.camera, ln.a, ln.b, ln.role) for ln in on_disk.lines] == [
        ("door", "cam2", (10, 10), (10, 90), "count"),
        ("approach", "cam1", (640, 432), (640, 280), "entrance"),
    ]
    text = path.read_text()
    assert text.startswith("# my store\n") and text.endswith("# the end\n")
    assert c.get(GEOMETRY).json()["lines"][0]["id"] == "approach"

    # removing the line again, and the shelf: only cam1's shapes change
    assert c.put(GEOMETRY, json={"zones": KEEP, "lines": []}).status_code == 200
    assert [ln.id for ln in load_config(path).lines] == ["door"]


def test_every_problem_is_reported_at_once_at_its_shape_and_point(client: tuple[TestClient, Path]) -> None:
    c, path = client
    before = path.read_text()
    body = {
        "zones": [
            *KEEP,
            zone("far", [[10, 10], [5000, 10], [10, 300]]),  # corner 2 outside the 768x432 frame
            zone("far", [[10, 10], [50, 10], [10, 50]]),  # the same id twice
            zone("other", [[10, 10], [50, 10], [10, 50]]),  # cam2's zone id
            zone("wrong", [[10, 10], [50, 10], [10, 50]], camera="cam2"),
        ],
        "lines": [line("approach", [640, 432], [640, -900])],  # end b outside
    }
    r = c.put(GEOMETRY, json=body)
    assert r.status_code == 422, r.text
    found = {tuple(e["loc"]): e["msg"] for e in r.json()["detail"]}
    assert "outside the 768x432 frame" in found[("body", "zones", 2, "points", 1)]
    assert "used twice" in found[("body", "zones", 3, "id")]
    assert "already used on cam2" in found[("body", "zones", 4, "id")]
    assert "must be 'cam1'" in found[("body", "zones", 5, "camera")]
    assert "line end b" in found[("body", "lines", 0, "b")]
    assert path.read_text() == before  # nothing was written

    # the schema's own errors, located the same way
    r = c.put(GEOMETRY, json={"zones": [*KEEP, zone("flat", [[0, 0], [1, 1], [2, 2]])], "lines": []})
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["body", "zones", 2, "points"]]
    assert "zero area" in r.json()["detail"][0]["msg"]

    # the whole config's rules, placed on the zone they name
    r = c.put(GEOMETRY, json={"zones": [{**KEEP[0], "kind": "aisle"}, KEEP[1]], "lines": []})
    assert r.status_code == 422
    [err] = r.json()["detail"]
    assert err["loc"] == ["body", "zones", 0] and "zone 'queue' has kind aisle, expected queue" in err["msg"], err

    # a zone the config still refers to cannot go away
    r = c.put(GEOMETRY, json={"zones": KEEP[:1], "lines": []})
    assert r.status_code == 409 and "behaviour.queues[0]" in r.json()["detail"]
    assert path.read_text() == before
    assert c.put(f"{API}/cameras/nope/geometry", json={"zones": [], "lines": []}).status_code == 404
    assert c.put(GEOMETRY, json={}).status_code == 422  # an empty body removes nothing
    assert path.read_text() == before


def _recording_build(stores: list[list[str]]) -> Any:
    def build(store: Any, cam: Any, *args: Any, **kwargs: Any) -> BuiltCamera:
        stores.append([z.id for z in store.zones_for(cam.id)])
        return build_camera(store, cam, *args, **kwargs)

    return build


def test_a_save_reaches_the_running_camera_without_a_restart(tmp_path: Path) -> None:
    path = write_store(tmp_path)
    settings = ServiceSettings(
        store=load_config(path), config_path=path, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", realtime=True
    )
    builds: list[list[str]] = []
    deps = ServiceDeps.build(settings, runner_kwargs={"build": _recording_build(builds)})
    with TestClient(create_app(settings, deps)) as c:
        runner = deps.runner
        assert runner is not None
        started = threading.Event()
        runner.add_observer(lambda cam, result: started.set())
        assert started.wait(scaled(120)), "the camera analysed no frame"
        assert c.get(GEOMETRY).json()["frame"]["source"] == "pipeline"
        body = {"zones": [*KEEP, zone("new", [[400, 50], [600, 50], [600, 200]])], "lines": []}
        r = c.put(GEOMETRY, json=body)
        assert r.status_code == 200, r.text
        assert r.json()["applied"] == "live"
        deadline = time.monotonic() + scaled(120)
        while len(builds) < 2 and time.monotonic() < deadline:  # the run ends, the camera is rebuilt
            time.sleep(0.05)
        assert builds == [["queue", "till"], ["queue", "till", "new"]], builds
        assert runner.is_running("cam1") and runner.camera_status("cam1").restarts == 0
