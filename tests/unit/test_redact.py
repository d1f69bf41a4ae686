"""Redaction: heads located from keypoints (or the box top as a fallback) are unrecognisable."""

from __future__ import annotations

import numpy as np

from storelens.core.types import KP
from storelens.privacy.redact import head_boxes, redact


def textured(h: int = 200, w: int = 200) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)


def person_with_head(cx: float, cy: float) -> tuple[np.ndarray, np.ndarray]:
    box = np.array([[cx - 30, cy - 20, cx + 30, cy + 150]], np.float32)
    kp = np.zeros((1, 17, 3), np.float32)
    for name, dx, dy in [
        ("nose", 0, 0),
        ("left_eye", 5, -4),
        ("right_eye", -5, -4),
        ("left_ear", 10, -2),
        ("right_ear", -10, -2),
        ("left_shoulder", 25, 30),
        ("right_shoulder", -25, 30),
    ]:
        kp[0, KP[name]] = (cx + dx, cy + dy, 0.9)
    return box, kp


def test_head_box_is_centred_on_head_keypoints() -> None:
    box, kp = person_with_head(100, 40)
    hb = head_boxes(box, kp)[0]
    assert hb[0] < 100 < hb[2] and hb[1] < 40 < hb[3]
    assert hb[2] - hb[0] >= 50  # at least the shoulder width scale, padded


def test_fallback_uses_top_of_box_when_head_keypoints_are_invisible() -> None:
    box, kp = person_with_head(100, 40)
    kp[..., 2] = 0.0
    hb = head_boxes(box, kp)[0]
    assert np.allclose(hb, [70, 20, 130, 20 + 0.3 * 170])
    assert np.allclose(head_boxes(box, None)[0], hb)


def test_redact_blurs_head_and_leaves_the_rest_and_the_input() -> None:
    img = textured()
    original = img.copy()
    box, kp = person_with_head(100, 40)
    out = redact(img, box, kp)
    assert np.array_equal(img, original), "input must not be modified"
    hb = head_boxes(box, kp)[0].astype(int)
    head_before = original[hb[1] + 5 : hb[3] - 5, hb[0] + 5 : hb[2] - 5].astype(float)
    head_after = out[hb[1] + 5 : hb[3] - 5, hb[0] + 5 : hb[2] - 5].astype(float)
    # random texture has high local variance; a blurred region must have lost most of it
    assert np.abs(np.diff(head_after, axis=1)).mean() < 0.25 * np.abs(np.diff(head_before, axis=1)).mean()
    assert np.array_equal(out[180:, :], original[180:, :])  # far from the head: untouched


def test_masks_are_filled_and_face_boxes_blurred() -> None:
    img = textured()
    out = redact(
        img,
        np.zeros((0, 4), np.float32),
        None,
        face_xyxy=np.array([[10, 10, 40, 40]], np.float32),
        masks=[[(150, 150), (190, 150), (190, 190), (150, 190)]],
    )
    assert (out[160:180, 160:180] == 0).all()
    assert not np.array_equal(out[15:35, 15:35], img[15:35, 15:35])


def test_empty_frame_is_returned_unchanged_copy() -> None:
    img = textured(50, 50)
    out = redact(img, np.zeros((0, 4), np.float32))
    assert np.array_equal(out, img) and out is not img
