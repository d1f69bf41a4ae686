"""Staff exclusion: zone-time rule, uniform-colour rule, and exclusion in the behaviour stage."""

from __future__ import annotations

import numpy as np
import pytest

from factories import boxes_on_feet, make_tracks
from storelens.analytics.staff import StaffClassifier, classify_staff, torso_boxes, uniform_matches
from storelens.analytics.stage import BehaviourStage
from storelens.config.behaviour import StaffConfig, UniformRule
from storelens.config.store import StoreConfig
from storelens.core.results import FrameResult
from storelens.core.types import KP, Detections, Frame
from storelens.pipeline.heatmaps import HeatmapRecorder

GREEN = UniformRule(hsv_low=(45, 120, 60), hsv_high=(75, 255, 255))
CFG = StaffConfig(staff_zone_fraction=0.5, min_observed_s=10, uniform=GREEN)


@pytest.mark.parametrize(
    ("observed", "in_zone", "hits", "checks", "want"),
    [
        (0, 0, 0, 0, None),
        (20, 15, 0, 0, "zones"),
        (20, 10, 0, 0, None),  # exactly half is not "more than half"
        (5, 5, 0, 0, None),  # not observed long enough yet
        (20, 0, 2, 3, "uniform"),
        (20, 0, 2, 2, None),  # too few checks
        (20, 0, 1, 4, None),
    ],
)
def test_classify(observed: float, in_zone: float, hits: int, checks: int, want: str | None) -> None:
    assert classify_staff(observed, in_zone, hits, checks, CFG) == want


def test_classifier_accumulates_and_sticks() -> None:
    c = StaffClassifier(StaffConfig(min_observed_s=2))
    flagged = []
    for i in range(40):
        subj = np.array([1, 2])
        in_zone = np.array([i < 30, False])
        flagged += c.update(subj, in_zone, 0.1)
    assert flagged == [1]
    assert c.staff() == {1: "zones"} and c.is_staff(1) and not c.is_staff(2)
    assert c.update(np.zeros(0, np.int64), np.zeros(0, bool), 0.1) == []


def person_image(shirt_bgr: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    img = np.full((240, 320, 3), 120, np.uint8)
    box = np.array([[100, 40, 160, 220]], np.float32)
    img[40:220, 100:160] = (60, 60, 60)  # trousers/hair
    img[76:139, 115:145] = shirt_bgr  # torso band
    return img, box


def test_uniform_colour_rule() -> None:
    green, box = person_image((40, 180, 40))
    red, _ = person_image((40, 40, 200))
    assert uniform_matches(green, box, None, GREEN).tolist() == [1]
    assert uniform_matches(red, box, None, GREEN).tolist() == [0]
    off = np.array([[400, 40, 460, 220]], np.float32)
    assert uniform_matches(green, off, None, GREEN).tolist() == [-1]  # torso outside the frame


def test_torso_from_keypoints() -> None:
    kp = np.zeros((1, 17, 3), np.float32)
    for name, xy in {
        "left_shoulder": (110, 60),
        "right_shoulder": (150, 62),
        "left_hip": (114, 130),
        "right_hip": (146, 128),
    }.items():
        kp[0, KP[name]] = (*xy, 0.9)
    box = np.array([[90, 20, 170, 230]], np.float32)
    assert torso_boxes(box, kp).tolist() == [[110, 60, 150, 130]]
    kp[0, KP["left_hip"], 2] = 0.1  # one hip unseen: fall back to the box band
    assert torso_boxes(box, kp).tolist() == [[110, 62, 150, 136]]


def test_stage_excludes_staff_from_shopper_metrics() -> None:
    store = StoreConfig.model_validate(
        {
            "store_id": "s1",
            "cameras": [{"id": "cam", "source": "x"}],
            "zones": [
                {
                    "id": "back",
                    "kind": "staff_only",
                    "camera": "cam",
                    "points": [[0, 0], [200, 0], [200, 200], [0, 200]],
                },
                {
                    "id": "shelf",
                    "kind": "shelf",
                    "camera": "cam",
                    "points": [[300, 0], [600, 0], [600, 200], [300, 200]],
                },
            ],
            "zone_analytics": {"enter_grace_s": 0.2, "exit_grace_s": 0.5, "min_dwell_s": 0.5},
            "behaviour": {"staff": {"min_observed_s": 5, "staff_zone_fraction": 0.5}},
        }
    )
    stage = BehaviourStage(store, "cam")
    recorder = HeatmapRecorder(store)  # what run/serve store: the stage's own map, handed over per frame
    image = np.zeros((480, 640, 3), np.uint8)
    events = []
    for i in range(300):  # 30 s; subject 1 works in the back room, visits the shelf at the end
        t = i / 10
        x1 = 100.0 if i < 250 else 400.0
        feet = np.array([[x1, 150.0], [450.0, 150.0]], np.float32)  # subject 2 shops at the shelf
        tr = make_tracks(boxes_on_feet(feet, width=20, height=80), [1, 2])
        events += stage.update(tr, t, 1e9 + t, frame_size=(640, 480))
        frame = Frame(camera_id="cam", index=i, pts=t, wall_time=1e9 + t, image=image)
        recorder.observe("cam", FrameResult(frame, Detections.empty(), tr, [], {}, stage.heatmap))
    events += stage.close(29.9, 1e9 + 29.9)
    summary = stage.summary()
    shelf = next(z for z in summary["zones"] if z["zone_id"] == "shelf")
    assert shelf["visits"] == 1 and shelf["unique_visitors"] == 1  # only the shopper
    assert summary["subjects"] == {"shoppers": 1, "staff": 1}
    assert summary["staff"]["reasons"] == ["zones"] and summary["staff"]["zone_visits"] == 2
    staff_events = [e for e in events if e.subject == "1" and e.type == "zone.exited"]
    assert staff_events and all(e.payload.get("staff") is True for e in staff_events)
    assert all("staff" not in e.payload for e in events if e.subject == "2")
    traffic = np.asarray(summary["heatmaps"]["traffic"])
    # staff excluded from the heat map once flagged: its shelf visit at the end leaves no trace
    assert traffic[150 // 16, 400 // 16] == 0 and traffic[150 // 16, 450 // 16] == 1
    live = recorder.live("cam", None, None)  # the stored side counts the same map: staff left out too
    assert live is not None
    np.testing.assert_array_equal(live.traffic, traffic)
    np.testing.assert_allclose(live.dwell, summary["heatmaps"]["dwell_s"], atol=0.006)


def test_a_subject_is_a_shopper_only_once_every_rule_has_cleared_it() -> None:
    # zone rule only: unknown until observed min_observed_s, then a shopper unless flagged
    c = StaffClassifier(StaffConfig(min_observed_s=1.0), zone_rule=True)
    c.update(np.array([1, 2]), np.array([True, False]), 0.0)
    assert c.last_shoppers.tolist() == [False, False] and not c.is_shopper(2)
    for _ in range(12):
        c.update(np.array([1, 2]), np.array([True, False]), 0.1)
    assert c.last_shoppers.tolist() == [False, True] and c.is_staff(1) and c.is_shopper(2)
    # uniform rule: three checks without the colour are needed; a subject never checked stays unknown
    u = StaffClassifier(StaffConfig(min_observed_s=0, uniform=GREEN), zone_rule=False)
    for _ in range(3):
        u.update(np.array([5, 6]), np.zeros(2, bool), 0.1, np.array([0, -1], np.int8))
    assert u.last_shoppers.tolist() == [True, False]
    # no rule at all: nobody can be told apart from staff, so nobody is a shopper
    none = StaffClassifier(StaffConfig(min_observed_s=0), zone_rule=False)
    none.update(np.array([9]), np.zeros(1, bool), 5.0)
    assert not none.has_rules and none.last_shoppers.tolist() == [False] and not none.is_shopper(9)
