"""Append-only, hash-chained audit log: who signed in (or failed to), exported, watched live video,
changed configuration, zones or users, deleted data.

Each record's ``hash`` is SHA-256 over the previous record's hash and the record's own canonical
form (sorted-key JSON of every field), and ``seq`` numbers records without gaps. Editing a record
breaks its own hash, deleting one leaves a gap in ``seq``, and re-computing the hashes after an
edit changes every later hash, which no longer matches a head hash noted elsewhere
(``storelens audit verify`` prints it; ``--expect`` checks a noted one). The database refuses
UPDATE on the table (a trigger, see the ``0002_security`` migration), so an edit is never an
accident.

Retention removes the oldest records as a block and moves the *anchor* (the last removed record's
seq and hash) forward, so the remaining chain still verifies from its first record.

Secrets never enter a record: detail keys that look like credentials are replaced by ``"***"``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from storelens.security.models import AUDIT_ANCHOR, AUDIT_LOG
from storelens.storage.database import Database

GENESIS_HASH = "0" * 64
_SECRET_KEYS = ("password", "secret", "token", "key", "cookie", "authorization", "csrf")
_PG_AUDIT_LOCK = 0x5709A0D1
_append_lock = threading.Lock()


class AuditError(RuntimeError):
    """The audit log could not be written (the action it records should not proceed)."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    ts: datetime
    actor: str
    action: str
    target: str | None
    outcome: str
    ip: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "ip": self.ip,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """Result of walking the chain. ``first_bad_seq`` is the first record that does not verify."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None
    head_seq: int | None = None
    head_hash: str | None = None


def _scrub(details: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in details.items():
        if any(s in k.lower() for s in _SECRET_KEYS):
            out[k] = "***"
        elif isinstance(v, Mapping):
            out[k] = _scrub(v)
        else:
            out[k] = v
    return out


def _canonical_details(details: Mapping[str, Any] | None) -> str:
    return json.dumps(_scrub(details or {}), sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def _utc_us(ts: datetime) -> datetime:
    """Aware UTC; Python datetimes already stop at microseconds, which both dialects keep exactly."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def record_hash(
    prev_hash: str,
    seq: int,
    ts: datetime,
    actor: str,
    action: str,
    target: str | None,
    outcome: str,
    ip: str | None,
    details_json: str,
) -> str:
    """SHA-256 of the previous hash and the canonical record (the one definition of a link)."""
    body = json.dumps(
        [seq, _utc_us(ts).isoformat(), actor, action, target, outcome, ip, details_json],
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + body.encode("ascii")).hexdigest()


def _head(conn: Connection) -> tuple[int, str]:
    row = conn.execute(sa.select(AUDIT_LOG.c.seq, AUDIT_LOG.c.hash).order_by(AUDIT_LOG.c.seq.desc()).limit(1)).first()
    if row is not None:
        return int(row.seq), str(row.hash)
    anchor = conn.execute(sa.select(AUDIT_ANCHOR.c.seq, AUDIT_ANCHOR.c.hash).where(AUDIT_ANCHOR.c.id == 1)).first()
    if anchor is not None:
        return int(anchor.seq), str(anchor.hash)
    return 0, GENESIS_HASH


def append_audit(
    db: Database,
    action: str,
    actor: str,
    *,
    target: str | None = None,
    outcome: str = "ok",
    ip: str | None = None,
    details: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditRecord:
    """Append one record (its own transaction) and return it. Raises :class:`AuditError` if it
    cannot be written: callers of privileged actions let that fail the action."""
    if not action or len(action) > 64:
        raise ValueError("audit action must be 1-64 characters")
    ts = _utc_us(now or datetime.now(UTC))
    details_json = _canonical_details(details)
    actor = actor[:128]
    target = None if target is None else target[:256]
    ip = None if ip is None else ip[:64]
    last_error: Exception | None = None
    with _append_lock:
        for _ in range(20):  # another process may take the same seq: its insert wins, we retry
            try:
                with db.begin() as conn:
                    if conn.dialect.name == "postgresql":
                        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_AUDIT_LOCK)))
                    seq, prev = _head(conn)
                    seq += 1
                    h = record_hash(prev, seq, ts, actor, action, target, outcome, ip, details_json)
                    conn.execute(
                        AUDIT_LOG.insert().values(
                            seq=seq,
                            ts=ts,
                            actor=actor,
                            action=action,
                            target=target,
                            outcome=outcome,
                            ip=ip,
                            details=details_json,
                            prev_hash=prev,
                            hash=h,
                        )
                    )
                return AuditRecord(seq, ts, actor, action, target, outcome, ip, json.loads(details_json), prev, h)
            except IntegrityError as exc:
                last_error = exc
            except sa.exc.SQLAlchemyError as exc:
                raise AuditError(f"audit log unavailable: {type(exc).__name__}") from exc
    raise AuditError("audit log: could not allocate a sequence number") from last_error


def _row_to_record(row: Any) -> AuditRecord:
    try:
        details = json.loads(row.details)
    except (TypeError, ValueError):
        details = {"_unparseable": True}
    return AuditRecord(
        int(row.seq),
        row.ts,
        row.actor,
        row.action,
        row.target,
        row.outcome,
        row.ip,
        details if isinstance(details, dict) else {"_value": details},
        row.prev_hash,
        row.hash,
    )


def iter_audit(conn: Connection, *, after_seq: int = 0, chunk: int = 1000) -> Iterator[Any]:
    """Raw rows in seq order, fetched in keyset chunks (constant memory for any log size)."""
    last = after_seq
    while True:
        rows = conn.execute(
            sa.select(AUDIT_LOG).where(AUDIT_LOG.c.seq > last).order_by(AUDIT_LOG.c.seq).limit(chunk)
        ).all()
        if not rows:
            return
        yield from rows
        last = int(rows[-1].seq)


def verify_audit(db: Database, *, expect: tuple[int, str] | None = None) -> AuditVerification:
    """Walk the chain from its anchor; report the first record that does not verify.

    ``expect=(seq, hash)``: a head noted earlier (e.g. printed by a previous verify and kept off
    this machine); it must still be in the chain with that hash, which catches an attacker who
    re-computed every hash after an edit."""
    with db.engine.connect() as conn:
        anchor = conn.execute(sa.select(AUDIT_ANCHOR.c.seq, AUDIT_ANCHOR.c.hash).where(AUDIT_ANCHOR.c.id == 1)).first()
        prev_seq, prev_hash = (int(anchor.seq), str(anchor.hash)) if anchor is not None else (0, GENESIS_HASH)
        checked = 0
        expect_seen = expect is None or (expect[0] == prev_seq and expect[1] == prev_hash)
        for row in iter_audit(conn, after_seq=-(2**62)):
            seq = int(row.seq)
            if seq != prev_seq + 1:
                reason = f"sequence gap: expected {prev_seq + 1}, found {seq} (records removed)"
                return AuditVerification(False, checked, prev_seq + 1 if seq > prev_seq else seq, reason)
            if row.prev_hash != prev_hash:
                return AuditVerification(False, checked, seq, "prev_hash does not match the previous record")
            h = record_hash(prev_hash, seq, row.ts, row.actor, row.action, row.target, row.outcome, row.ip, row.details)
            if h != row.hash:
                return AuditVerification(False, checked, seq, "record content does not match its hash")
            if expect is not None and seq == expect[0]:
                if h != expect[1]:
                    return AuditVerification(False, checked, seq, "hash differs from the expected (noted) head")
                expect_seen = True
            prev_seq, prev_hash = seq, h
            checked += 1
    if not expect_seen:
        assert expect is not None
        return AuditVerification(
            False, checked, expect[0], "expected record not in the chain", prev_seq or None, prev_hash
        )
    return AuditVerification(True, checked, None, None, prev_seq if checked or anchor else None, prev_hash)


def list_audit(
    conn: Connection, *, limit: int = 100, before_seq: int | None = None, action: str | None = None
) -> list[AuditRecord]:
    """Newest first, keyset-paginated by ``before_seq``."""
    q = sa.select(AUDIT_LOG).order_by(AUDIT_LOG.c.seq.desc()).limit(max(1, min(limit, 1000)))
    if before_seq is not None:
        q = q.where(AUDIT_LOG.c.seq < before_seq)
    if action is not None:
        q = q.where(AUDIT_LOG.c.action == action)
    return [_row_to_record(r) for r in conn.execute(q).all()]


def purge_audit_before(db: Database, cutoff: datetime) -> int:
    """Remove records older than ``cutoff`` as one prefix of the chain and move the anchor to the
    last removed record, so what remains still verifies. Returns how many were removed."""
    with _append_lock, db.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_AUDIT_LOCK)))
        # the prefix ends before the first record at or after the cutoff (seq order, not ts order)
        first_kept = conn.execute(sa.select(sa.func.min(AUDIT_LOG.c.seq)).where(AUDIT_LOG.c.ts >= cutoff)).scalar()
        q = sa.select(AUDIT_LOG.c.seq, AUDIT_LOG.c.hash).order_by(AUDIT_LOG.c.seq.desc()).limit(1)
        if first_kept is not None:
            q = q.where(AUDIT_LOG.c.seq < first_kept)
        last_removed = conn.execute(q).first()
        if last_removed is None:
            return 0
        n = conn.execute(sa.delete(AUDIT_LOG).where(AUDIT_LOG.c.seq <= last_removed.seq)).rowcount or 0
        now = datetime.now(UTC)
        exists = conn.execute(sa.select(AUDIT_ANCHOR.c.id).where(AUDIT_ANCHOR.c.id == 1)).first()
        values = {"seq": int(last_removed.seq), "hash": str(last_removed.hash), "updated_at": now}
        if exists:
            conn.execute(sa.update(AUDIT_ANCHOR).where(AUDIT_ANCHOR.c.id == 1).values(**values))
        else:
            conn.execute(AUDIT_ANCHOR.insert().values(id=1, **values))
        return int(n)
