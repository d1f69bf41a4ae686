"""Reach detection on synthetic keypoint sequences: gating, smoothing and the state machine."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from factories import make_tracks
from storelens.config.cameras import ZoneConfig
from storelens.config.interaction import ReachConfig
from storelens.config.store import StoreConfig
from storelens.core.types import KP, Tracks
from storelens.interaction import InteractionStage, ReachTracker, hand_points

CX, TOP = 200.0, 40.0
SHELF = [(40.0, 20.0), (150.0, 20.0), (150.0, 200.0), (40.0, 200.0)]  # to the image-left of the person
FPS = 10.0


def person(cx: float = CX, top: float = TOP) -> np.ndarray:
    """A standing person facing the camera (their left side on the image's right), hands down."""
    k = np.zeros((17, 3), np.float32)
    pts = {
        "nose": (0, 15),
        "left_eye": (5, 12),
        "right_eye": (-5, 12),
        "left_ear": (10, 15),
        "right_ear": (-10, 15),
        "left_shoulder": (20, 40),
        "right_shoulder": (-20, 40),
        "left_elbow": (25, 72),
        "right_elbow": (-25, 72),
        "left_wrist": (25, 105),
        "right_wrist": (-25, 105),
        "left_hip": (12, 100),
        "right_hip": (-12, 100),
        "left_knee": (12, 140),
        "right_knee": (-12, 140),
        "left_ankle": (12, 175),
        "right_ankle": (-12, 175),
    }
    for name, (dx, dy) in pts.items():
        k[KP[name]] = (cx + dx, top + dy, 0.95)
    return k


def box(cx: float = CX, top: float = TOP) -> np.ndarray:
    return np.array([cx - 30, top, cx + 30, top + 180], np.float32)


def reach_right(k: np.ndarray, x: float, y: float = TOP + 60) -> np.ndarray:
    """Right arm stretched out to (x, y), elbow halfway."""
    k = k.copy()
    sh = k[KP["right_shoulder"], :2]
    k[KP["right_wrist"], :2] = (x, y)
    k[KP["right_elbow"], :2] = (sh + np.array([x, y])) / 2
    return k


Frame = tuple[float, list[int], list[np.ndarray], list[np.ndarray]]


def run(frames: list[Frame], cfg: ReachConfig | None = None) -> list:
    zone = ZoneConfig(id="shelf", kind="shelf", camera="cam", points=SHELF)
    tracker = ReachTracker([zone], cfg or ReachConfig())
    out = []
    for pts, subjects, kps, boxes in frames:
        kp = np.array(kps, np.float32).reshape(-1, 17, 3)
        bx = np.array(boxes, np.float32).reshape(-1, 4)
        _, ended = tracker.update(np.array(subjects, np.int64), kp, bx, pts)
        out += ended
    return out + tracker.close()


def seq(seconds: float, fn: Callable[[float], np.ndarray], subject: int = 7, fps: float = FPS) -> list[Frame]:
    return [(i / fps, [subject], [fn(i / fps)], [box()]) for i in range(int(seconds * fps))]


def idle(t: float) -> np.ndarray:
    return person()


def reach_between(t0: float, t1: float, x: float = 100.0) -> Callable[[float], np.ndarray]:
    return lambda t: reach_right(person(), x) if t0 <= t < t1 else person()


def jitter_edge(t: float) -> np.ndarray:
    # the right edge of the shelf is x=150: the wrist hops 4 px either side of it every frame
    i = round(t * FPS)
    return reach_right(person(), 150.0 + (4.0 if i % 2 else -4.0))


def occluded_wrist(t: float) -> np.ndarray:
    k = reach_right(person(), 100.0)
    if 1.0 <= t < 2.5:
        k[KP["right_wrist"], 2] = 0.1  # wrist lost between the products; the elbow still shows the arm
        k[KP["right_elbow"], :2] = (140.0, TOP + 50)
    return k if 1.0 <= t < 2.5 else person()


def blink(t: float) -> np.ndarray:
    k = reach_right(person(), 100.0) if 0.5 <= t < 2.5 else person()
    if 1.2 <= t < 1.5:
        k[KP["right_wrist"], 2] = 0.05
        k[KP["right_elbow"], 2] = 0.05
    return k


CASES = [
    # (name, frames, expected reaches as (side, approx duration))
    ("no reach", seq(3, idle), []),
    ("one reach", seq(4, reach_between(1.0, 2.5)), [("right", 1.4)]),
    ("touch shorter than min duration", seq(3, reach_between(1.0, 1.2)), []),
    ("jitter at the polygon edge", seq(4, jitter_edge), []),
    ("occluded wrist, elbow extension", seq(4, occluded_wrist), [("right", 1.4)]),
    ("keypoints lost mid-reach is one reach", seq(4, blink), [("right", 1.9)]),
    ("dropped frames (3 fps)", seq(4, reach_between(1.0, 2.5), fps=3.0), [("right", 1.33)]),
]


@pytest.mark.parametrize(("name", "frames", "expected"), CASES, ids=[c[0] for c in CASES])
def test_reach_sequences(name: str, frames: list[Frame], expected: list[tuple[str, float]]) -> None:
    reaches = run(frames)
    assert [(r.side, round(r.duration_s, 1)) for r in reaches] == [(s, round(d, 1)) for s, d in expected], name
    for r in reaches:
        assert r.zone_id == "shelf" and r.subject == 7
        assert r.max_depth > 0


def test_elbow_extension_source_and_can_be_disabled() -> None:
    reaches = run(seq(4, occluded_wrist))
    assert [r.source for r in reaches] == ["elbow"]
    assert run(seq(4, occluded_wrist), ReachConfig(use_elbow_extension=False)) == []


def test_hand_hanging_in_front_of_the_shelf_is_not_a_reach() -> None:
    # the person stands *in* the shelf polygon (image space): hands by the hips are inside it too
    frames = [(i / FPS, [1], [person(cx=95)], [box(cx=95)]) for i in range(30)]
    assert run(frames) == []
    obs = hand_points(np.array([person(cx=95)]), np.array([box(cx=95)]), ReachConfig())
    assert not obs.extended.any() and obs.known.all()


def test_two_people_at_one_shelf() -> None:
    frames: list[Frame] = []
    for i in range(50):
        t = i / FPS
        a = reach_right(person(), 100.0) if 0.5 <= t < 2.0 else person()
        b_person = person(cx=320)
        b = reach_right(b_person, 140.0, TOP + 40) if 2.5 <= t < 4.0 else b_person
        frames.append((t, [1, 2], [a, b], [box(), box(cx=320)]))
    reaches = sorted(run(frames), key=lambda r: r.start_pts)
    assert [r.subject for r in reaches] == [1, 2]
    # person 2's hand jumps 200 px in one frame: the smoothing takes a frame or two to follow it
    for r, (start, end) in zip(reaches, [(0.5, 1.9), (2.5, 3.9)], strict=True):
        assert start <= r.start_pts <= start + 0.25
        assert r.end_pts == pytest.approx(end)


def test_empty_tracks_age_an_open_reach() -> None:
    zone = ZoneConfig(id="shelf", kind="shelf", camera="cam", points=SHELF)
    tracker = ReachTracker([zone], ReachConfig())
    k = np.array([reach_right(person(), 100.0)])
    for i in range(10):
        tracker.update([3], k, [box()], i / FPS)
    assert tracker.active_reaches() == [(3, "shelf", "right")]
    ended = []
    for i in range(10, 30):  # the person vanished (left, or the detector lost them)
        ended += tracker.update(np.zeros(0, np.int64), np.zeros((0, 17, 3)), np.zeros((0, 4)), i / FPS)[1]
    assert [(r.subject, round(r.duration_s, 1)) for r in ended] == [(3, 0.9)]
    assert tracker.update([], np.zeros((0, 17, 3)), np.zeros((0, 4)), 3.0) == ([], [])


def test_bad_input_is_a_clear_error() -> None:
    zone = ZoneConfig(id="shelf", kind="shelf", camera="cam", points=SHELF)
    tracker = ReachTracker([zone], ReachConfig())
    with pytest.raises(ValueError, match="subjects"):
        tracker.update([1, 2], np.zeros((1, 17, 3)), np.zeros((1, 4)), 0.0)
    with pytest.raises(ValueError, match="keypoints"):
        hand_points(np.zeros((2, 5, 3)), np.zeros((2, 4)), ReachConfig())


def _store() -> StoreConfig:
    return StoreConfig.model_validate(
        {
            "store_id": "s1",
            "cameras": [{"id": "cam", "source": "x.mp4"}],
            "zones": [{"id": "shelf", "kind": "shelf", "camera": "cam", "points": SHELF, "category": "snacks"}],
        }
    )


def _tracks(kps: list[np.ndarray], boxes: list[np.ndarray], ids: list[int]) -> Tracks:
    return make_tracks(boxes, ids, score=0.9, keypoints=np.array(kps, np.float32).reshape(-1, 17, 3))


def test_stage_emits_reach_event_with_payload_and_wall_time() -> None:
    stage = InteractionStage(_store(), "cam")
    image = np.full((240, 320, 3), 128, np.uint8)
    events = []
    for i in range(40):
        t = i / FPS
        k = reach_right(person(), 100.0) if 1.0 <= t < 2.0 else person()
        events += stage.update(image, _tracks([k], [box()], [42]), t, 1000.0 + t)
    events += stage.close(4.0, 1004.0)
    reach = [e for e in events if e.type == "shelf.reach"]
    assert len(reach) == 1
    e = reach[0]
    assert e.zone_id == "shelf" and e.subject == format(42, "x") and e.camera_id == "cam"
    assert e.payload["side"] == "right" and e.payload["category"] == "snacks"
    assert e.payload["duration_s"] == pytest.approx(0.9, abs=0.01)
    assert e.ts.timestamp() == pytest.approx(1001.9, abs=1e-3)  # dated at the last inside frame
    assert stage.stats()["shelf"].reaches == 1


def test_stage_rejects_bad_input_without_losing_state() -> None:
    stage = InteractionStage(_store(), "cam")
    image = np.zeros((240, 320, 3), np.uint8)
    stage.update(image, Tracks.empty(), 1.0, 1001.0)
    with pytest.raises(ValueError, match="backwards"):
        stage.update(image, Tracks.empty(), 0.5, 1000.5)
    with pytest.raises(ValueError, match="uint8"):
        stage.update(image.astype(np.float32), Tracks.empty(), 2.0, 1002.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="size changed"):
        stage.update(np.zeros((100, 100, 3), np.uint8), Tracks.empty(), 2.0, 1002.0)
    assert stage.update(image, Tracks.empty(), 2.0, 1002.0) == []
    with pytest.raises(KeyError):
        InteractionStage(_store(), "nope")
