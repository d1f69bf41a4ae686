"""A bounded on-disk spool of JSON records, and the retry backoff the sinks share.

When a sink's destination is down (database stopped, broker unreachable) the sink appends what it
could not deliver here and replays it on recovery, so an outage loses nothing and a restart of the
process loses nothing either (the spool is re-read on start). The destinations are idempotent by
event id, so replaying a segment that was in fact half delivered produces no duplicates.

Layout: a directory of segment files ``<name>-<seq>.jsonl``, one JSON object per line. New records
go into the newest segment until it holds ``segment_records``; replay reads the oldest segment as a
whole and deletes it once the caller acknowledges it (after its data has been committed). A torn
last line (a crash mid-write) is skipped and counted, never fatal.

Bounded: with more than ``max_records`` pending, the *oldest* segments are dropped (counted in
``dropped`` and logged as errors): during a very long outage the newest data is the most useful,
and an unbounded spool would eventually fill the disk the database needs to recover.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_SEGMENT = re.compile(r"^(?P<name>.+)-(?P<seq>\d{12})\.jsonl$")


@dataclass(frozen=True, slots=True)
class Segment:
    """A spool segment handed out for replay: its records and the path to acknowledge."""

    path: Path
    records: list[dict[str, Any]]


class DiskSpool:
    """Append-only, bounded, crash-tolerant spool of JSON objects (thread-safe)."""

    def __init__(
        self,
        directory: str | Path,
        *,
        name: str = "spool",
        max_records: int = 1_000_000,
        segment_records: int = 5_000,
        fsync: bool = True,
    ) -> None:
        if max_records < 1 or segment_records < 1:
            raise ValueError("max_records and segment_records must be >= 1")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError(f"spool name must be a plain file name part, got {name!r}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.max_records = max_records
        self.segment_records = segment_records
        self.fsync = fsync
        self.dropped = 0
        self.corrupt = 0
        self._lock = threading.Lock()
        self._counts: dict[Path, int] = {}  # segment -> records, oldest first (insertion order)
        self._open: Path | None = None  # segment currently appended to
        self._seq = 0
        self._reserved: set[Path] = set()  # handed out by peek(), not yet acknowledged
        self._load()

    # ------------------------------------------------------------------------------------- state
    def _load(self) -> None:
        found: list[tuple[int, Path]] = []
        for p in self.directory.iterdir():
            m = _SEGMENT.match(p.name)
            if m and m["name"] == self.name and p.is_file():
                found.append((int(m["seq"]), p))
        for seq, p in sorted(found):
            self._counts[p] = _count_lines(p)
            self._seq = max(self._seq, seq)
        if found:
            log.warning(
                "spool %s: %d record(s) left from a previous run will be replayed", self.directory, self.pending
            )

    @property
    def pending(self) -> int:
        return sum(self._counts.values())

    def __len__(self) -> int:
        return self.pending

    # ------------------------------------------------------------------------------------ append
    def append(self, records: Sequence[dict[str, Any]]) -> int:
        """Persist ``records`` (fsync'd when configured); returns how many old records were dropped
        to stay within ``max_records``."""
        if not records:
            return 0
        with self._lock:
            recs = list(records)
            dropped = 0
            if len(recs) > self.max_records:  # the batch alone is too big: keep its newest part
                dropped += len(recs) - self.max_records
                recs = recs[-self.max_records :]
            while self.pending + len(recs) > self.max_records:
                victim = next((p for p in self._counts if p not in self._reserved), None)
                if victim is None:
                    break
                dropped += self._counts.pop(victim)
                victim.unlink(missing_ok=True)
                if victim == self._open:
                    self._open = None
            i = 0
            while i < len(recs):
                seg = self._open
                if seg is None or self._counts.get(seg, 0) >= self.segment_records:
                    self._seq += 1
                    seg = self._open = self.directory / f"{self.name}-{self._seq:012d}.jsonl"
                    self._counts[seg] = 0
                room = self.segment_records - self._counts[seg]
                chunk = recs[i : i + room]
                data = "".join(json.dumps(r, separators=(",", ":"), default=str) + "\n" for r in chunk)
                with seg.open("a", encoding="utf-8") as fh:
                    fh.write(data)
                    fh.flush()
                    if self.fsync:
                        os.fsync(fh.fileno())
                self._counts[seg] += len(chunk)
                i += len(chunk)
            if dropped:
                self.dropped += dropped
                log.error(
                    "spool %s over its bound of %d records: dropped the %d oldest",
                    self.directory,
                    self.max_records,
                    dropped,
                )
            return dropped

    # ------------------------------------------------------------------------------------ replay
    def peek(self) -> Segment | None:
        """The oldest segment not already handed out, or None when nothing is pending."""
        with self._lock:
            for path in self._counts:
                if path in self._reserved:
                    continue
                if path == self._open:
                    self._open = None  # freeze it: later appends start a new segment
                self._reserved.add(path)
                return Segment(path=path, records=self._read(path))
            return None

    def ack(self, segment: Segment) -> None:
        """The segment's records are safely delivered: delete it."""
        with self._lock:
            self._reserved.discard(segment.path)
            self._counts.pop(segment.path, None)
            segment.path.unlink(missing_ok=True)

    def release(self, segment: Segment) -> None:
        """Delivery failed: keep the segment for a later :meth:`peek`."""
        with self._lock:
            self._reserved.discard(segment.path)

    def _read(self, path: Path) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return out
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                rec = None
            if not isinstance(rec, dict):
                self.corrupt += 1
                log.error("spool %s:%d: unreadable record skipped (torn write?)", path, n)
                continue
            out.append(rec)
        return out


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


class Backoff:
    """Exponential backoff with full jitter in [delay/2, delay]: retries from many edge nodes after a
    central outage spread out instead of arriving in lock-step."""

    def __init__(self, initial_s: float = 0.5, max_s: float = 30.0, *, rng: random.Random | None = None) -> None:
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError("need 0 < initial_s <= max_s")
        self.initial_s = initial_s
        self.max_s = max_s
        self.failures = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        delay = min(self.max_s, self.initial_s * (2 ** min(self.failures, 30)))
        self.failures += 1
        return delay * (0.5 + 0.5 * self._rng.random())

    def reset(self) -> None:
        self.failures = 0
