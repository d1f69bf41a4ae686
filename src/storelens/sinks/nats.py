"""NATS JetStream sink and consumer: the transport from edge nodes to the central service.

Subjects: ``<prefix>.<store>.<camera or _store>.<event type>``; the dotted type extends the
hierarchy, e.g. ``storelens.s1.cam1.zone.entered``, so a consumer can filter on
``storelens.s1.>`` or ``storelens.*.*.zone.>``. Tokens are sanitised (``.``, ``*``, ``>`` and
whitespace become ``_``) so an id can never change the hierarchy or act as a wildcard.

The stream (``STORELENS`` by default, subjects ``<prefix>.>``) is created if missing and updated if
its retention/de-dup settings differ, so starting many nodes is idempotent. Every message carries
``Nats-Msg-Id = event id``: JetStream drops a re-publish of the same event inside the stream's
duplicate window, which turns the sink's at-least-once retries into exactly-once storage.

The sink runs its own asyncio loop in a thread (the pipeline is synchronous): ``write`` commits
records to a durable, bounded :class:`~storelens.sinks.outbox.MessageOutbox` (a SQLite journal,
fsync'd before ``write`` returns) and the loop publishes them with acknowledgement, up to
``concurrency`` in flight; a journal row is deleted only after JetStream acknowledged it. A publish
that fails (server down, no ack in time) goes back to the outbox and the loop backs off; nats-py
reconnects by itself. A process killed at any moment (``kill -9`` included) leaves its unacknowledged
messages in the journal, and the next sink over the same folder re-sends them, oldest first; what
JetStream had already stored is dropped by the msg id, so the stream holds every event exactly once
as long as the restart comes within the stream's ``duplicate_window_s``.

The consumer side is :func:`consume_batches` (a durable pull consumer handing whole fetches to a
handler, acknowledging after it returns; what ``storelens central`` uses to commit one transaction
per batch) and :func:`consume_events`, the same with a handler per event.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import re
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from storelens.config.outputs import NatsConfig, TlsConfig
from storelens.events.models import Event
from storelens.sinks.buffer import Backoff
from storelens.sinks.mqtt import default_state_dir
from storelens.sinks.outbox import MessageOutbox, Record
from storelens.storage.serialize import event_json

log = logging.getLogger(__name__)

_BAD_TOKEN = re.compile(r"[.*>\s\x00]")
MSG_ID = "Nats-Msg-Id"


def subject_token(value: str) -> str:
    return _BAD_TOKEN.sub("_", value) or "_"


def event_subject(prefix: str, event: Event) -> str:
    kind = ".".join(subject_token(p) for p in event.type.split("."))
    return f"{prefix}.{subject_token(event.store_id)}.{subject_token(event.camera_id or '_store')}.{kind}"


def _ssl_context(tls: TlsConfig) -> ssl.SSLContext | None:
    if not tls.enabled:
        return None
    ctx = ssl.create_default_context(cafile=tls.ca_file)
    if tls.cert_file and tls.key_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.insecure:
        ctx.check_hostname = False
    return ctx


def connect_options(config: NatsConfig) -> dict[str, Any]:
    """Keyword arguments for ``nats.connect`` from the config (secrets read from the environment)."""
    opts: dict[str, Any] = {
        "servers": list(config.servers),
        "connect_timeout": 2,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 1,
        "allow_reconnect": True,
    }
    if config.user:
        opts["user"] = config.user
    for key, env in (("password", config.password_env), ("token", config.token_env)):
        if env:
            value = os.environ.get(env)
            if value is None:
                raise ValueError(f"nats.{key}_env: environment variable {env} is not set")
            opts[key] = value
    if config.creds_file:
        opts["user_credentials"] = config.creds_file
    ctx = _ssl_context(config.tls)
    if ctx is not None:
        opts["tls"] = ctx
    return opts


async def ensure_stream(nc: NatsClient, config: NatsConfig) -> None:
    """Create the stream, or bring an existing one to the configured settings (idempotent)."""
    js = nc.jetstream()
    want = StreamConfig(
        name=config.stream,
        subjects=[f"{config.subject_prefix}.>"],
        max_age=config.max_age_s,
        duplicate_window=config.duplicate_window_s,
    )
    try:
        info = await js.stream_info(config.stream)
    except nats.js.errors.NotFoundError:
        await js.add_stream(want)
        log.info("nats: created stream %s (%s.>)", config.stream, config.subject_prefix)
        return
    have = info.config
    if (
        list(have.subjects or []) != want.subjects
        or have.max_age != want.max_age
        or have.duplicate_window != want.duplicate_window
    ):
        await js.update_stream(want)
        log.info("nats: updated stream %s", config.stream)


@dataclass(frozen=True, slots=True)
class NatsSinkStats:
    connected: bool
    published: int
    duplicates: int
    pending: int  # waiting in the outbox or awaiting an acknowledgement
    failures: int
    dropped: int
    last_error: str | None


class NatsSink:
    """Publish events to JetStream with acknowledgement and de-duplication (see module docstring)."""

    name = "nats"

    def __init__(
        self,
        config: NatsConfig,
        *,
        spool_dir: str | Path | None = None,
        concurrency: int = 64,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 15.0,
    ) -> None:
        self.config = config
        self.concurrency = concurrency
        self._types = tuple(config.types)
        spool = Path(spool_dir or config.spool_dir or default_state_dir("nats", config.stream))
        self.outbox = MessageOutbox(spool, name="nats", max_total=config.outbox_max)
        self._backoff = Backoff(retry_initial_s, retry_max_s)
        self._opts = connect_options(config)
        self._cond = threading.Condition()
        self._closing = False
        self._inflight = 0
        self._published = 0
        self._duplicates = 0
        self._failures = 0
        self._last_error: str | None = None
        self._nc: NatsClient | None = None
        self._loop = asyncio.new_event_loop()
        self._wake: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._thread_main, name="storelens-nats", daemon=True)
        self._thread.start()

    # ----------------------------------------------------------------------------- protocol
    def write(self, events: Sequence[Event]) -> None:
        records: list[Record] = [
            {"id": e.id, "subject": event_subject(self.config.subject_prefix, e), "payload": event_json(e)}
            for e in events
            if not self._types or e.type.startswith(self._types)
        ]
        with self._cond:
            if self._closing:
                raise RuntimeError("NatsSink is closed")
        self.outbox.put(records)  # on disk when this returns; an unwritable journal counts them as dropped
        self._poke()

    def flush(self, timeout_s: float = 10.0) -> None:
        self.wait_delivered(timeout_s)

    def wait_delivered(self, timeout_s: float) -> bool:
        """Wait until everything written so far is acknowledged by JetStream; False on timeout."""
        deadline = time.monotonic() + timeout_s
        self._poke()
        with self._cond:
            while len(self.outbox):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def close(self, timeout_s: float = 10.0) -> None:
        with self._cond:
            if self._closing:
                return
        self.wait_delivered(timeout_s if self.stats().connected else 0.0)
        with self._cond:
            self._closing = True
        self._poke()
        self._thread.join(timeout_s + 5)
        left = self.outbox.persist()
        if not self._thread.is_alive():  # (a publisher stuck past the join keeps its journal open)
            self.outbox.close()
        if left:
            log.warning("nats: %d undelivered message(s) kept in %s for the next start", left, self.outbox.path)
        if self.outbox.dropped:
            log.error("nats: %d message(s) dropped by the outbox (see the errors above)", self.outbox.dropped)

    def stats(self) -> NatsSinkStats:
        nc = self._nc
        with self._cond:
            return NatsSinkStats(
                connected=bool(nc is not None and nc.is_connected),
                published=self._published,
                duplicates=self._duplicates,
                pending=len(self.outbox),
                failures=self._failures,
                dropped=self.outbox.dropped,
                last_error=self._last_error,
            )

    # ---------------------------------------------------------------------------------- loop
    def _poke(self) -> None:
        wake = self._wake
        if wake is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop already stopped
                self._loop.call_soon_threadsafe(wake.set)

    def _thread_main(self) -> None:
        loop = self._loop
        try:
            loop.run_until_complete(self._main())
        finally:
            # nats-py leaves reader/flusher tasks behind after close: cancel them before closing
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def _error(self, exc: BaseException | str) -> None:
        with self._cond:
            self._failures += 1
            self._last_error = str(exc) or type(exc).__name__

    async def _connect(self) -> NatsClient:
        async def on_error(exc: Exception) -> None:
            log.debug("nats: %s", exc)

        while True:
            try:
                nc = await nats.connect(error_cb=on_error, **self._opts)
                await ensure_stream(nc, self.config)
                self._backoff.reset()
                return nc
            except (TimeoutError, nats.errors.Error, nats.js.errors.Error, OSError) as exc:
                self._error(exc)
                delay = self._backoff.next_delay()
                log.warning("nats: cannot connect to %s (%s); retry in %.1f s", self.config.servers, exc, delay)
                if await self._sleep_or_close(delay):
                    raise asyncio.CancelledError from None

    async def _sleep_or_close(self, delay: float) -> bool:
        """Sleep up to ``delay`` (woken early by writes/close); True when closing."""
        assert self._wake is not None
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=delay)
        with self._cond:
            return self._closing

    async def _main(self) -> None:
        self._wake = asyncio.Event()
        try:
            self._nc = await self._connect()
        except asyncio.CancelledError:
            return
        js = self._nc.jetstream()
        sem = asyncio.Semaphore(self.concurrency)
        try:
            while True:
                with self._cond:
                    closing = self._closing
                batch = self.outbox.take(self.concurrency * 4)
                if not batch:
                    if closing:
                        break
                    self._wake.clear()
                    if not len(self.outbox):
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), timeout=0.5)
                    continue
                with self._cond:
                    self._inflight += len(batch)

                async def send(rec: Record) -> Record | None:
                    async with sem:
                        try:
                            ack = await js.publish(
                                rec["subject"],
                                rec["payload"].encode(),
                                timeout=self.config.ack_timeout_s,
                                headers={MSG_ID: rec["id"]},
                            )
                        except (TimeoutError, nats.errors.Error, nats.js.errors.Error, OSError) as exc:
                            self._error(exc)
                            return rec
                        with self._cond:
                            self._published += 1
                            self._duplicates += int(bool(ack.duplicate))
                        return None

                failed = [r for r in await asyncio.gather(*(send(r) for r in batch)) if r is not None]
                gone = {id(r) for r in failed}
                self.outbox.ack([r for r in batch if id(r) not in gone])  # stored by JetStream: rows may go
                if failed:
                    self.outbox.requeue(failed)
                with self._cond:
                    self._inflight -= len(batch)
                    self._cond.notify_all()
                if failed:
                    delay = self._backoff.next_delay()
                    log.warning(
                        "nats: %d publish(es) failed (%s); retry in %.1f s", len(failed), self._last_error, delay
                    )
                    if await self._sleep_or_close(delay):
                        break
                else:
                    self._backoff.reset()
        finally:
            with self._cond:
                self._cond.notify_all()
            try:
                await self._nc.drain()
            except Exception:  # server already gone: just drop the connection
                with contextlib.suppress(Exception):
                    await self._nc.close()


EventHandler = Callable[[Event], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class Batch:
    """One fetch from the durable consumer, as handed to a :data:`BatchHandler`."""

    events: list[Event]  # valid events, in stream order (a re-published id can occur twice)
    pending: int  # messages for this consumer still waiting in the stream after this batch
    redelivered: int  # of ``events``, how many were delivered before (not acknowledged then)
    invalid: int  # messages that were not events (already terminated, never redelivered)


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What to do with a batch's messages besides acknowledging them (the default)."""

    retry: frozenset[str] = frozenset()  # event ids to NAK: redelivered after ``retry_delay_s``
    reject: frozenset[str] = frozenset()  # event ids to terminate: never redelivered (still in the stream)


BatchHandler = Callable[[Batch], Awaitable[BatchOutcome | None]]

#: defaults for a consumer created here; an existing durable keeps the settings it was created with
CONSUMER_ACK_WAIT_S = 30.0
CONSUMER_MAX_ACK_PENDING = 20_000


async def _keep_reserved(msgs: Sequence[Msg], interval_s: float) -> None:
    """While a handler works on a batch, tell JetStream every ``interval_s`` that the messages are
    still being processed, so a slow commit (or a database outage the handler waits out) does not
    make the server redeliver them to another consumer in the meantime."""
    while True:
        await asyncio.sleep(interval_s)
        for m in msgs:
            with contextlib.suppress(nats.errors.Error, OSError):
                await m.in_progress()


async def consume_batches(
    config: NatsConfig,
    handler: BatchHandler,
    *,
    durable: str = "storelens-central",
    filter_subject: str | None = None,
    batch: int = 256,
    stop: asyncio.Event | None = None,
    max_events: int | None = None,
    idle_timeout_s: float | None = None,
    nc: NatsClient | None = None,
    retry_delay_s: float = 1.0,
    inflight: int = 2,
) -> int:
    """Pull batches of events into ``handler`` until ``stop`` is set, ``max_events`` were fetched,
    or nothing arrived for ``idle_timeout_s``; returns the number of events acknowledged.

    A durable pull consumer keeps its position on the server, so a restarted consumer resumes
    where it stopped. The batch's messages are acknowledged only after ``handler`` returns (so a
    handler that commits a transaction acknowledges after the commit); a crash before that means
    redelivery, not loss, and handlers must be idempotent. While the handler runs, the messages
    are kept reserved (``in_progress``). Ids in the returned :class:`BatchOutcome` are NAKed
    (``retry``) or terminated (``reject``) instead; a handler that raises NAKs the whole batch. A
    message that is not a valid event is terminated (logged) so it cannot block the stream.

    ``inflight`` batches are held at once: with 2 (the default) the next batch is fetched and
    decoded while the handler commits the current one, which hides a round trip to the server and
    the decoding behind the commit; 1 fetches only after the previous batch was acknowledged.
    Batches are still handed to ``handler`` one at a time, in the order they were fetched.
    """
    if inflight < 1:
        raise ValueError("inflight must be >= 1")
    own = nc is None
    client = nc or await nats.connect(**connect_options(config))
    try:
        await ensure_stream(client, config)
        js = client.jetstream()
        subject = filter_subject or f"{config.subject_prefix}.>"
        sub = await js.pull_subscribe(
            subject,
            durable=durable,
            stream=config.stream,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=CONSUMER_ACK_WAIT_S,
                max_deliver=-1,  # never give up on an event: the database may be down for hours
                max_ack_pending=max(CONSUMER_MAX_ACK_PENDING, (inflight + 1) * batch),
            ),
        )
        _fast_next_msg(sub)
        info = await sub.consumer_info()
        if info.config.filter_subject and info.config.filter_subject != subject:
            log.warning(
                "nats: durable consumer %s already exists with filter %s, not %s; it keeps its settings "
                "(delete it, or use another durable name, to change them)",
                durable,
                info.config.filter_subject,
                subject,
            )
        keepalive_s = max(0.5, float(info.config.ack_wait or 30.0) / 3)
        return await _pipeline(
            sub,
            handler,
            batch=batch,
            inflight=inflight,
            stop=stop,
            max_events=max_events,
            idle_timeout_s=idle_timeout_s,
            keepalive_s=keepalive_s,
            retry_delay_s=retry_delay_s,
            client=client,
        )
    finally:
        if own:
            await client.drain()


def _fast_next_msg(pull_sub: Any) -> None:
    """Make the pull subscription's ``fetch`` take queued messages without a task per message.

    nats-py's ``fetch`` reads a batch one ``next_msg`` at a time, and every ``next_msg`` makes a
    uuid, a task and an ``asyncio.wait_for`` even when the message is already queued: with a
    thousand messages per fetch that was the largest cost of the consumer (bench/fleet.py,
    docs/DEPLOY.md). This replaces ``next_msg`` on this one subscription's inbox with the same
    contract (the next message, or ``nats.errors.TimeoutError``; the pending-bytes count kept) that
    returns a queued message at once and waits only when the queue is empty. It relies on
    nats-py's ``_sub`` / ``_pending_queue`` / ``_pending_size``; if those ever move, the
    subscription is left as nats-py made it (slower, still correct)."""
    inbox = getattr(pull_sub, "_sub", None)
    queue = getattr(inbox, "_pending_queue", None)
    if (
        inbox is None
        or not isinstance(queue, asyncio.Queue)
        or not hasattr(inbox, "_pending_size")
        or not isinstance(getattr(inbox, "_pending_next_msgs_calls", None), dict)
    ):
        return

    async def next_msg(timeout: float | None = 1.0) -> Msg:
        if queue.empty():
            if inbox._conn.is_closed:
                raise nats.errors.ConnectionClosedError
            # as nats-py does: a registered wait, which closing the connection cancels
            wait = asyncio.ensure_future(asyncio.wait_for(queue.get(), timeout))
            inbox._pending_next_msgs_calls[id(wait)] = wait
            try:
                msg: Msg = await wait
            except TimeoutError:
                if inbox._conn.is_closed:
                    raise nats.errors.ConnectionClosedError from None
                raise nats.errors.TimeoutError from None
            except asyncio.CancelledError:
                if inbox._conn.is_closed:
                    raise nats.errors.ConnectionClosedError from None
                raise
            finally:
                inbox._pending_next_msgs_calls.pop(id(wait), None)
        else:
            msg = queue.get_nowait()
        inbox._pending_size -= len(msg.data)
        queue.task_done()
        return msg

    inbox.next_msg = next_msg


@dataclass(slots=True)
class _Fetched:
    """A fetched batch, decoded and kept reserved (``in_progress``) until it is acknowledged."""

    batch: Batch
    valid: list[tuple[Msg, str]]
    keepalive: asyncio.Task[None]

    async def release(self) -> None:
        self.keepalive.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.keepalive


@dataclass(frozen=True, slots=True)
class _FetchFailed:
    error: BaseException


_DONE = object()


async def _pipeline(
    sub: Any,
    handler: BatchHandler,
    *,
    batch: int,
    inflight: int,
    stop: asyncio.Event | None,
    max_events: int | None,
    idle_timeout_s: float | None,
    keepalive_s: float,
    retry_delay_s: float,
    client: NatsClient,
) -> int:
    """Fetch in one task, handle and acknowledge in this one, with up to ``inflight`` batches
    held at once (the one being handled included): the next fetch and its decoding overlap the
    handler's commit, while batches are still handled one after another, in stream order, and
    each is acknowledged only after its handler returned."""
    slots = asyncio.Semaphore(inflight)
    ready: asyncio.Queue[_Fetched | _FetchFailed | object] = asyncio.Queue()

    async def fetcher() -> None:
        fetched = 0
        last = time.monotonic()
        try:
            while not (stop is not None and stop.is_set()):
                if max_events is not None and fetched >= max_events:
                    break
                if idle_timeout_s is not None and time.monotonic() - last > idle_timeout_s:
                    break
                await slots.acquire()
                if stop is not None and stop.is_set():  # set while every slot was busy
                    slots.release()
                    break
                want = batch if max_events is None else min(batch, max_events - fetched)
                try:
                    msgs = await sub.fetch(want, timeout=0.5)
                except (TimeoutError, nats.errors.TimeoutError):
                    slots.release()
                    continue
                last = time.monotonic()
                fetched += len(msgs)
                item = await _prepare(msgs, keepalive_s)
                if item is None:  # nothing but invalid messages (already terminated)
                    slots.release()
                    continue
                ready.put_nowait(item)
        except Exception as exc:  # a lost connection: the batches already fetched are still handled
            ready.put_nowait(_FetchFailed(exc))
        ready.put_nowait(_DONE)

    task = asyncio.create_task(fetcher(), name="storelens-nats-fetch")
    acked = 0
    try:
        while True:
            item = await ready.get()
            if item is _DONE:
                break
            if isinstance(item, _FetchFailed):
                raise item.error
            assert isinstance(item, _Fetched)
            try:
                acked += await _handle_fetched(item, handler, retry_delay_s)
            finally:
                slots.release()
        await client.flush()  # the last acknowledgements are on the wire before we return
        await sub.unsubscribe()
        return acked
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        while not ready.empty():  # prefetched but never handled (an error above): redeliver soon
            left = ready.get_nowait()
            if isinstance(left, _Fetched):
                await left.release()
                for msg, _ in left.valid:
                    with contextlib.suppress(nats.errors.Error, OSError):
                        await msg.nak(delay=retry_delay_s)


async def _prepare(msgs: list[Msg], keepalive_s: float) -> _Fetched | None:
    events: list[Event] = []
    valid: list[tuple[Msg, str]] = []
    redelivered = 0
    for msg in msgs:
        try:
            event = Event.model_validate_json(msg.data)
        except ValueError as exc:
            log.error("nats: message on %s is not an event (%s); terminated", msg.subject, exc)
            await msg.term()
            continue
        events.append(event)
        valid.append((msg, event.id))
        redelivered += int(msg.metadata.num_delivered > 1)
    if not valid:
        return None
    pending = int(msgs[-1].metadata.num_pending)
    return _Fetched(
        Batch(events, pending, redelivered, len(msgs) - len(valid)),
        valid,
        keepalive=asyncio.create_task(_keep_reserved([m for m, _ in valid], keepalive_s)),
    )


async def _handle_fetched(item: _Fetched, handler: BatchHandler, retry_delay_s: float) -> int:
    try:
        outcome = await handler(item.batch)
    except Exception:
        log.exception("nats: batch handler failed on %d event(s); they will be redelivered", len(item.valid))
        outcome = BatchOutcome(retry=frozenset(event_id for _, event_id in item.valid))
    finally:
        await item.release()
    outcome = outcome or BatchOutcome()
    acked = 0
    for msg, event_id in item.valid:
        if event_id in outcome.reject:
            await msg.term()
        elif event_id in outcome.retry:
            await msg.nak(delay=retry_delay_s)
        else:
            await msg.ack()
            acked += 1
    return acked


async def consume_events(
    config: NatsConfig,
    handler: EventHandler,
    *,
    durable: str = "storelens-central",
    filter_subject: str | None = None,
    batch: int = 256,
    stop: asyncio.Event | None = None,
    max_events: int | None = None,
    idle_timeout_s: float | None = None,
    nc: NatsClient | None = None,
) -> int:
    """:func:`consume_batches` with a handler per event (sync or async); returns the number handled.

    Each event is acknowledged once the handler has returned for every event of its fetch; an
    event whose handler raises is NAKed for redelivery (logged), the others are not held back.
    """

    async def per_event(b: Batch) -> BatchOutcome:
        failed: set[str] = set()
        for event in b.events:
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("nats: handler failed on event %s; will be redelivered", event.id)
                failed.add(event.id)
        return BatchOutcome(retry=frozenset(failed))

    return await consume_batches(
        config,
        per_event,
        durable=durable,
        filter_subject=filter_subject,
        batch=batch,
        stop=stop,
        max_events=max_events,
        idle_timeout_s=idle_timeout_s,
        nc=nc,
    )
