"""YoloDetector and the onnxruntime session helper, with the vendored models and real frames.

Frames used (looked at by eye): one-by-one-person-detection.mp4 (the demo's counter clip,
examples/demo/one-by-one.mp4) frame 0 is the empty room, frames 300 and 1000 have one man standing
at the table, seen from behind, whole body in view; frame 20 of the demo's entrance clip has three
people walking in; frame 30 of store-aisle-detection.gif (development data only) has three
shoppers (man in a green coat, woman reaching to the shelf, woman cut off at the bottom edge).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import pytest

from storelens.config.detection import DetectorConfig
from storelens.core.types import KP, Detections
from storelens.vision.base import Detector
from storelens.vision.detector import YoloDetector
from storelens.vision.models import models_dir
from storelens.vision.onnx_session import (
    CPU_PROVIDER,
    CUDA_PROVIDER,
    SessionError,
    create_session,
    select_providers,
    session_options,
)
from storelens.vision.openvino_session import OPENVINO_PROVIDER
from storelens.vision.yolo import COCO_CLASSES, LayoutError, box_iou
from testdata import DEMO_COUNTER_CLIP, DEMO_ENTRANCE_CLIP, shared_video

MP4 = DEMO_COUNTER_CLIP  # the development clip one-by-one-person-detection.mp4, as the demo ships it
GIF_NAME = "store-aisle-detection.gif"  # development data only: tests that need it skip without it
DET_PATH = models_dir() / "yolo11n-det.onnx"


def read_frame(path: Path, index: int) -> npt.NDArray[np.uint8]:
    """Frame ``index`` of a video, seeking to the keyframe before it rather than decoding from 0."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or 10)
        tb = float(stream.time_base or 1)
        if index > 0:
            container.seek(int(index / rate / tb), stream=stream)
        for i, frame in enumerate(container.decode(stream)):
            at = round(frame.pts * tb * rate) if frame.pts is not None else i
            if at >= index:
                return np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
    raise AssertionError(f"{path} has no frame {index}")


@pytest.fixture(scope="module")
def pose() -> YoloDetector:
    return YoloDetector(DetectorConfig(input_size=640, threads=2, device="cpu"))  # the tests below are at 640


@pytest.fixture(scope="module")
def det() -> YoloDetector:
    # a user's own model, by path, with its class list in config
    return YoloDetector(DetectorConfig(model=str(DET_PATH), classes=list(COCO_CLASSES), threads=2, device="cpu"))


# session helper -------------------------------------------------------------------------------
def test_session_options_for_a_small_cpu() -> None:
    opts = session_options(threads=2)
    assert opts.intra_op_num_threads == 2 and opts.inter_op_num_threads == 1
    assert opts.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert session_options(threads=0).intra_op_num_threads >= 1
    with pytest.raises(SessionError, match="threads must be >= 0"):
        session_options(threads=-1)


@pytest.mark.parametrize(
    ("device", "available", "expected"),
    [
        ("auto", [CUDA_PROVIDER, CPU_PROVIDER], [CUDA_PROVIDER, CPU_PROVIDER]),
        ("auto", [CPU_PROVIDER], [CPU_PROVIDER]),
        ("cuda", [CUDA_PROVIDER, CPU_PROVIDER], [CUDA_PROVIDER, CPU_PROVIDER]),
        ("cpu", [CUDA_PROVIDER, CPU_PROVIDER], [CPU_PROVIDER]),
    ],
)
def test_select_providers(device: str, available: list[str], expected: list[str]) -> None:
    assert select_providers(device, available) == expected


def test_select_providers_errors() -> None:
    with pytest.raises(SessionError, match="device 'cuda' requested but this onnxruntime has no CUDA"):
        select_providers("cuda", [CPU_PROVIDER])
    with pytest.raises(SessionError, match="device must be one of"):
        select_providers("tpu", [CPU_PROVIDER])


def test_create_session_errors(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="not found"):
        create_session(tmp_path / "missing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx graph")
    with pytest.raises(SessionError, match=r"cannot load ONNX model .*bad\.onnx"):
        create_session(bad, threads=1, device="cpu")


@pytest.mark.skipif(CUDA_PROVIDER in ort.get_available_providers(), reason="CUDA is available here")
def test_detector_refuses_cuda_when_absent() -> None:
    with pytest.raises(SessionError, match="no CUDAExecutionProvider"):
        YoloDetector(DetectorConfig(device="cuda"))


# construction ---------------------------------------------------------------------------------
def test_pose_model_is_recognised(pose: YoloDetector) -> None:
    assert isinstance(pose, Detector)
    assert pose.kind == "pose" and pose.input_name == "images"
    assert pose.class_names == ("person",)  # from the model's own metadata
    assert pose.keep_classes == (0,) and pose.layout.channels == 56
    # detector.backend auto: whichever CPU runtime the probe (or its cache) found faster here
    assert pose.backend.source in ("probe", "cache", "no-openvino")
    assert pose.providers == ([OPENVINO_PROVIDER] if pose.backend.backend == "openvino" else [CPU_PROVIDER])


def test_det_model_by_path_with_classes(det: YoloDetector) -> None:
    assert det.kind == "det" and det.model_path == DET_PATH
    assert det.layout.num_classes == 80 and det.layout.num_extra == 32
    assert det.class_names[:3] == ("person", "bicycle", "car")


def test_det_model_by_name_without_classes_uses_coco() -> None:
    d = YoloDetector(DetectorConfig(model="yolo11n-det", threads=1, device="cpu"))
    assert d.kind == "det" and d.class_names == COCO_CLASSES


def test_wrong_class_list_is_a_clear_error() -> None:
    with pytest.raises(LayoutError, match=r"116 channels .* for 3 classes"):
        YoloDetector(DetectorConfig(model="yolo11n-det", classes=["a", "b", "c"], threads=1, device="cpu"))


def test_class_filter_out_of_range() -> None:
    with pytest.raises(LayoutError, match=r"class index \[5\] out of range: yolo11n-pose.onnx has 1 classes"):
        YoloDetector(DetectorConfig(person_class=5, threads=1, device="cpu"))


def test_bad_images_are_rejected(pose: YoloDetector) -> None:
    with pytest.raises(ValueError, match="image 0: expected an HxWx3 uint8 BGR image"):
        pose.detect(np.zeros((100, 100), np.uint8))
    with pytest.raises(ValueError, match="image 1: expected"):
        pose.detect_batch([np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64, 3), np.float32)])
    with pytest.raises(ValueError, match="image 0: image is empty"):
        pose.detect(np.zeros((0, 64, 3), np.uint8))
    assert pose.detect_batch([]) == []


def test_grey_frame_has_no_person_and_sets_timings(pose: YoloDetector) -> None:
    dets = pose.detect(np.full((432, 768, 3), 114, np.uint8))
    assert len(dets) == 0 and dets.keypoints is not None and dets.keypoints.shape == (0, 17, 3)
    assert pose.last_batch_size == 1
    assert pose.last_inference_ms > 0 and pose.last_preprocess_ms > 0 and pose.last_postprocess_ms > 0


# real model on real frames ----------------------------------------------------------------------
def _assert_person_at_table(d: Detections, with_keypoints: bool) -> None:
    assert len(d) == 1
    x1, y1, x2, y2 = d.xyxy[0]
    # the man at the table: roughly x 380..545, head near the top, feet around y 380..395
    assert 360 < x1 < 420 and 500 < x2 < 570 and y1 < 40 and 370 < y2 < 410
    assert d.score[0] > 0.7 and d.class_id[0] == 0
    if not with_keypoints:
        assert d.keypoints is None
        return
    assert d.keypoints is not None
    kp = d.keypoints[0]
    for name in ("left_shoulder", "right_shoulder", "left_ankle", "right_ankle"):
        x, y, vis = kp[KP[name]]
        assert vis > 0.5, name
        assert x1 <= x <= x2 and y1 <= y <= y2, name
    # anatomy: shoulders above hips above ankles (image y grows downwards)
    assert kp[KP["left_shoulder"], 1] < kp[KP["left_hip"], 1] < kp[KP["left_ankle"], 1]
    assert np.all((kp[:, 2] >= 0) & (kp[:, 2] <= 1))


@pytest.mark.slow
@pytest.mark.parametrize("index", [300, 1000])
def test_pose_finds_the_person_at_the_table(pose: YoloDetector, index: int) -> None:
    _assert_person_at_table(pose.detect(read_frame(MP4, index)), with_keypoints=True)


@pytest.mark.slow
def test_det_model_agrees_with_pose_model(pose: YoloDetector, det: YoloDetector) -> None:
    frame = read_frame(MP4, 300)
    d = det.detect(frame)
    _assert_person_at_table(d, with_keypoints=False)
    assert box_iou(d.xyxy, pose.detect(frame).xyxy)[0, 0] > 0.85


@pytest.mark.slow
def test_empty_room_has_no_person(pose: YoloDetector, det: YoloDetector) -> None:
    frame = read_frame(MP4, 0)
    assert len(pose.detect(frame)) == 0
    assert len(det.detect(frame)) == 0


@pytest.mark.slow
def test_store_aisle_gif_three_shoppers(pose: YoloDetector, det: YoloDetector) -> None:
    frame = read_frame(shared_video(GIF_NAME), 30)
    assert frame.shape == (270, 480, 3)
    for d in (pose.detect(frame), det.detect(frame)):
        assert len(d) == 3
        assert (d.xyxy[:, 2] <= 480).all() and (d.xyxy[:, 3] <= 270).all()
        assert (d.area > 30 * 60).all()  # people, not fragments


@pytest.mark.slow
def test_batch_of_mixed_sizes_matches_single_runs(pose: YoloDetector) -> None:
    # the demo entrance clip (480x270, three people walking in) gives the second size
    frames = [read_frame(MP4, 300), read_frame(DEMO_ENTRANCE_CLIP, 20), read_frame(MP4, 0), read_frame(MP4, 1000)]
    batch = pose.detect_batch(frames)
    assert pose.last_batch_size == 4
    assert [len(b) for b in batch] == [1, 3, 0, 1]
    for frame, got in zip(frames, batch, strict=True):
        single = pose.detect(frame)
        np.testing.assert_allclose(got.xyxy, single.xyxy, atol=0.05)
        assert got.keypoints is not None and single.keypoints is not None
        np.testing.assert_allclose(got.keypoints, single.keypoints, atol=0.05)


@pytest.mark.slow
def test_rectangular_and_square_letterbox_agree(pose: YoloDetector) -> None:
    """The 640x384 input finds the same person as a 640x640 one, so the rectangle (and its
    inverse mapping with a different padding) loses nothing."""
    square = YoloDetector(pose.cfg, input_shape=(640, 640), session=pose.session)
    frame = read_frame(MP4, 300)
    a, b = pose.detect(frame), square.detect(frame)
    assert len(a) == len(b) == 1
    assert box_iou(a.xyxy, b.xyxy)[0, 0] > 0.98
    assert a.keypoints is not None and b.keypoints is not None
    visible = (a.keypoints[0, :, 2] > 0.5) & (b.keypoints[0, :, 2] > 0.5)
    dist = np.linalg.norm(a.keypoints[0, visible, :2] - b.keypoints[0, visible, :2], axis=1)
    assert visible.sum() >= 10 and np.median(dist) < 3


class StaticShapeSession:
    """The real pose session behind an input declared static (1, 3, 320, 320), as a user's export
    without ``dynamic=True`` has; it refuses any other tensor shape, like onnxruntime would."""

    def __init__(self, inner: ort.InferenceSession) -> None:
        self.inner = inner
        self.calls = 0

    def get_inputs(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(name="images", shape=[1, 3, 320, 320], type="tensor(float)")]

    def get_outputs(self) -> list[ort.NodeArg]:
        return list(self.inner.get_outputs())

    def get_modelmeta(self) -> ort.ModelMetadata:
        return self.inner.get_modelmeta()

    def get_providers(self) -> list[str]:
        return list(self.inner.get_providers())

    def run(self, names: list[str], feeds: dict[str, npt.NDArray[np.float32]]) -> list[npt.NDArray[np.float32]]:
        if feeds["images"].shape != (1, 3, 320, 320):
            raise ValueError(f"static model got {feeds['images'].shape}")
        self.calls += 1
        return list(self.inner.run(names, feeds))


@pytest.mark.slow
def test_static_input_model_gets_its_own_shape_and_batch(pose: YoloDetector) -> None:
    session = StaticShapeSession(pose.session)
    static = YoloDetector(pose.cfg, session=session)
    assert static.fixed_shape == (320, 320) and static.static_batch == 1
    frames = [read_frame(MP4, 300), read_frame(MP4, 0), read_frame(MP4, 1000)]
    calls_before = session.calls  # the probe run at construction
    results = static.detect_batch(frames)
    assert session.calls - calls_before == 3  # one run per frame: the model takes batch 1 only
    assert [len(r) for r in results] == [1, 0, 1]
    assert box_iou(results[0].xyxy, pose.detect(frames[0]).xyxy)[0, 0] > 0.9
