"""Webhook outbox repository: one row per (subscription, event) delivery, persisted.

Rows go ``pending`` → ``delivered``, or ``pending`` → ``dead`` after the configured attempts. A
worker *claims* due rows by pushing their ``next_attempt_at`` forward by a lease, so a row being
delivered is not picked up again by the next poll (or another process) while in flight; if the
process dies mid-delivery the lease simply expires and the row is retried. The unique
(subscription_id, event_id) key makes enqueueing idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from storelens.storage.events import Executor, dialect_insert, dialect_name
from storelens.storage.models import WEBHOOK_OUTBOX

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    subscription_id: str
    event_id: str
    event_type: str
    url: str
    body: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    last_status_code: int | None
    created_at: datetime
    delivered_at: datetime | None


def _item(row: Any) -> OutboxItem:
    return OutboxItem(**row._mapping)


def enqueue(conn: Executor, rows: Sequence[dict[str, str]], *, now: datetime) -> int:
    """Add deliveries (keys: subscription_id, event_id, event_type, url, body); duplicates ignored.
    Returns how many rows were new."""
    if not rows:
        return 0
    values = [{**r, "status": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now} for r in rows]
    stmt = (
        dialect_insert(conn, WEBHOOK_OUTBOX)
        .on_conflict_do_nothing(index_elements=["subscription_id", "event_id"])
        .returning(WEBHOOK_OUTBOX.c.id)
    )
    return len(conn.execute(stmt, values).scalars().all())


def claim_due(conn: Executor, *, now: datetime, limit: int, lease_s: float) -> list[OutboxItem]:
    """Pending rows due by ``now`` (oldest first), leased for ``lease_s`` seconds."""
    c = WEBHOOK_OUTBOX.c
    sel = (
        sa.select(WEBHOOK_OUTBOX)
        .where(c.status == PENDING, c.next_attempt_at <= now)
        .order_by(c.next_attempt_at, c.id)
        .limit(limit)
    )
    if dialect_name(conn) == "postgresql":
        sel = sel.with_for_update(skip_locked=True)
    items = [_item(r) for r in conn.execute(sel)]
    if items:
        conn.execute(
            sa.update(WEBHOOK_OUTBOX)
            .where(c.id.in_([i.id for i in items]))
            .values(next_attempt_at=now + timedelta(seconds=lease_s))
        )
    return items


def mark_delivered(conn: Executor, item_id: int, *, now: datetime, status_code: int) -> None:
    c = WEBHOOK_OUTBOX.c
    conn.execute(
        sa.update(WEBHOOK_OUTBOX)
        .where(c.id == item_id)
        .values(
            status=DELIVERED,
            attempts=c.attempts + 1,
            delivered_at=now,
            last_status_code=status_code,
            last_error=None,
        )
    )


def mark_failed(
    conn: Executor,
    item_id: int,
    *,
    attempts: int,
    next_attempt_at: datetime,
    error: str,
    status_code: int | None,
    dead: bool,
) -> None:
    conn.execute(
        sa.update(WEBHOOK_OUTBOX)
        .where(WEBHOOK_OUTBOX.c.id == item_id)
        .values(
            status=DEAD if dead else PENDING,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            last_error=error[:2000],
            last_status_code=status_code,
        )
    )


def list_outbox(
    conn: Executor, *, status: str | None = None, subscription_id: str | None = None, limit: int = 1000
) -> list[OutboxItem]:
    """Deliveries for the API (newest first): pending, delivered or dead-lettered."""
    c = WEBHOOK_OUTBOX.c
    where: list[sa.ColumnElement[bool]] = []
    if status is not None:
        where.append(c.status == status)
    if subscription_id is not None:
        where.append(c.subscription_id == subscription_id)
    stmt = sa.select(WEBHOOK_OUTBOX).where(*where).order_by(c.id.desc()).limit(limit)
    return [_item(r) for r in conn.execute(stmt)]


def outbox_counts(conn: Executor) -> dict[str, int]:
    c = WEBHOOK_OUTBOX.c
    out = {PENDING: 0, DELIVERED: 0, DEAD: 0}
    for row in conn.execute(sa.select(c.status, sa.func.count().label("n")).group_by(c.status)):
        out[str(row.status)] = int(row.n)
    return out


def requeue_dead(conn: Executor, *, now: datetime, ids: Sequence[int] | None = None) -> int:
    """Give dead-lettered deliveries a fresh set of attempts (e.g. after the receiver was fixed)."""
    c = WEBHOOK_OUTBOX.c
    stmt = sa.update(WEBHOOK_OUTBOX).where(c.status == DEAD)
    if ids is not None:
        stmt = stmt.where(c.id.in_(list(ids)))
    result = conn.execute(stmt.values(status=PENDING, attempts=0, next_attempt_at=now))
    return int(getattr(result, "rowcount", 0) or 0)
