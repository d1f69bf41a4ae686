"""Streaming CSV and Parquet export of events, visits and aggregates for a time range.

An export is a generator of byte chunks: rows are read in keyset pages (one short read
transaction per page, so a month-long export never holds a lock or a snapshot open for minutes)
and each page is encoded and handed out before the next is read. Memory therefore stays at one
page however large the range, which is what lets the API stream a year of events through a
``StreamingResponse`` and the CLI write it to a file.

Parquet is written with one row group per page through a sink that hands out what pyarrow has
written so far; the footer comes last, as the format requires. JSON columns (payload, path, ...)
are exported as JSON text in both formats, so the files open in any tool without a nested schema.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from storelens.security.access import access_terms
from storelens.storage.database import Database
from storelens.storage.events import query_events
from storelens.storage.models import AGGREGATES, EVENTS, VISITS
from storelens.storage.serialize import json_dumps

Dataset = Literal["events", "visits", "aggregates"]
Format = Literal["csv", "parquet"]
DATASETS: tuple[Dataset, ...] = ("events", "visits", "aggregates")
FORMATS: tuple[Format, ...] = ("csv", "parquet")
PAGE = 5000

Row = dict[str, Any]

_TS = pa.timestamp("us", tz="UTC")

SCHEMAS: dict[Dataset, pa.Schema] = {
    "events": pa.schema(
        [
            ("id", pa.string()),
            ("type", pa.string()),
            ("store_id", pa.string()),
            ("camera_id", pa.string()),
            ("zone_id", pa.string()),
            ("subject", pa.string()),
            ("ts", _TS),
            ("payload", pa.string()),
        ]
    ),
    "visits": pa.schema(
        [
            ("id", pa.string()),
            ("store_id", pa.string()),
            ("camera_id", pa.string()),
            ("started_at", _TS),
            ("ended_at", _TS),
            ("duration_s", pa.float64()),
            ("fragments", pa.int32()),
            ("confidence", pa.float64()),
            ("is_staff", pa.bool_()),
            ("dwell_by_zone", pa.string()),
            ("intent_timeline", pa.string()),
            ("path", pa.string()),
            ("journey", pa.string()),
        ]
    ),
    "aggregates": pa.schema(
        [
            ("store_id", pa.string()),
            ("zone_id", pa.string()),
            ("bucket_start", _TS),
            ("bucket_s", pa.int32()),
            ("events", pa.int64()),
            ("entries", pa.int64()),
            ("exits", pa.int64()),
            ("dwell_count", pa.int64()),
            ("dwell_total_s", pa.float64()),
            ("dwell_mean_s", pa.float64()),
            ("dwell_max_s", pa.float64()),
            ("visits_started", pa.int64()),
            ("visits_ended", pa.int64()),
            ("occupancy_max", pa.int64()),
            ("queue_max", pa.int64()),
        ]
    ),
}


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """What to export: one store, one dataset, a time range (``since`` inclusive, ``until`` not).

    Events are selected by ``ts``, visits by ``started_at``, aggregates by ``bucket_start`` (of the
    ``bucket_s`` size)."""

    store_id: str
    dataset: Dataset
    since: datetime | None = None
    until: datetime | None = None
    bucket_s: int = 3600
    page: int = PAGE
    cameras: frozenset[str] | None = None
    """Only rows of these cameras (events/visits) and, without a camera, of ``zones``; aggregates
    keep only ``zones``' rows (the store-wide rows sum every camera). None: no restriction. The
    API sets both from the caller's access (``service.scope``)."""
    zones: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r} (choose from {', '.join(DATASETS)})")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ValueError("until must be after since")
        if not 1 <= self.page <= 10_000:
            raise ValueError("page must be in [1, 10000]")


# ------------------------------------------------------------------------------------ reading


def _access_terms(
    q: ExportQuery, camera_col: sa.ColumnElement[str] | None, zone_col: sa.ColumnElement[str] | None
) -> list[sa.ColumnElement[bool]]:
    return access_terms(q.cameras, q.zones, camera_col, zone_col)


def _event_pages(db: Database, q: ExportQuery) -> Iterator[list[Row]]:
    cursor: str | None = None
    while True:
        with db.engine.connect() as conn:
            page = query_events(
                conn,
                store_id=q.store_id,
                since=q.since,
                until=q.until,
                cursor=cursor,
                limit=q.page,
                extra=_access_terms(q, EVENTS.c.camera_id, EVENTS.c.zone_id),
            )
        if page.items:
            yield [
                {
                    "id": e.id,
                    "type": e.type,
                    "store_id": e.store_id,
                    "camera_id": e.camera_id,
                    "zone_id": e.zone_id,
                    "subject": e.subject,
                    "ts": e.ts,
                    "payload": json_dumps(e.payload),
                }
                for e in page.items
            ]
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _keyset_pages(
    db: Database,
    table: sa.Table,
    base: list[sa.ColumnElement[bool]],
    time_col: sa.Column[datetime],
    key_col: sa.Column[str],
    q: ExportQuery,
) -> Iterator[list[Row]]:
    """Rows of ``table`` in ``time_col`` range ``[q.since, q.until)`` ordered by (time, key), one
    short read per page of ``q.page``: the next page starts after the last (time, key) seen, so a
    page costs the same however deep into the range it is and no snapshot is held between pages."""
    if q.since is not None:
        base = [*base, time_col >= q.since]
    if q.until is not None:
        base = [*base, time_col < q.until]
    after: tuple[datetime, str] | None = None
    while True:
        where = list(base)
        if after is not None:
            where.append(sa.or_(time_col > after[0], sa.and_(time_col == after[0], key_col > after[1])))
        stmt = sa.select(table).where(*where).order_by(time_col, key_col).limit(q.page)
        with db.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
        if not rows:
            return
        yield rows
        if len(rows) < q.page:
            return
        after = (rows[-1][time_col.name], rows[-1][key_col.name])


def _visit_pages(db: Database, q: ExportQuery) -> Iterator[list[Row]]:
    c = VISITS.c
    base = [c.store_id == q.store_id, *_access_terms(q, c.camera_id, None)]
    for rows in _keyset_pages(db, VISITS, base, c.started_at, c.id, q):
        yield [
            {
                "id": m["id"],
                "store_id": m["store_id"],
                "camera_id": m["camera_id"],
                "started_at": m["started_at"],
                "ended_at": m["ended_at"],
                "duration_s": None if m["ended_at"] is None else (m["ended_at"] - m["started_at"]).total_seconds(),
                "fragments": m["fragments"],
                "confidence": m["confidence"],
                "is_staff": bool(m["is_staff"]),
                "dwell_by_zone": json_dumps(m["dwell_by_zone"] or {}),
                "intent_timeline": json_dumps(m["intent_timeline"] or []),
                "path": json_dumps(m["path"] or []),
                "journey": None if m["journey"] is None else json_dumps(m["journey"]),
            }
            for m in rows
        ]


def _aggregate_pages(db: Database, q: ExportQuery) -> Iterator[list[Row]]:
    c = AGGREGATES.c
    base = [c.store_id == q.store_id, c.bucket_s == q.bucket_s, *_access_terms(q, None, c.zone_id)]
    for rows in _keyset_pages(db, AGGREGATES, base, c.bucket_start, c.zone_id, q):
        for r in rows:
            r["dwell_mean_s"] = r["dwell_total_s"] / r["dwell_count"] if r["dwell_count"] else None
        yield rows


_READERS: dict[Dataset, Callable[[Database, ExportQuery], Iterator[list[Row]]]] = {
    "events": _event_pages,
    "visits": _visit_pages,
    "aggregates": _aggregate_pages,
}


def iter_pages(db: Database, q: ExportQuery) -> Iterator[list[Row]]:
    """The dataset's rows in pages of at most ``q.page``, in a stable order (keyset pagination)."""
    return _READERS[q.dataset](db, q)


# ----------------------------------------------------------------------------------- encoding


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def stream_csv(pages: Iterator[list[Row]], columns: Sequence[str]) -> Iterator[bytes]:
    """UTF-8 CSV: the header, then one chunk per page (empty cells for nulls, ISO 8601 times)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    yield buf.getvalue().encode()
    for page in pages:
        buf.seek(0)
        buf.truncate()
        writer.writerows([_csv_cell(row.get(c)) for c in columns] for row in page)
        yield buf.getvalue().encode()


class _ChunkSink(io.RawIOBase):
    """A write-only file that keeps what was written until :meth:`take` hands it out."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []
        self._pos = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        b = bytes(data)
        self._chunks.append(b)
        self._pos += len(b)
        return len(b)

    def tell(self) -> int:
        return self._pos

    def take(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks.clear()
        return out


def stream_parquet(pages: Iterator[list[Row]], schema: pa.Schema) -> Iterator[bytes]:
    """Parquet (zstd), one row group per page, handed out as each row group is written."""
    sink = _ChunkSink()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    try:
        for page in pages:
            table = pa.Table.from_pylist(page, schema=schema)
            writer.write_table(table)
            chunk = sink.take()
            if chunk:
                yield chunk
    finally:
        writer.close()
    tail = sink.take()
    if tail:
        yield tail


def stream_export(db: Database, q: ExportQuery, fmt: Format) -> Iterator[bytes]:
    """The export as byte chunks (see the module docstring)."""
    schema = SCHEMAS[q.dataset]
    pages = iter_pages(db, q)
    if fmt == "csv":
        return stream_csv(pages, schema.names)
    if fmt == "parquet":
        return stream_parquet(pages, schema)
    raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


def media_type(fmt: Format) -> str:
    return "text/csv; charset=utf-8" if fmt == "csv" else "application/vnd.apache.parquet"


def export_to_file(db: Database, q: ExportQuery, fmt: Format, path: str | Path) -> int:
    """Write an export to ``path`` (via a temporary file, so a failed export leaves no partial
    file behind); returns the bytes written."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    size = 0
    try:
        with tmp.open("wb") as fh:
            for chunk in stream_export(db, q, fmt):
                fh.write(chunk)
                size += len(chunk)
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return size
