"""Tracker parameters: validated models with bounds, built from ``TrackerConfig.params``.

Every time-like parameter is in seconds, never frames, so one set of defaults works for a camera
analysed at 5 fps and one analysed at 25 fps. Thresholds on boxes are relative (IoU, fractions of
box height), so the defaults do not depend on the camera's resolution either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import Field, ValidationError, model_validator

from storelens.config.base import StrictModel

_P = TypeVar("_P", bound=StrictModel)


class ByteTrackParams(StrictModel):
    """ByteTrack (Zhang et al. 2022) as published; its frame counts converted to seconds (30 fps)."""

    high_score: float = Field(default=0.5, ge=0, le=1, description="First-association detections")
    low_score: float = Field(default=0.1, ge=0, le=1, description="Second-association floor")
    new_track_score: float = Field(default=0.6, ge=0, le=1, description="Minimum score to start a track")
    match_iou: float = Field(default=0.2, ge=0.01, le=1, description="Min IoU x score, first association")
    low_match_iou: float = Field(default=0.5, ge=0.01, le=1, description="Min IoU, low-score association")
    unconfirmed_iou: float = Field(default=0.3, ge=0.01, le=1, description="Min IoU x score, new tracks")
    max_age_s: float = Field(default=1.0, gt=0, le=60, description="Lost tracks are deleted after this")
    coast_s: float = Field(default=0.0, ge=0, le=10, description="Report lost tracks this long (0: never)")

    @model_validator(mode="after")
    def _order(self) -> ByteTrackParams:
        if self.low_score > self.high_score:
            raise ValueError("low_score must be <= high_score")
        return self


class StorelensParams(StrictModel):
    """The default tracker: ByteTrack's two stages + OC-SORT's observation-centric steps +
    a colour-stripe appearance cue + birth/death hysteresis. Defaults are camera-agnostic
    (seconds, IoU, box-relative) and chosen for store cameras analysed at 5-15 fps."""

    high_score: float = Field(default=0.5, ge=0, le=1, description="First-association detections")
    low_score: float = Field(default=0.1, ge=0, le=1, description="Second-association floor")
    new_track_score: float = Field(default=0.6, ge=0, le=1, description="Minimum score to start a track")
    match_iou: float = Field(default=0.3, ge=0.01, le=1, description="Min IoU, first association, tracked")
    lost_match_iou: float = Field(default=0.1, ge=0.01, le=1, description="Min IoU, first association, lost")
    low_match_iou: float = Field(default=0.5, ge=0.01, le=1, description="Min IoU, low-score association")
    recover_iou: float = Field(default=0.2, ge=0.01, le=1, description="Min IoU with the last observation")
    unconfirmed_iou: float = Field(default=0.3, ge=0.01, le=1, description="Min IoU, tentative tracks")
    direction_weight: float = Field(default=0.2, ge=0, le=2, description="OC-SORT momentum weight")
    velocity_window: int = Field(default=3, ge=1, le=10, description="Observations back for the direction")
    reupdate: bool = Field(default=True, description="OC-SORT re-update along a virtual path after a gap")
    min_hits: int = Field(default=2, ge=1, le=30, description="Matches needed to confirm a track")
    low_birth_score: float = Field(
        default=0.25, ge=0, le=1, description="Small boxes may start a track from this score (>= new_track_score: off)"
    )
    low_birth_max_height: float = Field(
        default=0.2, gt=0, le=1, description="'Small': box height below this fraction of the frame height"
    )
    low_birth_hits: int = Field(default=3, ge=1, le=30, description="Matches to confirm a track born from a low score")
    low_birth_gap_s: float = Field(
        default=0.0, ge=0, le=2, description="A tentative low-score-born track survives this long unmatched"
    )
    low_birth_dup_inside: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="A low-score box more than this fraction inside a confident one is a duplicate (1: off)",
    )
    reacquire_low: bool = Field(
        default=True, description="Lost tracks may be re-acquired by small low-score detections (see TRACKING.md)"
    )
    max_age_s: float = Field(default=1.2, gt=0, le=60, description="Lost tracks are deleted after this")
    coast_s: float = Field(default=0.1, ge=0, le=10, description="Report lost tracks this long")
    output_box: Literal["detection", "filtered"] = Field(
        default="filtered", description="Report the matched detection's box or the Kalman estimate"
    )
    appearance: bool = Field(default=True, description="Use the colour-stripe cue when frames are given")
    appearance_weight: float = Field(default=0.8, ge=0, le=5, description="Weight in ambiguous matches")
    appearance_pivot: float = Field(default=0.75, ge=0, le=1, description="Similarity that is neutral")
    appearance_min: float = Field(default=0.6, ge=0, le=1, description="Below: never re-acquire a lost track")
    appearance_ema: float = Field(default=0.9, ge=0, lt=1, description="Template memory (weight of the old)")
    appearance_refresh_s: float = Field(default=0.5, gt=0, le=60, description="Template refresh interval")
    reacquire_gate: float = Field(
        default=9.21, gt=0, le=100, description="Chi-square (2 dof) gate to re-acquire lost tracks by appearance"
    )

    @model_validator(mode="after")
    def _order(self) -> StorelensParams:
        if self.low_score > self.high_score:
            raise ValueError("low_score must be <= high_score")
        if self.low_birth_score < self.low_score:
            raise ValueError("low_birth_score must be >= low_score (lower detections are dropped)")
        return self


def build_params(model: type[_P], overrides: Mapping[str, Any] | None, tracker: str) -> _P:
    """Validate ``overrides`` into ``model``; unknown names and bad values raise ``ValueError``
    naming the tracker, the parameter and the known parameters."""
    overrides = dict(overrides or {})
    known = sorted(model.model_fields)
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for tracker {tracker!r}; known: {known}")
    try:
        return model(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg']}" for err in exc.errors()
        )
        raise ValueError(f"invalid parameter(s) for tracker {tracker!r}: {problems}") from None
