"""Run the Alembic migrations from code, safely when several processes start at once.

storelens upgrades the schema itself on start (``open_database``), so a fresh install or a newer
version needs no manual step. Two things make that safe:

* Only one process migrates at a time: PostgreSQL takes a transaction-scoped advisory lock (DDL is
  transactional there, so a failed upgrade leaves nothing half done); SQLite takes an exclusive
  lock on a ``<db>.migrate.lock`` file next to the database.
* A database whose revision this code does not know (written by a newer storelens) is refused with a
  clear error rather than "upgraded" by guesswork; migrations only ever add, never drop data.

The script directory is found through ``importlib.resources``, so this works from an installed
wheel as well as from a checkout; ``alembic_config`` also serves the alembic CLI for developers
(``alembic -c <(python -m storelens.storage.migrate --ini URL) revision --autogenerate``).
"""

from __future__ import annotations

import fcntl
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection, Engine

_PG_LOCK_KEY = 0x5709E1E5  # arbitrary, constant: "storelens migrate"


class MigrationError(RuntimeError):
    """The schema cannot be brought to this version of storelens (message says why and what to do)."""


def migrations_dir() -> Path:
    return Path(str(resources.files("storelens.storage") / "migrations"))


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise MigrationError("no migration revisions found in the storelens package")
    return head


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    db = engine.url.database
    if not db or db == ":memory:" or db.startswith("file:"):
        yield
        return
    lock_path = Path(db + ".migrate.lock")
    with lock_path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def upgrade_to_head(engine: Engine) -> str:
    """Bring the schema to the newest revision shipped with this package; returns that revision."""
    cfg = alembic_config()
    script = ScriptDirectory.from_config(cfg)
    head = head_revision()

    def run(conn: Connection) -> None:
        current = current_revision(conn)
        if current is not None:
            try:
                script.get_revision(current)
            except CommandError:
                raise MigrationError(
                    f"database schema is at revision {current!r}, which this storelens does not know "
                    f"(newest known: {head!r}); it was written by a newer storelens: upgrade storelens "
                    "instead of pointing an older one at this database"
                ) from None
        if current == head:
            return
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
            run(conn)
    else:
        with _sqlite_file_lock(engine), engine.connect() as conn:
            run(conn)
            conn.commit()
    return head


def _print_ini(url: str) -> None:
    """Print an alembic.ini for the CLI (developers making a new revision)."""
    sys.stdout.write(f"[alembic]\nscript_location = {migrations_dir()}\nsqlalchemy.url = {url}\n")


if __name__ == "__main__":  # pragma: no cover - developer helper
    if len(sys.argv) == 3 and sys.argv[1] == "--ini":
        _print_ini(sys.argv[2])
    else:
        sys.stderr.write("usage: python -m storelens.storage.migrate --ini DATABASE_URL\n")
        raise SystemExit(2)
