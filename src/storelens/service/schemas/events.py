"""Event pages."""

from __future__ import annotations

from pydantic import Field

from storelens.events.models import Event
from storelens.service.schemas.common import ApiModel


class EventPageOut(ApiModel):
    items: list[Event]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at the end")
