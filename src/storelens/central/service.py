"""The central ingest loop: JetStream durable pull consumer → one transaction per batch → ack.

Why nothing is lost or stored twice, without any machinery of our own:

* Edge nodes publish with ``Nats-Msg-Id = event id`` and wait for the stream's acknowledgement, so
  an event is either in the stream or still in the edge's outbox/spool.
* Central fetches up to ``batch`` messages, stores the events through
  :func:`storelens.storage.ingest.store_events` in **one transaction** (insert by id with
  ``ON CONFLICT DO NOTHING``; aggregates, visits, alerts and promotions projected from the new rows
  only), and acknowledges the messages **only after the commit**. A crash or kill before the ack
  means JetStream redelivers (durable consumer, explicit ack, ``max_deliver = -1``); a redelivered
  or re-published event is already in the table, so the insert skips it and its projections are
  not applied again. Exactly-once rows follow from at-least-once delivery + an idempotent insert.
* A database outage keeps the batch in hand, unacknowledged (kept reserved with ``in_progress`` so
  the server does not hand it to another consumer meanwhile), and retries it with exponential
  backoff; nothing beyond the ``inflight`` batches already in hand is fetched until it commits. On
  shutdown during an outage those batches are NAKed and redelivered to the next consumer.
* Several central processes may share the durable (work-queue: each batch goes to one of them).
  Rows stay exactly-once for the reasons above; aggregate rows are additive upserts, and the visit
  projection locks the visits a batch touches, so concurrent commits cannot lose an update.
* On PostgreSQL the event table is partitioned by month (:mod:`storelens.storage.partitions`):
  central creates the partitions ahead (at start, and before a batch holding a month it has not
  seen), each in a short transaction of its own, so batches never wait on DDL.
* Within a process the next batch is fetched and decoded while the current one commits
  (``inflight``, see :func:`storelens.sinks.nats.consume_batches`); commits stay sequential.
* A batch the database refuses for a non-transient reason is stored event by event; the events
  still refused are logged and terminated (they stay in the stream until ``max_age``, and a new
  durable can replay them), so one bad event cannot block every store behind it.

Database calls run in a worker thread so the NATS connection (pings, acks) stays serviced while a
commit or a reconnect attempt blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient

from storelens.central.config import CentralConfig
from storelens.core.errors import brief_error
from storelens.core.redact import mask_credentials
from storelens.events.models import Event
from storelens.sinks.buffer import Backoff
from storelens.sinks.database import is_transient
from storelens.sinks.nats import Batch, BatchOutcome, connect_options, consume_batches, ensure_stream
from storelens.storage.database import Database, normalise_url, open_database
from storelens.storage.ingest import store_events
from storelens.storage.partitions import PartitionKeeper

log = logging.getLogger(__name__)

_NATS_ERRORS = (TimeoutError, nats.errors.Error, OSError)
LAG_POLL_S = 5.0


@dataclass(frozen=True, slots=True)
class CentralStats:
    consumed: int = 0  # events fetched, redeliveries included
    redelivered: int = 0
    stored: int = 0  # new rows
    duplicates: int = 0  # already stored
    rejected: int = 0  # terminated: not an event, or refused by the database
    batches: int = 0  # committed transactions
    commit_seconds: float = 0.0
    db_errors: int = 0
    nats_errors: int = 0
    consumer_pending: int | None = None  # not yet delivered (lag); None until first known
    consumer_ack_pending: int | None = None
    db_up: bool = False
    nats_connected: bool = False
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class _Stored:
    inserted: int
    duplicates: int
    rejected: frozenset[str]


def safe_url(url: str) -> str:
    """The database URL with its whole userinfo masked (for logs and what ``central`` prints)."""
    return mask_credentials(normalise_url(url))


async def _wait(stop: asyncio.Event, delay_s: float) -> bool:
    """Sleep ``delay_s`` unless stopped first; True when stopping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=delay_s)
    return stop.is_set()


class CentralIngest:
    """Consume events from JetStream into the database (see module docstring)."""

    def __init__(self, config: CentralConfig) -> None:
        if not config.database_url:
            raise ValueError("central: a database URL is required")
        self.config = config
        self.database_url = config.database_url
        self._buckets = tuple(config.aggregate_buckets_s)
        self._db: Database | None = None
        self._nc: NatsClient | None = None
        self._stop = asyncio.Event()
        self._lock = threading.Lock()  # stats are read from the metrics server's thread
        self._stats = CentralStats()
        self._db_backoff = Backoff(config.retry_initial_s, config.retry_max_s)
        self._nats_backoff = Backoff(config.retry_initial_s, config.retry_max_s)
        self._closing = False
        self._partitions = PartitionKeeper()

    # ----------------------------------------------------------------------------- public
    def stats(self) -> CentralStats:
        nc = self._nc
        with self._lock:
            return replace(self._stats, nats_connected=bool(nc is not None and nc.is_connected))

    async def run(
        self, stop: asyncio.Event | None = None, *, idle_timeout_s: float | None = None, max_events: int | None = None
    ) -> int:
        """Consume until ``stop`` is set (or, for tests and benchmarks, nothing arrived for
        ``idle_timeout_s`` / ``max_events`` were fetched); returns the events acknowledged. The
        batch in hand is always finished (committed and acknowledged, or NAKed) before returning."""
        self._stop = stop or asyncio.Event()
        self._closing = False
        if not await self._open_database():
            return 0
        try:
            nc = await self._connect()
            if nc is None:
                return 0
            lag = asyncio.create_task(self._poll_lag(nc))
            try:
                return await self._consume(nc, idle_timeout_s, max_events)
            finally:
                lag.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await lag
                self._closing = True
                try:
                    await nc.drain()  # sends the last acknowledgements
                except Exception:  # server already gone: nothing more can be sent anyway
                    with contextlib.suppress(Exception):
                        await nc.close()
                self._nc = None
        finally:
            if self._db is not None:
                self._db.close()
                self._db = None

    # ----------------------------------------------------------------------------- start-up
    async def _open_database(self) -> bool:
        """Open (and migrate) the database, retrying while it is unreachable; False if stopped first.
        A non-transient problem (bad URL, schema newer than this code) raises."""
        while True:
            try:
                self._db = await asyncio.to_thread(open_database, self.database_url)
                await asyncio.to_thread(self._partitions.start, self._db.begin, datetime.now(UTC))
            except Exception as exc:
                if self._db is not None:
                    self._db.close()
                    self._db = None
                if not is_transient(exc):
                    raise
                if await self._db_failed(exc, f"database {safe_url(self.database_url)} unreachable"):
                    return False
                continue
            self._db_ok()
            return True

    async def _connect(self) -> NatsClient | None:
        """Connect to NATS and set up the stream, retrying with backoff; None if stopped first.

        nats-py retries an unreachable server silently and forever when reconnects are unlimited,
        so the first contact is a probe without reconnects: it fails fast, and we say so."""
        cfg = self.config.nats
        opts = connect_options(cfg)
        last_error: list[BaseException] = []

        async def probe_error(exc: Exception) -> None:
            last_error.append(exc)

        while True:
            nc: NatsClient | None = None
            try:
                probe = await nats.connect(
                    **{**opts, "allow_reconnect": False, "max_reconnect_attempts": 1, "reconnect_time_wait": 0.1},
                    error_cb=probe_error,
                )
                await probe.close()
                nc = await nats.connect(
                    **opts,
                    error_cb=self._on_nats_error,
                    disconnected_cb=self._on_disconnect,
                    reconnected_cb=self._on_reconnect,
                )
                await ensure_stream(nc, cfg)
            except _NATS_ERRORS as exc:
                if nc is not None:
                    self._closing = True  # not a lost connection: do not report it as one
                    with contextlib.suppress(Exception):
                        await nc.close()
                    self._closing = False
                cause = last_error[-1] if isinstance(exc, nats.errors.NoServersError) and last_error else exc
                last_error.clear()
                self._count(nats_errors=1, last_error=brief_error(cause))
                delay = self._nats_backoff.next_delay()
                log.warning(
                    "nats: cannot reach %s (%s); retry in %.1f s", ", ".join(cfg.servers), brief_error(cause), delay
                )
                if await _wait(self._stop, delay):
                    return None
                continue
            if self._nats_backoff.failures:
                log.warning("nats: connected to %s", nc.connected_url.netloc if nc.connected_url else cfg.servers)
            self._nats_backoff.reset()
            self._nc = nc
            return nc

    async def _on_nats_error(self, exc: Exception) -> None:
        log.debug("nats: %s", exc)

    async def _on_disconnect(self) -> None:
        if not self._closing:
            self._count(nats_errors=1)
            log.warning("nats: connection lost; reconnecting (unacknowledged events will be redelivered)")

    async def _on_reconnect(self) -> None:
        log.warning("nats: reconnected")

    # ----------------------------------------------------------------------------- consume
    async def _consume(self, nc: NatsClient, idle_timeout_s: float | None, max_events: int | None) -> int:
        acked = 0
        while not self._stop.is_set():
            left = None if max_events is None else max_events - acked
            try:
                acked += await consume_batches(
                    self.config.nats,
                    self._handle,
                    durable=self.config.durable,
                    filter_subject=self.config.subject,
                    batch=self.config.batch,
                    inflight=self.config.inflight,
                    stop=self._stop,
                    max_events=left,
                    idle_timeout_s=idle_timeout_s,
                    nc=nc,
                )
                self._nats_backoff.reset()
                return acked  # stopped, idle or max_events
            except _NATS_ERRORS as exc:
                self._count(nats_errors=1, last_error=brief_error(exc))
                delay = self._nats_backoff.next_delay()
                log.warning("nats: consumer interrupted (%s); resubscribing in %.1f s", brief_error(exc), delay)
                if await _wait(self._stop, delay):
                    break
        return acked

    async def _handle(self, batch: Batch) -> BatchOutcome:
        """Store the batch in one transaction; wait out a database outage with the batch in hand."""
        self._count(
            consumed=len(batch.events),
            redelivered=batch.redelivered,
            rejected=batch.invalid,
            consumer_pending=batch.pending,
        )
        while True:
            t0 = time.perf_counter()
            try:
                result = await asyncio.to_thread(self._store, batch.events)
            except Exception as exc:
                if not is_transient(exc):
                    raise  # a bug, not the data or the database: NAKed, logged with its traceback
                what = f"database unavailable; {len(batch.events)} event(s) held unacknowledged"
                if await self._db_failed(exc, what):
                    log.warning("stopping during a database outage: %d event(s) left for redelivery", len(batch.events))
                    return BatchOutcome(retry=frozenset(e.id for e in batch.events))
                continue
            self._db_ok()
            self._count(
                stored=result.inserted,
                duplicates=result.duplicates,
                rejected=len(result.rejected),
                batches=1,
                commit_seconds=time.perf_counter() - t0,
            )
            return BatchOutcome(reject=result.rejected)

    def _store(self, events: Sequence[Event]) -> _Stored:
        """One transaction for the batch; if the database refuses it for a non-transient reason,
        one per event so that only the offending events are rejected. Runs in a worker thread."""
        db = self._db
        assert db is not None
        self._partitions.ensure_for(db.begin, (e.ts for e in events))  # own transaction, before the batch's
        try:
            with db.begin() as conn:
                r = store_events(conn, events, buckets_s=self._buckets)
            return _Stored(r.inserted, r.duplicates, frozenset())
        except Exception as exc:
            if is_transient(exc):
                raise
            log.error("batch of %d event(s) refused (%s); storing them one by one", len(events), brief_error(exc))
        inserted = duplicates = 0
        rejected: set[str] = set()
        for e in events:
            try:
                with db.begin() as conn:
                    r = store_events(conn, [e], buckets_s=self._buckets)
            except Exception as exc:
                if is_transient(exc):
                    raise  # the whole batch is retried; what committed is skipped by id then
                rejected.add(e.id)
                log.error(
                    "event %s (%s, store %s) refused by the database (%s); terminated, it stays in the stream",
                    e.id,
                    e.type,
                    e.store_id,
                    brief_error(exc),
                )
                continue
            inserted += r.inserted
            duplicates += r.duplicates
        return _Stored(inserted, duplicates, frozenset(rejected))

    async def _db_failed(self, exc: BaseException, what: str) -> bool:
        """Count and report a transient database failure, then back off; True when stopping."""
        delay = self._db_backoff.next_delay()
        self._count(db_errors=1, last_error=brief_error(exc), db_up=False)
        log.warning("%s (%s); retry in %.1f s", what, brief_error(exc), delay)
        return await _wait(self._stop, delay)

    def _db_ok(self) -> None:
        if self._db_backoff.failures:
            log.warning("database %s reachable again; resuming", safe_url(self.database_url))
        self._db_backoff.reset()
        with self._lock:
            if not self._stats.db_up:
                self._stats = replace(self._stats, db_up=True)

    async def _poll_lag(self, nc: NatsClient) -> None:
        """Keep the lag gauges fresh while idle or stalled (batches update them too)."""
        js = nc.jetstream()
        while True:
            try:
                info = await js.consumer_info(self.config.nats.stream, self.config.durable)
                self._count(consumer_pending=info.num_pending or 0, consumer_ack_pending=info.num_ack_pending or 0)
            except _NATS_ERRORS as exc:  # not created yet, or disconnected: try again later
                log.debug("nats: consumer info: %s", exc)
            await asyncio.sleep(LAG_POLL_S)

    def _count(self, **changes: float | int | bool | str | None) -> None:
        """Add numeric deltas to counters; set gauges (``consumer_*``, ``db_up``, ``last_error``)."""
        with self._lock:
            st = self._stats
            updates: dict[str, Any] = {}
            for key, value in changes.items():
                if key.startswith("consumer_") or key in ("db_up", "last_error"):
                    updates[key] = value
                else:
                    updates[key] = getattr(st, key) + value
            self._stats = replace(st, **updates)
