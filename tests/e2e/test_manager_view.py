"""What a store manager reads (issue 17), in a real headless Chromium: signed-out visits go to the
sign-in page, charts over time render from stored data, a camera that cannot keep up is shown
as lagging / behind real time (not "Online"), and the API docs render with no request leaving
the machine. Screenshots at 1280x720 and tablet size (820x1180) go to $STORELENS_SCREENSHOTS
(default /tmp/storelens-screens) to be looked at."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np
import pytest
from playwright.sync_api import Page, expect

from storelens.analytics.heatmap import HeatBucket, HeatmapGrid
from storelens.events.models import Event
from storelens.storage import store_events
from storelens.storage.heatmaps import add_heatmap_buckets
from storelens.storage.records import PosTransaction, insert_pos_transactions

if TYPE_CHECKING:
    from conftest import Dashboard, OfflineServer, SecureServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SHOTS = Path(os.environ.get("STORELENS_SCREENSHOTS", "/tmp/storelens-screens"))
SIZES = {"desktop": (1280, 720), "tablet": (820, 1180)}


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, (w, h) in SIZES.items():
        page.set_viewport_size({"width": w, "height": h})
        page.wait_for_timeout(300)  # the page re-lays out; charts are SVG and scale
        page.screenshot(path=str(SHOTS / f"{name}-{label}.png"))
        page.screenshot(path=str(SHOTS / f"{name}-{label}-full.png"), full_page=True)
        # nothing may stick out sideways at either size (a tablet must not scroll horizontally)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"{name} at {w}x{h}: {overflow} px wider than the window"


def test_a_signed_out_visit_goes_to_the_sign_in_page(secure_dashboard: Dashboard) -> None:
    server: SecureServer = secure_dashboard.server  # type: ignore[assignment]
    # the server answers the page itself with the redirect: no dashboard that cannot load
    r = httpx.get(f"{server.url}/?range=week", follow_redirects=False)
    assert r.status_code == 303, r.status_code
    assert r.headers["location"] == "/login?next=%2F%3Frange%3Dweek"
    page = secure_dashboard.page
    page.goto(f"{server.url}/dashboard")
    page.wait_for_url(re.compile(r"/login\?next=%2Fdashboard$"))
    expect(page.locator("#login-form")).to_be_visible()
    expect(page.locator("#store-meta")).to_have_count(0)  # "Loading store…" never showed
    assert secure_dashboard.console_errors == []


def _at(ts: datetime, type_: str, **kw: object) -> Event:
    return Event(type=type_, store_id="demo", ts=ts, camera_id="counter-cam", **kw)  # type: ignore[arg-type]


def test_charts_heat_map_and_events_in_words_with_stored_data(offline_dashboard: Dashboard) -> None:
    server: OfflineServer = offline_dashboard.server  # type: ignore[assignment]
    now = datetime.now(UTC) - timedelta(minutes=1)
    events: list[Event] = []
    for hours_ago, people in ((3, 4), (2, 7), (1, 2), (0, 5)):
        t = now - timedelta(hours=hours_ago)
        for n in range(people):
            subject = f"v{hours_ago}-{n}"
            events.append(
                _at(t, "line.crossed", subject=subject, payload={"line_id": "counter-approach", "direction": "in"})
            )
            if n % 2:
                events.append(
                    _at(t, "line.crossed", subject=subject, payload={"line_id": "counter-approach", "direction": "out"})
                )
            for zone, dwell in (("counter", 10.0 + 3 * n), ("walkway", 4.0)):
                events.append(_at(t, "zone.entered", zone_id=zone, subject=subject))
                exited = t + timedelta(seconds=dwell)
                events.append(_at(exited, "zone.exited", zone_id=zone, subject=subject, payload={"dwell_s": dwell}))
    events.append(
        _at(
            now,
            "zone.lingering",
            zone_id="counter",
            subject="v0-0",
            payload={"duration_s": 8.5, "mean_speed": 9.16, "speed_unit": "px/s"},
        )
    )
    with server.deps.db.begin() as conn:
        store_events(conn, events, buckets_s=server.deps.store.storage.aggregate_buckets_s)
        grid = HeatmapGrid.covering("image", 768, 432, 16.0)
        cells = np.arange(700, 1100, 7, dtype=np.int32)
        start = now.timestamp() - now.timestamp() % 900
        bucket = HeatBucket(
            start, 900, cells, np.ones(len(cells), np.uint32), np.linspace(1, 30, len(cells), dtype=np.float32)
        )
        add_heatmap_buckets(conn, store_id="demo", camera_id="counter-cam", grid=grid, buckets=[bucket])
        # a calibrated camera's map is on the floor, in metres: it gets a scale bar
        floor = HeatmapGrid.covering("floor", 12.0, 8.0, 0.5)
        fcells = np.arange(40, 300, 9, dtype=np.int32)
        fbucket = HeatBucket(start, 900, fcells, np.ones(len(fcells), np.uint32), np.ones(len(fcells), np.float32))
        add_heatmap_buckets(conn, store_id="demo", camera_id="entrance-cam", grid=floor, buckets=[fbucket])

    page = offline_dashboard.open("?range=week")
    footfall = page.locator("svg[data-chart='footfall']")
    expect(footfall).to_be_visible()
    assert int(footfall.get_attribute("data-bars") or 0) >= 4  # in bars for four hours (and outs)
    assert footfall.locator("rect").count() >= 6
    expect(page.locator("figure[data-chart='footfall'] .legend")).to_contain_text("in")
    for chart in ("zone-visits", "zone-dwell"):
        svg = page.locator(f"svg[data-chart='{chart}']")
        expect(svg).to_be_visible()
        assert int(svg.get_attribute("data-bars") or 0) >= 4, chart
    # a bar's hover text says the value with its unit
    titles = page.locator("svg[data-chart='zone-dwell'] rect title").all_text_contents()
    assert any(re.search(r"Counter, .*: \d+(\.\d)? s$", t) for t in titles), titles[:5]
    # the heat map is drawn large, with the camera's zones outlined
    canvas = page.locator("#heatmaps canvas[data-camera='counter-cam']")
    expect(canvas).to_be_visible()
    assert canvas.get_attribute("data-zones") == "3"  # counter, counter-top, walkway
    assert (canvas.bounding_box() or {"width": 0})["width"] >= 600
    floor_map = page.locator("#heatmaps canvas[data-camera='entrance-cam']")
    expect(floor_map).to_have_attribute("data-unit", "m")
    expect(floor_map).to_have_attribute("data-scale", "2 m")  # a fifth of the 12 m width, rounded down
    # events in words, with units (not "mean_speed 9.16")
    feed = page.locator("#feed li[data-type='zone.lingering']")
    expect(feed.first).to_contain_text("Lingered in Counter for 8.5 s, moving at 9.2 px/s")
    shoot(page, "dashboard-charts")
    assert offline_dashboard.console_errors == []


def test_hourly_conversion_chart_from_stored_visits_and_sales(offline_dashboard: Dashboard) -> None:
    """Today's view is hourly, so the optional conversion chart (GET /pos/conversion) is drawn:
    8 shopper visits and 2 sales in this hour read 25 %. Before any sale there is no chart."""
    server: OfflineServer = offline_dashboard.server  # type: ignore[assignment]
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    t = hour + (now - hour) / 2  # inside this hour, so inside "today" whatever the time
    page = offline_dashboard.open("?range=today")
    # the note is written once every chart of the view was fetched: the hourly ones included
    expect(page.locator("#charts-note")).to_contain_text("per hour")
    expect(page.locator("svg[data-chart='conversion']")).to_have_count(0)  # no POS data: no chart
    events = [_at(t, "visit.started", subject=f"c{n}") for n in range(8)]
    with server.deps.db.begin() as conn:
        store_events(conn, events, buckets_s=server.deps.store.storage.aggregate_buckets_s)
        insert_pos_transactions(conn, [PosTransaction(f"sale{n}", "demo", "r1", t, 9.5) for n in range(2)])
    page = offline_dashboard.open("?range=today")
    chart = page.locator("svg[data-chart='conversion']")
    expect(chart).to_be_visible()
    assert chart.get_attribute("data-bars") == "1"
    titles = chart.locator("rect title").all_text_contents()
    assert any(re.search(r"^conversion, .*: 25 %$", x) for x in titles), titles
    assert offline_dashboard.console_errors == []


def test_a_camera_that_cannot_keep_up_is_shown_as_lagging(lagging_dashboard: Dashboard) -> None:
    """The counter clip paced at 10 fps on a pipeline that manages about 2: the tile says so, with
    the analysed fps against the target, and is not green "Online"."""
    page = lagging_dashboard.open()
    tile = page.locator(".tile[data-camera='counter-cam']")
    # however slow this machine is, the camera ends up lagging or behind real time while it runs
    late = (
        "() => ['lagging', 'behind'].includes(document.querySelector(`.tile[data-camera=counter-cam]`)?.dataset.health)"
    )
    page.wait_for_function(late, timeout=0)
    health = tile.get_attribute("data-health")
    badge = tile.locator("[data-role='health']")
    expect(badge).to_have_text("Lagging" if health == "lagging" else "Behind real time")
    expect(badge).not_to_have_text("Online")
    expect(tile.locator("[data-role='health-detail']")).to_contain_text(re.compile(r"analysing \d+\.\d of 10 fps"))
    expect(tile).to_have_class(re.compile(r"\btile-warn\b"))
    shoot(page, "dashboard-lagging")
    assert lagging_dashboard.console_errors == []


def test_api_docs_render_offline(offline_dashboard: Dashboard) -> None:
    server: OfflineServer = offline_dashboard.server  # type: ignore[assignment]
    page = offline_dashboard.page
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(f"{server.url}/docs")  # redirects to /api/v1/docs
    page.wait_for_url(f"{server.url}/api/v1/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("storelens API")
    expect(page.locator(".opblock-tag-section").first).to_be_visible()
    foreign = [u for u in requested if not u.startswith(server.url) and not u.startswith("data:")]
    assert not foreign, f"the docs page reached outside the service: {foreign}"
    shoot(page, "api-docs")
    assert offline_dashboard.console_errors == []


def test_journey_flow_picture_from_stored_store_visits(offline_dashboard: Dashboard) -> None:
    """Fused store visits with journeys (issue 18) become the flow picture: one band per
    zone-to-zone flow, as wide as its count, back-flows as fainter arcs, and the first/last zone tables."""
    server: OfflineServer = offline_dashboard.server  # type: ignore[assignment]
    now = datetime.now(UTC) - timedelta(minutes=5)
    walks = [["door", "fruit", "bakery", "till"]] * 3 + [["door", "bakery", "fruit", "bakery", "till"]]
    events: list[Event] = []
    for i, walk in enumerate(walks):
        t = now + timedelta(seconds=10 * i)
        end = {"fused": True, "journey": walk, "cameras": 2, "duration_s": 60.0}
        for ts, kind, payload in (
            (t, "visit.started", {"fused": True}),
            (t + timedelta(seconds=60), "visit.ended", end),
        ):
            events.append(Event(type=kind, store_id="demo", ts=ts, subject=f"s{i}", payload=payload))  # type: ignore[arg-type]
    with server.deps.db.begin() as conn:
        store_events(conn, events, buckets_s=server.deps.store.storage.aggregate_buckets_s)
    page = offline_dashboard.open()
    chart = page.locator("#journeys svg.flow-chart")
    expect(chart).to_be_visible()
    bands = {(p.get_attribute("data-from"), p.get_attribute("data-to")): p for p in chart.locator("path.flow").all()}
    assert set(bands) == {
        ("door", "fruit"),
        ("fruit", "bakery"),
        ("bakery", "till"),
        ("door", "bakery"),
        ("bakery", "fruit"),
    }
    assert bands[("fruit", "bakery")].get_attribute("data-count") == "4"
    width = {k: float(p.get_attribute("stroke-width") or 0) for k, p in bands.items()}
    assert width[("fruit", "bakery")] > width[("door", "fruit")] > width[("door", "bakery")]
    assert "back" in (bands[("bakery", "fruit")].get_attribute("class") or "")  # against the main flow: an arc
    # the demo store has no floor checkout zone, so "till" here is a zone like any other
    expect(page.locator("#journeys")).to_contain_text("4 store visits, 0 reached a till")
    expect(page.locator("#journeys table").first).to_contain_text("door")
    shoot(page, "dashboard-journeys")
    assert offline_dashboard.console_errors == []
