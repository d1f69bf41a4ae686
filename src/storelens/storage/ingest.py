"""Store a batch of events and everything derived from them, in the caller's one transaction.

This is the unit the database sink retries: events are inserted idempotently, and only the ones
that were new update aggregates, visits, alerts and promotions. Either all of it commits or none
of it does, so a replay after a failure can neither lose nor double-count anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from storelens.events.models import Event
from storelens.storage.aggregates import DEFAULT_BUCKETS_S, apply_deltas, compute_deltas
from storelens.storage.events import Executor, insert_events
from storelens.storage.records import project_alerts, project_promotions
from storelens.storage.visits import project_visits


@dataclass(frozen=True, slots=True)
class IngestResult:
    inserted: int
    duplicates: int


def store_events(
    conn: Executor,
    events: Sequence[Event],
    *,
    buckets_s: Sequence[int] = DEFAULT_BUCKETS_S,
    projections: bool = True,
) -> IngestResult:
    """Insert ``events`` (duplicates by id skipped) and, unless ``projections`` is off, update the
    derived tables from the new ones."""
    new = insert_events(conn, events)
    if projections and new:
        apply_deltas(conn, compute_deltas(new, buckets_s))
        project_visits(conn, new)
        project_alerts(conn, new)
        project_promotions(conn, new)
    return IngestResult(inserted=len(new), duplicates=len(events) - len(new))
