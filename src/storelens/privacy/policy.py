"""Aggregate-only mode: no per-visit record leaves the edge, only what aggregates are made of.

With ``privacy.aggregate_only: true`` every event passes through :func:`anonymise_event` before
any sink (database, MQTT, NATS, webhooks, WebSocket) sees it:

* the ``subject`` (the random visit id that links one shopper's events into a visit) is removed,
  so no visit can be reassembled from what is stored or sent;
* event types that only describe one shopper's sequence (intent, expressions, attention) are
  dropped entirely;
* payload fields that describe one shopper (paths, positions, boxes, intent timelines, track ids)
  are removed.

What remains still feeds every aggregate (zone entries/exits with dwell, visit counts, occupancy,
queues, line counts): ``storage.aggregates.compute_deltas`` never reads the subject. The API's
per-visit routes (events, visits, exports, live stream) answer 404 in this mode (see
``security.rbac.ROUTE_RULES``, ``per_visit``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from storelens.events.models import Event

DROPPED_TYPE_PREFIXES: tuple[str, ...] = ("intent.", "expression.", "attention.")
"""Event types that exist only to describe one shopper over time."""

PER_VISIT_KEYS = frozenset(
    {
        "subject",
        "visit_id",
        "track_id",
        "track_ids",
        "visit",
        "path",
        "intent_timeline",
        "dwell_by_zone",
        "reasons",
        "features",
        "expression",
        "expressions",
        "emotion",
        "bbox",
        "box",
        "xyxy",
        "keypoints",
        "floor_xy",
        "position",
        "positions",
        "points",
        "fragments",
        "confidence",
    }
)
"""Payload keys removed (at any depth) in aggregate-only mode."""


def _strip(payload: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in payload.items():
        if k in PER_VISIT_KEYS:
            continue
        out[k] = _strip(v) if isinstance(v, Mapping) else v
    return out


def anonymise_event(event: Event) -> Event | None:
    """The aggregate-only form of ``event``, or None when nothing of it may leave the edge."""
    if event.type.startswith(DROPPED_TYPE_PREFIXES):
        return None
    return event.model_copy(update={"subject": None, "payload": _strip(event.payload)})


def anonymise_events(events: Iterable[Event]) -> list[Event]:
    return [a for a in (anonymise_event(e) for e in events) if a is not None]


def aggregate_only_handler(handler: Callable[[Event], None]) -> Callable[[Event], None]:
    """Wrap an event-bus handler (a sink's write) so it only ever sees anonymised events."""

    def wrapped(event: Event) -> None:
        out = anonymise_event(event)
        if out is not None:
            handler(out)

    wrapped.__name__ = f"aggregate_only_{getattr(handler, '__name__', 'handler')}"
    return wrapped
