"""The intent engine's section: state names, per-state overrides of weights and thresholds.

Which feature names ``intent.states.*.weights`` may use is decided by :mod:`storelens.intent.features`
(the names, their scales and their meaning live there, with the code that computes them). The
import-linter layers in pyproject.toml put ``storelens.intent`` above ``storelens.config``, so this
module cannot import the list: importing intent from config would be an upward import and a package
cycle (intent reads its settings from here). Instead intent registers its check with
:func:`register_feature_weight_check` when :mod:`storelens.intent.features` is imported, and the
preflight (``storelens validate``, ``run``, ``serve``: :mod:`storelens.pipeline.preflight`) imports it
before it loads a store, so an unknown feature is a schema error with its file, line and field like
any other. Without the registration (config loaded on its own) the engine still refuses an unknown
feature when it builds its ``ScoringModel``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from storelens.config.base import StrictModel


class IntentStateName(StrEnum):
    """The shopper intent states the intent engine infers (docs/INTENT.md explains each)."""

    PASSING_THROUGH = "passing_through"
    BROWSING = "browsing"
    CONSIDERING = "considering"
    HIGH_INTENT = "high_intent"
    NEEDS_ASSISTANCE = "needs_assistance"
    HESITANT = "hesitant"
    LEAVING_WITHOUT_PURCHASE = "leaving_without_purchase"
    CHECKOUT = "checkout"


FeatureWeightCheck = Callable[[Mapping[str, float]], None]
_FEATURE_WEIGHT_CHECKS: list[FeatureWeightCheck] = []


def register_feature_weight_check(check: FeatureWeightCheck) -> None:
    """Let the owner of the feature names validate ``intent.states.*.weights``.

    The names belong to :mod:`storelens.intent.features`, a layer above config; it registers its
    check here when it is imported. The preflight (``storelens validate``, ``run``, ``serve``)
    imports it before loading, so an unknown feature is a schema error with its YAML line there,
    without config importing intent; the engine refuses one on its own (``ScoringModel``)."""
    if check not in _FEATURE_WEIGHT_CHECKS:
        _FEATURE_WEIGHT_CHECKS.append(check)


class IntentStateConfig(StrictModel):
    """Overrides for one intent state. Anything left out keeps its documented default (the table in
    docs/INTENT.md); ``weights`` are merged key by key, so one weight can be changed alone (set a
    weight to 0 to drop a feature from the state)."""

    enabled: bool = Field(default=True, description="Set false to never enter this state")
    weights: dict[str, float] = Field(default_factory=dict, description="Feature name -> weight (-5..5)")
    bias: float | None = Field(default=None, ge=-5, le=5, description="Constant added to the score")
    enter: float | None = Field(default=None, ge=0, le=1, description="Score needed to enter the state")
    exit: float | None = Field(default=None, ge=0, le=1, description="Below this the state is let go")
    min_hold_s: float | None = Field(default=None, ge=0, le=600, description="Shortest time in the state")

    @field_validator("weights")
    @classmethod
    def _known_features(cls, v: dict[str, float]) -> dict[str, float]:
        for check in _FEATURE_WEIGHT_CHECKS:
            check(v)
        for name, w in v.items():
            if not -5 <= w <= 5:
                raise ValueError(f"weight of {name!r} must be within -5..5, got {w}")
        return v

    @model_validator(mode="after")
    def _thresholds(self) -> IntentStateConfig:
        if self.enter is not None and self.exit is not None and self.exit > self.enter:
            raise ValueError("exit must be <= enter (the gap between them is the hysteresis)")
        return self


class IntentConfig(StrictModel):
    """The intent engine: per visit features -> state scores -> states with hysteresis."""

    enabled: bool = Field(default=True, description="Run the intent engine")
    states: dict[IntentStateName, IntentStateConfig] = Field(
        default_factory=dict, description="Per state overrides of weights, bias, thresholds, hold time"
    )
    switch_margin: float = Field(
        default=0.1, ge=0, le=1, description="A new state must beat the current state's score by this"
    )
    min_hold_s: float = Field(default=3.0, ge=0, le=600, description="Default shortest time in a state")
    visit_timeout_s: float = Field(default=10.0, gt=0, le=3600, description="Unseen this long = visit over")
    walking_speed_mps: float = Field(default=1.2, gt=0.1, le=5, description="Typical walking speed (m/s)")
    walking_speed_px_s: float = Field(default=150.0, gt=1, le=10000, description="Same, uncalibrated (px/s)")
    stop_speed_mps: float = Field(default=0.35, gt=0, le=2, description="Slower than this (m/s) = stopped")
    stop_speed_px_s: float = Field(default=40.0, gt=0, le=5000, description="Same, uncalibrated (px/s)")
    min_affect_confidence: float = Field(
        default=0.3, ge=0, le=1, description="Expression readings less sure than this are ignored"
    )
    emit_category_changes: bool = Field(
        default=True, description="Emit intent.changed when the state stays but its category changes"
    )
    calibration_file: str | None = Field(
        default=None, description="Learned weights (JSON from `storelens simulate --fit-weights`); overrides rules"
    )

    @model_validator(mode="after")
    def _speeds(self) -> IntentConfig:
        if self.stop_speed_mps >= self.walking_speed_mps:
            raise ValueError("stop_speed_mps must be below walking_speed_mps")
        if self.stop_speed_px_s >= self.walking_speed_px_s:
            raise ValueError("stop_speed_px_s must be below walking_speed_px_s")
        return self
