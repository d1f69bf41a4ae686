"""The store configuration: one YAML file describes a store, its cameras, zones and thresholds.

Every model forbids unknown keys (a typo must be an error, not a silently ignored setting) and
every field carries bounds, so `storelens validate` can point at the exact line that is wrong.
Sections that later capabilities add (tracking, emotion, intent, integrations...) are their own
models here, each with defaults that work out of the box.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Coordinate = Annotated[float, Field(allow_inf_nan=False, ge=-1e6, le=1e6)]
"""Pixels or floor metres: finite and bounded, so an API edit can never write NaN/inf or 1e308
into the store file (a NaN vertex used to pass the zero-area check: every comparison is false)."""
Point = tuple[Coordinate, Coordinate]


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
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError("reconnect_max_s must be >= reconnect_initial_s")
        return self


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


class ZoneAnalyticsConfig(StrictModel):
    exit_grace_s: float = Field(default=1.5, ge=0, le=600, description="Outside time tolerated within one stay")
    enter_grace_s: float = Field(default=0.3, ge=0, le=600, description="Inside time needed to count an entry")
    min_dwell_s: float = Field(default=1.0, ge=0, le=3600, description="Shorter stays are not reported")
    dwell_alert_s: float | None = Field(default=None, gt=0, description="Emit zone.dwell_exceeded after this")


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


class HeatmapConfig(StrictModel):
    cell_m: float = Field(default=0.5, ge=0.05, le=10, description="Grid cell on the floor (metres)")
    cell_px: int = Field(default=16, ge=2, le=512, description="Grid cell for uncalibrated cameras (pixels)")
    bucket_s: int = Field(default=900, ge=60, le=86400, description="Time bucket of stored heat-map aggregates")
    max_step_s: float = Field(default=2.0, gt=0, le=60, description="Longest sighting gap credited as dwell")


class QueueConfig(StrictModel):
    """A queue zone served by a checkout zone: wait = queue entry to checkout entry."""

    queue_zone: Identifier = Field(description="Zone id of the queue area")
    checkout_zone: Identifier = Field(description="Zone id of the till/checkout that serves it")
    window_s: float = Field(default=900, ge=30, le=86400, description="Window for arrival/service rates")
    max_wait_s: float = Field(default=1800, gt=0, le=14400, description="Longer queue→checkout gaps are not waits")
    update_interval_s: float = Field(default=5.0, ge=0, le=3600, description="Min seconds between queue.updated")
    sla_wait_s: float | None = Field(
        default=None,
        gt=0,
        le=14400,
        description="Service-level target wait (s), e.g. 180 for '90 % within 3 min'; set: a predicted "
        "wait over it raises an 'open a register' staff alert",
    )
    sla_share: float = Field(default=0.9, gt=0, le=1, description="Share of shoppers to serve within sla_wait_s")
    sla_severity: Literal["info", "warning", "urgent"] = Field(default="warning", description="Of the SLA alert")


class UniformRule(StrictModel):
    """Staff wear a uniform of a known colour: HSV range (OpenCV scale: H 0-179, S and V 0-255)."""

    hsv_low: tuple[int, int, int] = Field(description="Lower HSV bound of the uniform colour")
    hsv_high: tuple[int, int, int] = Field(description="Upper HSV bound of the uniform colour")
    min_pixel_fraction: float = Field(default=0.35, gt=0, le=1, description="Torso share in the colour range")
    min_frame_fraction: float = Field(default=0.5, gt=0, le=1, description="Share of sightings that must match")

    @model_validator(mode="after")
    def _bounds(self) -> UniformRule:
        for lo, hi, top in zip(self.hsv_low, self.hsv_high, (179, 255, 255), strict=True):
            if not 0 <= lo <= hi <= top:
                raise ValueError(f"HSV bounds must satisfy 0 <= low <= high <= {top} per channel")
        return self


class StaffConfig(StrictModel):
    staff_zone_fraction: float = Field(
        default=0.5, gt=0, le=1, description="Visits spending more than this share of time in staff_only zones"
    )
    min_observed_s: float = Field(default=10.0, ge=0, le=86400, description="Observe this long before flagging")
    uniform: UniformRule | None = Field(default=None, description="Optional uniform-colour rule")


class FusionConfig(StrictModel):
    """Multi-camera de-duplication in floor coordinates."""

    max_distance_m: float = Field(default=1.0, gt=0, le=10, description="Same shopper if closer than this")
    max_age_s: float = Field(default=1.0, gt=0, le=30, description="Sightings older than this are dropped")
    handoff_s: float = Field(
        default=5.0, ge=0, le=60, description="A shopper unseen this long may reappear (next camera, new track)"
    )
    handoff_speed_mps: float = Field(
        default=2.0, gt=0, le=10, description="Fastest walk assumed across a camera gap (hand-off gate)"
    )
    appearance_min: float = Field(
        default=0.86,
        ge=0,
        le=1,
        description="Clothing-colour similarity below which two sightings are not one shopper (when cameras give it)",
    )
    appearance_weight_m: float = Field(
        default=2.0, ge=0, le=20, description="Hand-off cost, in metres of miss, of a colour similarity of 0 vs 1"
    )
    switch_s: float = Field(
        default=0.6, gt=0, le=30, description="A camera track this long unlike its store shopper's colours is re-linked"
    )


class BehaviourConfig(StrictModel):
    """Thresholds of the store-space behaviour measures (revisits, lingering, paths, heat maps...)."""

    revisit_gap_s: float = Field(default=30.0, ge=0, le=86400, description="Away this long, then back = revisit")
    lingering_speed_mps: float = Field(default=0.2, gt=0, le=5, description="Slower than this (m/s) = lingering")
    lingering_speed_px_s: float = Field(default=15.0, gt=0, le=5000, description="Same, uncalibrated (px/s)")
    lingering_min_s: float = Field(default=5.0, ge=0, le=3600, description="Slow this long in a zone to linger")
    speed_window_s: float = Field(default=1.0, gt=0, le=30, description="Speed measured over this window")
    speed_smoothing_s: float = Field(
        default=1.0, ge=0, le=30, description="Feet positions smoothed with this time constant first (0 = raw)"
    )
    path_min_step_m: float = Field(default=0.25, ge=0, le=10, description="Path points at least this far apart")
    path_min_step_px: float = Field(default=8.0, ge=0, le=1000, description="Same, uncalibrated (pixels)")
    path_max_points: int = Field(default=500, ge=2, le=100000, description="Longer paths are thinned")
    subject_timeout_s: float = Field(default=5.0, gt=0, le=3600, description="Unseen this long = visit over")
    line_hysteresis_m: float = Field(default=0.1, ge=0, le=5, description="Dead band around counting lines (m)")
    line_hysteresis_px: float = Field(default=4.0, ge=0, le=500, description="Same, uncalibrated (pixels)")
    hip_to_floor_ratio: float = Field(
        default=1.7, gt=0.5, le=4, description="Hip-to-floor / shoulder-to-hip length, for occluded feet"
    )
    aggregate_buckets_s: list[int] = Field(
        default_factory=lambda: [900, 3600, 86400], min_length=1, description="Aggregate bucket sizes (s)"
    )
    heatmap: HeatmapConfig = Field(default_factory=HeatmapConfig)
    queues: list[QueueConfig] = Field(
        default_factory=list, description="Queue/checkout pairs; empty: each queue zone pairs with the checkouts"
    )
    staff: StaffConfig = Field(default_factory=StaffConfig)
    fusion: FusionConfig = Field(default_factory=FusionConfig)

    @field_validator("aggregate_buckets_s")
    @classmethod
    def _buckets(cls, v: list[int]) -> list[int]:
        for b in v:
            if b < 60 or 86400 % b:
                raise ValueError(f"aggregate bucket {b} s must be >= 60 and divide a day (86400 s)")
        return sorted(set(v))


class ReachConfig(StrictModel):
    """When a wrist near a shelf counts as a reach (all times in seconds of media time)."""

    min_visibility: float = Field(
        default=0.5, ge=0, le=1, description="Keypoints less visible than this are treated as unseen"
    )
    smoothing_s: float = Field(
        default=0.1, ge=0, le=5, description="Time constant of the exponential smoothing of hand points"
    )
    enter_s: float = Field(default=0.2, ge=0, le=10, description="Hand inside this long before a reach starts")
    exit_s: float = Field(default=0.3, ge=0, le=10, description="Hand outside this long before a reach ends")
    min_duration_s: float = Field(default=0.4, ge=0, le=60, description="Shorter reaches are not reported")
    occlusion_hold_s: float = Field(
        default=1.0, ge=0, le=30, description="Unseen hand keeps a reach open this long before it is closed"
    )
    min_extension: float = Field(
        default=0.45,
        ge=0,
        le=3,
        description="Hand must be this far from the torso (in torso lengths), or above the shoulders, to reach",
    )
    forearm_ratio: float = Field(
        default=0.85, gt=0, le=2, description="Forearm/upper-arm length, to place an unseen wrist from the elbow"
    )
    use_elbow_extension: bool = Field(default=True, description="Estimate an unseen wrist from shoulder->elbow")


class PickupConfig(StrictModel):
    """Pick-up vs put-back from the change of the shelf's appearance around a reach."""

    enabled: bool = Field(default=True, description="Compare shelf crops before/after each reach")
    cell_px: int = Field(default=12, ge=4, le=128, description="Side of the change-detection grid cell (pixels)")
    region_scale: float = Field(
        default=0.35, gt=0, le=3, description="Radius around the hand path checked for change, in box heights"
    )
    change_threshold: float = Field(
        default=0.35, gt=0, le=2, description="Per-cell change score (1 - correlation) above which a cell changed"
    )
    min_changed_cells: int = Field(default=2, ge=1, le=10000, description="Fewer changed cells: no decision")
    min_valid_fraction: float = Field(
        default=0.4, gt=0, le=1, description="Share of the region that must be unoccluded before and after"
    )
    history_s: float = Field(default=2.0, gt=0, le=30, description="Shelf crops kept to find a clean 'before'")
    max_wait_s: float = Field(
        default=8.0, ge=0, le=300, description="How long to wait for an unoccluded 'after' view of the shelf"
    )
    occluder_margin: float = Field(
        default=0.08, ge=0, le=1, description="Person masks grown by this share of the box height"
    )


class AttentionConfig(StrictModel):
    """When a shopper counts as attending to a shelf or display."""

    max_angle_deg: float = Field(
        default=35.0, gt=0, le=180, description="Facing within this angle of the zone (image-plane estimate)"
    )
    max_speed: float = Field(
        default=0.35, gt=0, le=20, description="Slower than this (box heights per second) = slow or still"
    )
    speed_smoothing_s: float = Field(default=0.5, ge=0, le=10, description="Time constant of the speed estimate")
    min_confidence: float = Field(default=0.3, ge=0, le=1, description="Orientation estimates below are ignored")
    enter_s: float = Field(default=1.0, ge=0, le=60, description="Attending this long before attention starts")
    exit_s: float = Field(default=0.7, ge=0, le=60, description="Not attending this long before it ends")
    camera_facing_zones: list[Identifier] = Field(
        default_factory=list,
        description="Display zones mounted at the camera (signage): attention = standing in the zone's "
        "viewing area while facing the camera",
    )


class InventoryConfig(StrictModel):
    """Shelf emptiness against a 'stocked' reference, and demand against replenishment."""

    enabled: bool = Field(default=True, description="Estimate shelf emptiness and raise inventory alerts")
    cell_px: int = Field(default=16, ge=4, le=256, description="Side of a shelf grid cell (pixels)")
    interval_s: float = Field(default=30.0, ge=0, le=86400, description="Seconds between empty-area estimates")
    max_occluded_fraction: float = Field(
        default=0.25, ge=0, le=1, description="Skip estimates when more of the shelf than this is occluded"
    )
    empty_texture_ratio: float = Field(
        default=0.5, gt=0, lt=1, description="A cell whose texture fell below this share of the reference is empty"
    )
    min_reference_texture: float = Field(
        default=0.02, ge=0, le=1, description="Cells with less texture in the reference are not judged"
    )
    empty_alert_fraction: float = Field(
        default=0.3, gt=0, le=1, description="inventory.alert when this share of judged cells is empty"
    )
    rate_window_s: float = Field(default=3600.0, gt=0, le=7 * 86400, description="Window for shelf demand")
    expected_picks_per_hour: dict[Identifier, float] = Field(
        default_factory=dict, description="Per shelf zone id: how many picks per hour replenishment keeps up with"
    )
    default_expected_picks_per_hour: float | None = Field(
        default=None, gt=0, description="For shelves not listed above (None: no demand alert)"
    )
    count_reaches: bool = Field(
        default=True, description="Count reaches as demand where pick/put-back could not be told"
    )
    alert_cooldown_s: float = Field(default=600.0, ge=0, le=86400, description="Min seconds between alerts")

    @field_validator("expected_picks_per_hour")
    @classmethod
    def _positive_rates(cls, v: dict[str, float]) -> dict[str, float]:
        for k, rate in v.items():
            if not rate > 0:
                raise ValueError(f"expected_picks_per_hour[{k!r}] must be > 0, got {rate}")
        return v


class InteractionConfig(StrictModel):
    """Shelf and display interaction from body keypoints: reaches, pick-ups, attention, shelf state."""

    enabled: bool = Field(default=True, description="Run the interaction stage on cameras with shelf zones")
    reach: ReachConfig = Field(default_factory=ReachConfig)
    pickup: PickupConfig = Field(default_factory=PickupConfig)
    attention: AttentionConfig = Field(default_factory=AttentionConfig)
    inventory: InventoryConfig = Field(default_factory=InventoryConfig)


class OutputConfig(StrictModel):
    annotated_video: bool = True
    jsonl: bool = True
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in the output dir")


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


ActionEndpointKind = Literal["log", "webhook", "mqtt"]


def _needs_target(endpoint: str, target: str | None, what: str) -> None:
    if endpoint in ("webhook", "mqtt") and not target:
        raise ValueError(f"{what}: endpoint {endpoint!r} needs a target (URL or MQTT topic)")
    if endpoint == "webhook" and target and not target.startswith(("http://", "https://")):
        raise ValueError(f"{what}: webhook target must be an http(s) URL, got {target!r}")


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ALL_WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class QuietHoursConfig(StrictModel):
    """A daily window (store local time) with no promotions; ``end`` before ``start`` wraps midnight."""

    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, store local time")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, store local time")
    days: list[Weekday] = Field(
        default_factory=lambda: list(ALL_WEEKDAYS),
        min_length=1,
        description="Days the window starts on",
    )

    @model_validator(mode="after")
    def _non_empty(self) -> QuietHoursConfig:
        if self.start == self.end:
            raise ValueError("quiet hours start and end must differ")
        return self


class PromotionRuleConfig(StrictModel):
    """When a visit has been in ``state`` (in ``category``) for ``min_state_s``, show ``content`` on
    ``display``. The payload sent to the display has no personal data: rule, display, category."""

    id: Identifier
    state: IntentStateName = Field(default=IntentStateName.CONSIDERING, description="Intent state to act on")
    category: str | None = Field(default=None, max_length=128, description="Category; empty = any")
    min_state_s: float = Field(default=30.0, ge=0, le=3600, description="Seconds in the state first")
    display: Identifier = Field(description="Signage display id")
    endpoint: ActionEndpointKind = Field(default="log", description="log, webhook or mqtt")
    target: str | None = Field(default=None, max_length=512, description="Webhook URL or MQTT topic")
    content: str | None = Field(default=None, max_length=128, description="Creative / campaign id to show")

    @model_validator(mode="after")
    def _target(self) -> PromotionRuleConfig:
        _needs_target(self.endpoint, self.target, f"promotion rule {self.id!r}")
        return self


class PromotionsConfig(StrictModel):
    enabled: bool = True
    rules: list[PromotionRuleConfig] = Field(default_factory=list)
    max_per_visit: int = Field(default=1, ge=0, le=100, description="Promotions one visit can trigger")
    display_cooldown_s: float = Field(default=60.0, ge=0, le=86400, description="Quiet gap per display")
    max_per_display_per_hour: int = Field(default=30, ge=0, le=3600, description="Cap per display and hour")
    quiet_hours: list[QuietHoursConfig] = Field(default_factory=list, description="No promotions in these")
    holdout_share: float = Field(
        default=0.0,
        ge=0.0,
        le=0.9,
        description=(
            "Share of triggers held out at random (recorded, not shown) so GET /kpis/experiments can "
            "measure the uplift against them; 0 runs no experiment"
        ),
    )


class AlertRuleConfig(StrictModel):
    """Raise a staff alert when a visit enters ``state`` (and has held it ``min_state_s``)."""

    id: Identifier
    state: IntentStateName = Field(default=IntentStateName.NEEDS_ASSISTANCE)
    min_state_s: float = Field(default=0.0, ge=0, le=3600, description="Seconds in the state first")
    zone_kinds: list[ZoneKind] = Field(default_factory=list, description="Only in these zone kinds; empty = any")
    severity: Literal["info", "warning", "urgent"] = "warning"
    endpoint: ActionEndpointKind = Field(default="log", description="log, webhook or mqtt")
    target: str | None = Field(default=None, max_length=512, description="Webhook URL or MQTT topic")

    @model_validator(mode="after")
    def _target(self) -> AlertRuleConfig:
        _needs_target(self.endpoint, self.target, f"alert rule {self.id!r}")
        return self


def _default_alert_rules() -> list[AlertRuleConfig]:
    return [AlertRuleConfig(id="assist", state=IntentStateName.NEEDS_ASSISTANCE)]


ForecastMetric = Literal["entries", "conversion"]


def _all_forecast_metrics() -> list[ForecastMetric]:
    return ["entries", "conversion"]


class ForecastAnomalyConfig(StrictModel):
    """Staff alerts when an hour's traffic or conversion leaves the forecast band (issue 20)."""

    enabled: bool = True
    alpha: float = Field(
        default=0.001,
        gt=0,
        le=0.2,
        description="Per-hour false-alarm rate of the band (docs/KPIS.md: alarms per 1,000 normal hours)",
    )
    k: int = Field(default=4, ge=1, le=12, description="Weeks averaged by the seasonal-mean forecast")
    history_weeks: int = Field(default=8, ge=3, le=104, description="Stored weeks the band is fitted on")
    metrics: list[ForecastMetric] = Field(default_factory=_all_forecast_metrics)
    conversion_window_h: int = Field(
        default=3,
        ge=1,
        le=24,
        description="Conversion is judged over the last this many hours (one hour's buyers are too few to tell)",
    )
    severity: Literal["info", "warning", "urgent"] = "warning"


class AlertsConfig(StrictModel):
    enabled: bool = True
    rules: list[AlertRuleConfig] = Field(default_factory=_default_alert_rules)
    cooldown_visit_s: float = Field(default=300.0, ge=0, le=86400, description="No new alert for a visit")
    cooldown_zone_s: float = Field(default=120.0, ge=0, le=86400, description="No new alert in a zone")
    escalate_after_min: float = Field(
        default=3.0, ge=0, le=1440, description="Escalate if not acknowledged after this (0 = never)"
    )
    close_on_leave: bool = Field(default=True, description="Close the alert when the shopper leaves")
    forecast_anomaly: ForecastAnomalyConfig = Field(default_factory=ForecastAnomalyConfig)


class InventoryActionsConfig(StrictModel):
    """Shelf alerts from interaction signals (picks, returns, reaches) per shelf and time window."""

    enabled: bool = True
    window_min: float = Field(default=30.0, gt=0, le=1440, description="Counting window per shelf")
    picks_alert: int = Field(default=25, ge=1, le=100000, description="Picks in the window: replenish")
    returns_alert: int = Field(default=6, ge=1, le=100000, description="Returns in the window: check shelf")
    reaches_without_pick: int = Field(
        default=8, ge=1, le=100000, description="Reaches in a row with no pick: shelf may be empty"
    )
    cooldown_min: float = Field(default=30.0, ge=0, le=1440, description="Per shelf and reason")
    forward_interaction_alerts: bool = Field(
        default=True, description="Deliver inventory.alert events from the interaction stage too"
    )
    endpoint: ActionEndpointKind = Field(default="log", description="log, webhook or mqtt")
    target: str | None = Field(default=None, max_length=512, description="Webhook URL or MQTT topic")

    @model_validator(mode="after")
    def _target(self) -> InventoryActionsConfig:
        _needs_target(self.endpoint, self.target, "actions.inventory")
        return self


class ActionsConfig(StrictModel):
    """What storelens does with intent: promotions, staff alerts, inventory alerts."""

    enabled: bool = True
    dry_run: bool = Field(default=False, description="Record every action as an event but send nothing")
    promotions: PromotionsConfig = Field(default_factory=PromotionsConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    inventory: InventoryActionsConfig = Field(default_factory=InventoryActionsConfig)

    @model_validator(mode="after")
    def _unique_rules(self) -> ActionsConfig:
        _unique([r.id for r in self.promotions.rules], "promotion rule")
        _unique([r.id for r in self.alerts.rules], "alert rule")
        return self


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


class StorageConfig(StrictModel):
    """How the database sink batches, spools and retains data (the URL is ``output.database_url``)."""

    batch_size: int = Field(default=1000, ge=1, le=100_000, description="Events per transaction at most")
    flush_interval_s: float = Field(default=0.5, gt=0, le=60, description="Write a partial batch after this")
    spool_dir: str | None = Field(
        default=None, description="Where events wait while the database is down (default: next to the database)"
    )
    spool_max_events: int = Field(
        default=1_000_000, ge=1000, le=100_000_000, description="Spool bound; the oldest are dropped beyond it"
    )
    retry_initial_s: float = Field(default=0.5, gt=0, le=60, description="First retry delay after an error")
    retry_max_s: float = Field(default=30.0, gt=0, le=3600, description="Longest retry delay")
    aggregate_buckets_s: list[int] = Field(
        default_factory=lambda: [300, 3600],
        min_length=1,
        max_length=8,
        description="Time-bucket sizes (seconds) of the incremental aggregates",
    )

    @field_validator("aggregate_buckets_s")
    @classmethod
    def _buckets(cls, v: list[int]) -> list[int]:
        for b in v:
            if not 60 <= b <= 86_400 * 31:
                raise ValueError(f"bucket size {b} s out of range [60, 2678400]")
        return sorted(set(v))

    @model_validator(mode="after")
    def _backoff(self) -> StorageConfig:
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError("retry_max_s must be >= retry_initial_s")
        return self


class TlsConfig(StrictModel):
    """TLS for a broker connection (files are PEM)."""

    enabled: bool = Field(default=False, description="Use TLS")
    ca_file: str | None = Field(default=None, description="CA bundle to verify the server (default: system)")
    cert_file: str | None = Field(default=None, description="Client certificate (mutual TLS)")
    key_file: str | None = Field(default=None, description="Client private key (mutual TLS)")
    insecure: bool = Field(default=False, description="Skip hostname verification (testing only)")

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together")
        return self


class MqttConfig(StrictModel):
    """Publish events to an MQTT broker (v5). Off unless ``enabled``."""

    enabled: bool = Field(default=False, description="Publish events over MQTT")
    host: str = Field(default="127.0.0.1", min_length=1, max_length=255)
    port: int = Field(default=1883, ge=1, le=65535)
    client_id: str | None = Field(default=None, max_length=128, description="Default: storelens-<store>-<random>")
    username: str | None = Field(default=None, max_length=256)
    password_env: str | None = Field(
        default=None, max_length=128, description="Environment variable holding the password"
    )
    tls: TlsConfig = Field(default_factory=TlsConfig)
    topic_prefix: str = Field(default="storelens", min_length=1, max_length=128, pattern=r"^[^#+]+$")
    qos: Literal[0, 1, 2] = Field(default=1, description="QoS of event messages")
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    reconnect_min_s: float = Field(default=1.0, gt=0, le=60)
    reconnect_max_s: float = Field(default=60.0, gt=0, le=3600)
    outbox_max: int = Field(
        default=100_000, ge=100, le=10_000_000, description="Unacknowledged messages kept; oldest dropped (counted)"
    )
    spool_dir: str | None = Field(default=None, description="Folder of the outbox journal (default: state dir)")
    types: list[str] = Field(default_factory=list, description="Event type prefixes to publish; empty = all")
    ha_discovery: bool = Field(default=False, description="Publish Home Assistant discovery for zone sensors")
    ha_discovery_prefix: str = Field(default="homeassistant", min_length=1, max_length=128)

    @model_validator(mode="after")
    def _backoff(self) -> MqttConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self


class NatsConfig(StrictModel):
    """Publish events to NATS JetStream (edge → central transport). Off unless ``enabled``."""

    enabled: bool = Field(default=False, description="Publish events to JetStream")
    servers: list[str] = Field(default_factory=lambda: ["nats://127.0.0.1:4222"], min_length=1)
    stream: str = Field(default="STORELENS", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    subject_prefix: str = Field(default="storelens", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    user: str | None = Field(default=None, max_length=256)
    password_env: str | None = Field(default=None, max_length=128, description="Env var with the password")
    token_env: str | None = Field(default=None, max_length=128, description="Env var with an auth token")
    creds_file: str | None = Field(default=None, description="NATS credentials file (JWT + nkey)")
    tls: TlsConfig = Field(default_factory=TlsConfig)
    max_age_s: float = Field(default=7 * 86400, gt=0, le=365 * 86400, description="Stream retention")
    duplicate_window_s: float = Field(default=600, gt=0, le=86400, description="JetStream de-dup window")
    ack_timeout_s: float = Field(default=5.0, gt=0, le=120)
    outbox_max: int = Field(
        default=100_000, ge=100, le=10_000_000, description="Unacknowledged messages kept; oldest dropped (counted)"
    )
    spool_dir: str | None = Field(default=None, description="Folder of the outbox journal (default: state dir)")
    types: list[str] = Field(default_factory=list, description="Event type prefixes to publish; empty = all")


class WebhookSubscriptionConfig(StrictModel):
    """One receiver: where to POST, how to sign, which events."""

    id: Identifier = Field(description="Subscription id (stored with each delivery)")
    url: str = Field(min_length=8, max_length=2048, pattern=r"^https?://", description="http(s) URL to POST to")
    secret: str | None = Field(default=None, min_length=16, max_length=512, description="HMAC secret (prefer env)")
    secret_env: str | None = Field(default=None, max_length=128, description="Env var holding the HMAC secret")
    types: list[str] = Field(
        default_factory=list, description="Event types; a value ending in '.' is a prefix; empty = all"
    )
    enabled: bool = True

    @model_validator(mode="after")
    def _one_secret(self) -> WebhookSubscriptionConfig:
        if (self.secret is None) == (self.secret_env is None):
            raise ValueError("give exactly one of 'secret' or 'secret_env'")
        return self


class WebhooksConfig(StrictModel):
    """Signed webhook deliveries with a persisted outbox. Off unless subscriptions are given."""

    subscriptions: list[WebhookSubscriptionConfig] = Field(default_factory=list)
    max_attempts: int = Field(default=8, ge=1, le=100, description="Dead-letter after this many failures")
    backoff_initial_s: float = Field(default=2.0, gt=0, le=3600)
    backoff_max_s: float = Field(default=600.0, gt=0, le=86400)
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="Per-request timeout")
    concurrency: int = Field(default=4, ge=1, le=64, description="Parallel deliveries")
    replay_window_s: int = Field(default=300, ge=10, le=86400, description="Receivers reject older timestamps")

    @model_validator(mode="after")
    def _check(self) -> WebhooksConfig:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must be >= backoff_initial_s")
        ids = [s.id for s in self.subscriptions]
        if len(ids) != len(set(ids)):
            raise ValueError("webhook subscription ids must be unique")
        return self


class RetentionConfig(StrictModel):
    """How long each class of data is kept, in days (``null`` = keep until deleted by hand).

    Raw per-visit data (events, visits, paths) should go first; aggregates carry no subject ids
    and may outlive it (the reports are built on them). The purge runs every
    ``purge_interval_s`` inside ``storelens serve`` and on demand with ``storelens purge``."""

    events_days: float | None = Field(default=30, gt=0, le=3650, description="Events, alerts and promotions")
    visits_days: float | None = Field(default=30, gt=0, le=3650, description="Visit rows (dwell, intent timeline)")
    paths_days: float | None = Field(
        default=7, gt=0, le=3650, description="Movement paths inside visits and visit.ended events (stripped first)"
    )
    aggregates_days: float | None = Field(
        default=400, gt=0, le=36500, description="Per-zone time-bucket aggregates and POS transactions"
    )
    snapshots_days: float | None = Field(default=7, gt=0, le=3650, description="Stored (redacted, encrypted) images")
    audit_days: float | None = Field(default=400, gt=0, le=36500, description="Audit log records")
    purge_interval_s: float = Field(default=3600, ge=60, le=7 * 86400, description="Seconds between scheduled purges")

    @model_validator(mode="after")
    def _paths_within_visits(self) -> RetentionConfig:
        if self.paths_days is not None and self.visits_days is not None and self.paths_days > self.visits_days:
            raise ValueError("paths_days must be <= visits_days (a path cannot outlive its visit)")
        return self


class PrivacyMaskConfig(StrictModel):
    """A polygon, in the native pixels of ``camera``, filled solid in every frame that leaves the
    pipeline (a neighbour's window, a staff room door, a till's PIN pad)."""

    camera: Identifier = Field(description="Camera whose image the polygon is drawn on")
    name: str | None = Field(default=None, max_length=128, description="What is masked, e.g. 'PIN pad'")
    points: list[Point] = Field(min_length=3, max_length=256, description="Polygon vertices [[x, y], ...]")


EU_JURISDICTIONS = frozenset(
    [
        "EU",
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)
"""``privacy.jurisdiction`` values under the EU AI Act: the Union and its 27 member states."""


class PrivacyConfig(StrictModel):
    """Privacy by design (PRIVACY.md): redaction, retention, aggregate-only mode, masks, notice text.

    Redaction of heads and faces on every outgoing frame has no switch: it is always on."""

    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    aggregate_only: bool = Field(
        default=False,
        description="No per-visit record leaves the edge: events lose their subject id, per-visit event "
        "types are dropped, and the visit/event/export API answers 404",
    )
    masks: list[PrivacyMaskConfig] = Field(default_factory=list, description="Privacy-mask polygons per camera")
    face_detection: bool = Field(
        default=True, description="Also blur faces found by the face detector (in addition to pose head boxes)"
    )
    snapshot_dir: str | None = Field(
        default=None, description="Encrypted snapshot/clip store (default: 'snapshots' next to the database)"
    )
    controller: str | None = Field(default=None, max_length=256, description="Data controller named in the report")
    contact: str | None = Field(default=None, max_length=256, description="Privacy contact named in the report")
    jurisdiction: str = Field(
        default="EU",
        pattern=r"^(EU|[A-Z]{2})$",
        description="Where the store is: 'EU' or an ISO 3166-1 alpha-2 country code. In the EU (and its "
        "member states' codes) emotion recognition is off unless emotion.enabled is set explicitly",
    )
    legal_basis: str | None = Field(
        default=None,
        max_length=512,
        description="The GDPR Art. 6 legal basis the controller relies on (shown on /privacy and in the DPIA draft), "
        "e.g. 'legitimate interests (Art. 6(1)(f)): store layout and staffing'",
    )
    public_url: str | None = Field(
        default=None,
        max_length=512,
        description="Address customers reach the /privacy page at (the QR code on the printed sign); "
        "default: the API's own address",
    )

    @property
    def in_eu(self) -> bool:
        """The store is under the EU AI Act (Regulation 2024/1689) and the GDPR."""
        return self.jurisdiction in EU_JURISDICTIONS


class ApiTlsConfig(StrictModel):
    """TLS for the API server (PEM files). Off unless both files are given."""

    cert_file: str | None = Field(default=None, description="Server certificate chain (PEM)")
    key_file: str | None = Field(default=None, description="Server private key (PEM)")
    min_version: Literal["TLSv1.2", "TLSv1.3"] = Field(default="TLSv1.2", description="Oldest TLS version accepted")

    @model_validator(mode="after")
    def _pair(self) -> ApiTlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together")
        return self

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


class SecurityConfig(StrictModel):
    """Authentication, sessions, lockout, encryption keys and HTTP hardening (SECURITY.md)."""

    tls: ApiTlsConfig = Field(default_factory=ApiTlsConfig)
    session_lifetime_h: float = Field(default=12, gt=0, le=24 * 30, description="Dashboard session lifetime (h)")
    session_idle_min: float = Field(default=60, gt=0, le=24 * 60, description="Session ends after this idle time")
    cookie_secure: bool = Field(
        default=True, description="Mark cookies Secure (browsers still send them to http://localhost)"
    )
    login_max_failures: int = Field(default=5, ge=1, le=100, description="Failed logins in a row before lockout")
    lockout_min: float = Field(default=15, gt=0, le=24 * 60, description="Minutes an account stays locked")
    login_rate_per_min: int = Field(default=10, ge=1, le=10_000, description="Login attempts per client per minute")
    password_min_length: int = Field(default=12, ge=8, le=256, description="Shortest password accepted")
    token_default_days: float = Field(default=90, gt=0, le=3650, description="API token lifetime unless given")
    token_max_days: float = Field(default=365, gt=0, le=3650, description="Longest API token lifetime")
    key_file: str | None = Field(
        default=None, description="Encryption key file for stored imagery (lines 'key-id:base64-32-bytes')"
    )
    key_env: str = Field(
        default="STORELENS_DATA_KEYS",
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable with the keys (same format, ';'-separated), used if no key_file",
    )
    audit_key_file: str | None = Field(
        default=None,
        description=(
            "HMAC key sealing the audit log's head and anchor, kept outside the database (created 0600 "
            "if missing; $STORELENS_AUDIT_KEY overrides it). Default: <database>.audit-key next to a "
            "SQLite database; PostgreSQL needs this or the variable"
        ),
    )
    max_request_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, le=1024**3, description="Larger request bodies get 413"
    )
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed cross-site; empty = CORS off")
    trusted_proxies: list[str] = Field(
        default_factory=list, description="Proxy IPs whose X-Forwarded-For is believed (for rate limiting)"
    )

    @model_validator(mode="after")
    def _token_days(self) -> SecurityConfig:
        if self.token_default_days > self.token_max_days:
            raise ValueError("token_default_days must be <= token_max_days")
        return self


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
    intent: IntentConfig = Field(default_factory=IntentConfig)
    actions: ActionsConfig = Field(default_factory=ActionsConfig)
    floor_plan: FloorPlanConfig | None = Field(default=None, description="Store floor plan (for heat maps)")
    behaviour: BehaviourConfig = Field(default_factory=BehaviourConfig)
    interaction: InteractionConfig = Field(default_factory=InteractionConfig)
    emotion: EmotionConfig = Field(default_factory=EmotionConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    nats: NatsConfig = Field(default_factory=NatsConfig)
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)

    # where the file was loaded from, to resolve relative paths; not part of the YAML
    base_dir: Path | None = Field(default=None, exclude=True, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _emotion_default(cls, data: Any) -> Any:
        """In the EU emotion recognition is off unless the store turned it on explicitly: the AI Act
        forbids it on people at work (Art. 5(1)(f)) and makes it a high-risk use with notice duties
        otherwise (Annex III 1(c), Art. 50(3)), so it must be a decision, not a default."""
        if not isinstance(data, dict):
            return data
        priv = data.get("privacy")
        jur = priv.get("jurisdiction", "EU") if isinstance(priv, dict) else getattr(priv, "jurisdiction", "EU")
        if jur not in EU_JURISDICTIONS:
            return data
        emo = data.get("emotion")
        if emo is None:
            return {**data, "emotion": {"enabled": False}}
        if isinstance(emo, dict) and "enabled" not in emo:
            return {**data, "emotion": {**emo, "enabled": False}}
        if isinstance(emo, EmotionConfig) and "enabled" not in emo.model_fields_set:
            return {**data, "emotion": emo.model_copy(update={"enabled": False})}
        return data

    @model_validator(mode="after")
    def _references(self) -> StoreConfig:
        # The rules live in config/references.py (the loader reports all of them at once, with the
        # schema errors); a model raises the first. Its message starts with the field path, which
        # the loader uses to point at the right YAML line.
        from storelens.config.references import format_loc, reference_issues

        issues = reference_issues(self.model_dump(mode="json"))
        if issues:
            loc, message = issues[0]
            raise ValueError(f"{format_loc(loc)}: {message}")
        return self

    def camera(self, camera_id: str) -> CameraConfig:
        for c in self.cameras:
            if c.id == camera_id:
                return c
        raise KeyError(camera_id)

    def zones_for(self, camera_id: str) -> list[ZoneConfig]:
        return [z for z in self.zones if z.space == "image" and z.camera == camera_id]

    def detector_for(self, camera_id: str) -> DetectorConfig:
        """The detector settings one camera runs with (its own input size, if it sets one)."""
        size = self.camera(camera_id).detector_input_size
        return self.detector if size is None else self.detector.model_copy(update={"input_size": size})

    def resolve_path(self, value: str) -> Path:
        p = Path(value).expanduser()
        if not p.is_absolute() and self.base_dir is not None:
            p = self.base_dir / p
        return p


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for n, i in enumerate(ids):
        if i in seen:
            raise ValueError(f"{what}[{n}].id: duplicate id {i!r}")
        seen.add(i)
