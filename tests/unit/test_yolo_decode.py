"""YOLO output decoding and NMS on hand-built tensors with known answers."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from storelens.vision.letterbox import plan_letterbox
from storelens.vision.yolo import (
    COCO_CLASSES,
    LayoutError,
    NmsBackend,
    YoloLayout,
    box_iou,
    cxcywh_to_xyxy,
    decode,
    infer_layout,
    nms,
)

BACKENDS: list[NmsBackend] = ["cv2", "numpy"]


# layout ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("channels", "nc", "expected"),
    [
        (56, None, YoloLayout("pose", 1, num_keypoints=17)),  # vendored yolo11n-pose
        (84, None, YoloLayout("det", 80)),  # plain COCO detector
        (116, None, YoloLayout("det", 80, num_extra=32)),  # vendored yolo11n-det (seg head cut)
        (116, 80, YoloLayout("det", 80, num_extra=32)),
        (6, 2, YoloLayout("det", 2)),  # a user's 2-class model
        (38, 2, YoloLayout("det", 2, num_extra=32)),
        (57, 2, YoloLayout("pose", 2, num_keypoints=17)),
        (56, 1, YoloLayout("pose", 1, num_keypoints=17)),
    ],
)
def test_infer_layout(channels: int, nc: int | None, expected: YoloLayout) -> None:
    layout = infer_layout(channels, nc)
    assert layout == expected
    assert layout.channels == channels


@pytest.mark.parametrize(
    ("channels", "nc", "message"),
    [
        (100, None, "set detector.classes"),
        (10, 3, "expected 7 detect, 39 segment or 58 17-keypoint pose"),
        (84, 0, "num_classes must be >= 1"),
    ],
)
def test_infer_layout_errors(channels: int, nc: int | None, message: str) -> None:
    with pytest.raises(LayoutError, match=message):
        infer_layout(channels, nc)


def test_coco_names() -> None:
    assert len(COCO_CLASSES) == 80 and COCO_CLASSES[0] == "person" and COCO_CLASSES[79] == "toothbrush"
    assert len(set(COCO_CLASSES)) == 80


# boxes ----------------------------------------------------------------------------------------
def test_cxcywh_to_xyxy_and_iou() -> None:
    np.testing.assert_array_equal(cxcywh_to_xyxy([[10, 20, 4, 6]]), [[8, 17, 12, 23]])
    a = [[0, 0, 10, 10]]
    b = [[5, 0, 15, 10], [0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 20]]
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 1.0, 0.0, 0.5]])
    assert box_iou(np.zeros((0, 4)), a).shape == (0, 1)


# NMS ------------------------------------------------------------------------------------------
# Given out of score order on purpose. IoU(A, B) = 90/110 = 0.82, IoU(A, C) = 50/150 = 0.33,
# IoU(B, C) = 60/140 = 0.43, D is far away, E overlaps A exactly 0.5 (100 / 200).
A, B, C, D, E = [0, 0, 10, 10], [1, 0, 11, 10], [5, 0, 15, 10], [100, 100, 110, 110], [0, 0, 10, 20]
BOXES = np.array([C, A, D, B], np.float32)
SCORES = np.array([0.7, 0.9, 0.6, 0.8], np.float32)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("iou", "expected"),
    [
        (0.5, [1, 0, 2]),  # A kept, B suppressed by A, C kept (0.33), D kept; by score
        (0.3, [1, 2]),  # C now suppressed by A too
        (0.9, [1, 3, 0, 2]),  # nothing overlaps enough
    ],
)
def test_nms_survivors(backend: NmsBackend, iou: float, expected: list[int]) -> None:
    assert nms(BOXES, SCORES, iou, backend=backend).tolist() == expected


@pytest.mark.parametrize("backend", BACKENDS)
def test_nms_iou_equal_to_threshold_is_kept(backend: NmsBackend) -> None:
    assert nms([A, E], [0.9, 0.8], 0.5, backend=backend).tolist() == [0, 1]
    assert nms([A, E], [0.9, 0.8], 0.49, backend=backend).tolist() == [0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_nms_is_class_aware(backend: NmsBackend) -> None:
    # B has another class than A, so A cannot suppress it; C (class 1) is suppressed by B (0.43 > 0.4)
    keep = nms(BOXES, SCORES, 0.4, class_ids=[1, 0, 0, 1], backend=backend)
    assert keep.tolist() == [1, 3, 2]
    # class-agnostic: A suppresses B, and C (0.33 with A) stays
    assert nms(BOXES, SCORES, 0.4, backend=backend).tolist() == [1, 0, 2]


@pytest.mark.parametrize("backend", BACKENDS)
def test_nms_max_detections_and_empty(backend: NmsBackend) -> None:
    assert nms(BOXES, SCORES, 0.9, max_detections=2, backend=backend).tolist() == [1, 3]
    empty = nms(np.zeros((0, 4)), np.zeros(0), 0.5, backend=backend)
    assert empty.shape == (0,) and empty.dtype == np.intp


@pytest.mark.parametrize("backend", BACKENDS)
def test_nms_ties_keep_the_earlier_index(backend: NmsBackend) -> None:
    assert nms([A, A, D], [0.5, 0.5, 0.5], 0.5, backend=backend).tolist() == [0, 2]


def test_nms_argument_errors() -> None:
    with pytest.raises(ValueError, match="2 boxes but 1 scores"):
        nms([A, B], [0.5], 0.5)
    with pytest.raises(ValueError, match="class ids"):
        nms([A, B], [0.5, 0.4], 0.5, class_ids=[0])
    with pytest.raises(ValueError, match="max_detections"):
        nms([A], [0.5], 0.5, max_detections=0)
    with pytest.raises(ValueError, match="backend"):
        nms([A], [0.5], 0.5, backend="torch")  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(5))
def test_cv2_and_numpy_backends_agree_on_crowds(seed: int) -> None:
    rng = np.random.default_rng(seed)
    centres = np.repeat(rng.uniform(0, 600, (25, 2)), 12, 0) + rng.normal(0, 5, (300, 2))
    sizes = np.repeat(rng.uniform(20, 150, (25, 2)), 12, 0) * rng.uniform(0.8, 1.2, (300, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], 1)
    scores = rng.uniform(0, 1, 300)
    classes = rng.integers(0, 3, 300)
    for cls in (None, classes):
        a = nms(boxes, scores, 0.6, cls, backend="cv2")
        b = nms(boxes, scores, 0.6, cls, backend="numpy")
        np.testing.assert_array_equal(a, b)
        assert 25 <= len(a) < 300


# decode ---------------------------------------------------------------------------------------
def _output(channels: int, anchors: int = 8) -> npt.NDArray[np.float32]:
    return np.zeros((channels, anchors), np.float32)


INFO = plan_letterbox(480, 270, 640)  # frame = (input - (0, 12)) * 0.75, exact in float32


def _pose_output() -> npt.NDArray[np.float32]:
    out = _output(56)
    # anchor 0: person at input cx 320, cy 192, 120 x 300 -> frame box (195, 22.5, 285, 247.5)
    out[:5, 0] = [320, 192, 120, 300, 0.9]
    # anchor 1: the same person 2 px to the right, lower score -> removed by NMS
    out[:5, 1] = [322, 192, 120, 300, 0.8]
    # anchor 2: below the confidence threshold
    out[:5, 2] = [500, 250, 40, 80, 0.2]
    # anchor 3: a second person -> frame box (60, 36, 90, 96)
    out[:5, 3] = [100, 100, 40, 80, 0.5]
    for j in range(17):  # keypoint j of anchor 0 at input (300 + 4j, 52 + 16j), visibility j/20
        out[5 + 3 * j : 8 + 3 * j, 0] = [300 + 4 * j, 52 + 16 * j, j / 20]
    out[5:8, 3] = [100, 4, 0.75]  # nose of the second person lies in the top padding -> clipped
    return out


def test_decode_pose_to_frame_pixels() -> None:
    layout = infer_layout(56)
    dets = decode(_pose_output(), layout, INFO, conf_threshold=0.25, iou_threshold=0.6)
    assert len(dets) == 2
    np.testing.assert_array_equal(dets.xyxy, np.array([[195, 22.5, 285, 247.5], [60, 36, 90, 96]], np.float32))
    np.testing.assert_array_equal(dets.score, np.array([0.9, 0.5], np.float32))
    np.testing.assert_array_equal(dets.class_id, [0, 0])
    assert dets.keypoints is not None and dets.keypoints.shape == (2, 17, 3)
    j = np.arange(17)
    expected = np.stack([(300 + 4 * j) * 0.75, (52 + 16 * j - 12) * 0.75, j / 20], 1).astype(np.float32)
    np.testing.assert_array_equal(dets.keypoints[0], expected)
    np.testing.assert_array_equal(dets.keypoints[1, 0], [75, 0, 0.75])


def test_decode_pose_thresholds_and_limits() -> None:
    layout = infer_layout(56)
    out = _pose_output()
    assert len(decode(out, layout, INFO, conf_threshold=0.6)) == 1
    assert len(decode(out, layout, INFO, conf_threshold=0.1)) == 3  # anchor 2 now passes
    assert len(decode(out, layout, INFO, iou_threshold=0.99)) == 3  # anchor 1 survives NMS
    one = decode(out, layout, INFO, max_detections=1)
    assert len(one) == 1 and one.score[0] == np.float32(0.9)
    none = decode(out, layout, INFO, conf_threshold=0.95)
    assert len(none) == 0 and none.keypoints is not None and none.keypoints.shape == (0, 17, 3)


def test_decode_drops_non_finite_and_all_padding_boxes() -> None:
    layout = infer_layout(56)
    out = _output(56)
    out[:5, 0] = [np.nan, 100, 20, 20, 0.9]
    out[:5, 1] = [320, 4, 40, 6, 0.9]  # y 1..7: entirely inside the 12 px top padding
    out[:5, 2] = [320, 192, 40, 40, np.nan]
    assert len(decode(out, layout, INFO)) == 0


def _det_output() -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(0)
    out = _output(116)
    out[84:] = rng.normal(0, 5, (32, 8))  # mask coefficients: garbage that must be ignored
    out[:4, 0] = [320, 192, 120, 300]
    out[4 + 0, 0] = 0.8  # person
    out[:4, 1] = [100, 100, 40, 80]
    out[4 + 2, 1] = 0.9  # car
    out[:4, 2] = [500, 200, 40, 80]
    out[4 + 0, 2], out[4 + 56, 2] = 0.3, 0.6  # best class is chair (56), person only second
    out[:4, 3] = [322, 192, 120, 300]
    out[4 + 24, 3] = 0.7  # a backpack on the person's box: other class, survives class-aware NMS
    return out


def test_decode_det_keeps_persons_only_by_default_class() -> None:
    layout = infer_layout(116)
    dets = decode(_det_output(), layout, INFO, keep_classes={0})
    assert len(dets) == 1 and dets.keypoints is None
    np.testing.assert_array_equal(dets.xyxy, np.array([[195, 22.5, 285, 247.5]], np.float32))
    assert dets.class_id.tolist() == [0] and dets.score.tolist() == [np.float32(0.8)]


def test_decode_det_all_classes_is_class_aware() -> None:
    layout = infer_layout(116)
    dets = decode(_det_output(), layout, INFO, keep_classes=None)
    assert dets.class_id.tolist() == [2, 0, 24, 56]  # by score: car, person, backpack, chair
    np.testing.assert_array_equal(dets.xyxy[0], np.array([60, 36, 90, 96], np.float32))
    np.testing.assert_allclose(dets.score, [0.9, 0.8, 0.7, 0.6])
    assert len(decode(_det_output(), layout, INFO, keep_classes=[2, 24])) == 2


def test_decode_custom_two_class_model_without_masks() -> None:
    layout = infer_layout(6, 2)  # e.g. classes: [staff, shopper]
    out = _output(6)
    out[:, 0] = [320, 192, 120, 300, 0.1, 0.7]
    out[:, 1] = [100, 100, 40, 80, 0.9, 0.05]
    dets = decode(out, layout, INFO, keep_classes=[1])
    assert dets.class_id.tolist() == [1]
    np.testing.assert_array_equal(dets.xyxy, np.array([[195, 22.5, 285, 247.5]], np.float32))


def test_decode_rejects_a_wrong_shape() -> None:
    with pytest.raises(LayoutError, match=r"shape \(56, A\)"):
        decode(_output(84), infer_layout(56), INFO)
    with pytest.raises(LayoutError, match=r"shape \(56, A\)"):
        decode(np.zeros((1, 56, 8), np.float32), infer_layout(56), INFO)
