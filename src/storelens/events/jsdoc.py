"""The event contract as JSDoc typedefs, for the dashboard's plain ES modules (issue 15).

Why: the dashboard (``service/dashboard/static``, no build step) reads events from the live stream
and ``/api/v1/events``. Reading them by bare string keys and type literals meant a renamed type or
field broke the page silently. This module writes ``static/events.js`` from the same JSON schema
docs/events.schema.json publishes (:func:`storelens.events.schema.event_schema`), so the
dashboard's types cannot drift from what integrators validate against: one ``@typedef`` per
payload model and per event, and ``EVENT_TYPES``, the frozen list of type strings through which
the page names types. A test keeps the committed file equal to this output.

Wire facts the types encode (not visible in the schema, which describes what a consumer may
*accept*): every envelope key is always present on the wire (``Event.to_json_dict`` dumps all
of them, ``null`` when unset); a payload key is present only when its producer set it
(:meth:`~storelens.events.payloads.EventPayload.wire`), so every payload property is optional.
Each payload property says whether it is per-visit (withheld in aggregate-only mode; a field
without a mark counts as per-visit, as everywhere else).
"""

from __future__ import annotations

import json
import re
from typing import Any

from storelens.events.models import EventType
from storelens.events.payloads import PAYLOADS, PER_VISIT_MARK
from storelens.events.schema import EVENT_SCHEMA_VERSION, event_schema

JS_COMMAND = "storelens schema events -o docs/events.schema.json --js src/storelens/service/dashboard/static/events.js"
"""The one command that regenerates both published files (named in the generated header)."""

ENVELOPE = "EventEnvelope"
UNION = "StoreEvent"


def _text(s: str | None) -> str:
    """One line of comment text: whitespace collapsed, nothing that could close the comment."""
    return re.sub(r"\s+", " ", (s or "").strip()).replace("*/", "*\\/")


def _ref_name(ref: str) -> str:
    name = ref.rsplit("/", 1)[-1]
    return name if name.endswith("Event") else name + "Payload"


def js_type(node: dict[str, Any]) -> str:
    """The JSDoc type of a JSON schema node (the subset pydantic writes for the payload models)."""
    if "$ref" in node:
        return _ref_name(node["$ref"])
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return "(" + "|".join(json.dumps(v) for v in node["enum"]) + ")"
    for key in ("anyOf", "oneOf"):
        if key in node:
            parts = list(dict.fromkeys(js_type(n) for n in node[key]))
            return parts[0] if len(parts) == 1 else "(" + "|".join(parts) + ")"
    kind = node.get("type")
    if isinstance(kind, list):
        return "(" + "|".join(js_type({**node, "type": k}) for k in kind) + ")"
    if kind == "string":
        return "string"
    if kind in ("number", "integer"):
        return "number"
    if kind == "boolean":
        return "boolean"
    if kind == "null":
        return "null"
    if kind == "array":
        items = node.get("items")
        return f"Array<{js_type(items) if items else '*'}>"
    if kind == "object":
        values = node.get("additionalProperties")
        inner = js_type(values) if isinstance(values, dict) and values else "*"
        return f"Object<string, {inner}>"
    return "*"


def _payload_typedef(type_: str, name: str, schema: dict[str, Any]) -> list[str]:
    model = PAYLOADS[type_]
    lines = ["/**"]
    doc = _text(schema.get("description"))
    lines.append(f" * Payload of `{type_}`." + (f" {doc}" if doc else ""))
    if model.PER_VISIT_TYPE:
        lines.append(" * Per-visit type: dropped whole in aggregate-only mode.")
    lines.append(" * Keys are present only when the producer set them; unknown extra keys may appear.")
    lines.append(f" * @typedef {{Object}} {name}Payload")
    for field, prop in schema["properties"].items():
        mark = "aggregate" if prop.get(PER_VISIT_MARK) is False else "per-visit"
        desc = _text(prop.get("description"))
        lines.append(f" * @property {{{js_type(prop)}}} [{field}] ({mark})" + (f" {desc}" if desc else ""))
    lines.append(" */")
    return lines


def _envelope_properties(schema: dict[str, Any], type_: str | None) -> list[str]:
    lines = []
    for field, prop in schema["properties"].items():
        if field == "type":
            kind = json.dumps(type_) if type_ else "string"
            lines.append(f" * @property {{{kind}}} type Dotted event type (see EVENT_TYPES)")
        elif field == "payload":
            body = f"{_ref_name(prop['$ref'])}" if type_ else "Object<string, *>"
            lines.append(f" * @property {{{body}}} payload What the event says (fields per type)")
        else:
            desc = _text(prop.get("description"))
            if field == "ts":
                desc = "When it happened: ISO 8601, UTC"
            lines.append(f" * @property {{{js_type(prop)}}} {field}" + (f" {desc}" if desc else ""))
    return lines


def event_types_js() -> str:
    """The text of ``static/events.js`` (stable, trailing newline)."""
    doc = event_schema()
    defs: dict[str, Any] = doc["$defs"]
    mapping: dict[str, str] = doc["discriminator"]["mapping"]
    envelopes = {t: ref.rsplit("/", 1)[-1] for t, ref in mapping.items()}
    first = defs[envelopes[str(next(iter(EventType)))]]

    out = [
        "// SPDX-License-Identifier: AGPL-3.0-or-later",
        "// GENERATED FILE: do not edit. Regenerate with",
        f"//   {JS_COMMAND}",
        "// from the payload models (src/storelens/events/payloads.py, storelens.events.jsdoc);",
        f"// event schema version {EVENT_SCHEMA_VERSION}. A test fails when this file is stale.",
        "//",
        "// The events the dashboard reads from /api/v1/stream and /api/v1/events, as JSDoc types, and",
        "// EVENT_TYPES: the dashboard names event types only through it.",
        "",
        "/** Every event type string, by its EventType member name (frozen). */",
        "export const EVENT_TYPES = Object.freeze({",
        *(f"  {t.name}: {json.dumps(t.value)}," for t in EventType),
        "});",
        "",
        "/**",
        " * Any event as the API and the live stream send it, of any type (one this page does not know",
        " * included). Every key is present; those without a value are null.",
        f" * @typedef {{Object}} {ENVELOPE}",
        *_envelope_properties(first, None),
        " */",
        "",
    ]
    names = []
    for t in EventType:
        envelope = envelopes[t.value]
        name = envelope.removesuffix("Event")
        names.append(envelope)
        out += _payload_typedef(t.value, name, defs[name])
        out += [
            "",
            "/**",
            f" * A `{t.value}` event (EVENT_TYPES.{t.name}).",
            f" * @typedef {{Object}} {envelope}",
            *_envelope_properties(defs[envelope], t.value),
            " */",
            "",
        ]
    out += [
        "/**",
        " * An event of a type this version knows (narrow on `type`).",
        f" * @typedef {{{'|'.join(names)}}} {UNION}",
        " */",
    ]
    return "\n".join(out) + "\n"
