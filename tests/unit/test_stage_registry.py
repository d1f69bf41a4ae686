"""The camera stages come from one registry (pipeline/stages.py ``STAGES``): which a camera gets
follows its config, in run order, and a stage that reads another's results is handed that one."""

from __future__ import annotations

from typing import Any

from storelens.config.store import StoreConfig
from storelens.pipeline.build import make_stages
from storelens.pipeline.camera import HeatmapKeeper
from storelens.pipeline.stages import STAGES, BehaviourStageAdapter, IntentStageAdapter


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
    intent = stages[-1]
    assert isinstance(intent, IntentStageAdapter) and intent.emotion is None  # no emotion stage to read


def test_the_behaviour_stage_keeps_the_camera_heat_map() -> None:
    behaviour = make_stages(store(), "door")[0]
    assert isinstance(behaviour, BehaviourStageAdapter) and isinstance(behaviour, HeatmapKeeper)
    assert behaviour.heatmap is behaviour.stage.heatmap
