"""Serve the store manager's dashboard: a single page of plain ES modules, no build step, no CDN.

The page is static; everything it shows comes from the public API (``/api/v1``) and the WebSocket
stream, through the same routes and roles as any other client. So this router only hands out
files, and the dashboard can never see more than its user's role allows.

Routes (none in the OpenAPI schema: they are not API):

* ``/``, ``/dashboard``, ``/dashboard/``: the dashboard page;
* ``/login``: the sign-in page (posts to ``/api/v1/auth/login``, issue 9);
* ``/editor``: the zone and line editor (``?camera=ID``), drawn on the camera's redacted still;
* ``/dashboard/<file>``: the page's scripts, styles and icon.

With the security layer (issue 9) these routes are public (:func:`dashboard_rules`), but the
dashboard page itself redirects a request without a session to ``/login?next=...`` (so a signed-out
visit never shows a page that cannot load); a session that expires later makes the API answer 401
and the page's scripts send the user to ``/login``.

Only files present in ``static/`` when the router is built are served, looked up by exact name in
a table: a request for anything else (``..``, sub-folders, an encoded slash) is a plain 404, so no
path ever reaches the file system from a URL. Responses carry ``Cache-Control: no-cache``: the
browser revalidates on each load, so a new release is picked up without a hard refresh.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from storelens.security.rbac import RouteRule, rule

STATIC_DIR = Path(__file__).resolve().with_name("static")

MEDIA_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",  # module scripts need a JavaScript MIME type
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

PAGE = "index.html"
LOGIN_PAGE = "login.html"
EDITOR_PAGE = "editor.html"
NO_CACHE = {"Cache-Control": "no-cache"}


def _asset_table(static_dir: Path) -> dict[str, Path]:
    """Name -> path of every servable file (known suffix, regular file, directly in the folder)."""
    if not static_dir.is_dir():
        raise FileNotFoundError(f"dashboard assets folder {static_dir} is missing (broken installation?)")
    table = {p.name: p for p in sorted(static_dir.iterdir()) if p.is_file() and p.suffix in MEDIA_TYPES}
    for required in (PAGE, LOGIN_PAGE, EDITOR_PAGE):
        if required not in table:
            raise FileNotFoundError(f"dashboard asset {required} is missing from {static_dir}")
    return table


def dashboard_router(static_dir: Path = STATIC_DIR) -> APIRouter:
    """The dashboard's routes; include with ``app.include_router(dashboard_router())``."""
    assets = _asset_table(static_dir)

    def file(name: str) -> FileResponse:
        path = assets[name]
        return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=NO_CACHE)

    router = APIRouter(include_in_schema=False, tags=["dashboard"])

    def page(request: Request, name: str = PAGE) -> Response:
        # Signed out (the security layer is on and found no session): straight to the sign-in
        # page, before any script runs, rather than a dashboard whose every request is refused.
        if hasattr(request.app.state, "security") and getattr(request.state, "principal", None) is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303, headers=NO_CACHE)
        return file(name)

    @router.api_route("/", methods=["GET", "HEAD"])
    def index(request: Request) -> Response:
        return page(request)

    @router.api_route("/dashboard", methods=["GET", "HEAD"])
    def dashboard(request: Request) -> Response:
        return page(request)

    @router.api_route("/editor", methods=["GET", "HEAD"])
    def editor(request: Request) -> Response:
        return page(request, EDITOR_PAGE)

    @router.api_route("/login", methods=["GET", "HEAD"])
    def login() -> FileResponse:
        return file(LOGIN_PAGE)

    @router.api_route("/dashboard/{name}", methods=["GET", "HEAD"])
    def asset(name: str) -> FileResponse:
        if name not in assets:
            raise HTTPException(404, detail=f"no dashboard file {name[:80]!r}")
        return file(name)

    # "/dashboard/" (trailing slash, empty name) does not match "{name}"; serve the page there too
    router.add_api_route("/dashboard/", dashboard, methods=["GET", "HEAD"])
    return router


def dashboard_rules() -> tuple[RouteRule, ...]:
    """The security layer's rules for these routes (``install_security(..., extra_rules=...)``):
    reading the page, its scripts and the sign-in page needs no session, because they hold no
    data and the sign-in page must load before anyone is signed in. Everything the page shows
    comes from ``/api/v1``, where each route keeps its own role."""
    return (rule("GET HEAD", r"/|/login|/editor|/dashboard/?|/dashboard/\{name\}", None),)


def mount_dashboard(app: FastAPI) -> None:
    """Add the dashboard to an app built by ``storelens.service.create_app`` (call once)."""
    app.include_router(dashboard_router())
