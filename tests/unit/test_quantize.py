"""The INT8 agreement check (issue 16): recall and precision of a candidate detector against the FP32
one at IoU 0.5, on frames calibration never saw, decide whether the INT8 file may ship.

The shipped ``yolo11n-pose-int8.onnx`` was calibrated on the first half of the counter clip and
three GIFs (scripts/quantize_detector.py); the entrance clip used here is held out.
"""

from __future__ import annotations

import numpy as np
import pytest

from factories import make_detections
from storelens.config.detection import DetectorConfig
from storelens.core.types import Detections
from storelens.vision.detector import YoloDetector
from storelens.vision.models import resolve_model
from storelens.vision.quantize import agreement, read_frames
from testdata import DEMO_ENTRANCE_CLIP


def _dets(*boxes: tuple[float, float, float, float], kp_shift: float = 0.0) -> Detections:
    n = len(boxes)
    xyxy = np.array(boxes, np.float32).reshape(n, 4)
    kp = np.zeros((n, 17, 3), np.float32)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        kp[i, :, 0] = np.linspace(x1, x2, 17) + kp_shift
        kp[i, :, 1] = np.linspace(y1, y2, 17)
        kp[i, :, 2] = 0.9
    return make_detections(xyxy, score=0.8, keypoints=kp)


def test_agreement_counts_matches_one_to_one() -> None:
    a, b, c = (0, 0, 50, 100), (100, 0, 150, 100), (200, 0, 250, 100)
    same = agreement([_dets(a, b, c)], [_dets(a, b, c)])
    assert (same.recall, same.precision, same.keypoint_error) == (1.0, 1.0, 0.0) and same.passes

    missed = agreement([_dets(a, b, c)], [_dets(a, b)])
    assert missed.recall == pytest.approx(2 / 3) and missed.precision == 1.0 and not missed.passes

    extra = agreement([_dets(a), _dets()], [_dets(a), _dets(b)])
    assert extra.recall == 1.0 and extra.precision == 0.5 and not extra.passes

    # two candidates on one reference person: only one may match it
    double = agreement([_dets(a)], [_dets(a, (1, 1, 51, 101))])
    assert double.matched == 1 and double.precision == 0.5

    # a box shifted by 30 of 50 px has IoU 0.25: not the same person
    shifted = agreement([_dets(a)], [_dets((30, 0, 80, 100))])
    assert shifted.matched == 0

    assert agreement([_dets()], [_dets()]).passes  # nobody where the reference has nobody
    kp = agreement([_dets(a)], [_dets(a, kp_shift=5.0)])
    assert kp.keypoint_error == pytest.approx(0.05)  # 5 px of a 100 px tall box
    with pytest.raises(ValueError):
        agreement([_dets(a)], [])


@pytest.fixture(scope="module")
def held_out() -> list[np.ndarray]:
    return read_frames(DEMO_ENTRANCE_CLIP, every=8)


def test_shipped_int8_detector_agrees_with_fp32_on_held_out_frames(held_out: list[np.ndarray]) -> None:
    assert resolve_model("yolo11n-pose-int8").is_file()  # in the manifest, hash verified
    cfg = DetectorConfig(model="yolo11n-pose", input_size=640, device="cpu")
    ref = YoloDetector(cfg)
    int8 = YoloDetector(cfg.model_copy(update={"model": "yolo11n-pose-int8"}))
    ref_out = [ref.detect(f) for f in held_out]
    result = agreement(ref_out, [int8.detect(f) for f in held_out])
    assert result.reference >= len(held_out)  # the clip has people in every sampled frame
    assert result.passes, result.describe()
    assert result.keypoint_error is not None and result.keypoint_error < 0.05


def test_the_check_rejects_a_detector_that_sees_less(held_out: list[np.ndarray]) -> None:
    """The same bar fails a clearly worse detector (the FP32 model fed 128 px inputs): the check
    can say no."""
    cfg = DetectorConfig(model="yolo11n-pose", input_size=640, device="cpu")
    ref = [YoloDetector(cfg).detect(f) for f in held_out]
    coarse = YoloDetector(cfg.model_copy(update={"input_size": 128}))
    result = agreement(ref, [coarse.detect(f) for f in held_out])
    assert not result.passes, result.describe()
