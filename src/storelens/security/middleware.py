"""HTTP hardening as plain ASGI middleware: security headers, request size limits, and the
authentication/authorisation gate (roles per route, CSRF for cookie sessions, aggregate-only
closure of per-visit routes, audit of sensitive routes).

Plain ASGI (rather than ``BaseHTTPMiddleware``) so streamed exports and WebSockets pass through
untouched and a body is never buffered whole. The gate matches the request against the app's own
routes to learn the route *template*, looks it up in ``rbac.ROUTE_RULES`` and decides before the
route runs; so a route somebody forgot to protect is still protected (unknown routes need admin).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
from starlette.routing import Mount, WebSocketRoute, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storelens.security.rbac import Principal, RouteRule, rule_for

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

BASE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
STRICT_CSP = (
    b"default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    b"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_CSP = (  # the bundled Swagger UI (service/docs.py): own scripts only, no CDN, no inline script
    b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def _json_response(status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> list[Message]:
    body = json.dumps({"detail": detail}).encode()
    hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(headers or [])]
    return [
        {"type": "http.response.start", "status": status, "headers": hdrs},
        {"type": "http.response.body", "body": body},
    ]


async def _send_all(send: Send, messages: list[Message]) -> None:
    for m in messages:
        await send(m)


class SecurityHeadersMiddleware:
    """Adds the hardening headers to every HTTP response (without overriding ones a route set);
    HSTS only over https, ``Cache-Control: no-store`` for API responses."""

    def __init__(self, app: ASGIApp, *, docs_prefix: str = "/api/v1/docs") -> None:
        self.app = app
        self.docs_prefix = docs_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                extra = list(BASE_HEADERS)
                csp = DOCS_CSP if path.startswith(self.docs_prefix) else STRICT_CSP
                extra.append((b"content-security-policy", csp))
                if path.startswith("/api/"):
                    extra.append((b"cache-control", b"no-store"))
                if https:
                    extra.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _BodyTooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    """413 for request bodies over ``max_bytes``: at once when Content-Length says so, else as
    soon as the streamed body passes the limit (before the route sees more of it)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    declared = int(v)
                except ValueError:
                    await _send_all(send, _json_response(400, "invalid Content-Length"))
                    return
                if declared > self.max_bytes:
                    await _send_all(send, _json_response(413, f"request body larger than {self.max_bytes} bytes"))
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _send_all(send, _json_response(413, f"request body larger than {self.max_bytes} bytes"))
        except BaseExceptionGroup as group:
            # a middleware that reads the body in a task group (Starlette's BaseHTTPMiddleware, under
            # every route of the service) re-raises our signal wrapped in a group: unwrap it, else
            # a chunked upload over the limit ends as a 500
            too_large, rest = group.split(_BodyTooLarge)
            if too_large is None or rest is not None:
                raise
            if not started:
                await _send_all(send, _json_response(413, f"request body larger than {self.max_bytes} bytes"))


@dataclass(frozen=True, slots=True)
class Authenticated:
    principal: Principal
    csrf_hash: str | None = None  # sessions only


Authenticator = Callable[[MutableMapping[str, Any]], Awaitable[Authenticated | None]]
AuditHook = Callable[[Scope, RouteRule, Principal | None, int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class FlatRoute:
    """One route of the app with its full path template (after every router prefix)."""

    template: str
    regex: re.Pattern[str]
    methods: frozenset[str] | None  # None: a WebSocket route (or a mount: any method)
    websocket: bool


def flat_routes(app: Any) -> list[FlatRoute]:
    """Every route of ``app`` with its full template. FastAPI >= 0.120 keeps included routers as
    lazy branches (``fastapi.routing.iter_route_contexts`` resolves them); older versions flatten
    them into ``app.routes`` themselves."""
    routes = getattr(getattr(app, "router", app), "routes", [])
    items: list[tuple[Any, str]] = []
    try:
        from fastapi.routing import iter_route_contexts

        for rc in iter_route_contexts(routes):
            items.append((rc.original_route, str(getattr(rc, "path_format", None) or rc.path)))
    except ImportError:  # pragma: no cover - older FastAPI
        items = [(r, str(getattr(r, "path", ""))) for r in routes]
    out: list[FlatRoute] = []
    for route, path in items:
        if isinstance(route, Mount):
            regex = re.compile("^" + re.escape(path.rstrip("/")) + "(/.*)?$")
            out.append(FlatRoute(path.rstrip("/") + "/{path:path}", regex, None, False))
            continue
        ws = isinstance(route, WebSocketRoute) or type(route).__name__.endswith("WebSocketRoute")
        methods = getattr(route, "methods", None)
        regex, _, _ = compile_path(path)
        out.append(FlatRoute(path, regex, None if ws else frozenset(methods or ()), ws))
    return out


class RouteIndex:
    """Finds the template of the route that will serve a request (cached, rebuilt when the app's
    route list changes)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._routes: list[FlatRoute] | None = None
        self._version: Any = None

    def routes(self) -> list[FlatRoute]:
        router = getattr(self.app, "router", self.app)
        version = (id(router), len(getattr(router, "routes", [])))
        if self._routes is None or version != self._version:
            self._routes = flat_routes(self.app)
            self._version = version
        return self._routes

    def template(self, scope: Scope) -> str | None:
        path: str = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        websocket = scope["type"] == "websocket"
        method = scope.get("method", "GET")
        partial: str | None = None
        for r in self.routes():
            if r.websocket != websocket or not r.regex.match(path):
                continue
            if r.methods is None or method in r.methods:
                return r.template
            partial = partial or r.template
        return partial


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k == name:
            return str(v.decode("latin-1"))
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    for part in raw.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


def same_origin(scope: Scope) -> bool:
    """Whether the Origin (or Referer) header, if any, names this server's host."""
    origin = _header(scope, b"origin") or _header(scope, b"referer")
    if origin is None:
        return True  # non-browser clients send none; browsers always send Origin on cross-site writes
    host = _header(scope, b"host")
    try:
        return urlsplit(origin).netloc.lower() == (host or "").lower()
    except ValueError:
        return False


ScopeCheck = Callable[[str, str, Principal], "tuple[int, str] | None"]
"""(method, route template, principal) -> (status, detail) to refuse, None to go on
(``security.access.gate_decision`` for the store the app serves)."""


class AuthGateMiddleware:
    """Authenticates (Bearer token or session cookie), enforces the route's rule, and records
    audited routes. The principal is put at ``scope["state"]["principal"]`` (``request.state``)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        router_app: ASGIApp,
        authenticate: Authenticator,
        csrf_cookie: str,
        rules: tuple[RouteRule, ...],
        aggregate_only: bool = False,
        audit: AuditHook | None = None,
        scope_check: ScopeCheck | None = None,
    ) -> None:
        self.app = app
        self.scope_check = scope_check
        self.routes = RouteIndex(router_app)
        self.authenticate = authenticate
        self.csrf_cookie = csrf_cookie
        self.rules = rules
        self.aggregate_only = aggregate_only
        self.audit = audit

    async def _deny(
        self, scope: Scope, send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]]
    ) -> None:
        if scope["type"] == "websocket":
            # reject the handshake: an HTTP 403 (ASGI websocket.http.response) is not universally
            # supported, a close before accept is (clients see 403 from the server)
            await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
            return
        await _send_all(send, _json_response(status, detail, headers))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET") if scope["type"] == "http" else "GET"
        template = self.routes.template(scope)
        if template is None:  # no such route: let the app answer 404
            await self.app(scope, receive, send)
            return
        rule = rule_for(method, template, self.rules)
        state = scope.setdefault("state", {})
        auth = await self.authenticate(scope)
        principal = auth.principal if auth else None
        state["principal"] = principal
        if self.aggregate_only and rule.per_visit:
            await self._deny(scope, send, 404, "not available: this store runs in aggregate-only mode", [])
            return
        if rule.role is not None:
            if principal is None:
                await self._deny(scope, send, 401, "authentication required", [(b"www-authenticate", b"Bearer")])
                return
            if principal.role < rule.role or rule.scope not in principal.scopes:
                if self.audit is not None:
                    await self.audit(scope, rule, principal, 403)
                why = f"needs role {rule.role.label}" if principal.role < rule.role else f"needs scope {rule.scope}"
                await self._deny(scope, send, 403, why, [])
                return
        if principal is not None and self.scope_check is not None:
            refused = self.scope_check(method, template, principal)
            if refused is not None:
                if refused[0] == 403 and self.audit is not None:
                    await self.audit(scope, rule, principal, 403)
                await self._deny(scope, send, refused[0], refused[1], [])
                return
        if principal is not None and principal.via == "session":
            if scope["type"] == "websocket" and not same_origin(scope):
                await self._deny(scope, send, 403, "cross-site WebSocket refused", [])
                return
            if method not in SAFE_METHODS and scope["type"] == "http":
                from storelens.security.sessions import csrf_matches

                header = _header(scope, b"x-csrf-token")
                cookie = _cookie(scope, self.csrf_cookie)
                if auth is None or auth.csrf_hash is None or not csrf_matches(auth.csrf_hash, header, cookie):
                    await self._deny(scope, send, 403, "missing or invalid CSRF token (X-CSRF-Token header)", [])
                    return
        elif rule.role is None and method not in SAFE_METHODS and not same_origin(scope):
            # sign-in from another site's page (login CSRF)
            await self._deny(scope, send, 403, "cross-site request refused", [])
            return
        if rule.audit is None or self.audit is None:
            await self.app(scope, receive, send)
            return
        status_holder: dict[str, int] = {}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = int(message["status"])
            elif message["type"] == "websocket.accept":
                status_holder["status"] = 101
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            assert self.audit is not None
            with anyio.CancelScope(shield=True):
                await self.audit(scope, rule, principal, status_holder.get("status", 500))
