"""Head/body orientation from keypoint layouts whose facing direction is known by construction."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from storelens.core.types import KP
from storelens.interaction.orientation import angle_diff, estimate_orientation, estimate_orientations

HIDDEN = 0.05


def layout(yaw_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """Keypoints of a standing person turned by ``yaw_deg`` (0 = facing the camera, +90 = facing
    the image's right), projected orthographically; points on the far side of the head/body are
    marked hidden, as a pose model would."""
    yaw = math.radians(yaw_deg)
    k = np.zeros((17, 3), np.float32)
    # body frame: x to the person's left, z forward (toward where they face), y down
    head = {
        "nose": (0.0, 0.0, 10.0),
        "left_eye": (3.2, -3.0, 8.0),
        "right_eye": (-3.2, -3.0, 8.0),
        "left_ear": (7.5, -1.0, -1.0),
        "right_ear": (-7.5, -1.0, -1.0),
    }
    body = {
        "left_shoulder": (20.0, 25.0, 0.0),
        "right_shoulder": (-20.0, 25.0, 0.0),
        "left_hip": (12.0, 85.0, 0.0),
        "right_hip": (-12.0, 85.0, 0.0),
    }
    # camera looks along -z_world; a person facing the camera has forward = toward the camera.
    # image x of a body point: facing the camera, the person's left (+x body) is the image's right.
    c, s = math.cos(yaw), math.sin(yaw)
    roll = math.radians(roll_deg)
    for name, (bx, by, bz) in {**head, **body}.items():
        if name in head:  # roll tilts the head in the image plane around the nose
            bx, by = bx * math.cos(roll) - by * math.sin(roll), bx * math.sin(roll) + by * math.cos(roll)
        img_x = bx * c + bz * s
        depth = -bx * s + bz * c  # > 0: toward the camera
        visible = depth > -2.0 if name in head else True
        if name in ("left_ear", "right_ear"):
            visible = depth > -4.0 and (bx * c + bz * s) * (1 if name == "left_ear" else -1) > -9.0
        k[KP[name]] = (200.0 + img_x, 100.0 + by, 0.95 if visible else HIDDEN)
    return k


def back_view() -> np.ndarray:
    k = layout(180.0)
    for name in ("nose", "left_eye", "right_eye"):
        k[KP[name], 2] = HIDDEN
    k[KP["left_ear"], 2] = 0.9
    k[KP["right_ear"], 2] = 0.9
    return k


CASES = [
    ("frontal", layout(0.0), 0.0, 10.0, "toward"),
    ("frontal, head rolled 30 deg", layout(0.0, roll_deg=30.0), 0.0, 10.0, "toward"),
    ("turned 30 deg to image right", layout(30.0), 30.0, 15.0, "toward"),
    ("left profile (facing image left)", layout(-90.0), -90.0, 15.0, "left"),
    ("right profile (facing image right)", layout(90.0), 90.0, 15.0, "right"),
    ("back", back_view(), 180.0, 1.0, "away"),
]


@pytest.mark.parametrize(("name", "kp", "yaw", "tol", "label"), CASES, ids=[c[0] for c in CASES])
def test_known_layouts(name: str, kp: np.ndarray, yaw: float, tol: float, label: str) -> None:
    o = estimate_orientation(kp)
    assert abs(angle_diff(o.yaw_deg, yaw)) <= tol, (name, o)
    assert o.label == label
    assert o.confidence > 0.3


@pytest.mark.parametrize(("ear", "sign"), [("right_ear", 1), ("left_ear", -1)])
def test_back_three_quarter_side_from_the_visible_ear(ear: str, sign: int) -> None:
    k = back_view()
    other = "left_ear" if ear == "right_ear" else "right_ear"
    k[KP[other], 2] = HIDDEN
    o = estimate_orientation(k)
    assert o.source == "back" and 90 < abs(o.yaw_deg) < 180 and np.sign(o.yaw_deg) == sign


@pytest.mark.parametrize(("yaw", "expect_front"), [(0.0, True), (180.0, False)])
def test_shoulders_alone_tell_front_from_back(yaw: float, expect_front: bool) -> None:
    k = layout(yaw)
    for name in ("nose", "left_eye", "right_eye", "left_ear", "right_ear"):
        k[KP[name], 2] = HIDDEN
    o = estimate_orientation(k)
    assert o.source == "shoulders"
    assert (abs(o.yaw_deg) < 90) == expect_front


def test_nothing_visible_is_unknown() -> None:
    k = layout(0.0)
    k[:, 2] = HIDDEN
    o = estimate_orientation(k)
    assert o.source == "none" and o.confidence == 0.0 and o.label == "unknown"


def test_nan_keypoints_do_not_crash_and_bad_shape_is_an_error() -> None:
    k = layout(0.0)
    k[KP["nose"]] = np.nan
    assert estimate_orientation(k).source in ("face", "profile", "shoulders")
    with pytest.raises(ValueError, match="shape"):
        estimate_orientation(np.zeros((5, 3)))
    assert estimate_orientations(np.zeros((0, 17, 3))) == []


def test_yaw_sweep_is_monotonic_on_the_front_half() -> None:
    yaws = [estimate_orientation(layout(a)).yaw_deg for a in range(-60, 61, 15)]
    assert all(b > a for a, b in itertools.pairwise(yaws)), yaws
