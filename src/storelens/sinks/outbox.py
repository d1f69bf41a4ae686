"""A durable, bounded outbox for broker sinks (NATS, MQTT): a SQLite journal written before ``write`` returns.

Why a journal and not memory: an edge node is killed (``kill -9``, SIGTERM without a handler, power
loss) exactly when its broker link is most likely to be down, and whatever waits only in memory then
is gone. So every message is committed to a SQLite file (WAL, ``synchronous=FULL``: on disk once
:meth:`MessageOutbox.put` returns) and its row is deleted only after the broker acknowledged it
(:meth:`MessageOutbox.ack`). A new outbox over the same file hands out every row left by the
previous process, oldest first, so a crash at any moment ends with every journaled message sent at
least once. The receiving side de-duplicates by the event id (JetStream by ``Nats-Msg-Id``, MQTT
subscribers by the ``event_id`` property), which makes the re-send of a message that was
acknowledged just before the crash harmless.

Bounded (``max_total`` rows): beyond it the *oldest* waiting rows are deleted and counted in
``dropped`` (logged as an error, and the count is kept in the journal, so it survives restarts).
A journal that cannot be written (disk full, file-size limit, read-only) drops the message, counts
it, and logs one error line per episode; it never raises into the pipeline.

Files ``<name>-<seq>.jsonl`` of the former on-disk spool (:class:`~storelens.sinks.buffer.DiskSpool`)
found in the directory are imported into the journal on start and then deleted.

Records are small JSON dicts (``{"id", "topic"/"subject", "payload"}``); :meth:`take` returns them
with an extra ``"seq"`` key (the journal row) that :meth:`ack` and :meth:`requeue` use.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from storelens.sinks.buffer import DiskSpool

log = logging.getLogger(__name__)

Record = dict[str, Any]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, rec TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO counters (name, value) VALUES ('dropped', 0)",
)
#: acknowledged rows are deleted in batches: losing a pending delete in a crash only means a re-send
_ACK_BATCH = 128


class OutboxError(OSError):
    """The journal cannot be opened (an unwritable folder, a corrupt file): a start-up error."""


class MessageOutbox:
    """Thread-safe journal of records, oldest first (see module docstring)."""

    def __init__(
        self,
        spool_dir: str | Path,
        *,
        name: str = "outbox",
        max_total: int = 100_000,
        max_memory: int | None = None,  # accepted for compatibility; everything is on disk now
    ) -> None:
        if max_total < 1:
            raise ValueError("need max_total >= 1")
        del max_memory
        self.name = name
        self.max_total = max_total
        self.directory = Path(spool_dir)
        self.path = self.directory / f"{name}-journal.sqlite3"
        self._lock = threading.RLock()
        self._inflight: dict[int, Record] = {}  # handed out by take(), not yet acked or requeued
        self._retry: list[Record] = []  # requeued, sorted by seq; older than anything past the cursor
        self._acked: set[int] = set()  # acknowledged, delete not yet committed
        self._cursor = 0  # highest seq handed out from the table
        self._unsaved_dropped = 0  # dropped while the journal was unwritable, to be added to the counter
        self._failing = False  # inside a "journal not writable" episode (one error line each)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            for stmt in _SCHEMA:
                self._db.execute(stmt)
            self._count = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
            self._saved_dropped = int(self._db.execute("SELECT value FROM counters WHERE name='dropped'").fetchone()[0])
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(f"{name} outbox: cannot open journal {self.path}: {exc}") from None
        if self._count:
            log.warning("%s outbox: %d message(s) left from a previous run will be re-sent", name, self._count)
        self._import_legacy_spool()

    # ------------------------------------------------------------------------------- queries
    def __len__(self) -> int:
        """Messages not yet acknowledged by the broker (waiting or in flight)."""
        with self._lock:
            return self._count - len(self._acked)

    @property
    def waiting(self) -> int:
        """Messages not handed out (not in flight)."""
        with self._lock:
            return self._count - len(self._acked) - len(self._inflight)

    @property
    def dropped(self) -> int:
        """Messages lost to the bound or to an unwritable journal, over the journal's lifetime."""
        with self._lock:
            return self._saved_dropped + self._unsaved_dropped

    # ------------------------------------------------------------------------------ writing
    def put(self, records: Sequence[Record]) -> int:
        """Journal ``records`` (committed and fsync'd on return); returns how many were kept.

        Never raises for an unwritable journal: those records are counted as dropped instead."""
        if not records:
            return 0
        recs = list(records)
        with self._lock:
            trimmed = max(0, len(recs) - self.max_total)  # the batch alone is too big: keep its newest
            recs = recs[trimmed:]
            if self._count + len(recs) > self.max_total:
                self._flush_acks_locked()  # acknowledged rows make room before waiting ones are dropped
            over = max(0, self._count + len(recs) - self.max_total)
            victims: list[int] = []
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    if over:
                        busy = len(self._inflight) + len(self._acked)
                        rows = self._db.execute(
                            "SELECT seq FROM outbox ORDER BY seq LIMIT ?", (over + busy,)
                        ).fetchall()
                        victims = [s for (s,) in rows if s not in self._inflight and s not in self._acked][:over]
                        self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in victims])
                    lost = trimmed + len(victims)
                    self._db.executemany(
                        "INSERT INTO outbox (id, rec) VALUES (?, ?)",
                        [(str(r.get("id", "")), json.dumps(r, separators=(",", ":"), default=str)) for r in recs],
                    )
                    if lost or self._unsaved_dropped:
                        self._db.execute(
                            "UPDATE counters SET value = value + ? WHERE name = 'dropped'",
                            (lost + self._unsaved_dropped,),
                        )
                    self._db.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise
            except (sqlite3.Error, OSError) as exc:
                self._unsaved_dropped += len(records)
                self._journal_failed(exc, f"{len(records)} message(s) dropped")
                return 0
            if self._failing:
                self._failing = False
                log.warning(
                    "%s outbox: journal %s is writable again (%d message(s) dropped in all)",
                    self.name,
                    self.path,
                    self.dropped + lost,
                )
            self._saved_dropped += lost + self._unsaved_dropped
            self._unsaved_dropped = 0
            self._count += len(recs) - len(victims)
            if victims:
                gone = set(victims)
                self._retry = [r for r in self._retry if r["seq"] not in gone]
            if lost:
                log.error(
                    "%s outbox over its bound of %d messages: dropped the %d oldest (%d in all)",
                    self.name,
                    self.max_total,
                    lost,
                    self._saved_dropped,
                )
            return len(recs)

    # ----------------------------------------------------------------------------- delivery
    def take(self, n: int) -> list[Record]:
        """Up to ``n`` records, oldest first; each must later be :meth:`ack`-ed or :meth:`requeue`-d."""
        with self._lock:
            if len(self._acked) >= _ACK_BATCH:
                self._flush_acks_locked()
            out = self._retry[:n]
            del self._retry[: len(out)]
            if len(out) < n:
                try:
                    rows = self._db.execute(
                        "SELECT seq, rec FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (self._cursor, n - len(out))
                    ).fetchall()
                except sqlite3.Error as exc:
                    self._journal_failed(exc, "cannot read it; will retry")
                    rows = []
                for seq, text in rows:
                    rec = json.loads(text)
                    rec["seq"] = int(seq)
                    out.append(rec)
                    self._cursor = max(self._cursor, int(seq))
            for rec in out:
                self._inflight[rec["seq"]] = rec
            return out

    def ack(self, records: Iterable[Record]) -> None:
        """The broker acknowledged these: their rows go (in batches; a lost delete means a re-send)."""
        with self._lock:
            for rec in records:
                seq = rec["seq"]
                if self._inflight.pop(seq, None) is not None:
                    self._acked.add(seq)
            if len(self._acked) >= _ACK_BATCH:
                self._flush_acks_locked()

    def requeue(self, records: Iterable[Record]) -> None:
        """A send failed: hand these out again (first, in their order)."""
        with self._lock:
            back = [self._inflight.pop(r["seq"]) for r in records if r["seq"] in self._inflight]
            if back:
                self._retry = sorted([*back, *self._retry], key=lambda r: int(r["seq"]))

    def discard(self, records: Iterable[Record], reason: str) -> None:
        """Records the broker can never take (e.g. an invalid topic): removed and counted as dropped."""
        recs = list(records)
        with self._lock:
            self.ack(recs)
            self._unsaved_dropped += len(recs)
            self._flush_acks_locked()
        log.error("%s outbox: %d message(s) dropped: %s", self.name, len(recs), reason)

    def persist(self, extra: Sequence[Record] = ()) -> int:
        """Everything is already on disk; commit pending deletes and hand ``extra`` back to the journal
        order (in-flight messages whose acknowledgement never came). Returns the messages left."""
        with self._lock:
            if extra:
                self.requeue(extra)
            self._flush_acks_locked()
            return self._count - len(self._acked)

    def close(self) -> None:
        with self._lock:
            self._flush_acks_locked()
            self._db.close()

    # ----------------------------------------------------------------------------- internals
    def _flush_acks_locked(self) -> None:
        if not self._acked and not self._unsaved_dropped:
            return
        seqs = sorted(self._acked)
        saved = self._unsaved_dropped
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
                if saved:
                    self._db.execute("UPDATE counters SET value = value + ? WHERE name = 'dropped'", (saved,))
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        except (sqlite3.Error, OSError) as exc:
            self._journal_failed(exc, "acknowledged messages stay until it is (they may be re-sent)")
            return
        self._acked.clear()
        self._count -= len(seqs)
        self._saved_dropped += saved
        self._unsaved_dropped = 0

    def _rollback(self) -> None:
        # (no transaction may be left to roll back: SQLite already rolled it back on the error)
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("ROLLBACK")

    def _journal_failed(self, exc: BaseException, what: str) -> None:
        if not self._failing:
            self._failing = True
            log.error(
                "%s outbox: journal %s is not writable (%s; disk full or read-only?): %s; until it is, every "
                "new message is dropped and counted",
                self.name,
                self.path,
                exc,
                what,
            )
        else:
            log.debug("%s outbox: journal still not writable (%s): %s", self.name, exc, what)

    def _import_legacy_spool(self) -> None:
        """Move ``<name>-<seq>.jsonl`` files of the former disk spool into the journal, oldest first."""
        if not any(self.directory.glob(f"{self.name}-*.jsonl")):
            return
        spool = DiskSpool(self.directory, name=self.name, max_records=10**9, fsync=False)
        moved = 0
        while (seg := spool.peek()) is not None:
            if seg.records and self.put(seg.records) < len(seg.records):
                spool.release(seg)  # the journal refused it: keep the file for the next start
                break
            spool.ack(seg)
            moved += len(seg.records)
        if moved:
            log.warning("%s outbox: imported %d message(s) from the former spool files", self.name, moved)
