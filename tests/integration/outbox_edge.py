"""An edge process for the outbox fault tests: a real NatsSink (or MqttSink) driven by commands on stdin.

    python tests/integration/outbox_edge.py SERVER STREAM PREFIX SPOOL_DIR PRODUCED_FILE [--fsize BYTES]

SERVER ``nats://host:port`` publishes to that JetStream stream; ``mqtt://host:port`` to that MQTT
broker under topic prefix PREFIX (STREAM is then unused).

Commands (one per line), each answered by one line on stdout:

* ``write K``: K events, one ``write`` call each (as the pipeline does); the id of every event whose
  ``write`` returned with the event journaled is appended to PRODUCED_FILE (``O_APPEND``, so it
  survives a kill of this process), those the outbox dropped to PRODUCED_FILE + ``.dropped``;
* ``wait S``: wait up to S seconds until JetStream acknowledged everything; answers ``delivered 1|0``;
* ``close``: close the sink and print its stats as JSON, then exit 0.

The process has no signal handlers, like ``storelens run`` before it handled SIGTERM: SIGTERM and
SIGKILL end it at once, with no ``close``. ``--fsize`` sets RLIMIT_FSIZE (Python ignores SIGXFSZ,
so a write past the limit fails with EFBIG, as on a full disk).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import resource
import sys
from datetime import UTC, datetime

from storelens.config.outputs import MqttConfig, NatsConfig
from storelens.events.models import Event
from storelens.sinks.mqtt import MqttSink
from storelens.sinks.nats import NatsSink


def main(argv: list[str]) -> int:
    server, stream, prefix, spool, produced = argv[:5]
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("nats").setLevel(logging.CRITICAL)  # nats-py's own reconnect noise
    if "--fsize" in argv:
        limit = int(argv[argv.index("--fsize") + 1])
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    sink: NatsSink | MqttSink
    if server.startswith("mqtt://"):
        host, port = server.removeprefix("mqtt://").rsplit(":", 1)
        mcfg = MqttConfig(enabled=True, host=host, port=int(port), topic_prefix=prefix, reconnect_max_s=1.0)
        sink = MqttSink(mcfg, store_id="s1", spool_dir=spool)
    else:
        cfg = NatsConfig(
            enabled=True,
            servers=[server],
            stream=stream,
            subject_prefix=prefix,
            duplicate_window_s=600,
            max_age_s=3600,
            ack_timeout_s=2,
        )
        sink = NatsSink(cfg, spool_dir=spool, retry_initial_s=0.1, retry_max_s=0.5)
    ok = os.open(produced, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    bad = os.open(produced + ".dropped", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    t0 = datetime(2025, 3, 1, tzinfo=UTC).timestamp()
    n = 0
    print("ready", flush=True)
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "write":
            for _ in range(int(args[0])):
                e = Event.at("zone.entered", "s1", t0 + n, camera_id="cam1", zone_id="z1", subject=n)
                before = sink.outbox.dropped
                sink.write([e])
                os.write(bad if sink.outbox.dropped > before else ok, (e.id + "\n").encode())
                n += 1
            print(f"wrote {args[0]}", flush=True)
        elif cmd == "wait":
            print(f"delivered {int(sink.wait_delivered(float(args[0])))}", flush=True)
        elif cmd == "close":
            sink.close(timeout_s=0.0)
            print(json.dumps(dataclasses.asdict(sink.stats())), flush=True)
            return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
