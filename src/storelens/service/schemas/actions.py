"""Alerts and promotions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from storelens.service.schemas.common import ApiModel

AlertState = Literal["open", "acknowledged", "escalated", "closed"]


class AlertOut(ApiModel):
    id: str
    camera_id: str | None
    zone_id: str | None
    subject: str | None
    kind: str
    severity: str
    message: str
    state: str
    escalations: int
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    closed_at: datetime | None
    payload: dict[str, Any]


class AckIn(ApiModel):
    by: str | None = Field(default=None, min_length=1, max_length=128, description="Who acknowledges")
    note: str | None = Field(default=None, max_length=500)


class PromotionOut(ApiModel):
    id: str
    promotion_id: str
    camera_id: str | None
    zone_id: str | None
    subject: str | None
    ts: datetime
    payload: dict[str, Any]
