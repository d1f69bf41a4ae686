"""The dashboard in a real headless Chromium against the real service and the real demo pipeline.

Order matters for speed, not for correctness: the first test connects a page while the camera
pipeline waits at its gate, opens the gate and watches live overlays arrive; later tests ask for the
finished run (``finish_pipeline``) and check what it stored. Each test opens its own page.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Page, Route, WebSocketRoute, expect

from storelens.analytics.heatmap import HeatBucket, HeatmapGrid
from storelens.events.models import Event
from storelens.service.dashboard import dashboard_router
from storelens.storage import store_events
from storelens.storage.heatmaps import add_heatmap_buckets
from storelens.storage.records import get_alert

if TYPE_CHECKING:  # fixtures' types (conftest is not importable as a package module)
    from conftest import Dashboard, LiveServer, OfflineServer, SecureServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SCREENSHOT = "/tmp/dashboard.png"  # the page after the demo run (full page)
LIVE_SCREENSHOT = "/tmp/dashboard-live.png"  # 1280x800 while the camera runs
DEMO_ZONES = ("counter", "counter-top", "entrance", "walkway")
CAMERA = "counter-cam"
NO_HEAT = "No heat-map data for this period."


def _event(type_: str, **kw: object) -> Event:
    return Event(type=type_, store_id="demo", ts=datetime.now(UTC), **kw)  # type: ignore[arg-type]


def _int(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text) or "-1")


# ----------------------------------------------------------------------------- while live


def test_camera_tile_and_live_overlay_while_the_pipeline_runs(dashboard: Dashboard) -> None:
    page = dashboard.open()
    # every page here runs under the security layer's strict policy: a violation is a console error
    assert dashboard.response is not None
    assert "script-src" not in dashboard.response.headers["content-security-policy"]  # 'self' only
    tile = page.locator(f".tile[data-camera='{CAMERA}']")
    expect(tile).to_contain_text("Counter camera")
    # the camera waits at the gate: no frame yet, the heat-map panel says so instead of failing
    expect(page.locator("#heatmaps")).to_contain_text("No frames analysed yet")
    page.wait_for_selector("body[data-stream='open']")
    expect(page.locator("#live-pill")).to_have_text("Live")

    dashboard.server.start_pipeline()
    canvas = page.locator(f"canvas.overlay[data-camera='{CAMERA}']")
    # overlay messages arrive over the WebSocket and are drawn: frame numbers advance
    expect(canvas).not_to_have_attribute("data-frame", "", timeout=120_000)
    first = int(canvas.get_attribute("data-frame") or "0")
    page.wait_for_function(
        "([sel, f]) => Number(document.querySelector(sel).dataset.frame) > f",
        arg=[f"canvas.overlay[data-camera='{CAMERA}']", first],
        timeout=60_000,
    )
    # a shopper is in view during the first seconds of the clip: boxes were drawn
    page.wait_for_function(
        "sel => Number(document.querySelector(sel).dataset.objects) > 0",
        arg=f"canvas.overlay[data-camera='{CAMERA}']",
        timeout=60_000,
    )
    drawn = page.evaluate(
        """sel => {
            const c = document.querySelector(sel);
            const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let coloured = 0;
            for (let i = 0; i < px.length; i += 4) {
                const [r, g, b] = [px[i], px[i + 1], px[i + 2]];
                if (Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured++;  // saturated: a box, not the
            }                                                                 // dark ground or grey zones
            return coloured;
        }""",
        f"canvas.overlay[data-camera='{CAMERA}']",
    )
    assert drawn > 50, "no coloured box pixels on the overlay canvas"
    page.screenshot(path=LIVE_SCREENSHOT)
    # the tile refreshes by itself and shows the running camera
    expect(tile.locator("dd").nth(3)).not_to_have_text("0", timeout=20_000)
    assert dashboard.console_errors == []


def test_live_event_appears_in_the_feed_and_chips_filter_it(dashboard: Dashboard) -> None:
    page = dashboard.open()
    page.wait_for_selector("body[data-stream='open']")
    subject = f"e2e{uuid.uuid4().hex[:6]}"
    event = _event("queue.updated", camera_id=CAMERA, zone_id="walkway", subject=subject, payload={"length": 3})
    dashboard.server.deps.bus.publish(event)
    item = page.locator(f"#feed li[data-id='{event.id}']")
    expect(item).to_be_visible(timeout=5_000)
    expect(item).to_contain_text("Queue at Walkway: 3 waiting")  # in words (words.js)
    expect(item).to_contain_text(f"#{event.subject}")

    page.locator("#chips button[data-category='queue']").click()
    expect(item).to_have_count(0)
    expect(page.locator("#chips button[data-category='queue']")).to_have_attribute("aria-pressed", "false")
    page.locator("#chips button[data-category='all']").click()
    expect(item).to_be_visible()
    assert dashboard.console_errors == []


def test_text_from_the_api_is_shown_as_text_never_as_markup(dashboard: Dashboard) -> None:
    page = dashboard.open()
    page.wait_for_selector("body[data-stream='open']")
    hostile = '<img src=x onerror="window.__pwned=1">'
    event = _event(
        "alert.raised",
        camera_id=CAMERA,
        subject=hostile,
        payload={"alert_id": f"xss-{uuid.uuid4().hex[:6]}", "message": "<b>bold</b><script>window.__pwned=2</script>"},
    )
    dashboard.server.deps.bus.publish(event)
    item = page.locator(f"#feed li[data-id='{event.id}']")
    expect(item).to_contain_text(hostile)
    expect(item).to_contain_text("<b>bold</b>")
    # the database sink stores the alert; the alerts panel shows it after its live refresh
    dashboard.server.deps.flush()
    alert = page.locator(f"#alerts li[data-alert='{event.payload['alert_id']}']")
    expect(alert).to_contain_text("<b>bold</b><script>", timeout=15_000)
    assert page.locator("#feed img, #feed b, #alerts b, #alerts script").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert dashboard.console_errors == []


def test_intent_counts_follow_live_intent_changes(dashboard: Dashboard) -> None:
    page = dashboard.open()
    page.wait_for_selector("body[data-stream='open']")
    # two random visits: one goes browsing -> considering, the other browsing
    a, b = f"i{uuid.uuid4().hex[:6]}", f"i{uuid.uuid4().hex[:6]}"
    for subject, state, previous in ((a, "browsing", None), (b, "browsing", None), (a, "considering", "browsing")):
        payload = {"state": state, "previous": previous, "score": 0.7, "reasons": ["dwell"]}
        dashboard.server.deps.bus.publish(_event("intent.changed", camera_id=CAMERA, subject=subject, payload=payload))
    considering = page.locator("#intents li[data-intent='considering'] .bar-value")
    browsing = page.locator("#intents li[data-intent='browsing'] .bar-value")
    expect(considering).to_have_text(re.compile(r"^[1-9]\d*$"))
    expect(browsing).to_have_text(re.compile(r"^[1-9]\d*$"))
    # the latest state per visit counts once: a moved from browsing to considering
    before_b = _int(browsing.inner_text())
    before_c = _int(considering.inner_text())
    dashboard.server.deps.bus.publish(
        _event("intent.changed", camera_id=CAMERA, subject=b, payload={"state": "considering", "previous": "browsing"})
    )
    expect(considering).to_have_text(str(before_c + 1))
    if before_b > 1:
        expect(browsing).to_have_text(str(before_b - 1))
    else:  # nobody browses any more: the state's row goes away
        expect(page.locator("#intents li[data-intent='browsing']")).to_have_count(0)
    assert dashboard.console_errors == []


# -------------------------------------------------------------------- after the demo run


def test_zone_table_heat_maps_and_camera_status_after_the_demo_run(dashboard: Dashboard) -> None:
    dashboard.server.finish_pipeline()
    page = dashboard.open("?range=all")
    rows = page.locator("#zones-body tr[data-zone]")
    expect(rows).to_have_count(len(DEMO_ZONES))
    visits = {
        z: _int(page.locator(f"#zones-body tr[data-zone='{z}'] td[data-col='visits']").inner_text()) for z in DEMO_ZONES
    }
    # the first shopper walks along the walkway and stands at the counter within 24 s of video
    assert visits["walkway"] > 0 and visits["counter"] > 0, visits
    counter_cells = page.locator("#zones-body tr[data-zone='counter'] td").all_inner_texts()
    assert counter_cells[1].endswith(" s") and counter_cells[2].endswith(" s"), counter_cells  # median, p90 dwell
    assert _int(counter_cells[4]) >= 1, counter_cells  # peak occupancy from the stays

    tile = page.locator(f".tile[data-camera='{CAMERA}']")
    expect(tile).to_have_attribute("data-state", "finished")
    expect(tile).to_have_attribute("data-health", "finished")
    expect(tile.locator("[data-role='health']")).to_have_text("Finished")
    expect(tile.locator("dd").nth(3)).to_have_text(str(dashboard.server.frames))

    for metric in ("traffic", "dwell"):
        page.locator(f"#heat-metric button[data-metric='{metric}']").click()
        expect(page.locator(f"#heatmaps canvas[data-camera='{CAMERA}'][data-metric='{metric}']")).to_be_visible()
    assert dashboard.console_errors == []


def test_acknowledging_an_alert_updates_the_page_and_the_api(dashboard: Dashboard) -> None:
    server: LiveServer = dashboard.server
    server.finish_pipeline()
    alert_id = f"e2e-{uuid.uuid4().hex[:8]}"
    raised = _event(
        "alert.raised",
        camera_id=CAMERA,
        zone_id="counter",
        subject="a1b2c3",
        payload={
            "alert_id": alert_id,
            "kind": "assistance",
            "severity": "warning",
            "message": "A shopper has been waiting at the counter for 45 s",
        },
    )
    with server.deps.db.begin() as conn:  # through the storage layer, as the database sink does
        store_events(conn, [raised], buckets_s=server.deps.store.storage.aggregate_buckets_s)

    page = dashboard.open("?range=all")
    page.wait_for_selector("body[data-stream='open']")
    item = page.locator(f"#alerts li[data-alert='{alert_id}']")
    expect(item).to_have_attribute("data-state", "open")
    expect(item).to_contain_text("waiting at the counter")
    item.get_by_role("button", name="Acknowledge").click()
    expect(item).to_have_attribute("data-state", "acknowledged")
    expect(item).to_contain_text("Acknowledged at")
    expect(item.get_by_role("button", name="Acknowledge")).to_have_count(0)

    api = httpx.get(f"{server.url}/api/v1/alerts/{alert_id}", timeout=10).json()
    assert api["state"] == "acknowledged" and api["acknowledged_at"] is not None
    # the service publishes alert.acknowledged: it reaches the live feed too
    expect(page.locator("#feed li[data-type='alert.acknowledged']").first).to_be_visible(timeout=5_000)

    expect(page.locator(f"#heatmaps canvas[data-camera='{CAMERA}']")).to_be_visible()
    page.screenshot(path=SCREENSHOT, full_page=True)
    assert dashboard.console_errors == []


# ------------------------------------------------------------------------- failure modes


def test_api_outage_and_lost_stream_show_banners_that_clear(dashboard: Dashboard) -> None:
    page: Page = dashboard.page
    down = {"on": True}

    def api_route(route: Route) -> None:
        if down["on"]:
            body = json.dumps({"detail": "database unavailable"})
            route.fulfill(status=503, content_type="application/json", body=body)
        else:
            route.continue_()

    def ws_route(ws: WebSocketRoute) -> None:
        ws.close(code=1011, reason="e2e: server going away")

    page.route("**/api/v1/**", api_route)
    page.route_web_socket(re.compile(r".*/api/v1/stream.*"), ws_route)
    page.goto(f"{dashboard.server.url}/")
    api_banner = page.locator("#banners [data-key='api']")
    expect(api_banner).to_contain_text("API unavailable (database unavailable)")
    expect(page.locator("#api-pill")).to_have_text("API down")
    expect(page.locator("#banners [data-key='stream']")).to_contain_text(re.compile(r"reconnecting (in \d+ s|now)"))
    expect(page.locator("#live-pill")).to_have_text("Live: reconnecting")
    expect(page.locator("#cameras")).to_contain_text("the API is unavailable")

    # the API comes back: the next camera refresh (every 5 s) notices and every panel reloads
    down["on"] = False
    expect(api_banner).to_have_count(0, timeout=15_000)
    expect(page.locator("#api-pill")).to_have_text("API")
    expect(page.locator(f".tile[data-camera='{CAMERA}']")).to_be_visible()
    expect(page.locator("#store-name")).to_have_text("storelens demo store")
    expect(page.locator("#zones-body tr[data-zone]")).to_have_count(len(DEMO_ZONES))


def test_a_401_sends_the_user_to_the_login_page(dashboard: Dashboard) -> None:
    page: Page = dashboard.page
    page.route(
        "**/api/v1/**",
        lambda route: route.fulfill(
            status=401, content_type="application/json", body=json.dumps({"detail": "authentication required"})
        ),
    )
    page.goto(f"{dashboard.server.url}/?range=hour")
    page.wait_for_url(re.compile(r"/login\?next=%2F%3Frange%3Dhour$"))
    expect(page.locator("#login-form")).to_be_visible()
    page.unroute("**/api/v1/**")
    # this service runs without the security layer: the page says so instead of failing silently
    page.fill("#username", "manager")
    page.fill("#password", "not-a-real-password")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_have_text("Sign-in is not enabled on this server.")


# ------------------------------------------------------------------ with the security layer


def _sign_in(dash: Dashboard, role: str) -> Page:
    """Open the dashboard signed out, get sent to /login, sign in, come back."""
    server: SecureServer = dash.server  # type: ignore[assignment]
    page = dash.page
    page.goto(f"{server.url}/?range=all")
    page.wait_for_url(re.compile(r"/login\?next=%2F%3Frange%3Dall$"))
    page.fill("#username", role)
    page.fill("#password", server.passwords[role])
    page.click("#login-submit")
    page.wait_for_url(f"{server.url}/?range=all")
    page.wait_for_selector("body[data-ready='1']")
    expect(page.locator("#user-name")).to_have_text(f"{role} · {role}")
    # the API's 401s before signing in were logged by the browser; from here on nothing may fail
    dash.console_errors.clear()
    return page


def test_sign_in_then_acknowledge_with_the_csrf_token(secure_dashboard: Dashboard) -> None:
    server: SecureServer = secure_dashboard.server  # type: ignore[assignment]
    alert_id = f"sec-{uuid.uuid4().hex[:8]}"
    raised = _event(
        "alert.raised", camera_id=CAMERA, zone_id="counter", payload={"alert_id": alert_id, "kind": "assistance"}
    )
    with server.deps.db.begin() as conn:
        store_events(conn, [raised], buckets_s=server.deps.store.storage.aggregate_buckets_s)

    page = _sign_in(secure_dashboard, "analyst")
    page.wait_for_selector("body[data-stream='open']")  # the session reaches the WebSocket too
    item = page.locator(f"#alerts li[data-alert='{alert_id}']")
    item.get_by_role("button", name="Acknowledge").click()
    expect(item).to_have_attribute("data-state", "acknowledged")
    with server.deps.db.engine.connect() as conn:
        stored = get_alert(conn, alert_id)
    assert stored is not None and stored.state == "acknowledged"
    assert secure_dashboard.console_errors == []

    # the same request without the header is refused: the helper's X-CSRF-Token is what passed
    status = page.evaluate(
        "async id => (await fetch(`/api/v1/alerts/${id}/ack`, {method: 'POST', credentials: 'same-origin'})).status",
        alert_id,
    )
    assert status == 403

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login$"))
    page.goto(f"{server.url}/")
    page.wait_for_url(re.compile(r"/login\?next=%2F$"))


def test_a_viewer_sees_totals_and_alerts_but_no_per_visit_data(secure_dashboard: Dashboard) -> None:
    page = _sign_in(secure_dashboard, "viewer")
    expect(page.locator("#zones-body tr[data-zone]")).to_have_count(len(DEMO_ZONES))
    expect(page.locator("#zones-note")).to_contain_text("your role needs the analyst role")
    expect(page.locator("#live-pill")).to_have_text("Live: not permitted")
    expect(page.locator("#feed")).to_contain_text("needs the analyst role")
    expect(page.locator("#intents")).to_contain_text("needs the analyst role")
    expect(page.locator(f".tile[data-camera='{CAMERA}']")).to_contain_text("No pipeline")
    # no pipeline here and no heat map stored: the index says so, no map is asked for (no 404)
    expect(page.locator("#heatmaps figure:has-text('Counter camera')")).to_contain_text(NO_HEAT)
    # nothing was asked that the role may not read: no 403 in the console
    assert secure_dashboard.console_errors == []


# ------------------------------------------------------------- without pipelines, stored data


def test_stored_heat_maps_are_shown_without_pipelines(offline_dashboard: Dashboard) -> None:
    """``serve --no-pipelines`` over the database of an earlier run: the panel shows the stored maps
    of the cameras that have some in the period and a note for the others, without a failed request."""
    server: OfflineServer = offline_dashboard.server  # type: ignore[assignment]
    grid = HeatmapGrid.covering("image", 768, 432, 16.0)  # the demo clips' native size
    now = datetime.now(UTC).timestamp()
    cells = np.asarray([100, 101, 149, 150, 1000], np.int32)

    def bucket(start: float) -> HeatBucket:
        start -= start % 900
        return HeatBucket(
            start, 900, cells, np.ones(len(cells), np.uint32), np.linspace(1, 9, len(cells), dtype=np.float32)
        )

    with server.deps.db.begin() as conn:
        add_heatmap_buckets(conn, store_id="demo", camera_id=CAMERA, grid=grid, buckets=[bucket(now)])
        old = bucket(now - timedelta(days=3).total_seconds())
        add_heatmap_buckets(conn, store_id="demo", camera_id="entrance-cam", grid=grid, buckets=[old])
        # a store-level map of fused shoppers (a multi-camera run stored it): floor metres
        floor = HeatmapGrid.covering("floor", 20.0, 20.0, 0.5)  # 1,600 cells: the buckets' fit
        add_heatmap_buckets(conn, store_id="demo", camera_id="*store", grid=floor, buckets=[bucket(now)])

    page = offline_dashboard.open("?range=hour")
    for metric in ("traffic", "dwell"):
        page.locator(f"#heat-metric button[data-metric='{metric}']").click()
        expect(page.locator(f"#heatmaps canvas[data-camera='{CAMERA}'][data-metric='{metric}']")).to_be_visible()
    # the whole-store map comes first, in metres, each shopper counted once
    store = page.locator("#heatmaps figure").first
    expect(store).to_contain_text("Whole store")
    expect(store.locator("canvas[data-camera='*store'][data-unit='m']")).to_be_visible()
    expect(store).to_contain_text("Total 25 s")  # dwell is the metric picked last above
    entrance = page.locator("#heatmaps figure:has-text('Entrance camera')")
    expect(entrance).to_contain_text(NO_HEAT)  # its only bucket is three days old
    expect(entrance.locator("canvas")).to_have_count(0)
    expect(page.locator(f".tile[data-camera='{CAMERA}']")).to_contain_text("No pipeline")

    page = offline_dashboard.open("?range=all")  # the old bucket is in range now
    expect(page.locator("#heatmaps canvas[data-camera='entrance-cam'][data-metric='traffic']")).to_be_visible()
    assert page.locator("#heatmaps canvas").count() == 3  # two cameras and the store
    # the KPI panel (issue 20): store-wide numbers from /kpis, a missing input says "not measured"
    kpis = page.locator("#kpis")
    expect(kpis.locator("caption")).to_have_text(["Funnel", "Buying units"])
    expect(kpis).to_contain_text("not measured: no queue zone")  # the demo store has no queue
    expect(kpis.locator("tr:has-text('Buyers') td")).to_have_text("not measured")
    # no week of history, no promotion trigger: forecast, staffing and experiments say so
    expect(kpis).to_contain_text("Forecast: not measured: no entries stored")
    expect(kpis).to_contain_text("Experiments: not measured: no promotion triggers")
    assert offline_dashboard.console_errors == []


def test_a_refresh_asks_for_the_zone_aggregates_once(offline_dashboard: Dashboard) -> None:
    """The zone table and the charts read the same zone aggregates: the page's first full refresh
    (done when body[data-ready] is set) asks for them in one request and both panels show them."""
    page = offline_dashboard.page
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/v1/aggregates?level=zones" in r.url else None)
    offline_dashboard.open("?range=hour")
    expect(page.locator("#zones-body tr[data-zone]")).to_have_count(len(DEMO_ZONES))
    expect(page.locator("#charts figure").first).to_be_visible()
    assert len(asked) == 1, asked
    assert offline_dashboard.console_errors == []


# ---------------------------------------------------------------------------- the router


def test_router_serves_only_its_own_files() -> None:
    app = FastAPI()
    app.include_router(dashboard_router())
    client = TestClient(app)
    for path in ("/", "/dashboard", "/dashboard/", "/login"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), path
        assert r.headers["cache-control"] == "no-cache"
    js = client.get("/dashboard/app.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in js.text and "insertAdjacentHTML" not in js.text
    # the generated event types (imported by app.js and words.js) are served as a module too
    types = client.get("/dashboard/events.js")
    assert types.status_code == 200 and types.headers["content-type"].startswith("text/javascript")
    assert "export const EVENT_TYPES = Object.freeze(" in types.text
    assert client.get("/dashboard/style.css").headers["content-type"].startswith("text/css")
    bad_paths = ("/dashboard/../router.py", "/dashboard/%2e%2e%2frouter.py", "/dashboard/router.py", "/dashboard/x.js")
    for bad in bad_paths:
        assert client.get(bad).status_code == 404, bad
    assert "/dashboard/{name}" not in json.dumps(app.openapi())
