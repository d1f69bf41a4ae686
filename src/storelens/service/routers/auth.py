"""``/auth/login``, ``/auth/logout``, ``/auth/me``: sessions for the dashboard (rate-limited, locked out
after repeated failures, every attempt audited)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from storelens.security.access import to_json
from storelens.security.audit import append_audit
from storelens.security.sessions import (
    clear_session_cookies,
    create_session,
    end_session_by_id,
    purge_expired_sessions,
    set_session_cookies,
)
from storelens.security.users import authenticate
from storelens.service.routers._security import actor, audit_name, record_audit, runtime, too_many
from storelens.service.schemas.security import LoginIn, LoginOut, MeOut, UserOut

router = APIRouter(prefix="/api/v1")


@router.post("/auth/login", response_model=LoginOut, tags=["auth"], summary="Sign in (sets a session cookie)")
def login(request: Request, response: Response, body: LoginIn) -> LoginOut:
    rt = runtime(request)
    ip = rt.client_ip(request.scope) or "unknown"
    decision = rt.guard.clients.hit(ip)
    if not decision.allowed:
        record_audit(request, "auth.login_failed", target=audit_name(rt, body.username), outcome="rate_limited")
        raise too_many(decision.retry_after_s)
    locked_for = rt.guard.unknown_names.locked_for(body.username)
    if locked_for > 0:
        record_audit(request, "auth.login_failed", target=audit_name(rt, body.username), outcome="locked")
        raise too_many(locked_for)
    now = rt.clock()
    result = authenticate(rt.db, body.username, body.password, policy=rt.lockout, hasher=rt.hasher, now=now)
    if result.status == "locked":
        record_audit(request, "auth.login_failed", target=audit_name(rt, body.username), outcome="locked")
        raise too_many(result.retry_after_s)
    if result.user is None:
        lock = rt.guard.unknown_names.failure(body.username)
        record_audit(request, "auth.login_failed", target=audit_name(rt, body.username), outcome=result.status)
        if lock > 0:
            raise too_many(lock)
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
    rt = runtime(request)
    p = actor(request)
    if p.session_id is not None:
        end_session_by_id(rt.db, p.session_id)
    record_audit(request, "auth.logout")
    out = Response(status_code=204)
    clear_session_cookies(out, rt.cookies)
    return out


@router.get("/auth/me", response_model=MeOut, tags=["auth"], summary="Who am I")
def me(request: Request) -> MeOut:
    p = actor(request)
    return MeOut(
        username=p.username,
        role=p.role.label,
        scopes=sorted(p.scopes),
        via=p.via,
        stores=to_json(p.stores),
        cameras=to_json(p.cameras),
    )
