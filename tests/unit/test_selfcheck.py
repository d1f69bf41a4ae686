"""The per-camera detection self-check: a camera whose detector does not see the people in view
says so (``camera.degraded`` with the fix); a camera that sees them stays quiet.

Made from the bundled demo clip (people walking in and out, 19-26 s): as it is, and shrunk 8x into
a frame twice its size (people ~30-50 px tall, as on a high ceiling camera), where the detector at
640 finds nobody."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from storelens.cli.main import app
from storelens.config.detection import DetectorConfig
from storelens.core.types import Detections
from storelens.pipeline.selfcheck import DetectionSelfCheck, suggested_input
from storelens.vision.detector import YoloDetector
from testdata import DEMO_COUNTER_CLIP


def frames(shrink: int) -> Iterator[tuple[float, np.ndarray]]:
    with av.open(str(DEMO_COUNTER_CLIP)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i >= 260:
                return
            if i < 180 or i % 2:
                continue
            im = f.to_ndarray(format="bgr24")
            if shrink > 1:
                h, w = im.shape[:2]
                canvas = np.full((2 * h, 2 * w, 3), 114, np.uint8)
                sw, sh = w // shrink, h // shrink
                canvas[h - sh // 2 : h - sh // 2 + sh, w - sw // 2 : w - sw // 2 + sw] = cv2.resize(
                    im, (sw, sh), interpolation=cv2.INTER_AREA
                )
                im = canvas
            yield i / 10.0, np.ascontiguousarray(im)


@pytest.fixture(scope="module")
def detector() -> YoloDetector:
    return YoloDetector(DetectorConfig(input_size=640, threads=1))


def run(detector: YoloDetector, shrink: int) -> tuple[DetectionSelfCheck, list[str], int]:
    check = DetectionSelfCheck("cam", "yolo11n-pose", 640, window_s=6.0, min_frames=10)
    reasons: list[str] = []
    people = 0
    for pts, image in frames(shrink):
        d = detector.detect(image)
        people += len(d)
        reasons += [f.reason for f in check.update(image, d, pts)]
    return check, reasons, people


def test_people_the_detector_misses_raise_motion_without_people(detector: YoloDetector) -> None:
    check, reasons, people = run(detector, shrink=8)
    assert people == 0  # the premise: pose at 640 is blind to these people
    assert reasons == ["motion_without_people"]  # once: the cooldown holds further findings
    (finding,) = [f for f in check.findings() if f.reason == "motion_without_people"]
    assert "detector.model: yolo11n-det" in finding.message and "detector.input_size:" in finding.message
    assert finding.measured["suggested_input_size"] > 640


def test_a_camera_that_sees_its_people_stays_quiet(detector: YoloDetector) -> None:
    _, reasons, people = run(detector, shrink=1)
    assert people > 0
    assert reasons == []


def test_small_detected_people_suggest_a_larger_input() -> None:
    check = DetectionSelfCheck("cam", "yolo11n-det", 640, window_s=4.0, min_frames=5)
    image = np.full((1080, 1920, 3), 100, np.uint8)
    box = Detections(
        xyxy=np.array([[100, 100, 120, 160]], np.float32),  # 60 px in 1920 -> 20 px at 640
        score=np.array([0.9], np.float32),
        class_id=np.zeros(1, np.int32),
    )
    found = []
    for i in range(60):
        found += check.update(image, box, i / 10.0)
    assert [f.reason for f in found] == ["people_small_for_input"]
    assert "detector.input_size:" in found[0].message and "yolo11n-det or" not in found[0].message
    assert found[0].measured["input_height_px"] == pytest.approx(20.0)


def test_suggested_input_is_a_multiple_of_32_and_capped() -> None:
    assert suggested_input(640, 1920, 60.0) == 1280
    size = suggested_input(640, 768, 60.0)
    assert size % 32 == 0 and 640 < size <= 1280
    assert suggested_input(640, 768, 0.0) == 1280


def test_validate_probe_warns_about_a_camera_whose_people_are_too_small(tmp_path: Path) -> None:
    """The same check on a sample of the camera's file, as a user runs it before trusting numbers."""
    clip = tmp_path / "ceiling.mp4"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=5)
        stream.pix_fmt = "yuv420p"
        stream.width, stream.height = 1536, 864  # the demo clip's 768x432, twice
        for _, image in frames(shrink=8):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    store = tmp_path / "store.yaml"
    store.write_text(
        "store_id: ceiling\ncameras:\n  - id: high\n    source: ceiling.mp4\n    fps: 5\ndetector:\n  input_size: 640\n"
    )
    res = CliRunner().invoke(app, ["validate", str(store), "--probe"])
    assert res.exit_code == 0, res.output  # a warning, not an invalid config
    assert "warning: camera high: person-like motion that no detection explains" in res.output
    assert "try detector.model: yolo11n-det or detector.input_size:" in res.output
    res = CliRunner().invoke(app, ["validate", str(store)])
    assert "self-check" not in res.output and "person-like" not in res.output  # only with --probe


def test_the_smallest_input_keeps_nine_in_ten_people_detectable() -> None:
    check = DetectionSelfCheck("cam", "yolo11n-pose", 640, window_s=10.0, min_frames=5)
    image = np.full((432, 768, 3), 100, np.uint8)
    assert check.smallest_input() is None  # nobody seen yet
    for i in range(20):
        h = 100.0 if i % 10 else 60.0  # one in ten is small
        box = Detections(
            xyxy=np.array([[300, 300 - h, 340, 300]], np.float32),
            score=np.array([0.9], np.float32),
            class_id=np.zeros(1, np.int32),
        )
        check.update(image, box, i / 10.0)
    heights = check.person_heights()
    assert heights is not None and heights[0] == pytest.approx(100.0)
    size = check.smallest_input()
    assert size is not None and size % 32 == 0
    # at that input the 10th-percentile person is >= 48 px in the model's input
    assert heights[1] * size / 768 >= 48
    assert heights[1] * (size - 32) / 768 < 48 or size == 320
