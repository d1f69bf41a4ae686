"""Aggregate-only mode: no per-visit record leaves the edge, only what aggregates are made of.

With ``privacy.aggregate_only: true`` every event passes through :func:`anonymise_event` before
any sink (database, MQTT, NATS, webhooks, WebSocket) sees it:

* the ``subject`` (the random visit id that links one shopper's events into a visit) is removed,
  so no visit can be reassembled from what is stored or sent;
* event types whose payload model is marked ``PER_VISIT_TYPE`` (intent, expressions, attention:
  they only describe one shopper's sequence) are dropped entirely, and so are unknown types of
  those families;
* of the payload, only the fields its model (:mod:`storelens.events.payloads`) marks ``aggregate``
  are kept. The list is derived from those marks and fails closed: a field nobody marked, a key
  the model does not declare (an older or newer producer's) and everything of an unknown event
  type is withheld. Inside a kept dict (``evidence``), keys that name per-visit data anywhere
  (:data:`NESTED_PER_VISIT_KEYS`) are removed at any depth.

What remains still feeds every aggregate (zone entries/exits with dwell, visit counts, occupancy,
queues, line counts): ``storage.aggregates.compute_deltas`` never reads the subject. The API's
per-visit routes (events, visits, exports, live stream) answer 404 in this mode (see
``security.rbac.ROUTE_RULES``, ``per_visit``).

It lives with the payload models because it is derived from nothing else, and so every sink (a
layer below the frame-path ``privacy`` package) can apply it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from storelens.events.models import Event
from storelens.events.payloads import PAYLOADS, aggregate_fields, per_visit_field_names

DROPPED_TYPE_PREFIXES: tuple[str, ...] = tuple(
    sorted({t.split(".", 1)[0] + "." for t, m in PAYLOADS.items() if m.PER_VISIT_TYPE})
)
"""Event type families that exist only to describe one shopper over time (from the models' marks)."""

NESTED_PER_VISIT_KEYS = per_visit_field_names() | frozenset(
    {
        # names of per-visit shapes that no payload model declares at top level but that nested
        # dicts (evidence, measured figures) of older or third-party producers may carry
        "subject",
        "visit_id",
        "track_id",
        "track_ids",
        "visit",
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
    }
)
"""Keys removed from nested dicts of kept fields, at any depth."""


def _strip_nested(payload: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in payload.items():
        if k in NESTED_PER_VISIT_KEYS:
            continue
        out[k] = _strip_nested(v) if isinstance(v, Mapping) else v
    return out


def aggregate_payload(event_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``payload`` that may leave the edge in aggregate-only mode."""
    keep = aggregate_fields(event_type)
    return {k: (_strip_nested(v) if isinstance(v, Mapping) else v) for k, v in payload.items() if k in keep}


def anonymise_event(event: Event) -> Event | None:
    """The aggregate-only form of ``event``, or None when nothing of it may leave the edge."""
    model = PAYLOADS.get(event.type)
    if (model is not None and model.PER_VISIT_TYPE) or event.type.startswith(DROPPED_TYPE_PREFIXES):
        return None
    return event.model_copy(update={"subject": None, "payload": aggregate_payload(event.type, event.payload)})


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
