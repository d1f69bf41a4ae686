"""The public privacy notice and its printable sign, in a real browser (issue 19).

The production app with its security gate (``install_security``) is served by uvicorn; Chromium
opens ``/privacy`` and ``/privacy/sign.png`` with no account, as a shopper who scanned the sign
would. Screenshots are written to ``$STORELENS_SCREENSHOTS`` when set (to look at them), else to
the test's temporary folder. The QR code on the sign is decoded back (OpenCV) and must lead to
the page.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from playwright.sync_api import BrowserContext

from conftest import FAST_HASHER, Served, serve
from storelens.config import load_config
from storelens.service import ServiceDeps, ServiceSettings, create_app
from storelens.service.security import install_security
from testdata import DEMO_COUNTER_CLIP


def shots(tmp_path: Path) -> Path:
    out = Path(os.environ.get("STORELENS_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("privacy")
    path = tmp / "store.yaml"
    data = {
        "store_id": "s1",
        "name": "Corner Grocer",
        "cameras": [{"id": "cam1", "source": str(DEMO_COUNTER_CLIP)}],
        "emotion": {"enabled": True},
        "behaviour": {"staff": {"uniform": {"hsv_low": [22, 150, 150], "hsv_high": [34, 255, 255]}}},
        "privacy": {
            "jurisdiction": "DE",
            "controller": "Corner Grocer GmbH",
            "contact": "datenschutz@corner-grocer.example",
            "legal_basis": "legitimate interests (GDPR Art. 6(1)(f)): store layout and staffing",
            "retention": {"events_days": 14, "visits_days": 14, "paths_days": 3},
        },
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    st = ServiceSettings(
        store=load_config(path), config_path=path, database_url=f"sqlite:///{tmp / 'p.db'}", run_pipelines=False
    )
    deps = ServiceDeps.build(st)
    app = create_app(st, deps)
    install_security(app, deps.db, st, hasher=FAST_HASHER, run_retention=False)
    s = serve(app, "privacy-page")
    try:
        yield s
    finally:
        s.stop()


def test_privacy_page_is_public_and_says_what_the_config_says(
    served: Served, browser_context: BrowserContext, tmp_path: Path
) -> None:
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    resp = page.goto(served.url + "/privacy")
    assert resp is not None and resp.status == 200  # no login
    assert page.title().startswith("Privacy notice: video analytics at Corner Grocer")
    body = page.inner_text("body")
    for fact in (
        "Corner Grocer GmbH",
        "datenschutz@corner-grocer.example",
        "legitimate interests (GDPR Art. 6(1)(f))",
        "events: 14 days",
        "paths: 3 days",
        "no face embeddings",
    ):
        assert fact in body, fact
    assert page.inner_text("#emotion-status").startswith("Emotion recognition: ON, for shoppers only")
    page.screenshot(path=str(shots(tmp_path) / "privacy-page.png"), full_page=True)
    assert not errors, errors
    # the rest of the API still needs an account
    api = page.goto(served.url + "/api/v1/events")
    assert api is not None and api.status == 401
    page.close()


def test_sign_renders_and_its_qr_code_leads_to_the_page(
    served: Served, browser_context: BrowserContext, tmp_path: Path
) -> None:
    page = browser_context.new_page()
    resp = page.goto(served.url + "/privacy/sign.png")
    assert resp is not None and resp.status == 200 and resp.headers["content-type"] == "image/png"
    size = page.evaluate("() => { const i = document.images[0]; return [i.naturalWidth, i.naturalHeight]; }")
    assert size == [1240, 1754]  # A4 portrait at 150 dpi
    png = resp.body()
    (shots(tmp_path) / "privacy-sign.png").write_bytes(png)
    page.screenshot(path=str(shots(tmp_path) / "privacy-sign-in-browser.png"))
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(img)
    assert text == served.url + "/privacy"
    page.close()
