"""State scores as transparent weighted sums of features, and the reasons behind them.

Two links, one shape: ``linear`` (the hand-written rules: ``clip(bias + W @ features, 0, 1)``) and
``softmax`` (a learned calibration: multinomial logistic regression over the same features). Both
keep one weight per (state, feature), so the contribution of feature ``f`` to state ``s`` is always
``W[s, f] * features[f]`` and the top contributions are the reasons an event gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from storelens.intent.features import FEATURE_INDEX, FEATURE_NAMES, FeatureSnapshot
from storelens.intent.states import IntentState, StateSpec

__all__ = ["Contribution", "ScoringModel"]

Link = Literal["linear", "softmax"]


@dataclass(frozen=True, slots=True)
class Contribution:
    feature: str
    weight: float
    value: float
    text: str

    @property
    def amount(self) -> float:
        return self.weight * self.value


@dataclass(frozen=True, slots=True)
class ScoringModel:
    """Weights (S states x F features), biases (S,) and the link that turns sums into scores."""

    states: tuple[IntentState, ...]
    weights: npt.NDArray[np.float64]
    bias: npt.NDArray[np.float64]
    link: Link = "linear"

    def __post_init__(self) -> None:
        if self.weights.shape != (len(self.states), len(FEATURE_NAMES)):
            raise ValueError(f"weights must be ({len(self.states)}, {len(FEATURE_NAMES)}), got {self.weights.shape}")
        if self.bias.shape != (len(self.states),):
            raise ValueError(f"bias must have {len(self.states)} entries, got {self.bias.shape}")
        if not (np.isfinite(self.weights).all() and np.isfinite(self.bias).all()):
            raise ValueError("weights and biases must be finite")

    @classmethod
    def from_specs(cls, specs: Sequence[StateSpec]) -> ScoringModel:
        w = np.zeros((len(specs), len(FEATURE_NAMES)))
        for i, spec in enumerate(specs):
            for name, value in spec.weights.items():
                if name not in FEATURE_INDEX:
                    raise ValueError(f"state {spec.name}: unknown feature {name!r}")
                w[i, FEATURE_INDEX[name]] = value
        return cls(tuple(s.name for s in specs), w, np.array([s.bias for s in specs], dtype=np.float64))

    def scores(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        z = self.weights @ values + self.bias
        if self.link == "linear":
            return np.asarray(np.clip(z, 0.0, 1.0))
        z = z - z.max()
        e = np.exp(z)
        return np.asarray(e / e.sum())

    def contributions(self, state: int, snapshot: FeatureSnapshot) -> list[Contribution]:
        """Every feature's signed contribution to ``state``'s score, largest first."""
        w = self.weights[state]
        amounts = w * snapshot.values
        order = np.argsort(-amounts, kind="stable")
        return [
            Contribution(FEATURE_NAMES[i], float(w[i]), float(snapshot.values[i]), snapshot.reason(FEATURE_NAMES[i]))
            for i in order
            if w[i] != 0.0
        ]

    def reasons(self, state: int, snapshot: FeatureSnapshot, k: int = 3) -> list[str]:
        """The ``k`` largest positive contributions as sentences ("dwell 48 s in Electronics")."""
        w = self.weights[state]
        amounts = w * snapshot.values
        out: list[str] = []
        for i in np.argsort(-amounts, kind="stable")[:k]:
            if amounts[i] <= 1e-9:
                break
            out.append(snapshot.reason(FEATURE_NAMES[i]))
        return out
