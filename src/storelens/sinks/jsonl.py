"""JSONL sink: one JSON object per line, appended to a file (the simplest durable record of a run).

Lines are written through a buffered file handle under a lock, so ``write`` costs a string format
and a memory copy; ``flush`` pushes the buffer to the OS (and fsyncs when asked), ``close`` flushes
and closes. Appending (never truncating) means a re-run or a restart adds to the same file and a
crash loses at most the unflushed tail, never earlier lines. A write that fails for lack of space
raises :class:`~storelens.core.errors.DiskFullError` naming the file; the file is closed all the
same and holds whole lines up to the last buffer that fitted (at most the last line is cut).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from storelens.core.errors import as_disk_full
from storelens.events.models import Event
from storelens.storage.serialize import event_json


class JsonlSink:
    """Append events to ``path`` as JSON lines (``Event.to_json_dict()`` per line)."""

    name = "jsonl"

    def __init__(self, path: str | Path, *, fsync_on_flush: bool = False, flush_every: int = 0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync_on_flush = fsync_on_flush
        self.flush_every = flush_every  # 0: only on flush()/close(); N: after every N events
        self.written = 0
        self._lock = threading.Lock()
        self._fh: IO[str] | None = self.path.open("a", encoding="utf-8")
        self._since_flush = 0

    def write(self, events: Sequence[Event]) -> None:
        if not events:
            return
        # numpy scalars, datetimes etc. in payloads are converted; anything else raises here, in
        # the caller, before a partial line can reach the file
        lines = "".join(event_json(e) + "\n" for e in events)
        with self._lock:
            if self._fh is None:
                raise RuntimeError(f"JsonlSink({self.path}) is closed")
            try:
                self._fh.write(lines)
            except OSError as exc:
                raise self._failed(exc) from exc
            self.written += len(events)
            self._since_flush += len(events)
            if self.flush_every and self._since_flush >= self.flush_every:
                self._flush_locked()

    def _flush_locked(self) -> None:
        if self._fh is None:
            return
        try:
            self._fh.flush()
            if self.fsync_on_flush:
                os.fsync(self._fh.fileno())
        except OSError as exc:
            raise self._failed(exc) from exc
        self._since_flush = 0

    def _failed(self, exc: OSError) -> OSError:
        """The error to raise for a failed write: a full disk becomes :class:`DiskFullError`
        naming this file (a buffered write's OSError carries no file name)."""
        return as_disk_full(exc, self.path) or exc

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def close(self) -> None:
        with self._lock:
            if self._fh is None:
                return
            fh = self._fh
            try:
                self._flush_locked()
            except BaseException:
                self._fh = None
                with contextlib.suppress(OSError):  # the flush above says what went wrong
                    fh.close()
                raise
            self._fh = None
            fh.close()

    def __enter__(self) -> JsonlSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_jsonl(path: str | Path) -> Iterator[Event]:
    """Read events back (e.g. to import a JSONL file into a database); raises on a malformed line,
    naming the file and line, so nothing is skipped silently."""
    with Path(path).open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield Event.model_validate_json(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: not a valid event: {exc}") from None
