"""The store/camera restriction model (issue 14): parsing, intersection, ceilings, the migration on
SQLite and PostgreSQL, and the CLI (``user add/set``, ``token create`` with ``--stores``/``--cameras``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from typer.testing import CliRunner

from storelens.cli.main import app
from storelens.security.access import (
    AccessError,
    allows_camera,
    intersect_cameras,
    intersect_stores,
    parse_restriction,
    within,
)
from storelens.security.tokens import verify_token
from storelens.storage import open_database
from storelens.storage.migrate import alembic_config, head_revision
from storelens.storage.models import load_all_models
from storelens.storage.partitions import include_object

F = frozenset
PW = "correct horse battery staple"


def test_parse_intersect_and_ceiling() -> None:
    assert parse_restriction(None, "stores") is None
    assert parse_restriction("a, b", "stores") == F({"a", "b"})
    assert parse_restriction(["s/cam1", "cam2"], "cameras") == F({"s/cam1", "cam2"})
    for bad in ("", " , ", "../x", "a/b", "{{x}}"):
        with pytest.raises(AccessError):
            parse_restriction(bad, "stores")
    with pytest.raises(AccessError):
        parse_restriction("s/c/d", "cameras")
    assert intersect_stores(None, F({"a"})) == F({"a"})
    assert intersect_stores(F({"a", "b"}), F({"b", "c"})) == F({"b"})
    # 'cam' (any store) and 's/cam' (one store): the narrower one survives
    assert intersect_cameras(F({"cam1"}), F({"s1/cam1", "s2/cam9"})) == F({"s1/cam1"})
    assert intersect_cameras(F({"cam1"}), F({"cam2"})) == F()
    assert within(None, F({"a"}), "stores") == F({"a"})
    assert within(F({"s1/cam1"}), F({"cam1"}), "cameras") == F({"s1/cam1"})
    with pytest.raises(AccessError):
        within(F({"cam1"}), F({"s1/cam1"}), "cameras")  # every store's cam1 is broader
    with pytest.raises(AccessError):
        within(F({"a", "b"}), F({"a"}), "stores")
    assert allows_camera(F({"s1"}), F({"cam1"}), "s1", "cam1")
    assert not allows_camera(F({"s1"}), F({"cam1"}), "s2", "cam1")
    assert allows_camera(None, F({"s2/cam1"}), "s2", "cam1")
    assert not allows_camera(None, F({"s2/cam1"}), "s1", "cam1")


def test_migration_keeps_every_credential_unrestricted(db_url: str) -> None:
    """Users and tokens from before the revision keep exactly what they could see (NULL = all)."""
    engine = sa.create_engine(db_url)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005_heatmap_buckets")
        conn.execute(
            sa.text(
                "INSERT INTO users (id, username, role, password_hash, disabled, failed_logins, created_at, updated_at)"
                " VALUES (1, 'old', 'admin', 'x', false, 0, '2025-01-01 00:00:00', '2025-01-01 00:00:00')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO api_tokens (id, user_id, name, secret_hash, role, scopes, created_at, expires_at)"
                " VALUES ('0123456789abcdef', 1, 'old', :h, 'admin', 'read', '2025-01-01 00:00:00',"
                " '2999-01-01 00:00:00')"
            ),
            {"h": hashlib.sha256(b"A" * 43).hexdigest()},
        )
    engine.dispose()
    with open_database(db_url) as db:
        assert db.schema_revision() == head_revision()
        with db.engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object}),
                load_all_models(),
            )
            row = conn.execute(sa.text("SELECT allowed_stores, allowed_cameras FROM users")).one()
        assert diff == []
        assert tuple(row) == (None, None)
        p = verify_token(db, "slt_0123456789abcdef_" + "A" * 43)
        assert p is not None and p.stores is None and p.cameras is None and not p.restricted
    # and back down, for an operator who must roll back
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005_heatmap_buckets")
        cols = {c["name"] for c in sa.inspect(conn).get_columns("users")}
    engine.dispose()
    assert "allowed_stores" not in cols


def test_cli_sets_and_bounds_restrictions(tmp_path: Path) -> None:
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'c.db'}"

    def run(*args: str, input: str | None = None) -> tuple[int, str]:
        r = runner.invoke(app, [*args, "--db", db], input=input)
        return r.exit_code, r.output

    code, out = run("user", "add", "root", "--role", "admin", "--password-stdin", input=PW + "\n")
    assert code == 0, out
    code, out = run(
        "user", "add", "partner", "--role", "analyst", "--stores", "north", "--cameras", "north-cam-a",
        "--password-stdin", input=PW + "\n",
    )  # fmt: skip
    assert code == 0 and "stores north; cameras north-cam-a" in out, out
    code, out = run("user", "list")
    assert "stores north cameras north-cam-a" in out and "stores all cameras all" in out, out
    # a token beyond the owner's restriction: one error line, exit 2, nothing created
    code, out = run("token", "create", "esc", "--user", "partner", "--stores", "north,south")
    assert code == 2 and out.count("\n") == 1 and "outside" in out, out
    code, out = run("token", "create", "esc", "--user", "partner", "--cameras", "north-cam-b")
    assert code == 2 and "outside" in out, out
    code, out = run("token", "create", "ok", "--user", "partner", "--cameras", "north/north-cam-a")
    assert code == 0, out
    code, out = run("token", "list")
    assert "esc" not in out and "cameras north/north-cam-a" in out, out
    # bad ids are one line too
    code, out = run("user", "add", "x2", "--role", "viewer", "--stores", "../etc", "--password-stdin", input=PW + "\n")
    assert code == 2 and out.startswith("error: invalid stores"), out
    # update: narrow, then lift
    code, out = run("user", "update", "partner", "--stores", "south")
    assert code == 0 and "stores south" in out, out
    code, out = run("user", "set", "partner", "--stores", "all", "--cameras", "all")
    assert code == 0 and "stores all, cameras all" in out, out
    # the last unrestricted admin cannot be restricted (user management needs one)
    code, out = run("user", "set", "root", "--stores", "north")
    assert code == 2 and "last unrestricted" in out, out
