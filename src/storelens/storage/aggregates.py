"""Time-bucketed aggregates, maintained incrementally as events are stored.

Only events that were *newly* inserted feed the aggregates (see ``insert_events``), and the
per-batch deltas are added with one ``INSERT ... ON CONFLICT DO UPDATE`` per bucket row, in the
same transaction as the events. So a replayed batch changes nothing and a crash between the two
cannot leave them disagreeing. Sums and maxima are the only statistics kept because both combine
exactly: an hourly row can be rebuilt from its 5-minute rows, and averages are ``total / count``.

Payload fields read, typed (the analytics modules produce them): dwell seconds from
:meth:`ZoneExited.dwell` (``dwell_s``, else ``dwell_seconds``), people from
:meth:`OccupancyChanged.people` (``occupancy``, else ``count``) and queue length from
:meth:`QueueUpdated.people` (``length``, else ``queue_length``). Only those types are parsed: the
other events are counted without reading their payload.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storelens.events.models import Event, EventType
from storelens.events.payloads import OccupancyChanged, QueueUpdated, VisitEnded, VisitStarted, ZoneExited, typed
from storelens.storage.events import Executor, dialect_insert, dialect_name
from storelens.storage.models import AGGREGATES

STORE_WIDE = ""
"""``zone_id`` of the store-level row in each bucket."""

DEFAULT_BUCKETS_S: tuple[int, ...] = (300, 3600)

_SUM_FIELDS = (
    "events",
    "entries",
    "exits",
    "dwell_count",
    "dwell_total_s",
    "visits_started",
    "visits_ended",
)
_MAX_FIELDS = ("dwell_max_s", "occupancy_max", "queue_max")


@dataclass(slots=True)
class AggregateDelta:
    """What one batch adds to one (store, zone, bucket) row."""

    events: int = 0
    entries: int = 0
    exits: int = 0
    dwell_count: int = 0
    dwell_total_s: float = 0.0
    dwell_max_s: float = 0.0
    visits_started: int = 0
    visits_ended: int = 0
    occupancy_max: int = 0
    queue_max: int = 0


@dataclass(frozen=True, slots=True)
class Aggregate:
    """One stored bucket row, as the API returns it."""

    store_id: str
    zone_id: str
    bucket_start: datetime
    bucket_s: int
    events: int
    entries: int
    exits: int
    dwell_count: int
    dwell_total_s: float
    dwell_max_s: float
    visits_started: int
    visits_ended: int
    occupancy_max: int
    queue_max: int

    @property
    def dwell_mean_s(self) -> float | None:
        return self.dwell_total_s / self.dwell_count if self.dwell_count else None


AggKey = tuple[str, str, datetime, int]


def bucket_start(ts: datetime, bucket_s: int) -> datetime:
    """Floor ``ts`` to a multiple of ``bucket_s`` since the UNIX epoch (UTC)."""
    if bucket_s <= 0:
        raise ValueError(f"bucket size must be positive, got {bucket_s}")
    epoch = int(ts.timestamp() // bucket_s) * bucket_s
    return datetime.fromtimestamp(epoch, tz=UTC)


def _fused(e: Event) -> bool:
    p = e.typed_payload()
    return isinstance(p, VisitStarted | VisitEnded) and p.fused is True


def _merge(into: AggregateDelta, d: AggregateDelta) -> None:
    for f in _SUM_FIELDS:
        setattr(into, f, getattr(into, f) + getattr(d, f))
    for f in _MAX_FIELDS:
        setattr(into, f, max(getattr(into, f), getattr(d, f)))


def compute_deltas(events: Iterable[Event], buckets_s: Sequence[int]) -> dict[AggKey, AggregateDelta]:
    """Pure: the per-(store, zone, bucket) increments a set of new events implies.

    Events are first summed per slot of ``gcd(buckets_s)`` seconds (one dict update per event), then
    the few slot rows are rolled up into each bucket size: every bucket size is a multiple of the
    gcd, so a slot lies inside exactly one bucket of each size.
    """
    sizes = sorted(set(buckets_s))
    if not sizes:
        return {}
    if sizes[0] <= 0:
        raise ValueError(f"bucket sizes must be positive, got {buckets_s}")
    g = math.gcd(*sizes)
    slots: dict[tuple[str, str, int], AggregateDelta] = {}

    def get(store: str, zone: str, slot: int) -> AggregateDelta:
        key = (store, zone, slot)
        d = slots.get(key)
        if d is None:
            d = slots[key] = AggregateDelta()
        return d

    for e in events:
        slot = int(e.ts.timestamp() // g)
        store_row = get(e.store_id, STORE_WIDE, slot)
        store_row.events += 1
        zone_row = None
        if e.zone_id:
            zone_row = get(e.store_id, e.zone_id, slot)
            zone_row.events += 1
        t = e.type
        if t == EventType.ZONE_ENTERED and zone_row is not None:
            zone_row.entries += 1
        elif t == EventType.ZONE_EXITED and zone_row is not None:
            zone_row.exits += 1
            dwell = (typed(e, ZoneExited) or ZoneExited()).dwell()
            if dwell is not None and dwell >= 0:
                zone_row.dwell_count += 1
                zone_row.dwell_total_s += dwell
                zone_row.dwell_max_s = max(zone_row.dwell_max_s, dwell)
        elif t in (EventType.VISIT_STARTED, EventType.VISIT_ENDED) and _fused(e):
            pass  # a fused store visit (analytics/storelevel.py) is also counted by its cameras: not twice
        elif t == EventType.VISIT_STARTED:
            store_row.visits_started += 1
        elif t == EventType.VISIT_ENDED:
            store_row.visits_ended += 1
        elif t == EventType.OCCUPANCY_CHANGED:
            n = (typed(e, OccupancyChanged) or OccupancyChanged()).people()
            if n is not None:
                row = zone_row or store_row
                row.occupancy_max = max(row.occupancy_max, int(n))
        elif t == EventType.QUEUE_UPDATED:
            n = (typed(e, QueueUpdated) or QueueUpdated()).people()
            if n is not None:
                row = zone_row or store_row
                row.queue_max = max(row.queue_max, int(n))

    out: dict[AggKey, AggregateDelta] = {}
    for (store, zone, slot), d in slots.items():
        for size in sizes:
            epoch = (slot * g) // size * size
            key = (store, zone, datetime.fromtimestamp(epoch, tz=UTC), size)
            acc = out.get(key)
            if acc is None:
                out[key] = AggregateDelta(**_delta_dict(d))
            else:
                _merge(acc, d)
    return out


_COLUMN_TYPES = {
    "events": "integer",
    "entries": "integer",
    "exits": "integer",
    "dwell_count": "integer",
    "dwell_total_s": "double precision",
    "dwell_max_s": "double precision",
    "visits_started": "integer",
    "visits_ended": "integer",
    "occupancy_max": "integer",
    "queue_max": "integer",
}
_DELTA_FIELDS = tuple(f.name for f in fields(AggregateDelta))


def apply_deltas(conn: Executor, deltas: dict[AggKey, AggregateDelta]) -> None:
    """Add deltas to the stored rows (creating them as needed) in the caller's transaction.

    Rows are upserted in key order, so two writers touching the same rows lock them in the same
    order and cannot deadlock. On PostgreSQL it is one ``INSERT ... SELECT FROM unnest(...)`` over
    column arrays (parsed and planned once per batch, like the event insert); a batch of a
    thousand stores' events touches a few thousand rows, which ``executemany`` sent one by one
    (bench/fleet.py, docs/DEPLOY.md)."""
    if not deltas:
        return
    ordered = sorted(deltas.items(), key=lambda kv: kv[0])
    if dialect_name(conn) == "postgresql":
        _apply_deltas_unnest(conn, ordered)
        return
    table = AGGREGATES
    rows = [
        {"store_id": k[0], "zone_id": k[1], "bucket_start": k[2], "bucket_s": k[3], **_delta_dict(d)}
        for k, d in ordered
    ]
    ins = dialect_insert(conn, table)
    excluded = ins.excluded
    set_: dict[str, Any] = {f: table.c[f] + excluded[f] for f in _SUM_FIELDS}
    set_.update({f: sa.func.max(table.c[f], excluded[f]) for f in _MAX_FIELDS})
    stmt = ins.on_conflict_do_update(index_elements=["store_id", "zone_id", "bucket_start", "bucket_s"], set_=set_)
    conn.execute(stmt, rows)


def _apply_deltas_unnest(conn: Executor, ordered: list[tuple[AggKey, AggregateDelta]]) -> None:
    cols = ("store_id", "zone_id", "bucket_start", "bucket_s", *_DELTA_FIELDS)
    types = ("varchar", "varchar", "timestamptz", "integer", *(_COLUMN_TYPES[f] for f in _DELTA_FIELDS))
    arrays: tuple[list[Any], ...] = tuple([] for _ in cols)
    for (store, zone, start, size), d in ordered:
        for arr, value in zip(arrays, (store, zone, start, size, *(getattr(d, f) for f in _DELTA_FIELDS)), strict=True):
            arr.append(value)
    sets = [f"{f} = aggregates.{f} + excluded.{f}" for f in _SUM_FIELDS]
    sets += [f"{f} = greatest(aggregates.{f}, excluded.{f})" for f in _MAX_FIELDS]
    sql = (
        f"INSERT INTO aggregates ({','.join(cols)}) SELECT * FROM unnest({', '.join(f'%b::{t}[]' for t in types)})"
        " ON CONFLICT (store_id, zone_id, bucket_start, bucket_s) DO UPDATE SET " + ", ".join(sets)
    )
    connection = conn.connection() if isinstance(conn, Session) else conn
    connection.exec_driver_sql(sql, arrays)


def _delta_dict(d: AggregateDelta) -> dict[str, Any]:
    return {f.name: getattr(d, f.name) for f in fields(d)}


def query_aggregates(
    conn: Executor,
    *,
    store_id: str,
    bucket_s: int = 3600,
    zone_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 10_000,
    zones: Collection[str] | None = None,
    store_wide: bool = True,
) -> list[Aggregate]:
    """Stored buckets of one size, oldest first. ``zone_id=''`` selects the store-wide rows;
    ``None`` returns every zone's rows and the store-wide ones. ``zones``: only these zones' rows;
    ``store_wide=False`` leaves the store-wide rows out (the API's zone level and camera-limited view)."""
    c = AGGREGATES.c
    where: list[sa.ColumnElement[bool]] = [c.store_id == store_id, c.bucket_s == bucket_s]
    if not store_wide:
        where.append(c.zone_id != STORE_WIDE)
    if zones is not None:
        where.append(c.zone_id.in_(sorted(zones)))
    if zone_id is not None:
        where.append(c.zone_id == zone_id)
    if since is not None:
        where.append(c.bucket_start >= since)
    if until is not None:
        where.append(c.bucket_start < until)
    stmt = sa.select(AGGREGATES).where(*where).order_by(c.bucket_start, c.zone_id).limit(limit)
    return [Aggregate(**row._mapping) for row in conn.execute(stmt)]
