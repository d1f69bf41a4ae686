"""Attention episodes on synthetic sequences: facing, speed gating, debounce, engagement."""

from __future__ import annotations

import numpy as np
import pytest
from test_orientation import layout

from factories import make_tracks
from storelens.config.cameras import ZoneConfig
from storelens.config.interaction import AttentionConfig
from storelens.config.store import StoreConfig
from storelens.core.types import KP, Tracks
from storelens.interaction import AttentionTracker, InteractionStage, facing_offset

FPS = 10.0
DISPLAY_LEFT = [(10.0, 60.0), (120.0, 60.0), (120.0, 200.0), (10.0, 200.0)]
SHELF_RIGHT = [(300.0, 20.0), (390.0, 20.0), (390.0, 220.0), (300.0, 220.0)]
FAR_LEFT = [(0.0, 60.0), (8.0, 60.0), (8.0, 200.0), (0.0, 200.0)]


def box_of(k: np.ndarray) -> np.ndarray:
    xs, ys = k[:, 0], k[:, 1]
    return np.array([xs.min() - 20, ys.min() - 20, xs.max() + 20, ys.min() + 180], np.float32)


def zones() -> list[ZoneConfig]:
    return [
        ZoneConfig(id="display", kind="display", camera="cam", points=DISPLAY_LEFT),
        ZoneConfig(id="shelf", kind="shelf", camera="cam", points=SHELF_RIGHT),
        ZoneConfig(id="far", kind="shelf", camera="cam", points=FAR_LEFT),
    ]


def run(yaw_at, x_at=lambda t: 0.0, seconds: float = 5.0, cfg: AttentionConfig | None = None):
    tracker = AttentionTracker(zones(), cfg or AttentionConfig())
    started, ended = [], []
    for i in range(int(seconds * FPS)):
        t = i / FPS
        k = layout(yaw_at(t))
        k[:, 0] += x_at(t)
        s, e = tracker.update([5], k[None], box_of(k)[None], t)
        started += s
        ended += e
    return started, ended + tracker.close()


CASES = [
    # name, yaw(t), x offset(t), expected ended episodes (zone, start, end)
    ("faces the display on the left, still", lambda t: -90.0, lambda t: 0.0, [("display", 0.1, 4.9)]),
    (
        "faces the shelf on the right, then turns away",
        lambda t: 90.0 if t < 2.5 else 0.0,
        lambda t: 0.0,
        [("shelf", 0.1, 2.4)],
    ),
    ("glance shorter than enter_s", lambda t: 90.0 if 1.0 <= t < 1.5 else 0.0, lambda t: 0.0, []),
    ("faces the camera", lambda t: 0.0, lambda t: 0.0, []),
    ("walks past facing the shelf (0.75 box heights/s)", lambda t: 90.0, lambda t: 150.0 * t, []),
]


@pytest.mark.parametrize(("name", "yaw_at", "x_at", "expected"), CASES, ids=[c[0] for c in CASES])
def test_attention_sequences(name, yaw_at, x_at, expected) -> None:
    started, ended = run(yaw_at, x_at)
    got = [(e.zone_id, round(e.start_pts, 1), round(e.end_pts, 1)) for e in ended]
    assert got == expected, name
    assert [s.zone_id for s in started] == [z for z, _, _ in expected]


def test_nearest_faced_zone_wins() -> None:
    # facing left, both 'display' and the 'far' strip behind it are in the line of sight
    _, ended = run(lambda t: -90.0)
    assert {e.zone_id for e in ended} == {"display"}


def test_facing_offset_geometry() -> None:
    poly = np.array(DISPLAY_LEFT)
    assert facing_offset((200.0, 120.0), -90.0, poly) == (0.0, False)
    off, inside = facing_offset((200.0, 120.0), 90.0, poly)
    assert not inside and off > 100
    # inside the polygon: facing it means facing away from the camera
    assert facing_offset((50.0, 100.0), 180.0, poly) == (0.0, True)
    assert facing_offset((50.0, 100.0), 0.0, poly) == (90.0, True)


def test_camera_facing_signage() -> None:
    z = [ZoneConfig(id="sign", kind="display", camera="cam", points=[(0, 0), (400, 0), (400, 400), (0, 400)])]
    cfg = AttentionConfig(camera_facing_zones=["sign"], max_angle_deg=25)
    for yaw, n in ((10.0, 1), (45.0, 0)):
        tracker = AttentionTracker(z, cfg)
        for i in range(30):
            k = layout(yaw)
            tracker.update([1], k[None], box_of(k)[None], i / FPS)
        assert len(tracker.close()) == n, yaw


def _tracks(k: np.ndarray, tid: int = 9) -> Tracks:
    return make_tracks(box_of(k)[None], [tid], score=0.9, keypoints=k[None])


def test_stage_engagement_is_attention_plus_reach_into_a_display() -> None:
    store = StoreConfig.model_validate(
        {
            "store_id": "s",
            "cameras": [{"id": "cam", "source": "x"}],
            "zones": [{"id": "display", "kind": "display", "camera": "cam", "points": DISPLAY_LEFT}],
        }
    )
    stage = InteractionStage(store, "cam")
    image = np.full((260, 420, 3), 90, np.uint8)
    events = []
    for i in range(50):
        t = i / FPS
        k = layout(-90.0)
        if 1.5 <= t < 3.0:  # profile facing left: the far (right) arm is hidden, the near one reaches
            k[KP["left_wrist"]] = (100.0, 150.0, 0.9)
            k[KP["left_elbow"]] = (150.0, 140.0, 0.9)
        events += stage.update(image, _tracks(k), t, 100.0 + t)
    events += stage.close(5.0, 105.0)
    types = [e.type for e in events]
    assert types.count("attention.started") == 1 and types.count("shelf.reach") == 1
    ended = next(e for e in events if e.type == "attention.ended")
    assert ended.payload["engaged"] is True and ended.payload["target"] == "display"
    assert ended.payload["duration_s"] > 4.0
    assert stage.stats()["display"].engagements == 1
