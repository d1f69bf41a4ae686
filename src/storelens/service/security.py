"""Put the security layer onto the service app: ``install_security(app, db, settings)``.

What it adds to an app built by ``storelens.service.create_app``:

* middleware (outermost first): security headers, request size limit, CORS only when
  ``security.cors_origins`` is set, and the authentication gate that enforces
  ``rbac.ROUTE_RULES`` on every route (401 without credentials, 403 below the role or scope, CSRF
  for cookie sessions, 404 for per-visit routes in aggregate-only mode, audit of sensitive routes);
* routes: ``/api/v1/auth/{login,logout,me}``, ``/api/v1/users`` (admin CRUD), ``/api/v1/tokens``,
  ``/api/v1/audit`` (+ ``/verify``), ``/api/v1/privacy/report`` and ``/api/v1/privacy/deletions``,
  one router per resource in ``service/routers/`` (``auth``, ``users``, ``tokens``, ``audit``,
  ``privacy_data``);
* the service's authorisation hook (``ServiceDeps.authorize``) replaced by a role check on the
  gate's principal, so the service's own per-router roles hold too (both must pass);
* the retention purge (:mod:`storelens.lifecycle.retention`, set by ``privacy.retention``) scheduled
  for the app's lifetime.

Call it after ``create_app`` and before serving. ``uvicorn_tls_kwargs`` gives ``uvicorn.run`` the
TLS settings from ``security.tls``.

It lives in ``service`` (not ``security``) because it wires the security building blocks, the data
lifecycle (retention, deletion, the privacy report) and the app together: ``security`` itself stays
below the data lifecycle, which writes its audit records.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from storelens.config.store import StoreConfig
from storelens.core.redact import install_secret_filter
from storelens.lifecycle.retention import PurgeScheduler
from storelens.lifecycle.snapshots import snapshot_store_for
from storelens.security.access import gate_decision
from storelens.security.audit import configure_audit_seal
from storelens.security.middleware import AuthGateMiddleware, BodySizeLimitMiddleware, SecurityHeadersMiddleware
from storelens.security.passwords import DEFAULT_HASHER
from storelens.security.ratelimit import LoginGuard
from storelens.security.rbac import ROUTE_RULES, RouteRule
from storelens.security.sessions import CookieSettings
from storelens.security.users import LockoutPolicy
from storelens.service.routers import audit, auth, privacy_data, tokens, users
from storelens.service.routers._security import SecurityRuntime
from storelens.storage.database import Database

log = logging.getLogger(__name__)

API = "/api/v1"


def _safe_text(value: object) -> object:
    """A string JSON can carry: lone surrogates (valid in a JSON escape, not in UTF-8) become
    U+FFFD instead of failing the response."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8") if not value.isascii() else value
    if isinstance(value, list | tuple):
        return [_safe_text(v) for v in value]
    if isinstance(value, dict):
        return {str(_safe_text(k)): _safe_text(v) for k, v in value.items()}
    return value


async def validation_error_response(request: Request, exc: Exception) -> JSONResponse:
    """422 that names each bad field but never echoes its value. FastAPI's default puts the
    submitted value in the answer (a password among them), and a value it cannot encode (a lone
    surrogate, ``"\\ud800"``) turned the 422 into a 500 whose traceback logged the value."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = [{k: _safe_text(v) for k, v in err.items() if k in ("loc", "msg", "type")} for err in errors]
    return JSONResponse(status_code=422, content={"detail": detail})


def install_security(
    app: FastAPI,
    db: Database,
    settings: Any,
    *,
    hasher: PasswordHasher | None = None,
    clock: Callable[[], datetime] | None = None,
    extra_rules: tuple[RouteRule, ...] = (),
    run_retention: bool = True,
) -> None:
    """Secure ``app`` (see the module docstring). ``settings`` is the ``StoreConfig`` or anything
    with a ``.store`` StoreConfig (the service's ``ServiceSettings``). ``extra_rules`` are matched
    before the built-in table (e.g. for a dashboard mounted later)."""
    store: StoreConfig = settings if isinstance(settings, StoreConfig) else settings.store
    sec = store.security
    install_secret_filter()
    cookies = CookieSettings(
        secure=sec.cookie_secure,
        lifetime=timedelta(hours=sec.session_lifetime_h),
        idle=timedelta(minutes=sec.session_idle_min),
    )
    now_fn = clock or (lambda: datetime.now(UTC))
    configure_audit_seal(db, store.resolve_path(sec.audit_key_file) if sec.audit_key_file else None)
    rt = SecurityRuntime(
        db=db,
        store=store,
        cookies=cookies,
        guard=LoginGuard(sec.login_rate_per_min, sec.login_max_failures, sec.lockout_min * 60),
        lockout=LockoutPolicy(sec.login_max_failures, timedelta(minutes=sec.lockout_min)),
        hasher=hasher or DEFAULT_HASHER,
        clock=now_fn,
        snapshots=snapshot_store_for(store, db),
        rules=(*extra_rules, *ROUTE_RULES),
    )
    app.state.security = rt
    app.add_exception_handler(RequestValidationError, validation_error_response)
    for router in (auth.router, users.router, tokens.router, audit.router, privacy_data.router):
        app.include_router(router)
    service_deps = getattr(app.state, "deps", None)
    if service_deps is not None and hasattr(service_deps, "authorize"):
        service_deps.authorize = rt.authorize

    app.add_middleware(
        AuthGateMiddleware,
        router_app=app,
        authenticate=rt.authenticate,
        csrf_cookie=cookies.csrf_name,
        rules=rt.rules,
        aggregate_only=store.privacy.aggregate_only,
        audit=rt.audit_route,
        scope_check=lambda method, template, p: gate_decision(method, template, p, store.store_id),
    )
    if sec.cors_origins and not any(m.cls is CORSMiddleware for m in app.user_middleware):
        app.add_middleware(
            CORSMiddleware,
            allow_origins=sec.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-CSRF-Token"],
        )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=sec.max_request_bytes)
    app.add_middleware(SecurityHeadersMiddleware, docs_prefix=f"{API}/docs")

    if run_retention:
        rt.scheduler = PurgeScheduler(db, store.privacy.retention, snapshots=rt.snapshots, clock=now_fn)
        inner = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(a: Any) -> AsyncIterator[Any]:
            assert rt.scheduler is not None
            rt.scheduler.start()
            try:
                async with inner(a) as state:
                    yield state
            finally:
                rt.scheduler.stop()

        app.router.lifespan_context = lifespan


def tls_context(store: StoreConfig) -> ssl.SSLContext | None:
    """A server SSLContext from ``security.tls`` (None when TLS is not configured)."""
    tls = store.security.tls
    if not tls.enabled:
        return None
    assert tls.cert_file is not None and tls.key_file is not None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3 if tls.min_version == "TLSv1.3" else ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(store.resolve_path(tls.cert_file)), str(store.resolve_path(tls.key_file)))
    return ctx


def uvicorn_proxy_kwargs() -> dict[str, Any]:
    """``uvicorn.run(**kwargs)`` that keep the client address as the peer's. uvicorn's default
    (``proxy_headers=True``, ``forwarded_allow_ips="127.0.0.1"``) rewrites the peer from
    X-Forwarded-For before the app sees it, so anyone on the host could pick the address the
    lockout, rate limit and audit log see. The app itself believes the header only from
    ``security.trusted_proxies`` (:meth:`SecurityRuntime.client_ip`)."""
    return {"proxy_headers": False, "forwarded_allow_ips": ""}


def uvicorn_tls_kwargs(store: StoreConfig) -> dict[str, Any]:
    """``uvicorn.run(**kwargs)`` TLS settings (empty when TLS is not configured); files are
    checked here so a typo fails at start with the path, not at the first handshake."""
    ctx = tls_context(store)  # loads (and so validates) the pair
    if ctx is None:
        return {}
    tls = store.security.tls
    assert tls.cert_file is not None and tls.key_file is not None
    return {
        "ssl_certfile": str(store.resolve_path(tls.cert_file)),
        "ssl_keyfile": str(store.resolve_path(tls.key_file)),
        "ssl_ciphers": "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!MD5:!DSS",
    }
