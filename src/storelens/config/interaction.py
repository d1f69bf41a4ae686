"""Shelf and display interaction from body keypoints: reaches, pick-ups, attention, shelf state.

The interaction stage runs on cameras with shelf or display zones; all times are in seconds of
media time, so the same settings hold for any frame rate.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from storelens.config.base import Identifier, StrictModel


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
