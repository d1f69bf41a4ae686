"""The store-level stage in a run: every calibrated camera's tracks, fused into store visits.

A camera pipeline hands each analysed frame to its observers; :class:`StoreLevelFeed` is one of
them for every calibrated camera, attached by the supervised runner in both `storelens run` and
`storelens serve` (:mod:`storelens.pipeline.supervisor`). It places the frame's tracks on the floor (the camera's
:class:`~storelens.analytics.floor.FloorMapper`, feet with the occlusion fallbacks) and gives them
to one shared :class:`~storelens.analytics.storelevel.StoreLevelStage`, whose store events
(``visit.started``/``visit.ended`` with the journey, ``occupancy.changed``, floor zone events with
``camera_id`` None) go straight onto the run's event bus, so they are stored next to the camera
events within one store tick (0.2 s) of the frames they come from.

It is built only for a store with two or more calibrated cameras (one camera is already a store
of one). Uncalibrated cameras keep their per-camera measures; :meth:`StoreLevelFeed.summary` lists
them with the reason, and the run summary shows it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from storelens.analytics.floor import FloorMapper
from storelens.analytics.stage import write_heatmaps
from storelens.analytics.storelevel import StoreLevelStage, fusion_cameras
from storelens.config.schema import StoreConfig
from storelens.core.results import FrameResult
from storelens.events.bus import EventBus

__all__ = ["StoreLevelFeed"]

log = logging.getLogger(__name__)


class StoreLevelFeed:
    def __init__(self, store: StoreConfig, bus: EventBus, cameras: list[str], not_fused: dict[str, str]) -> None:
        self.store = store
        self.bus = bus
        self.cameras = cameras
        self.not_fused = not_fused
        self.stage = StoreLevelStage(store)
        self._mappers: dict[str, FloorMapper] = {}
        for cid in cameras:
            mapper = FloorMapper.for_camera(store, cid)
            assert mapper is not None  # fusion_cameras keeps calibrated cameras only
            self._mappers[cid] = mapper
        self._last_wall: float | None = None
        # every camera's worker calls observe on its own thread; the stage is one store's state
        self._lock = threading.Lock()

    @classmethod
    def for_store(cls, store: StoreConfig, bus: EventBus) -> StoreLevelFeed | None:
        """The feed for ``store``, or None when fewer than two cameras are calibrated (said in the log)."""
        fed, left = fusion_cameras(store)
        for cid, why in left.items():
            log.info("camera %s: %s", cid, why)
        if len(fed) < 2:
            return None
        return cls(store, bus, fed, left)

    def observer(self, camera_id: str) -> Callable[[FrameResult], None] | None:
        """The frame observer for ``camera_id`` (None for a camera that does not feed the store)."""
        mapper = self._mappers.get(camera_id)
        if mapper is None:
            return None

        def observe(result: FrameResult) -> None:
            frame = result.frame
            mapped = mapper.map(result.tracks, float(frame.image.shape[0]))
            wall = frame.wall_time
            with self._lock:
                self._last_wall = wall if self._last_wall is None else max(self._last_wall, wall)
                events = self.stage.update(camera_id, mapped, wall)
            self.bus.publish_all(events)

        return observe

    def close(self) -> None:
        """End of the run: the open visits end (journeys and durations reported)."""
        with self._lock:
            events = self.stage.close(self._last_wall) if self._last_wall is not None else []
        self.bus.publish_all(events)

    def write_images(self, out_dir: Path) -> dict[str, Path]:
        """Store heat maps on the floor plan (metres): ``store_heatmap_traffic.png``/``_dwell``."""
        return {f"store_{k}": p for k, p in write_heatmaps(self.stage.behaviour, out_dir).items()}

    def summary(self) -> dict[str, Any]:
        return {"cameras": list(self.cameras), "not_fused": dict(self.not_fused), **self.stage.summary()}
