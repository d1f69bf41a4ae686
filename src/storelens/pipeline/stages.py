"""Adapters that fit each capability's own API into the pipeline's Stage protocol.

Capabilities keep the signatures natural to them (zones want tracks and times, interaction wants
the image too, emotion wants faces); the adapters here are the only place that knows both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from storelens.analytics.zones import ZoneAnalytics
from storelens.config.schema import StoreConfig
from storelens.core.types import Frame, Tracks
from storelens.events.models import Event
from storelens.privacy.redact import redact


class BehaviourStageAdapter:
    """Zones and dwell, revisits, lingering, lines, queues, paths, heat maps for one camera."""

    name = "behaviour"

    def __init__(self, store: StoreConfig, camera_id: str) -> None:
        from storelens.analytics.stage import BehaviourStage

        self.stage = BehaviourStage(store, camera_id)
        self._background: np.ndarray | None = None

    def update(self, frame: Frame, tracks: Tracks, events: Sequence[Event]) -> list[Event]:
        if self._background is None:
            # A backdrop for the image-space heat maps: the first frame, redacted like every frame
            # that leaves the pipeline (heads blurred), so no unblurred image is ever written.
            kp = tracks.keypoints
            self._background = redact(frame.image, tracks.xyxy, kp)
        return self.stage.update(tracks, frame.pts, frame.wall_time, image=frame.image)

    def close(self, pts: float, wall_time: float, events: Sequence[Event]) -> list[Event]:
        return self.stage.close(pts, wall_time)

    def summary(self) -> dict[str, Any]:
        return self.stage.summary()

    def write_images(self, out_dir: Path) -> dict[str, Path]:
        from storelens.analytics.stage import write_heatmaps

        paths = write_heatmaps(self.stage, out_dir, background=self._background)
        return {f"heatmap_{k}": v for k, v in paths.items()}


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
