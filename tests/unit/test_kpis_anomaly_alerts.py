"""Forecast anomaly staff alerts (issue 20): planted anomalies raise one typed alert, normal
histories stay quiet, and the alert is acknowledged, escalated, cooled down and closed like any."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from storelens.actions.alerts import FORECAST_RULE, AlertManager
from storelens.config.actions import AlertsConfig
from storelens.config.store import StoreConfig
from storelens.events.models import Event, EventType
from storelens.events.payloads import AlertClosed, AlertEscalated, AlertRaised, typed
from storelens.kpis.anomaly_watch import ForecastWatch, replay
from storelens.kpis.synthetic import WEEK, buyers, expected_week, history
from storelens.storage import open_database, store_events

T0 = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
STORE = StoreConfig(store_id="s", cameras=[{"id": "c", "source": "x.mp4"}])
BUSY = int(np.argmax(expected_week()))  # Saturday's evening peak


def _raised(events: list[Event], metric: str) -> list[AlertRaised]:
    return [p for e in events if (p := typed(e, AlertRaised)) is not None and p.metric == metric]


def test_a_dead_afternoon_raises_one_alert_that_closes_when_traffic_is_back() -> None:
    y, rate = history(6, seed=4)
    b = buyers(y, seed=4)
    h0 = 5 * WEEK + BUSY - 3
    y[h0 : h0 + 4] = np.round(rate[h0 : h0 + 4] * 0.2)  # the entrance blocked for 4 hours
    b[h0 : h0 + 4] = np.round(y[h0 : h0 + 4] * 0.2)
    ev = replay(y, b, STORE, 5 * WEEK, T0)
    raised = _raised(ev, "entries")
    assert len(raised) == 1  # one alert for the run of bad hours, not one an hour
    a = raised[0]
    assert a.rule == FORECAST_RULE and a.action == "check_store" and a.severity == "warning"
    assert a.hour_start == (T0 + timedelta(hours=h0)).isoformat()  # caught in the first bad hour
    assert a.observed is not None and a.band_low is not None and a.expected is not None
    assert a.observed < a.band_low < a.expected
    closes = [p for e in ev if (p := typed(e, AlertClosed)) is not None and p.alert_id == a.alert_id]
    assert [c.reason for c in closes] == ["back_in_band"]
    # a conversion that holds is not a conversion alarm
    assert not [p for p in _raised(ev, "conversion") if p.hour_start == a.hour_start]


def test_a_till_outage_is_a_conversion_alert() -> None:
    y, _ = history(6, seed=5)
    b = buyers(y, seed=5)
    h0 = 5 * WEEK + BUSY - 4
    b[h0 : h0 + 4] = 0  # nothing rung up for 4 busy hours
    raised = _raised(replay(y, b, STORE, h0, T0), "conversion")
    assert raised and raised[0].observed is not None and raised[0].band_low is not None
    assert raised[0].observed < raised[0].band_low
    assert raised[0].hour_start is not None and raised[0].hour_start < (T0 + timedelta(hours=h0 + 4)).isoformat()


@pytest.mark.parametrize("seed", [11, 12])
def test_normal_weeks_stay_quiet(seed: int) -> None:
    # alpha 0.001 per hour and metric: 2 checked weeks (336 hours x 2 metrics) expect < 1 alarm
    y, _ = history(6, seed=seed)
    ev = replay(y, buyers(y, seed=seed), STORE, 4 * WEEK, T0)
    assert len(_raised(ev, "entries")) + len(_raised(ev, "conversion")) <= 2


def test_ack_escalation_and_cooldown() -> None:
    am = AlertManager("s", AlertsConfig(escalate_after_min=3, cooldown_visit_s=3 * 3600))
    t = T0.timestamp()
    first = am.on_forecast("entries", "h1", 2, 30, 15, 45, t)
    assert len(first) == 1 and first[0].subject == "forecast-entries"
    assert am.on_forecast("entries", "h2", 3, 30, 15, 45, t + 3600) == []  # still open: no second
    esc = am.tick(t + 3600 + 200)
    assert [typed(e, AlertEscalated) is not None for e in esc] == [True]
    closed = am.on_forecast("entries", "h3", 30, 30, 15, 45, t + 7200)
    assert [typed(e, AlertClosed).reason for e in closed] == ["back_in_band"]  # type: ignore[union-attr]
    assert am.on_forecast("entries", "h4", 1, 30, 15, 45, t + 7200 + 60) == []  # cooldown after raising
    again = am.on_forecast("conversion", "h4", 0.01, 0.2, 0.1, 0.3, t + 7200 + 60)
    assert len(again) == 1  # each metric its own alert
    ack = am.acknowledge(again[0].payload["alert_id"], "anna", t + 7300)
    assert ack.type == EventType.ALERT_ACKNOWLEDGED
    assert am.tick(t + 9000) == []  # acknowledged: no escalation


def test_the_watch_reads_stored_entries_and_checks_each_hour_once(tmp_path: Path) -> None:
    store = StoreConfig.model_validate(
        {
            "store_id": "s",
            "timezone": "UTC",
            "cameras": [{"id": "c", "source": "x.mp4"}],
            "lines": [{"id": "door", "camera": "c", "a": [0, 50], "b": [100, 50], "role": "entrance"}],
            "actions": {"alerts": {"forecast_anomaly": {"metrics": ["entries"]}}},
        }
    )
    y, _ = history(4, base=15.0, seed=8)
    dead = 3 * WEEK + BUSY
    y[dead] = 0
    events = [
        Event(
            type="line.crossed",
            store_id="s",
            ts=T0 + timedelta(hours=h, seconds=int(3599 * (j + 0.5) / y[h])),
            camera_id="c",
            subject=f"p{h}-{j}",
            payload={"line_id": "door", "direction": "in"},
        )
        for h in range(dead + 1)
        for j in range(int(y[h]))
    ]
    db = open_database(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        with db.begin() as conn:
            store_events(conn, events, buckets_s=[3600])
        watch = ForecastWatch(db, store)
        now = (T0 + timedelta(hours=dead + 1, minutes=1)).timestamp()
        out = watch.check(now)
        raised = _raised(out, "entries")
        assert len(raised) == 1 and raised[0].observed == 0
        assert raised[0].hour_start == (T0 + timedelta(hours=dead)).isoformat()
        assert _raised(watch.check(now + 60), "entries") == []  # the hour was checked already
    finally:
        db.close()
