"""Typed event payloads (issue 15): one model per type, the published schema, privacy from the marks.

What these pin: the typed constructors write exactly the JSON the untyped ones did; the committed
docs/events.schema.json is what ``storelens schema events`` prints; events really emitted by the
stages, the intent engine and the action engines validate against that schema; aggregate-only
mode keeps only fields marked aggregate (a new unmarked field is withheld); events stored by older
versions (missing, extra or mistyped keys) still read.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import jsonschema_rs
import pytest
from typer.testing import CliRunner

from storelens.actions.dispatcher import ActionEngine
from storelens.cli.commands.simulate import DEMO_PROMOTIONS
from storelens.cli.main import app
from storelens.config.actions import ActionsConfig, PromotionsConfig
from storelens.events import payloads
from storelens.events.aggregate_only import anonymise_event
from storelens.events.models import Event, EventType
from storelens.events.payloads import (
    PAYLOADS,
    EventPayload,
    VisitEnded,
    ZoneExited,
    aggregate,
    parse_payload,
    per_visit,
    typed,
)
from storelens.events.schema import EVENT_SCHEMA_VERSION, event_adapter, event_schema, event_schema_json
from storelens.intent.engine import IntentEngine
from storelens.sim.layout import StoreLayout
from storelens.sim.noise import NoiseConfig
from storelens.sim.runner import SimConfig, run_simulation
from testdata import REPO, TEST_DATA

DOCS_SCHEMA = REPO / "docs" / "events.schema.json"
GOLDEN = TEST_DATA / "stage_golden.json.gz"


@pytest.fixture(scope="module")
def validator() -> Any:
    return jsonschema_rs.validator_for(json.loads(DOCS_SCHEMA.read_text()))


def test_every_event_type_has_a_payload_model_and_every_field_a_mark() -> None:
    assert set(PAYLOADS) == {str(t) for t in EventType}
    for model in PAYLOADS.values():
        for name, info in model.model_fields.items():
            extra = info.json_schema_extra
            assert isinstance(extra, dict) and isinstance(extra.get("per_visit"), bool), (model.__name__, name)


def test_typed_constructor_writes_the_json_the_untyped_one_did() -> None:
    kw: dict[str, Any] = {"dwell_s": 4.25, "entered_at": "2026-01-01T00:00:00+00:00", "zone_name": "TVs"}
    kw |= {"zone_kind": "display", "category": None}
    old = Event.at(EventType.ZONE_EXITED, "s1", 100.0, camera_id="c", zone_id="z", subject=0xBEEF, **kw)
    new = Event.of(ZoneExited(**kw), "s1", 100.0, camera_id="c", zone_id="z", subject=0xBEEF)
    strip = {"id"}
    assert json.dumps(new.model_dump(mode="json", exclude=strip)) == json.dumps(
        old.model_dump(mode="json", exclude=strip)
    )
    # unset fields stay off the wire; integers stay integers
    assert Event.of(VisitEnded(fragments=2), "s1", 1.0).payload == {"fragments": 2}


def test_committed_schema_is_what_the_command_prints() -> None:
    result = CliRunner().invoke(app, ["schema", "events"])
    assert result.exit_code == 0, result.output
    assert result.output == event_schema_json()
    assert DOCS_SCHEMA.read_text(encoding="utf-8") == result.output, (
        "docs/events.schema.json is stale: run `storelens schema events -o docs/events.schema.json "
        "--js src/storelens/service/dashboard/static/events.js` "
        "(and bump EVENT_SCHEMA_VERSION if the contract changed)"
    )
    doc = json.loads(result.output)
    assert doc["schema_version"] == EVENT_SCHEMA_VERSION
    assert doc["discriminator"]["propertyName"] == "type"
    assert set(doc["discriminator"]["mapping"]) == set(PAYLOADS)


def test_schema_marks_per_visit_fields() -> None:
    defs = event_schema()["$defs"]
    assert defs["VisitEnded"]["properties"]["fragments"]["per_visit"] is True
    assert defs["ZoneExited"]["properties"]["dwell_s"]["per_visit"] is False


def test_golden_stage_events_validate_against_the_schema(validator: Any) -> None:
    recorded = json.loads(gzip.decompress(GOLDEN.read_bytes()))
    n = 0
    for cam in recorded.values():
        for e in cam["events"]:
            wire = {**e, "id": "0123456789abcdef"}
            errors = [str(err) for err in validator.iter_errors(wire)]
            assert not errors, (e["type"], errors[:3])
            n += 1
    assert n > 500


def test_simulated_store_day_validates_against_the_schema(validator: Any) -> None:
    """Interaction, expression, intent, promotion and alert events as the engines emit them."""
    layout = StoreLayout.demo()
    store = layout.store_config()
    cfg = SimConfig(shoppers=12, minutes=4.0, seed=5, noise=NoiseConfig.realistic(), store_id=store.store_id)
    engine = IntentEngine(store.store_id, zones=layout.zones)
    actions = ActionEngine(
        store.store_id,
        ActionsConfig(promotions=PromotionsConfig(rules=DEMO_PROMOTIONS), dry_run=True),
        zones=layout.zones,
    )
    result = run_simulation(layout, cfg, {"e": engine}, {"e": actions}, store=store)
    events = [*result.observed, *result.outputs["e"]]
    types = {e.type for e in events}
    assert {"intent.changed", "intent.ended", "zone.exited", "shelf.reach", "promotion.triggered"} <= types
    for e in events:
        wire = json.loads(json.dumps(e.to_json_dict()))
        errors = [str(err) for err in validator.iter_errors(wire)]
        assert not errors, (e.type, errors[:3])
        event_adapter().validate_python(wire)  # the pydantic side of the same contract agrees


def test_schema_rejects_a_mistyped_field(validator: Any) -> None:
    e = Event.at(EventType.ZONE_EXITED, "s1", 1.0, dwell_s="long")
    assert not validator.is_valid(json.loads(json.dumps(e.to_json_dict())))


# ------------------------------------------------------------------------------ aggregate-only


def test_aggregate_only_keeps_marked_fields_and_withholds_the_rest() -> None:
    e = Event.at(EventType.ZONE_EXITED, "s1", 1.0, zone_id="z", subject=7, dwell_s=3.0, zone_name="TVs", gaze_xy=[1, 2])
    out = anonymise_event(e)
    assert out is not None and out.subject is None
    assert out.payload == {"dwell_s": 3.0, "zone_name": "TVs"}  # gaze_xy: declared by no model


def test_a_new_unmarked_field_is_withheld(monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone adds a field without saying whether it is per-visit: it must not leave the edge."""

    class ZoneExitedNext(ZoneExited):
        TYPE = EventType.ZONE_EXITED
        shopper_height_m: float | None = None  # no mark
        door: str | None = aggregate("marked: may go")
        gait: str | None = per_visit("marked: may not")

    monkeypatch.setitem(payloads.PAYLOADS, str(EventType.ZONE_EXITED), ZoneExitedNext)
    e = Event.of(ZoneExitedNext(dwell_s=2.0, shopper_height_m=1.8, door="north", gait="fast"), "s1", 1.0, subject=3)
    out = anonymise_event(e)
    assert out is not None
    assert out.payload == {"dwell_s": 2.0, "door": "north"}


def test_unknown_event_types_keep_no_payload_and_per_visit_families_are_dropped() -> None:
    odd = anonymise_event(Event.at("people.counted", "s1", 1.0, subject=1, total=3))
    assert odd is not None and odd.payload == {} and odd.subject is None
    assert anonymise_event(Event.at("intent.future_kind", "s1", 1.0, subject=1, state="x")) is None
    assert anonymise_event(Event.at(EventType.ATTENTION_ENDED, "s1", 1.0, subject=1, duration_s=2.0)) is None


def test_nested_per_visit_keys_are_removed_from_kept_dicts() -> None:
    e = Event.at(
        EventType.PRODUCT_PICKED, "s1", 1.0, subject=1, shelf="s", confidence=0.9, evidence={"diff": 0.4, "bbox": [1]}
    )
    out = anonymise_event(e)
    assert out is not None and out.payload == {"shelf": "s", "evidence": {"diff": 0.4}}


# ------------------------------------------------------------------------------ old stored events


def test_events_stored_by_older_versions_still_read() -> None:
    stored: dict[str, Any] = {
        "type": "zone.exited",
        "store_id": "s1",
        "ts": "2025-05-01T10:00:00Z",
        "subject": "ab12",
        "id": "0123456789abcdef",
        "payload": {"dwell_seconds": 12.5, "zone": "legacy-key", "dwell_s": "n/a"},
    }
    e = Event.model_validate(stored)
    p = typed(e, ZoneExited)
    assert p is not None
    assert p.dwell_s is None  # mistyped in the old row: reads as absent instead of failing
    assert p.dwell() == 12.5  # the older name still counts
    assert p.model_extra == {"zone": "legacy-key"}
    # missing keys: every field is optional
    assert isinstance(parse_payload("visit.ended", {}), VisitEnded)
    # a type this version does not know still parses (and counts as per-visit throughout)
    unknown = parse_payload("people.counted", {"total": 3})
    assert type(unknown).__name__ == "UnknownPayload" and unknown.model_extra == {"total": 3}
    assert typed(e, VisitEnded) is None


def test_payload_models_are_registered_by_type() -> None:
    assert all(issubclass(m, EventPayload) and str(m.TYPE) == t for t, m in PAYLOADS.items())
