"""The dashboard's event types (issue 15): static/events.js is generated from the payload models.

What these pin: the committed events.js is what ``storelens schema events --js`` writes (a stale
file fails here, not in a browser); its ``EVENT_TYPES`` is every ``EventType`` and nothing else;
every event type the dashboard's scripts name (a quoted dotted string, a family prefix such as
"alert.", an ``EVENT_TYPES.NAME`` reference) exists, so renaming a type breaks this test and not
the page; the typedefs carry the wire facts (envelope keys always present, payload keys optional,
per-visit marks).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from storelens.cli.main import app
from storelens.events.jsdoc import JS_COMMAND, event_types_js, js_type
from storelens.events.models import EventType
from storelens.events.schema import event_schema_json

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "src" / "storelens" / "service" / "dashboard" / "static"
EVENTS_JS = STATIC / "events.js"

DOTTED = re.compile(r"""(["'`])([a-z][a-z0-9_]*\.(?:[a-z0-9_.]*))\1""")
"""A quoted dotted lower-case string: how an event type (or a family prefix, "alert.") is spelt."""

REFERENCE = re.compile(r"\bEVENT_TYPES\.([A-Za-z_][A-Za-z0-9_]*)")

NOT_EVENT_TYPES = {
    "li.invalid": "a CSS selector (editor.js)",
}
"""Dotted strings in the dashboard's scripts that are not event types, and what they are."""


def committed_event_types() -> dict[str, str]:
    """``EVENT_TYPES`` as the committed events.js spells it (name -> type string)."""
    text = EVENTS_JS.read_text(encoding="utf-8")
    body = re.search(r"export const EVENT_TYPES = Object\.freeze\(\{\n(.*?)\n\}\);", text, re.S)
    assert body, "events.js has no frozen EVENT_TYPES object"
    pairs = [re.fullmatch(r'  ([A-Z0-9_]+): ("[^"]+"),', line) for line in body.group(1).splitlines()]
    assert all(pairs), body.group(1)
    return {m.group(1): json.loads(m.group(2)) for m in pairs if m}


def unknown_type_names(source: str, types: dict[str, str]) -> list[str]:
    """Event types (or families, or EVENT_TYPES names) that ``source`` names and ``types`` lacks."""
    values = set(types.values())
    families = {v.split(".", 1)[0] for v in values}
    bad = []
    for _, s in DOTTED.findall(source):
        if s in NOT_EVENT_TYPES:
            continue
        known = s[:-1] in families if s.endswith(".") else s in values
        if not known:
            bad.append(s)
    bad += [f"EVENT_TYPES.{name}" for name in REFERENCE.findall(source) if name not in types]
    return bad


def dashboard_scripts() -> list[Path]:
    return sorted(p for p in STATIC.glob("*.js") if p != EVENTS_JS)


def test_committed_events_js_is_what_the_command_writes(tmp_path: Path) -> None:
    schema, js = tmp_path / "events.schema.json", tmp_path / "events.js"
    result = CliRunner().invoke(app, ["schema", "events", "-o", str(schema), "--js", str(js)])
    assert result.exit_code == 0, result.output
    assert schema.read_text(encoding="utf-8") == event_schema_json()
    assert js.read_text(encoding="utf-8") == event_types_js()
    assert EVENTS_JS.read_text(encoding="utf-8") == event_types_js(), (
        f"src/storelens/service/dashboard/static/events.js is stale: run `{JS_COMMAND}`"
    )
    assert JS_COMMAND in event_types_js().splitlines()[2], "the header names the command that regenerates it"


def test_event_types_are_every_event_type() -> None:
    assert committed_event_types() == {t.name: t.value for t in EventType}


def test_dashboard_names_only_event_types_that_exist() -> None:
    types = committed_event_types()
    references = 0
    for path in dashboard_scripts():
        source = path.read_text(encoding="utf-8")
        assert unknown_type_names(source, types) == [], path.name
        references += len(REFERENCE.findall(source))
    # the dashboard names types through EVENT_TYPES (app.js: the feed, zones, footfall, intents)
    assert references >= 10


def test_a_renamed_type_is_caught() -> None:
    """The check above fails on what a rename leaves behind: a literal, a family, a constant."""
    types = {"INTENT_CHANGED": "intent.changed", "ALERT_RAISED": "alert.raised"}
    ok = 'if (e.type === EVENT_TYPES.INTENT_CHANGED || e.type.startsWith("alert.")) q("li.invalid");'
    assert unknown_type_names(ok, types) == []
    assert unknown_type_names('case "intent.changd":', types) == ["intent.changd"]
    assert unknown_type_names("t.startsWith('alerts.')", types) == ["alerts."]
    assert unknown_type_names("fetchEvents([`alert.raise`])", types) == ["alert.raise"]
    assert unknown_type_names("x === EVENT_TYPES.INTENT_CHANGES", types) == ["EVENT_TYPES.INTENT_CHANGES"]


def test_typedefs_carry_the_wire_facts() -> None:
    text = event_types_js()
    # envelope keys are always present (null when unset): not optional; payload keys are
    assert " * @property {(string|null)} subject Random visit/track id" in text
    assert " * @property {IntentChangedPayload} payload" in text
    assert ' * @property {"intent.changed"} type' in text
    assert " * @property {(number|null)} [fragments] (per-visit) Track fragments" in text
    assert " * @property {(number|null)} [dwell_s] (aggregate) Seconds spent in the zone" in text
    intent = text.split("@typedef {Object} IntentChangedPayload", 1)[0].rsplit("/**", 1)[1]
    assert "Per-visit type: dropped whole in aggregate-only mode." in intent
    union = re.search(r"@typedef \{([A-Za-z|]+)\} StoreEvent", text)
    assert union and len(union.group(1).split("|")) == len(EventType)


def test_js_types_of_schema_nodes() -> None:
    assert js_type({"anyOf": [{"type": "integer"}, {"type": "null"}]}) == "(number|null)"
    assert js_type({"type": "array", "items": {}}) == "Array<*>"
    assert js_type({"type": "array", "items": {"type": "string"}}) == "Array<string>"
    assert js_type({"type": "object", "additionalProperties": {"type": "number"}}) == "Object<string, number>"
    assert js_type({"type": "object"}) == "Object<string, *>"
    assert js_type({"$ref": "#/$defs/ZoneExited"}) == "ZoneExitedPayload"
    assert js_type({"const": "zone.exited", "type": "string"}) == '"zone.exited"'


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (optional check)")
def test_events_js_is_a_module_node_loads() -> None:
    script = (
        f"import({json.dumps(EVENTS_JS.as_uri())}).then((m) => "
        "console.log(JSON.stringify({frozen: Object.isFrozen(m.EVENT_TYPES), types: m.EVENT_TYPES})))"
    )
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(out.stdout)
    assert loaded == {"frozen": True, "types": {t.name: t.value for t in EventType}}
