"""MQTT sink against real Mosquitto brokers with a real subscriber.

The shared broker (127.0.0.1:1883) serves the topic/status/discovery tests under a unique topic
prefix (retained messages are cleared afterwards). Outage tests start a private mosquitto on a free
port, because stopping the shared one would disturb everything else using it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from storelens.config.cameras import ZoneConfig
from storelens.config.outputs import MqttConfig
from storelens.events.models import Event
from storelens.sinks.mqtt import MqttSink, event_topic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

HOST = "127.0.0.1"
SHARED_PORT = 1883


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {HOST}:{port}")


def wait_until(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


class PrivateBroker:
    """A mosquitto of our own on a free port, with persistence so sessions survive a restart."""

    def __init__(self, workdir: Path) -> None:
        if shutil.which("mosquitto") is None:
            pytest.fail("mosquitto is not installed")
        self.port = _free_port()
        self.dir = workdir
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} {HOST}\nallow_anonymous true\npersistence true\n"
            f"persistence_location {workdir}/\nuser {os.environ.get('USER', 'root')}\nlog_dest stderr\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # mosquitto saves its persistence on SIGTERM
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    broker = PrivateBroker(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@dataclass
class Subscriber:
    """A plain paho subscriber recording every message (topic, payload, qos, retain)."""

    port: int
    topics: list[str]
    persistent: bool = False
    messages: list[mqtt.MQTTMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"sub-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        props = None
        if self.persistent:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 600
        self.client.connect(HOST, self.port, keepalive=10, clean_start=not self.persistent, properties=props)
        self.client.loop_start()
        assert self.subscribed.wait(10), "subscriber could not subscribe"

    def _on_connect(self, client: mqtt.Client, *_a: object) -> None:
        for t in self.topics:
            client.subscribe(t, qos=1)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append(msg)

    def on(self, topic: str) -> list[str]:
        with self.lock:
            return [m.payload.decode() for m in self.messages if m.topic == topic]

    def event_ids(self, prefix: str) -> list[str]:
        with self.lock:
            return [
                json.loads(m.payload)["id"]
                for m in self.messages
                if m.topic.startswith(prefix + "/") and not m.topic.endswith("/status")
            ]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _clear_retained(port: int, topics: list[str]) -> None:
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.connect(HOST, port)
    c.loop_start()
    for t in topics:
        c.publish(t, b"", qos=1, retain=True).wait_for_publish(5)
    c.disconnect()
    c.loop_stop()


def _events(n: int, **kw: object) -> list[Event]:
    t = datetime(2025, 3, 1, tzinfo=UTC).timestamp()
    return [
        Event.at("zone.entered", "s1", t + i, camera_id="cam1", zone_id="entrance", subject=i, **kw) for i in range(n)
    ]


def _cfg(port: int, prefix: str, **kw: object) -> MqttConfig:
    return MqttConfig(
        enabled=True, host=HOST, port=port, topic_prefix=prefix, reconnect_min_s=1, reconnect_max_s=2, **kw
    )


def test_topics_payloads_status_and_discovery(tmp_path: Path) -> None:
    prefix = f"sltest-{uuid.uuid4().hex[:8]}"
    ha = f"{prefix}-ha"
    zones = [
        ZoneConfig(id="entrance", kind="entrance", camera="cam1", points=[(0, 0), (1, 0), (1, 1)]),
        ZoneConfig(id="q1", kind="queue", camera="cam1", points=[(0, 0), (1, 0), (1, 1)]),
    ]
    sub = Subscriber(SHARED_PORT, [f"{prefix}/#", f"{ha}/#"])
    sink = MqttSink(
        _cfg(SHARED_PORT, prefix, ha_discovery=True, ha_discovery_prefix=ha),
        store_id="s1",
        cameras=["cam1", "cam2"],
        zones=zones,
        spool_dir=tmp_path / "spool",
    )
    retained = [sink.status_topic(), sink.status_topic("cam1"), sink.status_topic("cam2")]
    retained += [t for t, _ in sink.discovery_messages()]
    try:
        events = _events(40)
        t = events[0].ts.timestamp()
        events += [
            Event.at("queue.updated", "s1", t, camera_id="cam1", zone_id="q1", length=3),
            Event.at("camera.offline", "s1", t, camera_id="cam2", reason="stream lost"),
            Event.at("occupancy.changed", "s1", t, camera_id="cam1", occupancy=5),
        ]
        sink.write(events)
        assert sink.wait_delivered(20)
        wait_until(lambda: len(sub.event_ids(prefix)) >= len(events), 10, "all events at the subscriber")
        ids = sub.event_ids(prefix)
        assert sorted(ids) == sorted(e.id for e in events)  # each exactly once
        assert events[0].zone_id is not None
        got = sub.on(f"{prefix}/s1/entrance/zone/entered")
        assert len(got) == 40 and json.loads(got[0]) == json.loads(events[0].model_dump_json())
        assert json.loads(sub.on(f"{prefix}/s1/q1/queue/updated")[0])["payload"]["length"] == 3
        assert len(sub.on(f"{prefix}/s1/cam2/camera/offline")) == 1
        assert event_topic(prefix, events[-1]) == f"{prefix}/s1/cam1/occupancy/changed"
        with sub.lock:
            qos = {m.qos for m in sub.messages if m.topic.endswith("zone/entered")}
        assert qos == {1}
        wait_until(lambda: sub.on(sink.status_topic("cam2"))[-1:] == ["offline"], 5, "cam2 offline status")
        assert sub.on(sink.status_topic())[-1] == "online"
        assert sub.on(sink.status_topic("cam1"))[-1] == "online"
        disc = json.loads(sub.on(f"{ha}/sensor/storelens_s1_q1_queue/config")[-1])
        assert disc["state_topic"] == f"{prefix}/s1/q1/queue/updated"
        assert disc["value_template"] == "{{ value_json.payload.length }}"
        assert disc["availability_topic"] == sink.status_topic()
        assert f"{ha}/sensor/storelens_s1_entrance_queue/config" not in {t for t, _ in sink.discovery_messages()}
        sink.close()
        wait_until(lambda: sub.on(sink.status_topic())[-1:] == ["offline"], 5, "store offline after close")
        wait_until(lambda: sub.on(sink.status_topic("cam1"))[-1:] == ["offline"], 5, "cam1 offline after close")
        # a late subscriber sees the retained statuses
        late = Subscriber(SHARED_PORT, [f"{prefix}/+/status", f"{prefix}/+/+/status"])
        wait_until(lambda: late.on(sink.status_topic()) == ["offline"], 5, "retained store status")
        late.close()
        assert sink.stats().delivered >= len(events) and sink.stats().pending == 0
    finally:
        sink.close()
        sub.close()
        _clear_retained(SHARED_PORT, retained)


SINK_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from storelens.config.outputs import MqttConfig
    from storelens.sinks.mqtt import MqttSink
    cfg = MqttConfig(enabled=True, host="127.0.0.1", port=int(sys.argv[1]), topic_prefix=sys.argv[2], keepalive_s=5)
    sink = MqttSink(cfg, store_id="s1", cameras=["cam1"], spool_dir=sys.argv[3])
    print("started", flush=True)
    time.sleep(120)
    """
)


def test_last_will_marks_a_crashed_node_offline(tmp_path: Path) -> None:
    prefix = f"sltest-{uuid.uuid4().hex[:8]}"
    status = f"{prefix}/s1/status"
    sub = Subscriber(SHARED_PORT, [status])
    proc = subprocess.Popen([sys.executable, "-c", SINK_SCRIPT, str(SHARED_PORT), prefix, str(tmp_path / "sp")])
    try:
        wait_until(lambda: sub.on(status)[-1:] == ["online"], 30, "the node's online status")
        proc.kill()  # no clean disconnect: the broker must publish the will after the keepalive
        proc.wait(10)
        wait_until(lambda: sub.on(status)[-1:] == ["offline"], 20, "the last will")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        sub.close()
        _clear_retained(SHARED_PORT, [status, f"{prefix}/s1/cam1/status"])


def test_broker_outage_messages_wait_in_the_outbox(private_broker: PrivateBroker, tmp_path: Path) -> None:
    prefix = "outage"
    sub = Subscriber(private_broker.port, [f"{prefix}/#"], persistent=True)
    sink = MqttSink(_cfg(private_broker.port, prefix), store_id="s1", spool_dir=tmp_path / "spool")
    try:
        events = _events(60)
        sink.write(events[:20])
        assert sink.wait_delivered(20)
        private_broker.stop()
        wait_until(lambda: not sink.stats().connected, 10, "the sink to notice the outage")
        sink.write(events[20:])
        time.sleep(0.5)
        assert sink.stats().pending + sink.stats().inflight > 0  # waiting, not lost
        private_broker.start()
        assert sink.wait_delivered(30)
        wait_until(lambda: set(sub.event_ids(prefix)) >= {e.id for e in events}, 30, "every event after recovery")
        assert sink.stats().connects >= 2 and sink.stats().dropped == 0
    finally:
        sink.close()
        sub.close()


def test_outbox_spooled_at_close_is_sent_by_the_next_sink(private_broker: PrivateBroker, tmp_path: Path) -> None:
    prefix = "restart"
    sub = Subscriber(private_broker.port, [f"{prefix}/#"], persistent=True)
    private_broker.stop()
    events = _events(40)
    first = MqttSink(_cfg(private_broker.port, prefix), store_id="s1", spool_dir=tmp_path / "spool")
    first.write(events)
    first.close(timeout_s=1)
    assert len(first.outbox) == 40 and first.outbox.path.is_file()  # in the journal, on disk
    private_broker.start()
    second = MqttSink(_cfg(private_broker.port, prefix), store_id="s1", spool_dir=tmp_path / "spool")
    try:
        assert second.wait_delivered(30)
        wait_until(lambda: set(sub.event_ids(prefix)) >= {e.id for e in events}, 30, "the spooled events")
        assert len(second.outbox) == 0
    finally:
        second.close()
        sub.close()
