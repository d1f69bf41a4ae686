"""Store-level journeys: the zones of each fused store visit, and their common paths."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from storelens.service.schemas.common import ApiModel


class JourneyOut(ApiModel):
    visit_id: str = Field(description="Random, short-lived id of the store visit")
    started_at: datetime
    ended_at: datetime | None
    duration_s: float | None
    journey: list[str] = Field(description="Floor zones entered, in order (shelves left out)")


class JourneyListOut(ApiModel):
    items: list[JourneyOut]
    truncated: bool = Field(description="More journeys match: narrow the range or raise limit")


class FlowOut(ApiModel):
    from_zone: str = Field(description="Zone walked from")
    to_zone: str = Field(description="Zone walked into next")
    count: int = Field(description="Steps from from_zone straight to to_zone over the visits of the range")


class PathOut(ApiModel):
    path: list[str]
    count: int = Field(description="Visits whose journey was exactly this")


class ZoneCountOut(ApiModel):
    zone_id: str
    count: int


class FlowsOut(ApiModel):
    store_id: str
    since: datetime
    until: datetime
    visits: int = Field(description="Store visits with a journey in the range")
    reached_till: int = Field(description="Of those, visits that entered a checkout zone")
    truncated: bool = Field(description="More visits than max_visits: the figures cover the oldest ones")
    flows: list[FlowOut] = Field(description="Zone-to-zone flow table (Sankey links), most frequent first")
    paths: list[PathOut] = Field(description="Most common whole journeys")
    first_zone: list[ZoneCountOut] = Field(description="First zone after the entrance")
    last_before_till: list[ZoneCountOut] = Field(description="Last zone before the till (queues left out)")
