"""Aggregates and heat maps."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from storelens.service.schemas.common import ApiModel


class AggregateOut(ApiModel):
    zone_id: str | None = Field(description="Null for the store-wide row")
    bucket_start: datetime
    bucket_s: int
    events: int
    entries: int
    exits: int
    dwell_count: int
    dwell_total_s: float
    dwell_mean_s: float | None
    dwell_max_s: float
    visits_started: int
    visits_ended: int
    occupancy_max: int
    queue_max: int


class AggregateListOut(ApiModel):
    bucket_s: int
    items: list[AggregateOut]
    truncated: bool


class HeatmapGridOut(ApiModel):
    space: Literal["image", "floor"]
    unit: Literal["px", "m"]
    x0: float
    y0: float
    cell: float
    nx: int
    ny: int


class HeatmapOut(ApiModel):
    camera_id: str
    metric: Literal["traffic", "dwell"]
    since: datetime | None
    until: datetime | None
    bucket_s: int = Field(description="Time resolution: buckets starting in [since, until) are summed")
    grid: HeatmapGridOut
    values: list[list[float]] = Field(description="ny rows of nx cells; traffic = visits, dwell = seconds")
    max: float
    total: float


class HeatmapIndexOut(ApiModel):
    camera_id: str
    stored: bool = Field(description="Buckets starting in [since, until) are in the database")
    live: bool = Field(description="A pipeline of this process holds the camera's map (stored or not)")
    first_bucket: datetime | None = Field(description="Start of the first stored bucket in the range")
    last_bucket: datetime | None = Field(description="Start of the last stored bucket in the range")
