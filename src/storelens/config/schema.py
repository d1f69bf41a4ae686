"""The store configuration: one YAML file describes a store, its cameras, zones and thresholds.

Every model forbids unknown keys (a typo must be an error, not a silently ignored setting) and
every field carries bounds, so `storelens validate` can point at the exact line that is wrong.
Sections that later capabilities add (tracking, emotion, intent, integrations...) are their own
models here, each with defaults that work out of the box.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Point = tuple[float, float]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), validate_assignment=True)


class ZoneKind(StrEnum):
    ENTRANCE = "entrance"
    AISLE = "aisle"
    SHELF = "shelf"
    DISPLAY = "display"
    CHECKOUT = "checkout"
    QUEUE = "queue"
    STAFF_ONLY = "staff_only"
    OTHER = "other"


Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]


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
    labels: dict[str, str] = Field(default_factory=dict, description="Free labels, e.g. SKU group, price tier")

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

    @model_validator(mode="after")
    def _backoff(self) -> CameraConfig:
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError("reconnect_max_s must be >= reconnect_initial_s")
        return self


class DetectorConfig(StrictModel):
    model: str = Field(default="yolo11n-pose", description="Vendored model name or a path to a YOLO ONNX file")
    classes: list[str] | None = Field(default=None, description="Class names of a custom model (index order)")
    person_class: int = Field(default=0, ge=0)
    input_size: int = Field(default=640, ge=64, le=2048, description="Long side of the letterboxed input")
    confidence: float = Field(default=0.25, ge=0.0, le=1.0)
    nms_iou: float = Field(default=0.6, gt=0.0, le=1.0)
    max_detections: int = Field(default=100, ge=1, le=1000)
    threads: int = Field(default=0, ge=0, le=64, description="onnxruntime intra-op threads (0 = all cores)")
    device: Literal["auto", "cpu", "cuda"] = "auto"

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


class ZoneAnalyticsConfig(StrictModel):
    exit_grace_s: float = Field(default=1.5, ge=0, le=600, description="Outside time tolerated within one stay")
    enter_grace_s: float = Field(default=0.3, ge=0, le=600, description="Inside time needed to count an entry")
    min_dwell_s: float = Field(default=1.0, ge=0, le=3600, description="Shorter stays are not reported")
    dwell_alert_s: float | None = Field(default=None, gt=0, description="Emit zone.dwell_exceeded after this")


class OutputConfig(StrictModel):
    annotated_video: bool = True
    jsonl: bool = True
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in the output dir")


class StoreConfig(StrictModel):
    """A whole store."""

    store_id: Identifier = Field(description="Store id used in events, topics and the API")
    name: str | None = Field(default=None, max_length=128)
    timezone: str = Field(default="UTC", max_length=64)
    cameras: list[CameraConfig] = Field(min_length=1)
    zones: list[ZoneConfig] = Field(default_factory=list)
    lines: list[LineConfig] = Field(default_factory=list)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    zone_analytics: ZoneAnalyticsConfig = Field(default_factory=ZoneAnalyticsConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    # where the file was loaded from, to resolve relative paths; not part of the YAML
    base_dir: Path | None = Field(default=None, exclude=True, repr=False)

    @model_validator(mode="after")
    def _references(self) -> StoreConfig:
        cam_ids = [c.id for c in self.cameras]
        _unique(cam_ids, "camera")
        _unique([z.id for z in self.zones], "zone")
        _unique([ln.id for ln in self.lines], "line")
        for z in self.zones:
            if z.camera is not None and z.camera not in cam_ids:
                raise ValueError(f"zone {z.id!r} refers to unknown camera {z.camera!r} (known: {cam_ids})")
            if z.space == "floor" and not any(c.calibration for c in self.cameras):
                raise ValueError(f"zone {z.id!r} is in floor space but no camera has a calibration")
        for ln in self.lines:
            if ln.camera is not None and ln.camera not in cam_ids:
                raise ValueError(f"line {ln.id!r} refers to unknown camera {ln.camera!r}")
        return self

    def camera(self, camera_id: str) -> CameraConfig:
        for c in self.cameras:
            if c.id == camera_id:
                return c
        raise KeyError(camera_id)

    def zones_for(self, camera_id: str) -> list[ZoneConfig]:
        return [z for z in self.zones if z.space == "image" and z.camera == camera_id]

    def resolve_path(self, value: str) -> Path:
        p = Path(value).expanduser()
        if not p.is_absolute() and self.base_dir is not None:
            p = self.base_dir / p
        return p


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise ValueError(f"duplicate {what} id {i!r}")
        seen.add(i)
