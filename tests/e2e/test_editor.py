"""The zone and line editor in a real headless Chromium (issue 17): a signed-out visit goes to the
sign-in page; a zone and a line drawn on the redacted still are saved to the store file; a zone
the API refuses is shown in place, on its shape and in its list entry, and nothing is written.
Screenshots go to $STORELENS_SCREENSHOTS (default /tmp/storelens-screens) to be looked at."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from storelens.config import load_config

if TYPE_CHECKING:
    from conftest import Dashboard, EditorServer, SecureServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SHOTS = Path(os.environ.get("STORELENS_SCREENSHOTS", "/tmp/storelens-screens"))
W, H = 768, 432  # the counter camera's native frame


def _open(dash: Dashboard) -> Page:
    page = dash.page
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(f"{dash.server.url}/editor?camera=counter-cam")
    page.wait_for_selector("body[data-ready='1']")
    return page


def _click(page: Page, x: float, y: float) -> None:
    """Click the drawing at native frame pixel (x, y)."""
    box = page.locator("#drawing").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + x * box["width"] / W, box["y"] + y * box["height"] / H)


def test_a_signed_out_visit_to_the_editor_goes_to_sign_in(secure_dashboard: Dashboard) -> None:
    server: SecureServer = secure_dashboard.server  # type: ignore[assignment]
    page = secure_dashboard.page
    page.goto(f"{server.url}/editor?camera=counter-cam")
    page.wait_for_url(re.compile(r"/login\?next=%2Feditor%3Fcamera%3Dcounter-cam$"))
    expect(page.locator("#login-form")).to_be_visible()
    assert secure_dashboard.console_errors == []


def test_draw_a_zone_and_a_line_on_the_still_and_save(editor_dashboard: Dashboard) -> None:
    server: EditorServer = editor_dashboard.server  # type: ignore[assignment]
    page = _open(editor_dashboard)
    drawing = page.locator("#drawing")
    expect(drawing).to_have_attribute("data-width", str(W))
    expect(drawing.locator("image")).to_have_count(1)  # the redacted still is the backdrop
    before = int(drawing.get_attribute("data-zones") or 0)

    page.locator("#tools button[data-tool='zone']").click()
    corners = [(60, 40), (260, 40), (260, 200), (60, 200)]
    for x, y in corners:
        _click(page, x, y)
    _click(page, *corners[0])  # back on the first corner closes it
    expect(drawing).to_have_attribute("data-zones", str(before + 1))
    new_zone = page.locator("#shapes li[data-zone='zone-1']")
    new_zone.locator("input[name='name']").fill("Leaflet rack")
    new_zone.locator("select[name='kind']").select_option("shelf")

    page.locator("#tools button[data-tool='line']").click()
    _click(page, 300, 420)
    _click(page, 300, 250)
    new_line = page.locator("#drawing g[data-line='line-1']")
    expect(new_line.locator(".arrow-head")).to_have_count(1)
    page.screenshot(path=str(_shot("editor-drawn")))

    page.locator("#save").click()
    page.wait_for_selector("body[data-saved='ok']")
    expect(page.locator("#save-result")).to_contain_text("Saved")
    stored = load_config(server.config_path)
    zone = next(z for z in stored.zones if z.id == "zone-1")
    assert zone.name == "Leaflet rack" and zone.kind == "shelf" and zone.camera == "counter-cam"
    for (x, y), (sx, sy) in zip(corners, zone.points, strict=True):
        assert abs(sx - x) <= 2 and abs(sy - y) <= 2, zone.points
    line = next(ln for ln in stored.lines if ln.id == "line-1")
    assert abs(line.a[0] - 300) <= 2 and abs(line.a[1] - 420) <= 2 and abs(line.b[1] - 250) <= 2, line
    assert "counter-approach" in {ln.id for ln in stored.lines}  # the demo's line is kept
    page.screenshot(path=str(_shot("editor-saved")))
    assert editor_dashboard.console_errors == []


def test_an_invalid_zone_is_shown_in_place_and_nothing_is_saved(editor_dashboard: Dashboard) -> None:
    server: EditorServer = editor_dashboard.server  # type: ignore[assignment]
    before = server.config_path.read_text()
    page = _open(editor_dashboard)
    page.locator("#tools button[data-tool='zone']").click()
    for x, y in ((100, 100), (200, 100), (300, 100)):  # three corners on one line: no area
        _click(page, x, y)
    page.keyboard.press("Enter")
    flat = page.locator("#shapes li[data-zone='zone-2'], #shapes li[data-zone='zone-1']").last
    page.locator("#save").click()
    page.wait_for_selector("body[data-saved='error']")
    expect(flat).to_have_class(re.compile(r"\binvalid\b"))
    expect(flat.locator(".shape-errors")).to_contain_text("zero area")
    key = flat.get_attribute("data-key")
    expect(page.locator(f"#drawing g[data-key='{key}']")).to_have_class(re.compile(r"\binvalid\b"))
    page.screenshot(path=str(_shot("editor-invalid")))
    assert server.config_path.read_text() == before
    # the refused save logged its 422 in the console: that one is expected
    assert all("422" in e for e in editor_dashboard.console_errors), editor_dashboard.console_errors


def _click_floor(page: Page, x_m: float, y_m: float) -> None:
    """Click the floor drawing at (x_m, y_m) metres."""
    floor = page.locator("#floor")
    box = floor.bounding_box()
    assert box is not None
    w_m, h_m = float(floor.get_attribute("data-width") or 0), float(floor.get_attribute("data-height") or 0)
    page.mouse.click(box["x"] + x_m * box["width"] / w_m, box["y"] + y_m * box["height"] / h_m)


def test_calibration_pairs_drawn_on_the_still_and_the_plan_are_checked_and_saved(
    editor_dashboard: Dashboard,
) -> None:
    server: EditorServer = editor_dashboard.server  # type: ignore[assignment]
    page = _open(editor_dashboard)
    page.locator("#tools button[data-tool='calibrate']").click()
    floor = page.locator("#floor")
    expect(floor).to_be_visible()
    expect(floor.locator("image")).to_have_count(1)  # the store's plan image
    expect(floor).to_have_attribute("data-width", "12")
    expect(page.locator("#floor-note")).to_contain_text("12 × 8 m floor plan")
    # three pairs on one floor line: refused as a whole, said next to the pairs, nothing written
    before = server.config_path.read_text()
    image = [(150, 400), (620, 400), (560, 200), (220, 200)]
    for (x, y), (fx, fy) in zip(image[:3], [(2, 7), (6, 7), (10, 7)], strict=True):
        _click(page, x, y)  # the still's half first ...
        _click_floor(page, fx, fy)  # ... then the plan's
    _click_floor(page, 11, 7)  # the plan's half first also works
    _click(page, *image[3])
    expect(floor).to_have_attribute("data-pairs", "4")
    page.locator("#cal-save").click()
    page.wait_for_selector("body[data-cal-saved='error']")
    expect(page.locator("#cal-errors")).to_contain_text("on one line")
    page.screenshot(path=str(_shot("editor-calibration-invalid")))
    assert server.config_path.read_text() == before
    # move pair 4's floor half off the line by deleting it and placing it again: saved
    page.locator("#pairs button[aria-label='Delete pair 4']").click()
    page.locator("#pairs button[aria-label='Delete pair 3']").click()
    _click(page, *image[2])
    _click_floor(page, 10, 2)
    _click(page, *image[3])
    _click_floor(page, 2, 2)
    page.locator("#cal-save").click()
    page.wait_for_selector("body[data-cal-saved='ok']")
    expect(page.locator("#cal-result")).to_contain_text("Saved 4 pairs")
    expect(page.locator("#cal-fit")).to_contain_text("RMS error")
    page.screenshot(path=str(_shot("editor-calibration-saved")))
    cal = load_config(server.config_path).camera("counter-cam").calibration
    assert cal is not None and len(cal.image_points) == 4
    assert abs(cal.floor_points[3][0] - 2) <= 0.05 and abs(cal.floor_points[3][1] - 2) <= 0.05, cal
    assert abs(cal.image_points[0][0] - 150) <= 2 and abs(cal.image_points[0][1] - 400) <= 2, cal
    assert all("422" in e for e in editor_dashboard.console_errors), editor_dashboard.console_errors


def _shot(name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / f"{name}.png"


def test_a_viewer_sees_the_editor_but_cannot_save_zones_or_a_calibration(secure_dashboard: Dashboard) -> None:
    server: SecureServer = secure_dashboard.server  # type: ignore[assignment]
    page = secure_dashboard.page
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(f"{server.url}/editor?camera=counter-cam")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.fill("#username", "viewer")
    page.fill("#password", server.passwords["viewer"])
    page.click("#login-submit")
    page.wait_for_url(f"{server.url}/editor?camera=counter-cam")
    page.wait_for_selector("body[data-ready='1']")
    secure_dashboard.console_errors.clear()  # the 401s before signing in
    # the editor says so up front: every save button off, the reason next to it
    expect(page.locator("#save")).to_be_disabled()
    expect(page.locator("#role-note")).to_be_visible()
    expect(page.locator("#role-note")).to_contain_text("needs the admin role")
    page.locator("#tools button[data-tool='calibrate']").click()
    expect(page.locator("#cal-save")).to_be_disabled()
    expect(page.locator("#cal-clear")).to_be_disabled()
    expect(page.locator("#floor-panel .role-note")).to_be_visible()
    page.locator("#tools button[data-tool='floor-zone']").click()
    expect(page.locator("#fz-save")).to_be_disabled()
    # and the server refuses whatever the page is made to send: the editor shows the refusal
    for button, box, saved in (("#cal-save", "#cal-errors", "cal-saved"), ("#fz-save", "#fz-errors", "fz-saved")):
        page.locator(button).evaluate("b => { b.disabled = false; b.click(); }")
        page.wait_for_selector(f"body[data-{saved}='error']")
        expect(page.locator(box)).to_contain_text("Not saved")
        expect(page.locator(box)).to_contain_text("403")
    # the zones' Save sends nothing for a viewer; sent anyway, with the session and its CSRF token, refused
    page.locator("#tools button[data-tool='select']").click()
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "PUT" else None)
    page.locator("#save").evaluate("b => { b.disabled = false; b.click(); }")
    expect(page.locator("body")).not_to_have_attribute("data-saved", re.compile("."))
    assert sent == []
    csrf = next(c["value"] for c in page.context.cookies() if c["name"].endswith("storelens_csrf"))
    put = page.request.put(
        f"{server.url}/api/v1/cameras/counter-cam/geometry",
        data={"zones": [], "lines": []},
        headers={"X-CSRF-Token": csrf},
    )
    assert put.status == 403, put.text()
    page.screenshot(path=str(_shot("editor-viewer-refused")))
    assert all("403" in e for e in secure_dashboard.console_errors), secure_dashboard.console_errors


def test_floor_zones_drawn_on_the_plan_are_checked_and_saved(editor_dashboard: Dashboard) -> None:
    server: EditorServer = editor_dashboard.server  # type: ignore[assignment]
    page = editor_dashboard.page
    if load_config(server.config_path).camera("counter-cam").calibration is None:  # floor zones need one
        pairs = {"image_points": [[150, 400], [620, 400], [560, 200], [220, 200]]}
        pairs["floor_points"] = [[2, 7], [6, 7], [10, 2], [2, 2]]
        put = page.request.put(f"{server.url}/api/v1/cameras/counter-cam/calibration", data=pairs)
        assert put.ok, put.text()
    page = _open(editor_dashboard)
    page.locator("#tools button[data-tool='floor-zone']").click()
    floor = page.locator("#floor")
    expect(floor).to_be_visible()
    corners = [(1, 1), (4, 1), (4, 7.5), (1, 7.5)]
    for x, y in corners:
        _click_floor(page, x, y)
    _click_floor(page, *corners[0])  # back on the first corner closes it
    expect(floor).to_have_attribute("data-zones", "1")
    item = page.locator("#floor-zones li[data-index='0']")
    # an id the counter camera's zone already has: refused on this zone, nothing written
    before = server.config_path.read_text()
    item.locator("input[name='id']").fill("counter")
    page.locator("#fz-save").click()
    page.wait_for_selector("body[data-fz-saved='error']")
    expect(item).to_have_class(re.compile(r"\binvalid\b"))
    expect(item.locator(".shape-errors")).to_contain_text("already used on camera counter-cam")
    expect(floor.locator("g.floor-zone.invalid")).to_have_count(1)
    page.screenshot(path=str(_shot("editor-floor-zone-invalid")))
    assert server.config_path.read_text() == before
    item.locator("input[name='id']").fill("front-aisle")
    item.locator("input[name='name']").fill("Front aisle")
    item.locator("select[name='kind']").select_option("aisle")
    page.locator("#fz-save").click()
    page.wait_for_selector("body[data-fz-saved='ok']")
    expect(page.locator("#fz-result")).to_contain_text("Saved 1 floor zone(s)")
    page.screenshot(path=str(_shot("editor-floor-zone-saved")))
    stored = [z for z in load_config(server.config_path).zones if z.space == "floor"]
    assert [(z.id, z.name, z.kind) for z in stored] == [("front-aisle", "Front aisle", "aisle")]
    for (x, y), (sx, sy) in zip(corners, stored[0].points, strict=True):
        assert abs(sx - x) <= 0.1 and abs(sy - y) <= 0.1, stored[0].points
    assert "counter" in {z.id for z in load_config(server.config_path).zones}  # the camera's zones kept
    assert all("422" in e for e in editor_dashboard.console_errors), editor_dashboard.console_errors
