"""Users: creation (no default account, no default password), roles, lockout, authentication.

The first admin is made with ``storelens user add NAME --role admin``; nothing is created
automatically. Failed logins are counted per user in the database and lock the account for a
while after too many in a row, which survives restarts and holds across processes. A locked
account is refused without even checking the password, so lockout cannot be used to test guesses.

The last enabled admin cannot be deleted, disabled or demoted: that would lock everyone out of
user management. Nor can the last enabled admin without a store/camera restriction be restricted
(``security.access``: user management needs an unrestricted credential).

Disabling an account ends its sessions and revokes its API tokens for good: re-enabling it (by
mistake, or once a dispute is over) must not hand a stolen cookie or token back its power.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from storelens.security.access import AccessError, Restriction, from_column, parse_restriction, to_column, to_json
from storelens.security.models import API_TOKENS, SESSIONS, USERS
from storelens.security.passwords import (
    DEFAULT_HASHER,
    burn_verification,
    check_password_policy,
    hash_password,
    verify_password,
)
from storelens.security.rbac import Role
from storelens.storage.database import Database

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class UserError(ValueError):
    """A user cannot be created or changed (the message says why)."""


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: Role
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None
    locked_until: datetime | None
    failed_logins: int
    stores: Restriction = None
    """Stores the user may see (None: all), see ``security.access``."""
    cameras: Restriction = None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "role": self.role.label,
            "disabled": self.disabled,
            "created_at": self.created_at.isoformat(),
            "last_login_at": None if self.last_login_at is None else self.last_login_at.isoformat(),
            "locked_until": None if self.locked_until is None else self.locked_until.isoformat(),
            "stores": to_json(self.stores),
            "cameras": to_json(self.cameras),
        }


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class AuthResult:
    user: User | None
    status: Literal["ok", "bad_credentials", "locked", "disabled"]
    retry_after_s: float = 0.0


def _row_to_user(row: Any) -> User:
    return User(
        id=int(row.id),
        username=row.username,
        role=Role.parse(row.role),
        disabled=bool(row.disabled),
        created_at=row.created_at,
        last_login_at=row.last_login_at,
        locked_until=row.locked_until,
        failed_logins=int(row.failed_logins),
        stores=from_column(row.allowed_stores),
        cameras=from_column(row.allowed_cameras),
    )


_ALL = "all"


def validate_username(username: str) -> str:
    if not USERNAME_RE.fullmatch(username or ""):
        raise UserError("user name must be 1-64 characters: letters, digits, '_', '.', '@', '-' (not first)")
    return username


def get_user(conn: Connection, username: str) -> User | None:
    row = conn.execute(sa.select(USERS).where(USERS.c.username == username)).first()
    return None if row is None else _row_to_user(row)


def get_user_by_id(conn: Connection, user_id: int) -> User | None:
    row = conn.execute(sa.select(USERS).where(USERS.c.id == user_id)).first()
    return None if row is None else _row_to_user(row)


def list_users(conn: Connection) -> list[User]:
    return [_row_to_user(r) for r in conn.execute(sa.select(USERS).order_by(USERS.c.username)).all()]


def _enabled_admins(conn: Connection) -> int:
    q = sa.select(sa.func.count()).where(USERS.c.role == Role.ADMIN.label, USERS.c.disabled.is_(False))
    return int(conn.execute(q).scalar_one())


def _unrestricted_admins(conn: Connection) -> int:
    q = sa.select(sa.func.count()).where(
        USERS.c.role == Role.ADMIN.label,
        USERS.c.disabled.is_(False),
        USERS.c.allowed_stores.is_(None),
        USERS.c.allowed_cameras.is_(None),
    )
    return int(conn.execute(q).scalar_one())


def create_user(
    db: Database,
    username: str,
    password: str,
    role: Role | str,
    *,
    min_length: int = 12,
    hasher: PasswordHasher = DEFAULT_HASHER,
    now: datetime | None = None,
    stores: Restriction = None,
    cameras: Restriction = None,
) -> User:
    """Create a user; the password must meet the policy. ``stores``/``cameras`` restrict what the
    user (and every token of theirs) may see; None: all. Raises :class:`UserError`."""
    validate_username(username)
    r = Role.parse(role)
    try:
        check_password_policy(password, min_length=min_length, username=username)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    now = now or datetime.now(UTC)
    pw_hash = hash_password(password, hasher=hasher)
    try:
        with db.begin() as conn:
            new_id: int = conn.execute(
                USERS.insert()
                .values(
                    username=username,
                    role=r.label,
                    password_hash=pw_hash,
                    disabled=False,
                    failed_logins=0,
                    created_at=now,
                    updated_at=now,
                    allowed_stores=to_column(stores),
                    allowed_cameras=to_column(cameras),
                )
                .returning(USERS.c.id)
            ).scalar_one()
            row = conn.execute(sa.select(USERS).where(USERS.c.id == new_id)).one()
    except IntegrityError:
        raise UserError(f"user {username!r} already exists") from None
    return _row_to_user(row)


def update_user(
    db: Database,
    username: str,
    *,
    role: Role | str | None = None,
    disabled: bool | None = None,
    password: str | None = None,
    unlock: bool = False,
    min_length: int = 12,
    hasher: PasswordHasher = DEFAULT_HASHER,
    now: datetime | None = None,
    stores: Restriction | str = None,
    cameras: Restriction | str = None,
) -> User:
    """Change role, enabled state, password (which also unlocks) or the store/camera restriction
    (None: unchanged, ``"all"``: lifted). Raises :class:`UserError`."""
    now = now or datetime.now(UTC)
    values: dict[str, Any] = {"updated_at": now}
    kinds: tuple[tuple[str, Literal["stores", "cameras"], Restriction | str], ...] = (
        ("allowed_stores", "stores", stores),
        ("allowed_cameras", "cameras", cameras),
    )
    for column, kind, r in kinds:
        if r is None:
            continue
        if isinstance(r, str):
            lifted = r.strip().lower() == _ALL
            try:
                r = None if lifted else parse_restriction(r, kind)
            except AccessError as exc:
                raise UserError(str(exc)) from None
        values[column] = to_column(r)
    if role is not None:
        values["role"] = Role.parse(role).label
    if disabled is not None:
        values["disabled"] = bool(disabled)
    if password is not None:
        try:
            check_password_policy(password, min_length=min_length, username=username)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        values["password_hash"] = hash_password(password, hasher=hasher)
        unlock = True
    if unlock:
        values.update(failed_logins=0, locked_until=None)
    with db.begin() as conn:
        current = get_user(conn, username)
        if current is None:
            raise UserError(f"no user {username!r}")
        demoted = values.get("role", current.role.label) != Role.ADMIN.label
        disabling = values.get("disabled", current.disabled)
        last_admin = current.role is Role.ADMIN and not current.disabled and _enabled_admins(conn) <= 1
        if last_admin and (demoted or disabling):
            raise UserError("cannot demote or disable the last enabled admin")
        restricting = any(values[c] is not None for c in ("allowed_stores", "allowed_cameras") if c in values)
        if (
            current.role is Role.ADMIN
            and not current.disabled
            and current.stores is None
            and current.cameras is None
            and (restricting or demoted or disabling)
            and _unrestricted_admins(conn) <= 1
        ):
            # user management needs an unrestricted admin (security.access): keep one
            raise UserError("cannot restrict, demote or disable the last unrestricted enabled admin")
        conn.execute(sa.update(USERS).where(USERS.c.id == current.id).values(**values))
        if password is not None or (disabled and not current.disabled):
            # a new password ends every session of the user (stolen cookies stop working); so does
            # disabling: a session that merely stops resolving while the user is disabled would
            # come back on re-enabling, so it is deleted instead
            conn.execute(sa.delete(SESSIONS).where(SESSIONS.c.user_id == current.id))
        if disabled and not current.disabled:
            # and every live API token is revoked for good (kept for the record, as revoke_token
            # does): re-enabling the account gives it no credential it had before
            conn.execute(
                sa.update(API_TOKENS)
                .where(API_TOKENS.c.user_id == current.id, API_TOKENS.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        row = conn.execute(sa.select(USERS).where(USERS.c.id == current.id)).one()
    return _row_to_user(row)


def delete_user(db: Database, username: str) -> bool:
    """Delete a user (their tokens and sessions go with them). False if there was none."""
    with db.begin() as conn:
        current = get_user(conn, username)
        if current is None:
            return False
        if current.role is Role.ADMIN and not current.disabled and _enabled_admins(conn) <= 1:
            raise UserError("cannot delete the last enabled admin")
        unrestricted = current.stores is None and current.cameras is None
        if current.role is Role.ADMIN and not current.disabled and unrestricted and _unrestricted_admins(conn) <= 1:
            raise UserError("cannot delete the last unrestricted enabled admin")
        # explicit, so SQLite without foreign key enforcement behaves the same as PostgreSQL
        conn.execute(sa.delete(SESSIONS).where(SESSIONS.c.user_id == current.id))
        conn.execute(sa.delete(API_TOKENS).where(API_TOKENS.c.user_id == current.id))
        conn.execute(sa.delete(USERS).where(USERS.c.id == current.id))
    return True


def authenticate(
    db: Database,
    username: str,
    password: str,
    *,
    policy: LockoutPolicy = LockoutPolicy(),
    hasher: PasswordHasher = DEFAULT_HASHER,
    now: datetime | None = None,
) -> AuthResult:
    """Check a password, counting failures and locking the account after ``policy.max_failures``.

    Unknown user names cost the same hashing time as known ones and report ``bad_credentials``;
    the caller keeps its own in-memory count for them (``ratelimit.LoginGuard``)."""
    now = now or datetime.now(UTC)
    with db.engine.connect() as conn:
        row = conn.execute(sa.select(USERS).where(USERS.c.username == username)).first()
    if row is None:
        burn_verification(password, hasher=hasher)
        return AuthResult(None, "bad_credentials")
    user = _row_to_user(row)
    if user.locked_until is not None and user.locked_until > now:
        return AuthResult(None, "locked", (user.locked_until - now).total_seconds())
    check = verify_password(row.password_hash, password, hasher=hasher)
    if not check.ok:
        with db.begin() as conn:
            # increment in SQL so concurrent failures from several workers all count
            failed: int = conn.execute(
                sa.update(USERS)
                .where(USERS.c.id == user.id)
                .values(failed_logins=USERS.c.failed_logins + 1, updated_at=now)
                .returning(USERS.c.failed_logins)
            ).scalar_one()
            if failed >= policy.max_failures:
                until = now + policy.lockout
                conn.execute(sa.update(USERS).where(USERS.c.id == user.id).values(failed_logins=0, locked_until=until))
                return AuthResult(None, "locked", policy.lockout.total_seconds())
        return AuthResult(None, "bad_credentials")
    if user.disabled:
        return AuthResult(None, "disabled")
    values: dict[str, Any] = {"failed_logins": 0, "locked_until": None, "last_login_at": now}
    if check.needs_rehash:
        values["password_hash"] = hash_password(password, hasher=hasher)
    with db.begin() as conn:
        conn.execute(sa.update(USERS).where(USERS.c.id == user.id).values(**values))
        row = conn.execute(sa.select(USERS).where(USERS.c.id == user.id)).one()
    return AuthResult(_row_to_user(row), "ok")
