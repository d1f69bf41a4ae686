"""Monthly range partitions of the PostgreSQL ``events`` table (SQLite keeps one plain table).

Why: a chain writes billions of event rows a year. Deleting expired rows one chunk at a time
rewrites indexes and leaves bloat for VACUUM; dropping a month's partition is a catalog change that
frees the space at once. Every index is declared on the parent, so each partition carries its own
copy, and a query with a ``ts`` range (every API page) only touches the partitions it overlaps.

The layout (migration ``0008_events_partitioned``):

* ``events`` is ``PARTITION BY RANGE (ts)``; its primary key is ``(id, ts)`` because PostgreSQL
  requires the partition key in every unique index. An event id is random and a re-delivered event
  carries the same ``ts``, so ``ON CONFLICT DO NOTHING`` on ``(id, ts)`` still stores each event once.
* ``events_pYYYYMM`` holds ``[first of month, first of next month)`` in UTC; the name is the range,
  so retention reads no catalog expressions.
* ``events_default`` catches what no partition covers yet (a backfill of last year, an edge clock
  far in the future). :func:`ensure_partitions` moves such rows into the partition it creates, so a
  partition can be added after its rows arrived.

Central creates partitions ahead (:class:`PartitionKeeper`): at start for the previous, current
and next ``ahead`` months, and before any batch holding a month it has not seen. Creation runs in
its own short transaction under an advisory lock (several central processes), never inside a batch
transaction, so a batch never waits on DDL while holding row locks.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

PARENT = "events"
DEFAULT = "events_default"
_NAME = re.compile(r"^events_p(\d{4})(\d{2})$")
_LOCK_KEY = 0x5709E1E6  # arbitrary, constant: "storelens partitions" (migrate uses ...E5)


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC


def month_start(ts: datetime) -> datetime:
    t = ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)
    return datetime(t.year, t.month, 1, tzinfo=UTC)


def add_months(month: datetime, n: int) -> datetime:
    k = month.year * 12 + month.month - 1 + n
    return datetime(k // 12, k % 12 + 1, 1, tzinfo=UTC)


def partition_name(month: datetime) -> str:
    return f"events_p{month:%Y%m}"


def months_between(start: datetime, end: datetime) -> list[datetime]:
    """Every month start from ``start``'s month to ``end``'s month, both included."""
    out = [month_start(start)]
    last = month_start(end)
    while out[-1] < last:
        out.append(add_months(out[-1], 1))
    return out


def is_partitioned(conn: Connection) -> bool:
    """Whether ``events`` is a partitioned table here (PostgreSQL after 0007; never SQLite)."""
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.exec_driver_sql(
        "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relname = %s AND n.nspname = current_schema()",
        (PARENT,),
    ).scalar()
    return bool(kind == "p")


def list_partitions(conn: Connection) -> list[Partition]:
    """The month partitions attached to ``events``, oldest first (the default one is not listed)."""
    names: list[str] = list(
        conn.exec_driver_sql(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace"
            " WHERE p.relname = %s AND n.nspname = current_schema()",
            (PARENT,),
        ).scalars()
    )
    out = []
    for name in names:
        m = _NAME.match(name)
        if m:
            start = datetime(int(m.group(1)), int(m.group(2)), 1, tzinfo=UTC)
            out.append(Partition(name, start, add_months(start, 1)))
    return sorted(out, key=lambda p: p.start)


def ensure_partitions(conn: Connection, months: Iterable[datetime]) -> list[str]:
    """Create the month partitions of ``months`` that do not exist yet; returns the names created.

    Run it in a transaction of its own. Rows of a new month already sitting in ``events_default``
    are moved into it; the default partition is locked first so a concurrent writer's row cannot
    slip in between the move and the attach (which would make the attach fail)."""
    wanted = sorted({month_start(m) for m in months})
    if not wanted or not is_partitioned(conn):
        return []
    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
    have = {p.start for p in list_partitions(conn)}
    todo = [m for m in wanted if m not in have]
    if not todo:
        return []
    conn.exec_driver_sql(f"LOCK TABLE {DEFAULT} IN ACCESS EXCLUSIVE MODE")
    for month in todo:
        name, lo, hi = partition_name(month), month.isoformat(), add_months(month, 1).isoformat()
        conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        conn.exec_driver_sql(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE ts >= %s AND ts < %s RETURNING *)"
            f" INSERT INTO {name} SELECT * FROM moved",
            (lo, hi),
        )
        # ATTACH builds the partition's copies of the parent's indexes (primary key included)
        conn.exec_driver_sql(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM ('{lo}') TO ('{hi}')")
    return [partition_name(m) for m in todo]


def drop_partitions_before(conn: Connection, cutoff: datetime) -> dict[str, int]:
    """Drop every month partition that ends at or before ``cutoff``; rows dropped per partition.

    Rows of a partly expired month (and of the default partition) are left for the chunked delete
    of :mod:`storelens.storage.retention`."""
    if not is_partitioned(conn):
        return {}
    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
    out: dict[str, int] = {}
    for p in list_partitions(conn):
        if p.end <= cutoff:
            out[p.name] = int(conn.exec_driver_sql(f"SELECT count(*) FROM {p.name}").scalar_one())
            conn.exec_driver_sql(f"DROP TABLE {p.name}")
    return out


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic filter: the partitions are not in the models (they come and go at run time)."""
    return not (type_ == "table" and reflected and name is not None and (name == DEFAULT or _NAME.match(name)))


class PartitionKeeper:
    """Keeps the months a process writes to partitioned ahead of its inserts (thread-safe).

    ``ahead``: months created beyond the current one at start, so a month boundary is crossed
    with its partition already in place; a batch holding any other month (late or early events)
    creates that month first, once per process."""

    def __init__(self, ahead: int = 2) -> None:
        self.ahead = ahead
        self._known: set[datetime] = set()
        self._lock = threading.Lock()
        self.enabled = True

    def start(self, conn_factory: Any, now: datetime) -> list[str]:
        """Create last month to ``ahead`` months ahead; ``conn_factory()`` opens a transaction."""
        this = month_start(now)
        return self._ensure(conn_factory, [add_months(this, k) for k in range(-1, self.ahead + 1)])

    def ensure_for(self, conn_factory: Any, timestamps: Iterable[datetime]) -> list[str]:
        if not self.enabled:
            return []
        months = {month_start(t) for t in timestamps}
        with self._lock:
            missing = months - self._known
        if not missing:
            return []
        # a new month: also the ones after it, so the next boundary finds its partition in place
        last = max(missing)
        return self._ensure(conn_factory, missing | {add_months(last, k) for k in range(1, self.ahead + 1)})

    def _ensure(self, conn_factory: Any, months: Iterable[datetime]) -> list[str]:
        months = set(months)
        with conn_factory() as conn:
            if not is_partitioned(conn):
                self.enabled = False  # SQLite or a database not migrated this far: nothing to keep
                return []
            created = ensure_partitions(conn, months)
        with self._lock:
            self._known |= months
        return created
