"""Adapters that fit each capability's own API into the pipeline's Stage protocol.

Capabilities keep the signatures natural to them (zones want tracks and times, interaction wants
the image too, emotion wants faces); the adapters here are the only place that knows both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from storelens.analytics.zones import ZoneAnalytics
from storelens.config.schema import StoreConfig
from storelens.core.types import Frame, Tracks
from storelens.events.models import Event


class ZoneStage:
    """Zone enter/exit and dwell for one camera's image-space zones."""

    name = "zones"

    def __init__(self, store: StoreConfig, camera_id: str) -> None:
        self.analytics = ZoneAnalytics(store, camera_id)

    def update(self, frame: Frame, tracks: Tracks, events: Sequence[Event]) -> list[Event]:
        return self.analytics.update(tracks, frame.pts, frame.wall_time)

    def close(self, pts: float, wall_time: float, events: Sequence[Event]) -> list[Event]:
        return self.analytics.close(pts, wall_time)

    def summary(self) -> dict[str, Any]:
        return {"occupancy_at_end": self.analytics.occupancy()}


class InteractionStageAdapter:
    """Reaches, pick-ups, attention and shelf state for the camera's shelf/display zones."""

    name = "interaction"

    def __init__(self, store: StoreConfig, camera_id: str) -> None:
        from storelens.interaction.stage import InteractionStage

        self.stage = InteractionStage(store, camera_id)

    def update(self, frame: Frame, tracks: Tracks, events: Sequence[Event]) -> list[Event]:
        return self.stage.update(frame.image, tracks, frame.pts, frame.wall_time)

    def close(self, pts: float, wall_time: float, events: Sequence[Event]) -> list[Event]:
        return self.stage.close(pts, wall_time)

    def summary(self) -> dict[str, Any]:
        return {zone: s.to_dict() for zone, s in self.stage.stats().items()}
