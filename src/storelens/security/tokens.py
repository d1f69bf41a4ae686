"""API tokens for integrations: random, hashed at rest, scoped, expiring, revocable.

A token reads ``slt_<id>_<secret>``: ``id`` (16 hex digits) finds the row, ``secret`` (256 random
bits) is checked against the stored SHA-256 in constant time. Only the digest is stored, so the
database alone never yields a working token; the plaintext is shown once, when it is created.

A token can do at most what its owner can: its effective role is the smaller of the token's role
and the owner's *current* role (demoting a user demotes their tokens), it stops working when the
owner is disabled (and is revoked then, so re-enabling the owner does not revive it) or deleted,
and its scopes are cut down to what that role may hold.

A token created *by a credential* (the API's ``POST /tokens``) can do at most what that credential
can: its role, scopes and expiry never exceed the caller's (``ceiling``), so a restricted token
cannot mint a broader or longer-lived one.

The same holds for stores and cameras (``security.access``): a token's restriction must lie
within its owner's and within the calling credential's (asking for none means "the same as the
ceiling"), and at use the effective restriction is the intersection with the owner's current one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storelens.security.access import (
    AccessError,
    Restriction,
    from_column,
    intersect_cameras,
    intersect_stores,
    parse_restriction,
    to_column,
    to_json,
    within,
)
from storelens.security.models import API_TOKENS, USERS
from storelens.security.rbac import ROLE_SCOPES, Principal, Role, parse_scopes
from storelens.storage.database import Database

PREFIX = "slt_"
_TOKEN_RE = re.compile(r"^slt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_LAST_USED_EVERY = timedelta(minutes=1)  # don't write a row on every request


class TokenError(ValueError):
    """A token cannot be created as asked (the message says why)."""


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: str
    user_id: int
    name: str
    role: Role
    scopes: frozenset[str]
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    stores: Restriction = None
    cameras: Restriction = None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "name": self.name,
            "role": self.role.label,
            "scopes": sorted(self.scopes),
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "last_used_at": None if self.last_used_at is None else self.last_used_at.isoformat(),
            "revoked": self.revoked_at is not None,
            "stores": to_json(self.stores),
            "cameras": to_json(self.cameras),
        }


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _row_to_token(row: Any) -> ApiToken:
    return ApiToken(
        id=row.id,
        user_id=int(row.user_id),
        name=row.name,
        role=Role.parse(row.role),
        scopes=frozenset(row.scopes.split()),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        stores=from_column(row.allowed_stores),
        cameras=from_column(row.allowed_cameras),
    )


def create_token(
    db: Database,
    user_id: int,
    name: str,
    *,
    role: Role | str | None = None,
    scopes: str | list[str] | tuple[str, ...] | None = None,
    expires_in_days: float | None = None,
    default_days: float = 90,
    max_days: float = 365,
    now: datetime | None = None,
    ceiling: Principal | None = None,
    stores: str | list[str] | frozenset[str] | None = None,
    cameras: str | list[str] | frozenset[str] | None = None,
) -> tuple[str, ApiToken]:
    """Create a token for ``user_id``; returns (plaintext shown once, stored token).

    ``ceiling`` is the credential asking for it (None: the owner at the console): the new token's
    role, scopes and expiry are bounded by the caller's, and asking for more is an error rather
    than a silent cut, so an integration never holds a token that is not what it asked for.
    """
    now = now or datetime.now(UTC)
    if not name or len(name) > 128:
        raise TokenError("token name must be 1-128 characters")
    days = default_days if expires_in_days is None else expires_in_days
    if not 0 < days <= max_days:
        raise TokenError(f"token lifetime must be within (0, {max_days:g}] days, got {days:g}")
    try:
        asked_stores = parse_restriction(stores, "stores")
        asked_cameras = parse_restriction(cameras, "cameras")
    except AccessError as exc:
        raise TokenError(str(exc)) from None
    with db.begin() as conn:
        owner = conn.execute(
            sa.select(USERS.c.role, USERS.c.disabled, USERS.c.allowed_stores, USERS.c.allowed_cameras).where(
                USERS.c.id == user_id
            )
        ).first()
        if owner is None or owner.disabled:
            raise TokenError("token owner does not exist or is disabled")
        owner_role = Role.parse(owner.role)
        limit_role = owner_role if ceiling is None else min(owner_role, ceiling.role)
        token_role = limit_role if role is None else Role.parse(role)
        if token_role > limit_role:
            who = f"a {owner_role.label}" if ceiling is None else f"a {ceiling.role.label} {ceiling.via}"
            raise TokenError(f"{who} cannot create a {token_role.label} token")
        try:
            token_scopes = parse_scopes(scopes, token_role)
        except ValueError as exc:
            raise TokenError(str(exc)) from None
        if ceiling is not None:
            if scopes is None:
                token_scopes = token_scopes & ceiling.scopes
            beyond = sorted(token_scopes - ceiling.scopes)
            if beyond:
                raise TokenError(f"the calling {ceiling.via} lacks scope(s) {beyond}")
            if not token_scopes:
                raise TokenError("a token needs at least one scope")
        cap_stores = from_column(owner.allowed_stores)
        cap_cameras = from_column(owner.allowed_cameras)
        if ceiling is not None:
            cap_stores = intersect_stores(cap_stores, ceiling.stores)
            cap_cameras = intersect_cameras(cap_cameras, ceiling.cameras)
        try:
            token_stores = within(asked_stores, cap_stores, "stores")
            token_cameras = within(asked_cameras, cap_cameras, "cameras")
        except AccessError as exc:
            raise TokenError(str(exc)) from None
        if ceiling is None:
            # from the console, "no restriction asked" follows the owner's restriction as it changes
            token_stores = asked_stores
            token_cameras = asked_cameras
        if token_stores is not None and not token_stores:
            raise TokenError("the granting credentials share no store: the token could see nothing")
        if token_cameras is not None and not token_cameras:
            raise TokenError("the granting credentials share no camera: the token could see nothing")
        expires_at = now + timedelta(days=days)
        if ceiling is not None and ceiling.expires_at is not None and expires_at > ceiling.expires_at:
            if expires_in_days is not None:
                raise TokenError(
                    f"the new token would outlive the calling token (which expires {ceiling.expires_at.isoformat()})"
                )
            expires_at = ceiling.expires_at  # the default lifetime is cut to the caller's
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        conn.execute(
            API_TOKENS.insert().values(
                id=token_id,
                user_id=user_id,
                name=name,
                secret_hash=_digest(secret),
                role=token_role.label,
                scopes=" ".join(sorted(token_scopes)),
                created_at=now,
                expires_at=expires_at,
                allowed_stores=to_column(token_stores),
                allowed_cameras=to_column(token_cameras),
            )
        )
        row = conn.execute(sa.select(API_TOKENS).where(API_TOKENS.c.id == token_id)).one()
    return f"{PREFIX}{token_id}_{secret}", _row_to_token(row)


def looks_like_token(value: str) -> bool:
    return value.startswith(PREFIX)


def verify_token(db: Database, plaintext: str, *, now: datetime | None = None) -> Principal | None:
    """The principal a token stands for, or None (malformed, unknown, wrong secret, expired,
    revoked, or owner disabled/deleted). Never says which, so a caller cannot probe."""
    m = _TOKEN_RE.fullmatch(plaintext.strip())
    if m is None:
        return None
    token_id, secret = m.group(1), m.group(2)
    now = now or datetime.now(UTC)
    with db.engine.connect() as conn:
        row = conn.execute(
            sa.select(
                API_TOKENS,
                USERS.c.username,
                USERS.c.role.label("user_role"),
                USERS.c.disabled,
                USERS.c.allowed_stores.label("user_stores"),
                USERS.c.allowed_cameras.label("user_cameras"),
            )
            .join(USERS, USERS.c.id == API_TOKENS.c.user_id)
            .where(API_TOKENS.c.id == token_id)
        ).first()
    if row is None or not hmac.compare_digest(row.secret_hash, _digest(secret)):
        return None
    if row.revoked_at is not None or row.expires_at <= now or row.disabled:
        return None
    role = min(Role.parse(row.role), Role.parse(row.user_role))
    scopes = frozenset(row.scopes.split()) & ROLE_SCOPES[role]
    if row.last_used_at is None or now - row.last_used_at >= _LAST_USED_EVERY:
        with db.begin() as conn:
            conn.execute(sa.update(API_TOKENS).where(API_TOKENS.c.id == token_id).values(last_used_at=now))
    return Principal(
        int(row.user_id),
        row.username,
        role,
        scopes,
        "token",
        token_id=token_id,
        expires_at=row.expires_at,
        stores=intersect_stores(from_column(row.allowed_stores), from_column(row.user_stores)),
        cameras=intersect_cameras(from_column(row.allowed_cameras), from_column(row.user_cameras)),
    )


def list_tokens(conn: Connection, user_id: int | None = None) -> list[ApiToken]:
    q = sa.select(API_TOKENS).order_by(API_TOKENS.c.created_at.desc())
    if user_id is not None:
        q = q.where(API_TOKENS.c.user_id == user_id)
    return [_row_to_token(r) for r in conn.execute(q).all()]


def get_token(conn: Connection, token_id: str) -> ApiToken | None:
    row = conn.execute(sa.select(API_TOKENS).where(API_TOKENS.c.id == token_id)).first()
    return None if row is None else _row_to_token(row)


def revoke_token(db: Database, token_id: str, *, now: datetime | None = None) -> bool:
    """Revoke (kept for the record, never valid again). False if no such live token."""
    now = now or datetime.now(UTC)
    with db.begin() as conn:
        res = conn.execute(
            sa.update(API_TOKENS)
            .where(API_TOKENS.c.id == token_id, API_TOKENS.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    return bool(res.rowcount)
