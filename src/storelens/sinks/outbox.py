"""A bounded outbox for broker sinks (MQTT, NATS): memory first, disk beyond, disk across restarts.

A broker sink puts every message here and its publisher takes them out only while connected, so
messages published during a broker outage wait instead of vanishing. Up to ``max_memory`` wait in
memory; the rest go to a :class:`~storelens.sinks.buffer.DiskSpool` (bounded by ``max_total``,
oldest dropped and counted beyond it). ``close`` spills whatever is still waiting to the spool, and
a new outbox over the same directory picks it up, so a restart during an outage loses nothing.

Records are small JSON dicts (``{"id", "topic"/"subject", "payload", ...}``); the receiving side
de-duplicates by the event id, which makes the at-least-once redelivery after a reconnect harmless.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from storelens.sinks.buffer import DiskSpool

Record = dict[str, Any]


class MessageOutbox:
    """Thread-safe FIFO-ish queue of records with a disk overflow (see module docstring)."""

    def __init__(
        self,
        spool_dir: str | Path,
        *,
        name: str = "outbox",
        max_memory: int = 10_000,
        max_total: int = 100_000,
        fsync: bool = False,
    ) -> None:
        if max_memory < 1 or max_total < max_memory:
            raise ValueError("need 1 <= max_memory <= max_total")
        self.max_memory = max_memory
        self._mem: deque[Record] = deque()
        self._lock = threading.Lock()
        self.spool = DiskSpool(spool_dir, name=name, max_records=max_total, segment_records=2000, fsync=fsync)

    def __len__(self) -> int:
        with self._lock:
            return len(self._mem) + self.spool.pending

    @property
    def dropped(self) -> int:
        return self.spool.dropped

    def put(self, records: Sequence[Record]) -> None:
        if not records:
            return
        with self._lock:
            room = max(0, self.max_memory - len(self._mem))
            if self.spool.pending == 0:
                self._mem.extend(records[:room])
                rest = records[room:]
            else:
                rest = records  # keep order: once spilling, newer records queue behind the spool
            if rest:
                self.spool.append(list(rest))

    def take(self, n: int) -> list[Record]:
        """Up to ``n`` records, oldest first; the caller must :meth:`requeue` any it cannot send."""
        with self._lock:
            if not self._mem and self.spool.pending:
                seg = self.spool.peek()
                if seg is not None:
                    self._mem.extend(seg.records)
                    self.spool.ack(seg)
            out: list[Record] = []
            while self._mem and len(out) < n:
                out.append(self._mem.popleft())
            return out

    def requeue(self, records: Iterable[Record]) -> None:
        """Put records back at the front (a send failed), keeping their order."""
        with self._lock:
            self._mem.extendleft(reversed(list(records)))

    def persist(self, extra: Sequence[Record] = ()) -> int:
        """Move everything waiting (plus ``extra``, e.g. unacknowledged in-flight messages) to disk."""
        with self._lock:
            records = [*extra, *self._mem]
            self._mem.clear()
            if records:
                self.spool.append(records)
            return self.spool.pending
