"""Letterbox geometry and pixels against hand-computed values, and the inverse mappings."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from storelens.vision.letterbox import (
    PAD_VALUE,
    LetterboxInfo,
    boxes_to_frame,
    boxes_to_input,
    keypoints_to_frame,
    keypoints_to_input,
    letterbox,
    letterbox_image,
    plan_letterbox,
    to_tensor,
)

# frame w, h, input size -> scale, content w, h, input w, h, pad x, y (worked out by hand)
PLANS = [
    # 16:9 camera: 768*640/768 = 640, 432*0.8333 = 360 -> 360 padded to 384, 12 above and below
    ((768, 432, 640), (640 / 768, 640, 360, 640, 384, 0, 12)),
    # the store-aisle GIF is upscaled (Ultralytics does too): 480*4/3 = 640, 270*4/3 = 360
    ((480, 270, 640), (640 / 480, 640, 360, 640, 384, 0, 12)),
    # portrait: the same numbers transposed
    ((432, 768, 640), (640 / 768, 360, 640, 384, 640, 12, 0)),
    # tiny 50x30: x12.8 -> 640x384, already a multiple of 32, no padding
    ((50, 30, 640), (12.8, 640, 384, 640, 384, 0, 0)),
    # odd padding: 333*0.64 = 213.12 -> 213, padded to 224: 11 rows, 5 on top and 6 below
    ((1000, 333, 640), (0.64, 640, 213, 640, 224, 0, 5)),
    # smaller input size: 768x432 at 320 -> 320x180 -> 320x192
    ((768, 432, 320), (320 / 768, 320, 180, 320, 192, 0, 6)),
]


@pytest.mark.parametrize(("args", "expected"), PLANS)
def test_plan_matches_hand_computed(args: tuple[int, int, int], expected: tuple[float, ...]) -> None:
    w, h, size = args
    info = plan_letterbox(w, h, size)
    scale, cw, ch, iw, ih, px, py = expected
    assert info.scale == pytest.approx(scale)
    assert (info.content_w, info.content_h, info.input_w, info.input_h) == (cw, ch, iw, ih)
    assert (info.pad_x, info.pad_y) == (px, py)
    assert (info.frame_w, info.frame_h) == (w, h)
    assert info.input_w % 32 == 0 and info.input_h % 32 == 0


def test_fixed_shape_pads_to_a_square() -> None:
    info = plan_letterbox(768, 432, fixed_shape=(640, 640))
    assert (info.input_w, info.input_h, info.content_w, info.content_h) == (640, 640, 640, 360)
    assert (info.pad_x, info.pad_y) == (0, 140)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frame_w": 0, "frame_h": 10}, "frame size must be positive"),
        ({"frame_w": 10, "frame_h": 10, "input_size": 100}, "multiple of 32"),
        ({"frame_w": 10, "frame_h": 10, "fixed_shape": (0, 64)}, "fixed_shape must be positive"),
    ],
)
def test_plan_rejects_bad_sizes(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_letterbox(**kwargs)  # type: ignore[arg-type]


def test_tensor_shape_padding_and_channel_order() -> None:
    # pure blue BGR frame: in the RGB tensor, channel 2 (blue) is 1.0 inside the content
    img = np.zeros((432, 768, 3), np.uint8)
    img[..., 0] = 255
    tensor, info = letterbox(img, 640)
    assert tensor.shape == (1, 3, 384, 640) and tensor.dtype == np.float32
    pad = PAD_VALUE / 255
    np.testing.assert_allclose(tensor[0, :, :12, :], pad, atol=1e-6)  # top padding rows
    np.testing.assert_allclose(tensor[0, :, 372:, :], pad, atol=1e-6)  # bottom padding rows
    content = tensor[0, :, 12:372, :]
    np.testing.assert_allclose(content[2], 1.0)
    np.testing.assert_allclose(content[:2], 0.0)
    assert info.pad_y == 12


def test_content_is_a_bilinear_resize_of_the_frame() -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)
    tensor, info = letterbox(img, 640)
    expected = cv2.resize(img, (640, 384), interpolation=cv2.INTER_LINEAR)[..., ::-1] / 255.0
    np.testing.assert_allclose(tensor[0].transpose(1, 2, 0), expected, atol=1e-6)
    assert info.scale == pytest.approx(12.8)


def test_portrait_pads_left_and_right() -> None:
    img = np.full((768, 432, 3), 7, np.uint8)
    padded = letterbox_image(img, plan_letterbox(432, 768, 640))
    assert padded.shape == (640, 384, 3)
    assert (padded[:, :12] == PAD_VALUE).all() and (padded[:, 372:] == PAD_VALUE).all()
    assert (padded[:, 12:372] == 7).all()


def test_batch_tensor_stacks_images() -> None:
    info = plan_letterbox(480, 270, 640)
    a = letterbox_image(np.zeros((270, 480, 3), np.uint8), info)
    b = letterbox_image(np.full((270, 480, 3), 255, np.uint8), info)
    t = to_tensor([a, b])
    assert t.shape == (2, 3, 384, 640)
    assert t[0, :, 100, 100].tolist() == [0.0, 0.0, 0.0] and t[1, :, 100, 100].tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    "bad",
    [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32), np.zeros((0, 10, 3), np.uint8), "img"],
)
def test_bad_images_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="image"):
        letterbox(bad, 640)  # type: ignore[arg-type]


def test_image_must_match_its_plan() -> None:
    with pytest.raises(ValueError, match="plan is for 768x432"):
        letterbox_image(np.zeros((270, 480, 3), np.uint8), plan_letterbox(768, 432))


def _info(w: int, h: int, size: int = 640) -> LetterboxInfo:
    return plan_letterbox(w, h, size)


def test_boxes_back_to_frame_hand_computed() -> None:
    info = _info(768, 432)  # scale 5/6, pad_y 12
    got = boxes_to_frame([[0, 12, 640, 372], [100, 112, 200, 262]], info)
    np.testing.assert_allclose(got, [[0, 0, 768, 432], [120, 120, 240, 300]], atol=1e-3)
    info = _info(480, 270)  # scale 4/3, pad_y 12: inverse 0.75 is exact in binary
    got = boxes_to_frame([[40, 52, 160, 252]], info)
    np.testing.assert_array_equal(got, [[30, 30, 120, 180]])


def test_boxes_are_clipped_to_the_frame() -> None:
    info = _info(768, 432)
    got = boxes_to_frame([[-20, 0, 700, 384]], info)  # spills into the padding and past the right
    np.testing.assert_allclose(got, [[0, 0, 768, 432]])


@pytest.mark.parametrize(("w", "h"), [(768, 432), (480, 270), (432, 768), (50, 30), (1000, 333)])
def test_round_trip_boxes_and_keypoints(w: int, h: int) -> None:
    info = _info(w, h)
    rng = np.random.default_rng(w * h)
    xy1 = rng.uniform(0, [w / 2, h / 2], (20, 2))
    xy2 = xy1 + rng.uniform(1, [w / 2, h / 2], (20, 2))
    boxes = np.concatenate([xy1, xy2], 1).astype(np.float32)
    back = boxes_to_frame(boxes_to_input(boxes, info), info)
    np.testing.assert_allclose(back, boxes, rtol=1e-5, atol=1e-3)
    kps = np.concatenate([rng.uniform(0, [w, h], (5, 17, 2)), rng.uniform(0, 1, (5, 17, 1))], 2)
    kback = keypoints_to_frame(keypoints_to_input(kps, info), info)
    np.testing.assert_allclose(kback[..., :2], kps[..., :2], rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(kback[..., 2], kps[..., 2].astype(np.float32))  # visibility untouched


def test_keypoints_hand_computed_and_clipped() -> None:
    info = _info(480, 270)  # x' = x * 0.75, y' = (y - 12) * 0.75
    kp = np.array([[[40, 52, 0.9], [0, 4, 0.1], [700, 400, 0.5]]], np.float32)
    got = keypoints_to_frame(kp, info)
    np.testing.assert_array_equal(got, np.array([[[30, 30, 0.9], [0, 0, 0.1], [480, 270, 0.5]]], np.float32))
    with pytest.raises(ValueError, match="keypoints must have shape"):
        keypoints_to_frame(np.zeros((17, 3)), info)
