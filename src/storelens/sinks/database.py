"""Database sink: events into SQLite/PostgreSQL in batches, surviving database outages.

``write`` only appends to an in-memory queue (the frame loop never waits on the database); a worker
thread commits batches of up to ``batch_size`` events, or whatever arrived within
``flush_interval_s``, each in one transaction through :func:`storelens.storage.ingest.store_events`
(idempotent by event id, derived tables updated only for new events).

When the database is unreachable (connection refused, server restarting, SQLite locked past its
busy timeout) the batch goes to a bounded on-disk spool and the sink backs off exponentially; once a
retry succeeds the spool is replayed oldest first. Because inserts are idempotent, a batch that
committed just before the connection dropped and is then replayed is not duplicated: nothing lost,
nothing counted twice. The spool also survives a process restart.

A batch that fails for any other reason (a bug or a value the database rejects) is retried event by
event; the events the database still refuses go to ``rejected.jsonl`` next to the spool with the
error, so one bad event neither blocks the others nor disappears.

On a partitioned PostgreSQL ``events`` table (an edge writing straight to the chain's database) the
sink keeps the month partitions ahead like ``storelens central`` does (:class:`PartitionKeeper`: at
the first commit, and before a batch holding a month not seen yet, each in its own short
transaction), so rows land in their month and not in ``events_default``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic
import sqlalchemy as sa

from storelens.core.errors import DiskFullError, as_disk_full, brief_error
from storelens.events.models import Event
from storelens.sinks.buffer import Backoff, DiskSpool
from storelens.storage.aggregates import DEFAULT_BUCKETS_S
from storelens.storage.database import Database, normalise_url, open_database
from storelens.storage.ingest import store_events
from storelens.storage.partitions import PartitionKeeper
from storelens.storage.serialize import event_json

log = logging.getLogger(__name__)

_TRANSIENT = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.DisconnectionError,
    sa.exc.TimeoutError,
    ConnectionError,
    OSError,
)


def is_transient(exc: BaseException) -> bool:
    """Whether a database error means "try again later" rather than "this data is bad"."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, _TRANSIENT)


@dataclass(frozen=True, slots=True)
class DatabaseSinkStats:
    accepted: int = 0
    inserted: int = 0
    duplicates: int = 0
    spooled: int = 0
    replayed: int = 0
    rejected: int = 0
    dropped: int = 0
    failures: int = 0
    pending_memory: int = 0
    pending_spool: int = 0
    last_error: str | None = None


def default_spool_dir(url: str) -> Path:
    """Next to a SQLite file (``x.db.spool/``); for servers under the user's state directory."""
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return Path(url[len("sqlite:///") :] + ".spool")
    base = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return base / "storelens" / "spool" / f"db-{digest}"


def _record(event: Event) -> dict[str, Any] | str:
    """The event as a JSON-ready dict, or the reason it cannot be serialised."""
    try:
        rec: dict[str, Any] = json.loads(event_json(event))
    except (ValueError, TypeError) as exc:
        return f"payload not JSON-serialisable: {exc}"
    return rec


class DatabaseSink:
    """Batched, idempotent, outage-tolerant event writer (see module docstring)."""

    name = "database"

    def __init__(
        self,
        db: Database | str | Path,
        *,
        batch_size: int = 1000,
        flush_interval_s: float = 0.5,
        spool_dir: str | Path | None = None,
        spool_max_events: int = 1_000_000,
        max_pending: int = 50_000,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        buckets_s: Sequence[int] = DEFAULT_BUCKETS_S,
        projections: bool = True,
        fsync: bool = True,
    ) -> None:
        if batch_size < 1 or max_pending < batch_size:
            raise ValueError("need 1 <= batch_size <= max_pending")
        if flush_interval_s <= 0:
            raise ValueError("flush_interval_s must be > 0")
        self._db: Database | None
        if isinstance(db, Database):
            self._db, self._url, self._owns_db = db, db.engine.url.render_as_string(hide_password=False), False
        else:
            self._db, self._url, self._owns_db = None, normalise_url(db), True
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_pending = max_pending
        self.buckets_s = tuple(buckets_s)
        self.projections = projections
        spool_path = Path(spool_dir) if spool_dir is not None else default_spool_dir(self._url)
        self.spool = DiskSpool(spool_path, name="events", max_records=spool_max_events, fsync=fsync)
        self._rejected_path = spool_path / "rejected.jsonl"
        self._backoff = Backoff(retry_initial_s, retry_max_s)
        self._retry_at = 0.0  # monotonic time before which the database is assumed down
        self._partitions = PartitionKeeper()
        self._partitions_started = False

        self._cond = threading.Condition()
        self._queue: deque[Event] = deque()
        self._accepted = 0  # events taken by write()
        self._handled = 0  # of those, committed or spooled (in order)
        self._flush_requests = 0
        self._stopping = False
        self._stats = DatabaseSinkStats()
        self._stats_lock = threading.Lock()
        # A full disk under the spool (or SQLite's own "database or disk is full"): what could not
        # be kept is lost, so the sink stops accepting events and says so once, by raising this
        # from write() and close() instead of retrying (and logging a traceback) forever.
        self.disk_full: DiskFullError | None = None
        self._thread = threading.Thread(target=self._run, name="storelens-db-sink", daemon=True)
        self._thread.start()

    # -------------------------------------------------------------------------------- protocol
    def write(self, events: Sequence[Event]) -> None:
        """Queue events (never blocks on the database). Over ``max_pending`` queued, the overflow
        goes straight to the disk spool instead of growing memory."""
        if not events:
            return
        if self.disk_full is not None:
            raise self.disk_full
        with self._cond:
            if self._stopping:
                raise RuntimeError("DatabaseSink is closed")
            self._accepted += len(events)
            if len(self._queue) + len(events) > self.max_pending:
                # the database is slower than the cameras: spill to disk rather than grow memory
                # (order across the spill does not matter: inserts are idempotent and keyed by id)
                self._spool(events)
                self._handled += len(events)
            else:
                self._queue.extend(events)
            if len(self._queue) >= self.batch_size:
                self._cond.notify_all()

    def flush(self, timeout_s: float | None = 30.0) -> None:
        """Wait until every event written so far is committed or safely spooled on disk."""
        self._wait_handled(timeout_s)

    def drain(self, timeout_s: float = 60.0) -> bool:
        """Wait until everything written so far is in the database (spool empty); False on timeout."""
        deadline = time.monotonic() + timeout_s
        if not self._wait_handled(timeout_s):
            return False
        with self._cond:
            self._retry_at = 0.0 if self.spool.pending else self._retry_at
            self._flush_requests += 1
            self._cond.notify_all()
            while self.spool.pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
                self._flush_requests += 1
                self._cond.notify_all()
        return True

    def close(self, timeout_s: float = 30.0) -> None:
        """Commit what can be committed, keep the rest in the spool for the next start."""
        with self._cond:
            if self._stopping:
                return
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.error("database sink did not stop within %.0f s; unflushed events remain queued", timeout_s)
        if self._owns_db and self._db is not None:
            self._db.close()
        if self.disk_full is not None:
            raise self.disk_full

    def stats(self) -> DatabaseSinkStats:
        with self._stats_lock:
            return replace(
                self._stats,
                accepted=self._accepted,
                pending_memory=len(self._queue),
                pending_spool=self.spool.pending,
                dropped=self.spool.dropped,
            )

    @property
    def database(self) -> Database | None:
        return self._db

    # --------------------------------------------------------------------------------- worker
    def _wait_handled(self, timeout_s: float | None) -> bool:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            target = self._accepted
            self._flush_requests += 1
            self._cond.notify_all()
            while self._handled < target:
                if not self._thread.is_alive():
                    return False
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(0.1 if left is None else min(left, 0.1))
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                if not (self._stopping or self._flush_requests or len(self._queue) >= self.batch_size):
                    self._cond.wait(self.flush_interval_s)
                self._flush_requests = 0
                n = min(len(self._queue), self.batch_size)
                batch = [self._queue.popleft() for _ in range(n)]
                stopping = self._stopping
            try:
                self._replay_spool(final=stopping)
                if batch:
                    self._deliver(batch)
            except Exception:  # never let the worker die: that would silently stop persistence
                log.exception("database sink worker error; batch spooled")
                if batch:
                    self._spool(batch)
            with self._cond:
                self._handled += len(batch)
                self._cond.notify_all()
                if stopping and not self._queue:
                    break

    def _ensure_db(self) -> Database:
        if self._db is None:
            self._db = open_database(self._url)
            log.info("database sink connected to %s", self._db.url)
        return self._db

    def _commit(self, events: Sequence[Event]) -> None:
        db = self._ensure_db()
        if not self._partitions_started:  # retried with the batch if the database is down
            self._partitions.start(db.begin, datetime.now(UTC))
            self._partitions_started = True
        self._partitions.ensure_for(db.begin, (e.ts for e in events))  # own transaction, before the batch's
        with db.begin() as conn:
            result = store_events(conn, events, buckets_s=self.buckets_s, projections=self.projections)
        with self._stats_lock:
            self._stats = replace(
                self._stats,
                inserted=self._stats.inserted + result.inserted,
                duplicates=self._stats.duplicates + result.duplicates,
            )

    def _db_down(self, exc: BaseException) -> None:
        delay = self._backoff.next_delay()
        self._retry_at = time.monotonic() + delay
        msg = brief_error(exc)
        with self._stats_lock:
            self._stats = replace(self._stats, failures=self._stats.failures + 1, last_error=msg)
        log.warning("database unavailable (%s); spooling, retry in %.1f s", msg, delay)

    def _db_up(self) -> None:
        if self._backoff.failures:
            log.info("database reachable again")
        self._backoff.reset()
        self._retry_at = 0.0

    def _deliver(self, batch: list[Event]) -> None:
        if self.spool.pending or time.monotonic() < self._retry_at:
            self._spool(batch)  # keep order behind what is already spooled / database known down
            return
        try:
            self._commit(batch)
            self._db_up()
        except Exception as exc:
            full = as_disk_full(exc, self._url)
            if full is not None and self.disk_full is None:
                self.disk_full = full
                log.error("%s: no more events are accepted; those spooled are stored at the next start", full)
            if is_transient(exc) or full is not None:
                self._db_down(exc)
                self._spool(batch)
            else:
                self._isolate(batch, exc)

    def _isolate(self, batch: Sequence[Event], first_exc: BaseException) -> None:
        log.error("batch of %d events refused (%s); retrying one by one", len(batch), first_exc)
        for i, event in enumerate(batch):
            try:
                self._commit([event])
            except Exception as exc:
                if is_transient(exc):
                    self._db_down(exc)
                    self._spool(list(batch[i:]))
                    return
                rec = _record(event)
                self._reject(rec if isinstance(rec, dict) else {"id": event.id, "repr": repr(event)[:2000]}, exc)

    def _reject(self, record: dict[str, Any], exc: BaseException | str) -> None:
        self._rejected_path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"at": datetime.now(UTC).isoformat(), "error": str(exc)[:2000], "event": record}
        with self._rejected_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, default=str) + "\n")
        with self._stats_lock:
            self._stats = replace(self._stats, rejected=self._stats.rejected + 1)
        log.error("event %s rejected by the database (%s); kept in %s", record.get("id"), exc, self._rejected_path)

    def _spool(self, events: Sequence[Event]) -> None:
        records: list[dict[str, Any]] = []
        for e in events:
            rec = _record(e)
            if isinstance(rec, str):
                self._reject({"id": e.id, "type": e.type, "repr": repr(e)[:2000]}, rec)
            else:
                records.append(rec)
        try:
            self.spool.append(records)
        except OSError as exc:
            full = as_disk_full(exc, self.spool.directory)
            if full is None:
                raise
            if self.disk_full is None or self.disk_full.path == self._url:
                log.error("%s: %d event(s) could not be kept and are lost", full, len(records))
            self.disk_full = full
            return
        with self._stats_lock:
            self._stats = replace(self._stats, spooled=self._stats.spooled + len(records))

    def _replay_spool(self, *, final: bool = False) -> None:
        """Replay spooled segments oldest first while the database accepts them."""
        while self.spool.pending and (final or time.monotonic() >= self._retry_at):
            seg = self.spool.peek()
            if seg is None:
                return
            events: list[Event] = []
            for rec in seg.records:
                try:
                    events.append(Event.model_validate(rec))
                except pydantic.ValidationError as exc:
                    self._reject(rec, f"not a valid event: {exc}")
            try:
                for i in range(0, len(events), self.batch_size):
                    self._commit(events[i : i + self.batch_size])
            except Exception as exc:
                self.spool.release(seg)
                if is_transient(exc):
                    self._db_down(exc)
                    return
                self._isolate(events, exc)  # data problem: salvage what we can, reject the rest
                self.spool.ack(seg)
                continue
            self.spool.ack(seg)
            self._db_up()
            with self._stats_lock:
                self._stats = replace(self._stats, replayed=self._stats.replayed + len(events))
            log.info("replayed %d spooled events", len(events))
