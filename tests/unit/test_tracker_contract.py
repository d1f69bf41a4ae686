"""Contract tests every registered tracker must pass (parametrised over ``TRACKERS``), plus the
default tracker's own guarantees (appearance, coasting, keypoints, hysteresis)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from factories import make_detections, person_box
from storelens.config.detection import TrackerConfig
from storelens.core.types import NUM_KEYPOINTS, Detections, Tracks
from storelens.tracking import TRACKERS, StorelensTracker, Tracker, make_tracker

FPS = 10.0  # store cameras are analysed at 5-15 fps
ALL = sorted(TRACKERS)


def dets(boxes: Sequence[Sequence[float]], scores: Sequence[float] | None = None, kp: bool = False) -> Detections:
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    k = None
    if kp:
        k = np.zeros((len(b), NUM_KEYPOINTS, 3), np.float32)
        k[:, :, 0] = b[:, :1]  # x of each keypoint = box left, recognisable per row
        k[:, :, 1] = b[:, 1:2]
        k[:, :, 2] = 1.0
    return make_detections(b, score=0.9 if scores is None else scores, keypoints=k)


def ids_by_row(tracks: Tracks) -> dict[int, int]:
    """detection row -> track id, for matched tracks."""
    return {int(d): int(t) for d, t in zip(tracks.detection_index, tracks.track_id, strict=True) if d >= 0}


@pytest.fixture(params=ALL)
def tracker(request: pytest.FixtureRequest) -> Tracker:
    return make_tracker(TrackerConfig(type=request.param))


def test_registry_builds_every_tracker_and_satisfies_protocol() -> None:
    assert "storelens" in TRACKERS and "bytetrack" in TRACKERS
    for name in TRACKERS:
        assert isinstance(make_tracker(TrackerConfig(type=name)), Tracker)
    assert isinstance(make_tracker(), StorelensTracker)  # the default


def test_unknown_tracker_lists_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown tracker 'sort'.*bytetrack.*storelens"):
        make_tracker(TrackerConfig(type="sort"))


@pytest.mark.parametrize("name", ALL)
def test_bad_params_are_clear_errors(name: str) -> None:
    with pytest.raises(ValueError, match=r"unknown parameter.*'max_age'.*known"):
        make_tracker(TrackerConfig(type=name, params={"max_age": 3}))
    with pytest.raises(ValueError, match=r"max_age_s"):
        make_tracker(TrackerConfig(type=name, params={"max_age_s": -1.0}))


def test_stable_ids_on_straight_motion(tracker: Tracker) -> None:
    seen: dict[int, set[int]] = {0: set(), 1: set(), 2: set()}
    for f in range(40):
        t = f / FPS
        boxes = [person_box(100 + 8 * f, 300, 160), person_box(600 - 6 * f, 250, 120), person_box(350, 400, 200)]
        out = tracker.update(dets(boxes), t)
        if f >= 2:
            rows = ids_by_row(out)
            assert sorted(rows) == [0, 1, 2], f"frame {f}: {rows}"
            for r, tid in rows.items():
                seen[r].add(tid)
    assert all(len(s) == 1 for s in seen.values()), seen
    assert len({next(iter(s)) for s in seen.values()}) == 3


def test_crossing_paths_keep_their_ids(tracker: Tracker) -> None:
    # A (near the camera, bigger) walks right, B (further, smaller) walks left; they overlap heavily.
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for f in range(50):
        a = person_box(100 + 10 * f, 330, 200)
        b = person_box(600 - 10 * f, 300, 170)
        out = tracker.update(dets([a, b]), f / FPS)
        rows = ids_by_row(out)
        if f == 3:
            first = {"a": rows[0], "b": rows[1]}
        if f == 49:
            last = {"a": rows[0], "b": rows[1]}
    assert first and first == last


def test_occlusion_gap_of_one_second_reacquires_same_id(tracker: Tracker) -> None:
    ids = []
    for f in range(40):
        box = person_box(100 + 8 * f, 300, 160)
        hidden = 15 <= f < 25  # 1.0 s without a detection
        out = tracker.update(dets([] if hidden else [box]), f / FPS)
        if not hidden and f >= 2:
            assert len(ids_by_row(out)) == 1, f"frame {f}"
            ids.append(ids_by_row(out)[0])
    assert len(set(ids)) == 1, ids


def test_empty_frames(tracker: Tracker) -> None:
    out = tracker.update(Detections.empty(), 0.0)
    assert len(out) == 0 and out.track_id.dtype == np.int64
    for f in range(1, 5):
        assert len(tracker.update(Detections.empty(), f / FPS)) == 0
    out = None
    for f in range(5, 10):
        out = tracker.update(dets([person_box(200, 300, 150)]), f / FPS)
    assert out is not None and len(out) == 1
    # empty frames while a track exists: it coasts or disappears, never crashes
    for f in range(10, 60):
        tracker.update(Detections.empty(), f / FPS)
    assert len(tracker.update(Detections.empty(), 6.0)) == 0


def test_bad_boxes_are_dropped_never_crash(tracker: Tracker) -> None:
    good = person_box(200, 300, 150)
    nan = float("nan")
    inf = float("inf")
    bad_rows = [[nan, 10, 20, 30], [10, 10, 10, 50], [50, 50, 40, 40], [0, 0, inf, 10], [5, 5, 9, 9]]
    for f in range(6):
        boxes = [*bad_rows, [good[0] + 5 * f, good[1], good[2] + 5 * f, good[3]]]
        scores = [0.9, 0.9, 0.9, 0.9, nan, 0.9]
        out = tracker.update(dets(boxes, scores), f / FPS)
        assert np.isfinite(out.xyxy).all()
        if f >= 2:
            assert out.detection_index[out.detection_index >= 0].tolist() == [5]


def test_timestamp_gap_uses_real_time(tracker: Tracker) -> None:
    # 10 fps, then 0.6 s of dropped frames while the person keeps walking at 80 px/s.
    times = [f / FPS for f in range(20)] + [2.5 + f / FPS for f in range(15)]
    ids = set()
    for i, t in enumerate(times):
        out = tracker.update(dets([person_box(100 + 80 * t, 300, 160)]), t)
        if i >= 2:
            ids.update(ids_by_row(out).values())
    assert len(ids) == 1


def test_backwards_timestamp_is_tolerated(tracker: Tracker) -> None:
    for f in range(5):
        tracker.update(dets([person_box(100 + 5 * f, 300, 150)]), 10 + f / FPS)
    out = tracker.update(dets([person_box(125, 300, 150)]), 0.0)  # clock restarted
    assert len(out) == 1
    with pytest.raises(ValueError, match="finite"):
        tracker.update(Detections.empty(), float("nan"))


def test_reset_and_per_instance_ids(tracker: Tracker) -> None:
    other = make_tracker(TrackerConfig(type=type(tracker).name))  # type: ignore[attr-defined]
    for f in range(3):
        a = tracker.update(dets([person_box(100, 300, 150)]), f / FPS)
        b = other.update(dets([person_box(300, 300, 150)]), f / FPS)
    assert a.track_id.tolist() == [1] and b.track_id.tolist() == [1]
    tracker.reset()
    for f in range(3):
        a = tracker.update(dets([person_box(400, 300, 150)]), f / FPS)
    assert a.track_id.tolist() == [1]


def test_keypoints_follow_the_matched_detection(tracker: Tracker) -> None:
    for f in range(4):
        d = dets([person_box(100 + 5 * f, 300, 150), person_box(400, 300, 120)], kp=True)
        out = tracker.update(d, f / FPS)
    assert out.keypoints is not None
    for row, di in enumerate(out.detection_index.tolist()):
        np.testing.assert_array_equal(out.keypoints[row], d.keypoints[di])  # type: ignore[index]


def test_one_frame_false_positive_never_gets_an_id(tracker: Tracker) -> None:
    for f in range(10):
        boxes = [person_box(100 + 5 * f, 300, 150)]
        if f == 5:
            boxes.append(person_box(500, 300, 150))
        out = tracker.update(dets(boxes), f / FPS)
        assert len(out) == 1, f"frame {f}: {out.track_id}"


# -- the default tracker's own guarantees -------------------------------------------------------------


def test_coasting_is_reported_briefly_with_no_detection() -> None:
    trk = StorelensTracker.from_params({"coast_s": 0.25})
    for f in range(10):
        trk.update(dets([person_box(100 + 5 * f, 300, 150)]), f / FPS)
    shown = []
    for f in range(10, 20):
        out = trk.update(Detections.empty(), f / FPS)
        shown.append(len(out))
        if len(out):
            assert out.detection_index.tolist() == [-1]
    assert shown[:2] == [1, 1] and sum(shown) <= 3  # 0.25 s at 10 fps


def _render(people: Sequence[tuple[list[float], tuple[int, int, int], tuple[int, int, int]]]) -> np.ndarray:
    """A grey noisy frame with people drawn as boxes: head, a coloured top and coloured trousers."""
    rng = np.random.default_rng(7)
    img = rng.integers(90, 120, (432, 768, 3), dtype=np.uint8)
    for (x1, y1, x2, y2), top, legs in people:
        h = y2 - y1
        xi1, xi2 = int(x1), int(x2)
        img[int(y1) : int(y1 + 0.15 * h), xi1:xi2] = (140, 160, 200)
        img[int(y1 + 0.15 * h) : int(y1 + 0.6 * h), xi1:xi2] = top
        img[int(y1 + 0.6 * h) : int(y2), xi1:xi2] = legs
    return img


def test_appearance_keeps_ids_when_motion_misleads() -> None:
    """Two shoppers meet, stand together (one hidden behind the other), then each walks back the
    way they came: constant-velocity motion predicts the wrong side, colours tell the truth."""
    red, blue = (30, 30, 200), (200, 60, 30)
    dark, light = (40, 40, 40), (200, 200, 200)
    trk = StorelensTracker()
    ids_red, ids_blue = set(), set()
    for f in range(60):
        if f < 20:
            xr, xb = 200 + 8 * f, 520 - 8 * f
        elif f < 30:
            xr, xb = 360, 360
        else:
            xr, xb = 360 - 8 * (f - 30), 360 + 8 * (f - 30)
        r_box, b_box = person_box(xr, 325, 175), person_box(xb, 325, 175)
        visible = [(b_box, blue, light)] if 20 <= f < 30 else [(b_box, blue, light), (r_box, red, dark)]
        img = _render(visible[::-1])
        boxes = [p[0] for p in visible]
        out = trk.update(dets(boxes), f / FPS, img)
        rows = ids_by_row(out)
        if f >= 2:
            ids_blue.add(rows[0])
            if len(boxes) == 2 and f >= 32:
                ids_red.add(rows[1])
    assert len(ids_blue) == 1, ids_blue
    assert len(ids_red) == 1 and ids_red != ids_blue


def test_appearance_is_optional_and_validated() -> None:
    trk = StorelensTracker()
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        trk.update(dets([person_box(100, 300, 150)]), 0.0, np.zeros((10, 10), np.uint8))
    off = StorelensTracker.from_params({"appearance": False})
    img = _render([])
    for f in range(5):
        out = off.update(dets([person_box(100 + 5 * f, 300, 150)]), f / FPS, img)
    assert out.track_id.tolist() == [1]
