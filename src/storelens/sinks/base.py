"""The EventSink protocol: where events go (database, JSONL, MQTT, NATS, webhooks, WebSocket)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from storelens.events.models import Event


@runtime_checkable
class EventSink(Protocol):
    name: str

    def write(self, events: Sequence[Event]) -> None:
        """Accept a batch. Must not block the frame loop for long: slow sinks buffer internally."""
        ...

    def flush(self) -> None: ...

    def close(self) -> None: ...
