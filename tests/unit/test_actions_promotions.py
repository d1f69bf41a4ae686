"""Promotions: rule matching, caps per visit and per display, quiet hours in store time (fake clock)."""

from __future__ import annotations

import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from storelens.actions.promotions import PromotionManager, in_quiet_hours
from storelens.config.actions import PromotionsConfig, QuietHoursConfig
from storelens.events.models import Event, EventType

BERLIN = ZoneInfo("Europe/Berlin")
T = datetime(2025, 3, 4, 10, 0, tzinfo=BERLIN).timestamp()  # a Tuesday, 10:00 in the store


def intent(t: float, subject: str, state: str, category: str | None = "Coffee") -> Event:
    return Event.at(EventType.INTENT_CHANGED, "s", t, subject=subject, state=state, category=category)


def manager(**cfg: object) -> PromotionManager:
    base: dict[str, object] = {
        "rules": [
            {"id": "coffee", "state": "considering", "category": "coffee", "min_state_s": 30, "display": "endcap"},
            {"id": "any-high", "state": "high_intent", "min_state_s": 0, "display": "till-screen"},
        ]
    }
    base.update(cfg)
    return PromotionManager("s", PromotionsConfig.model_validate(base), BERLIN)


def test_fires_after_min_state_time_once_without_personal_data() -> None:
    m = manager()
    m.on_intent(intent(T, "v1", "considering"))
    assert m.tick(T + 29) == []
    out = m.tick(T + 30)
    assert len(out) == 1
    e = out[0]
    assert e.type == EventType.PROMOTION_TRIGGERED
    assert e.subject is None  # nothing about the person leaves for the signage
    assert e.payload["display"] == "endcap" and e.payload["category"] == "Coffee" and e.payload["rule"] == "coffee"
    assert m.tick(T + 200) == []  # once per visit


@pytest.mark.parametrize(
    ("state", "category", "fires"),
    [("considering", "Coffee", True), ("considering", "Tea", False), ("browsing", None, False)],
)
def test_rule_matching(state: str, category: str | None, fires: bool) -> None:
    m = manager()
    m.on_intent(intent(T, "v1", state, category))
    assert bool(m.tick(T + 60)) is fires


def test_category_change_restarts_the_clock() -> None:
    m = manager()
    m.on_intent(intent(T, "v1", "considering", "Tea"))
    m.on_intent(intent(T + 20, "v1", "considering", "Coffee"))
    assert m.tick(T + 40) == []
    assert len(m.tick(T + 50)) == 1


def test_cap_per_visit() -> None:
    m = manager(max_per_visit=1)
    m.on_intent(intent(T, "v1", "considering"))
    assert len(m.tick(T + 30)) == 1
    m.on_intent(intent(T + 31, "v1", "high_intent"))
    assert m.tick(T + 40) == []  # a second rule matches, but the visit already had its one
    m2 = manager(max_per_visit=2)
    m2.on_intent(intent(T, "v1", "considering"))
    m2.tick(T + 30)
    m2.on_intent(intent(T + 31, "v1", "high_intent"))
    assert len(m2.tick(T + 31)) == 1


def test_display_cooldown_and_hourly_cap() -> None:
    m = manager(display_cooldown_s=60, max_per_display_per_hour=2)
    for i, t in enumerate((0, 10, 100, 200)):
        m.on_intent(intent(T + t, f"v{i}", "considering"))
    fired = []
    for t in range(0, 400, 5):
        fired += [(t, e.payload["display"]) for e in m.tick(T + t + 30)]
    times = [t for t, _ in fired]
    assert times[0] == 0
    assert all(b - a >= 60 for a, b in itertools.pairwise(times))  # cooldown
    assert len(fired) == 2  # hourly cap
    assert m.suppressed["display_hourly"] > 0 and m.suppressed["display_cooldown"] > 0


def test_quiet_hours_in_store_time() -> None:
    windows = [QuietHoursConfig(start="22:00", end="07:00")]
    at = lambda h, m=0, d=4: datetime(2025, 3, d, h, m, tzinfo=BERLIN).timestamp()  # noqa: E731
    assert in_quiet_hours(at(23), windows, BERLIN)
    assert in_quiet_hours(at(6, 59), windows, BERLIN)
    assert not in_quiet_hours(at(7), windows, BERLIN)
    assert not in_quiet_hours(at(12), windows, BERLIN)
    # 21:30 UTC is 22:30 in Berlin in March: quiet in the store even though it is not in UTC
    utc_2130 = datetime(2025, 3, 4, 21, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    assert in_quiet_hours(utc_2130, windows, BERLIN)
    assert not in_quiet_hours(utc_2130, windows, ZoneInfo("UTC"))
    weekend = [QuietHoursConfig(start="22:00", end="02:00", days=["sat"])]
    assert in_quiet_hours(at(1, d=9), weekend, BERLIN)  # Sunday 01:00 belongs to Saturday's window
    assert not in_quiet_hours(at(23, d=9), weekend, BERLIN)  # Sunday 23:00: not a Saturday window


def test_quiet_hours_hold_then_release() -> None:
    m = manager(quiet_hours=[{"start": "09:00", "end": "10:01"}])
    m.on_intent(intent(T, "v1", "considering"))
    assert m.tick(T + 30) == []  # 10:00:30: quiet
    assert m.suppressed["quiet_hours"] == 1
    assert len(m.tick(T + 61)) == 1  # 10:01:01: allowed, and the visit still qualifies


def test_ended_visits_are_forgotten() -> None:
    m = manager()
    m.on_intent(intent(T, "v1", "considering"))
    m.on_ended("v1")
    assert m.tick(T + 60) == []


def test_quiet_hours_config_validation() -> None:
    with pytest.raises(ValueError):
        QuietHoursConfig(start="25:00", end="07:00")
    with pytest.raises(ValueError, match="differ"):
        QuietHoursConfig(start="07:00", end="07:00")
