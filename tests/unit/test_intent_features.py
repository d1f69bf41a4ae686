"""Per visit features: table-driven updates from events and kinematic samples."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from storelens.events.models import Event, EventType
from storelens.intent.features import FEATURE_INDEX, FEATURE_NAMES, FeatureParams, VisitFeatures
from storelens.intent.signals import (
    InteractionSignal,
    KinematicSample,
    ZoneInfo,
    parse_affect,
    parse_interaction,
    parse_zone,
)

T0 = 1_741_082_400.0
COFFEE = ZoneInfo("coffee", "aisle", "Coffee", "Coffee")
SNACKS = ZoneInfo("snacks", "aisle", "Snacks", "Snacks")
QUEUE = ZoneInfo("queue", "queue", None, "Queue")
SHELF = InteractionSignal("coffee-l", "Coffee")


def _feats(exits: tuple[tuple[float, float], ...] = ()) -> VisitFeatures:
    return VisitFeatures(subject=0xA1, first_ts=T0, params=FeatureParams(exits=exits), last_ts=T0)


def _walk(f: VisitFeatures, t0: float, t1: float, start: tuple[float, float], vel: tuple[float, float]) -> None:
    t = t0
    while t <= t1 + 1e-9:
        f.add_sample(KinematicSample(0xA1, T0 + t, start[0] + vel[0] * (t - t0), start[1] + vel[1] * (t - t0)))
        t += 0.2


def _stand(f: VisitFeatures, t0: float, t1: float, at: tuple[float, float]) -> None:
    _walk(f, t0, t1, at, (0.0, 0.0))


def _raw(f: VisitFeatures, t: float) -> dict[str, float]:
    snap = f.snapshot(T0 + t)
    return {n: float(snap.raw[i]) for i, n in enumerate(FEATURE_NAMES)}


def _dwell_20(f: VisitFeatures) -> None:
    f.zone_entered(COFFEE, T0)


def _two_stays(f: VisitFeatures) -> None:
    f.zone_entered(COFFEE, T0)
    f.zone_exited(COFFEE, T0 + 10, 10.0)
    f.zone_entered(SNACKS, T0 + 10)
    f.zone_exited(SNACKS, T0 + 12, 2.0)
    f.zone_entered(COFFEE, T0 + 14)
    f.zone_revisited(COFFEE)


def _reaches(f: VisitFeatures) -> None:
    f.zone_entered(COFFEE, T0)
    for k in range(3):
        f.reach(SHELF, T0 + 2 + k)


def _pick_return(f: VisitFeatures) -> None:
    f.zone_entered(COFFEE, T0)
    f.picked(SHELF, T0 + 3)
    f.returned(SHELF, T0 + 8)


def _pick_two_return_one(f: VisitFeatures) -> None:
    f.picked(SHELF, T0 + 3)
    f.picked(InteractionSignal("snacks-r", "Snacks"), T0 + 5)
    f.returned(SHELF, T0 + 8)


def _glances(f: VisitFeatures) -> None:
    f.zone_entered(COFFEE, T0)
    for k, tgt in enumerate(("coffee-r", "snacks-l", "display-1")):
        sig = InteractionSignal(tgt, None)
        f.attention_started(sig, T0 + 2 + 2 * k)
        f.attention_ended(sig, T0 + 3 + 2 * k)


def _long_look(f: VisitFeatures) -> None:
    f.zone_entered(COFFEE, T0)
    f.attention_started(SHELF, T0 + 2)
    f.attention_ended(SHELF, T0 + 7)


def _confused(f: VisitFeatures) -> None:
    ev = Event.at(EventType.EXPRESSION_SUMMARY, "s", T0 + 5, subject=0xA1, affect="confused", confidence=0.8)
    reading = parse_affect(ev)
    assert reading is not None
    f.add_affect(reading, T0 + 5)


def _unsure_affect(f: VisitFeatures) -> None:
    ev = Event.at(EventType.EXPRESSION_SUMMARY, "s", T0 + 5, subject=0xA1, affect="confused", confidence=0.1)
    reading = parse_affect(ev)
    assert reading is not None
    f.add_affect(reading, T0 + 5)


def _standing(f: VisitFeatures) -> None:
    _stand(f, 0, 8, (5.0, 5.0))


def _walking(f: VisitFeatures) -> None:
    _walk(f, 0, 20, (0.0, 5.0), (1.2, 0.0))


def _queue(f: VisitFeatures) -> None:
    f.zone_entered(QUEUE, T0 + 1)


def _back_and_forth(f: VisitFeatures) -> None:
    _walk(f, 0, 4, (0.0, 5.0), (1.0, 0.0))
    _walk(f, 4.2, 8, (4.0, 5.0), (-1.0, 0.0))
    _walk(f, 8.2, 12, (0.2, 5.0), (1.0, 0.0))


CASES: list[tuple[str, Callable[[VisitFeatures], None], float, dict[str, float]]] = [
    ("empty", lambda f: None, 5.0, {"time_in_store": 5.0, "dwell_focus": 0.0, "holding": 0.0, "look_around": 0.0}),
    ("dwell grows while inside", _dwell_20, 20.0, {"dwell_focus": 20.0, "stay_focus": 20.0, "zones_visited": 1}),
    (
        "stays add up, revisit counted",
        _two_stays,
        20.0,
        {"dwell_focus": 16.0, "stay_focus": 6.0, "revisits_focus": 1, "zones_visited": 2},
    ),
    ("reaches", _reaches, 6.0, {"reaches_focus": 3, "holding": 0}),
    ("pick then return", _pick_return, 9.0, {"holding": 0, "returns_focus": 1, "pick_return": 1}),
    ("two picks one return", _pick_two_return_one, 9.0, {"holding": 1}),
    ("glances are looking around", _glances, 9.0, {"look_around": 3, "attention_focus": 0.0}),
    ("a long look is attention, not a glance", _long_look, 8.0, {"look_around": 0, "attention_focus": 5.0}),
    ("confused reading", _confused, 6.0, {"confused": 0.8, "negative": 0.0, "positive": 0.0}),
    ("unsure reading ignored", _unsure_affect, 6.0, {"confused": 0.0}),
    ("queue", _queue, 3.0, {"in_queue": 1, "queued": 1, "at_checkout": 0}),
    ("back and forth", _back_and_forth, 12.0, {"back_forth": 2}),
]


@pytest.mark.parametrize(("name", "feed", "t", "expected"), CASES, ids=[c[0] for c in CASES])
def test_feature_updates(
    name: str, feed: Callable[[VisitFeatures], None], t: float, expected: dict[str, float]
) -> None:
    f = _feats()
    feed(f)
    raw = _raw(f, t)
    for key, want in expected.items():
        assert raw[key] == pytest.approx(want, abs=0.05), f"{name}: {key}={raw[key]}, want {want}"


def test_standing_still_counts_one_stop_and_its_duration() -> None:
    f = _feats()
    _standing(f)
    raw = _raw(f, 8.0)
    assert raw["stops"] == 1
    assert 6.0 <= raw["stopped"] <= 8.0  # the stop shows within ~1 s (speed window + hysteresis)
    assert raw["walking"] < 0.05


def test_walking_straight() -> None:
    f = _feats()
    _walking(f)
    raw = _raw(f, 20.0)
    assert raw["walking"] == pytest.approx(1.0, abs=0.05)  # 1.2 m/s over a 1.2 m/s walking speed
    assert raw["straightness"] == pytest.approx(1.0, abs=0.02)
    assert raw["stops"] == 0
    assert raw["kept_walking"] == pytest.approx(1.0, abs=0.01)  # walked the whole time, past the 5 s ramp
    # the first second has no speed yet: it counts neither as walking nor as standing
    early = _feats()
    _walk(early, 0, 3, (0.0, 5.0), (1.2, 0.0))
    assert _raw(early, 3.0)["kept_walking"] == pytest.approx(3.0 / 5.0, abs=0.05)


def test_jittered_standing_reads_as_still() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    f = _feats()
    t = 0.0
    while t <= 10:
        dx, dy = rng.normal(0, 0.12, 2)
        f.add_sample(KinematicSample(0xA1, T0 + t, 5 + float(dx), 5 + float(dy)))
        t += 0.2
    raw = _raw(f, 10.0)
    assert raw["stops"] == 1
    assert raw["stopped"] > 6


def test_heading_to_exit_only_when_walking_at_it_nearby() -> None:
    f = _feats(exits=((0.0, 0.0),))
    _stand(f, 0, 8, (8.0, 6.0))
    assert _raw(f, 8.0)["heading_exit"] == 0.0
    _walk(f, 8.2, 14, (8.0, 6.0), (-0.8, -0.6))  # 1 m/s straight at the exit, 10 m -> 4 m away
    assert _raw(f, 14.0)["heading_exit"] == 0.0  # too early in the visit (< 15 s)
    _walk(f, 14.2, 16, (3.2, 2.4), (-0.8, -0.6))
    assert _raw(f, 16.0)["heading_exit"] > 0.9
    g = _feats(exits=((0.0, 0.0),))
    _stand(g, 0, 8, (2.0, 1.5))
    _walk(g, 8.2, 16, (2.0, 1.5), (0.8, 0.6))  # walking away from it
    assert _raw(g, 16.0)["heading_exit"] == 0.0


def test_focus_follows_hands_then_feet() -> None:
    f = _feats()
    f.zone_entered(COFFEE, T0)
    assert f.focus_category(T0 + 1) == "Coffee"
    f.reach(InteractionSignal("snacks-l", "Snacks"), T0 + 2)
    assert f.focus_category(T0 + 3) == "Snacks"  # a reach says more than where the feet are
    assert f.focus_category(T0 + 13) == "Coffee"  # ... for 10 s
    f.zone_exited(COFFEE, T0 + 14, 14.0)
    assert f.focus_category(T0 + 20) == "Coffee"  # a zone just left still counts for 8 s
    assert f.focus_category(T0 + 30) is None


def test_samples_out_of_order_are_ignored() -> None:
    f = _feats()
    f.add_sample(KinematicSample(0xA1, T0 + 1, 0, 0))
    f.add_sample(KinematicSample(0xA1, T0 + 0.5, 50, 50))
    assert len(f._pos) == 1


def test_reasons_quote_raw_values() -> None:
    f = _feats()
    f.zone_entered(COFFEE, T0)
    _pick_return(f)
    snap = f.snapshot(T0 + 48)
    assert snap.reason("dwell_focus") == "dwell 48 s in Coffee"
    assert snap.reason("pick_return") == "picked and returned 1 item"
    assert snap.reason("returns_focus") == "returned once"


@pytest.mark.parametrize(
    ("payload", "label", "conf"),
    [
        ({"affect": "happy", "confidence": 0.7}, "positive", 0.7),
        ({"affect": "frustrated", "confidence": 0.6}, "negative", 0.6),
        ({"scores": {"surprise": 0.6, "neutral": 0.4}, "confidence": 0.9}, "confused", 0.9),
        (
            {"affect": "surprised", "affect_scores": {"surprised": 0.7, "neutral": 0.3}, "confidence": 0.6},
            "confused",
            0.6,
        ),
        ({"affect": "unknown", "confidence": 0.9}, None, None),
        ({"affect": "confused", "confidence": 0.0}, None, None),
        ({"affect": 3, "confidence": 0.5}, None, None),
    ],
)
def test_parse_affect(payload: dict[str, object], label: str | None, conf: float | None) -> None:
    ev = Event.at(EventType.EXPRESSION_SUMMARY, "s", T0, subject=0xA1, **payload)
    reading = parse_affect(ev)
    if label is None:
        assert reading is None
    else:
        assert reading is not None and reading.label == label and reading.confidence == conf
        assert math.isclose(sum(reading.probs.values()), 1.0)


def test_parse_zone_and_interaction_fall_back_to_config() -> None:
    cat = {"coffee": COFFEE, "coffee-l": ZoneInfo("coffee-l", "shelf", "Coffee", "Coffee left")}
    z = parse_zone(Event.at(EventType.ZONE_EXITED, "s", T0, zone_id="coffee", subject=0xA1, dwell_s=4.5), cat)
    assert z is not None and z.zone.category == "Coffee" and z.zone.kind == "aisle" and z.dwell_s == 4.5
    z2 = parse_zone(
        Event.at(EventType.ZONE_ENTERED, "s", T0, zone_id="x", subject=0xA1, zone_kind="display", category="Tea"), cat
    )
    assert z2 is not None and z2.zone.kind == "display" and z2.zone.category == "Tea"
    assert parse_zone(Event.at(EventType.ZONE_ENTERED, "s", T0, subject=0xA1), cat) is None
    sig = parse_interaction(Event.at(EventType.SHELF_REACH, "s", T0, subject=0xA1, shelf="coffee-l"), cat)
    assert sig is not None and sig.category == "Coffee"
    assert FEATURE_INDEX["queued"] == len(FEATURE_NAMES) - 1


def test_affect_blend_is_by_time_not_by_reading() -> None:
    """A new expression outweighs an old one by how long ago the old one was read, so a tracker
    feeding every frame and a summary every 2.5 s mean the same thing."""
    from storelens.intent.signals import AffectReading

    neutral = AffectReading({"neutral": 1.0}, 0.8, "neutral")
    confused = AffectReading({"confused": 1.0}, 0.8, "confused")
    sparse, dense = _feats(), _feats()
    sparse.add_affect(neutral, T0)
    sparse.add_affect(confused, T0 + 2.5)  # one reading 2.5 s later: mostly the new face
    assert sparse.affect["confused"] == pytest.approx(1 - math.exp(-2.5), abs=1e-6)
    dense.add_affect(neutral, T0)
    for k in range(1, 26):  # the same 2.5 s fed at 10 fps ends in the same place
        dense.add_affect(confused, T0 + k * 0.1)
    assert dense.affect["confused"] == pytest.approx(sparse.affect["confused"], abs=1e-6)
    one_frame = _feats()
    one_frame.add_affect(neutral, T0)
    one_frame.add_affect(confused, T0 + 0.1)  # one outlier frame barely moves it
    assert one_frame.affect["confused"] < 0.1
