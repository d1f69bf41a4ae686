"""The API docs work without internet (issue 17): the page and its assets come from the service
itself (bundled Swagger UI), the page has no inline script and no external URL, ``/docs``
redirects to it. The browser test (tests/e2e/test_setup_pages.py) renders it with no request
leaving the machine."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from storelens.config import load_config
from storelens.service import ServiceSettings, create_app
from testdata import DEMO_STORE


def client(tmp_path) -> TestClient:  # type: ignore[no-untyped-def]
    settings = ServiceSettings(
        store=load_config(DEMO_STORE), database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", run_pipelines=False
    )
    return TestClient(create_app(settings))


def test_docs_page_and_assets_are_served_locally(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with client(tmp_path) as c:
        page = c.get("/api/v1/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text), "the docs page loads something remote"
        assert "<script>" not in page.text, "inline script: blocked by the content security policy"
        for asset in re.findall(r"""(?:src|href)="(/api/v1/docs/assets/[^"]+)\"""", page.text):
            r = c.get(asset)
            assert r.status_code == 200 and len(r.content) > 100, asset
        assert c.get("/api/v1/docs/assets/../app.py").status_code == 404
        redirect = c.get("/docs", follow_redirects=False)
        assert redirect.status_code in (301, 302, 307, 308)
        assert redirect.headers["location"] == "/api/v1/docs"
