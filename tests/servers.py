"""Private ``nats-server`` and PostgreSQL instances on loopback, for fault tests and benchmarks
(tests and bench/ only: the package itself never starts processes, see test_data_only_writes).

The shared servers (NATS on 4222, PostgreSQL on 5432) serve every developer at once, so nothing
may stop them. A test that kills a NATS node or restarts the database starts its own here: free
ports, a temporary folder, processes always stopped by ``close`` / the context manager. One helper
for the tests and ``bench/`` alike, so a change to how a server is started is made once.

Restarting a node keeps its port and its store folder, as a real restart would.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from storelens.config.outputs import NatsConfig


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def nats_binary() -> str:
    """The nats-server binary; a machine without it skips the test that needs a private server
    (scripts/install-system-deps.sh installs it, and .ci/run runs that first)."""
    found = shutil.which("nats-server") or ("/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None)
    if found is None:
        pytest.skip("nats-server is not installed (scripts/install-system-deps.sh, or apt-get install nats-server)")
    return found


class PrivateNats:
    """``nodes`` JetStream servers (routed into one cluster when more than one) under ``root``."""

    def __init__(self, root: Path, nodes: int = 1, *, start: bool = True, start_timeout_s: float = 60) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.bin = nats_binary()
        self.nodes = nodes
        self.ports = [free_port() for _ in range(nodes)]
        self.routes = [free_port() for _ in range(nodes)] if nodes > 1 else []
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * nodes
        self.start_timeout_s = start_timeout_s
        if start:
            try:
                for i in range(nodes):
                    self.start(i)
            except BaseException:
                self.close()
                raise

    @property
    def urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{p}" for p in self.ports]

    @property
    def url(self) -> str:
        return self.urls[0]

    @property
    def port(self) -> int:
        return self.ports[0]

    def start(self, i: int = 0) -> None:
        """Start node ``i`` (again) and wait until it listens."""
        store = self.root / f"js{i}"
        store.mkdir(parents=True, exist_ok=True)
        cmd = [self.bin, "-a", "127.0.0.1", "-p", str(self.ports[i]), "-js", "-sd", str(store), "-n", f"n{i}"]
        if self.nodes > 1:
            seeds = ",".join(f"nats://127.0.0.1:{p}" for j, p in enumerate(self.routes) if j != i)
            cmd += ["--cluster_name", "private", "--cluster", f"nats://127.0.0.1:{self.routes[i]}", "--routes", seeds]
        with (self.root / f"nats{i}.log").open("ab") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        self.procs[i] = proc
        deadline = time.monotonic() + self.start_timeout_s
        while not port_open(self.ports[i]):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"private nats-server n{i} did not start: {self.logs()[-1000:]}")
            time.sleep(0.05)

    def kill(self, i: int = 0) -> None:
        """SIGKILL node ``i`` (a crash: no shutdown, no flush)."""
        self._end(i, signal.SIGKILL)

    def stop(self, i: int = 0) -> None:
        """Stop node ``i`` the polite way (SIGTERM)."""
        self._end(i, signal.SIGTERM)

    def _end(self, i: int, sig: int) -> None:
        p = self.procs[i]
        self.procs[i] = None
        if p is None or p.poll() is not None:
            return
        p.send_signal(sig)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)

    def close(self) -> None:
        for i in range(self.nodes):
            self.stop(i)

    def logs(self) -> str:
        parts = []
        for i in range(self.nodes):
            path = self.root / f"nats{i}.log"
            if path.exists():
                parts.append(path.read_text(errors="replace")[-2000:])
        return "\n".join(parts)

    def __enter__(self) -> PrivateNats:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


class PrivatePostgres:
    """A throwaway cluster (initdb + pg_ctl). As root the server runs as ``postgres`` (it refuses
    root). ``fsync=off``: a test restarts it cleanly, a crash of the machine is not under test."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.port = free_port()
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

    def stop(self, mode: str = "fast") -> None:
        """``fast``: clients cut off, clean shutdown; ``immediate``: like a crash (recovery on start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def destroy(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.destroy()


async def create_stream(cfg: NatsConfig, replicas: int, deadline_s: float = 60) -> str | None:
    """Create ``cfg``'s stream as ``ensure_stream`` wants it (so nobody updates it later), with
    ``replicas`` copies, retried while a fresh cluster still elects its meta leader; returns the
    stream leader's name once it has ``replicas - 1`` followers (None on a single server)."""
    import nats
    import nats.js.errors
    from nats.js.api import StreamConfig

    deadline = time.monotonic() + deadline_s
    while True:
        try:
            nc = await nats.connect(servers=list(cfg.servers), connect_timeout=2)
            try:
                js = nc.jetstream()
                want = StreamConfig(
                    name=cfg.stream,
                    subjects=[f"{cfg.subject_prefix}.>"],
                    max_age=cfg.max_age_s,
                    duplicate_window=cfg.duplicate_window_s,
                    num_replicas=replicas,
                )
                with contextlib.suppress(nats.js.errors.BadRequestError):  # exists already
                    await js.add_stream(want)
                info = await js.stream_info(cfg.stream)
                if replicas == 1:
                    return None
                if (
                    info.cluster is not None
                    and info.cluster.leader
                    and len(info.cluster.replicas or []) == replicas - 1
                ):
                    return str(info.cluster.leader)
            finally:
                await nc.close()
        except Exception:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise RuntimeError(f"stream {cfg.stream}: no leader with {replicas - 1} replicas after {deadline_s:.0f} s")
        await asyncio.sleep(0.5)
