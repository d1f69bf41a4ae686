"""Config sections that other packages own a part of: intent's feature names, the aggregate buckets
edge and central share, and the one backoff rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from storelens.central.config import CentralConfig
from storelens.config.cameras import CameraConfig
from storelens.config.intent import IntentStateConfig
from storelens.config.outputs import MqttConfig, StorageConfig, WebhooksConfig
from storelens.intent.features import FEATURE_NAMES
from storelens.pipeline.preflight import check_config

STORE = """\
store_id: shop1
cameras:
  - id: cam1
    source: webcam:0
intent:
  states:
    browsing:
      weights: {dwell_focus: 0.5, wings: 1.0}
"""


def test_unknown_intent_feature_is_a_config_error_at_its_line(tmp_path: Path) -> None:
    """`storelens validate` (the preflight) reports a feature intent does not compute with file,
    line and field, naming the features it does know."""
    path = tmp_path / "store.yaml"
    path.write_text(STORE)
    issues = [i for i in check_config(path, probe=False) if i.field.startswith("intent")]
    assert len(issues) == 1, issues
    issue = issues[0]
    assert (issue.file, issue.line, issue.column) == (str(path), 8, 16)
    assert issue.field == "intent.states.browsing.weights"
    assert "unknown feature 'wings'" in issue.message
    assert "dwell_focus" in issue.message  # the known names are listed


def test_every_intent_feature_is_a_valid_weight_name() -> None:
    state = IntentStateConfig(weights=dict.fromkeys(FEATURE_NAMES, 1.0))
    assert set(state.weights) == set(FEATURE_NAMES)
    with pytest.raises(ValidationError, match="unknown feature 'time_in_shop'"):
        IntentStateConfig(weights={"time_in_shop": 1.0})


@pytest.mark.parametrize(
    ("buckets", "accepted"),
    [([3600, 300, 300], [300, 3600]), ([60, 86_400 * 31], [60, 86_400 * 31]), ([59], None), ([], None)],
)
def test_edge_and_central_accept_the_same_aggregate_buckets(buckets: list[int], accepted: list[int] | None) -> None:
    for model in (StorageConfig, CentralConfig):
        if accepted is None:
            with pytest.raises(ValidationError, match="aggregate_buckets_s"):
                model(aggregate_buckets_s=buckets)
        else:
            assert model(aggregate_buckets_s=buckets).aggregate_buckets_s == accepted
    assert StorageConfig().aggregate_buckets_s == CentralConfig().aggregate_buckets_s == [300, 3600]


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (CameraConfig, {"source": "webcam:0", "id": "c", "reconnect_initial_s": 5, "reconnect_max_s": 1}),
        (StorageConfig, {"retry_initial_s": 5, "retry_max_s": 1}),
        (MqttConfig, {"reconnect_min_s": 5, "reconnect_max_s": 1}),
        (WebhooksConfig, {"backoff_initial_s": 5, "backoff_max_s": 1}),
        (CentralConfig, {"retry_initial_s": 5, "retry_max_s": 1}),
    ],
)
def test_a_longest_delay_below_the_first_is_refused(model: type, fields: dict[str, object]) -> None:
    first, longest = (k for k in fields if k.endswith(("initial_s", "min_s", "max_s")))
    with pytest.raises(ValidationError, match=f"{longest} must be >= {first}"):
        model(**fields)
    model(**{**fields, longest: fields[first]})  # equal delays are a fixed retry interval
