"""Per-camera heat maps fed by the frame observer, kept in the database as they grow.

The aggregation is :mod:`storelens.analytics.heatmap` (traffic = unique visits per cell, dwell =
seconds per cell, sparse time buckets); the table is :mod:`storelens.storage.heatmaps`. This module
owns one accumulator per camera, a lock (camera threads update while API threads read, and the
accumulator itself is not thread-safe) and the flushes to the database:

* Every ``flush_every_s`` (60 s by default) a camera's :meth:`observe` hands the increment since the
  previous flush to a short-lived thread that adds it to the stored buckets, so the camera thread
  only pays a clock read per frame and a thread start per minute, never a database round trip;
  :meth:`flush` (blocking) writes the rest at shutdown. Closed buckets and the open one's progress
  go the same way, so a restart loses at most the last minute.
* A failed write (database down) keeps the increment in memory and retries at the next flush.
  Given a URL, the recorder opens the database at its first flush, not before, so a database
  that is down when the run starts is retried the same way instead of costing the run's maps.
* Readers see stored + not yet stored without double counting: :meth:`reading` holds the camera's
  flush lock while the API reads the table and :meth:`live` (nothing is half-written meanwhile).

Cells are in the camera's image pixels (``behaviour.heatmap.cell_px``), time buckets of
``behaviour.heatmap.bucket_s``. Staff are left out, as in the behaviour stage's own maps: a subject
is dropped from the frame its events first carry ``staff: true``. The store-level floor map of a
multi-camera store (fused shoppers, in metres, :meth:`observe_floor`) is one more map here, under
:data:`STORE_HEATMAP`. ``storelens run``/``demo`` and
``storelens serve`` both record
through this class, so ``serve`` can show the heat maps of an earlier run from its database.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from storelens.analytics.heatmap import HeatBucket, HeatmapAccumulator, HeatmapGrid
from storelens.config.schema import StoreConfig
from storelens.core.errors import brief_error
from storelens.core.results import FrameResult
from storelens.storage.database import Database, open_database
from storelens.storage.heatmaps import add_heatmap_buckets

log = logging.getLogger(__name__)

__all__ = ["FLUSH_EVERY_S", "STORE_HEATMAP", "HeatmapRecorder", "LiveHeat"]

FLUSH_EVERY_S = 60.0
STORE_HEATMAP = "*store"
"""The ``camera_id`` under which the store-level floor map (fused shoppers, metres) is kept: no
camera id can take it (ids start with a letter, digit or underscore)."""


@dataclass(frozen=True, slots=True)
class LiveHeat:
    """The part of a camera's maps that is in memory only (not in the database yet)."""

    grid: HeatmapGrid
    traffic: npt.NDArray[np.float64]  # (ny, nx)
    dwell: npt.NDArray[np.float64]  # (ny, nx)
    bucket_s: int


@dataclass(eq=False)
class _Camera:
    acc: HeatmapAccumulator
    next_flush: float
    pending: list[tuple[HeatmapGrid, HeatBucket]] = field(default_factory=list)  # drained, not stored
    io: threading.Lock = field(default_factory=threading.Lock)  # held while a flush or a reader runs
    failures: int = 0
    staff: dict[int, None] = field(default_factory=dict)  # subjects flagged staff (ids as events print them)


MAX_STAFF_IDS = 4096
"""Staff visit ids remembered per camera (ids are per visit, so a day's staff fits many times over)."""
SUBJECT_MASK = 0xFFFFFFFFFFFF
"""Event subjects print the low 48 bits of a visit id (:func:`~storelens.events.models.format_subject`)."""


class HeatmapRecorder:
    """One :class:`HeatmapAccumulator` per camera (created on its first frame, sized to it)."""

    def __init__(
        self,
        store: StoreConfig,
        db: Database | str | None = None,
        *,
        flush_every_s: float = FLUSH_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store_id = store.store_id
        self.cell_px = store.behaviour.heatmap.cell_px
        self.bucket_s = store.behaviour.heatmap.bucket_s
        self.max_step_s = store.behaviour.heatmap.max_step_s
        self.timezone = store.timezone
        # a Database is the caller's; a URL is opened here (lazily, see _database) and closed by close()
        self._db: Database | None = db if isinstance(db, Database) else None
        self._url = db if isinstance(db, str) else None
        self._has_db = db is not None
        self._open_lock = threading.Lock()
        self.flush_every_s = flush_every_s
        self.rows_written = 0
        self._clock = clock
        self._cams: dict[str, _Camera] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------ recording
    def observe(self, camera_id: str, result: FrameResult) -> None:
        """Frame observer (camera thread): add the frame's feet points; start a flush when due."""
        frame = result.frame
        tracks = result.tracks
        with self._lock:
            cam = self._cams.get(camera_id)
            grid_too_small = cam is not None and (
                cam.acc.grid.nx * self.cell_px < frame.width or cam.acc.grid.ny * self.cell_px < frame.height
            )
            if cam is None or grid_too_small:
                grid = HeatmapGrid.covering("image", frame.width, frame.height, float(self.cell_px))
                acc = HeatmapAccumulator(grid, self.bucket_s, self.max_step_s, self.timezone)
                if cam is None:
                    cam = self._cams[camera_id] = _Camera(acc, self._clock() + self.flush_every_s)
                else:  # a larger frame: keep what the old grid holds for the next flush
                    cam.pending += [(cam.acc.grid, b) for b in cam.acc.drain()]
                    cam.acc = acc
            subjects = np.asarray(tracks.subject_id, dtype=np.int64)
            feet = np.asarray(tracks.bottom_center, dtype=np.float64)
            for e in result.events:  # staff are flagged on their events; their walks are not traffic
                if e.subject is not None and e.payload.get("staff") is True:
                    with contextlib.suppress(ValueError):
                        cam.staff[int(e.subject, 16)] = None
                        if len(cam.staff) > MAX_STAFF_IDS:
                            del cam.staff[next(iter(cam.staff))]
            if cam.staff and len(subjects):
                keep = ~np.isin(subjects & SUBJECT_MASK, np.fromiter(cam.staff, dtype=np.int64))
                subjects, feet = subjects[keep], feet[keep]
            cam.acc.update(subjects, feet, frame.pts, frame.wall_time)
            due = self._has_db and self._clock() >= cam.next_flush
        self._flush_if_due(camera_id, cam, due)

    def observe_floor(
        self,
        key: str,
        grid: HeatmapGrid,
        subjects: npt.NDArray[np.int64],
        xy: npt.NDArray[np.float64],
        pts: float,
        wall_time: float,
    ) -> None:
        """Record points already on the floor under ``key`` (the store-level map of fused shoppers,
        :data:`STORE_HEATMAP`): the same accumulator, buckets, table and flushes as a camera's map,
        on ``grid`` (floor metres) instead of one sized to a frame."""
        with self._lock:
            cam = self._cams.get(key)
            if cam is None or cam.acc.grid != grid:
                acc = HeatmapAccumulator(grid, self.bucket_s, self.max_step_s, self.timezone)
                if cam is None:
                    cam = self._cams[key] = _Camera(acc, self._clock() + self.flush_every_s)
                else:
                    cam.pending += [(cam.acc.grid, b) for b in cam.acc.drain()]
                    cam.acc = acc
            cam.acc.update(np.asarray(subjects, dtype=np.int64), np.asarray(xy, dtype=np.float64), pts, wall_time)
            due = self._has_db and self._clock() >= cam.next_flush
        self._flush_if_due(key, cam, due)

    def attach_database(self, db: Database | str) -> None:
        """Give a recorder made before its database was known (the store-level feed of a run that
        learns its output folder at the end) a database; a recorder that has one keeps it."""
        with self._open_lock:
            if self._has_db:
                return
            self._db = db if isinstance(db, Database) else None
            self._url = db if isinstance(db, str) else None
            self._has_db = True

    def _flush_if_due(self, camera_id: str, cam: _Camera, due: bool) -> None:
        if due and cam.io.acquire(blocking=False):
            try:
                threading.Thread(
                    target=self._flush_locked, args=(camera_id, cam), name=f"heatmap-flush-{camera_id}", daemon=True
                ).start()
            except RuntimeError:  # no thread to be had: try again at the next frame
                cam.io.release()

    def flush(self) -> int:
        """Write every camera's increment now (waits for a flush in progress); returns rows written.
        Failures are logged and the increments kept for the next flush."""
        if not self._has_db:
            return 0
        with self._lock:
            cams = list(self._cams.items())
        n = 0
        for camera_id, cam in cams:
            cam.io.acquire()
            n += self._flush_locked(camera_id, cam)
        return n

    def _database(self) -> Database:
        """The database, opened on first use when given as a URL (raises while it cannot be opened:
        the caller keeps the increment and retries at the next flush). Its own lock: connecting to
        a database that is down can take seconds, and the camera threads must not wait on it."""
        with self._open_lock:
            if self._db is None:
                assert self._url is not None
                self._db = open_database(self._url)
            return self._db

    def close(self) -> None:
        """Close the database this recorder opened itself (not one it was given)."""
        with self._open_lock:
            if self._url is not None and self._db is not None:
                self._db.close()
                self._db = None

    def _flush_locked(self, camera_id: str, cam: _Camera) -> int:
        """Drain and store one camera's increment; the caller holds ``cam.io``, released here."""
        try:
            if not self._has_db:
                return 0
            with self._lock:
                cam.next_flush = self._clock() + self.flush_every_s
                batch = cam.pending + [(cam.acc.grid, b) for b in cam.acc.drain()]
                cam.pending = []
            if not batch:
                return 0
            try:
                n = 0
                with self._database().begin() as conn:
                    for grid in {g for g, _ in batch}:
                        buckets = [b for g, b in batch if g == grid]
                        n += add_heatmap_buckets(
                            conn, store_id=self.store_id, camera_id=camera_id, grid=grid, buckets=buckets
                        )
            except Exception as exc:  # keep the increment; the next flush retries it
                with self._lock:
                    cam.pending = batch + cam.pending
                cam.failures += 1
                log.warning(
                    "could not store heat maps of camera %s (kept in memory, retried in %.0f s): %s",
                    camera_id,
                    self.flush_every_s,
                    brief_error(exc),
                )
                return 0
            self.rows_written += n
            return n
        finally:
            cam.io.release()

    # -------------------------------------------------------------------------------- reading
    def cameras(self) -> list[str]:
        with self._lock:
            return sorted(self._cams)

    @contextmanager
    def reading(self, camera_id: str) -> Iterator[None]:
        """Hold off this camera's flushes while a reader combines the table with :meth:`live`."""
        with self._lock:
            cam = self._cams.get(camera_id)
        if cam is None:
            yield
            return
        with cam.io:
            yield

    def live(self, camera_id: str, since: datetime | None, until: datetime | None) -> LiveHeat | None:
        """What is not stored yet, for buckets starting in [since, until), on the camera's current
        grid (increments left from an earlier grid are not shown); None if the camera has no data."""
        start = None if since is None else since.timestamp()
        end = None if until is None else until.timestamp()
        with self._lock:
            cam = self._cams.get(camera_id)
            if cam is None:
                return None
            grid = cam.acc.grid
            traffic, dwell = cam.acc.maps(start, end)
            traffic, dwell = traffic.ravel().copy(), dwell.ravel().copy()
            for g, b in cam.pending:
                if g == grid and (start is None or b.start >= start) and (end is None or b.start < end):
                    traffic[b.cells] += b.traffic
                    dwell[b.cells] += b.dwell
            shape = (grid.ny, grid.nx)
            return LiveHeat(grid, traffic.reshape(shape), dwell.reshape(shape), cam.acc.bucket_s)
