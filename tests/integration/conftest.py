"""Fixtures every integration test shares: a database of its own (helper in ``tests/pgdb.py``).

* ``pg``: a fresh, empty PostgreSQL database for one test (:class:`pgdb.PgDatabase`, ``url`` and
  ``name``), dropped afterwards;
* ``pg_url``: the same, just its URL;
* ``db_url``: the test runs twice, on a SQLite file and on a fresh PostgreSQL database (that case
  marked ``integration``), for code that must behave alike on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pgdb import PgDatabase, fresh_pg_database


def _label(request: pytest.FixtureRequest) -> str:
    """The test module's name without ``test_``, so a database left by a killed run says whose it is."""
    return request.node.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")


@pytest.fixture
def pg(request: pytest.FixtureRequest) -> Iterator[PgDatabase]:
    with fresh_pg_database(_label(request)) as db:
        yield db


@pytest.fixture
def pg_url(pg: PgDatabase) -> str:
    return pg.url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A real, empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'storelens.db'}"
        return
    with fresh_pg_database(_label(request)) as db:
        yield db.url
