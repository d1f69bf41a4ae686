"""Optional learned calibration: fit state weights on labelled visits, save and load them as JSON.

The rule weights are hand-set and documented; a retailer with labelled visits (or the simulator's
ground truth) can instead *fit* the same weight table with multinomial logistic regression. The
result keeps the rules' shape (one weight per state and feature, plus a bias), so reasons still
read as "dwell 48 s in Electronics": only the numbers, and the link (softmax instead of a clipped
sum), change. Fitting needs scikit-learn (the ``service`` extra); loading needs only the JSON.

File format (``version: 1``)::

    {"version": 1, "link": "softmax", "features": [...], "states": [...],
     "weights": {"browsing": {"stops": 0.8, ...}, ...}, "bias": {"browsing": -1.2, ...},
     "enter": 0.5, "exit": 0.3, "meta": {"samples": 12345, "source": "sim seeds 0-9"}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from storelens.intent.features import FEATURE_NAMES
from storelens.intent.scoring import ScoringModel
from storelens.intent.states import STATE_ORDER, StateSpec

__all__ = ["Calibration", "CalibrationError", "fit_calibration", "load_calibration"]

FORMAT_VERSION = 1
_ABSENT_BIAS = -30.0  # a state never seen in training: practically never chosen


class CalibrationError(ValueError):
    """A calibration file is missing, malformed or does not fit this version's features."""


@dataclass(frozen=True, slots=True)
class Calibration:
    """Fitted weights per state and feature (softmax link) plus thresholds for the probabilities."""

    weights: dict[str, dict[str, float]]
    bias: dict[str, float]
    enter: float = 0.5
    exit: float = 0.3
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        known_states = {str(s) for s in STATE_ORDER}
        for state, ws in self.weights.items():
            if state not in known_states:
                raise CalibrationError(f"unknown state {state!r} in calibration")
            for f, w in ws.items():
                if f not in FEATURE_NAMES:
                    raise CalibrationError(f"unknown feature {f!r} for state {state!r} in calibration")
                if not np.isfinite(w):
                    raise CalibrationError(f"weight {state}.{f} is not finite")
        if set(self.bias) != set(self.weights):
            raise CalibrationError("calibration 'bias' and 'weights' must name the same states")
        if not 0 <= self.exit <= self.enter <= 1:
            raise CalibrationError("calibration thresholds must satisfy 0 <= exit <= enter <= 1")

    def to_model(self, specs: Sequence[StateSpec]) -> ScoringModel:
        """A softmax scoring model over ``specs``' states; states the file lacks are never chosen."""
        w = np.zeros((len(specs), len(FEATURE_NAMES)))
        b = np.full(len(specs), _ABSENT_BIAS)
        for i, spec in enumerate(specs):
            name = str(spec.name)
            if name not in self.weights:
                continue
            for j, f in enumerate(FEATURE_NAMES):
                w[i, j] = self.weights[name].get(f, 0.0)
            b[i] = self.bias[name]
        return ScoringModel(tuple(s.name for s in specs), w, b, link="softmax")

    def apply_thresholds(self, specs: Sequence[StateSpec]) -> list[StateSpec]:
        """Calibrated scores are probabilities: one enter/exit pair for every state."""
        return [replace(s, enter=self.enter, exit=self.exit) for s in specs]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "link": "softmax",
            "features": list(FEATURE_NAMES),
            "states": list(self.weights),
            "weights": self.weights,
            "bias": self.bias,
            "enter": self.enter,
            "exit": self.exit,
            "meta": self.meta,
        }

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n", encoding="utf-8")
        tmp.replace(p)  # atomic: a crash mid-write never leaves half a calibration behind
        return p

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Calibration:
        if not isinstance(data, Mapping):
            raise CalibrationError("calibration must be a JSON object")
        if data.get("version") != FORMAT_VERSION:
            raise CalibrationError(f"unsupported calibration version {data.get('version')!r}")
        if data.get("link", "softmax") != "softmax":
            raise CalibrationError(f"unsupported link {data.get('link')!r}")
        weights = data.get("weights")
        bias = data.get("bias")
        if not isinstance(weights, Mapping) or not isinstance(bias, Mapping):
            raise CalibrationError("calibration needs 'weights' and 'bias' objects")
        try:
            return cls(
                weights={str(s): {str(f): float(w) for f, w in ws.items()} for s, ws in weights.items()},
                bias={str(s): float(v) for s, v in bias.items()},
                enter=float(data.get("enter", 0.5)),
                exit=float(data.get("exit", 0.3)),
                meta=dict(data.get("meta", {})),
            )
        except (TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, CalibrationError):
                raise
            raise CalibrationError(f"malformed calibration: {exc}") from None


def load_calibration(path: str | Path) -> Calibration:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CalibrationError(f"cannot read calibration {p}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"{p}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    try:
        return Calibration.from_json(data)
    except CalibrationError as exc:
        raise CalibrationError(f"{p}: {exc}") from None


def fit_calibration(
    features: npt.NDArray[np.float64],
    labels: Sequence[str],
    *,
    c: float = 1.0,
    enter: float = 0.5,
    exit: float = 0.3,
    meta: Mapping[str, Any] | None = None,
) -> Calibration:
    """Fit multinomial logistic regression on (N, F) normalised features and N state labels.

    Classes are weighted inversely to their frequency, because a store has many more browsing
    seconds than needs-assistance seconds and the rare states are the ones that matter.
    """
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(features, dtype=np.float64)
    y = np.asarray([str(s) for s in labels])
    if x.ndim != 2 or x.shape[1] != len(FEATURE_NAMES):
        raise ValueError(f"features must be (N, {len(FEATURE_NAMES)}), got {x.shape}")
    if len(y) != len(x):
        raise ValueError(f"{len(y)} labels for {len(x)} feature rows")
    known = {str(s) for s in STATE_ORDER}
    bad = sorted(set(y.tolist()) - known)
    if bad:
        raise ValueError(f"unknown state labels {bad}")
    classes = sorted(set(y.tolist()))
    if len(classes) < 2:
        raise ValueError("need labelled samples of at least two states")
    clf = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    clf.fit(x, y)
    coef = np.asarray(clf.coef_, dtype=np.float64)
    intercept = np.asarray(clf.intercept_, dtype=np.float64)
    if len(clf.classes_) == 2:  # sklearn collapses two classes into one row: expand to softmax form
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    weights: dict[str, dict[str, float]] = {}
    bias: dict[str, float] = {}
    for k, cls in enumerate(clf.classes_):
        weights[str(cls)] = {f: round(float(coef[k, j]), 6) for j, f in enumerate(FEATURE_NAMES)}
        bias[str(cls)] = round(float(intercept[k]), 6)
    info = {"samples": len(y), "classes": {c_: int((y == c_).sum()) for c_ in classes}, "C": c}
    info.update(meta or {})
    return Calibration(weights, bias, enter, exit, info)
