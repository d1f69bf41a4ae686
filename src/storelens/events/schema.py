"""The published, versioned JSON schema of every event storelens emits.

Why: integrators receive events over MQTT, NATS, webhooks and the API and need a contract they
can validate against, not docstrings. The schema is generated from the payload models
(:mod:`storelens.events.payloads`): one envelope per event type, a union discriminated on
``type``. ``docs/events.schema.json`` is this output, committed (a test keeps them equal);
``storelens schema events`` prints it.

Versioning: ``schema_version`` goes up by one whenever a change could make a previously valid
consumer wrong: a field renamed, removed or retyped, a per-visit mark changed, an event type
removed. Adding an optional field or a new event type also bumps it, so a consumer can tell which
list of types it was written against. Payloads allow extra keys (older and newer producers), so
validation checks the fields it knows and lets unknown ones through.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, create_model

from storelens.events.models import Event
from storelens.events.payloads import PAYLOADS, EventPayload

EVENT_SCHEMA_VERSION = 1
"""Version of the event contract (see the module docstring for when it changes)."""


def _envelope(type_: str, model: type[EventPayload]) -> type[Event]:
    name = model.__name__ + "Event"
    tag: Any = Literal[type_]
    envelope: type[Event] = create_model(
        name,
        __base__=Event,
        __doc__=(model.__doc__ or f"A {type_} event.").strip(),
        type=(tag, Field(description="Event type (the union's tag)")),
        payload=(model, Field(default_factory=model)),
    )
    return envelope


@cache
def event_adapter() -> TypeAdapter[Any]:
    """Validates a wire event (a dict as JSON carries it) against the union of known types."""
    envelopes = tuple(_envelope(t, m) for t, m in sorted(PAYLOADS.items()))
    union: Any = envelopes[0]
    for e in envelopes[1:]:
        union = union | e
    tagged: Any = Annotated[union, Field(discriminator="type")]
    return TypeAdapter(tagged)


def event_schema() -> dict[str, Any]:
    """The JSON schema document (draft 2020-12) of one storelens event."""
    body = event_adapter().json_schema(ref_template="#/$defs/{model}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "storelens event",
        "description": (
            "One event as storelens sends it (MQTT, NATS, webhooks, API, JSONL). Payload fields carry "
            "'per_visit': true when they describe one visit (withheld in aggregate-only mode; a field "
            "without a mark counts as per-visit)."
        ),
        "schema_version": EVENT_SCHEMA_VERSION,
        **body,
    }


def event_schema_json() -> str:
    """The schema as committed in docs/events.schema.json (stable formatting, trailing newline)."""
    return json.dumps(event_schema(), indent=2, ensure_ascii=False) + "\n"
