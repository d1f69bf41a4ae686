"""Retention per data class (``privacy.retention``), enforced by :func:`purge`.

Data classes and what each covers:

=============  ==========================================================================
events         events, alerts and promotions (they carry the random visit id)
visits         visit rows (dwell per zone, intent timeline)
paths          movement traces and body measures: every payload field marked
               ``per_visit(..., retention="paths")`` (today ``path`` and ``height_m`` of
               ``visit.ended``) is emptied in stored events, and in the visit column it is
               projected into (``visits.path``), while the rest of the visit may be kept longer
aggregates     per-zone time buckets, heat-map buckets and POS transactions (no subject ids): may
               outlive raw data
snapshots      redacted, encrypted images in the snapshot store
audit          audit records (removed as a chain prefix, the anchor moves forward)
=============  ==========================================================================

``purge`` takes ``now`` explicitly, so tests drive it with a fake clock; :class:`PurgeScheduler`
runs it every ``purge_interval_s`` inside ``storelens serve``. Each run is itself audited.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from storelens.config.privacy import RetentionConfig
from storelens.events.models import EventType
from storelens.events.payloads import FieldRetention, retention_fields
from storelens.security.audit import append_audit, purge_audit_before
from storelens.security.crypto import EncryptedFileStore
from storelens.storage.database import Database
from storelens.storage.models import EVENTS, VISITS
from storelens.storage.retention import RetentionPolicy, purge_older_than
from storelens.storage.visits import visit_columns_of

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PurgeReport:
    now: datetime
    deleted: dict[str, int] = field(default_factory=dict)
    paths_cleared: int = 0
    snapshots: int = 0
    audit: int = 0

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "deleted": dict(self.deleted),
            "paths_cleared": self.paths_cleared,
            "snapshots": self.snapshots,
            "audit": self.audit,
        }

    @property
    def total(self) -> int:
        return sum(self.deleted.values()) + self.paths_cleared + self.snapshots + self.audit


def storage_policy(policy: RetentionConfig) -> RetentionPolicy:
    """Map the data classes onto the storage tables."""
    return RetentionPolicy(
        events_days=policy.events_days,
        visits_days=policy.visits_days,
        aggregates_days=policy.aggregates_days,
        heatmaps_days=policy.aggregates_days,
        alerts_days=policy.events_days,
        promotions_days=policy.events_days,
        pos_days=policy.aggregates_days,
    )


def _json_is_set(db: Database, col: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """The JSON value holds something: neither NULL, JSON null, ``[]`` nor ``{}``."""
    kind: sa.ColumnElement[str]
    text: sa.ColumnElement[str]
    if db.dialect == "postgresql":
        kind, text = sa.func.jsonb_typeof(col), sa.cast(col, sa.Text)
    else:
        kind, text = sa.func.json_type(col), sa.func.json(col)
    return sa.and_(kind != "null", text.not_in(["[]", "{}"]))


def _is_set(db: Database, col: sa.Column[Any], empty: Any) -> sa.ColumnElement[bool]:
    if isinstance(col.type, sa.JSON):
        return _json_is_set(db, col)
    return col.is_not(None) if empty is None else col != empty


def _has_key(db: Database, key: str) -> sa.ColumnElement[bool]:
    if db.dialect == "postgresql":
        return EVENTS.c.payload.op("?")(key)
    return sa.func.json_type(EVENTS.c.payload, f'$."{key}"').is_not(None)


def _without_keys(db: Database, keys: list[str]) -> Any:
    if db.dialect == "postgresql":
        out: Any = EVENTS.c.payload
        for k in keys:
            out = out.op("-")(sa.literal(k))
        return out
    return sa.func.json_remove(EVENTS.c.payload, *(f'$."{k}"' for k in keys))


def clear_fields(db: Database, data_class: FieldRetention, cutoff: datetime, *, chunk: int = 2000) -> int:
    """Empty every payload field marked ``per_visit(..., retention=data_class)``
    (:func:`~storelens.events.payloads.retention_fields`) in events before ``cutoff``, and the
    visit columns those fields are projected into (:func:`~storelens.storage.visits.visit_columns_of`)
    for visits started before it. The rest of each event and visit stays. Returns rows changed."""
    by_type = retention_fields(data_class)
    n = 0
    columns = visit_columns_of(by_type.get(str(EventType.VISIT_ENDED), ()))
    if columns:
        is_set = sa.or_(*(_is_set(db, VISITS.c[c], empty) for c, empty in columns.items()))
        while True:
            with db.begin() as conn:
                keys = conn.execute(
                    sa.select(VISITS.c.store_id, VISITS.c.id).where(VISITS.c.started_at < cutoff, is_set).limit(chunk)
                ).all()
                if not keys:
                    break
                cond = sa.tuple_(VISITS.c.store_id, VISITS.c.id).in_([tuple(k) for k in keys])
                conn.execute(sa.update(VISITS).where(cond).values(**columns))
                n += len(keys)
    for type_, names in sorted(by_type.items()):
        keys_ = sorted(names)
        with db.begin() as conn:
            res = conn.execute(
                sa.update(EVENTS)
                .where(EVENTS.c.ts < cutoff, EVENTS.c.type == type_, sa.or_(*(_has_key(db, k) for k in keys_)))
                .values(payload=_without_keys(db, keys_))
            )
            n += int(res.rowcount or 0)
    return n


def _cutoff(now: datetime, days: float | None) -> datetime | None:
    return None if days is None else now - timedelta(days=days)


def purge(
    db: Database,
    policy: RetentionConfig,
    now: datetime,
    *,
    snapshots: EncryptedFileStore | None = None,
    actor: str = "system:retention",
) -> PurgeReport:
    """Delete everything older than its class's retention, relative to ``now``; audited."""
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    report = PurgeReport(now)
    try:
        report.deleted = purge_older_than(db, storage_policy(policy), now=now)
        paths_cut = _cutoff(now, policy.paths_days)
        if paths_cut is not None:
            report.paths_cleared = clear_fields(db, "paths", paths_cut)
        snap_cut = _cutoff(now, policy.snapshots_days)
        if snapshots is not None and snap_cut is not None:
            report.snapshots = snapshots.purge_older_than(snap_cut)
        audit_cut = _cutoff(now, policy.audit_days)
        if audit_cut is not None:
            report.audit = purge_audit_before(db, audit_cut)
    except Exception as exc:
        append_audit(db, "retention.purge", actor, outcome="error", details={"error": type(exc).__name__}, now=now)
        raise
    append_audit(db, "retention.purge", actor, details=report.to_json_dict(), now=now)
    return report


class PurgeScheduler:
    """Runs :func:`purge` every ``policy.purge_interval_s`` in a daemon thread (first run at start)."""

    def __init__(
        self,
        db: Database,
        policy: RetentionConfig,
        *,
        snapshots: EncryptedFileStore | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.policy = policy
        self.snapshots = snapshots
        self.clock = clock
        self.runs = 0
        self.last_report: PurgeReport | None = None
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> PurgeReport | None:
        try:
            self.last_report = purge(self.db, self.policy, self.clock(), snapshots=self.snapshots)
            self.last_error = None
        except Exception as exc:  # a failed purge is retried next interval; the service keeps serving
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("retention purge failed")
            return None
        finally:
            self.runs += 1
        return self.last_report

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="storelens-retention", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.policy.purge_interval_s)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
