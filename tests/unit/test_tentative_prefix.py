"""What a person did while their track was still tentative counts (issue 13).

A small far-away person needs a few matches before the tracker gives them an id; a brisk walker
can cross a counting line in that time, and in a short visit those frames decide whether a stay
reaches ``min_dwell_s``. The tracker reports where a newly confirmed track was first seen
(``Tracks.data[FIRST_BOX]``, ``FIRST_AGO``); the behaviour stage feeds that point to the lines
first (the crossing is counted once, when the id arrives) and starts a zone stay at that time when
the person was inside then too."""

from __future__ import annotations

import numpy as np
import pytest

from storelens.analytics.stage import BehaviourStage
from storelens.config.detection import TrackerConfig
from storelens.config.store import StoreConfig
from storelens.core.types import Detections
from storelens.tracking.registry import make_tracker

FRAME = np.zeros((480, 640, 3), np.uint8)
RULE = {"low_birth_score": 0.3, "low_birth_max_height": 0.2, "low_birth_hits": 3}


def store(calibrated: bool) -> StoreConfig:
    cam: dict[str, object] = {"id": "cam", "source": "x"}
    lines: list[dict[str, object]] = [{"id": "door", "camera": "cam", "a": [120, 0], "b": [120, 480]}]
    if calibrated:  # 1 px = 1 cm on the floor: the image line at x=120 is the floor line at x=1.2 m
        cam["calibration"] = {
            "image_points": [[0, 0], [640, 0], [640, 480], [0, 480]],
            "floor_points": [[0, 0], [6.4, 0], [6.4, 4.8], [0, 4.8]],
        }
        lines = [{"id": "door", "space": "floor", "a": [1.2, 0], "b": [1.2, 4.8]}]
    return StoreConfig.model_validate({"store_id": "s", "cameras": [cam], "lines": lines})


def crossings(calibrated: bool, prefix: bool = True) -> int:
    """A 40 px person at score 0.4 walking right 8 px a frame, box centre 108, 116, 124, ...: the
    line at x=120 is crossed on the second step, before the third match gives the track an id."""
    trk = make_tracker(TrackerConfig(params=RULE))
    stage = BehaviourStage(store(calibrated), "cam")
    other = [600.0, 100.0, 624.0, 160.0]  # someone standing still, so frame 0 is not special
    for i in range(8):
        x = 100.0 + 8 * i
        d = Detections(
            xyxy=np.array([other, [x, 300, x + 16, 340]], np.float32),
            score=np.array([0.9, 0.4], np.float32),
            class_id=np.zeros(2, np.int32),
        )
        tracks = trk.update(d, 0.1 * i, FRAME)
        if not prefix:
            tracks = tracks.replace(data={})
        stage.update(tracks, 0.1 * i, 1.8e9 + 0.1 * i, frame_size=(640, 480))
    lines = stage.summary()["lines"]
    return int(sum(ln["in"] + ln["out"] for ln in lines))


def test_a_crossing_made_while_tentative_is_counted_once() -> None:
    assert crossings(calibrated=False) == 1


def test_without_the_prefix_it_would_be_missed() -> None:
    assert crossings(calibrated=False, prefix=False) == 0


def test_floor_lines_of_a_calibrated_camera_get_the_prefix_too() -> None:
    assert crossings(calibrated=True) == 1
    assert crossings(calibrated=True, prefix=False) == 0


def dwell(prefix: bool, frames: int = 12) -> float:
    """A 40 px person at score 0.4 standing in a zone for ``frames`` frames at 10 fps."""
    cfg = {
        "store_id": "s",
        "cameras": [{"id": "cam", "source": "x"}],
        "zones": [
            {"id": "z", "kind": "display", "camera": "cam", "points": [[50, 250], [250, 250], [250, 400], [50, 400]]}
        ],
    }
    trk = make_tracker(TrackerConfig(params=RULE))
    stage = BehaviourStage(StoreConfig.model_validate(cfg), "cam")
    other = [600.0, 100.0, 624.0, 160.0]
    for i in range(frames):
        d = Detections(
            xyxy=np.array([other, [100, 300, 116, 340]], np.float32),
            score=np.array([0.9, 0.4], np.float32),
            class_id=np.zeros(2, np.int32),
        )
        tracks = trk.update(d, 0.1 * i, FRAME)
        if not prefix:
            tracks = tracks.replace(data={})
        stage.update(tracks, 0.1 * i, 1.8e9 + 0.1 * i, frame_size=(640, 480))
    stage.close(0.1 * frames, 1.8e9 + 0.1 * frames)
    return float(stage.summary()["zones"][0]["total_dwell_s"] or 0.0)


def test_a_stay_starts_when_the_person_was_first_seen() -> None:
    """Seen from 0.0 to 1.1 s, confirmed at 0.2 s: 1.1 s of dwell, not 0.9 s (under the 1 s minimum)."""
    assert dwell(prefix=True) == pytest.approx(1.1)
    assert dwell(prefix=False) == 0.0
