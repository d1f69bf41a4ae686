"""Store-space behaviour: zone stays, heat maps, queues, staff, multi-camera fusion, paths.

Thresholds of the measures built on tracks in the store (dwell, revisits, lingering, line counts,
queue waits), which the analytics stages and the store-level fusion read.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from storelens.config.base import Identifier, StrictModel


class ZoneAnalyticsConfig(StrictModel):
    exit_grace_s: float = Field(default=1.5, ge=0, le=600, description="Outside time tolerated within one stay")
    enter_grace_s: float = Field(default=0.3, ge=0, le=600, description="Inside time needed to count an entry")
    min_dwell_s: float = Field(default=1.0, ge=0, le=3600, description="Shorter stays are not reported")
    dwell_alert_s: float | None = Field(default=None, gt=0, description="Emit zone.dwell_exceeded after this")


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
