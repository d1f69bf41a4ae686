"""Alembic environment, used from code (``storelens.storage.migrate``) and from the alembic CLI.

When storelens runs the migrations itself it hands over an open connection in
``config.attributes["connection"]`` (so PostgreSQL can hold an advisory lock in the same
transaction); the alembic CLI path builds an engine from ``sqlalchemy.url`` instead.
SQLite gets ``render_as_batch`` because it cannot ALTER most things in place.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from storelens.storage.models import load_all_models
from storelens.storage.partitions import include_object

config = context.config
target_metadata = load_all_models()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,  # run-time partitions of events are not models
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and sqlalchemy.url is not set")
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
