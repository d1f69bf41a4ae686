"""Queue service levels against the live monitor's reference waits and a hand count, and the
"open a register" alert through the existing acknowledge/escalation path (issue 20)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from storelens.actions.alerts import QUEUE_SLA_RULE
from storelens.actions.dispatcher import ActionEngine
from storelens.analytics.queues import QueueMonitor, measured_waits
from storelens.analytics.zones import ZoneStay, ZoneTransition
from storelens.config.actions import ActionsConfig, AlertsConfig
from storelens.config.behaviour import QueueConfig
from storelens.events.models import EventType
from storelens.kpis.queues import NO_JOINS, ZoneMove, queue_joins, queue_rows

T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def mv(s: float, kind: str, zone: str, subject: str) -> ZoneMove:
    return ZoneMove(at(s), kind, zone, subject)  # type: ignore[arg-type]


def test_outcomes_by_hand() -> None:
    moves = [
        mv(0, "enter", "q", "a"),
        mv(100, "exit", "q", "a"),
        mv(101, "enter", "till", "a"),  # served, 101 s
        mv(10, "enter", "q", "b"),
        mv(50, "exit", "q", "b"),  # left before the till: abandoned
        mv(20, "enter", "q", "c"),
        mv(30, "exit", "q", "c"),
        mv(35, "enter", "q", "c"),  # stepped out and back
        mv(300, "enter", "till", "c"),  # served, from the last join: 265 s
        mv(40, "enter", "till", "d"),  # the till without queueing: no join
        mv(3000, "enter", "q", "e"),  # still queuing at the end of the data
        mv(60, "enter", "q", "f"),
        mv(2000, "enter", "till", "f"),  # the till only after max_wait: abandoned
    ]
    joins = queue_joins(moves, "q", "till", 1800, data_end=at(3010))
    got = {(j.subject, j.outcome, j.wait_s) for j in joins}
    assert got == {
        ("a", "served", 101.0),
        ("b", "abandoned", 40.0),
        ("c", "served", 265.0),
        ("e", "waiting", None),
        ("f", "abandoned", None),
    }
    rows, total = queue_rows(joins, T0, T0 + timedelta(hours=1), UTC, "hour", target_s=180, share=0.9)
    assert (total.joined, total.served, total.abandoned, total.waiting) == (5, 2, 2, 1)
    assert total.served_within_target == 1 and total.service_level == pytest.approx(0.5)
    assert total.target_met is False and total.abandonment_rate == pytest.approx(0.5)
    assert total.median_wait_s == pytest.approx(183.0) and total.max_wait_s == pytest.approx(265.0)
    assert rows[0].joined == 5
    empty, _ = queue_rows([], T0, T0 + timedelta(hours=1), UTC, "hour", 180, 0.9)
    assert empty[0].service_level is None and empty[0].notes["service_level"] == NO_JOINS


def test_waits_match_the_live_reference_on_a_simulated_till() -> None:
    """A till serving one shopper every ~40 s with arrivals every ~35 s: the stored-event waits
    equal :func:`measured_waits` (the live monitor's reference form) on the same stays."""
    rng = np.random.default_rng(7)
    arrive = np.cumsum(rng.exponential(35, size=80))
    free = 0.0
    stays: list[ZoneStay] = []
    moves: list[ZoneMove] = []
    for i, t in enumerate(arrive):
        start = max(t, free) + 2.0
        free = start + rng.exponential(40)
        sid = f"s{i}"
        stays += [
            ZoneStay(i, "q", t, start, start - t, t, start),
            ZoneStay(i, "till", start, free, free - start, start, free),
        ]
        moves += [mv(t, "enter", "q", sid), mv(start - 0.5, "exit", "q", sid), mv(start, "enter", "till", sid)]
    ref = sorted(measured_waits(stays, "q", "till", 1800))
    joins = queue_joins(moves, "q", "till", 1800, data_end=at(float(free) + 10))
    got = sorted(j.wait_s for j in joins if j.outcome == "served" and j.wait_s is not None)
    assert len(got) == len(ref) == 80
    assert got == pytest.approx(ref, abs=1e-6)
    _, total = queue_rows(joins, T0, T0 + timedelta(hours=3), UTC, "day", 180, 0.9)
    assert total.service_level == pytest.approx(sum(w <= 180 for w in ref) / len(ref))
    assert total.p90_wait_s == pytest.approx(float(np.percentile(ref, 90)), abs=0.01)


def tr(kind: str, zone: str, subj: int, t: float) -> ZoneTransition:
    return ZoneTransition(kind, zone, subj, t, T0.timestamp() + t)


def test_predicted_breach_raises_open_a_register_acknowledged_and_escalated() -> None:
    q = QueueConfig(queue_zone="q", checkout_zone="till", window_s=600, update_interval_s=0, sla_wait_s=120)
    monitor = QueueMonitor("s", "cam", q)
    engine = ActionEngine(
        "s", ActionsConfig(alerts=AlertsConfig(escalate_after_min=2, cooldown_visit_s=600)), queues=[q]
    )
    out = []
    # one served at 60 s (service rate 1/min), then 4 more join: a newcomer would wait 4 min
    steps = [(0, [tr("enter", "q", 1, 0)], 1), (60, [tr("enter", "till", 1, 60)], 0)]
    steps += [(70 + 5 * k, [tr("enter", "q", 10 + k, 70 + 5 * k)], k + 1) for k in range(4)]
    for t, trs, length in steps:
        evs = monitor.update(trs, length, t, T0.timestamp() + t)
        out += engine.process(T0.timestamp() + t, evs)
    raised = [e for e in out if e.type == EventType.ALERT_RAISED]
    assert len(raised) == 1
    p = raised[0].payload
    assert p["rule"] == QUEUE_SLA_RULE and p["action"] == "open_register" and p["predicted_wait_s"] > 120
    assert raised[0].subject == "queue-q" and raised[0].zone_id == "q"
    # predicted = people ahead / service rate, the rate being 1 service over the t seconds seen
    first_over = next(t for t, _, n in steps if t >= 60 and n / (1 / t) > 120)
    assert raised[0].ts == at(first_over)
    # not acknowledged within 2 min: escalated once
    esc = engine.process(T0.timestamp() + first_over + 121)
    assert [e.type for e in esc] == [EventType.ALERT_ESCALATED]
    # a register opens: the queue drains, the prediction drops under the target and the alert closes
    t = first_over + 130
    closed = []
    for k in range(4):
        evs = monitor.update([tr("enter", "till", 10 + k, t + k)], 3 - k, t + k, T0.timestamp() + t + k)
        closed += [e for e in engine.process(T0.timestamp() + t + k, evs) if e.type == EventType.ALERT_CLOSED]
    assert len(closed) == 1 and closed[0].payload["reason"] == "queue_recovered"
    # a queue without a target never raises
    plain = ActionEngine("s", ActionsConfig(), queues=[q.model_copy(update={"sla_wait_s": None})])
    m2 = QueueMonitor("s", "cam", q)
    assert all(plain.process(T0.timestamp() + t, m2.update(trs, n, t, T0.timestamp() + t)) == [] for t, trs, n in steps)
