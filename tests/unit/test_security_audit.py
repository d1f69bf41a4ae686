"""The hash-chained audit log: appends verify, and tampering with the database directly (edit,
delete, re-chain) is reported at the first broken record."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from storelens.security.audit import (
    GENESIS_HASH,
    append_audit,
    list_audit,
    purge_audit_before,
    record_hash,
    verify_audit,
)
from storelens.security.models import AUDIT_LOG
from storelens.storage import Database, open_database

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "audit.db"


@pytest.fixture
def db(path: Path) -> Iterator[Database]:
    d = open_database(path)
    yield d
    d.close()


def fill(db: Database, n: int = 10) -> None:
    for i in range(n):
        append_audit(
            db,
            "auth.login",
            f"user{i % 3}",
            target="dashboard",
            ip="10.0.0.1",
            details={"i": i},
            now=T0 + timedelta(minutes=i),
        )


def tamper(path: Path, sql: str, *args: object) -> None:
    """What an attacker with file access does: drop the append-only trigger, change rows."""
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    con.execute(sql, args)
    con.commit()
    con.close()


def test_chain_verifies_and_links(db: Database) -> None:
    assert verify_audit(db).ok and verify_audit(db).checked == 0
    fill(db)
    v = verify_audit(db)
    assert v.ok and v.checked == 10 and v.head_seq == 10
    with db.engine.connect() as conn:
        records = list(reversed(list_audit(conn, limit=100)))
    assert records[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    assert v.head_hash == records[-1].hash


def test_secrets_are_scrubbed_from_details(db: Database) -> None:
    rec = append_audit(
        db,
        "user.update",
        "root",
        details={"password": "hunter2hunter2", "nested": {"api_token": "x"}, "role": "viewer"},
    )
    assert rec.details == {"password": "***", "nested": {"api_token": "***"}, "role": "viewer"}


def test_update_is_refused_by_the_database(db: Database) -> None:
    fill(db, 2)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.begin() as conn:
        conn.execute(sa.update(AUDIT_LOG).where(AUDIT_LOG.c.seq == 1).values(actor="mallory"))


@pytest.mark.parametrize(
    ("sql", "args", "first_bad"),
    [
        ("UPDATE audit_log SET actor = ? WHERE seq = ?", ("mallory", 4), 4),
        ("UPDATE audit_log SET details = ? WHERE seq = ?", ('{"i":99}', 7), 7),
        ("UPDATE audit_log SET outcome = ? WHERE seq = ?", ("denied", 1), 1),
        ("DELETE FROM audit_log WHERE seq = ?", (5,), 5),
        ("UPDATE audit_log SET hash = ? WHERE seq = ?", ("f" * 64, 9), 9),
    ],
)
def test_direct_tampering_is_reported_at_the_first_broken_record(
    db: Database, path: Path, sql: str, args: tuple[object, ...], first_bad: int
) -> None:
    fill(db)
    assert verify_audit(db).ok
    tamper(path, sql, *args)
    v = verify_audit(db)
    assert not v.ok and v.first_bad_seq == first_bad, v
    assert v.checked == first_bad - 1


def test_rechained_edit_is_caught_by_the_noted_head(db: Database, path: Path) -> None:
    fill(db)
    noted = verify_audit(db)
    assert noted.head_seq is not None and noted.head_hash is not None
    # an attacker edits record 3 and recomputes every hash after it: the chain is consistent again
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    rows = con.execute(
        "SELECT seq, ts, actor, action, target, outcome, ip, details FROM audit_log ORDER BY seq"
    ).fetchall()
    prev = GENESIS_HASH
    for seq, ts, actor, action, target, outcome, ip, details in rows:
        actor = "mallory" if seq == 3 else actor
        t = datetime.fromisoformat(ts).replace(tzinfo=UTC)
        h = record_hash(prev, seq, t, actor, action, target, outcome, ip, details)
        con.execute("UPDATE audit_log SET actor=?, prev_hash=?, hash=? WHERE seq=?", (actor, prev, h, seq))
        prev = h
    con.commit()
    con.close()
    assert verify_audit(db).ok  # self-consistent...
    v = verify_audit(db, expect=(noted.head_seq, noted.head_hash))
    assert not v.ok and v.first_bad_seq == noted.head_seq  # ...but not the chain that was noted


def test_retention_moves_the_anchor_and_the_rest_still_verifies(db: Database) -> None:
    fill(db)
    removed = purge_audit_before(db, T0 + timedelta(minutes=4))
    assert removed == 4
    v = verify_audit(db)
    assert v.ok and v.checked == 6
    append_audit(db, "retention.purge", "system", now=T0 + timedelta(minutes=20))
    assert verify_audit(db).ok and verify_audit(db).head_seq == 11
    assert purge_audit_before(db, T0 + timedelta(days=1)) == 7
    assert verify_audit(db).ok
    rec = append_audit(db, "auth.login", "x")
    assert rec.seq == 12 and verify_audit(db).ok
