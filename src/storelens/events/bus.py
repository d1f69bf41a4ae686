"""In-process event bus: analytics publish, sinks subscribe.

Synchronous on purpose: handlers are expected to be cheap (append to a buffer); anything slow
(database, broker, webhook) is a sink that buffers and flushes in batches from its own thread, so a
slow consumer never blocks the frame loop. Publishing is serialised by a lock because events come
from several threads (camera loops, live sources' reader threads reporting camera.offline while no
frame is flowing), and handlers may then assume they are never called concurrently.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from storelens.core.errors import DiskFullError
from storelens.events.models import Event

log = logging.getLogger(__name__)

Handler = Callable[[Event], None]


@dataclass(slots=True)
class _Subscription:
    handler: Handler
    prefixes: tuple[str, ...] | None


class EventBus:
    """Fan events out to subscribers filtered by type prefix ("zone." matches "zone.exited")."""

    def __init__(self) -> None:
        self._subs: list[_Subscription] = []
        self._lock = threading.RLock()
        self.published = 0
        self.handler_errors = 0

    def subscribe(self, handler: Handler, types: Iterable[str] | None = None) -> None:
        with self._lock:
            self._subs.append(_Subscription(handler, tuple(types) if types is not None else None))

    def publish(self, event: Event) -> None:
        with self._lock:
            self._publish(event)

    def _publish(self, event: Event) -> None:
        self.published += 1
        for sub in self._subs:
            if sub.prefixes is not None and not event.type.startswith(sub.prefixes):
                continue
            try:
                sub.handler(event)
            except DiskFullError:  # not one broken sink: nothing more can be recorded, the run ends
                raise
            except Exception:  # one broken sink must not stop analytics or other sinks
                self.handler_errors += 1
                log.exception("event handler %r failed on %s", sub.handler, event.type)

    def publish_all(self, events: Iterable[Event]) -> None:
        with self._lock:
            for e in events:
                self._publish(e)
