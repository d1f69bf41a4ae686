"""Staff alerts: raise, acknowledge (time to ack), cooldowns, escalation, close (fake clock)."""

from __future__ import annotations

import pytest

from storelens.actions.alerts import AlertError, AlertManager
from storelens.config.actions import AlertsConfig
from storelens.events.models import Event, EventType

T = 1_741_082_400.0


def intent(t: float, subject: str, state: str, zone: str = "coffee", **extra: object) -> Event:
    return Event.at(
        EventType.INTENT_CHANGED,
        "s",
        t,
        subject=subject,
        zone_id=zone,
        state=state,
        category="Coffee",
        reasons=["dwell 48 s in Coffee", "returned 3 times", "confused 60%"],
        **extra,
    )


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def manager(clock: Clock | None = None, **cfg: object) -> AlertManager:
    return AlertManager(
        "s", AlertsConfig.model_validate(cfg), zone_kinds={"coffee": "aisle", "till": "checkout"}, clock=clock
    )


def test_raise_with_zone_and_reasons() -> None:
    m = manager()
    out = m.on_intent(intent(T, "v1", "needs_assistance"))
    assert [e.type for e in out] == [EventType.ALERT_RAISED]
    e = out[0]
    assert e.zone_id == "coffee" and e.subject == "v1"
    assert e.payload["reasons"] == ["dwell 48 s in Coffee", "returned 3 times", "confused 60%"]
    assert e.payload["severity"] == "warning" and e.payload["alert_id"]
    assert m.on_intent(intent(T, "v2", "browsing", zone="bakery")) == []


def test_acknowledge_records_time_to_ack_with_a_fake_clock() -> None:
    clock = Clock(T)
    m = manager(clock)
    alert_id = m.on_intent(intent(T, "v1", "needs_assistance"))[0].payload["alert_id"]
    clock.t = T + 42.5
    ack = m.acknowledge(alert_id, "anna")
    assert ack.type == EventType.ALERT_ACKNOWLEDGED
    assert ack.payload["time_to_ack_s"] == 42.5 and ack.payload["by"] == "anna"
    with pytest.raises(AlertError, match="already acknowledged"):
        m.acknowledge(alert_id, "ben")
    with pytest.raises(AlertError, match="unknown alert"):
        m.acknowledge("nope", "ben")
    with pytest.raises(AlertError, match="1-64"):
        m.acknowledge(alert_id, "")


def test_cooldown_per_visit_and_per_zone() -> None:
    m = manager(cooldown_visit_s=300, cooldown_zone_s=120)
    assert m.on_intent(intent(T, "v1", "needs_assistance"))
    m.on_intent(intent(T + 10, "v1", "considering"))
    assert m.on_intent(intent(T + 20, "v1", "needs_assistance", zone="bakery")) == []  # same visit
    assert m.on_intent(intent(T + 30, "v2", "needs_assistance")) == []  # same zone
    assert m.on_intent(intent(T + 40, "v3", "needs_assistance", zone="bakery"))  # other visit, zone
    assert m.on_intent(intent(T + 130, "v2", "needs_assistance", zone="coffee"))  # zone cooled down
    assert m.suppressed == {"visit_cooldown": 1, "zone_cooldown": 1}


def test_escalation_once_if_unacknowledged() -> None:
    m = manager(escalate_after_min=3)
    a1 = m.on_intent(intent(T, "v1", "needs_assistance"))[0].payload["alert_id"]
    a2 = m.on_intent(intent(T, "v2", "needs_assistance", zone="bakery"))[0].payload["alert_id"]
    m.acknowledge(a2, "anna", now=T + 60)
    assert m.tick(T + 179) == []
    out = m.tick(T + 180)
    assert [(e.type, e.payload["alert_id"]) for e in out] == [(EventType.ALERT_ESCALATED, a1)]
    assert out[0].payload["minutes_open"] == 3.0
    assert m.tick(T + 400) == []  # escalates once
    assert manager(escalate_after_min=0).tick(T + 10_000) == []


def test_close_when_the_shopper_leaves() -> None:
    m = manager()
    a1 = m.on_intent(intent(T, "v1", "needs_assistance"))[0].payload["alert_id"]
    m.acknowledge(a1, "anna", now=T + 30)
    out = m.on_ended("v1", T + 90)
    assert [e.type for e in out] == [EventType.ALERT_CLOSED]
    p = out[0].payload
    assert p["reason"] == "shopper_left" and p["acknowledged"] is True
    assert p["time_to_ack_s"] == 30.0 and p["open_s"] == 90.0
    assert m.open_alerts() == []
    with pytest.raises(AlertError):
        m.acknowledge(a1, "ben", now=T + 100)
    a2 = m.on_intent(intent(T + 500, "v9", "needs_assistance", zone="x"))[0].payload["alert_id"]
    m.on_ended("v9", T + 510)
    with pytest.raises(AlertError, match="closed"):
        m.acknowledge(a2, "ben", now=T + 520)
    assert m.prune(T + 10_000) == 2


def test_min_state_time_and_zone_kind_rules() -> None:
    m = manager(
        rules=[
            {"id": "slow", "state": "hesitant", "min_state_s": 20, "severity": "info"},
            {"id": "till", "state": "needs_assistance", "zone_kinds": ["checkout"], "severity": "urgent"},
        ]
    )
    assert m.on_intent(intent(T, "v1", "hesitant")) == []
    assert m.tick(T + 19) == []
    out = m.tick(T + 20)
    assert [e.payload["rule"] for e in out] == ["slow"] and out[0].payload["severity"] == "info"
    assert m.on_intent(intent(T, "v2", "needs_assistance", zone="coffee")) == []  # not a checkout zone
    assert m.on_intent(intent(T, "v3", "needs_assistance", zone="till"))[0].payload["severity"] == "urgent"
    # leaving the state before min_state_s cancels the pending alert
    m.on_intent(intent(T + 100, "v4", "hesitant", zone="z"))
    m.on_intent(intent(T + 110, "v4", "browsing", zone="z"))
    assert [e for e in m.tick(T + 200) if e.type == EventType.ALERT_RAISED] == []
