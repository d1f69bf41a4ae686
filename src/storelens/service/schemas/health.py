"""Health and readiness."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from storelens.service.schemas.common import ApiModel


class HealthOut(ApiModel):
    status: Literal["ok"]
    version: str
    uptime_s: float


class DatabaseCheck(ApiModel):
    ok: bool
    dialect: str
    revision: str | None
    error: str | None


class CameraCheck(ApiModel):
    id: str
    state: str
    online: bool


class ReadyOut(ApiModel):
    ready: bool = Field(description="Database reachable and, when pipelines run here, the runner started")
    database: DatabaseCheck
    pipelines: Literal["running", "disabled"]
    cameras: list[CameraCheck]
