"""Delete all data of a time window, optionally of one camera and/or one zone (data-subject
requests, or a camera that should not have been recording). Every deletion is audited.

storelens keeps no identity, so a request ("I was in the store on Tuesday around 15:00, near the
electronics display") is served by time, place and camera rather than by person: every visit that
overlaps the window (and touched the zone / was seen by the camera) is deleted together with all
of its events, plus any other event, alert and promotion in the window and place, and the
snapshots of the cameras concerned. Aggregates carry no subject; they are deleted for a zone's
window when the request names a zone and no camera (a camera filter cannot split them), and are
otherwise kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from storelens.security.audit import append_audit
from storelens.security.crypto import EncryptedFileStore
from storelens.storage.database import Database
from storelens.storage.models import AGGREGATES, ALERTS, EVENTS, PROMOTIONS, VISITS

_IN_CHUNK = 500


class DeletionError(ValueError):
    """The request is not valid (the message says why); nothing was deleted."""


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class DeletionRequest:
    start: datetime
    end: datetime
    camera_id: str | None = None
    zone_id: str | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _utc(self.start))
        object.__setattr__(self, "end", _utc(self.end))
        if self.end <= self.start:
            raise DeletionError("end must be after start")
        if len(self.reason) > 500:
            raise DeletionError("reason must be at most 500 characters")

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "camera_id": self.camera_id,
            "zone_id": self.zone_id,
            "reason": self.reason,
        }


@dataclass(slots=True)
class DeletionReport:
    request: DeletionRequest
    deleted: dict[str, int] = field(default_factory=dict)
    audit_seq: int | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {"request": self.request.to_json_dict(), "deleted": dict(self.deleted), "audit_seq": self.audit_seq}


def _chunks(items: Sequence[Any], n: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def delete_data(
    db: Database,
    request: DeletionRequest,
    *,
    actor: str,
    snapshots: EncryptedFileStore | None = None,
    zone_cameras: dict[str, str | None] | None = None,
    ip: str | None = None,
    now: datetime | None = None,
) -> DeletionReport:
    """Delete what ``request`` covers in one transaction (snapshots after it commits); audited
    whether it succeeds or fails. ``zone_cameras`` maps zone ids to the camera whose image they
    are drawn on, to find the snapshots of a zone."""
    report = DeletionReport(request)
    s, e = request.start, request.end
    try:
        with db.begin() as conn:
            # visits overlapping the window (started before its end, not ended before its start)
            vq = sa.select(VISITS.c.store_id, VISITS.c.id, VISITS.c.dwell_by_zone).where(
                VISITS.c.started_at < e, sa.or_(VISITS.c.ended_at.is_(None), VISITS.c.ended_at >= s)
            )
            if request.camera_id is not None:
                vq = vq.where(VISITS.c.camera_id == request.camera_id)
            visits = [
                (r.store_id, r.id)
                for r in conn.execute(vq).all()
                if request.zone_id is None or request.zone_id in (r.dwell_by_zone or {})
            ]
            if request.zone_id is not None:
                # visits seen in the zone during the window (by their zone events), even if the
                # projection has not credited dwell yet
                zq = sa.select(EVENTS.c.store_id, EVENTS.c.subject).where(
                    EVENTS.c.ts >= s,
                    EVENTS.c.ts < e,
                    EVENTS.c.zone_id == request.zone_id,
                    EVENTS.c.subject.is_not(None),
                )
                if request.camera_id is not None:
                    zq = zq.where(EVENTS.c.camera_id == request.camera_id)
                visits = sorted(set(visits) | {(r.store_id, r.subject) for r in conn.execute(zq.distinct()).all()})
            events = 0
            visit_rows = 0
            for part in _chunks(visits):
                subjects = [v for _, v in part]
                events += conn.execute(sa.delete(EVENTS).where(EVENTS.c.subject.in_(subjects))).rowcount or 0
                key = sa.tuple_(VISITS.c.store_id, VISITS.c.id)
                visit_rows += conn.execute(sa.delete(VISITS).where(key.in_([tuple(v) for v in part]))).rowcount or 0
                for table in (ALERTS, PROMOTIONS):
                    n = conn.execute(sa.delete(table).where(table.c.subject.in_(subjects))).rowcount or 0
                    report.deleted[table.name] = report.deleted.get(table.name, 0) + n

            def place(table: sa.Table) -> list[sa.ColumnElement[bool]]:
                conds: list[sa.ColumnElement[bool]] = []
                if request.camera_id is not None:
                    conds.append(table.c.camera_id == request.camera_id)
                if request.zone_id is not None:
                    conds.append(table.c.zone_id == request.zone_id)
                return conds

            in_window = sa.delete(EVENTS).where(EVENTS.c.ts >= s, EVENTS.c.ts < e, *place(EVENTS))
            events += conn.execute(in_window).rowcount or 0
            for table, col in ((ALERTS, "raised_at"), (PROMOTIONS, "ts")):
                n = conn.execute(sa.delete(table).where(table.c[col] >= s, table.c[col] < e, *place(table))).rowcount
                report.deleted[table.name] = report.deleted.get(table.name, 0) + (n or 0)
            report.deleted["events"] = events
            report.deleted["visits"] = visit_rows
            aggregates = 0
            if request.camera_id is None:
                aq = sa.delete(AGGREGATES).where(AGGREGATES.c.bucket_start >= s, AGGREGATES.c.bucket_start < e)
                if request.zone_id is not None:
                    aq = aq.where(AGGREGATES.c.zone_id == request.zone_id)
                aggregates = conn.execute(aq).rowcount or 0
            report.deleted["aggregates"] = aggregates
        if snapshots is not None:
            cams: list[str | None]
            if request.camera_id is not None:
                cams = [request.camera_id]
            elif request.zone_id is not None and zone_cameras and zone_cameras.get(request.zone_id):
                cams = [zone_cameras[request.zone_id]]
            else:
                cams = [None]
            report.deleted["snapshots"] = sum(snapshots.delete(camera_id=c, start=s, end=e) for c in cams)
    except Exception as exc:
        append_audit(
            db,
            "privacy.delete",
            actor,
            target=_target(request),
            outcome="error",
            ip=ip,
            details={"request": request.to_json_dict(), "error": type(exc).__name__},
            now=now,
        )
        raise
    rec = append_audit(
        db, "privacy.delete", actor, target=_target(request), ip=ip, details=report.to_json_dict(), now=now
    )
    report.audit_seq = rec.seq
    return report


def _target(r: DeletionRequest) -> str:
    parts = [f"{r.start.isoformat()}..{r.end.isoformat()}"]
    if r.camera_id:
        parts.append(f"camera={r.camera_id}")
    if r.zone_id:
        parts.append(f"zone={r.zone_id}")
    return " ".join(parts)
