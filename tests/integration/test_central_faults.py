"""`storelens central` through two faults of a chain's database: a PostgreSQL restart and a month
boundary crossed during ingest (issue 21).

* The restart runs on a private PostgreSQL (``tests/servers.py``; the shared one on 5432
  is never stopped), stopped with ``-m immediate`` (no shutdown checkpoint: crash recovery on start)
  while events keep arriving, then started again.
* The boundary test runs two consumers on one durable while the events cross from March into April
  (a partition made ahead) and then jump to a month nobody created yet, so a partition is made
  during ingest; some events already sit in the default partition (written by an edge's database
  sink before central knew the month) and must be moved, not stored twice.

Both end with produced = stored, no duplicate ids, and every aggregate and visit equal to storing
the events in one go (the reference of ``test_central``). Events go through the shared NATS on
4222 under a stream of their own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from test_central import (
    T0,
    CentralThread,
    _central_cfg,
    db_count,
    fingerprint,
    ncfg,
    publish,
    reference,
    shoppers,
    wait_until,
)

from servers import PrivatePostgres, private_postgres
from storelens.config.outputs import NatsConfig
from storelens.events.models import Event
from storelens.storage import open_database, store_events
from storelens.storage.partitions import DEFAULT, list_partitions

__all__ = ["ncfg"]  # the fixture, imported for this module's tests

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        yield server


def _shifted(events: list[Event], to: datetime) -> list[Event]:
    delta = to - T0
    return [e.model_copy(update={"ts": e.ts + delta}) for e in events]


def _ids_unique(url: str) -> tuple[int, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            n, distinct = conn.exec_driver_sql("SELECT count(*), count(DISTINCT id) FROM events").one()
            return int(n), int(distinct)
    finally:
        engine.dispose()


def test_postgres_restarted_during_ingest_loses_and_duplicates_nothing(
    ncfg: NatsConfig, private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    url = private_pg.url
    stores = ["s1", "s2"]
    parts = [[e for s in stores for e in shoppers(s, 60, tag=f"p{k}")] for k in range(3)]
    events = [e for p in parts for e in p]
    central = CentralThread(_central_cfg(ncfg, url, batch=50))
    try:
        publish(ncfg, parts[0], tmp_path / "spool0")
        wait_until(lambda: central.ingest.stats().stored == len(parts[0]), 60, "part 0 stored")
        edge = threading.Thread(target=publish, args=(ncfg, parts[1], tmp_path / "spool1"))
        edge.start()  # events keep coming while the server goes down
        wait_until(lambda: central.ingest.stats().consumed > len(parts[0]), 30, "part 1 arriving")
        private_pg.stop("immediate")
        edge.join(60)
        wait_until(lambda: central.ingest.stats().db_errors >= 1, 30, "a failed commit")
        time.sleep(1.0)  # down for a while: the batch stays in hand
        private_pg.start()
        publish(ncfg, parts[2], tmp_path / "spool2")
        wait_until(lambda: db_count(url) == len(events), 60, "every event stored")
    finally:
        central.stop()
    st = central.ingest.stats()
    assert st.db_errors >= 1 and st.db_up and st.rejected == 0
    assert _ids_unique(url) == (len(events), len(events))
    assert fingerprint(url, stores) == reference(tmp_path, events, stores)


def test_month_boundary_crossed_during_ingest_by_two_consumers(
    ncfg: NatsConfig, pg: tuple[str, str], tmp_path: Path
) -> None:
    url = pg[0]
    stores = ["s1", "s2", "s3"]
    march_april = [e for s in stores for e in _shifted(shoppers(s, 120), datetime(2025, 3, 31, 23, 50, tzinfo=UTC))]
    later = [e for s in stores for e in _shifted(shoppers(s, 60, tag="j"), datetime(2025, 9, 30, 23, 55, tzinfo=UTC))]
    events = sorted(march_april, key=lambda e: (e.ts, e.id)) + sorted(later, key=lambda e: (e.ts, e.id))
    assert {e.ts.month for e in march_april} == {3, 4} and {e.ts.month for e in later} == {9, 10}
    # an edge's database sink wrote some of September before any partition for it existed
    early = later[::5]
    with open_database(url) as db, db.begin() as conn:
        store_events(conn, early)
    cfg = _central_cfg(ncfg, url, batch=40)
    a, b = CentralThread(cfg), CentralThread(cfg)
    try:
        wait_until(lambda: a.ingest.stats().db_up and b.ingest.stats().db_up, 30, "both consumers started")
        publish(ncfg, events, tmp_path / "spool")
        wait_until(lambda: db_count(url) == len(events), 90, "every event stored")
    finally:
        a.stop()
        b.stop()
    sa_, sb = a.ingest.stats(), b.ingest.stats()
    assert sa_.stored > 0 and sb.stored > 0, (sa_, sb)
    assert sa_.stored + sb.stored == len(events) - len(early)
    assert sa_.duplicates + sb.duplicates >= len(early)  # the early rows were found, not stored again
    assert _ids_unique(url) == (len(events), len(events))
    with open_database(url) as db, db.begin() as conn:
        names = {p.name for p in list_partitions(conn)}
        in_default = conn.exec_driver_sql(f"SELECT count(*) FROM {DEFAULT}").scalar_one()
    assert {"events_p202503", "events_p202504", "events_p202509", "events_p202510"} <= names
    assert in_default == 0  # the early September rows moved into their partition
    assert fingerprint(url, stores) == reference(tmp_path, events, stores)


def test_events_older_than_every_partition_still_land_once(
    ncfg: NatsConfig, pg: tuple[str, str], tmp_path: Path
) -> None:
    """A backfill from years ago: central makes its month on the fly, nothing goes astray."""
    url = pg[0]
    old = _shifted(shoppers("s1", 40), datetime(2019, 2, 27, 12, 0, tzinfo=UTC) - timedelta(minutes=1))
    publish(ncfg, old, tmp_path / "spool")
    central = CentralThread(_central_cfg(ncfg, url))
    try:
        wait_until(lambda: db_count(url) == len(old), 60, "the backfill stored")
    finally:
        central.stop()
    with open_database(url) as db, db.begin() as conn:
        assert "events_p201902" in {p.name for p in list_partitions(conn)}
    assert fingerprint(url, ["s1"]) == reference(tmp_path, old, ["s1"])
