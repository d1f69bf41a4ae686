"""PostgreSQL stopped and restarted while events keep coming: nothing lost, nothing duplicated.

Runs a private PostgreSQL cluster (``tests/servers.py``: initdb + pg_ctl) on a free port in
a temporary directory, so stopping it cannot disturb anything else on the machine. The server is
always stopped and the directory removed in ``finally``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from servers import PrivatePostgres, private_postgres
from storelens.events.models import Event
from storelens.sinks.database import DatabaseSink
from storelens.storage import count_events, open_database, query_aggregates

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    with private_postgres() as pg:
        yield pg


def test_postgres_stopped_mid_run_loses_and_duplicates_nothing(private_pg: PrivatePostgres, tmp_path: Path) -> None:
    sink = DatabaseSink(
        private_pg.url,
        batch_size=100,
        flush_interval_s=0.05,
        spool_dir=tmp_path / "spool",
        retry_initial_s=0.2,
        retry_max_s=1.0,
    )
    written: list[Event] = []
    stop = threading.Event()
    t0 = datetime(2025, 3, 1, tzinfo=UTC).timestamp()

    def camera() -> None:  # a pipeline producing events at a steady rate throughout
        i = 0
        while not stop.is_set():
            batch = [
                Event.at("zone.exited", "s1", t0 + (i + k) * 0.05, camera_id="cam1", zone_id="z1", dwell_s=1.0)
                for k in range(20)
            ]
            i += 20
            sink.write(batch)
            written.extend(batch)
            if len(written) % 400 == 0:  # now and then the same batch arrives twice (at-least-once upstream)
                sink.write(batch)
            time.sleep(0.02)

    producer = threading.Thread(target=camera)
    try:
        producer.start()
        deadline = time.monotonic() + 30
        while sink.stats().inserted < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sink.stats().inserted >= 300, "events should reach the database before the outage"
        private_pg.stop()
        deadline = time.monotonic() + 30
        while sink.stats().spooled == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # keep writing while the database is down
        assert sink.stats().spooled > 0 and sink.stats().failures > 0
    finally:
        private_pg.start()  # always bring the server back
    try:
        time.sleep(0.5)  # and keep writing after it is back
        stop.set()
        producer.join(10)
        assert sink.drain(90), f"spool not drained: {sink.stats()}"
    finally:
        stop.set()
        sink.close()
    st = sink.stats()
    assert st.pending_spool == 0 and st.rejected == 0 and st.dropped == 0
    with open_database(private_pg.url) as db, db.begin() as conn:
        assert count_events(conn) == len(written) == len({e.id for e in written})
        stored = conn.exec_driver_sql("SELECT count(DISTINCT id), count(*) FROM events").one()
        assert tuple(stored) == (len(written), len(written))
        agg = query_aggregates(conn, store_id="s1", bucket_s=3600, zone_id="z1")
        assert sum(a.exits for a in agg) == len(written)  # derived counts also exactly once
