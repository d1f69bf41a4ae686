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

The chain alone cannot show that records were cut off at either end: without the newest records,
or with the first ones replaced by an anchor, what is left is still a valid chain. So an *audit key*
kept outside the database (``security.audit_key_file``, ``$STORELENS_AUDIT_KEY``, else a file
created 0600 next to a SQLite database) seals both ends, see :class:`AuditSeal`: after each append
a *sealed head* file (seq and hash of the newest record, HMAC-signed) is moved forward, and the
anchor row carries an HMAC over what it covers. ``verify`` fails when the database ends below the
sealed head, when an anchor's MAC is missing or wrong, or when an anchor covers records younger
than the retention. Someone holding the key file can forge both; SECURITY.md says so.

Secrets never enter a record: detail keys that look like credentials are replaced by ``"***"``.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from storelens.security.models import AUDIT_ANCHOR, AUDIT_LOG
from storelens.storage.database import Database

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
AUDIT_KEY_ENV = "STORELENS_AUDIT_KEY"
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
    note: str | None = None  # what could not be checked (no audit key, no sealed head yet)


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


# ------------------------------------------------------------------------------------------ seal


class AuditKeyError(RuntimeError):
    """The audit key is unusable (the message names the file or variable and why)."""


def _parse_key(text: str, where: str) -> bytes:
    value = text.strip()
    try:
        key = bytes.fromhex(value)
    except ValueError:
        raise AuditKeyError(f"{where}: the audit key must be 64 hex digits (32 bytes)") from None
    if len(key) < 32:
        raise AuditKeyError(f"{where}: the audit key must be 64 hex digits (32 bytes), got {len(key)} bytes")
    return key


def _read_or_create_key(path: Path, *, create: bool) -> bytes | None:
    """The key in ``path``; created (0600, O_EXCL so two processes agree on one key) if missing
    and ``create``. None if missing and not ``create``."""
    try:
        return _parse_key(path.read_text(encoding="ascii"), str(path))
    except FileNotFoundError:
        if not create:
            return None
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditKeyError(f"{path}: cannot read the audit key: {exc}") from None
    key = secrets.token_bytes(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return _parse_key(path.read_text(encoding="ascii"), str(path))
    except OSError as exc:
        raise AuditKeyError(f"{path}: cannot create the audit key: {exc}") from None
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.hex() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    log.info("created audit key %s (keep it, and a copy off this machine)", path)
    return key


@dataclass(frozen=True)
class AuditSeal:
    """The audit key and where this database's sealed head lives.

    ``db_id`` (a hash of the database URL without its password) goes into every MAC, so a head or
    anchor sealed for one database does not verify on another that shares the key."""

    key: bytes
    head_path: Path | None
    db_id: str

    def mac(self, *parts: object) -> str:
        msg = json.dumps([self.db_id, *[str(p) for p in parts]], separators=(",", ":"), ensure_ascii=True)
        return hmac.new(self.key, msg.encode("ascii"), hashlib.sha256).hexdigest()

    def anchor_mac(self, seq: int, hash_: str, last_ts: datetime | None) -> str:
        return self.mac("anchor", seq, hash_, None if last_ts is None else _utc_us(last_ts).isoformat())

    def read_head(self) -> tuple[int, str] | None:
        """The sealed (seq, hash), None if there is no head file yet. Raises :class:`AuditKeyError`
        if the file is there but its MAC is wrong (edited, or sealed with another key)."""
        if self.head_path is None:
            return None
        try:
            data = json.loads(self.head_path.read_text(encoding="ascii"))
            seq, h, mac = int(data["seq"]), str(data["hash"]), str(data["mac"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise AuditKeyError(f"sealed head {self.head_path} is unreadable: {type(exc).__name__}") from None
        if not hmac.compare_digest(mac, self.mac("head", seq, h)):
            raise AuditKeyError(f"sealed head {self.head_path} does not match its MAC (edited or another key)")
        return seq, h

    def write_head(self, seq: int, hash_: str) -> None:
        """Move the sealed head forward to (seq, hash); never backwards, so processes appending to
        one database in any order leave the newest one (an flock serialises them)."""
        if self.head_path is None:
            return
        lock = self.head_path.with_name(self.head_path.name + ".lock")
        with lock.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                try:
                    current = self.read_head()
                except AuditKeyError:
                    current = None  # a broken head is rewritten; verify has already said so or will
                if current is not None and current[0] >= seq:
                    return
                body = json.dumps({"seq": seq, "hash": hash_, "mac": self.mac("head", seq, hash_)})
                tmp = self.head_path.with_name(self.head_path.name + ".tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w", encoding="ascii") as out:
                    out.write(body + "\n")
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.head_path)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


_seals: weakref.WeakKeyDictionary[Database, AuditSeal | None] = weakref.WeakKeyDictionary()
_seals_lock = threading.Lock()
_process_salt = secrets.token_bytes(32)


def _db_id(db: Database) -> str:
    return hashlib.sha256(db.url.encode("utf-8")).hexdigest()[:16]


def _sqlite_path(db: Database) -> Path | None:
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    if url.database.startswith("file:"):
        return None
    return Path(url.database)


def resolve_seal(db: Database, *, key_file: str | Path | None = None, create: bool = True) -> AuditSeal | None:
    """Where this database's audit key comes from, in this order: ``$STORELENS_AUDIT_KEY`` (hex),
    ``key_file`` (``security.audit_key_file``), else ``<database>.audit-key`` next to a SQLite
    file. The key is created if missing and ``create``. None: no key (PostgreSQL with neither
    configured, an in-memory database, or ``create`` is False and the file is not there)."""
    sqlite = _sqlite_path(db)
    db_id = _db_id(db)
    env = os.environ.get(AUDIT_KEY_ENV)
    if env:
        key = _parse_key(env, f"${AUDIT_KEY_ENV}")
        head = sqlite.with_name(sqlite.name + ".audit-head") if sqlite else None
        if key_file is not None:
            head = Path(key_file).with_name(f"{Path(key_file).name}.{db_id}.head")
        return AuditSeal(key, head, db_id)
    if key_file is not None:
        path = Path(key_file).expanduser()
        found = _read_or_create_key(path, create=create)
        return None if found is None else AuditSeal(found, path.with_name(f"{path.name}.{db_id}.head"), db_id)
    if sqlite is None:
        return None
    path = sqlite.with_name(sqlite.name + ".audit-key")
    found = _read_or_create_key(path, create=create)
    return None if found is None else AuditSeal(found, sqlite.with_name(sqlite.name + ".audit-head"), db_id)


def configure_audit_seal(db: Database, key_file: str | Path | None = None) -> AuditSeal | None:
    """Fix the seal of ``db`` for this process (``install_security`` and the CLI call it with the
    store's ``security.audit_key_file``). Creates the key if missing."""
    seal = resolve_seal(db, key_file=key_file, create=True)
    with _seals_lock:
        _seals[db] = seal
    return seal


def use_audit_seal(db: Database, key_file: str | Path | None = None) -> AuditSeal | None:
    """Like :func:`configure_audit_seal` but never creates a key (what ``verify`` needs)."""
    seal = resolve_seal(db, key_file=key_file, create=False)
    with _seals_lock:
        _seals[db] = seal
    return seal


def seal_of(db: Database) -> AuditSeal | None:
    """The seal configured for ``db``, else the default one (created on first use)."""
    with _seals_lock:
        if db in _seals:
            return _seals[db]
    try:
        seal = resolve_seal(db, create=True)
    except AuditKeyError as exc:
        log.error("audit log is not sealed: %s", exc)
        seal = None
    with _seals_lock:
        _seals.setdefault(db, seal)
        return _seals[db]


def pseudonymous_name(db: Database, name: str) -> str:
    """``unknown:`` and 12 hex digits of an HMAC of a user name that matches no account: a
    password typed into the name field must not land in the append-only log, while repeated
    attempts with one name still show as one value. Keyed with the audit key (stable across
    restarts); without one, with a per-process salt."""
    seal = seal_of(db)
    key = seal.key if seal is not None else _process_salt
    return "unknown:" + hmac.new(key, b"username\n" + name.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:12]


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


def _read_sealed(seal: AuditSeal | None) -> tuple[int, str] | None:
    if seal is None:
        return None
    try:
        return seal.read_head()
    except AuditKeyError as exc:
        log.error("%s", exc)
        return None


def _past_sealed_head(sealed: tuple[int, str] | None, seq: int, prev: str) -> tuple[int, str]:
    """Where the next record links to. Normally the database's head; but if the database ends
    below the sealed head (its newest records were deleted), the next record continues from the
    sealed head instead, so the cut stays a visible gap in the chain rather than being papered
    over by new records re-using the deleted numbers."""
    if sealed is not None and (sealed[0] > seq or (sealed[0] == seq and sealed[1] != prev)):
        log.error("audit log ends at %d but its sealed head is %d: records were removed", seq, sealed[0])
        return sealed
    return seq, prev


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
    seal = seal_of(db)
    with _append_lock:
        for _ in range(20):  # another process may take the same seq: its insert wins, we retry
            try:
                with db.begin() as conn:
                    if conn.dialect.name == "postgresql":
                        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_AUDIT_LOCK)))
                    # the sealed head first, the database's after: the file moves only after a
                    # commit, so read in this order it is never ahead of the database unless
                    # records were removed (another process's append is not mistaken for a cut)
                    sealed = _read_sealed(seal)
                    seq, prev = _head(conn)
                    seq, prev = _past_sealed_head(sealed, seq, prev)
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
                if seal is not None:
                    try:
                        seal.write_head(seq, h)
                    except OSError as exc:  # the record is in; verify will report the stale head
                        log.error("cannot update the sealed audit head %s: %s", seal.head_path, exc)
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


def verify_audit(
    db: Database,
    *,
    expect: tuple[int, str] | None = None,
    retention: timedelta | None = None,
    now: datetime | None = None,
) -> AuditVerification:
    """Walk the chain from its anchor; report the first record that does not verify.

    ``expect=(seq, hash)``: a head noted earlier (e.g. printed by a previous verify and kept off
    this machine); it must still be in the chain with that hash, which catches an attacker who
    re-computed every hash after an edit.

    With an audit key (see :func:`seal_of`; verify never creates one) both ends are checked too:
    the anchor's MAC, that the anchor covers only records older than ``retention`` (the audit
    retention; None = not checked), and that the chain reaches the sealed head."""
    seal = resolve_seal_for_verify(db)
    now = _utc_us(now or datetime.now(UTC))
    with db.engine.connect() as conn:
        anchor = conn.execute(
            sa.select(AUDIT_ANCHOR.c.seq, AUDIT_ANCHOR.c.hash, AUDIT_ANCHOR.c.mac, AUDIT_ANCHOR.c.last_ts).where(
                AUDIT_ANCHOR.c.id == 1
            )
        ).first()
        prev_seq, prev_hash = (int(anchor.seq), str(anchor.hash)) if anchor is not None else (0, GENESIS_HASH)
        if anchor is not None and seal is not None:
            bad = _anchor_problem(seal, anchor, retention, now)
            if bad is not None:
                return AuditVerification(False, 0, prev_seq, bad)
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
    sealed_note: str | None = None
    if seal is None:
        sealed_note = "no audit key: a cut-off head or a forged anchor cannot be detected"
    else:
        try:
            sealed = seal.read_head()
        except AuditKeyError as exc:
            return AuditVerification(False, checked, None, str(exc), prev_seq or None, prev_hash)
        if sealed is None:
            sealed_note = "no sealed head yet (it is written by the next append)"
        elif sealed[0] > prev_seq:
            reason = f"the log ends at record {prev_seq} but its sealed head is {sealed[0]} (newest records removed)"
            return AuditVerification(False, checked, prev_seq + 1, reason, prev_seq or None, prev_hash)
        elif sealed[0] == prev_seq and sealed[1] != prev_hash:
            reason = f"record {prev_seq} differs from the sealed head (records removed and replaced)"
            return AuditVerification(False, checked, prev_seq, reason, prev_seq or None, prev_hash)
    head_seq = prev_seq if checked or anchor else None
    return AuditVerification(True, checked, None, None, head_seq, prev_hash, note=sealed_note)


def _anchor_problem(seal: AuditSeal, anchor: Any, retention: timedelta | None, now: datetime) -> str | None:
    if anchor.mac is None:
        return (
            "the anchor is not sealed (inserted without the audit key, or written before storelens sealed "
            "anchors): records before it may have been removed"
        )
    if not hmac.compare_digest(str(anchor.mac), seal.anchor_mac(int(anchor.seq), str(anchor.hash), anchor.last_ts)):
        return "the anchor does not match its MAC: it was not written by retention with this audit key"
    if retention is not None and anchor.last_ts is not None and _utc_us(anchor.last_ts) > now - retention:
        return (
            f"the anchor covers records up to {_utc_us(anchor.last_ts).isoformat()}, younger than the audit "
            "retention: they were removed early"
        )
    return None


def resolve_seal_for_verify(db: Database) -> AuditSeal | None:
    """The configured seal, else the default one if its key exists (verify never creates a key:
    a fresh key would make every existing anchor look forged)."""
    with _seals_lock:
        if db in _seals:
            return _seals[db]
    return resolve_seal(db, create=False)


def seal_legacy_anchor(db: Database, expect: tuple[int, str]) -> bool:
    """Sign an anchor written before anchors were sealed (no MAC), once an admin has checked the
    chain against a head noted earlier: the chain from the anchor must reach ``expect`` and verify
    in every other respect. False if there is no unsealed anchor. Raises :class:`AuditKeyError`
    without a key, ``ValueError`` if the chain does not verify against ``expect``."""
    seal = seal_of(db)
    if seal is None:
        raise AuditKeyError("no audit key: configure security.audit_key_file or $STORELENS_AUDIT_KEY")
    with db.engine.connect() as conn:
        anchor = conn.execute(sa.select(AUDIT_ANCHOR).where(AUDIT_ANCHOR.c.id == 1)).first()
    if anchor is None or anchor.mac is not None:
        return False
    with _seals_lock:  # verify as if unsealed, against the noted head
        _seals[db] = None
    try:
        v = verify_audit(db, expect=expect)
    finally:
        with _seals_lock:
            _seals[db] = seal
    if not v.ok:
        raise ValueError(f"the chain does not verify against {expect[0]}: {v.reason}")
    with _append_lock, db.begin() as conn:
        conn.execute(
            sa.update(AUDIT_ANCHOR)
            .where(AUDIT_ANCHOR.c.id == 1, AUDIT_ANCHOR.c.mac.is_(None))
            .values(mac=seal.anchor_mac(int(anchor.seq), str(anchor.hash), None), last_ts=None)
        )
    return True


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
    last removed record, so what remains still verifies. Returns how many were removed. The
    anchor is signed with the audit key, and records the time of the last record it covers."""
    seal = seal_of(db)
    with _append_lock, db.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_AUDIT_LOCK)))
        # the prefix ends before the first record at or after the cutoff (seq order, not ts order)
        first_kept = conn.execute(sa.select(sa.func.min(AUDIT_LOG.c.seq)).where(AUDIT_LOG.c.ts >= cutoff)).scalar()
        q = sa.select(AUDIT_LOG.c.seq, AUDIT_LOG.c.hash, AUDIT_LOG.c.ts).order_by(AUDIT_LOG.c.seq.desc()).limit(1)
        if first_kept is not None:
            q = q.where(AUDIT_LOG.c.seq < first_kept)
        last_removed = conn.execute(q).first()
        if last_removed is None:
            return 0
        n = conn.execute(sa.delete(AUDIT_LOG).where(AUDIT_LOG.c.seq <= last_removed.seq)).rowcount or 0
        now = datetime.now(UTC)
        exists = conn.execute(sa.select(AUDIT_ANCHOR.c.id).where(AUDIT_ANCHOR.c.id == 1)).first()
        last_ts = _utc_us(last_removed.ts)
        values: dict[str, Any] = {
            "seq": int(last_removed.seq),
            "hash": str(last_removed.hash),
            "updated_at": now,
            "last_ts": last_ts,
            "mac": None if seal is None else seal.anchor_mac(int(last_removed.seq), str(last_removed.hash), last_ts),
        }
        if exists:
            conn.execute(sa.update(AUDIT_ANCHOR).where(AUDIT_ANCHOR.c.id == 1).values(**values))
        else:
            conn.execute(AUDIT_ANCHOR.insert().values(id=1, **values))
        return int(n)
