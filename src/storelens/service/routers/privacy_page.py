"""``/privacy`` (the public notice) and ``/privacy/sign.png`` (the printable sign): no login.

People filmed in a store have no account, so the notice they are pointed to (by the sign's QR
code) must be readable without one (GDPR Art. 13, EU AI Act Art. 50(3)). Both are generated from
the configuration on each request, so an edit shows at once; neither touches the database.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from storelens.lifecycle.notice import render_privacy_page, render_sign_png
from storelens.service.deps import Deps

router = APIRouter(tags=["privacy notice"], include_in_schema=False)  # pages for people, not API (as /docs)


def page_url(request: Request, public_url: str | None) -> str:
    """Where the QR code points: ``privacy.public_url`` when set (the address customers can reach),
    else this server's own ``/privacy``."""
    return public_url or str(request.url_for("privacy_page"))


@router.get("/privacy", response_class=HTMLResponse, summary="Public privacy notice (no login)")
def privacy_page(deps: Deps) -> HTMLResponse:
    return HTMLResponse(render_privacy_page(deps.store), headers={"Cache-Control": "no-cache"})


@router.get("/privacy/sign.png", summary="Printable privacy sign with a QR code to /privacy (no login)")
def privacy_sign(request: Request, deps: Deps) -> Response:
    png = render_sign_png(deps.store, page_url(request, deps.store.privacy.public_url))
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-cache"})
