"""MQTT sink (paho-mqtt 2, MQTT v5): events as JSON on a topic tree, with status and HA discovery.

Topics (``<prefix>`` defaults to ``storelens``):

* events: ``<prefix>/<store>/<zone or camera>/<type with dots as slashes>``, e.g.
  ``storelens/s1/entrance/zone/entered``, QoS 1 by default, payload = the event's JSON;
* store status: ``<prefix>/<store>/status``, retained ``online``/``offline``; it is also the
  connection's *last will*, so a crashed or unplugged node reads ``offline`` within the keepalive;
* camera status: ``<prefix>/<store>/<camera>/status``, retained ``online``/``offline``, following
  ``camera.online``/``camera.offline`` events; set ``offline`` on a clean shutdown. MQTT allows one
  will per connection, so after a crash these keep their last value: consumers (and the Home
  Assistant entities published here) treat the store status as the master switch;
* Home Assistant discovery (optional): retained sensor configs under
  ``<ha_prefix>/sensor/<unique_id>/config`` for each zone's occupancy and each queue/checkout
  zone's queue length, plus each camera's line-count occupancy.

Delivery: ``write`` only queues (JSON encoding included); a publisher thread hands messages to paho
while connected, at most ``max_inflight`` unacknowledged. paho's network thread reconnects with
exponential backoff and re-sends unacknowledged QoS 1/2 messages. Every message is first committed to
a durable, bounded :class:`~storelens.sinks.outbox.MessageOutbox` (a SQLite journal, fsync'd before
``write`` returns) and its row is deleted once the broker acknowledged it (PUBACK/PUBCOMP; for QoS 0,
once paho sent it), so a process killed during an outage re-sends what was not acknowledged on its
next start. Delivery is at least once: subscribers de-duplicate by the event ``id`` (also sent as
MQTT v5 user property ``event_id``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import ssl
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from storelens.config.cameras import ZoneConfig, ZoneKind
from storelens.config.outputs import MqttConfig
from storelens.events.models import Event, EventType
from storelens.sinks.outbox import MessageOutbox, Record
from storelens.storage.serialize import event_json

log = logging.getLogger(__name__)

_BAD_LEVEL = re.compile(r"[/+#\x00]")


def topic_level(value: str) -> str:
    """A single topic level: MQTT wildcards and separators replaced by '_'."""
    return _BAD_LEVEL.sub("_", value) or "_"


def event_topic(prefix: str, event: Event) -> str:
    """``<prefix>/<store>/<zone|camera|_store>/<type/as/levels>``."""
    where = event.zone_id or event.camera_id or "_store"
    kind = "/".join(topic_level(p) for p in event.type.split("."))
    return f"{prefix}/{topic_level(event.store_id)}/{topic_level(where)}/{kind}"


def default_state_dir(kind: str, key: str) -> Path:
    base = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
    return base / "storelens" / "spool" / f"{kind}-{topic_level(key)}"


@dataclass(frozen=True, slots=True)
class MqttSinkStats:
    connected: bool
    published: int
    delivered: int
    pending: int
    inflight: int
    dropped: int
    connects: int
    disconnects: int
    last_error: str | None


class MqttSink:
    """Publish events to an MQTT v5 broker (see module docstring for topics and guarantees)."""

    name = "mqtt"

    def __init__(
        self,
        config: MqttConfig,
        *,
        store_id: str,
        cameras: Sequence[str] = (),
        zones: Sequence[ZoneConfig] = (),
        spool_dir: str | Path | None = None,
        password: str | None = None,
        max_inflight: int = 200,
        connect: bool = True,
    ) -> None:
        self.config = config
        self.store_id = store_id
        self.prefix = config.topic_prefix.rstrip("/")
        self.zones = list(zones)
        self.max_inflight = max_inflight
        self._types = tuple(config.types)
        self._camera_status: dict[str, str] = dict.fromkeys(cameras, "online")
        client_id = config.client_id or f"storelens-{topic_level(store_id)}-{uuid.uuid4().hex[:8]}"
        spool = Path(spool_dir or config.spool_dir or default_state_dir("mqtt", f"{store_id}-{config.host}"))
        self.outbox = MessageOutbox(spool, name="mqtt", max_total=config.outbox_max)

        self._lock = threading.Condition()
        self._inflight: dict[int, Record] = {}
        # acks that arrived before publish() returned (or for status/discovery messages): mid -> time
        self._early_acks: dict[int, float] = {}
        self._connected = False
        self._closing = False
        self._published = 0
        self._delivered = 0
        self._connects = 0
        self._disconnects = 0
        self._last_error: str | None = None

        c = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=True,
        )
        c.max_inflight_messages_set(max_inflight)
        c.reconnect_delay_set(
            min_delay=max(1, round(config.reconnect_min_s)), max_delay=max(1, round(config.reconnect_max_s))
        )
        c.will_set(self.status_topic(), "offline", qos=1, retain=True)
        if config.username is not None:
            secret = password
            if secret is None and config.password_env:
                secret = os.environ.get(config.password_env)
                if secret is None:
                    raise ValueError(f"mqtt.password_env: environment variable {config.password_env} is not set")
            c.username_pw_set(config.username, secret)
        if config.tls.enabled:
            c.tls_set(
                ca_certs=config.tls.ca_file,
                certfile=config.tls.cert_file,
                keyfile=config.tls.key_file,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
            c.tls_insecure_set(config.tls.insecure)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        self._client = c
        self._publisher = threading.Thread(target=self._publish_loop, name="storelens-mqtt-pub", daemon=True)
        if connect:
            self.start()

    # ------------------------------------------------------------------------------- topics
    def status_topic(self, camera_id: str | None = None) -> str:
        if camera_id is None:
            return f"{self.prefix}/{topic_level(self.store_id)}/status"
        return f"{self.prefix}/{topic_level(self.store_id)}/{topic_level(camera_id)}/status"

    def discovery_messages(self) -> list[tuple[str, str]]:
        """(topic, JSON config) pairs for Home Assistant MQTT discovery."""
        store = topic_level(self.store_id)
        device = {
            "identifiers": [f"storelens_{store}"],
            "name": f"storelens {self.store_id}",
            "manufacturer": "storelens",
        }
        out: list[tuple[str, str]] = []

        def sensor(uid: str, name: str, state_topic: str, template: str, unit: str) -> None:
            cfg = {
                "name": name,
                "unique_id": uid,
                "object_id": uid,
                "state_topic": state_topic,
                "value_template": template,
                "unit_of_measurement": unit,
                "state_class": "measurement",
                "availability_topic": self.status_topic(),
                "payload_available": "online",
                "payload_not_available": "offline",
                "device": device,
            }
            out.append((f"{self.config.ha_discovery_prefix}/sensor/{uid}/config", json.dumps(cfg)))

        for z in self.zones:
            zid = topic_level(z.id)
            sensor(
                f"storelens_{store}_{zid}_occupancy",
                f"{z.label} occupancy",
                f"{self.prefix}/{store}/{zid}/occupancy/changed",
                "{{ value_json.payload.occupancy }}",
                "people",
            )
            if z.kind in (ZoneKind.QUEUE, ZoneKind.CHECKOUT):
                sensor(
                    f"storelens_{store}_{zid}_queue",
                    f"{z.label} queue length",
                    f"{self.prefix}/{store}/{zid}/queue/updated",
                    "{{ value_json.payload.length }}",
                    "people",
                )
        for cam in self._camera_status:
            cid = topic_level(cam)
            sensor(
                f"storelens_{store}_{cid}_occupancy",
                f"{cam} occupancy (lines)",
                f"{self.prefix}/{store}/{cid}/occupancy/changed",
                "{{ value_json.payload.occupancy }}",
                "people",
            )
        return out

    # ----------------------------------------------------------------------------- protocol
    def start(self) -> None:
        self._client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        self._client.loop_start()
        self._publisher.start()

    def write(self, events: Sequence[Event]) -> None:
        records: list[Record] = []
        status_changes: list[tuple[str, str]] = []
        for e in events:
            if e.type in (EventType.CAMERA_ONLINE, EventType.CAMERA_OFFLINE) and e.camera_id:
                state = "online" if e.type == EventType.CAMERA_ONLINE else "offline"
                self._camera_status[e.camera_id] = state
                status_changes.append((e.camera_id, state))
            if self._types and not e.type.startswith(self._types):
                continue
            records.append({"id": e.id, "topic": event_topic(self.prefix, e), "payload": event_json(e)})
        with self._lock:
            if self._closing:
                raise RuntimeError("MqttSink is closed")
            connected = self._connected
        for cam, state in status_changes:
            if connected:
                self._client.publish(self.status_topic(cam), state, qos=1, retain=True)
        self.outbox.put(records)
        with self._lock:
            self._lock.notify_all()

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait (bounded) until everything queued so far is acknowledged by the broker."""
        self.wait_delivered(timeout_s)

    def wait_delivered(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._lock:
            self._lock.notify_all()
            while len(self.outbox) or self._inflight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.1))
        return True

    def close(self, timeout_s: float = 10.0) -> None:
        """Deliver what can be delivered in ``timeout_s``, mark cameras and the store offline,
        disconnect, and spool the rest for the next start."""
        with self._lock:
            if self._closing:
                return
        self.wait_delivered(timeout_s if self._connected else 0)
        with self._lock:
            self._closing = True
            self._lock.notify_all()
        if self._publisher.is_alive():
            self._publisher.join(5)
        if self._connected:
            infos = [
                self._client.publish(self.status_topic(c), "offline", qos=1, retain=True) for c in self._camera_status
            ]
            infos.append(self._client.publish(self.status_topic(), "offline", qos=1, retain=True))
            for info in infos:
                try:
                    info.wait_for_publish(timeout=2)
                except (RuntimeError, ValueError):
                    break
        self._client.disconnect()
        self._client.loop_stop()
        with self._lock:
            leftover = list(self._inflight.values())
            self._inflight.clear()
        left = self.outbox.persist(leftover)
        self.outbox.close()
        if left:
            log.warning("mqtt: %d undelivered message(s) kept in %s for the next start", left, self.outbox.path)
        if self.outbox.dropped:
            log.error("mqtt: %d message(s) dropped by the outbox (see the errors above)", self.outbox.dropped)

    def stats(self) -> MqttSinkStats:
        with self._lock:
            return MqttSinkStats(
                connected=self._connected,
                published=self._published,
                delivered=self._delivered,
                pending=self.outbox.waiting,
                inflight=len(self._inflight),
                dropped=self.outbox.dropped,
                connects=self._connects,
                disconnects=self._disconnects,
                last_error=self._last_error,
            )

    # ---------------------------------------------------------------------------- callbacks
    def _on_connect(self, client: mqtt.Client, _ud: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            with self._lock:
                self._last_error = f"connect refused: {reason}"
            log.warning("mqtt: broker %s:%d refused connection: %s", self.config.host, self.config.port, reason)
            return
        client.publish(self.status_topic(), "online", qos=1, retain=True)
        for cam, state in list(self._camera_status.items()):
            client.publish(self.status_topic(cam), state, qos=1, retain=True)
        if self.config.ha_discovery:
            for topic, payload in self.discovery_messages():
                client.publish(topic, payload, qos=1, retain=True)
        with self._lock:
            self._connected = True
            self._connects += 1
            self._lock.notify_all()
        log.info("mqtt: connected to %s:%d", self.config.host, self.config.port)

    def _on_disconnect(self, _c: mqtt.Client, _ud: Any, _flags: Any, reason: Any, _props: Any) -> None:
        with self._lock:
            was = self._connected
            self._connected = False
            if was:
                self._disconnects += 1
            if not self._closing:
                self._last_error = f"disconnected: {reason}"
        if was and not self._closing:
            log.warning("mqtt: lost connection (%s); reconnecting with backoff", reason)

    def _on_publish(self, _c: mqtt.Client, _ud: Any, mid: int, _reason: Any, _props: Any) -> None:
        with self._lock:
            rec = self._inflight.pop(mid, None)
            if rec is not None:
                self._delivered += 1
                self.outbox.ack([rec])
            else:
                now = time.monotonic()
                self._early_acks[mid] = now
                if len(self._early_acks) > 1000:  # forget stale ones (status messages' mids)
                    self._early_acks = {m: t for m, t in self._early_acks.items() if now - t < 2.0}
            self._lock.notify_all()

    # ---------------------------------------------------------------------------- publisher
    def _publish_loop(self) -> None:
        qos = self.config.qos
        while True:
            with self._lock:
                while not self._closing and (not self._connected or len(self._inflight) >= self.max_inflight):
                    self._lock.wait(0.5)
                if self._closing:
                    return
                room = self.max_inflight - len(self._inflight)
            batch = self.outbox.take(min(room, 100))
            if not batch:
                with self._lock:
                    if not self._closing:
                        self._lock.wait(0.2)
                continue
            for i, rec in enumerate(batch):
                props = Properties(PacketTypes.PUBLISH)
                props.ContentType = "application/json"
                props.UserProperty = [("event_id", str(rec["id"]))]
                try:
                    info = self._client.publish(rec["topic"], rec["payload"], qos=qos, properties=props)
                except (ValueError, RuntimeError) as exc:
                    self.outbox.discard([rec], f"mqtt: cannot publish to {rec.get('topic')!r}: {exc}")
                    continue
                if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
                    self.outbox.requeue(batch[i:])
                    break
                with self._lock:
                    self._published += 1
                    acked_at = self._early_acks.pop(info.mid, None)
                    if acked_at is not None and time.monotonic() - acked_at < 2.0:
                        self._delivered += 1
                        self.outbox.ack([rec])
                    else:
                        self._inflight[info.mid] = rec
            with self._lock:
                self._lock.notify_all()
