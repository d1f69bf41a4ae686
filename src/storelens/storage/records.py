"""Alerts, promotions and POS transactions: repositories plus the event projections that fill them.

Alerts follow their events: ``alert.raised`` creates the row (id = ``payload.alert_id``, else the
event id), ``alert.acknowledged`` / ``alert.escalated`` / ``alert.closed`` move its state. The API's
acknowledge action calls :func:`acknowledge_alert` directly (and publishes the event for others).
Every write here is idempotent, because the callers may replay after an outage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from storelens.events.models import Event, EventType
from storelens.events.payloads import (
    AlertAcknowledged,
    AlertClosed,
    AlertEscalated,
    AlertPayload,
    AlertRaised,
    EventPayload,
    PromotionTriggered,
    typed,
)
from storelens.storage.events import Executor, dialect_insert
from storelens.storage.models import ALERTS, POS_TRANSACTIONS, PROMOTIONS

# --------------------------------------------------------------------------------------- alerts


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    store_id: str
    camera_id: str | None
    zone_id: str | None
    subject: str | None
    kind: str
    severity: str
    message: str
    state: str
    escalations: int
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    closed_at: datetime | None
    payload: dict[str, Any]


def _alert_id(e: Event, p: EventPayload) -> str:
    value = p.alert_id if isinstance(p, AlertPayload) else None
    return value[:64] if value else e.id


def project_alerts(conn: Executor, events: Sequence[Event]) -> None:
    table = ALERTS
    c = table.c
    for e in sorted(events, key=lambda x: (x.ts, x.id)):
        if not e.type.startswith("alert."):
            continue
        p = e.typed_payload()
        if isinstance(p, AlertRaised):
            row = {
                "id": _alert_id(e, p),
                "store_id": e.store_id,
                "camera_id": e.camera_id,
                "zone_id": e.zone_id,
                "subject": e.subject,
                "kind": (p.kind or p.rule or "alert")[:64],
                "severity": (p.severity or "info")[:16],
                "message": p.message or "",
                "state": "open",
                "escalations": 0,
                "raised_at": e.ts,
                "payload": e.payload,  # as received: extras of newer producers are kept
            }
            conn.execute(dialect_insert(conn, table).on_conflict_do_nothing(index_elements=["id"]), [row])
        elif isinstance(p, AlertAcknowledged):
            acknowledge_alert(conn, _alert_id(e, p), by=p.who(), at=e.ts)
        elif isinstance(p, AlertEscalated):
            conn.execute(
                sa.update(table)
                .where(c.id == _alert_id(e, p), c.state != "closed")
                .values(state="escalated", escalations=c.escalations + 1)
            )
        elif isinstance(p, AlertClosed):
            conn.execute(sa.update(table).where(c.id == _alert_id(e, p)).values(state="closed", closed_at=e.ts))


def acknowledge_alert(conn: Executor, alert_id: str, *, by: str | None, at: datetime) -> bool:
    """Mark an open/escalated alert acknowledged; False when no such alert or it is already closed."""
    c = ALERTS.c
    result = conn.execute(
        sa.update(ALERTS)
        .where(c.id == alert_id, c.state.in_(("open", "escalated", "acknowledged")))
        .values(state="acknowledged", acknowledged_at=at, acknowledged_by=by)
    )
    return bool(getattr(result, "rowcount", 0))


def list_alerts(
    conn: Executor,
    *,
    store_id: str,
    states: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
    extra: Sequence[sa.ColumnElement[bool]] = (),
) -> list[Alert]:
    """Newest first; ``extra``: further terms on ``ALERTS`` (the API's access filter)."""
    c = ALERTS.c
    where: list[sa.ColumnElement[bool]] = [c.store_id == store_id]
    if states:
        where.append(c.state.in_(list(states)))
    if since is not None:
        where.append(c.raised_at >= since)
    if until is not None:
        where.append(c.raised_at < until)
    where.extend(extra)
    stmt = sa.select(ALERTS).where(*where).order_by(c.raised_at.desc(), c.id).limit(limit)
    return [Alert(**r._mapping) for r in conn.execute(stmt)]


def get_alert(conn: Executor, alert_id: str) -> Alert | None:
    row = conn.execute(sa.select(ALERTS).where(ALERTS.c.id == alert_id)).first()
    return None if row is None else Alert(**row._mapping)


# ----------------------------------------------------------------------------------- promotions


@dataclass(frozen=True, slots=True)
class Promotion:
    id: str
    store_id: str
    promotion_id: str
    camera_id: str | None
    zone_id: str | None
    subject: str | None
    ts: datetime
    payload: dict[str, Any]


def project_promotions(conn: Executor, events: Sequence[Event]) -> None:
    rows = [
        {
            "id": e.id,
            "store_id": e.store_id,
            "promotion_id": (_promotion(e).promotion_id or "unknown")[:64],
            "camera_id": e.camera_id,
            "zone_id": e.zone_id,
            "subject": e.subject,
            "ts": e.ts,
            "payload": e.payload,
        }
        for e in events
        if e.type == EventType.PROMOTION_TRIGGERED
    ]
    if rows:
        table = PROMOTIONS
        conn.execute(dialect_insert(conn, table).on_conflict_do_nothing(index_elements=["id"]), rows)


def _promotion(e: Event) -> PromotionTriggered:
    p = typed(e, PromotionTriggered)
    assert p is not None
    return p


def list_promotions(
    conn: Executor,
    *,
    store_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
    extra: Sequence[sa.ColumnElement[bool]] = (),
) -> list[Promotion]:
    """Oldest first; ``extra``: further terms on ``PROMOTIONS``."""
    c = PROMOTIONS.c
    where: list[sa.ColumnElement[bool]] = [c.store_id == store_id]
    if since is not None:
        where.append(c.ts >= since)
    if until is not None:
        where.append(c.ts < until)
    where.extend(extra)
    stmt = sa.select(PROMOTIONS).where(*where).order_by(c.ts, c.id).limit(limit)
    return [Promotion(**r._mapping) for r in conn.execute(stmt)]


# ----------------------------------------------------------------------------------------- POS


@dataclass(frozen=True, slots=True)
class PosTransaction:
    """A till transaction. ``id`` must be stable per transaction so re-imports are no-ops."""

    id: str
    store_id: str
    register_id: str
    ts: datetime
    basket_value: float
    items: int | None = None
    currency: str | None = None
    source: str = "api"
    categories: tuple[str, ...] | None = None
    """Product categories in the basket (as on the shelf zones' ``category``); None when unknown."""


def insert_pos_transactions(conn: Executor, rows: Sequence[PosTransaction]) -> int:
    """Insert transactions, ignoring ids already stored; returns how many were new."""
    if not rows:
        return 0
    table = POS_TRANSACTIONS
    stmt = dialect_insert(conn, table).on_conflict_do_nothing(index_elements=["id"]).returning(table.c.id)
    result = conn.execute(
        stmt,
        [
            {
                "id": r.id,
                "store_id": r.store_id,
                "register_id": r.register_id,
                "ts": r.ts,
                "basket_value": r.basket_value,
                "items": r.items,
                "currency": r.currency,
                "source": r.source,
                "categories": list(r.categories) if r.categories is not None else None,
            }
            for r in rows
        ],
    )
    return len(result.scalars().all())


def list_pos_transactions(
    conn: Executor,
    *,
    store_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100_000,
) -> list[PosTransaction]:
    c = POS_TRANSACTIONS.c
    where: list[sa.ColumnElement[bool]] = [c.store_id == store_id]
    if since is not None:
        where.append(c.ts >= since)
    if until is not None:
        where.append(c.ts < until)
    stmt = (
        sa.select(c.id, c.store_id, c.register_id, c.ts, c.basket_value, c["items"], c.currency, c.source, c.categories)
        .where(*where)
        .order_by(c.ts, c.id)
        .limit(limit)
    )
    out: list[PosTransaction] = []
    for r in conn.execute(stmt):
        row = dict(r._mapping)
        cats = row.pop("categories")
        out.append(PosTransaction(**row, categories=tuple(cats) if isinstance(cats, list) else None))
    return out
