"""Engine and session helpers: one ``Database`` object per process, same code for SQLite and PostgreSQL.

``open_database(url)`` is the only way in. It normalises the URL (a bare path means SQLite; plain
``postgresql://`` means the psycopg 3 driver, the only one we ship), configures the connection for
the dialect and runs the migrations, so every caller sees the current schema.

SQLite is tuned for one writer thread and many readers: WAL journal (readers never block the
writer), ``synchronous=NORMAL`` (durable at checkpoints, safe against corruption; an OS crash can
lose the last transactions, which the sinks' idempotent replay tolerates) and a busy timeout so a
concurrent writer waits instead of failing at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from storelens.storage.migrate import current_revision, upgrade_to_head
from storelens.storage.serialize import json_dumps


class StorageError(RuntimeError):
    """A storage URL or database cannot be used (the message says which and why)."""


def normalise_url(url: str | Path) -> str:
    """``path/to/x.db`` → ``sqlite:///path/to/x.db``; ``postgresql://`` → ``postgresql+psycopg://``."""
    text = str(url).strip()
    if not text:
        raise StorageError("empty database URL")
    if "://" not in text:
        return f"sqlite:///{Path(text).expanduser().resolve()}"
    for prefix in ("postgresql://", "postgres://"):
        if text.startswith(prefix):
            return "postgresql+psycopg://" + text[len(prefix) :]
    return text


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path).expanduser().resolve()}"


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return on_connect


def create_engine(url: str | Path, *, busy_timeout_ms: int = 5000, echo: bool = False) -> Engine:
    """An engine configured for the dialect (no migrations: see :func:`open_database`)."""
    text = normalise_url(url)
    try:
        parsed = make_url(text)
    except sa.exc.ArgumentError as exc:
        raise StorageError(f"invalid database URL {text!r}: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        db = parsed.database
        kwargs: dict[str, Any] = {}
        if not db or db == ":memory:":
            # one shared connection, else every pooled connection would see its own empty database
            kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        else:
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, echo=echo, json_serializer=json_dumps, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() not in ("psycopg", "psycopg_async"):
            raise StorageError(f"PostgreSQL URLs must use psycopg 3 (postgresql+psycopg://), got {text!r}")
        return sa.create_engine(
            parsed,
            echo=echo,
            json_serializer=json_dumps,
            pool_pre_ping=True,  # after a server restart, stale pooled connections are replaced
            pool_size=5,
            max_overflow=5,
            connect_args={"connect_timeout": 5},
        )
    raise StorageError(f"unsupported database backend {backend!r} (use sqlite or postgresql): {text!r}")


@dataclass(eq=False)
class Database:
    """A migrated database: the engine plus a session factory. Thread-safe; share one per process."""

    url: str
    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """An ORM session in a transaction: committed on success, rolled back on error."""
        with self.sessions() as s, s.begin():
            yield s

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A Core connection in a transaction (what the bulk writers use)."""
        with self.engine.begin() as conn:
            yield conn

    def schema_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return current_revision(conn)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_database(
    url: str | Path, *, migrate: bool = True, busy_timeout_ms: int = 5000, echo: bool = False
) -> Database:
    """Connect, and (by default) run ``alembic upgrade head``: existing data is always kept."""
    engine = create_engine(url, busy_timeout_ms=busy_timeout_ms, echo=echo)
    if migrate:
        try:
            upgrade_to_head(engine)
        except Exception:
            engine.dispose()
            raise
    return Database(
        url=engine.url.render_as_string(hide_password=True),
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
    )
