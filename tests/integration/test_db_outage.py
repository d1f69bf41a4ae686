"""PostgreSQL stopped and restarted while events keep coming: nothing lost, nothing duplicated.

Runs a private PostgreSQL cluster (initdb + pg_ctl from /usr/lib/postgresql/*/bin) on a free port in
a temporary directory, so stopping it cannot disturb anything else on the machine. The server is
always stopped and the directory removed in ``finally``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storelens.events.models import Event
from storelens.sinks.database import DatabaseSink
from storelens.storage import count_events, open_database, query_aggregates

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        pytest.fail("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """A throwaway cluster. As root, the server runs as the ``postgres`` user (it refuses root)."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="storelens-pg-"))
        self.data = self.dir / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bin / tool), *args], check=True, capture_output=True, timeout=120)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def destroy(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.destroy()


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
