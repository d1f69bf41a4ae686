"""The camera stages come from one registry (pipeline/stages.py ``STAGES``): which a camera gets
follows its config, in run order, and a stage that reads another's results is handed that one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from storelens.analytics.expressions import EXPRESSION_LABELS
from storelens.config.store import StoreConfig
from storelens.core.types import Frame, Tracks
from storelens.pipeline.build import make_stages
from storelens.pipeline.camera import BusSubscriber, FaceLocator, HeatmapKeeper, ImageWriter
from storelens.pipeline.stages import (
    AFFECT_CONFIDENCE,
    AFFECT_NAMES,
    AFFECT_SCORES,
    IN_STAFF_ZONE,
    SHOPPER,
    STAFF,
    STAGES,
    BehaviourStageAdapter,
    EmotionStageAdapter,
    IntentStageAdapter,
)


def store(**over: Any) -> StoreConfig:
    shelf = {"id": "shelf", "kind": "shelf", "camera": "cam", "points": [[0, 0], [50, 0], [50, 50], [0, 50]]}
    data: dict[str, Any] = {
        "store_id": "s1",
        "cameras": [{"id": "cam", "source": "x.mp4"}, {"id": "door", "source": "y.mp4"}],
        "zones": [shelf],
        "emotion": {"enabled": False},
        "intent": {"enabled": False},
    }
    data.update(over)
    return StoreConfig.model_validate(data)


def test_stages_follow_the_config_in_registry_order() -> None:
    assert [s.name for s in STAGES] == ["behaviour", "interaction", "emotion", "intent"]
    assert [s.name for s in make_stages(store(), "door")] == ["behaviour"]  # no shelf in view
    assert [s.name for s in make_stages(store(), "cam")] == ["behaviour", "interaction"]
    stages = make_stages(store(intent={"enabled": True}), "cam")
    assert [s.name for s in stages] == ["behaviour", "interaction", "intent"]
    assert isinstance(stages[-1], IntentStageAdapter)


def test_the_behaviour_stage_keeps_the_camera_heat_map() -> None:
    behaviour = make_stages(store(), "door")[0]
    assert isinstance(behaviour, BehaviourStageAdapter) and isinstance(behaviour, HeatmapKeeper)
    assert behaviour.heatmap is behaviour.stage.heatmap


def test_optional_abilities_are_found_by_protocol() -> None:
    stages = make_stages(store(intent={"enabled": True}), "cam")
    assert [s.name for s in stages if isinstance(s, ImageWriter)] == ["behaviour"]
    assert [s.name for s in stages if isinstance(s, BusSubscriber)] == ["intent"]
    assert not any(isinstance(s, FaceLocator) for s in stages)  # no emotion stage: no faces to blur


def _tracks(ids: list[int]) -> Tracks:
    n = len(ids)
    boxes = np.array([[100.0 + 60 * i, 100.0, 140.0 + 60 * i, 220.0] for i in range(n)], np.float32)
    return Tracks(
        xyxy=boxes,
        score=np.full(n, 0.9, np.float32),
        class_id=np.zeros(n, np.int32),
        track_id=np.arange(1, n + 1),
        detection_index=np.arange(n, dtype=np.int32),
        visit_id=np.array(ids, np.int64),
    )


def _frame(k: int) -> Frame:
    return Frame("cam", k, k * 0.1, 1_700_000_000 + k * 0.1, np.zeros((240, 320, 3), np.uint8))


def test_behaviour_results_reach_later_stages_as_track_columns() -> None:
    staff_zone = {
        "id": "back",
        "kind": "staff_only",
        "camera": "cam",
        "points": [[90, 0], [150, 0], [150, 240], [90, 240]],
    }
    cfg = store(zones=[staff_zone], behaviour={"staff": {"min_observed_s": 0.3}})
    behaviour = make_stages(cfg, "cam")[0]
    tracks = _tracks([0xA1, 0xB2])
    for k in range(8):
        behaviour.update(_frame(k), tracks, [])
    m = behaviour.stage.measures  # type: ignore[attr-defined]
    assert tracks.data[SHOPPER].tolist() == m.staff.last_shoppers.tolist() == [False, True]
    assert tracks.data[STAFF].tolist() == m.staff.last_flags.tolist() == [True, False]
    assert tracks.data[IN_STAFF_ZONE].tolist() == [True, False]


def test_emotion_affect_reaches_the_intent_stage_as_track_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    emotion = EmotionStageAdapter(store(emotion={"enabled": True, "device": "cpu", "threads": 1}), "cam")
    happy = np.zeros(len(EXPRESSION_LABELS))
    happy[EXPRESSION_LABELS.index("happy")] = 1.0
    for k in range(5):
        emotion.tracker.update(0xA1, happy, 1.0, k * 0.1)  # only the first visit has a reading
    tracks = _tracks([0xA1, 0xB2])
    emotion._put_affect(tracks)
    state = emotion.tracker.current(0xA1)
    assert state is not None
    assert tracks.data[AFFECT_SCORES][0].tolist() == [state.affect_scores[a] for a in AFFECT_NAMES]
    assert tracks.data[AFFECT_CONFIDENCE][0] == state.affect_confidence
    assert np.isnan(tracks.data[AFFECT_CONFIDENCE][1]) and np.isnan(tracks.data[AFFECT_SCORES][1]).all()

    intent = IntentStageAdapter(store(intent={"enabled": True}), "cam")
    fed: list[tuple[int, dict[str, float], float]] = []
    monkeypatch.setattr(intent.engine, "observe_affect", lambda s, ts, sc, c: fed.append((s, dict(sc), c)))
    intent.update(_frame(0), tracks, [])
    assert fed == [(0xA1, state.affect_scores, state.affect_confidence)]
    fed.clear()
    intent.update(_frame(1), _tracks([0xA1]), [])  # no emotion stage ran on these rows
    assert fed == []
