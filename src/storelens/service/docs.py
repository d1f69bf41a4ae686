"""Interactive API docs served from the package: Swagger UI bundled, nothing from a CDN.

FastAPI's default docs page loads Swagger UI from a CDN, so in a store without internet (the
deployment storelens is built for) ``/api/v1/docs`` was a blank page. Here the page, its script,
its styles and a small start script are all served by the API itself, from
``service/docs_assets`` (swagger-ui-dist, Apache-2.0, see NOTICE), and the page has no inline
script, so it renders under the same strict content security policy as everything else.
``/docs`` (where people look first) redirects to it.
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

ASSETS_DIR = Path(__file__).resolve().with_name("docs_assets")
ASSETS: dict[str, str] = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "docs-init.js": "text/javascript; charset=utf-8",
}


def _page(title: str, openapi_url: str, assets: str) -> str:
    t = html.escape(title)
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>{t} · docs</title>
    <link rel="icon" href="data:," />
    <link rel="stylesheet" href="{assets}/swagger-ui.css" />
  </head>
  <body data-openapi="{html.escape(openapi_url)}">
    <div id="swagger-ui"></div>
    <script src="{assets}/swagger-ui-bundle.js"></script>
    <script src="{assets}/docs-init.js"></script>
  </body>
</html>
"""


def install_docs(app: FastAPI, prefix: str) -> None:
    """``{prefix}/docs``, its assets under ``{prefix}/docs/assets/``, and ``/docs`` redirecting.
    Build the app with ``docs_url=None`` so FastAPI's CDN page is not registered too."""
    for name in ASSETS:
        if not (ASSETS_DIR / name).is_file():
            raise FileNotFoundError(f"bundled API docs asset {name} is missing from {ASSETS_DIR}")
    docs_url = f"{prefix}/docs"
    page = _page(app.title, app.openapi_url or f"{prefix}/openapi.json", f"{docs_url}/assets")

    @app.get(docs_url, include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get(f"{docs_url}/assets/{{name}}", include_in_schema=False)
    def docs_asset(name: str) -> FileResponse:
        if name not in ASSETS:
            raise HTTPException(404, detail=f"no docs asset {name[:80]!r}")
        return FileResponse(ASSETS_DIR / name, media_type=ASSETS[name], headers={"Cache-Control": "max-age=86400"})

    @app.get("/docs", include_in_schema=False)
    def docs_redirect() -> RedirectResponse:
        return RedirectResponse(docs_url, status_code=307)
