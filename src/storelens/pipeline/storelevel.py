"""The store-level stage in a run: every calibrated camera's tracks, fused into store visits.

A camera pipeline hands each analysed frame to its observers; :class:`StoreLevelFeed` is one of
them for every calibrated camera, attached by the supervised runner in both `storelens run` and
`storelens serve` (:mod:`storelens.pipeline.supervisor`). It places the frame's tracks on the floor (the camera's
:class:`~storelens.analytics.floor.FloorMapper`, feet with the occlusion fallbacks) and gives them
to one shared :class:`~storelens.analytics.storelevel.StoreLevelStage` (with each box's clothing-colour
stripe descriptor, :mod:`storelens.tracking.appearance`, the fusion's in-memory appearance cue),
whose store events
(``visit.started``/``visit.ended`` with the journey, ``occupancy.changed``, floor zone events with
``camera_id`` None) go straight onto the run's event bus, so they are stored next to the camera
events within one store tick (0.2 s) of the frames they come from.

Store heat maps (traffic and dwell of the fused shoppers, staff left out, on the floor in metres)
are the store behaviour stage's own accumulator, handed every store tick to a
:class:`~storelens.pipeline.heatmaps.HeatmapRecorder` under
:data:`~storelens.pipeline.heatmaps.STORE_HEATMAP`, so the stored map is the one in the PNGs and is
stored in ``heatmap_buckets`` like
the camera maps and served by ``GET /heatmaps/store/{store_id}``. A runner that has a recorder (the
run's, through ``StoreSupervisor(store_heat=...)``) passes it to :meth:`StoreLevelFeed.for_store`:
the map is then flushed with the camera maps and shown live. Without one the feed keeps its own and
stores it at the end of the run, in :meth:`StoreLevelFeed.write_images`, the first point the run's
database is known.

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

import numpy as np

from storelens.analytics.floor import FloorMapper
from storelens.analytics.stage import write_heatmaps
from storelens.analytics.storelevel import StoreLevelStage, fusion_cameras
from storelens.config.store import StoreConfig
from storelens.core.results import FrameResult
from storelens.core.types import Tracks
from storelens.events.bus import EventBus
from storelens.pipeline.heatmaps import STORE_HEATMAP, HeatmapRecorder
from storelens.sinks.factory import default_database_url
from storelens.tracking.appearance import stripe_descriptors

__all__ = ["StoreLevelFeed"]

log = logging.getLogger(__name__)


class StoreLevelFeed:
    def __init__(
        self,
        store: StoreConfig,
        bus: EventBus,
        cameras: list[str],
        not_fused: dict[str, str],
        heat: HeatmapRecorder | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.cameras = cameras
        self.not_fused = not_fused
        self._own_heat = heat is None
        self.heat = heat if heat is not None else HeatmapRecorder(store)  # no database until write_images
        self.stage = StoreLevelStage(store, on_tick=self._record_heat)
        self._mappers: dict[str, FloorMapper] = {}
        for cid in cameras:
            mapper = FloorMapper.for_camera(store, cid)
            assert mapper is not None  # fusion_cameras keeps calibrated cameras only
            self._mappers[cid] = mapper
        self._last_wall: float | None = None
        # every camera's worker calls observe on its own thread; the stage is one store's state
        self._lock = threading.Lock()

    @classmethod
    def for_store(cls, store: StoreConfig, bus: EventBus, heat: HeatmapRecorder | None = None) -> StoreLevelFeed | None:
        """The feed for ``store``, or None when fewer than two cameras are calibrated (said in the
        log). ``heat``: the runner's heat-map recorder, which then also keeps the store map."""
        fed, left = fusion_cameras(store)
        for cid, why in left.items():
            log.info("camera %s: %s", cid, why)
        if len(fed) < 2:
            return None
        return cls(store, bus, fed, left, heat)

    def _record_heat(self, fused: Tracks, wall: float) -> None:
        """After each store tick (the store stage has counted it): keep its map stored."""
        heat = self.stage.behaviour.heatmap
        if heat is not None:
            self.heat.follow(STORE_HEATMAP, heat)

    def observer(self, camera_id: str) -> Callable[[FrameResult], None] | None:
        """The frame observer for ``camera_id`` (None for a camera that does not feed the store)."""
        mapper = self._mappers.get(camera_id)
        if mapper is None:
            return None

        def observe(result: FrameResult) -> None:
            frame = result.frame
            mapped = mapper.map(result.tracks, float(frame.image.shape[0]))
            if len(mapped) and "appearance" not in mapped.data:  # the fusion's colour cue (memory only)
                desc, ok = stripe_descriptors(frame.image, result.tracks.xyxy)
                desc[~ok] = np.nan  # too small or outside the frame: no colour, where and when only
                mapped = mapped.replace(data={**mapped.data, "appearance": desc})
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
        """Store heat maps on the floor plan (metres): ``store_heatmap_traffic.png``/``_dwell``; and,
        when the feed kept its own recorder, the map into the run's database (``out_dir``'s unless
        ``output.database_url`` names one), where ``GET /heatmaps/store/{store_id}`` finds it."""
        if self._own_heat:
            self.heat.attach_database(self.store.output.database_url or default_database_url(out_dir))
            try:
                self.heat.flush()
            finally:
                self.heat.close()
        return {f"store_{k}": p for k, p in write_heatmaps(self.stage.behaviour, out_dir).items()}

    def summary(self) -> dict[str, Any]:
        return {"cameras": list(self.cameras), "not_fused": dict(self.not_fused), **self.stage.summary()}
