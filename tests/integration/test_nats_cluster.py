"""Edges and central on a three-node JetStream cluster (R3 stream), one node killed and restarted.

The cluster is private to the test: three ``nats-server`` processes on free loopback ports with
their stores under ``tmp_path``, so the shared server on 4222 is untouched. Edges and central get
all three seeds. The node that leads the stream is killed with SIGKILL while events are being
published and consumed, more events are published without it, then it is restarted on its old
store and the rest follows; the database must end with every event once and projections equal to
storing them in one go (the reference of ``test_central``).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.js.api import StreamConfig
from test_central import (
    CentralThread,
    _central_cfg,
    db_count,
    fingerprint,
    pg,
    publish,
    reference,
    shoppers,
    wait_until,
)

from storelens.config.schema import NatsConfig

__all__ = ["pg"]  # the fixture, imported for this module's tests

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

NATS_BIN = shutil.which("nats-server") or "/usr/sbin/nats-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Cluster:
    """Three JetStream nodes routed to each other on loopback."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports = [_free_port() for _ in range(3)]
        self.routes = [_free_port() for _ in range(3)]
        self.procs: list[subprocess.Popen[bytes] | None] = [None, None, None]
        for i in range(3):
            self.start(i)

    @property
    def urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{p}" for p in self.ports]

    def start(self, i: int) -> None:
        store = self.root / f"n{i}"
        store.mkdir(parents=True, exist_ok=True)
        seeds = ",".join(f"nats://127.0.0.1:{p}" for j, p in enumerate(self.routes) if j != i)
        cmd = [NATS_BIN, "-a", "127.0.0.1", "-p", str(self.ports[i]), "-js", "-sd", str(store), "-n", f"n{i}"]
        cmd += ["--cluster_name", "sltest", "--cluster", f"nats://127.0.0.1:{self.routes[i]}", "--routes", seeds]
        with (self.root / f"n{i}.log").open("ab") as log:
            self.procs[i] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: _port_open(self.ports[i]), 60, f"nats node n{i} listening")

    def kill(self, i: int) -> None:
        p = self.procs[i]
        assert p is not None
        p.send_signal(signal.SIGKILL)
        p.wait(30)
        self.procs[i] = None

    def stop(self) -> None:
        for p in self.procs:
            if p is not None:
                p.terminate()
        for p in self.procs:
            if p is not None:
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()

    def logs(self) -> str:
        return "\n".join((self.root / f"n{i}.log").read_text(errors="replace")[-2000:] for i in range(3))


async def _stream_r3(cfg: NatsConfig, deadline_s: float) -> str:
    """Create the R3 stream once the cluster has a meta leader; returns the stream leader's name."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            nc = await nats.connect(servers=cfg.servers, connect_timeout=2)
            try:
                js = nc.jetstream()
                want = StreamConfig(
                    name=cfg.stream,
                    subjects=[f"{cfg.subject_prefix}.>"],
                    max_age=cfg.max_age_s,
                    duplicate_window=cfg.duplicate_window_s,
                    num_replicas=3,
                )
                with contextlib.suppress(nats.js.errors.BadRequestError):  # exists already
                    await js.add_stream(want)
                info = await js.stream_info(cfg.stream)
                if info.cluster is not None and info.cluster.leader and len(info.cluster.replicas or []) == 2:
                    return str(info.cluster.leader)
            finally:
                await nc.close()
        except Exception:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError("the R3 stream has no leader with two replicas")
        await asyncio.sleep(0.5)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path / "nats")
    try:
        yield c
    finally:
        c.stop()


def test_stream_leader_killed_and_restarted_during_load_loses_and_duplicates_nothing(
    cluster: Cluster, pg: tuple[str, str], tmp_path: Path
) -> None:
    cfg = NatsConfig(
        enabled=True, servers=cluster.urls, stream="SLCLUSTER", subject_prefix="slcluster", duplicate_window_s=300
    )
    leader = asyncio.run(_stream_r3(cfg, 60))
    victim = int(leader.removeprefix("n"))
    stores = ["s1", "s2"]
    parts = [[e for s in stores for e in shoppers(s, 150, tag=f"p{k}")] for k in range(3)]
    events = [e for p in parts for e in p]
    url = pg[0]
    central = CentralThread(_central_cfg(NatsConfig(**{**cfg.model_dump()}), url, batch=50))
    try:
        publish(cfg, parts[0], tmp_path / "spool0")
        wait_until(lambda: db_count(url) > 0, 60, "central committing")
        cluster.kill(victim)  # mid-stream: central is still working through part 0
        publish(cfg, parts[1], tmp_path / "spool1")  # the two survivors elect a leader and accept
        wait_until(lambda: db_count(url) >= len(parts[0]) + len(parts[1]), 90, "parts 0-1 stored without the node")
        cluster.start(victim)
        publish(cfg, parts[2], tmp_path / "spool2")
        wait_until(lambda: db_count(url) == len(events), 90, "every event stored")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- nats logs ---\n{cluster.logs()}") from exc
    finally:
        central.stop()
    st = central.ingest.stats()
    assert st.stored == len(events) and st.rejected == 0
    assert st.duplicates <= st.redelivered  # only a redelivery can repeat an event, and it is skipped
    assert fingerprint(url, stores) == reference(tmp_path, events, stores)
