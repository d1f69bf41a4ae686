"""The service's camera runner on the real pipeline (detector, tracker, zones) and the demo clip.

``StoreRunner`` runs each camera in a thread behind the API: events reach the database and the
WebSocket, the camera reports its status, a crashed pipeline is rebuilt with backoff, and a paced
(real-time) file source stops at once when asked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from storelens.config import StoreConfig, load_config
from storelens.core.types import Detections, Frame
from storelens.events.bus import EventBus
from storelens.events.models import Event
from storelens.service import ServiceDeps, ServiceSettings, StoreRunner, create_app
from storelens.service.runner import PacedSource
from storelens.storage import open_database
from storelens.storage.heatmaps import read_heatmap
from testdata import DEMO_STORE

DEMO = DEMO_STORE
API = "/api/v1"

pytestmark = pytest.mark.timeout(180)


@pytest.mark.slow
def counter_camera_only(cfg: StoreConfig) -> StoreConfig:
    """The demo store with its entrance camera switched off: these tests follow one camera."""
    cams = [c.model_copy(update={"enabled": c.id == "counter-cam"}) for c in cfg.cameras]
    return cfg.model_copy(update={"cameras": cams})


def test_store_runner_on_the_demo_clip_feeds_the_api(tmp_path: Path) -> None:
    """The real pipeline (detector, tracker, zones) on the demo clip for 150 frames (15 s of video):
    the shopper walking in produces events that the API then serves, the camera reports its status."""
    cfg = counter_camera_only(load_config(DEMO))
    settings = ServiceSettings(
        store=cfg, database_url=f"sqlite:///{tmp_path / 'demo.db'}", realtime=False, max_frames=150
    )
    deps = ServiceDeps.build(settings)
    assert deps.runner is not None
    with TestClient(create_app(settings, deps)) as client:
        with client.websocket_connect(f"{API}/stream?types=visit.&overlay=true") as ws:
            assert ws.receive_json()["kind"] == "hello"
            kinds = set()
            while not {"overlay", "event"} <= kinds:
                kinds.add(ws.receive_json()["kind"])
        assert deps.runner.join(100), "the camera did not finish its 150 frames"
        deps.flush()
        cam = client.get(f"{API}/cameras/counter-cam").json()["status"]
        assert cam["state"] == "finished" and cam["frames"] == 150 and cam["errors"] == 0
        assert cam["last_frame_time"] is not None and "detect" in cam["stage_ms"]
        started = client.get(f"{API}/events", params={"type": "visit.started"}).json()["items"]
        assert started and all(e["camera_id"] == "counter-cam" for e in started)
        zone_events = client.get(f"{API}/events", params={"type": "zone.", "zone_id": "walkway"}).json()["items"]
        assert zone_events, "someone walks along the walkway in the first 15 s"
        visits = client.get(f"{API}/visits").json()["items"]
        assert {v["id"] for v in visits} >= {e["subject"] for e in started}
        heat = client.get(f"{API}/heatmaps/counter-cam").json()
        assert heat["total"] > 0 and heat["grid"]["space"] == "image"
        png = client.get(f"{API}/heatmaps/counter-cam", params={"format": "png", "metric": "dwell"})
        assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
        text = client.get("/metrics").text
        assert 'storelens_camera_frames_total{camera="counter-cam"} 150.0' in text
    # shutting down stored the heat map the API showed from memory (the run was shorter than a flush)
    with open_database(settings.database_url) as db, db.begin() as conn:
        stored = read_heatmap(conn, store_id=cfg.store_id, camera_id="counter-cam")
    assert stored is not None and float(stored.traffic.sum()) == heat["total"]


@pytest.mark.slow
def test_a_crashed_camera_pipeline_is_restarted_with_backoff(tmp_path: Path) -> None:
    """The real detector, wrapped to fail once on its 5th frame: the runner publishes camera.offline,
    waits, rebuilds the camera and finishes the remaining frames."""
    from storelens.vision.detector import YoloDetector

    cfg = counter_camera_only(load_config(DEMO))
    # every frame detected (the demo gates detection on motion): the 5th detector call is the 5th frame
    detector = cfg.detector.model_copy(update={"gating": cfg.detector.gating.model_copy(update={"enabled": False})})
    cfg = cfg.model_copy(update={"detector": detector})
    real = YoloDetector(cfg.detector_for("counter-cam"), base_dir=cfg.base_dir)
    calls = {"n": 0}

    class FlakyDetector:
        def detect(self, image: Any) -> Detections:
            calls["n"] += 1
            if calls["n"] == 5:
                raise RuntimeError("simulated inference failure")
            return real.detect(image)

    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append, ["camera."])
    runner = StoreRunner(
        cfg,
        bus,
        max_frames=20,
        restart_initial_s=0.05,
        restart_max_s=0.1,
        detector_factory=lambda s, c: FlakyDetector(),
    )
    runner.start()
    assert runner.join(60)
    status = runner.camera_status("counter-cam")
    assert (status.state, status.frames, status.restarts, status.errors) == ("finished", 20, 1, 1)
    assert "simulated inference failure" in (status.last_error or "")
    offline = [e for e in seen if e.type == "camera.offline" and e.payload.get("source") == "runner"]
    assert len(offline) == 1 and offline[0].payload["reason"] == "pipeline_error"
    assert any(e.type == "camera.online" and e.payload.get("reason") == "pipeline_restarted" for e in seen)


def test_runner_stop_is_prompt_with_a_paced_source(tmp_path: Path) -> None:
    """A camera paced to real time stops when asked, without waiting for its next frame time."""
    stop = threading.Event()

    class Inner:
        camera_id = "c"
        stats = None

        def frames(self) -> Iterator[Frame]:
            img = np.zeros((4, 4, 3), np.uint8)
            yield Frame("c", 0, 0.0, time.time(), img)
            yield Frame("c", 1, 1.0, time.time() + 3600, img)  # an hour from now

        def close(self) -> None:
            pass

    paced = PacedSource(Inner(), stop)  # type: ignore[arg-type]
    it = paced.frames()
    assert next(it).index == 0
    threading.Timer(0.2, stop.set).start()
    assert list(it) == []  # returns once stopped instead of sleeping an hour
