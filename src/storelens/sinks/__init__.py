"""Event sinks: where events go (database, JSONL, MQTT, NATS JetStream, webhooks).

Every sink follows :class:`storelens.sinks.base.EventSink` (``name``, ``write``, ``flush``,
``close``); ``write`` never blocks on the destination. Import the concrete sinks from their modules
(``storelens.sinks.mqtt`` etc.): the broker clients are optional dependencies (the ``service``
extra), so this package does not import them eagerly.
"""

from storelens.sinks.base import EventSink

__all__ = ["EventSink"]
