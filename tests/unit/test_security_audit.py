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
    # self-consistent, but the head no longer matches the sealed head (audit key next to the db)...
    sealed = verify_audit(db)
    assert not sealed.ok and "sealed head" in (sealed.reason or ""), sealed
    # ...and without the key (someone took it away, or it was never there) the noted head still
    # catches it
    Path(f"{path}.audit-key").unlink()
    with open_database(path) as fresh:  # a new process: no key in memory either
        assert verify_audit(fresh).ok  # self-consistent...
        v = verify_audit(fresh, expect=(noted.head_seq, noted.head_hash))
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


# ------------------------------------------------------------------ truncation (issue 14)


def cli_verify(path: Path, *extra: str) -> tuple[int, str]:
    """``storelens audit verify`` as a new process would run it (CliRunner, fresh Database)."""
    from typer.testing import CliRunner

    from storelens.cli.main import app

    result = CliRunner().invoke(app, ["audit", "verify", "--db", str(path), *extra])
    return result.exit_code, result.output


def test_deleting_the_newest_record_fails_verify(db: Database, path: Path) -> None:
    fill(db)
    rc, out = cli_verify(path)
    assert rc == 0, out
    tamper(path, "DELETE FROM audit_log WHERE seq = ?", 10)
    rc, out = cli_verify(path)
    assert rc == 1 and "sealed head is 10" in out, out


def test_deleting_the_newest_then_appending_leaves_a_visible_gap(db: Database, path: Path) -> None:
    """New records must not re-use the deleted numbers and hide the cut."""
    fill(db)
    tamper(path, "DELETE FROM audit_log WHERE seq >= ?", 9)
    append_audit(db, "auth.login", "someone")
    v = verify_audit(db)
    assert not v.ok and v.first_bad_seq == 9, v


def test_forged_anchor_for_deleted_first_records_fails_even_with_expect(db: Database, path: Path) -> None:
    for i in range(120):
        append_audit(db, "auth.login", "u", details={"i": i}, now=T0 + timedelta(minutes=i))
    noted = verify_audit(db)
    assert noted.ok and noted.head_seq == 120 and noted.head_hash is not None
    con = sqlite3.connect(path)
    (h100,) = con.execute("SELECT hash FROM audit_log WHERE seq = 100").fetchone()
    con.close()
    tamper(path, "DELETE FROM audit_log WHERE seq <= ?", 100)
    tamper(path, "INSERT INTO audit_anchor (id, seq, hash, updated_at) VALUES (1, 100, ?, '2025-03-02')", h100)
    rc, out = cli_verify(path, "--expect", f"{noted.head_seq}:{noted.head_hash}")
    assert rc == 1 and "anchor is not sealed" in out, out
    # a MAC copied from nowhere (made up) is no better
    tamper(path, "UPDATE audit_anchor SET mac = ?, last_ts = '2025-03-01 10:39:00' WHERE id = 1", "a" * 64)
    rc, out = cli_verify(path)
    assert rc == 1 and "does not match its MAC" in out, out


def test_anchor_younger_than_the_retention_fails(db: Database) -> None:
    fill(db)
    assert purge_audit_before(db, T0 + timedelta(minutes=4)) == 4
    # the anchor is genuine (signed by retention), so with the retention it was made under it verifies...
    assert verify_audit(db, retention=timedelta(days=1), now=T0 + timedelta(days=1, minutes=4)).ok
    # ...but one covering records newer than the retention means someone purged early
    v = verify_audit(db, retention=timedelta(days=1), now=T0 + timedelta(hours=1))
    assert not v.ok and "younger than the audit retention" in (v.reason or ""), v


def test_edited_sealed_head_fails(db: Database, path: Path) -> None:
    fill(db)
    head = Path(f"{path}.audit-head")
    data = head.read_text()
    head.write_text(data.replace('"seq": 10', '"seq": 9'))
    rc, out = cli_verify(path)
    assert rc == 1 and "does not match its MAC" in out, out


def test_audit_key_is_private_and_outside_the_database(db: Database, path: Path) -> None:
    fill(db, 1)
    key = Path(f"{path}.audit-key")
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.read_text().strip() not in path.read_bytes().hex()


def test_an_anchor_from_before_sealing_can_be_sealed_against_a_noted_head(db: Database, path: Path) -> None:
    """An upgrade must not leave verify failing for good: an anchor without MAC (what an older
    storelens wrote) is signed by ``audit seal-anchor`` only if the chain reaches a noted head."""
    from typer.testing import CliRunner

    from storelens.cli.main import app

    fill(db)
    assert purge_audit_before(db, T0 + timedelta(minutes=4)) == 4
    noted = verify_audit(db)
    assert noted.ok and noted.head_hash is not None
    tamper(path, "UPDATE audit_anchor SET mac = NULL, last_ts = NULL WHERE id = 1")  # as 0005 left it
    rc, out = cli_verify(path)
    assert rc == 1 and "anchor is not sealed" in out
    bad = CliRunner().invoke(app, ["audit", "seal-anchor", "--db", str(path), "--expect", f"10:{'0' * 64}"])
    assert bad.exit_code == 1, bad.output
    ok = CliRunner().invoke(app, ["audit", "seal-anchor", "--db", str(path), "--expect", f"10:{noted.head_hash}"])
    assert ok.exit_code == 0 and "anchor sealed" in ok.output, ok.output
    rc, out = cli_verify(path)
    assert rc == 0, out


def test_two_processes_appending_keep_one_sealed_chain(db: Database, path: Path) -> None:
    """The sealed head is shared by every process appending to the database: in any interleaving
    it only moves forward, no append is mistaken for a cut, and the chain verifies."""
    import subprocess
    import sys

    code = (
        "import sys; from storelens.storage import open_database; from storelens.security.audit import append_audit\n"
        "db = open_database(sys.argv[1])\n"
        "for i in range(40): append_audit(db, 'auth.login', sys.argv[2], details={'i': i})\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path), f"p{n}"], stderr=subprocess.PIPE, text=True)
        for n in range(2)
    ]
    errs = [p.communicate()[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    assert not any("records were removed" in e for e in errs), errs
    v = verify_audit(db)
    assert v.ok and v.checked == 80 and v.head_seq == 80, v
