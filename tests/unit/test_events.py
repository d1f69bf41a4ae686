"""Events and the in-process bus."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from storelens.events.bus import EventBus
from storelens.events.models import Event, EventType, format_subject, parse_subject


def test_event_at_builds_utc_json_ready_event() -> None:
    e = Event.at(
        EventType.ZONE_EXITED, "shop", 1_700_000_000.5, camera_id="c1", zone_id="z", subject=0xABC, dwell_s=3.2
    )
    assert e.ts == datetime.fromtimestamp(1_700_000_000.5, tz=UTC)
    assert e.subject == "abc"
    d = e.to_json_dict()
    assert d["type"] == "zone.exited" and d["payload"] == {"dwell_s": 3.2} and len(d["id"]) == 32


@pytest.mark.parametrize("bad", ["zone", "Zone.Exited", "zone..x", "zone.ex it", ""])
def test_event_type_must_be_dotted_words(bad: str) -> None:
    with pytest.raises(ValidationError):
        Event(type=bad, store_id="s", ts=datetime.now(UTC))


def test_events_are_immutable_and_ids_unique() -> None:
    a = Event.at("visit.started", "s", 0.0)
    b = Event.at("visit.started", "s", 0.0)
    assert a.id != b.id
    with pytest.raises(ValidationError):
        a.type = "x.y"  # type: ignore[misc]


def test_format_subject_is_short_hex() -> None:
    assert format_subject(255) == "ff"
    assert format_subject("already") == "already"
    assert len(format_subject(2**62)) <= 12


def test_subject_id_is_the_int_the_event_was_made_with() -> None:
    vid = 2**47 - 3  # visit ids are 47-bit: the wire's 48-bit hex keeps them whole
    e = Event.at(EventType.ZONE_EXITED, "s1", 1_700_000_000.0, subject=vid)
    assert e.subject == format_subject(vid) and e.subject_id == vid
    assert Event.model_validate(e.to_json_dict()).subject_id == vid  # and read back from the wire
    assert (
        parse_subject("queue-q1") is None and Event.at("alert.raised", "s1", 0.0, subject="queue-q1").subject_id is None
    )
    assert Event.at("alert.raised", "s1", 0.0).subject_id is None


def test_bus_filters_by_prefix_and_isolates_failing_handlers() -> None:
    bus = EventBus()
    zone: list[str] = []
    everything: list[str] = []

    def broken(_: Event) -> None:
        raise RuntimeError("sink down")

    bus.subscribe(broken)
    bus.subscribe(lambda e: zone.append(e.type), types=["zone."])
    bus.subscribe(lambda e: everything.append(e.type))
    bus.publish_all([Event.at("zone.entered", "s", 0.0), Event.at("visit.started", "s", 0.0)])
    assert zone == ["zone.entered"]
    assert everything == ["zone.entered", "visit.started"]
    assert bus.handler_errors == 2 and bus.published == 2
