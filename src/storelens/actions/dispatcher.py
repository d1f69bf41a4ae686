"""Actions end to end: route events to promotions, alerts and inventory, then deliver the results.

:class:`ActionEngine` is what the pipeline (and the simulator) calls once per analysed frame with
that frame's events, including the intent engine's. It returns the action events
(``promotion.triggered``, ``alert.*``, ``inventory.alert``) to publish on the bus, where the
database sink stores them like any other event, and hands each one to an :class:`ActionDispatcher`
that sends it to its endpoint (log, webhook, MQTT) unless the store runs in dry-run mode.

Delivery never blocks or breaks the frame loop: endpoints queue and send from their own thread,
and a failing endpoint is logged and counted, not raised.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from storelens.actions.alerts import AlertManager
from storelens.actions.inventory import InventoryMonitor
from storelens.actions.promotions import PromotionManager, is_held_out
from storelens.config.actions import ActionsConfig
from storelens.config.behaviour import QueueConfig
from storelens.config.cameras import ZoneConfig
from storelens.config.store import StoreConfig
from storelens.events.models import Event, EventType
from storelens.events.payloads import AlertPayload, InventoryAlert, PromotionTriggered, typed
from storelens.intent.signals import zone_catalogue

log = logging.getLogger(__name__)

__all__ = [
    "ActionDispatcher",
    "ActionEngine",
    "CallbackEndpoint",
    "Endpoint",
    "LogEndpoint",
    "WebhookEndpoint",
]


@runtime_checkable
class Endpoint(Protocol):
    """Where action events go. ``send`` must return quickly (queue and send in the background)."""

    kind: str

    def send(self, event: Event, target: str | None) -> None: ...

    def close(self) -> None: ...


class LogEndpoint:
    """Writes each action to the log: the default, and enough for a pilot without signage."""

    kind = "log"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or logging.getLogger("storelens.actions")

    def send(self, event: Event, target: str | None) -> None:
        self.log.info("action %s %s", event.type, json.dumps(event.payload, default=str, sort_keys=True))

    def close(self) -> None:
        return None


class CallbackEndpoint:
    """Calls a function: how the service wires MQTT (its MQTT client publishes to ``target``) or
    WebSocket pushes without this package importing them."""

    def __init__(self, kind: str, fn: Callable[[Event, str | None], None]) -> None:
        self.kind = kind
        self.fn = fn

    def send(self, event: Event, target: str | None) -> None:
        self.fn(event, target)

    def close(self) -> None:
        return None


class WebhookEndpoint:
    """POSTs the event as JSON to the rule's URL from a background thread, with a bounded queue
    (drops and counts when full, rather than growing without limit while a display is offline) and
    a few retries with backoff."""

    kind = "webhook"

    def __init__(self, timeout_s: float = 3.0, retries: int = 2, max_queue: int = 1000) -> None:
        self.timeout_s = timeout_s
        self.retries = retries
        self._q: queue.Queue[tuple[Event, str] | None] = queue.Queue(maxsize=max_queue)
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="storelens-webhook", daemon=True)
        self._thread.start()

    def send(self, event: Event, target: str | None) -> None:
        if not target:
            self.failed += 1
            log.warning("webhook action %s has no target URL", event.type)
            return
        try:
            self._q.put_nowait((event, target))
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            event, url = item
            body = json.dumps(event.to_json_dict()).encode("utf-8")
            for attempt in range(self.retries + 1):
                req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                        if 200 <= resp.status < 300:
                            self.sent += 1
                            break
                except (urllib.error.URLError, OSError, ValueError) as exc:
                    if attempt == self.retries:
                        self.failed += 1
                        log.warning("webhook %s failed for %s: %s", url, event.type, exc)
                    else:
                        time.sleep(0.2 * 2**attempt)
            self._q.task_done()

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until the queue is drained (tests, shutdown)."""
        end = time.monotonic() + timeout_s
        while self._q.unfinished_tasks and time.monotonic() < end:
            time.sleep(0.01)
        return self._q.unfinished_tasks == 0

    def close(self) -> None:
        self.flush()
        self._q.put(None)
        self._thread.join(timeout=2.0)


_ROUTED = (AlertPayload, InventoryAlert, PromotionTriggered)
"""The payloads that name their endpoint (``endpoint``, ``target``): what action events carry."""


class ActionDispatcher:
    """Sends action events to the endpoint their payload names (``endpoint``, ``target``).
    In dry-run mode nothing is sent: each action is logged and counted as ``dry_run``."""

    def __init__(self, endpoints: Iterable[Endpoint] = (), dry_run: bool = False) -> None:
        self.endpoints: dict[str, Endpoint] = {"log": LogEndpoint()}
        for ep in endpoints:
            self.endpoints[ep.kind] = ep
        self.dry_run = dry_run
        self.counts = {"sent": 0, "dry_run": 0, "failed": 0, "no_endpoint": 0}

    def deliver(self, event: Event) -> bool:
        p = event.typed_payload()
        endpoint, target = (p.endpoint, p.target) if isinstance(p, _ROUTED) else (None, None)
        kind = endpoint or "log"
        if self.dry_run:
            self.counts["dry_run"] += 1
            log.info("dry run: would send %s to %s %s", event.type, kind, target or "")
            return False
        ep = self.endpoints.get(kind)
        if ep is None:
            self.counts["no_endpoint"] += 1
            log.warning("no %r endpoint configured for %s (rule target %s)", kind, event.type, target)
            return False
        try:
            ep.send(event, target)
        except Exception:  # a broken endpoint must not stop analytics
            self.counts["failed"] += 1
            log.exception("endpoint %s failed on %s", kind, event.type)
            return False
        self.counts["sent"] += 1
        return True

    def close(self) -> None:
        for ep in self.endpoints.values():
            ep.close()


_ACTION_TYPES = (
    EventType.PROMOTION_TRIGGERED,
    EventType.ALERT_RAISED,
    EventType.ALERT_ACKNOWLEDGED,
    EventType.ALERT_ESCALATED,
    EventType.ALERT_CLOSED,
    EventType.INVENTORY_ALERT,
)


class ActionEngine:
    """Promotions + staff alerts + inventory alerts behind one per-frame call."""

    def __init__(
        self,
        store_id: str,
        config: ActionsConfig | None = None,
        *,
        timezone: str = "UTC",
        zones: Sequence[ZoneConfig] = (),
        dispatcher: ActionDispatcher | None = None,
        clock: Callable[[], float] | None = None,
        queues: Sequence[QueueConfig] = (),
    ) -> None:
        self.store_id = store_id
        # queues with a service-level target: their queue.updated may raise "open a register"
        self.queue_slas = {q.queue_zone: q for q in queues if q.sla_wait_s is not None}
        self.config = config or ActionsConfig()
        try:
            tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown store timezone {timezone!r} (use an IANA name like 'Europe/Berlin')") from None
        dry = self.config.dry_run
        catalogue = zone_catalogue(zones)
        self.dispatcher = dispatcher or ActionDispatcher(dry_run=dry)
        self.dispatcher.dry_run = self.dispatcher.dry_run or dry
        self.promotions = PromotionManager(store_id, self.config.promotions, tz, dry)
        self.alerts = AlertManager(
            store_id,
            self.config.alerts,
            zone_kinds={k: v.kind for k, v in catalogue.items()},
            clock=clock,
            dry_run=dry,
        )
        self.inventory = InventoryMonitor(store_id, self.config.inventory, catalogue, dry)
        self._lock = threading.Lock()

    @classmethod
    def from_store(
        cls, store: StoreConfig, dispatcher: ActionDispatcher | None = None, clock: Callable[[], float] | None = None
    ) -> ActionEngine:
        return cls(
            store.store_id,
            store.actions,
            timezone=store.timezone,
            zones=store.zones,
            dispatcher=dispatcher,
            clock=clock,
            queues=store.behaviour.queues,
        )

    def process(self, now: float, events: Iterable[Event] = ()) -> list[Event]:
        """Consume one frame's events (pipeline + intent), advance timers to ``now``, deliver and
        return the new action events."""
        if not self.config.enabled:
            return []
        out: list[Event] = []
        with self._lock:
            for ev in events:
                t = ev.type
                if t == EventType.INTENT_CHANGED:
                    self.promotions.on_intent(ev)
                    out.extend(self.alerts.on_intent(ev))
                elif t in (EventType.INTENT_ENDED, EventType.VISIT_ENDED) and ev.subject is not None:
                    self.promotions.on_ended(ev.subject)
                    out.extend(self.alerts.on_ended(ev.subject, ev.ts.timestamp()))
                elif t == EventType.QUEUE_UPDATED and ev.zone_id in self.queue_slas:
                    out.extend(self.alerts.on_queue(ev, self.queue_slas[ev.zone_id]))
                elif (inv := typed(ev, InventoryAlert)) is not None:
                    if inv.source != "actions" and self.inventory.should_deliver(ev):
                        self.dispatcher.deliver(ev)
                else:
                    out.extend(self.inventory.on_event(ev))
            out.extend(self.promotions.tick(now))
            out.extend(self.alerts.tick(now))
            for ev in out:
                if not is_held_out(ev):  # the hold-out arm of an experiment is recorded, not shown
                    self.dispatcher.deliver(ev)
        return out

    def acknowledge(self, alert_id: str, by: str, now: float | None = None) -> Event:
        """Acknowledge an alert (API); the returned ``alert.acknowledged`` is also delivered."""
        with self._lock:
            ev = self.alerts.acknowledge(alert_id, by, now)
            self.dispatcher.deliver(ev)
        return ev

    @staticmethod
    def is_action(event: Event) -> bool:
        return event.type in _ACTION_TYPES


def summarise(events: Iterable[Event]) -> Mapping[str, int]:
    """Counts of action events by type (CLI summaries)."""
    counts: dict[str, int] = {}
    for e in events:
        if e.type in _ACTION_TYPES:
            counts[e.type] = counts.get(e.type, 0) + 1
    return counts
