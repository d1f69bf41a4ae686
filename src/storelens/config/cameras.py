"""The store's geometry: cameras and their calibration, zones, counting lines and the floor plan.

Image-space shapes are in the native pixels of their camera; floor-space shapes are in metres of
the floor plan, which calibrated cameras map onto through their homography.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from storelens.config.base import Identifier, Point, StrictModel, check_backoff


class ZoneKind(StrEnum):
    ENTRANCE = "entrance"
    AISLE = "aisle"
    SHELF = "shelf"
    DISPLAY = "display"
    CHECKOUT = "checkout"
    QUEUE = "queue"
    STAFF_ONLY = "staff_only"
    OTHER = "other"


class ZoneConfig(StrictModel):
    """A named polygon. ``space: image`` polygons are in the pixels of ``camera``'s native frames;
    ``space: floor`` polygons are in floor metres and apply to every calibrated camera."""

    id: Identifier = Field(title="Zone id", description="Unique id used in events and the API")
    name: str | None = Field(default=None, max_length=128, description="Human name, e.g. 'Electronics'")
    kind: ZoneKind = Field(default=ZoneKind.OTHER, description="What the area is in the store")
    space: Literal["image", "floor"] = Field(default="image")
    camera: Identifier | None = Field(default=None, description="Camera whose image the polygon is drawn on")
    points: list[Point] = Field(min_length=3, max_length=256, description="Polygon vertices [[x, y], ...]")
    category: str | None = Field(default=None, max_length=128, description="Product category (shelves)")
    labels: dict[Annotated[str, Field(min_length=1, max_length=64)], Annotated[str, Field(max_length=256)]] = Field(
        default_factory=dict, max_length=64, description="Free labels, e.g. SKU group, price tier (data only)"
    )

    @model_validator(mode="after")
    def _camera_for_image_space(self) -> ZoneConfig:
        if self.space == "image" and self.camera is None:
            raise ValueError("an image-space zone needs 'camera' (or set space: floor)")
        return self

    @field_validator("points")
    @classmethod
    def _non_degenerate(cls, pts: list[Point]) -> list[Point]:
        area = 0.0
        for (x1, y1), (x2, y2) in zip(pts, [*pts[1:], pts[0]], strict=True):
            area += x1 * y2 - x2 * y1
        if abs(area) / 2 < 1e-9:
            raise ValueError("polygon has zero area (points are collinear or repeated)")
        return pts

    @property
    def label(self) -> str:
        return self.name or self.id


class LineConfig(StrictModel):
    """A counting line; crossing from the left side to the right side (looking from a to b) is 'in'."""

    id: Identifier
    name: str | None = Field(default=None, max_length=128)
    space: Literal["image", "floor"] = "image"
    camera: Identifier | None = None
    a: Point
    b: Point
    role: Literal["count", "entrance", "storefront"] = Field(
        default="count",
        description=(
            "What the KPIs read from it (issue 20): 'entrance' crossings inward are store entries, "
            "'storefront' crossings (either way) are passers-by outside the store; 'count' is neither"
        ),
    )

    @model_validator(mode="after")
    def _check(self) -> LineConfig:
        if self.space == "image" and self.camera is None:
            raise ValueError("an image-space line needs 'camera'")
        if self.a == self.b:
            raise ValueError("line endpoints a and b must differ")
        return self


class CalibrationConfig(StrictModel):
    """Image → floor homography from 4+ point pairs (image pixels ↔ floor metres)."""

    image_points: list[Point] = Field(min_length=4)
    floor_points: list[Point] = Field(min_length=4)

    @model_validator(mode="after")
    def _pairs(self) -> CalibrationConfig:
        if len(self.image_points) != len(self.floor_points):
            raise ValueError("image_points and floor_points must have the same length")
        return self


class CameraConfig(StrictModel):
    id: Identifier = Field(description="Camera id used in events and topics")
    name: str | None = Field(default=None, max_length=128)
    source: str = Field(
        min_length=1,
        description="File path (relative to the config file), rtsp://, http(s)://, 'webcam:N' or an image folder",
    )
    fps: float = Field(default=10.0, gt=0, le=60, description="Frames per second to analyse (others dropped)")
    max_width: int = Field(default=1280, ge=64, le=7680, description="Frames wider than this are downscaled")
    loop: bool = Field(default=False, description="Replay a file source forever (demos, soak tests)")
    enabled: bool = True
    reconnect_initial_s: float = Field(default=0.5, gt=0, le=60)
    reconnect_max_s: float = Field(default=30.0, gt=0, le=3600)
    calibration: CalibrationConfig | None = None
    detector_input_size: int | None = Field(
        default=None,
        ge=64,
        le=2048,
        description="This camera's detector input (long side), instead of detector.input_size: "
        "`storelens validate --probe` prints the smallest that keeps its people detectable",
    )

    @field_validator("detector_input_size")
    @classmethod
    def _input_multiple_of_32(cls, v: int | None) -> int | None:
        if v is not None and v % 32:
            raise ValueError(f"detector_input_size must be a multiple of 32, got {v}")
        return v

    @model_validator(mode="after")
    def _backoff(self) -> CameraConfig:
        check_backoff(self.reconnect_initial_s, self.reconnect_max_s, "reconnect_initial_s", "reconnect_max_s")
        return self


class FloorPlanConfig(StrictModel):
    """The store floor plan. Floor coordinates are metres from the plan's top-left corner, x to the
    right and y down as the plan is drawn, so a plan image and floor zones line up without a flip."""

    image: str | None = Field(default=None, description="Plan image (PNG/JPG), relative to the config file")
    metres_per_pixel: float | None = Field(default=None, gt=0, le=10, description="Scale of the plan image")
    width_m: float | None = Field(default=None, gt=0, le=10000, description="Floor width in metres")
    height_m: float | None = Field(default=None, gt=0, le=10000, description="Floor depth in metres")

    @model_validator(mode="after")
    def _size_known(self) -> FloorPlanConfig:
        if self.image is None and (self.width_m is None or self.height_m is None):
            raise ValueError("a floor plan without an image needs width_m and height_m")
        if self.image is not None and self.metres_per_pixel is None and self.width_m is None:
            raise ValueError("a floor plan image needs metres_per_pixel or width_m to set its scale")
        return self
