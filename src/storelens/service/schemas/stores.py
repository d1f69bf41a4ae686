"""Stores and cameras."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from storelens.service.schemas.common import ApiModel


class StoreOut(ApiModel):
    id: str
    name: str | None
    timezone: str
    cameras: list[str] = Field(description="Camera ids")
    zones: list[str] = Field(description="Zone ids")
    lines: list[str] = Field(description="Counting line ids")
    aggregate_buckets_s: list[int] = Field(description="Stored aggregate bucket sizes (seconds)")
    floor_plan_image: bool = Field(
        default=False, description="A floor plan image is configured (GET /floor-plan, /floor-plan/image)"
    )


class CameraStatusOut(ApiModel):
    state: Literal["starting", "running", "restarting", "finished", "stopped", "disabled", "failed"]
    online: bool
    fps: float = Field(description="Analysed frames per second over the last 5 s")
    frames: int
    last_frame_time: datetime | None
    lag_s: float | None = Field(description="Now minus the last frame's capture time")
    dropped_frames: int
    queue_dropped: int = Field(
        default=0, description="Of dropped_frames: evicted from the bounded queue because analysis was behind"
    )
    corrupt_frames: int
    reconnects: int
    restarts: int
    hangs: int = Field(default=0, description="Times the camera's worker was found hung (no frame) and restarted")
    errors: int
    last_error: str | None
    stage_ms: dict[str, float] = Field(description="Mean per-frame milliseconds per stage (last 50 frames)")
    health: Literal["online", "lagging", "behind", "stalled", "offline", "starting", "finished", "disabled"] = Field(
        description="One word for the camera's health against its fps target and real time (service/camera_health.py)"
    )
    health_detail: str = Field(description="Why, in words: e.g. '84 s behind real time, analysing 1.4 of 10 fps'")


class CameraOut(ApiModel):
    id: str
    name: str | None
    enabled: bool
    source: str = Field(description="Source with any credentials masked")
    fps_target: float
    zones: list[str]
    status: CameraStatusOut | None = Field(description="Null when this process runs no pipelines")
    snapshot: bool = Field(
        default=False,
        description="A redacted still exists (GET /cameras/{id}/snapshot; made by `storelens snapshot`)",
    )
