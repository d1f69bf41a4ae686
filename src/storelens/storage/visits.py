"""Visit repository and the projection that builds visits from events.

A visit row is built from the event stream (so edge nodes only need to ship events):
``visit.started`` creates it, ``zone.exited`` adds dwell to its zone, ``intent.changed`` appends to
its intent timeline, and ``visit.ended`` closes it and, when its payload carries the tracker's final
figures (``fragments``, ``confidence``, ``path``, ``dwell_by_zone``, ``intent_timeline``,
``is_staff``, and a fused store visit's ``journey``), those replace the incremental ones because they are authoritative.

``upsert_visit`` is also public for a pipeline that prefers to write whole visits directly.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storelens.events.models import Event, EventType
from storelens.events.payloads import IntentChanged, VisitEnded, ZoneExited, typed
from storelens.storage.events import Executor, dialect_insert, dialect_name
from storelens.storage.models import VISITS
from storelens.storage.serialize import json_dumps

_VISIT_COLUMNS = (
    "camera_id",
    "started_at",
    "ended_at",
    "fragments",
    "confidence",
    "path",
    "dwell_by_zone",
    "intent_timeline",
    "is_staff",
    "journey",
)


@dataclass(slots=True)
class Visit:
    """A shopper visit as stored. ``path`` is a list of ``[t, x, y]`` (floor metres or pixels, as the
    pipeline recorded it); ``intent_timeline`` a list of ``{"ts", "state", "score"}``."""

    store_id: str
    id: str
    started_at: datetime
    camera_id: str | None = None
    ended_at: datetime | None = None
    fragments: int = 1
    confidence: float | None = None
    path: list[Any] = field(default_factory=list)
    dwell_by_zone: dict[str, float] = field(default_factory=dict)
    intent_timeline: list[Any] = field(default_factory=list)
    is_staff: bool = False
    journey: list[str] | None = None
    """Store-level (fused) visits only: the floor zones entered, in order (None for camera visits)."""

    @property
    def duration_s(self) -> float | None:
        return None if self.ended_at is None else (self.ended_at - self.started_at).total_seconds()

    def as_row(self) -> dict[str, Any]:
        return {"store_id": self.store_id, "id": self.id, **{c: getattr(self, c) for c in _VISIT_COLUMNS}}


def _from_row(row: Any) -> Visit:
    m = row._mapping
    return Visit(
        store_id=m["store_id"],
        id=m["id"],
        started_at=m["started_at"],
        camera_id=m["camera_id"],
        ended_at=m["ended_at"],
        fragments=m["fragments"],
        confidence=m["confidence"],
        path=list(m["path"] or []),
        dwell_by_zone=dict(m["dwell_by_zone"] or {}),
        intent_timeline=list(m["intent_timeline"] or []),
        is_staff=bool(m["is_staff"]),
        journey=None if m["journey"] is None else [str(z) for z in m["journey"]],
    )


def upsert_visits(conn: Executor, visits: Sequence[Visit]) -> None:
    """Insert or fully replace visits (keyed by store and visit id)."""
    if not visits:
        return
    table = VISITS
    ins = dialect_insert(conn, table)
    set_: dict[str, Any] = {c: ins.excluded[c] for c in _VISIT_COLUMNS}
    set_["updated_at"] = sa.func.now()
    stmt = ins.on_conflict_do_update(index_elements=["store_id", "id"], set_=set_)
    conn.execute(stmt, [v.as_row() for v in visits])


def upsert_visit(conn: Executor, visit: Visit) -> None:
    upsert_visits(conn, [visit])


def get_visit(conn: Executor, store_id: str, visit_id: str) -> Visit | None:
    c = VISITS.c
    row = conn.execute(sa.select(VISITS).where(c.store_id == store_id, c.id == visit_id)).first()
    return None if row is None else _from_row(row)


def list_visits(
    conn: Executor,
    *,
    store_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
    include_staff: bool = False,
    limit: int = 1000,
    extra: Sequence[sa.ColumnElement[bool]] = (),
) -> list[Visit]:
    """Visits that started in [since, until), oldest first; ``extra``: further terms on ``VISITS``."""
    c = VISITS.c
    where: list[sa.ColumnElement[bool]] = [c.store_id == store_id]
    if since is not None:
        where.append(c.started_at >= since)
    if until is not None:
        where.append(c.started_at < until)
    if not include_staff:
        where.append(c.is_staff == sa.false())
    where.extend(extra)
    stmt = sa.select(VISITS).where(*where).order_by(c.started_at, c.id).limit(limit)
    return [_from_row(r) for r in conn.execute(stmt)]


_LIFECYCLE = (EventType.VISIT_STARTED.value, EventType.VISIT_ENDED.value)

# In-place JSON updates of open visits, so a zone exit or an intent change costs one small UPDATE
# instead of reading and rewriting the visit (whose timeline grows with every change).
_DWELL_SQL = {  # params: (path or zone, dwell, store, visit)
    "sqlite": (
        "UPDATE visits SET dwell_by_zone = json_set(dwell_by_zone, ?1,"
        " COALESCE(json_extract(dwell_by_zone, ?1), 0) + ?2), updated_at = CURRENT_TIMESTAMP"
        " WHERE store_id = ?3 AND id = ?4 AND ended_at IS NULL"
    ),
    # PostgreSQL: one statement for the batch; params (stores[], visits[], {zone: dwell} per visit[])
    "postgresql": (
        "UPDATE visits AS v SET dwell_by_zone = v.dwell_by_zone || (SELECT jsonb_object_agg(k,"
        " COALESCE((v.dwell_by_zone ->> k)::float8, 0) + x::float8) FROM jsonb_each_text(u.inc) AS e(k, x)),"
        " updated_at = now() FROM unnest(%b::varchar[], %b::varchar[], %b::text[]::jsonb[]) AS u(store, visit, inc)"
        " WHERE v.store_id = u.store AND v.id = u.visit AND v.ended_at IS NULL"
    ),
}
_TIMELINE_SQL = {  # params: (entries JSON array, store, visit)
    # stored JSON text is compact ('[...]'), so appending a batch is a string splice
    "sqlite": (
        "UPDATE visits SET intent_timeline = CASE WHEN intent_timeline IS NULL OR intent_timeline = '[]'"
        " THEN ?1 ELSE substr(intent_timeline, 1, length(intent_timeline) - 1) || ',' || substr(?1, 2)"
        " END, updated_at = CURRENT_TIMESTAMP WHERE store_id = ?2 AND id = ?3"
    ),
    "postgresql": (
        "UPDATE visits AS v SET intent_timeline = v.intent_timeline || u.entries, updated_at = now()"
        " FROM unnest(%b::varchar[], %b::varchar[], %b::text[]::jsonb[]) AS u(store, visit, entries)"
        " WHERE v.store_id = u.store AND v.id = u.visit"
    ),
}


def project_visits(conn: Executor, events: Sequence[Event]) -> int:
    """Fold new events into the visits table; returns the number of statements' target rows.

    Order of application within a batch: ``visit.started`` (creates rows), then zone dwell and
    intent changes (in-place JSON updates of open visits), then ``visit.ended`` (read-modify-write,
    its payload's final figures win). Events of a batch arrive in that order in reality, since a
    visit's exits are emitted before the visit ends.
    """
    relevant = [e for e in events if e.subject]
    if not relevant:
        return 0
    if dialect_name(conn) == "postgresql":
        _lock_visits(conn, {(e.store_id, e.subject) for e in relevant if e.subject})
    started = sorted((e for e in relevant if e.type == EventType.VISIT_STARTED), key=lambda e: (e.ts, e.id))
    ended = sorted((e for e in relevant if e.type == EventType.VISIT_ENDED), key=lambda e: (e.ts, e.id))
    touched = _fold_lifecycle(conn, started)

    dialect = dialect_name(conn)
    dwell: dict[tuple[str, str, str], float] = {}
    timeline: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in sorted(relevant, key=lambda x: (x.ts, x.id)):
        assert e.subject is not None
        exited = typed(e, ZoneExited) if e.zone_id else None
        if exited is not None and e.zone_id:
            d = exited.dwell()
            if d is not None and d >= 0:
                key = (e.store_id, e.subject, e.zone_id)
                dwell[key] = dwell.get(key, 0.0) + d
        elif (changed := typed(e, IntentChanged)) is not None:
            entry = {"ts": e.ts.isoformat(), "state": changed.state, "score": changed.score}
            timeline.setdefault((e.store_id, e.subject), []).append(entry)
    # raw driver statements: these run once per (visit, zone) per batch, the hot part of ingest
    connection = conn.connection() if isinstance(conn, Session) else conn
    if dwell:
        if dialect == "sqlite":
            dparams: list[Any] = [('$."' + z.replace('"', '\\"') + '"', d, st, v) for (st, v, z), d in dwell.items()]
            connection.exec_driver_sql(_DWELL_SQL[dialect], dparams)
        else:
            per_visit: dict[tuple[str, str], dict[str, float]] = {}
            for (st, v, z), d in dwell.items():
                per_visit.setdefault((st, v), {})[z] = d
            keys = list(per_visit)
            connection.exec_driver_sql(
                _DWELL_SQL[dialect],
                ([k[0] for k in keys], [k[1] for k in keys], [json_dumps(per_visit[k]) for k in keys]),
            )
    if timeline:
        if dialect == "sqlite":
            tparams: list[Any] = [(json_dumps(items), st, v) for (st, v), items in timeline.items()]
            connection.exec_driver_sql(_TIMELINE_SQL[dialect], tparams)
        else:
            keys2 = list(timeline)
            connection.exec_driver_sql(
                _TIMELINE_SQL[dialect],
                ([k[0] for k in keys2], [k[1] for k in keys2], [json_dumps(timeline[k]) for k in keys2]),
            )
    touched += _fold_lifecycle(conn, ended)
    return touched + len(dwell) + len(timeline)


#: first key of the two-part advisory locks on visits (a key space of its own; see _lock_visits)
_PG_VISIT_LOCK_NS = 0x5649_5354  # "VIST"
# one statement; PostgreSQL evaluates a volatile function in the select list after ORDER BY, so the
# locks are taken in key order and two batches can only wait for each other, never deadlock
_LOCK_SQL = "SELECT pg_advisory_xact_lock(%s, k) FROM unnest(%b::int4[]) WITH ORDINALITY AS u(k, n) ORDER BY n"


def _visit_lock_key(store_id: str, visit_id: str) -> int:
    digest = hashlib.blake2b(f"{store_id}\x00{visit_id}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock_visits(conn: Executor, keys: set[tuple[str, str]]) -> None:
    """Hold a transaction-scoped lock per visit this batch touches (PostgreSQL).

    Several central consumers commit batches at once, and a visit's events can be split between
    them. The start/end fold is a read-modify-write of the whole row and would otherwise overwrite
    a dwell update or the other lifecycle event committed in between (a lost update). With the
    lock, a second batch touching the visit waits for the first to commit and then reads its
    result, so the row ends as if the batches had been applied one after the other."""
    if not keys:
        return
    lock_keys = sorted({_visit_lock_key(s, v) for s, v in keys})
    connection = conn.connection() if isinstance(conn, Session) else conn
    connection.exec_driver_sql(_LOCK_SQL, (_PG_VISIT_LOCK_NS, lock_keys))


def _fold_lifecycle(conn: Executor, events: Sequence[Event]) -> int:
    """Read-modify-write the visits these start/end events touch (rare: two events per visit)."""
    if not events:
        return 0
    keys = sorted({(e.store_id, e.subject) for e in events if e.subject})
    c = VISITS.c
    current: dict[tuple[str, str], Visit] = {}
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        for row in conn.execute(sa.select(VISITS).where(sa.tuple_(c.store_id, c.id).in_(chunk))):
            v = _from_row(row)
            current[(v.store_id, v.id)] = v
    changed: dict[tuple[str, str], Visit] = {}
    for e in events:
        assert e.subject is not None
        key = (e.store_id, e.subject)
        found = current.get(key)
        if found is None:
            found = current[key] = Visit(store_id=e.store_id, id=e.subject, started_at=e.ts, camera_id=e.camera_id)
        _apply(found, e)
        changed[key] = found
    upsert_visits(conn, list(changed.values()))
    return len(changed)


VISIT_ENDED_COLUMNS: Mapping[str, str] = {
    "fragments": "fragments",
    "confidence": "confidence",
    "path": "path",
    "dwell_by_zone": "dwell_by_zone",
    "intent_timeline": "intent_timeline",
    "is_staff": "is_staff",
    "journey": "journey",
}
"""``visit.ended`` payload field -> the visit column :func:`_apply` copies it into: the one map of
payload fields onto visit columns, so the retention purge empties a marked field in both places
(``started_at`` is not a copy: it only moves the visit's start earlier)."""


def visit_columns_of(payload_fields: Iterable[str]) -> dict[str, Any]:
    """The visit columns holding these ``visit.ended`` fields, each with its empty value (the
    :class:`Visit` default: what a visit whose event never carried the field stores)."""
    defaults: dict[str, Any] = {}
    for f in fields(Visit):
        if f.default is not MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not MISSING:
            defaults[f.name] = f.default_factory()
    columns = (VISIT_ENDED_COLUMNS[n] for n in payload_fields if n in VISIT_ENDED_COLUMNS)
    return {c: defaults[c] for c in columns}


def _apply(v: Visit, e: Event) -> None:
    if e.type == EventType.VISIT_STARTED:
        v.started_at = min(v.started_at, e.ts)
        v.camera_id = v.camera_id or e.camera_id
    elif (p := typed(e, VisitEnded)) is not None:
        v.ended_at = e.ts if v.ended_at is None else max(v.ended_at, e.ts)
        if p.started_at is not None:
            with contextlib.suppress(ValueError):
                v.started_at = min(v.started_at, datetime.fromisoformat(p.started_at))
        if p.fragments is not None:
            v.fragments = p.fragments
        if p.confidence is not None and math.isfinite(p.confidence):
            v.confidence = p.confidence
        if p.path is not None:
            v.path = p.path
        if p.dwell_by_zone is not None:
            v.dwell_by_zone = {k: x for k, x in p.dwell_by_zone.items() if math.isfinite(x)}
        if p.intent_timeline is not None:
            v.intent_timeline = p.intent_timeline
        if p.is_staff is not None:
            v.is_staff = p.is_staff
        if p.journey is not None:
            v.journey = [str(z) for z in p.journey]


def list_journeys(
    conn: Executor,
    *,
    store_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
    include_staff: bool = False,
    limit: int = 1000,
) -> list[Visit]:
    """Store-level (fused) visits with a journey that started in [since, until), oldest first.

    Fused visits are the ones without a camera (``camera_id`` NULL, an indexed-range scan of the
    store's visits); a row whose journey is JSON null (an older producer) is left out here."""
    c = VISITS.c
    out: list[Visit] = []
    after: tuple[datetime, str] | None = None
    while len(out) < limit:
        extra: list[sa.ColumnElement[bool]] = [c.camera_id.is_(None)]
        if after is not None:
            extra.append(sa.or_(c.started_at > after[0], sa.and_(c.started_at == after[0], c.id > after[1])))
        page = list_visits(
            conn, store_id=store_id, since=since, until=until, include_staff=include_staff, limit=limit, extra=extra
        )
        out += [v for v in page if v.journey is not None]
        if len(page) < limit:
            break
        after = (page[-1].started_at, page[-1].id)
    return out[:limit]
