"""Put the security layer onto the service app: ``install_security(app, db, settings)``.

What it adds to an app built by ``storelens.service.create_app``:

* middleware (outermost first): security headers, request size limit, CORS only when
  ``security.cors_origins`` is set, and the authentication gate that enforces
  ``rbac.ROUTE_RULES`` on every route (401 without credentials, 403 below the role or scope, CSRF
  for cookie sessions, 404 for per-visit routes in aggregate-only mode, audit of sensitive routes);
* routes: ``/api/v1/auth/{login,logout,me}``, ``/api/v1/users`` (admin CRUD), ``/api/v1/tokens``,
  ``/api/v1/audit`` (+ ``/verify``), ``/api/v1/privacy/report`` and ``/api/v1/privacy/deletions``;
* the service's authorisation hook (``ServiceDeps.authorize``) replaced by a role check on the
  gate's principal, so the service's own per-router roles hold too (both must pass);
* the retention purge (``privacy.retention``) scheduled for the app's lifetime.

Call it after ``create_app`` and before serving. ``uvicorn_tls_kwargs`` gives ``uvicorn.run`` the
TLS settings from ``security.tls``.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from argon2 import PasswordHasher
from fastapi import APIRouter, Body, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import make_url
from starlette.requests import HTTPConnection
from starlette.types import Scope

from storelens.config.schema import StoreConfig
from storelens.privacy.deletion import DeletionError, DeletionRequest, delete_data
from storelens.privacy.report import build_report
from storelens.privacy.retention import PurgeScheduler
from storelens.security.access import AccessError, gate_decision, parse_restriction, to_json
from storelens.security.audit import (
    AuditError,
    append_audit,
    configure_audit_seal,
    list_audit,
    pseudonymous_name,
    verify_audit,
)
from storelens.security.crypto import EncryptedFileStore, KeyConfigError, KeyRing, install_secret_filter
from storelens.security.middleware import (
    Authenticated,
    AuthGateMiddleware,
    BodySizeLimitMiddleware,
    SecurityHeadersMiddleware,
)
from storelens.security.passwords import DEFAULT_HASHER
from storelens.security.ratelimit import LoginGuard
from storelens.security.rbac import ROUTE_RULES, Principal, Role, RouteRule, check, principal_of
from storelens.security.sessions import (
    CookieSettings,
    clear_session_cookies,
    create_session,
    end_session_by_id,
    purge_expired_sessions,
    resolve_session,
    set_session_cookies,
)
from storelens.security.tokens import TokenError, create_token, get_token, list_tokens, revoke_token, verify_token
from storelens.security.users import (
    LockoutPolicy,
    UserError,
    authenticate,
    create_user,
    delete_user,
    get_user,
    list_users,
    update_user,
)
from storelens.storage.database import Database

log = logging.getLogger(__name__)

API = "/api/v1"


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

    def authorize(self, conn: HTTPConnection, role: str) -> None:
        """The service's per-router hook: the gate's principal must hold ``role``."""
        p = principal_of(conn)
        if p is None:
            raise HTTPException(401, detail="authentication required", headers={"WWW-Authenticate": "Bearer"})
        if p.role < Role.parse(role):
            raise HTTPException(403, detail=f"needs role {role}")


# --------------------------------------------------------------------------------------- models


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    id: int
    username: str
    role: str
    disabled: bool
    created_at: str
    last_login_at: str | None
    locked_until: str | None
    stores: list[str] | None = Field(default=None, description="Stores the user may see; null: all")
    cameras: list[str] | None = Field(default=None, description="Cameras (id or store/id) the user may see; null: all")


_ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"  # the config's Identifier: no paths, no markup
_IdList = list[Annotated[str, Field(min_length=1, max_length=129)]]


class LoginOut(BaseModel):
    user: UserOut
    csrf_token: str = Field(description="Send back in the X-CSRF-Token header of state-changing requests")
    expires_at: str


class MeOut(BaseModel):
    username: str
    role: str
    scopes: list[str]
    via: str
    stores: list[str] | None = None
    cameras: list[str] | None = None


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
    password: str = Field(min_length=8, max_length=1024)
    role: str = Field(pattern=r"^(viewer|analyst|admin)$")
    stores: _IdList | None = Field(default=None, max_length=256, description="Restrict to these stores (null: all)")
    cameras: _IdList | None = Field(default=None, max_length=256, description="Restrict to these cameras (null: all)")


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str | None = Field(default=None, pattern=r"^(viewer|analyst|admin)$")
    disabled: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1024)
    unlock: bool = False
    stores: _IdList | Literal["all"] | None = Field(default=None, description="New restriction; 'all' lifts it")
    cameras: _IdList | Literal["all"] | None = Field(default=None, description="New restriction; 'all' lifts it")


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    role: str | None = Field(default=None, pattern=r"^(viewer|analyst|admin)$")
    scopes: list[str] | None = Field(default=None, max_length=4)
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)
    stores: _IdList | None = Field(default=None, max_length=256, description="Within the caller's (null: the same)")
    cameras: _IdList | None = Field(default=None, max_length=256, description="Within the caller's (null: the same)")


class TokenOut(BaseModel):
    id: str
    user_id: int
    name: str
    role: str
    scopes: list[str]
    created_at: str
    expires_at: str
    last_used_at: str | None
    revoked: bool
    stores: list[str] | None = None
    cameras: list[str] | None = None


class NewTokenOut(TokenOut):
    token: str = Field(description="The token; shown only now, store it safely")


class AuditOut(BaseModel):
    seq: int
    ts: str
    actor: str
    action: str
    target: str | None
    outcome: str
    ip: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditVerifyOut(BaseModel):
    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str | None
    head_seq: int | None
    head_hash: str | None
    note: str | None = Field(default=None, description="What could not be checked (e.g. no audit key)")


class DeletionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: datetime
    end: datetime
    camera_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=_ID_PATTERN)
    zone_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=_ID_PATTERN)
    reason: str = Field(default="", max_length=500)


class DeletionOut(BaseModel):
    request: dict[str, Any]
    deleted: dict[str, int]
    audit_seq: int | None


def _rt(request: Request) -> SecurityRuntime:
    rt: SecurityRuntime = request.app.state.security
    return rt


def _actor(request: Request) -> Principal:
    p = principal_of(request)
    if p is None:  # the gate lets no anonymous request reach a protected route
        raise HTTPException(401, detail="authentication required")
    return p


def _audit(request: Request, action: str, *, target: str | None = None, outcome: str = "ok", **details: Any) -> None:
    rt = _rt(request)
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


def _audit_name(rt: SecurityRuntime, username: str) -> str:
    """A login name as the audit log may keep it: in clear when it is an account's name, else a
    short keyed hash, because people type passwords into the name field and the log is
    append-only (nothing written there can be taken back)."""
    with rt.db.engine.connect() as conn:
        known = get_user(conn, username) is not None
    return username if known else pseudonymous_name(rt.db, username)


def _restriction_change(value: list[str] | str | None) -> str | None:
    """A PATCH's restriction: None unchanged, 'all' lifted, else the ids (validated by users)."""
    if value is None or isinstance(value, str):
        return value
    return " ".join(value) if value else ""


def _too_many(retry_after: float) -> HTTPException:
    return HTTPException(
        429, detail="too many attempts; try again later", headers={"Retry-After": str(max(1, int(retry_after + 0.999)))}
    )


# --------------------------------------------------------------------------------------- routers


def build_router() -> APIRouter:
    router = APIRouter(prefix=API)

    @router.post("/auth/login", response_model=LoginOut, tags=["auth"], summary="Sign in (sets a session cookie)")
    def login(request: Request, response: Response, body: LoginIn) -> LoginOut:
        rt = _rt(request)
        ip = rt.client_ip(request.scope) or "unknown"
        decision = rt.guard.clients.hit(ip)
        if not decision.allowed:
            _audit(request, "auth.login_failed", target=_audit_name(rt, body.username), outcome="rate_limited")
            raise _too_many(decision.retry_after_s)
        locked_for = rt.guard.unknown_names.locked_for(body.username)
        if locked_for > 0:
            _audit(request, "auth.login_failed", target=_audit_name(rt, body.username), outcome="locked")
            raise _too_many(locked_for)
        now = rt.clock()
        result = authenticate(rt.db, body.username, body.password, policy=rt.lockout, hasher=rt.hasher, now=now)
        if result.status == "locked":
            _audit(request, "auth.login_failed", target=_audit_name(rt, body.username), outcome="locked")
            raise _too_many(result.retry_after_s)
        if result.user is None:
            lock = rt.guard.unknown_names.failure(body.username)
            _audit(request, "auth.login_failed", target=_audit_name(rt, body.username), outcome=result.status)
            if lock > 0:
                raise _too_many(lock)
            raise HTTPException(401, detail="invalid user name or password")
        rt.guard.unknown_names.success(body.username)
        purge_expired_sessions(rt.db, idle=rt.cookies.idle, now=now)
        new = create_session(rt.db, result.user.id, lifetime=rt.cookies.lifetime, now=now)
        set_session_cookies(response, new, rt.cookies)
        append_audit(rt.db, "auth.login", result.user.username, ip=ip, details={"via": "session"}, now=now)
        return LoginOut(
            user=UserOut(**result.user.to_json_dict()),
            csrf_token=new.csrf_token,
            expires_at=new.expires_at.isoformat(),
        )

    @router.post("/auth/logout", status_code=204, tags=["auth"], summary="End the session")
    def logout(request: Request, response: Response) -> Response:
        rt = _rt(request)
        p = _actor(request)
        if p.session_id is not None:
            end_session_by_id(rt.db, p.session_id)
        _audit(request, "auth.logout")
        out = Response(status_code=204)
        clear_session_cookies(out, rt.cookies)
        return out

    @router.get("/auth/me", response_model=MeOut, tags=["auth"], summary="Who am I")
    def me(request: Request) -> MeOut:
        p = _actor(request)
        return MeOut(
            username=p.username,
            role=p.role.label,
            scopes=sorted(p.scopes),
            via=p.via,
            stores=to_json(p.stores),
            cameras=to_json(p.cameras),
        )

    # users (admin) ------------------------------------------------------------------------------
    @router.get("/users", response_model=list[UserOut], tags=["users"], summary="List users")
    def users_list(request: Request) -> list[UserOut]:
        with _rt(request).db.engine.connect() as conn:
            return [UserOut(**u.to_json_dict()) for u in list_users(conn)]

    @router.post("/users", response_model=UserOut, status_code=201, tags=["users"], summary="Create a user")
    def users_create(request: Request, body: UserIn) -> UserOut:
        rt = _rt(request)
        try:
            stores = parse_restriction(body.stores, "stores")
            cameras = parse_restriction(body.cameras, "cameras")
        except AccessError as exc:
            raise HTTPException(422, detail=str(exc)) from None
        try:
            user = create_user(
                rt.db,
                body.username,
                body.password,
                body.role,
                min_length=rt.cfg.password_min_length,
                hasher=rt.hasher,
                now=rt.clock(),
                stores=stores,
                cameras=cameras,
            )
        except UserError as exc:
            status = 409 if "already exists" in str(exc) else 422
            raise HTTPException(status, detail=str(exc)) from None
        _audit(
            request,
            "user.create",
            target=user.username,
            role=user.role.label,
            stores=to_json(user.stores),
            cameras=to_json(user.cameras),
        )
        return UserOut(**user.to_json_dict())

    @router.get("/users/{username}", response_model=UserOut, tags=["users"], summary="One user")
    def users_get(request: Request, username: str) -> UserOut:
        with _rt(request).db.engine.connect() as conn:
            user = get_user(conn, username)
        if user is None:
            raise HTTPException(404, detail=f"no user {username!r}")
        return UserOut(**user.to_json_dict())

    @router.patch("/users/{username}", response_model=UserOut, tags=["users"], summary="Change a user")
    def users_patch(request: Request, username: str, body: UserPatch) -> UserOut:
        rt = _rt(request)
        try:
            user = update_user(
                rt.db,
                username,
                role=body.role,
                disabled=body.disabled,
                password=body.password,
                unlock=body.unlock,
                min_length=rt.cfg.password_min_length,
                hasher=rt.hasher,
                now=rt.clock(),
                stores=_restriction_change(body.stores),
                cameras=_restriction_change(body.cameras),
            )
        except UserError as exc:
            raise HTTPException(404 if str(exc).startswith("no user") else 422, detail=str(exc)) from None
        changed = body.model_dump(exclude_none=True, exclude={"password"})
        _audit(request, "user.update", target=username, password_changed=body.password is not None, **changed)
        return UserOut(**user.to_json_dict())

    @router.delete("/users/{username}", status_code=204, tags=["users"], summary="Delete a user")
    def users_delete(request: Request, username: str) -> Response:
        rt = _rt(request)
        try:
            found = delete_user(rt.db, username)
        except UserError as exc:
            raise HTTPException(422, detail=str(exc)) from None
        if not found:
            raise HTTPException(404, detail=f"no user {username!r}")
        _audit(request, "user.delete", target=username)
        return Response(status_code=204)

    # tokens --------------------------------------------------------------------------------------
    @router.get("/tokens", response_model=list[TokenOut], tags=["tokens"], summary="API tokens (own; admin: all)")
    def tokens_list(request: Request, all: Annotated[bool, Query()] = False) -> list[TokenOut]:
        p = _actor(request)
        if all and p.role < Role.ADMIN:
            raise HTTPException(403, detail="needs role admin to list every user's tokens")
        if all and p.restricted:
            raise HTTPException(403, detail="needs a credential without store or camera restriction")
        with _rt(request).db.engine.connect() as conn:
            items = list_tokens(conn, None if all else p.user_id)
        return [TokenOut(**t.to_json_dict()) for t in items]

    @router.post("/tokens", response_model=NewTokenOut, status_code=201, tags=["tokens"], summary="Create a token")
    def tokens_create(request: Request, body: TokenIn) -> NewTokenOut:
        rt = _rt(request)
        p = _actor(request)
        try:
            plain, tok = create_token(
                rt.db,
                p.user_id,
                body.name,
                role=body.role,
                scopes=body.scopes,
                expires_in_days=body.expires_in_days,
                default_days=rt.cfg.token_default_days,
                max_days=rt.cfg.token_max_days,
                now=rt.clock(),
                ceiling=p,
                stores=body.stores,
                cameras=body.cameras,
            )
        except TokenError as exc:
            raise HTTPException(422, detail=str(exc)) from None
        _audit(
            request,
            "token.create",
            target=tok.id,
            name=tok.name,
            role=tok.role.label,
            scopes=sorted(tok.scopes),
            stores=to_json(tok.stores),
            cameras=to_json(tok.cameras),
        )
        return NewTokenOut(token=plain, **tok.to_json_dict())

    @router.delete("/tokens/{token_id}", status_code=204, tags=["tokens"], summary="Revoke a token")
    def tokens_revoke(request: Request, token_id: str) -> Response:
        rt = _rt(request)
        p = _actor(request)
        with rt.db.engine.connect() as conn:
            tok = get_token(conn, token_id)
        if tok is None or (tok.user_id != p.user_id and (p.role < Role.ADMIN or p.restricted)):
            raise HTTPException(404, detail="no such token")
        if not revoke_token(rt.db, token_id, now=rt.clock()):
            raise HTTPException(404, detail="token already revoked")
        _audit(request, "token.revoke", target=token_id)
        return Response(status_code=204)

    # audit (admin) -------------------------------------------------------------------------------
    @router.get("/audit", response_model=list[AuditOut], tags=["audit"], summary="Audit records, newest first")
    def audit_list(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        before_seq: Annotated[int | None, Query(ge=1, le=2**62)] = None,
        action: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    ) -> list[AuditOut]:
        with _rt(request).db.engine.connect() as conn:
            records = list_audit(conn, limit=limit, before_seq=before_seq, action=action)
        return [AuditOut(**r.to_json_dict()) for r in records]

    @router.get("/audit/verify", response_model=AuditVerifyOut, tags=["audit"], summary="Verify the hash chain")
    def audit_verify(request: Request) -> AuditVerifyOut:
        rt = _rt(request)
        days = rt.store.privacy.retention.audit_days
        v = verify_audit(rt.db, retention=None if days is None else timedelta(days=days), now=rt.clock())
        return AuditVerifyOut(
            ok=v.ok,
            checked=v.checked,
            first_bad_seq=v.first_bad_seq,
            reason=v.reason,
            head_seq=v.head_seq,
            head_hash=v.head_hash,
            note=v.note,
        )

    # privacy ------------------------------------------------------------------------------------
    @router.get("/privacy/report", tags=["privacy"], summary="What is collected, kept, shown and sent")
    def privacy_report(request: Request) -> dict[str, Any]:
        rt = _rt(request)
        return build_report(rt.store, rt.db).to_json_dict()

    @router.post(
        "/privacy/deletions", response_model=DeletionOut, tags=["privacy"], summary="Delete data (window/camera/zone)"
    )
    def privacy_delete(request: Request, body: Annotated[DeletionIn, Body()]) -> DeletionOut:
        rt = _rt(request)
        p = _actor(request)
        try:
            req = DeletionRequest(body.start, body.end, body.camera_id, body.zone_id, body.reason)
        except (DeletionError, OverflowError, ValueError) as exc:
            raise HTTPException(422, detail=str(exc)) from None
        zone_cameras = {z.id: z.camera for z in rt.store.zones}
        report = delete_data(
            rt.db,
            req,
            actor=p.username,
            snapshots=rt.snapshots,
            zone_cameras=zone_cameras,
            ip=rt.client_ip(request.scope),
            now=rt.clock(),
        )
        return DeletionOut(**report.to_json_dict())

    return router


# ------------------------------------------------------------------------------------- install


def snapshot_store_for(
    store: StoreConfig, db: Database, environ: dict[str, str] | None = None
) -> EncryptedFileStore | None:
    """The encrypted snapshot store, or None when no key is configured (then no imagery is kept)."""
    sec = store.security
    key_file = store.resolve_path(sec.key_file) if sec.key_file else None
    try:
        keys = KeyRing.load(key_file, sec.key_env, environ)
    except KeyConfigError as exc:
        if key_file is not None:
            raise  # a configured key file that cannot be used is an error, not "no snapshots"
        log.info("no encryption key (%s): snapshots are not stored", exc)
        return None
    if store.privacy.snapshot_dir:
        root = store.resolve_path(store.privacy.snapshot_dir)
    else:
        url = make_url(db.url)
        base = Path(url.database).parent if url.get_backend_name() == "sqlite" and url.database else Path.cwd()
        root = base / "snapshots"
    return EncryptedFileStore(root, keys)


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
    app.include_router(build_router())
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


def require(role: Role | str, scope: str = "read") -> Callable[[HTTPConnection], Principal]:
    """Alias of ``rbac.require_role`` for routes added outside the table."""

    def dependency(conn: HTTPConnection) -> Principal:
        return check(conn, role, scope)

    return dependency


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
