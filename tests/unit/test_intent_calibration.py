"""Learned calibration: fit, save, load (round trip through a file), use in the engine, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from storelens.config.intent import IntentConfig
from storelens.intent.calibration import Calibration, CalibrationError, fit_calibration, load_calibration
from storelens.intent.engine import IntentEngine
from storelens.intent.features import FEATURE_INDEX, FEATURE_NAMES
from storelens.intent.states import effective_states


def _data(n: int = 600, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Three separable states: holding -> high_intent, in_queue -> checkout, else browsing."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.3, size=(n, len(FEATURE_NAMES)))
    y = []
    for i in range(n):
        k = i % 3
        if k == 0:
            x[i, FEATURE_INDEX["holding"]] = 1.0
            y.append("high_intent")
        elif k == 1:
            x[i, FEATURE_INDEX["in_queue"]] = 1.0
            y.append("checkout")
        else:
            x[i, FEATURE_INDEX["stops"]] = 1.0
            y.append("browsing")
    return x, y


def test_fit_save_load_round_trip(tmp_path: Path) -> None:
    x, y = _data()
    cal = fit_calibration(x, y, meta={"source": "test"})
    path = cal.save(tmp_path / "sub" / "weights.json")
    back = load_calibration(path)
    assert back == cal
    specs = effective_states(IntentConfig())
    m1, m2 = cal.to_model(specs), back.to_model(specs)
    np.testing.assert_allclose(m1.weights, m2.weights)
    probe = x[:5]
    for row in probe:
        np.testing.assert_allclose(m1.scores(row), m2.scores(row))
        assert m1.scores(row).sum() == pytest.approx(1.0)
    # the fitted model separates the classes it was given, and never picks an absent state
    names = [str(s.name) for s in specs]
    for row, label in zip(probe, y[:5], strict=True):
        assert names[int(np.argmax(m1.scores(row)))] == label
    assert json.loads(path.read_text())["meta"]["source"] == "test"


def test_engine_loads_calibration_from_config(tmp_path: Path) -> None:
    x, y = _data()
    fit_calibration(x, y).save(tmp_path / "w.json")
    eng = IntentEngine("s", IntentConfig(calibration_file="w.json"), base_dir=tmp_path)
    assert eng.calibrated and eng.model.link == "softmax"
    assert all(s.enter == 0.5 and s.exit == 0.3 for s in eng.specs)
    assert IntentEngine("s").model.link == "linear"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "invalid JSON"),
        ('{"version": 2}', "unsupported calibration version"),
        ('{"version": 1, "weights": {"browsing": {"stops": 1}}, "bias": {}}', "same states"),
        ('{"version": 1, "weights": {"flying": {}}, "bias": {"flying": 0}}', "unknown state"),
        ('{"version": 1, "weights": {"browsing": {"wings": 1}}, "bias": {"browsing": 0}}', "unknown feature"),
        ('{"version": 1, "weights": {"browsing": {"stops": "x"}}, "bias": {"browsing": 0}}', "malformed"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_bad_calibration_files_are_clear_errors(tmp_path: Path, content: str, match: str) -> None:
    p = tmp_path / "w.json"
    p.write_text(content)
    with pytest.raises(CalibrationError, match=match):
        load_calibration(p)


def test_missing_file_and_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="cannot read"):
        load_calibration(tmp_path / "nope.json")
    x, y = _data(30)
    with pytest.raises(ValueError, match="unknown state labels"):
        fit_calibration(x, ["dancing"] * 30)
    with pytest.raises(ValueError, match="at least two"):
        fit_calibration(x, ["browsing"] * 30)
    with pytest.raises(ValueError, match="features must be"):
        fit_calibration(x[:, :3], y)
    with pytest.raises(CalibrationError, match="thresholds"):
        Calibration({"browsing": {}}, {"browsing": 0.0}, enter=0.2, exit=0.5)
