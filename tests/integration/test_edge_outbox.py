"""Fault tests of the edge outbox on a real, private NATS JetStream: nothing produced is lost or doubled.

Each test runs its own ``nats-server -js`` on a free loopback port with its own store folder (the
shared 127.0.0.1:4222 is left alone), and an edge *process* (tests/integration/outbox_edge.py, a
real NatsSink) that the test kills. "Produced" is every event whose ``write`` returned; the oracle
is the stream itself after the edge was restarted (every produced id exactly once, nothing else)
and, for the kill tests, the ``events`` table that ``storelens central`` fills in a fresh
PostgreSQL database (127.0.0.1:5432) from that stream.

* ``kill -9`` and SIGTERM (no handler, as ``storelens run`` had none) during a broker outage, then
  broker up and edge restarted: produced = stored, no duplicates (the memory outbox lost them all);
* a journal that hits a file-size limit (a full disk): one clear error line, no traceback, the
  refused events counted as dropped and the journaled ones delivered after the restart.

Waits poll a condition up to a deadline scaled to the machine (tests/budget.py), never sleep.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import IO, Any

import nats
import pytest
import sqlalchemy as sa

from budget import scaled
from servers import PrivateNats, free_port
from storelens.central import CentralConfig, CentralIngest
from storelens.config.outputs import NatsConfig
from storelens.events.models import Event
from storelens.sinks.nats import consume_events

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

EDGE = Path(__file__).with_name("outbox_edge.py")


class Mosquitto:
    """A private mosquitto with persistence (a subscriber's session and its queue survive a restart)."""

    def __init__(self, workdir: Path) -> None:
        if shutil.which("mosquitto") is None:
            pytest.fail("mosquitto is not installed")
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {workdir}/\nuser {os.environ.get('USER', 'root')}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + scaled(20)
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # mosquitto saves its persistence on SIGTERM
            self.proc.wait(scaled(20))
        self.proc = None


class Edge:
    """The edge process; ``ask`` sends one command and returns its one-line answer."""

    def __init__(
        self, broker: PrivateNats | Mosquitto, stream: str, prefix: str, spool: Path, produced: Path, *extra: str
    ) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(EDGE), broker.url, stream, prefix, str(spool), str(produced), *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.ask(None) == "ready", self.stderr()

    def ask(self, cmd: str | None) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if cmd is not None:
            self.proc.stdin.write(cmd + "\n")
            self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()  # bounded by the test's hang guard

    def stderr(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        err: IO[str] | None = self.proc.stderr
        return err.read() if err is not None else ""

    def close(self) -> dict[str, Any]:
        stats = json.loads(self.ask("close"))
        assert self.proc.wait(scaled(60)) == 0
        return dict(stats)


def _ids(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _stream(broker: PrivateNats, stream: str, prefix: str) -> tuple[int, Counter[str]]:
    """(messages in the stream, Counter of event ids read by a fresh durable consumer)."""
    cfg = NatsConfig(enabled=True, servers=[broker.url], stream=stream, subject_prefix=prefix)
    got: list[Event] = []
    asyncio.run(consume_events(cfg, got.append, durable=f"check{uuid.uuid4().hex[:6]}", idle_timeout_s=scaled(2.0)))

    async def count() -> int:
        nc = await nats.connect(servers=[broker.url], connect_timeout=2)
        try:
            return int((await nc.jetstream().stream_info(stream)).state.messages)
        finally:
            await nc.close()

    return asyncio.run(count()), Counter(e.id for e in got)


def _names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:10]
    return f"SLOUTBOX_{tag}", f"sloutbox_{tag}"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_edge_killed_during_outage_loses_and_doubles_nothing(tmp_path: Path, sig: signal.Signals, pg_url: str) -> None:
    broker = PrivateNats(tmp_path / "js", start=False)
    stream, prefix = _names()
    spool, produced = tmp_path / "spool", tmp_path / "produced.txt"
    broker.start()
    edge = Edge(broker, stream, prefix, spool, produced)
    try:
        assert edge.ask("write 40") == "wrote 40"
        assert edge.ask(f"wait {scaled(60):.0f}") == "delivered 1"  # these 40 are in the stream
        broker.stop()
        assert edge.ask("write 160") == "wrote 160"  # during the outage
        edge.proc.send_signal(sig)
        assert edge.proc.wait(scaled(30)) == -sig
    finally:
        if edge.proc.poll() is None:
            edge.proc.kill()
    assert len(_ids(produced)) == 200 and not _ids(Path(f"{produced}.dropped"))

    broker.start()
    try:
        again = Edge(broker, stream, prefix, spool, tmp_path / "produced-2.txt")
        assert again.ask(f"wait {scaled(90):.0f}") == "delivered 1", again.stderr()
        stats = again.close()
        assert (stats["pending"], stats["dropped"]) == (0, 0)
        stored, ids = _stream(broker, stream, prefix)
        ncfg = NatsConfig(enabled=True, servers=[broker.url], stream=stream, subject_prefix=prefix)
        central = CentralIngest(CentralConfig(nats=ncfg, database_url=pg_url, durable="central", batch=50))
        asyncio.run(central.run(idle_timeout_s=scaled(2.0)))
    finally:
        broker.stop()
    assert stored == 200  # JetStream dropped any re-send of an already stored event by its msg id
    assert ids == Counter(_ids(produced))  # every produced event exactly once, nothing else
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            rows = [r for (r,) in conn.exec_driver_sql("SELECT id FROM events")]
    finally:
        engine.dispose()
    assert Counter(rows) == Counter(_ids(produced))  # and central stored each of them once in PostgreSQL


def test_journal_on_a_full_disk_is_one_clear_error_and_exact_counts(tmp_path: Path) -> None:
    broker = PrivateNats(tmp_path / "js", start=False)
    stream, prefix = _names()
    spool, produced = tmp_path / "spool", tmp_path / "produced.txt"
    # the broker is down; the journal may grow to 160 KiB (a full disk after some dozens of events)
    edge = Edge(broker, stream, prefix, spool, produced, "--fsize", str(160 * 1024))
    try:
        assert edge.ask("write 1000") == "wrote 1000"
        stats = edge.close()
    finally:
        err = edge.stderr()
    kept, dropped = _ids(produced), _ids(Path(f"{produced}.dropped"))
    assert len(kept) + len(dropped) == 1000 and kept and dropped, err
    assert stats["dropped"] == len(dropped) and stats["pending"] == len(kept)
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if "is not writable" in ln]
    assert len(lines) == 1 and "nats outbox: journal" in lines[0], err

    broker.start()
    try:
        again = Edge(broker, stream, prefix, spool, tmp_path / "produced-2.txt")
        assert again.ask(f"wait {scaled(90):.0f}") == "delivered 1", again.stderr()
        again.close()
        stored, ids = _stream(broker, stream, prefix)
    finally:
        broker.stop()
    assert stored == len(kept) and ids == Counter(kept)  # what was journaled arrives, exactly once


def test_mqtt_edge_killed_during_outage_resends_every_event(tmp_path: Path) -> None:
    """The MQTT sink shares the journal: every produced event reaches a persistent subscriber after
    the restart. MQTT has no broker de-dup, so the check is: the distinct ids received = produced."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    broker = Mosquitto(tmp_path / "mosquitto")
    prefix = f"sloutbox{uuid.uuid4().hex[:8]}"
    spool, produced = tmp_path / "spool", tmp_path / "produced.txt"
    broker.start()
    received: list[str] = []
    subscribed = threading.Event()
    sub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="outbox-sub", protocol=mqtt.MQTTv5)
    sub.reconnect_delay_set(1, 1)
    sub.on_connect = lambda c, *_: c.subscribe(f"{prefix}/#", qos=1)
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.on_message = lambda _c, _u, m: received.append(json.loads(m.payload)["id"]) if b'"id"' in m.payload else None
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 600  # the broker queues QoS 1 messages for it while it is away
    sub.connect("127.0.0.1", broker.port, keepalive=10, clean_start=False, properties=props)
    sub.loop_start()
    try:
        assert subscribed.wait(scaled(20))
        edge = Edge(broker, "-", prefix, spool, produced)
        try:
            assert edge.ask("write 30") == "wrote 30"
            assert edge.ask(f"wait {scaled(60):.0f}") == "delivered 1"
            broker.stop()
            assert edge.ask("write 120") == "wrote 120"  # during the outage
            edge.proc.send_signal(signal.SIGKILL)
            assert edge.proc.wait(scaled(30)) == -signal.SIGKILL
        finally:
            if edge.proc.poll() is None:
                edge.proc.kill()
        assert len(_ids(produced)) == 150
        broker.start()
        again = Edge(broker, "-", prefix, spool, tmp_path / "produced-2.txt")
        assert again.ask(f"wait {scaled(90):.0f}") == "delivered 1", again.stderr()
        stats = again.close()
        assert (stats["pending"], stats["inflight"], stats["dropped"]) == (0, 0, 0)
        deadline = time.monotonic() + scaled(60)
        while set(received) != set(_ids(produced)) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sub.loop_stop()
        sub.disconnect()
        broker.stop()
    assert set(received) == set(_ids(produced))  # every produced event arrived (at least once)


def test_edge_killed_mid_burst_with_broker_up_loses_and_doubles_nothing(tmp_path: Path) -> None:
    """``kill -9`` at an arbitrary moment while events are written and published: every event whose
    ``write`` returned is stored once; at most the one ``write`` cut short may be stored in addition."""
    broker = PrivateNats(tmp_path / "js", start=False)
    stream, prefix = _names()
    spool, produced = tmp_path / "spool", tmp_path / "produced.txt"
    broker.start()
    try:
        edge = Edge(broker, stream, prefix, spool, produced)
        try:
            assert edge.proc.stdin is not None
            edge.proc.stdin.write("write 2000\n")
            edge.proc.stdin.flush()
            deadline = time.monotonic() + scaled(120)
            while len(_ids(produced)) < 150 and time.monotonic() < deadline and edge.proc.poll() is None:
                time.sleep(0.01)
            edge.proc.send_signal(signal.SIGKILL)
            assert edge.proc.wait(scaled(30)) == -signal.SIGKILL
        finally:
            if edge.proc.poll() is None:
                edge.proc.kill()
        made = _ids(produced)
        assert 150 <= len(made) < 2000
        again = Edge(broker, stream, prefix, spool, tmp_path / "produced-2.txt")
        assert again.ask(f"wait {scaled(90):.0f}") == "delivered 1", again.stderr()
        again.close()
        stored, ids = _stream(broker, stream, prefix)
    finally:
        broker.stop()
    assert set(made) <= set(ids) and len(ids) - len(made) in (0, 1)  # nothing produced is lost
    assert all(n == 1 for n in ids.values()) and stored == len(ids)  # nothing doubled
