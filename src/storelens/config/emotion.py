"""Facial-expression reading per shopper (docs/EMOTION.md): face search, quality gates, the
expression model's calibration and smoothing.

Whether it runs at all also depends on the store's jurisdiction: :class:`storelens.config.store.StoreConfig`
turns it off by default in the EU (the AI Act makes it a decision, not a default).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from storelens.config.base import StrictModel


class EmotionConfig(StrictModel):
    """Facial-expression reading per shopper (docs/EMOTION.md). Some jurisdictions forbid emotion
    recognition (e.g. the EU AI Act in workplaces and education): ``enabled: false`` turns it off
    entirely, no face is then looked for and no expression value exists."""

    enabled: bool = Field(default=True, description="Read facial expressions at all")
    face_search: Literal["head", "frame"] = Field(
        default="head",
        description="Look for faces in a head crop per tracked person (finds smaller faces) or on the whole frame",
    )
    detector: Literal["short_range", "full_range"] = Field(
        default="short_range", description="BlazeFace variant (short_range suits head crops)"
    )
    face_score: float = Field(default=0.5, ge=0.05, le=0.99, description="Minimum face detection score")
    head_padding: float = Field(default=2.0, ge=1.0, le=4.0, description="Head crop side / estimated head size")
    min_face_px: int = Field(default=24, ge=8, le=1024, description="Smaller faces (frame pixels) are 'unknown'")
    full_quality_face_px: int = Field(default=40, ge=8, le=2048, description="Faces this big get full quality")
    min_frontality: float = Field(default=0.35, ge=0.0, le=1.0, description="Less frontal faces are 'unknown'")
    min_face_keypoint_visibility: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="The pose model must see the nose or an eye at least this well: a 'face' found on the back "
        "of a head (seen on the demo clip) is 'unknown', not read",
    )
    align_margin: float = Field(default=1.0, ge=0.5, le=2.0, description="Expression crop side / face box size")
    flip_average: bool = Field(
        default=True,
        description="Average the model over the mirrored crop too (test-time augmentation; chosen by "
        "subject-wise cross-validation, bench/expression_cv.py)",
    )
    flip_weight: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="Weight of the mirrored crop in the flip average (0.5 = plain mean); chosen by the same "
        "cross-validation as the lowest-risk gain over the plain model",
    )
    align_min_score: float = Field(
        default=0.75,
        ge=0.0,
        le=1.0,
        description="Level the eye line only when the face detection scores at least this; an unsure "
        "detection's landmarks are not trusted and the face box is cropped upright",
    )
    tight_crop_px: int = Field(
        default=128,
        ge=0,
        le=1024,
        description="Still images whose shorter side is at most this (and nearly square) are already a tight "
        "face crop: read whole, no face detection or alignment (0 = never)",
    )
    tight_crop_fraction: float = Field(
        default=0.8,
        ge=0.1,
        le=1.0,
        description="A detected face at least this fraction of a still image's shorter side means the image is "
        "already a tight crop: read whole",
    )
    temperature: float = Field(
        default=1.3,
        gt=0.0,
        le=10.0,
        description="Softmax temperature that calibrates the model's confidence (fitted on held-out subjects "
        "by bench/expression_cv.py)",
    )
    min_confidence: float = Field(
        default=0.35,
        ge=0.0,
        le=1.0,
        description="Calibrated top probability below which a reading is 'uncertain': not labelled and not "
        "used in per-visit summaries",
    )
    max_faces: int = Field(
        default=3, ge=1, le=100, description="Face searches per frame; beyond it, people read longest ago go first"
    )
    half_life_s: float = Field(default=2.0, gt=0, le=600, description="Half-life of the smoothed expression (s)")
    hysteresis: float = Field(default=0.15, ge=0, le=1, description="Probability lead a new label needs")
    min_hold_s: float = Field(default=1.0, ge=0, le=600, description="How long a new label must lead first (s)")
    threads: int = Field(default=1, ge=0, le=64, description="onnxruntime threads for the face models (0 = all)")
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @model_validator(mode="after")
    def _sizes(self) -> EmotionConfig:
        if self.full_quality_face_px < self.min_face_px:
            raise ValueError("full_quality_face_px must be >= min_face_px")
        return self
