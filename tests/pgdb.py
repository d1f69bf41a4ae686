"""The one way tests get a PostgreSQL database of their own on the shared server.

The shared PostgreSQL (``$STORELENS_TEST_PG_URL``, else 127.0.0.1:5432 db ``test``) serves every
developer and every test at once, so a test never writes into ``test`` itself: it gets a new,
empty database, dropped afterwards even when the test fails or closed the database to connections
(an outage test). The database is left *empty*, not migrated: storelens migrates on
``open_database`` as it does in production, and the migration tests need to start from nothing.

A database rather than a schema: it is what a deployment has (``public``, no ``search_path``
options in the URL), and creating one costs tens of milliseconds. The fixtures over this helper are
in ``tests/integration/conftest.py``; ``bench/`` may use it too.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get("STORELENS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


class PgDatabase(NamedTuple):
    """A scratch database: its URL (as storelens takes it) and its name (for admin statements)."""

    url: str
    name: str


def pg_admin() -> sa.Engine:
    """An autocommit engine on the admin database, for CREATE/DROP/ALTER DATABASE and catalog reads."""
    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})


@contextmanager
def fresh_pg_database(label: str = "test") -> Iterator[PgDatabase]:
    """A new, empty database named ``sl_<label>_<random>``, dropped on exit whatever happened.

    An unreachable server fails the test with where it looked: integration tests need the service,
    and a skip would hide that it is down."""
    name = f"sl_{label[:30]}_{uuid.uuid4().hex[:12]}"
    admin = pg_admin()
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.fail(f"PostgreSQL not reachable at {PG_ADMIN_URL} (start it: see CONTRIBUTING.md): {exc}")
    try:
        yield PgDatabase(sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False), name)
    finally:
        with admin.connect() as conn:
            # an outage test may have closed it to connections; DROP ... FORCE needs it open
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
