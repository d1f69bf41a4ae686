"""What the security routers and the gate share: the runtime on ``app.state.security`` and the
helpers every security route uses (the signed-in actor, an audit record, a 429)."""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import ip_address
from typing import Any

import anyio
from argon2 import PasswordHasher
from fastapi import HTTPException, Request
from starlette.requests import HTTPConnection
from starlette.types import Scope

from storelens.config.store import StoreConfig
from storelens.lifecycle.retention import PurgeScheduler
from storelens.security.audit import AuditError, append_audit, pseudonymous_name
from storelens.security.crypto import EncryptedFileStore
from storelens.security.middleware import Authenticated
from storelens.security.passwords import DEFAULT_HASHER
from storelens.security.ratelimit import LoginGuard
from storelens.security.rbac import ROUTE_RULES, Principal, Role, RouteRule, check, principal_of
from storelens.security.sessions import CookieSettings, resolve_session
from storelens.security.tokens import verify_token
from storelens.security.users import LockoutPolicy, get_user
from storelens.storage.database import Database

log = logging.getLogger(__name__)


@dataclass(eq=False)
class SecurityRuntime:
    """Everything the security routes and middleware share (``app.state.security``)."""

    db: Database
    store: StoreConfig
    cookies: CookieSettings
    guard: LoginGuard
    lockout: LockoutPolicy
    hasher: PasswordHasher = DEFAULT_HASHER
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    snapshots: EncryptedFileStore | None = None
    scheduler: PurgeScheduler | None = None
    rules: tuple[RouteRule, ...] = ROUTE_RULES

    @property
    def cfg(self) -> Any:
        return self.store.security

    def client_ip(self, scope: Scope) -> str | None:
        """The peer address, or the last X-Forwarded-For hop when the peer is a trusted proxy."""
        client = scope.get("client")
        peer = client[0] if client else None
        if peer and peer in self.cfg.trusted_proxies:
            for k, v in scope.get("headers", []):
                if k == b"x-forwarded-for":
                    hop = v.decode("latin-1").split(",")[-1].strip()
                    try:
                        return str(ip_address(hop))
                    except ValueError:
                        return peer
        return str(peer) if peer else None

    async def authenticate(self, scope: MutableMapping[str, Any]) -> Authenticated | None:
        auth = None
        cookie = None
        for k, v in scope.get("headers", []):
            if k == b"authorization":
                auth = v.decode("latin-1")
            elif k == b"cookie":
                cookie = v.decode("latin-1")
        now = self.clock()
        if auth is not None:
            scheme, _, value = auth.partition(" ")
            if scheme.lower() != "bearer" or not value:
                return None
            principal = await anyio.to_thread.run_sync(lambda: verify_token(self.db, value, now=now))
            return None if principal is None else Authenticated(principal)
        if cookie:
            secret = None
            for part in cookie.split(";"):
                name, _, val = part.strip().partition("=")
                if name == self.cookies.session_name:
                    secret = val
            if secret:
                found = await anyio.to_thread.run_sync(
                    lambda: resolve_session(self.db, secret, idle=self.cookies.idle, now=now)
                )
                if found is not None:
                    return Authenticated(found[0], found[1])
        return None

    async def audit_route(self, scope: Scope, rule: RouteRule, principal: Principal | None, status: int) -> None:
        if status == 403:
            action, outcome = "access.denied", "denied"
        elif rule.audit is None:
            return
        else:
            action = rule.audit
            outcome = "ok" if status < 400 else ("denied" if status in (401, 403) else "error")
        actor = principal.username if principal else "anonymous"
        target = f"{scope.get('method', 'WS')} {scope.get('path', '')}"
        details = {"status": status, "via": principal.via if principal else None}
        ip = self.client_ip(scope)
        try:
            await anyio.to_thread.run_sync(
                lambda: append_audit(self.db, action, actor, target=target, outcome=outcome, ip=ip, details=details)
            )
        except AuditError:
            log.error("could not write audit record %s for %s", action, target)

    def authorize(self, conn: HTTPConnection, role: Role) -> None:
        """The service's per-router hook: the gate's principal must hold ``role``."""
        check(conn, role, scope=None)


def runtime(request: Request) -> SecurityRuntime:
    rt: SecurityRuntime = request.app.state.security
    return rt


def actor(request: Request) -> Principal:
    p = principal_of(request)
    if p is None:  # the gate lets no anonymous request reach a protected route
        raise HTTPException(401, detail="authentication required")
    return p


def record_audit(
    request: Request, action: str, *, target: str | None = None, outcome: str = "ok", **details: Any
) -> None:
    rt = runtime(request)
    p = principal_of(request)
    append_audit(
        rt.db,
        action,
        p.username if p else "anonymous",
        target=target,
        outcome=outcome,
        ip=rt.client_ip(request.scope),
        details=details,
        now=rt.clock(),
    )


def audit_name(rt: SecurityRuntime, username: str) -> str:
    """A login name as the audit log may keep it: in clear when it is an account's name, else a
    short keyed hash, because people type passwords into the name field and the log is
    append-only (nothing written there can be taken back)."""
    with rt.db.engine.connect() as conn:
        known = get_user(conn, username) is not None
    return username if known else pseudonymous_name(rt.db, username)


def restriction_change(value: list[str] | str | None) -> str | None:
    """A PATCH's restriction: None unchanged, 'all' lifted, else the ids (validated by users)."""
    if value is None or isinstance(value, str):
        return value
    return " ".join(value) if value else ""


def too_many(retry_after: float) -> HTTPException:
    return HTTPException(
        429, detail="too many attempts; try again later", headers={"Retry-After": str(max(1, int(retry_after + 0.999)))}
    )
