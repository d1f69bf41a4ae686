"""A run on a camera whose people are too small for the detector's input says so (issue 13).

``tests/unit/test_selfcheck.py`` checks the self-check on frames fed by hand and through
``validate --probe``; this runs it the way a user meets it, through ``run_store``: a file source,
the store's detector, the event bus and the JSONL sink. The clip is 10 s of the bundled demo clip in
which people walk to the counter and away (85-95 s; person-like motion in about half the frames),
played four times (40 s, more than the self-check's 30 s window), shrunk 8x into a frame twice its
size, 1536x864, analysed at the 640 input a store might pick for cost: people are ~25-45 px tall
in the frame and 10-20 px in the model's input, where the pose model finds almost nobody. A control
with the same frames as they are (people 185-380 px tall) must stay quiet, so the event is about
the small people, not about any run.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from storelens.config import load_config
from storelens.pipeline.run import run_store
from testdata import DEMO_COUNTER_CLIP

FIRST, LAST, STEP, LOOPS = 850, 950, 2, 4  # 10 s of the clip at 5 fps, four times: 40 s
SHRINK = 8

pytestmark = pytest.mark.timeout(900)


def segment() -> list[np.ndarray]:
    frames = []
    with av.open(str(DEMO_COUNTER_CLIP)) as src:
        for i, frame in enumerate(src.decode(video=0)):
            if i >= LAST:
                break
            if i >= FIRST and i % STEP == 0:
                frames.append(np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8))
    return frames


def write_clip(path: Path, shrink: int) -> Path:
    frames = segment() * LOOPS
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10 // STEP)
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18"}
        for im in frames:
            if shrink > 1:
                h, w = im.shape[:2]
                canvas = np.full((2 * h, 2 * w, 3), 114, np.uint8)
                sw, sh = w // shrink, h // shrink
                canvas[h - sh // 2 : h - sh // 2 + sh, w - sw // 2 : w - sw // 2 + sw] = cv2.resize(
                    im, (sw, sh), interpolation=cv2.INTER_AREA
                )
                im = canvas
            if stream.width == 0:
                stream.width, stream.height = im.shape[1], im.shape[0]
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(im), format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def degraded_events(tmp_path: Path, shrink: int) -> list[dict[str, object]]:
    clip = write_clip(tmp_path / "clip.mp4", shrink)
    store = tmp_path / "store.yaml"
    store.write_text(
        "store_id: ceiling\n"
        "cameras:\n"
        "  - id: high\n"
        f"    source: {clip.name}\n"
        "    fps: 5\n"
        "    max_width: 1536\n"
        "    detector_input_size: 640\n"
        "detector:\n  threads: 2\n"
        "emotion:\n  enabled: false\n"
        "intent:\n  enabled: false\n"
        "output:\n  annotated_video: false\n  jsonl: true\n"
    )
    result = run_store(load_config(store), tmp_path / "out")
    assert result.events_jsonl is not None
    events = [json.loads(line) for line in result.events_jsonl.read_text().splitlines()]
    assert events, "the run wrote no events at all"
    return [e for e in events if e["type"] == "camera.degraded"]


def test_a_run_on_people_too_small_for_the_input_emits_camera_degraded(tmp_path: Path) -> None:
    found = degraded_events(tmp_path, SHRINK)
    assert found, "people 10-20 px tall in the model's input and no camera.degraded"
    assert all(e["camera_id"] == "high" for e in found)
    payload = found[0]["payload"]
    assert isinstance(payload, dict)
    assert payload["reason"] in {"motion_without_people", "people_small_for_input"}
    assert "camera high" in payload["message"]
    assert "try detector.model: yolo11n-det or detector.input_size:" in payload["message"]
    assert payload["suggested_input_size"] > 640
    # at most one event per reason in a 33 s clip (the cooldown is 10 min): a warning, not a flood
    reasons = [e["payload"]["reason"] for e in found]  # type: ignore[index]
    assert len(reasons) == len(set(reasons)), reasons


def test_the_same_run_on_people_the_detector_sees_stays_quiet(tmp_path: Path) -> None:
    assert degraded_events(tmp_path, 1) == []
