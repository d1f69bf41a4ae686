"""Queue service levels from stored zone events: each shopper's wait, the share served within the
target ("90 % within 3 min"), abandonment, per queue and store-local hour/day/week.

A queue is a ``queue`` zone served by a ``checkout`` zone (:func:`storelens.analytics.queues.
queue_pairs`). Per shopper, every entry into the queue zone is a *join*; it ends as

* **served** at the shopper's next checkout entry, if that comes within ``max_wait_s`` and before
  they join again: wait = checkout entry - join (what the shopper lived, as the live monitor);
* **superseded** by a later join of the same shopper first (stepping out of the queue zone and
  back is one wait, counted from the last join, as the live monitor does);
* **abandoned**: they left the queue zone and reached no till within ``max_wait_s`` (or the
  ``max_wait_s`` passed with no till and no further event);
* **waiting**: still in the queue at the end of the stored data.

Service level = served within the target / served; the target is met when that share is at least
the queue's ``sla_share``. Abandonment rate = abandoned / (served + abandoned). A bucket holds the
joins that started in it. With no join at all the rates are ``None`` with a reason.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Literal

import numpy as np
import sqlalchemy as sa

from storelens.actions.alerts import QUEUE_SLA_RULE
from storelens.config.behaviour import QueueConfig
from storelens.config.store import StoreConfig
from storelens.events.models import EventType
from storelens.kpis.buckets import Granularity, bucket_starts
from storelens.storage.database import Database
from storelens.storage.models import EVENTS

Outcome = Literal["served", "abandoned", "waiting"]
NO_SERVED = "no shopper served in this period"
NO_JOINS = "no shopper joined this queue in this period"


@dataclass(frozen=True, slots=True)
class ZoneMove:
    ts: datetime
    kind: Literal["enter", "exit"]
    zone_id: str
    subject: str


@dataclass(frozen=True, slots=True)
class QueueJoin:
    subject: str
    joined_at: datetime
    outcome: Outcome
    wait_s: float | None
    """Served: join to till; abandoned: join to leaving the queue zone; waiting: None."""


def queue_joins(
    moves: Iterable[ZoneMove], queue_zone: str, checkout_zone: str, max_wait_s: float, data_end: datetime
) -> list[QueueJoin]:
    """Pure: every join of the queue and how it ended (rules in the module docstring)."""
    per: dict[str, list[ZoneMove]] = {}
    for m in moves:
        if m.zone_id in (queue_zone, checkout_zone):
            per.setdefault(m.subject, []).append(m)
    out: list[QueueJoin] = []
    limit = timedelta(seconds=max_wait_s)
    for subject, ms in per.items():
        ms.sort(key=lambda m: (m.ts, m.kind != "exit"))
        joins = [i for i, m in enumerate(ms) if m.zone_id == queue_zone and m.kind == "enter"]
        for k, i in enumerate(joins):
            t0 = ms[i].ts
            nxt = joins[k + 1] if k + 1 < len(joins) else len(ms)
            later = ms[i + 1 : nxt]
            till = next((m for m in later if m.zone_id == checkout_zone and m.kind == "enter"), None)
            if till is not None and till.ts - t0 <= limit:
                out.append(QueueJoin(subject, t0, "served", (till.ts - t0).total_seconds()))
                continue
            if k + 1 < len(joins) and ms[nxt].ts - t0 <= limit:
                continue  # superseded: the wait runs from the later join
            left = next((m for m in later if m.zone_id == queue_zone and m.kind == "exit"), None)
            if left is not None:
                out.append(QueueJoin(subject, t0, "abandoned", (left.ts - t0).total_seconds()))
            elif data_end - t0 > limit:
                out.append(QueueJoin(subject, t0, "abandoned", None))
            else:
                out.append(QueueJoin(subject, t0, "waiting", None))
    out.sort(key=lambda j: (j.joined_at, j.subject))
    return out


@dataclass(slots=True)
class QueueRow:
    bucket_start: datetime
    joined: int
    served: int
    abandoned: int
    waiting: int
    served_within_target: int
    service_level: float | None
    target_met: bool | None
    abandonment_rate: float | None
    mean_wait_s: float | None
    median_wait_s: float | None
    p90_wait_s: float | None
    max_wait_s: float | None
    notes: dict[str, str] = field(default_factory=dict)


def _row(start: datetime, joins: Sequence[QueueJoin], target_s: float, share: float) -> QueueRow:
    waits = np.asarray([j.wait_s for j in joins if j.outcome == "served" and j.wait_s is not None], dtype=np.float64)
    served = len(waits)
    abandoned = sum(1 for j in joins if j.outcome == "abandoned")
    within = int((waits <= target_s).sum())
    notes: dict[str, str] = {}
    level = within / served if served else None
    if level is None:
        notes["service_level"] = NO_SERVED if joins else NO_JOINS
    ended = served + abandoned
    ab = abandoned / ended if ended else None
    if ab is None:
        notes["abandonment_rate"] = "no join ended in this period" if joins else NO_JOINS

    def r(v: float) -> float:
        return round(float(v), 2)

    return QueueRow(
        bucket_start=start,
        joined=len(joins),
        served=served,
        abandoned=abandoned,
        waiting=sum(1 for j in joins if j.outcome == "waiting"),
        served_within_target=within,
        service_level=level,
        target_met=None if level is None else level >= share,
        abandonment_rate=ab,
        mean_wait_s=r(waits.mean()) if served else None,
        median_wait_s=r(np.median(waits)) if served else None,
        p90_wait_s=r(np.percentile(waits, 90)) if served else None,
        max_wait_s=r(waits.max()) if served else None,
        notes=notes,
    )


def queue_rows(
    joins: Sequence[QueueJoin],
    since: datetime,
    until: datetime,
    tz: tzinfo,
    granularity: Granularity,
    target_s: float,
    share: float,
) -> tuple[list[QueueRow], QueueRow]:
    """Pure: (per bucket, total) over the joins that started in [since, until)."""
    starts = bucket_starts(since, until, tz, granularity)
    per: list[list[QueueJoin]] = [[] for _ in starts]
    inside = [j for j in joins if since <= j.joined_at < until]
    for j in inside:
        i = bisect_right(starts, j.joined_at) - 1
        if i >= 0:
            per[i].append(j)
    rows = [_row(s, per[i], target_s, share) for i, s in enumerate(starts)]
    return rows, _row(since, inside, target_s, share)


@dataclass(slots=True)
class StoredQueues:
    moves: list[ZoneMove]
    data_end: datetime
    alerts: dict[str, dict[str, int]]
    """queue zone -> {"raised", "acknowledged", "escalated"} of its "open a register" alerts."""


def load_queue_moves(
    db: Database,
    store: StoreConfig,
    pairs: Sequence[QueueConfig],
    since: datetime,
    until: datetime,
    *,
    event_filter: Sequence[sa.ColumnElement[bool]] = (),
) -> StoredQueues:
    """Zone entries/exits of the queue and checkout zones from ``since`` to ``until`` plus the
    longest ``max_wait_s`` (a join near the end is still followed to its till); staff left out."""
    zones = sorted({z for q in pairs for z in (q.queue_zone, q.checkout_zone)})
    reach = until + timedelta(seconds=max((q.max_wait_s for q in pairs), default=0.0))
    c = EVENTS.c
    kinds = {EventType.ZONE_ENTERED.value: "enter", EventType.ZONE_EXITED.value: "exit"}
    moves: list[ZoneMove] = []
    end = since
    alerts: dict[str, dict[str, int]] = {q.queue_zone: {"raised": 0, "acknowledged": 0, "escalated": 0} for q in pairs}
    with db.engine.connect() as conn:
        if zones:
            stmt = sa.select(c.type, c.ts, c.zone_id, c.subject, c.payload).where(
                c.store_id == store.store_id,
                c.type.in_(list(kinds)),
                c.zone_id.in_(zones),
                c.ts >= since,
                c.ts < reach,
                *event_filter,
            )
            for r in conn.execute(stmt):
                if not r.subject or (r.payload or {}).get("staff") is True:
                    continue
                moves.append(ZoneMove(r.ts, kinds[r.type], r.zone_id, r.subject))  # type: ignore[arg-type]
                end = max(end, r.ts)
        atypes = {
            EventType.ALERT_RAISED.value: "raised",
            EventType.ALERT_ACKNOWLEDGED.value: "acknowledged",
            EventType.ALERT_ESCALATED.value: "escalated",
        }
        astmt = sa.select(c.type, c.zone_id, c.payload).where(
            c.store_id == store.store_id,
            c.type.in_(list(atypes)),
            c.ts >= since,
            c.ts < until,
            *event_filter,
        )
        for r in conn.execute(astmt):
            if (r.payload or {}).get("rule") == QUEUE_SLA_RULE and r.zone_id in alerts:
                alerts[r.zone_id][atypes[r.type]] += 1
    return StoredQueues(moves, end, alerts)
