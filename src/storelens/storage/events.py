"""Event repository: idempotent batch insert, filtered queries with keyset (cursor) pagination.

Pagination is keyset on ``(ts, id)``, not OFFSET: a page costs the same whether it is the first or
the ten-thousandth (the ``ix_events_ts_id`` index serves it), and events inserted while a client
pages do not shift later pages. The cursor is an opaque URL-safe token of the last row's (ts, id).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict, Unpack, cast

import psycopg
import psycopg.errors
import sqlalchemy as sa
from psycopg import pq
from psycopg.adapt import Dumper
from psycopg.postgres import types as pg_types
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from storelens.events.models import Event
from storelens.storage.models import EVENTS
from storelens.storage.serialize import json_dumps

Executor = Connection | Session

MAX_PAGE = 10_000


class CursorError(ValueError):
    """A pagination cursor that this server did not produce (or that was mangled)."""


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of events and the cursor for the next page (``None`` at the end)."""

    items: list[Event]
    next_cursor: str | None


def dialect_insert(conn: Executor, table: sa.Table) -> Any:
    """``INSERT`` with the dialect's ``ON CONFLICT`` support (PostgreSQL or SQLite)."""
    name = conn.get_bind().dialect.name if isinstance(conn, Session) else conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported dialect {name!r}")


def dialect_name(conn: Executor) -> str:
    return conn.get_bind().dialect.name if isinstance(conn, Session) else conn.dialect.name


def event_to_row(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "store_id": event.store_id,
        "camera_id": event.camera_id,
        "zone_id": event.zone_id,
        "subject": event.subject,
        "ts": event.ts,
        "payload": event.payload,
    }


def row_to_event(row: Any) -> Event:
    return Event(
        id=row.id,
        type=row.type,
        store_id=row.store_id,
        camera_id=row.camera_id,
        zone_id=row.zone_id,
        subject=row.subject,
        ts=row.ts,
        payload=row.payload or {},
    )


_INSERT_COLUMNS = ("id", "type", "store_id", "camera_id", "zone_id", "subject", "ts", "payload")
_INSERT_CHUNK = 1000  # SQLite rows per statement: 8000 parameters, under its 32766 limit


def insert_events(conn: Executor, events: Sequence[Event]) -> list[Event]:
    """Insert a batch with multi-row ``INSERT ... ON CONFLICT (id) DO NOTHING RETURNING id``.

    Returns the events that were actually new, in input order, so that derived tables (aggregates,
    visits) are updated exactly once per event even when a batch is replayed after an outage, and
    even when two writers race on the same events (RETURNING reports what *this* statement
    inserted). Duplicate ids inside one batch are collapsed first (the first occurrence wins).

    This is the hot path of ingest, so it renders the SQL and parameters itself instead of going
    through SQLAlchemy's per-row type processing (which costs more than the database does); the
    stored forms are exactly what :class:`UTCDateTime` and the JSON type produce, so ORM reads and
    comparisons see the same values.
    """
    unique: dict[str, Event] = {}
    for e in events:
        unique.setdefault(e.id, e)
    if not unique:
        return []
    connection = conn.connection() if isinstance(conn, Session) else conn
    dialect = connection.dialect.name
    todo = list(unique.values())
    cols = ",".join(_INSERT_COLUMNS)
    inserted: set[str] = set()
    if dialect == "postgresql":
        inserted.update(_insert_postgres(connection, todo))
    elif dialect == "sqlite":
        for i in range(0, len(todo), _INSERT_CHUNK):
            chunk = todo[i : i + _INSERT_CHUNK]
            params: list[Any] = []
            for e in chunk:
                params += (
                    e.id,
                    e.type,
                    e.store_id,
                    e.camera_id,
                    e.zone_id,
                    e.subject,
                    e.ts.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"),
                    json_dumps(e.payload),
                )
            sql = (
                f"INSERT INTO events ({cols}) VALUES {','.join(['(?,?,?,?,?,?,?,?)'] * len(chunk))} "
                "ON CONFLICT (id) DO NOTHING RETURNING id"
            )
            inserted.update(r[0] for r in connection.exec_driver_sql(sql, tuple(params)))
    else:
        raise ValueError(f"unsupported dialect {dialect!r}")
    return [e for e in todo if e.id in inserted]


_PG_INSERT_SQL = (
    f"INSERT INTO events ({','.join(_INSERT_COLUMNS)}) SELECT * FROM unnest(%b::varchar[], %b::varchar[],"
    " %b::varchar[], %b::varchar[], %b::varchar[], %b::varchar[], %b::timestamptz[], %b::text[]::jsonb[])"
    # no conflict target: the primary key is (id) on SQLite and unpartitioned PostgreSQL,
    # (id, ts) on the partitioned table (storage/partitions.py); either way it is the id
    " ON CONFLICT DO NOTHING RETURNING id"
)
_PG_STORED_SQL = "SELECT id, ts FROM events WHERE id = ANY(%b::varchar[]) AND ts BETWEEN %b AND %b"
_PG_COPY_SQL = f"COPY events ({','.join(_INSERT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_PG_COPY_TYPES = ("varchar",) * 6 + ("timestamptz", "jsonb")
_PG_SAVEPOINT = "storelens_copy_events"


class _JsonbTextDumper(Dumper):
    """Binary ``jsonb`` from JSON text that :func:`json_dumps` already produced (the wire form is a
    version byte and the text), so COPY sends the payload as is instead of encoding it again."""

    format = pq.Format.BINARY
    oid = pg_types["jsonb"].oid

    def dump(self, obj: Any) -> bytes:
        return b"\x01" + str(obj).encode()


def _insert_postgres(connection: Connection, todo: list[Event]) -> set[str]:
    """PostgreSQL: the ids this call inserted.

    The fast path is binary ``COPY`` of the events not already stored: COPY costs the server a
    fraction of ``INSERT ... ON CONFLICT`` (multi-row heap inserts, no speculative insertion per
    row) and psycopg formats its rows in C, where array parameters were formatted per element in
    Python (both measured in bench/fleet.py, docs/DEPLOY.md). COPY cannot skip a conflicting row,
    so the ids already stored are looked up first (one primary-key probe per event); a row that
    another writer commits between that look-up and the COPY makes the COPY fail on the primary
    key, and then the batch goes through ``INSERT ... ON CONFLICT DO NOTHING RETURNING id``
    instead, inside a savepoint, so exactly-once holds whichever path ran."""
    payloads = [json_dumps(e.payload) for e in todo]  # first: a payload that cannot be JSON raises here
    dbapi = cast("psycopg.Connection[Any]", connection.connection.dbapi_connection)
    with dbapi.cursor() as cur:
        # the ts bounds let PostgreSQL prune the month partitions: an id alone would be looked up
        # in every partition's primary-key index, a cost that grows with the months retained
        cur.execute(_PG_STORED_SQL, ([e.id for e in todo], min(e.ts for e in todo), max(e.ts for e in todo)))
        stored = {(row[0], row[1]) for row in cur.fetchall()}
        rows = [(e, p) for e, p in zip(todo, payloads, strict=True) if (e.id, e.ts) not in stored]
        if not rows:
            return set()
        cur.adapters.register_dumper(None, _JsonbTextDumper)
        cur.execute(f"SAVEPOINT {_PG_SAVEPOINT}")
        try:
            with cur.copy(_PG_COPY_SQL) as copy:
                copy.set_types(_PG_COPY_TYPES)
                for e, p in rows:
                    copy.write_row((e.id, e.type, e.store_id, e.camera_id, e.zone_id, e.subject, e.ts, p))
            inserted = {e.id for e, _ in rows}
        except psycopg.errors.UniqueViolation:  # a concurrent writer stored some of them meanwhile
            cur.execute(f"ROLLBACK TO SAVEPOINT {_PG_SAVEPOINT}")
            columns: tuple[list[Any], ...] = tuple([] for _ in _INSERT_COLUMNS)
            for e, p in rows:
                for col, value in zip(
                    columns, (e.id, e.type, e.store_id, e.camera_id, e.zone_id, e.subject, e.ts, p), strict=True
                ):
                    col.append(value)
            cur.execute(_PG_INSERT_SQL, columns)
            inserted = {r[0] for r in cur.fetchall()}
        cur.execute(f"RELEASE SAVEPOINT {_PG_SAVEPOINT}")
    return inserted


def encode_cursor(ts: datetime, event_id: str) -> str:
    raw = json.dumps([ts.astimezone(UTC).isoformat(), event_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts_text, event_id = json.loads(raw)
        ts = datetime.fromisoformat(ts_text)
        if not isinstance(event_id, str) or ts.tzinfo is None:
            raise ValueError("bad cursor content")
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise CursorError(f"invalid cursor {cursor[:40]!r}: pass back a next_cursor from a previous page") from None
    return ts, event_id


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _type_clause(types: Iterable[str]) -> sa.ColumnElement[bool]:
    """Exact types, or prefixes when a value ends in '.' ("zone." matches zone.entered/zone.exited)."""
    exact = [t for t in types if not t.endswith(".")]
    prefixes = [t for t in types if t.endswith(".")]
    col = EVENTS.c.type
    clauses: list[sa.ColumnElement[bool]] = []
    if exact:
        clauses.append(col.in_(exact))
    for p in prefixes:
        escaped = p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(col.like(escaped + "%", escape="\\"))
    return sa.or_(*clauses)


class EventFilters(TypedDict, total=False):
    """The filters :func:`query_events` and :func:`count_events` share (each absent or None: no filter);
    one declaration so a new filter reaches both and the SQL built for them stays the same."""

    store_id: str | None
    types: Sequence[str] | None
    zone_id: str | None
    camera_id: str | None
    subject: str | None
    since: datetime | None
    until: datetime | None


def _filters(f: EventFilters) -> list[sa.ColumnElement[bool]]:
    c = EVENTS.c
    store_id, types, zone_id = f.get("store_id"), f.get("types"), f.get("zone_id")
    camera_id, subject, since, until = f.get("camera_id"), f.get("subject"), f.get("since"), f.get("until")
    out: list[sa.ColumnElement[bool]] = []
    if store_id is not None:
        out.append(c.store_id == store_id)
    if types:
        out.append(_type_clause(types))
    if zone_id is not None:
        out.append(c.zone_id == zone_id)
    if camera_id is not None:
        out.append(c.camera_id == camera_id)
    if subject is not None:
        out.append(c.subject == subject)
    if since is not None:
        out.append(c.ts >= _as_utc(since))
    if until is not None:
        out.append(c.ts < _as_utc(until))
    return out


def query_events(
    conn: Executor,
    *,
    cursor: str | None = None,
    limit: int = 100,
    descending: bool = False,
    extra: Sequence[sa.ColumnElement[bool]] = (),
    **filters: Unpack[EventFilters],
) -> EventPage:
    """Events matching every given filter, ordered by (ts, id); ``since`` inclusive, ``until`` exclusive.

    ``cursor`` continues after the last event of a previous page (same filters and direction).
    ``extra``: further terms on ``EVENTS`` (the API's per-camera access filter), applied in SQL so
    pages and cursors stay exact.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be in [1, {MAX_PAGE}], got {limit}")
    c = EVENTS.c
    where = _filters(filters)
    where.extend(extra)
    if cursor is not None:
        cts, cid = decode_cursor(cursor)
        # Written as a range on ts plus a tie-break so the (store_id, ts, id) index serves it as a
        # range scan; the equivalent "ts > t OR (ts = t AND id > i)" makes both SQLite and
        # PostgreSQL re-scan from the first row on every page (measured: 530 ms vs 5.5 ms at row
        # 900k of 1M, bench/api.py).
        if descending:
            where.append(sa.and_(c.ts <= cts, sa.or_(c.ts < cts, c.id < cid)))
        else:
            where.append(sa.and_(c.ts >= cts, sa.or_(c.ts > cts, c.id > cid)))
    order = (c.ts.desc(), c.id.desc()) if descending else (c.ts.asc(), c.id.asc())
    stmt = sa.select(EVENTS).where(*where).order_by(*order).limit(limit + 1)
    rows = conn.execute(stmt).all()
    items = [row_to_event(r) for r in rows[:limit]]
    next_cursor = encode_cursor(items[-1].ts, items[-1].id) if len(rows) > limit and items else None
    return EventPage(items=items, next_cursor=next_cursor)


def count_events(conn: Executor, **filters: Unpack[EventFilters]) -> int:
    where = _filters(filters)
    stmt = sa.select(sa.func.count()).select_from(EVENTS).where(*where)
    return int(conn.execute(stmt).scalar_one())


def get_event(conn: Executor, event_id: str) -> Event | None:
    row = conn.execute(sa.select(EVENTS).where(EVENTS.c.id == event_id)).first()
    return None if row is None else row_to_event(row)
