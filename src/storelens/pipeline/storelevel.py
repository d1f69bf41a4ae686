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

**Cameras in step.** The store clock is the latest frame time any camera handed over, so fusion
needs the cameras' frames to arrive in time order. Live cameras deliver in real time; recorded
files in `storelens run` are analysed as fast as each camera's pipeline goes, and one camera can
race minutes ahead of another (a gated camera on a calm scene runs at 70 fps, a busy one at 12):
the store clock then followed the fast one, the slow camera's shoppers looked unseen and their
store visits ended after 0.7 s instead of 4 s (examples/two-cameras). With ``sync`` (the runner
sets it for file sources not paced to real time) a camera whose frame is more than
:data:`SYNC_LEAD_S` of media time ahead of the slowest running camera waits for it in its observer;
the slowest never waits, so there is no deadlock, and a camera that hands over nothing for
:data:`SYNC_STALL_S` (hung, failed to build) stops holding the others back.

It is built only for a store with two or more calibrated cameras (one camera is already a store
of one). Uncalibrated cameras keep their per-camera measures; :meth:`StoreLevelFeed.summary` lists
them with the reason, and the run summary shows it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
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

__all__ = ["SYNC_LEAD_S", "SYNC_STALL_S", "StoreLevelFeed"]

log = logging.getLogger(__name__)

SYNC_LEAD_S = 0.2
"""How far (frame time) a synced camera may run ahead of the slowest: one store tick."""
SYNC_STALL_S = 10.0
"""Real seconds without a frame after which a synced camera no longer holds the others back."""


class StoreLevelFeed:
    def __init__(
        self,
        store: StoreConfig,
        bus: EventBus,
        cameras: list[str],
        not_fused: dict[str, str],
        heat: HeatmapRecorder | None = None,
        *,
        sync: bool = False,
    ) -> None:
        self.store = store
        self.bus = bus
        self.cameras = cameras
        self.not_fused = not_fused
        self.sync = sync
        # synced cameras still running: camera id -> (latest frame wall time or None, monotonic
        # time of its latest frame); every fed camera counts from the start, so the first camera
        # built does not race ahead of one still loading its model
        enabled = {c.id for c in store.cameras if c.enabled}
        self._running: dict[str, tuple[float | None, float]] = {
            c: (None, time.monotonic()) for c in cameras if c in enabled
        }
        self._turn = threading.Condition()
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
    def for_store(
        cls, store: StoreConfig, bus: EventBus, heat: HeatmapRecorder | None = None, *, sync: bool = False
    ) -> StoreLevelFeed | None:
        """The feed for ``store``, or None when fewer than two cameras are calibrated (said in the
        log). ``heat``: the runner's heat-map recorder, which then also keeps the store map;
        ``sync``: keep the cameras' frames in step (module docstring)."""
        fed, left = fusion_cameras(store)
        for cid, why in left.items():
            log.info("camera %s: %s", cid, why)
        if len(fed) < 2:
            return None
        return cls(store, bus, fed, left, heat, sync=sync)

    def _wait_turn(self, camera_id: str, wall: float) -> None:
        """Synced cameras: hold this camera's frame until no running camera is more than
        :data:`SYNC_LEAD_S` behind it (the slowest one never waits)."""
        with self._turn:
            self._running[camera_id] = (wall, time.monotonic())
            self._turn.notify_all()
            while True:
                now = time.monotonic()
                behind = [
                    (seen if seen is not None else -math.inf)
                    for cid, (seen, beat) in self._running.items()
                    if cid != camera_id and now - beat < SYNC_STALL_S
                ]
                if not behind or wall - min(behind) <= SYNC_LEAD_S:
                    return
                self._turn.wait(timeout=1.0)

    def camera_done(self, camera_id: str) -> None:
        """A camera's frames ended (source finished, stopped or failed): it holds nobody back."""
        with self._turn:
            self._running.pop(camera_id, None)
            self._turn.notify_all()

    def camera_started(self, camera_id: str) -> None:
        """A camera (re)starts: the others wait for its frames again."""
        if camera_id in self._mappers:
            with self._turn:
                self._running[camera_id] = (None, time.monotonic())

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
            if self.sync:
                self._wait_turn(camera_id, wall)
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
