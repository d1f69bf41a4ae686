"""Emotion recognition is off by default where the store is in the EU, and `storelens validate`
says so and why (issue 19; EU AI Act Art. 5(1)(f), Annex III 1(c), Art. 50(3))."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from storelens.cli.main import app
from storelens.config.emotion import EmotionConfig
from storelens.config.store import StoreConfig
from storelens.privacy.lawful import emotion_status
from testdata import DEMO_DIR

CAMS = [{"id": "cam", "source": "x.mp4"}]


@pytest.mark.parametrize(
    ("privacy", "emotion", "on"),
    [
        ({}, {}, False),  # default jurisdiction is the EU: off unless turned on
        ({"jurisdiction": "DE"}, {"max_faces": 2}, False),  # a member state, other emotion settings given
        ({"jurisdiction": "EU"}, {"enabled": True}, True),  # explicit opt-in stands
        ({"jurisdiction": "US"}, {}, True),
        ({"jurisdiction": "US"}, {"enabled": False}, False),
    ],
)
def test_emotion_default_follows_the_jurisdiction(
    privacy: dict[str, str], emotion: dict[str, object], on: bool
) -> None:
    cfg = StoreConfig(store_id="s", cameras=CAMS, privacy=privacy, emotion=emotion)
    assert cfg.emotion.enabled is on
    # a dumped and reloaded config keeps the decision
    again = StoreConfig.model_validate(cfg.model_dump(exclude={"base_dir"}))
    assert again.emotion.enabled is on
    # a standalone EmotionConfig (bench, CLI on stills) is not a store: unchanged
    assert EmotionConfig().enabled


def test_bad_jurisdiction_is_rejected() -> None:
    with pytest.raises(ValueError, match="jurisdiction"):
        StoreConfig(store_id="s", cameras=CAMS, privacy={"jurisdiction": "Europe"})


def test_validate_prints_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "store.yaml"
    cams = [{"id": "cam", "source": str(DEMO_DIR / "entrance.mp4")}]
    path.write_text(yaml.safe_dump({"store_id": "s", "cameras": cams}))
    out = CliRunner().invoke(app, ["validate", str(path), "--offline"])
    assert "emotion: OFF (jurisdiction EU" in out.output and "Art. 5(1)(f)" in out.output, out.output
    on = StoreConfig(store_id="s", cameras=CAMS, emotion={"enabled": True})
    lines = "\n".join(emotion_status(on))
    assert "enabled explicitly in the EU" in lines and "Annex III" in lines and "Art. 50(3)" in lines
    assert "nobody is read on cam" in lines  # no staff rule: staff cannot be kept out, so nobody is read
    us = StoreConfig(
        store_id="s",
        cameras=CAMS,
        privacy={"jurisdiction": "US"},
        behaviour={"staff": {"uniform": {"hsv_low": [0, 0, 0], "hsv_high": [10, 10, 10]}}},
    )
    assert emotion_status(us)[0].startswith("emotion: ON (jurisdiction US") and not any(
        "nobody" in x for x in emotion_status(us)
    )
