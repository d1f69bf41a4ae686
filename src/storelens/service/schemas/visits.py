"""Shopper visits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from storelens.service.schemas.common import ApiModel


class VisitOut(ApiModel):
    id: str = Field(description="Random, short-lived visit id")
    camera_id: str | None
    started_at: datetime
    ended_at: datetime | None
    duration_s: float | None
    fragments: int = Field(description="Track fragments stitched into this visit")
    confidence: float | None
    is_staff: bool
    dwell_by_zone: dict[str, float] = Field(description="Seconds per zone")
    intent_timeline: list[Any] = Field(description="[{ts, state, score}, ...]")
    path: list[Any] | None = Field(description="[[t, x, y], ...]; null unless requested in lists")
    journey: list[str] | None = Field(
        default=None,
        description="Fused store visits: the floor zones entered, in order; null for camera visits",
    )


class VisitListOut(ApiModel):
    items: list[VisitOut]
    truncated: bool = Field(description="More visits match: narrow the range or raise limit")
