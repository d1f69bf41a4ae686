"""The KPI panel with data (issue 20), in a real headless Chromium: a small synthetic history
(:mod:`storelens.kpis.synthetic`: three weeks of visits ending this hour, POS sales, promotion
triggers with a hold-out, zone entries around a layout change) is stored in the offline server's
database, and the forecast with its staffing plan, the experiments table and the layout-change
view must show the numbers the API gives, not "not measured"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pytest
from playwright.sync_api import expect

from storelens.events.models import Event
from storelens.kpis.synthetic import WEEK, buyers, history
from storelens.storage import store_events
from storelens.storage.records import PosTransaction, insert_pos_transactions

if TYPE_CHECKING:
    from conftest import Dashboard, OfflineServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

STORE = "demo"
CAMERA = "counter-cam"
VISIT_S = 600  # every seeded visit lasts 10 minutes: the staffing plan's mean visit length
WEEKS = 3
LAYOUT_BEFORE = [4, 5, 4, 5, 4]  # counter (the changed zone) entries per day before the change
LAYOUT_AFTER = [9, 10, 9, 10]
CONTROL = [6, 5, 6, 5, 6, 0, 6, 5, 6, 5]  # walkway, the day of the change (index 5) left out


def _event(type_: str, ts: datetime, subject: str | None = None, **kw: object) -> Event:
    payload = kw.pop("payload", {})
    return Event(type=type_, store_id=STORE, ts=ts, camera_id=CAMERA, subject=subject, payload=payload, **kw)


def _history(now: datetime) -> tuple[list[Event], list[PosTransaction]]:
    """Visits per hour from :func:`history` (a Monday-first weekly pattern) from the Monday
    ``WEEKS`` weeks back up to this hour, one POS sale per :func:`buyers` draw in each hour."""
    monday = (now - timedelta(days=now.weekday(), weeks=WEEKS)).replace(hour=0, minute=0, second=0, microsecond=0)
    hours = int((now - monday).total_seconds() // 3600)
    y, _ = history(WEEKS + 1, base=2.0, seed=3)
    y = y[:hours]
    b = buyers(y, conversion=0.25, seed=3)
    events: list[Event] = []
    sales: list[PosTransaction] = []
    for h in np.flatnonzero(y):
        t0 = monday + timedelta(hours=int(h))
        for j in range(int(y[h])):
            start = t0 + timedelta(seconds=int(3000 * j / y[h]))
            vid = f"v{h}-{j}"
            events.append(_event("visit.started", start, vid))
            end = start + timedelta(seconds=VISIT_S)
            events.append(_event("visit.ended", end, vid, payload={"duration_s": VISIT_S}))
        for j in range(int(b[h])):
            sales.append(PosTransaction(f"t{h}-{j}", STORE, "r1", t0 + timedelta(seconds=60 * j + 30), 12.5))
    return events, sales


def _promotions(now: datetime) -> list[Event]:
    """40 triggers over the last two days, every 4th in the hold-out; 3 in 4 treated ones are
    followed by a leaflet pick at the counter (category "leaflets"), 1 in 10 hold-outs."""
    out: list[Event] = []
    for i in range(40):
        ts = now - timedelta(hours=47) + timedelta(minutes=60 * i)
        held = i % 4 == 0
        arm = "holdout" if held else "treated"
        payload = {"rule": "leaflet-offer", "category": "leaflets", "holdout": held, "arm": arm}
        out.append(_event("promotion.triggered", ts, payload=payload))
        if (not held and i % 4 != 3) or (held and i % 40 == 0):
            out.append(_event("product.picked", ts + timedelta(seconds=60), f"p{i}", zone_id="counter"))
    return out


def _layout(day0: datetime) -> list[Event]:
    """Zone entries per day: the counter doubles from the change day (index 5) on, the walkway not."""
    counter = [*LAYOUT_BEFORE, 0, *LAYOUT_AFTER]
    out: list[Event] = []
    for zone, counts in (("counter", counter), ("walkway", CONTROL)):
        for d, n in enumerate(counts):
            for j in range(n):
                ts = day0 + timedelta(days=d, hours=10, minutes=5 * j)
                out.append(_event("zone.entered", ts, f"{zone}-{d}-{j}", zone_id=zone))
    return out


def test_forecast_staffing_experiments_and_layout_change_render_with_data(offline_dashboard: Dashboard) -> None:
    server: OfflineServer = offline_dashboard.server  # type: ignore[assignment]
    now = datetime.now(UTC)
    events, sales = _history(now)
    layout_day0 = (now - timedelta(days=40)).replace(hour=0, minute=0, second=0, microsecond=0)
    with server.deps.db.begin() as conn:
        store_events(conn, [*events, *_promotions(now), *_layout(layout_day0)], buckets_s=[3600])
        insert_pos_transactions(conn, sales)

    with offline_dashboard.page.expect_response(lambda r: "/kpis/forecast" in r.url) as forecast_answer:
        page = offline_dashboard.open()
    api = forecast_answer.value.json()  # the forecast the page itself asked for (its own clock's hour)
    kpis = page.locator("#kpis")
    expect(kpis.locator("caption")).to_contain_text(["Funnel", "Buying units", "Forecast, next 7 days"])

    # the forecast: the method against seasonal-naive, 7 days whose entries add up to the API's
    forecast = kpis.locator("table:has(caption:text('Forecast, next 7 days'))")
    expect(forecast).to_contain_text(re.compile(r"MAE [\d.]+ vs seasonal-naive [\d.]+ \(MASE [\d.]+\)"))
    assert len(api["hours"]) == WEEK and api["method"] in {"seasonal_naive", "seasonal_mean"}
    day_rows = forecast.locator("tbody tr").filter(has=page.locator("td")).filter(has_text=re.compile(r"^\w{3}[, ]"))
    n_days = len({h["start"][:10] for h in api["hours"]})  # calendar days of the browser (UTC)
    expect(day_rows).to_have_count(n_days)
    entries = [float(day_rows.nth(i).locator("td").nth(0).inner_text()) for i in range(n_days)]
    assert sum(entries) == pytest.approx(sum(h["forecast"] for h in api["hours"]), abs=0.5 * n_days)  # days rounded
    staff = [day_rows.nth(i).locator("td").nth(1).inner_text() for i in range(n_days)]
    assert all(s.isdigit() for s in staff) and sum(map(int, staff)) > 0, staff  # measured, from stored visits
    expect(forecast.locator("tr:has-text('Anomalous hours last week') td")).to_have_text(re.compile(r"^\d+$"))

    # the funnel now has buyers and a conversion (POS), not "not measured"
    expect(kpis.locator("tr:has-text('Conversion') td").first).to_have_text(re.compile(r"^\d+\.\d %$"))

    # experiments: the promotion's uplift against its hold-out, with the interval and the verdict
    ex = kpis.locator("table:has(caption:text('Experiments (treated vs hold-out)'))")
    expect(ex.locator("tr:has-text('leaflet-offer')")).to_contain_text("30 treated / 10 hold-out")
    expect(ex.locator("tr:has-text('leaflet-offer') td").first).to_have_text(
        re.compile(r"^\+56\.7 pp \[\+\d+\.\d, \+\d+\.\d\] pp, significant: treated higher$")  # 20/30 - 1/10
    )

    # layout change: "not measured" until zone, control and day are chosen, then the comparison
    layout = kpis.locator("form[aria-label='Layout change']")
    expect(kpis).to_contain_text("Layout change: not measured: choose the changed zone")
    layout.locator("select[aria-label='Changed zone']").select_option("counter")
    layout.locator("select[aria-label='Control zone']").select_option("walkway")
    layout.locator("input[aria-label='Day of the change']").fill((layout_day0 + timedelta(days=5)).date().isoformat())
    layout.locator("input[aria-label='Days compared on each side']").fill("10")
    with page.expect_response(lambda r: "/kpis/layout-change" in r.url) as answer:
        layout.locator("button[type='submit']").click()
    body = answer.value.json()
    # by hand: the seeded days, and 0 a day on the other days of the window (no zone entries there)
    nb, na = body["days_before"], body["days_after"]
    assert nb == 10 and na >= len(LAYOUT_AFTER)  # 10 store days before the day of the change
    zb, za = sum(LAYOUT_BEFORE) / nb, sum(LAYOUT_AFTER) / na
    effect = (sum(LAYOUT_AFTER) - sum(CONTROL[6:])) / na - (sum(LAYOUT_BEFORE) - sum(CONTROL[:5])) / nb
    assert body["effect"] == pytest.approx(effect)
    result = kpis.locator("table:has(caption:text('Layout change: counter against walkway'))")
    expect(result.locator("tr:has-text('Days before / after') td")).to_have_text(f"{nb} / {na}")
    expect(result.locator("tr:has-text('counter visits a day') td")).to_have_text(f"{zb:.1f} → {za:.1f}")
    expect(result.locator("tr:has-text('Effect of the change') td")).to_contain_text(
        f"{effect:+.1f} visits/day [{body['effect_low']:+.1f}, {body['effect_high']:+.1f}], {body['verdict']}"
    )
    assert offline_dashboard.console_errors == []
