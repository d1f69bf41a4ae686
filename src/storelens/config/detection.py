"""Person detection and tracking: the detector model, motion gating of it, and the tracker.

These sections decide what each frame costs and how people become tracks; tracker parameters
themselves are validated by :mod:`storelens.tracking.params` (the tracker named owns them).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from storelens.config.base import StrictModel


class GatingConfig(StrictModel):
    """Detect only when it matters (issue 16): the detector is the cost of a camera, and most of a
    store's frames show an empty aisle or a shopper standing still. Off by default: every analysed
    frame is detected."""

    enabled: bool = Field(default=False, description="Skip detection on frames whose scene did not change")
    width: int = Field(default=96, ge=16, le=640, description="Width of the downscaled grey frame motion is read on")
    pixel_threshold: int = Field(default=18, ge=1, le=255, description="Grey-level change of a changed pixel")
    change_fraction: float = Field(
        default=0.003, gt=0, le=1, description="Changed pixels since the last detection that call for a new one"
    )
    move_fraction: float = Field(
        default=0.02, gt=0, le=1, description="Frame-to-frame changed pixels meaning people move: detect every frame"
    )
    calm_every: int = Field(default=3, ge=1, le=100, description="Changed but calm: detect every k-th analysed frame")
    max_gap_s: float = Field(
        default=2.0, gt=0, le=60, description="Longest time between detections (a still shopper is re-detected)"
    )


class SecondPassConfig(StrictModel):
    """A second detector pass on upscaled crops where a small person may be (issue 13): people
    under ~60 px in the detector's input are missed or scored low by the full-frame pass, and a
    larger input for the whole frame costs several times more than a few small crops. Crops go
    where a track expects a person the full frame did not find, and around small moving regions
    no detection explains (see :mod:`storelens.vision.second_pass`)."""

    enabled: bool = Field(default=False, description="Run the crop pass after the full-frame detector")
    max_crops: int = Field(default=4, ge=1, le=32, description="Most crops per frame (bounds the extra cost)")
    crop_input: int = Field(default=320, ge=64, le=640, description="Square detector input of each crop")
    context: float = Field(default=4.0, ge=1.5, le=10.0, description="Crop side in expected person heights")
    max_height: float = Field(
        default=60.0,
        gt=0,
        le=400,
        description="Only look for people shorter than this, in pixels of the full-frame detector's input",
    )
    motion: bool = Field(default=True, description="Also crop around small moving regions without a detection")
    motion_width: int = Field(default=192, ge=32, le=640, description="Width of the small frame motion is read on")

    @field_validator("crop_input")
    @classmethod
    def _multiple_of_32(cls, v: int) -> int:
        if v % 32:
            raise ValueError(f"crop_input must be a multiple of 32, got {v}")
        return v


class DetectorConfig(StrictModel):
    model: str = Field(default="yolo11n-pose", description="Vendored model name or a path to a YOLO ONNX file")
    classes: list[str] | None = Field(default=None, description="Class names of a custom model (index order)")
    person_class: int = Field(default=0, ge=0)
    input_size: int = Field(
        default=960,
        ge=64,
        le=2048,
        description="Long side of the letterboxed input (960: people >= 40 px tall are found, see "
        "bench/detection_scale.py; a camera may set its own detector_input_size)",
    )
    confidence: float = Field(default=0.25, ge=0.0, le=1.0)
    nms_iou: float = Field(default=0.6, gt=0.0, le=1.0)
    max_detections: int = Field(default=100, ge=1, le=1000)
    threads: int = Field(
        default=0,
        ge=0,
        le=64,
        description="Inference threads (0 = all cores): of each camera's session, or with shared of the one session",
    )
    shared: bool = Field(
        default=False,
        description="One detector session for every camera (frames batched, threads set once for the machine) "
        "instead of a session per camera; see README 'Cameras per server'",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    backend: Literal["auto", "onnxruntime", "openvino"] = Field(
        default="auto",
        description="CPU inference runtime: auto = the faster of onnxruntime and OpenVINO on this machine "
        "(timed once, cached; onnxruntime when OpenVINO is not installed or with a GPU)",
    )
    self_check: bool = Field(
        default=True, description="Raise camera.degraded when people move but are not detected, or are too small"
    )
    gating: GatingConfig = Field(default_factory=GatingConfig)
    second_pass: SecondPassConfig = Field(default_factory=SecondPassConfig)

    @field_validator("input_size")
    @classmethod
    def _multiple_of_32(cls, v: int) -> int:
        if v % 32:
            raise ValueError(f"input_size must be a multiple of 32, got {v}")
        return v


class TrackerConfig(StrictModel):
    type: str = Field(default="storelens", description="Tracker name from the registry")
    params: dict[str, float | int | bool | str] = Field(default_factory=dict, description="Overrides")
    stitching: bool = Field(default=True, description="Join track fragments into shopper visits")
    stitching_params: dict[str, float | int | bool] = Field(
        default_factory=dict, description="Visit stitching overrides (see docs/TRACKING.md)"
    )
