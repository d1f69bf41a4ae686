"""Retention per data class (``privacy.retention``), enforced by :func:`purge`.

Data classes and what each covers:

=============  ==========================================================================
events         events, alerts and promotions (they carry the random visit id)
visits         visit rows (dwell per zone, intent timeline)
paths          movement paths: ``visits.path`` and the ``path`` of ``visit.ended`` events are
               emptied first, while the rest of the visit may be kept longer
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
from storelens.security.audit import append_audit, purge_audit_before
from storelens.security.crypto import EncryptedFileStore
from storelens.storage.database import Database
from storelens.storage.models import EVENTS, VISITS
from storelens.storage.retention import RetentionPolicy, purge_older_than

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


def _json_len(db: Database, col: sa.ColumnElement[Any]) -> sa.ColumnElement[int]:
    fn = sa.func.jsonb_array_length if db.dialect == "postgresql" else sa.func.json_array_length
    return fn(col)


def clear_paths(db: Database, cutoff: datetime, *, chunk: int = 2000) -> int:
    """Empty the paths of visits started before ``cutoff`` and of ``visit.ended`` events before it."""
    n = 0
    while True:
        with db.begin() as conn:
            keys = conn.execute(
                sa.select(VISITS.c.store_id, VISITS.c.id)
                .where(VISITS.c.started_at < cutoff, _json_len(db, VISITS.c.path) > 0)
                .limit(chunk)
            ).all()
            if not keys:
                break
            cond = sa.tuple_(VISITS.c.store_id, VISITS.c.id).in_([tuple(k) for k in keys])
            conn.execute(sa.update(VISITS).where(cond).values(path=[]))
            n += len(keys)
    if db.dialect == "postgresql":
        has_path: sa.ColumnElement[bool] = EVENTS.c.payload.op("?")("path")
        stripped: Any = EVENTS.c.payload.op("-")(sa.literal("path"))
    else:
        has_path = sa.func.json_type(EVENTS.c.payload, "$.path").is_not(None)
        stripped = sa.func.json_remove(EVENTS.c.payload, "$.path")
    with db.begin() as conn:
        res = conn.execute(
            sa.update(EVENTS)
            .where(EVENTS.c.ts < cutoff, EVENTS.c.type == "visit.ended", has_path)
            .values(payload=stripped)
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
            report.paths_cleared = clear_paths(db, paths_cut)
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
