"""JSON encoding shared by the database, the spools and the JSONL sink.

Analytics payloads are built from numpy arrays, so numpy scalars and arrays must encode as plain
numbers and lists; anything without an obvious JSON form raises, so a bad payload is rejected with
a clear error instead of being stored as a useless ``repr``. NaN/inf are rejected too: they are
not JSON, and PostgreSQL's JSONB refuses them.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from storelens.events.models import Event


def json_default(value: Any) -> Any:
    """JSON for what analytics payloads commonly hold besides plain types (numpy scalars/arrays,
    datetimes, sets); anything else is an error, so a bad payload is rejected rather than mangled."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist") and callable(value.tolist):
        return value.tolist()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def json_dumps(value: Any) -> str:
    return json.dumps(value, default=json_default, separators=(",", ":"), allow_nan=False)


def event_json(event: Event) -> str:
    """The event's wire form (same as ``Event.model_dump_json``: ``ts`` in ISO 8601 with ``Z``).

    pydantic's encoder is tried first (fast); a payload holding numpy values falls back to
    :func:`json_dumps`, which converts them, so every sink emits identical JSON for one event.
    """
    try:
        return event.model_dump_json()
    except ValueError:  # PydanticSerializationError: numpy scalars/arrays in the payload
        data = event.model_dump()
        data["ts"] = event.ts.isoformat().replace("+00:00", "Z")
        return json_dumps(data)
