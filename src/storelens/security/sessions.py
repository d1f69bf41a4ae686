"""Dashboard sessions: an opaque random cookie (HttpOnly, Secure, SameSite=Strict) plus a CSRF
token for the double-submit check.

The session cookie is 256 random bits; the database keeps only its SHA-256, so a copy of the
database cannot be replayed as a login. The cookie is ``HttpOnly`` (page scripts, and so an XSS,
cannot read it), ``Secure`` (never sent over plain http, except that browsers treat localhost as
secure), ``SameSite=Strict`` (not sent on cross-site requests) and, when Secure, named with the
``__Host-`` prefix (browsers then refuse it if it was set without Secure, with a Domain, or for a
sub-path).

The CSRF token is a second random value, readable by the dashboard's scripts (not HttpOnly), which
must come back in the ``X-CSRF-Token`` header of every state-changing request; it is also bound to
the session (its digest is stored with it), so a token planted in a cookie from elsewhere does
not match. A session ends at its absolute lifetime, after an idle period, at logout, or when the
user's password changes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from starlette.responses import Response

from storelens.security.access import from_column
from storelens.security.models import SESSIONS, USERS
from storelens.security.rbac import ROLE_SCOPES, Principal, Role
from storelens.storage.database import Database

CSRF_HEADER = "x-csrf-token"
_TOUCH_EVERY = timedelta(minutes=1)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class CookieSettings:
    secure: bool = True
    lifetime: timedelta = timedelta(hours=12)
    idle: timedelta = timedelta(hours=1)

    @property
    def session_name(self) -> str:
        return "__Host-storelens_session" if self.secure else "storelens_session"

    @property
    def csrf_name(self) -> str:
        return "__Host-storelens_csrf" if self.secure else "storelens_csrf"


@dataclass(frozen=True, slots=True)
class NewSession:
    secret: str
    csrf_token: str
    expires_at: datetime


def create_session(db: Database, user_id: int, *, lifetime: timedelta, now: datetime | None = None) -> NewSession:
    now = now or datetime.now(UTC)
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = now + lifetime
    with db.begin() as conn:
        conn.execute(
            SESSIONS.insert().values(
                id=_digest(secret),
                user_id=user_id,
                csrf_hash=_digest(csrf),
                created_at=now,
                expires_at=expires,
                last_seen_at=now,
            )
        )
    return NewSession(secret, csrf, expires)


def resolve_session(
    db: Database, secret: str, *, idle: timedelta, now: datetime | None = None
) -> tuple[Principal, str] | None:
    """(principal, stored CSRF digest) for a live session cookie, else None."""
    if not secret or len(secret) > 256:
        return None
    now = now or datetime.now(UTC)
    sid = _digest(secret)
    with db.engine.connect() as conn:
        row = conn.execute(
            sa.select(
                SESSIONS,
                USERS.c.username,
                USERS.c.role,
                USERS.c.disabled,
                USERS.c.allowed_stores,
                USERS.c.allowed_cameras,
            )
            .join(USERS, USERS.c.id == SESSIONS.c.user_id)
            .where(SESSIONS.c.id == sid)
        ).first()
    if row is None or row.disabled or row.expires_at <= now or row.last_seen_at + idle <= now:
        return None
    if now - row.last_seen_at >= _TOUCH_EVERY:
        with db.begin() as conn:
            conn.execute(sa.update(SESSIONS).where(SESSIONS.c.id == sid).values(last_seen_at=now))
    role = Role.parse(row.role)
    principal = Principal(
        int(row.user_id),
        row.username,
        role,
        ROLE_SCOPES[role],
        "session",
        session_id=sid,
        stores=from_column(row.allowed_stores),
        cameras=from_column(row.allowed_cameras),
    )
    return principal, str(row.csrf_hash)


def csrf_matches(csrf_hash: str, header_value: str | None, cookie_value: str | None) -> bool:
    """Double submit, bound to the session: header == cookie and digest(header) == stored digest."""
    if not header_value or not cookie_value:
        return False
    if not hmac.compare_digest(header_value.encode(), cookie_value.encode()):
        return False
    return hmac.compare_digest(_digest(header_value), csrf_hash)


def end_session(db: Database, secret: str) -> bool:
    with db.begin() as conn:
        res = conn.execute(sa.delete(SESSIONS).where(SESSIONS.c.id == _digest(secret)))
    return bool(res.rowcount)


def end_session_by_id(db: Database, session_id: str) -> bool:
    with db.begin() as conn:
        res = conn.execute(sa.delete(SESSIONS).where(SESSIONS.c.id == session_id))
    return bool(res.rowcount)


def purge_expired_sessions(db: Database, *, idle: timedelta, now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    with db.begin() as conn:
        res = conn.execute(
            sa.delete(SESSIONS).where(sa.or_(SESSIONS.c.expires_at <= now, SESSIONS.c.last_seen_at <= now - idle))
        )
    return int(res.rowcount or 0)


def set_session_cookies(response: Response, new: NewSession, settings: CookieSettings) -> None:
    max_age = int(settings.lifetime.total_seconds())
    common: dict[str, Any] = {"max_age": max_age, "path": "/", "secure": settings.secure, "samesite": "strict"}
    response.set_cookie(settings.session_name, new.secret, httponly=True, **common)
    response.set_cookie(settings.csrf_name, new.csrf_token, httponly=False, **common)


def clear_session_cookies(response: Response, settings: CookieSettings) -> None:
    for name, httponly in ((settings.session_name, True), (settings.csrf_name, False)):
        response.delete_cookie(name, path="/", secure=settings.secure, httponly=httponly, samesite="strict")
