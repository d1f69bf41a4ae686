"""BlazeFace anchors, decoding, weighted NMS, head regions and face alignment.

Synthetic tensors check the arithmetic against hand-computed values; the real-frame tests use the
hand-annotated faces in tests/data/faces_annotations.json on the CC-BY face clips in
../shared/data/video (head-pose-face-detection-female-and-male.gif frame 0: a woman on the left
and a man on the right, both facing the camera; frame 27: both heads rolled strongly to the
side).
"""

from __future__ import annotations

import json

import av
import cv2
import numpy as np
import numpy.typing as npt
import pytest

from storelens.core.geometry import iou_matrix
from storelens.core.types import KP, NUM_KEYPOINTS
from storelens.vision.face_align import (
    AlignParams,
    align_faces,
    alignment_matrices,
    eye_angle,
    to_model_input,
    warp_faces,
)
from storelens.vision.faces import (
    FKP,
    FaceDetector,
    Faces,
    assign_faces_to_boxes,
    decode_blazeface,
    face_frontality,
    head_regions,
    pick_face_for_region,
    square_crop,
    ssd_anchors,
    weighted_nms,
)
from testdata import TEST_DATA, shared_video

ANNOTATIONS = json.loads((TEST_DATA / "faces_annotations.json").read_text())
HEAD_POSE = "head-pose-face-detection-female-and-male.gif"


def read_frame(name: str, index: int) -> npt.NDArray[np.uint8]:
    path = shared_video(name)
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return np.asarray(frame.to_ndarray(format="bgr24"), np.uint8)
    raise AssertionError(f"{name} has fewer than {index + 1} frames")


def annotated(name: str, index: int) -> npt.NDArray[np.float32]:
    for item in ANNOTATIONS["frames"]:
        if item["clip"] == name and item["frame"] == index:
            return np.asarray(item["faces"], np.float32)
    raise AssertionError(f"no annotation for {name} frame {index}")


@pytest.fixture(scope="module")
def short_range() -> FaceDetector:
    return FaceDetector("short_range", threads=1, device="cpu")


# anchors ---------------------------------------------------------------------------------------
def test_short_range_anchor_layout() -> None:
    a = ssd_anchors(128, (8, 16, 16, 16), interpolated_scale=True)
    assert a.shape == (896, 2)
    # stride 8: 16x16 cells x 2 anchors, cell (0, 0) first, both anchors at its centre
    np.testing.assert_allclose(a[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[1], a[0])
    np.testing.assert_allclose(a[2], [1.5 / 16, 0.5 / 16])  # next cell to the right (x varies fastest)
    np.testing.assert_allclose(a[32], [0.5 / 16, 1.5 / 16])  # second row
    np.testing.assert_allclose(a[511], [15.5 / 16, 15.5 / 16])
    # stride 16: 8x8 cells x 6 anchors (3 layers x 2)
    np.testing.assert_allclose(a[512:518], np.tile([[0.5 / 8, 0.5 / 8]], (6, 1)))
    np.testing.assert_allclose(a[518], [1.5 / 8, 0.5 / 8])
    np.testing.assert_allclose(a[-1], [7.5 / 8, 7.5 / 8])


def test_full_range_anchor_layout() -> None:
    a = ssd_anchors(192, (4,), interpolated_scale=False)
    assert a.shape == (2304, 2)
    np.testing.assert_allclose(a[0], [0.5 / 48, 0.5 / 48])
    np.testing.assert_allclose(a[1], [1.5 / 48, 0.5 / 48])
    np.testing.assert_allclose(a[48], [0.5 / 48, 1.5 / 48])
    np.testing.assert_allclose(a[-1], [47.5 / 48, 47.5 / 48])


@pytest.mark.parametrize("strides", [(), (8, 0)])
def test_anchor_spec_rejected(strides: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="bad anchor spec"):
        ssd_anchors(128, strides)


# decoding --------------------------------------------------------------------------------------
def test_decode_synthetic_regressors() -> None:
    anchors = ssd_anchors(128, (8, 16, 16, 16))
    reg = np.zeros((896, 16), np.float32)
    logits = np.full(896, -10.0, np.float32)
    k = 2 * (5 * 16 + 3)  # stride-8 cell x=3, y=5 -> anchor centre (3.5/16, 5.5/16)
    reg[k, :4] = [6.4, -12.8, 32.0, 64.0]  # dx, dy, w, h in input pixels
    reg[k, 4:6] = [-8.0, 0.0]  # right eye 8 px left of the anchor
    reg[k, 6:8] = [8.0, 0.0]
    logits[k] = 2.0
    boxes, scores, kps = decode_blazeface(reg, logits[:, None], anchors, 128, min_score=0.5)
    assert boxes.shape == (1, 4) and kps.shape == (1, 6, 2)
    cx, cy = 3.5 / 16 + 6.4 / 128, 5.5 / 16 - 12.8 / 128
    np.testing.assert_allclose(boxes[0], [cx - 0.125, cy - 0.25, cx + 0.125, cy + 0.25], atol=1e-6)
    np.testing.assert_allclose(scores, [1 / (1 + np.exp(-2.0))], rtol=1e-6)
    np.testing.assert_allclose(kps[0, 0], [3.5 / 16 - 8 / 128, 5.5 / 16], atol=1e-6)
    np.testing.assert_allclose(kps[0, 1], [3.5 / 16 + 8 / 128, 5.5 / 16], atol=1e-6)
    np.testing.assert_allclose(kps[0, 2:], np.tile([[3.5 / 16, 5.5 / 16]], (4, 1)), atol=1e-6)


def test_decode_clips_extreme_logits_and_filters() -> None:
    anchors = ssd_anchors(192, (4,), interpolated_scale=False)
    logits = np.full(2304, -1e6, np.float32)
    logits[7] = 1e6
    boxes, scores, _ = decode_blazeface(np.zeros((2304, 16)), logits, anchors, 192, 0.5)
    assert len(boxes) == 1 and scores[0] == pytest.approx(1.0)


def test_decode_rejects_wrong_anchor_count() -> None:
    with pytest.raises(ValueError, match="anchors"):
        decode_blazeface(np.zeros((10, 16)), np.zeros(10), ssd_anchors(128, (8, 16, 16, 16)), 128, 0.5)
    anchors = ssd_anchors(192, (4,), interpolated_scale=False)
    with pytest.raises(ValueError, match="min_score"):
        decode_blazeface(np.zeros((2304, 16)), np.zeros(2304), anchors, 192, 1.0)


# weighted NMS ----------------------------------------------------------------------------------
def test_weighted_nms_merges_overlaps_by_score() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [0.5, 0.5, 10.5, 10.5]], np.float32)
    scores = np.array([0.9, 0.6, 0.8, 0.3], np.float32)
    kps = np.zeros((4, 6, 2), np.float32)
    kps[:, :, 0] = boxes[:, :1]  # keypoint x = box x1, to see the averaging
    b, s, k = weighted_nms(boxes, scores, kps, iou_threshold=0.3)
    assert len(b) == 2
    np.testing.assert_allclose(s, [0.9, 0.8])
    w = np.array([0.9, 0.6, 0.3])
    expected = (boxes[[0, 1, 3]] * w[:, None]).sum(0) / w.sum()
    np.testing.assert_allclose(b[0], expected, rtol=1e-6)
    np.testing.assert_allclose(k[0, :, 0], expected[0], rtol=1e-6)
    np.testing.assert_allclose(b[1], [50, 50, 60, 60])


def test_weighted_nms_keeps_separate_and_handles_empty() -> None:
    boxes = np.array([[0, 0, 10, 10], [8, 0, 18, 10]], np.float32)  # IoU 2/18 < 0.3
    b, s, _ = weighted_nms(boxes, np.array([0.5, 0.7], np.float32), np.zeros((2, 6, 2), np.float32), 0.3)
    np.testing.assert_allclose(s, [0.7, 0.5])
    np.testing.assert_allclose(b, boxes[[1, 0]])
    b, s, k = weighted_nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 6, 2), np.float32))
    assert b.shape == (0, 4) and s.shape == (0,) and k.shape == (0, 6, 2)


def test_weighted_nms_degenerate_box_does_not_loop() -> None:
    boxes = np.array([[5, 5, 5, 5], [0, 0, 10, 10]], np.float32)
    b, _, _ = weighted_nms(boxes, np.array([0.9, 0.8], np.float32), np.zeros((2, 6, 2), np.float32))
    assert len(b) == 2


# crops, regions, attachment --------------------------------------------------------------------
def test_square_crop_maps_back_and_pads_outside() -> None:
    img = np.full((100, 200, 3), 200, np.uint8)
    crop, scale, x0, y0 = square_crop(img, 10, 10, 40, 128)
    assert crop.shape == (128, 128, 3)
    assert scale == pytest.approx(128 / 40) and (x0, y0) == (-10, -10)
    assert crop[0, 0].tolist() == [0, 0, 0]  # outside the image: black
    assert crop[127, 127].tolist() == [200, 200, 200]
    with pytest.raises(ValueError, match="bad crop"):
        square_crop(img, 10, 10, 0, 128)


def test_head_region_from_keypoints_and_fallback() -> None:
    kp = np.zeros((2, NUM_KEYPOINTS, 3), np.float32)
    kp[0, KP["left_eye"]] = [110, 50, 0.9]
    kp[0, KP["right_eye"]] = [90, 50, 0.9]
    kp[0, KP["nose"]] = [100, 60, 0.9]
    kp[0, KP["left_shoulder"]] = [150, 110, 0.9]
    kp[0, KP["right_shoulder"]] = [30, 110, 0.9]
    boxes = np.array([[50, 20, 150, 300], [300, 100, 340, 200]], np.float32)
    r = head_regions(boxes, kp, padding=2.0)
    cx, cy = 100, (50 + 50 + 60) / 3
    np.testing.assert_allclose(r[0], [cx, cy, 2.0 * 0.5 * 120], rtol=1e-5)  # shoulder width wins
    kp[0, KP["left_shoulder"], 2] = 0.1  # shoulder not seen: 2.5 eye distances
    np.testing.assert_allclose(head_regions(boxes, kp, padding=2.0)[0], [cx, cy, 2.0 * 2.5 * 20], rtol=1e-5)
    # second person: no visible face point -> top of the box
    np.testing.assert_allclose(r[1], [320, 100 + 0.3 * 40, 2.0 * 0.55 * 40], rtol=1e-5)
    np.testing.assert_allclose(head_regions(boxes, None, 2.0)[1], r[1])


def test_pick_face_prefers_centre_and_rejects_edge() -> None:
    faces = Faces(
        np.array([[0, 0, 20, 20], [40, 40, 60, 60]], np.float32),
        np.array([0.95, 0.7], np.float32),
        np.zeros((2, 6, 2), np.float32),
        np.full(2, -1, np.int32),
    )
    assert pick_face_for_region(faces, 50, 50, 100) == 1  # the owner's face is central
    assert pick_face_for_region(faces[np.array([0])], 90, 90, 100) is None
    assert pick_face_for_region(Faces.empty(), 0, 0, 10) is None


def test_assign_faces_to_boxes_one_per_person() -> None:
    faces = Faces(
        np.array([[40, 10, 60, 30], [42, 12, 58, 28], [200, 10, 220, 30]], np.float32),
        np.array([0.9, 0.8, 0.9], np.float32),
        np.zeros((3, 6, 2), np.float32),
        np.full(3, -1, np.int32),
    )
    persons = np.array([[20, 0, 80, 200], [300, 0, 360, 200]], np.float32)
    out = assign_faces_to_boxes(faces, persons)
    assert out.track_row.tolist() == [0, -1, -1]


def test_frontality_symmetric_vs_turned() -> None:
    frontal = np.array([[40, 50], [60, 50], [50, 60], [50, 70], [30, 52], [70, 52]], np.float32)
    turned = frontal.copy()
    turned[FKP["nose_tip"], 0] = 42  # nose near the right eye, as in a three-quarter view
    turned[FKP["right_ear"], 0] = 41
    # roll the frontal face by 40 degrees: frontality must not change
    c, s = np.cos(np.radians(40)), np.sin(np.radians(40))
    rolled = (frontal - 50) @ np.array([[c, s], [-s, c]], np.float32) + 50
    f = face_frontality(np.stack([frontal, turned, rolled]))
    assert f[0] == pytest.approx(1.0, abs=1e-6)
    assert f[1] < 0.25
    assert f[2] == pytest.approx(1.0, abs=1e-5)


# alignment -------------------------------------------------------------------------------------
@pytest.mark.parametrize("roll_deg", [-35.0, -10.0, 0.0, 20.0, 45.0])
def test_alignment_levels_a_synthetic_eye_line(roll_deg: float) -> None:
    img = np.full((200, 200), 128, np.uint8)
    centre = np.array([100.0, 100.0])
    d = np.array([np.cos(np.radians(roll_deg)), np.sin(np.radians(roll_deg))]) * 20
    right_eye, left_eye = centre - d, centre + d
    for p in (right_eye, left_eye):
        cv2.circle(img, (round(p[0]), round(p[1])), 4, 0, -1)
    assert eye_angle(right_eye, left_eye)[0] == pytest.approx(roll_deg)
    box = np.array([[60, 60, 140, 140]], np.float32)
    params = AlignParams(margin=1.0)
    m = alignment_matrices(box, right_eye[None], left_eye[None], params)
    crop = warp_faces(img, m, 64)[0]
    # both eye blobs land on the same row, left and right of the centre
    mapped = np.array([m[0] @ np.append(p, 1.0) for p in (right_eye, left_eye)])
    assert mapped[0, 1] == pytest.approx(mapped[1, 1], abs=1e-6)
    assert mapped[0, 0] < 32 < mapped[1, 0]
    dark = np.argwhere(crop < 64)
    left_blob, right_blob = dark[dark[:, 1] < 32], dark[dark[:, 1] >= 32]
    assert abs(left_blob[:, 0].mean() - right_blob[:, 0].mean()) < 1.0


def test_no_rotation_when_disabled_and_bad_boxes_rejected() -> None:
    m = alignment_matrices(
        np.array([[0, 0, 64, 64]]), np.array([[10, 10]]), np.array([[50, 40]]), AlignParams(margin=1.0, rotate=False)
    )
    np.testing.assert_allclose(m[0], [[1, 0, 0], [0, 1, 0]], atol=1e-9)
    with pytest.raises(ValueError, match="positive size"):
        alignment_matrices(np.array([[10, 10, 10, 20]]), None, None)


def test_large_face_is_area_downscaled_without_aliasing() -> None:
    # a 1-pixel checkerboard: bilinear point sampling returns 0s and 255s, area averaging ~128
    img = (np.indices((800, 800)).sum(axis=0) % 2 * 255).astype(np.uint8)
    m = alignment_matrices(np.array([[100, 100, 700, 700]]), None, None, AlignParams(margin=1.0))
    crop = warp_faces(img, m, 64)[0]
    assert crop.std() < 20
    assert abs(float(crop.mean()) - 127.5) < 10


def test_partial_grey_conversion_matches_full_frame() -> None:
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 255, (300, 500, 3), dtype=np.uint8), (5, 5), 0)
    boxes = np.array([[10, 10, 60, 70], [-20, 200, 40, 290], [300, 100, 480, 280]], np.float32)
    right = np.array([[20, 30], [-5, 230], [340, 150]], np.float32)
    left = right + np.array([[25, 8], [30, -10], [90, 30]], np.float32)
    full = align_faces(img, boxes, right, left, gray=cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    np.testing.assert_array_equal(align_faces(img, boxes, right, left), full)
    assert align_faces(img, np.zeros((0, 4)), None, None).shape == (0, 64, 64)


def test_model_input_scaling() -> None:
    x = to_model_input(np.array([[[0, 255]]], np.uint8))
    np.testing.assert_allclose(x[0, 0, :, 0], [-1.0, 1.0])
    assert x.shape == (1, 1, 2, 1)


# real frames -----------------------------------------------------------------------------------
def test_whole_frame_finds_the_annotated_faces(short_range: FaceDetector) -> None:
    img = read_frame(HEAD_POSE, 0)
    faces = short_range.detect(img)
    gt = annotated(HEAD_POSE, 0)
    assert len(faces) == len(gt)
    iou = iou_matrix(gt, faces.xyxy)
    assert (iou.max(axis=1) >= 0.3).all()
    # subject's right eye is on the image left for a face looking at the camera
    assert (faces.keypoints[:, FKP["right_eye"], 0] < faces.keypoints[:, FKP["left_eye"], 0]).all()


def test_head_region_finds_a_rolled_face_and_levels_it(short_range: FaceDetector) -> None:
    img = read_frame(HEAD_POSE, 27)
    gt = annotated(HEAD_POSE, 27)
    man = gt[1]
    cx, cy = (man[0] + man[2]) / 2, (man[1] + man[3]) / 2
    side = 2.0 * float(max(man[2] - man[0], man[3] - man[1]))
    faces = short_range.detect_region(img, cx, cy, side)
    best = pick_face_for_region(faces, cx, cy, side)
    assert best is not None
    assert iou_matrix(man[None], faces.xyxy[best : best + 1])[0, 0] >= 0.3
    angle = eye_angle(faces.keypoints[best, FKP["right_eye"]], faces.keypoints[best, FKP["left_eye"]])[0]
    assert angle < -20  # his head is tilted toward his left shoulder (eye line rises to the right)
