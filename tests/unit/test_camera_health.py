"""Camera health tells the truth (issue 17): a camera whose newest frame is 84 s old, or that
analyses 1.4 of its 10 fps, is not "online"."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from storelens.service.camera_health import camera_health
from storelens.service.runner import CameraStatus


def status(**kw: object) -> CameraStatus:
    base: dict[str, object] = {
        "camera_id": "cam1",
        "name": None,
        "enabled": True,
        "state": "running",
        "online": True,
        "fps": 10.0,
        "frames": 500,
        "last_frame_time": datetime.now(UTC),
        "lag_s": 0.2,
        "dropped_frames": 0,
        "corrupt_frames": 0,
        "reconnects": 0,
        "restarts": 0,
        "errors": 0,
        "last_error": None,
    }
    base.update(kw)
    return CameraStatus(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "health", "detail"),
    [
        ({}, "online", "analysing 10.0 of 10 fps"),
        ({"fps": 1.4, "lag_s": 84.0}, "behind", "84 s behind real time, analysing 1.4 of 10 fps"),
        ({"fps": 1.4, "lag_s": 0.5}, "lagging", "analysing 1.4 of 10 fps"),
        ({"fps": 0.0, "lag_s": 84.0}, "stalled", "no frame analysed in the last 5 s; the last was captured 84 s ago"),
        ({"online": False, "last_error": "connection refused"}, "offline", "connection refused"),
        ({"state": "restarting", "online": False}, "offline", "restarting"),
        ({"state": "finished", "online": False}, "finished", "the source ended after 500 frames"),
        ({"state": "starting", "online": False, "frames": 0}, "starting", "opening the source and loading the models"),
        ({"state": "disabled", "online": False}, "disabled", "disabled in the store config"),
        ({"frames": 0, "fps": 0.0, "lag_s": None}, "starting", "waiting for the first analysed frame"),
    ],
)
def test_health_word_and_reason(kw: dict[str, object], health: str, detail: str) -> None:
    assert camera_health(status(**kw), fps_target=10.0) == (health, detail)
