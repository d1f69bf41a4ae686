"""Tables of the security layer: users, API tokens, sessions, the audit log and its anchor.

They are declared on the storage package's declarative ``Base`` so that the schema check of the
storage tests (migrated database == ``Base.metadata``) covers them as soon as this module is
imported; they are created by the Alembic revision ``0002_security`` in
``storelens/storage/migrations/versions``.

Secrets never reach these tables in a usable form: passwords are argon2id hashes, API tokens and
session ids are SHA-256 digests of 256-bit random values (a digest is enough for a random secret:
there is nothing to brute-force), and the CSRF token of a session is stored as a digest too.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storelens.storage.models import Base, UTCDateTime


class UserRow(Base):
    """A person who can sign in to the dashboard/API. ``role`` is viewer, analyst or admin."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)
    role: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    password_hash: Mapped[str] = mapped_column(sa.String(256), nullable=False)
    disabled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    failed_logins: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    allowed_stores: Mapped[str | None] = mapped_column(sa.Text)
    """Space-separated store ids the user may see; NULL: all (``security.access``)."""
    allowed_cameras: Mapped[str | None] = mapped_column(sa.Text)
    """Space-separated ``camera`` / ``store/camera`` ids; NULL: all."""


class ApiTokenRow(Base):
    """An API token: ``id`` is the public part printed in the token, ``secret_hash`` the SHA-256
    of the secret part. ``role`` caps what the token can do below its owner's role; ``scopes`` is a
    space-separated subset of read, write, export, admin."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(128), nullable=False)
    secret_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    role: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    scopes: Mapped[str] = mapped_column(sa.String(128), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    allowed_stores: Mapped[str | None] = mapped_column(sa.Text)
    """Within the owner's: the effective restriction is the intersection of both (NULL: all)."""
    allowed_cameras: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (sa.Index("ix_api_tokens_user", "user_id"),)


class SessionRow(Base):
    """A dashboard session: ``id`` is the SHA-256 of the cookie value."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    csrf_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (sa.Index("ix_sessions_user", "user_id"), sa.Index("ix_sessions_expires", "expires_at"))


class AuditRow(Base):
    """One audit record. ``hash`` = SHA-256 over ``prev_hash`` and the record's canonical form, so
    changing, inserting or removing a record breaks every later link (see ``security.audit``)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    actor: Mapped[str] = mapped_column(sa.String(128), nullable=False)
    action: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    target: Mapped[str | None] = mapped_column(sa.String(256))
    outcome: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    details: Mapped[str] = mapped_column(sa.Text, nullable=False)
    prev_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)

    __table_args__ = (sa.Index("ix_audit_log_ts", "ts"), sa.Index("ix_audit_log_action_ts", "action", "ts"))


class AuditAnchorRow(Base):
    """Where the chain starts after retention removed its oldest records: the last removed
    record's ``seq`` and ``hash`` (one row, id 1). Absent: the chain starts at the genesis hash."""

    __tablename__ = "audit_anchor"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # HMAC (audit key, kept outside the database) over seq, hash and last_ts: an anchor inserted by
    # someone without the key does not verify (migration 0006)
    mac: Mapped[str | None] = mapped_column(sa.String(64))
    last_ts: Mapped[datetime | None] = mapped_column(UTCDateTime())  # ts of the last record it covers


def _table(cls: type[Base]) -> sa.Table:
    table = cls.__table__
    assert isinstance(table, sa.Table)
    return table


USERS = _table(UserRow)
API_TOKENS = _table(ApiTokenRow)
SESSIONS = _table(SessionRow)
AUDIT_LOG = _table(AuditRow)
AUDIT_ANCHOR = _table(AuditAnchorRow)
SECURITY_TABLES = (USERS, API_TOKENS, SESSIONS, AUDIT_LOG, AUDIT_ANCHOR)
