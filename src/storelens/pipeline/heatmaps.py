"""Per-camera heat maps kept in the database as they grow, from the behaviour stage's own maps.

The aggregation is :mod:`storelens.analytics.heatmap` (traffic = unique visits per cell, dwell =
seconds per cell, sparse time buckets); the table is :mod:`storelens.storage.heatmaps`. Nothing is
counted here: each camera's :class:`~storelens.analytics.stage.BehaviourStage` keeps the one
accumulator of its map (its grid, its staff exclusion) and hands it over in
:attr:`FrameResult.heat <storelens.core.results.FrameResult.heat>`; the store-level feed hands over
the store stage's. So the stored buckets, the live view and the run's summary and PNGs are one map.
This module owns, per camera, the flush timer, a lock for flushes and readers, and the flushes:

* Every ``flush_every_s`` (60 s by default) a camera's :meth:`observe` hands the accumulator's
  increment since the previous flush to a short-lived thread that adds it to the stored buckets,
  so the camera thread only pays a clock read per frame and a thread start per minute, never a
  database round trip; :meth:`flush` (blocking) writes the rest at shutdown. A restart loses at
  most the last minute.
* A failed write (database down) keeps the increment in memory and retries at the next flush.
  Given a URL, the recorder opens the database at its first flush, not before, so a database
  that is down when the run starts is retried the same way instead of costing the run's maps.
* Readers see stored + not yet stored without double counting: :meth:`reading` holds the camera's
  flush lock while the API reads the table and :meth:`live` (nothing is half-written meanwhile).
* A camera whose stage starts a new accumulator (a new grid, a rebuilt pipeline) has the old
  one's increment kept and stored on the old grid.

Cells are the stage's: floor metres (``behaviour.heatmap.cell_m``) for a calibrated camera, image
pixels (``cell_px``) otherwise; buckets of ``behaviour.heatmap.bucket_s``. The store-level floor
map of a multi-camera store (fused shoppers, in metres) is one more map here, under
:data:`STORE_HEATMAP`. ``storelens run``/``demo`` and ``storelens serve`` both record through this
class, so ``serve`` can show the heat maps of an earlier run from its database.
"""

from __future__ import annotations

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
from storelens.config.store import StoreConfig
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


class HeatmapRecorder:
    """The stored side of each camera's :class:`HeatmapAccumulator` (the stage's, see the module)."""

    def __init__(
        self,
        store: StoreConfig,
        db: Database | str | None = None,
        *,
        flush_every_s: float = FLUSH_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store_id = store.store_id
        self.bucket_s = store.behaviour.heatmap.bucket_s
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
        """Frame observer (camera thread): follow the frame's map (:attr:`FrameResult.heat`, which
        the behaviour stage has already updated); start a flush when due."""
        if result.heat is not None:
            self.follow(camera_id, result.heat)

    def follow(self, key: str, acc: HeatmapAccumulator) -> None:
        """Keep ``acc`` stored under ``key`` (a camera id, or :data:`STORE_HEATMAP` for the store
        stage's map); called after each update of it, it also starts a flush when one is due. A
        new accumulator for a key replaces the old one, whose increment is kept for the next flush."""
        with self._lock:
            cam = self._cams.get(key)
            if cam is None:
                cam = self._cams[key] = _Camera(acc, self._clock() + self.flush_every_s)
            elif cam.acc is not acc:
                cam.pending += [(cam.acc.grid, b) for b in cam.acc.drain()]
                cam.acc = acc
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
            traffic, dwell = cam.acc.undrained(start, end)
            traffic, dwell = traffic.ravel(), dwell.ravel()
            for g, b in cam.pending:
                if g == grid and (start is None or b.start >= start) and (end is None or b.start < end):
                    traffic[b.cells] += b.traffic
                    dwell[b.cells] += b.dwell
            shape = (grid.ny, grid.nx)
            return LiveHeat(grid, traffic.reshape(shape), dwell.reshape(shape), cam.acc.bucket_s)
