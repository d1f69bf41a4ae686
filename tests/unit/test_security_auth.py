"""Passwords (argon2id), users and lockout, login rate limiting, API tokens (hashed, scoped,
expiring), sessions and their cookie flags, and the RBAC table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher, Type
from starlette.responses import Response

from storelens.security.models import API_TOKENS, SESSIONS, USERS
from storelens.security.passwords import PasswordPolicyError, check_password_policy, hash_password, verify_password
from storelens.security.ratelimit import FailureLockout, SlidingWindowLimiter
from storelens.security.rbac import DEFAULT_RULE, ROUTE_RULES, Role, parse_scopes, rule_for
from storelens.security.sessions import (
    CookieSettings,
    create_session,
    csrf_matches,
    resolve_session,
    set_session_cookies,
)
from storelens.security.tokens import TokenError, create_token, revoke_token, verify_token
from storelens.security.users import LockoutPolicy, UserError, authenticate, create_user, delete_user, update_user
from storelens.storage import Database, open_database

FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
PW = "correct horse battery"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    d = open_database(tmp_path / "sec.db")
    yield d
    d.close()


def user(db: Database, name: str = "alice", role: str = "admin", pw: str = PW) -> int:
    return create_user(db, name, pw, role, hasher=FAST, now=T0).id


# ------------------------------------------------------------------------------ passwords


def test_passwords_are_argon2id_salted_and_verify() -> None:
    h1, h2 = hash_password(PW, hasher=FAST), hash_password(PW, hasher=FAST)
    assert h1.startswith("$argon2id$") and h1 != h2  # random salt
    assert verify_password(h1, PW, hasher=FAST).ok
    assert not verify_password(h1, PW + "x", hasher=FAST).ok
    assert not verify_password("not a hash", PW, hasher=FAST).ok


def test_default_hasher_parameters_are_rfc9106_and_weaker_hashes_need_rehash() -> None:
    h = hash_password(PW)
    assert h.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verify_password(hash_password(PW, hasher=FAST), PW).needs_rehash


def test_argon2i_hashes_are_refused() -> None:
    with pytest.raises(ValueError, match="argon2id"):
        hash_password(PW, hasher=PasswordHasher(type=Type.I, memory_cost=8, time_cost=1, parallelism=1))


@pytest.mark.parametrize(
    ("pw", "rule"),
    [("short", "at least 12"), ("aaaaaaaaaaaaaaaa", "4 different"), ("alice-secret-pw!", "user name")],
)
def test_password_policy(pw: str, rule: str) -> None:
    with pytest.raises(PasswordPolicyError, match=rule):
        check_password_policy(pw, username="alice")


# ------------------------------------------------------------------------------ users + lockout


def test_no_default_user_and_duplicates_refused(db: Database) -> None:
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(USERS)).scalar_one() == 0
    user(db)
    with pytest.raises(UserError, match="already exists"):
        user(db)
    with db.engine.connect() as conn:
        stored = conn.execute(sa.select(USERS.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PW not in stored


def test_lockout_after_n_failures_even_with_the_right_password(db: Database) -> None:
    user(db)
    policy = LockoutPolicy(max_failures=3, lockout=timedelta(minutes=15))
    for _i in range(2):
        assert (
            authenticate(db, "alice", "wrong password!", policy=policy, hasher=FAST, now=T0).status == "bad_credentials"
        )
    third = authenticate(db, "alice", "wrong password!", policy=policy, hasher=FAST, now=T0)
    assert third.status == "locked" and third.retry_after_s == 900
    # locked: the correct password is not even checked
    assert authenticate(db, "alice", PW, policy=policy, hasher=FAST, now=T0 + timedelta(minutes=14)).status == "locked"
    ok = authenticate(db, "alice", PW, policy=policy, hasher=FAST, now=T0 + timedelta(minutes=16))
    assert ok.status == "ok" and ok.user is not None and ok.user.failed_logins == 0


def test_unknown_user_and_disabled_user(db: Database) -> None:
    assert authenticate(db, "nobody", PW, hasher=FAST, now=T0).status == "bad_credentials"
    user(db, "admin0")
    user(db, "bob", "viewer")
    update_user(db, "bob", disabled=True, hasher=FAST)
    assert authenticate(db, "bob", PW, hasher=FAST, now=T0).status == "disabled"


def test_last_admin_cannot_be_removed_demoted_or_disabled(db: Database) -> None:
    user(db, "root")
    for change in ({"role": "viewer"}, {"disabled": True}):
        with pytest.raises(UserError, match="last enabled admin"):
            update_user(db, "root", hasher=FAST, **change)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="last enabled admin"):
        delete_user(db, "root")
    user(db, "root2")
    assert update_user(db, "root", role="viewer", hasher=FAST).role is Role.VIEWER


# ------------------------------------------------------------------------------ rate limiting


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_sliding_window_limits_and_recovers() -> None:
    clock = FakeClock()
    lim = SlidingWindowLimiter(3, 60, clock=clock)
    assert [lim.hit("1.2.3.4").allowed for _ in range(4)] == [True, True, True, False]
    assert lim.hit("5.6.7.8").allowed  # other clients are not affected
    clock.t += 30
    d = lim.hit("1.2.3.4")
    assert not d.allowed and d.retry_after_s == pytest.approx(30)
    clock.t += 31
    assert lim.hit("1.2.3.4").allowed


def test_failure_lockout_for_unknown_names() -> None:
    clock = FakeClock()
    lo = FailureLockout(3, 600, clock=clock)
    assert [lo.failure("ghost") for _ in range(3)][-1] == 600
    assert lo.locked_for("ghost") == 600
    clock.t += 601
    assert lo.locked_for("ghost") == 0


# ------------------------------------------------------------------------------ tokens


def test_token_is_hashed_at_rest_and_verifies(db: Database) -> None:
    uid = user(db)
    plain, _tok = create_token(db, uid, "bi", scopes=["read"], now=T0)
    with db.engine.connect() as conn:
        row = conn.execute(sa.select(API_TOKENS)).one()
    secret = plain.split("_", 2)[2]
    assert secret not in row.secret_hash and len(row.secret_hash) == 64
    p = verify_token(db, plain, now=T0 + timedelta(days=1))
    assert p is not None and p.username == "alice" and p.scopes == frozenset({"read"}) and p.via == "token"
    assert verify_token(db, plain[:-1] + ("A" if plain[-1] != "A" else "B"), now=T0) is None
    assert verify_token(db, "slt_garbage", now=T0) is None


def test_token_expiry_and_revocation(db: Database) -> None:
    uid = user(db)
    plain, _tok = create_token(db, uid, "short", expires_in_days=1, now=T0)
    assert verify_token(db, plain, now=T0 + timedelta(hours=23)) is not None
    assert verify_token(db, plain, now=T0 + timedelta(days=1, seconds=1)) is None
    plain2, tok2 = create_token(db, uid, "rev", now=T0)
    assert revoke_token(db, tok2.id, now=T0) and not revoke_token(db, tok2.id, now=T0)
    assert verify_token(db, plain2, now=T0) is None
    with pytest.raises(TokenError, match="lifetime"):
        create_token(db, uid, "long", expires_in_days=1000, max_days=365, now=T0)


def test_token_scopes_and_role_follow_the_owner(db: Database) -> None:
    user(db, "root")
    uid = user(db, "ann", "analyst")
    with pytest.raises(TokenError, match="cannot create a admin"):
        create_token(db, uid, "x", role="admin", now=T0)
    with pytest.raises(TokenError, match="cannot hold scope"):
        create_token(db, uid, "x", scopes=["admin"], now=T0)
    plain, _ = create_token(db, uid, "exports", scopes=["read", "export"], now=T0)
    p = verify_token(db, plain, now=T0)
    assert p is not None and p.role is Role.ANALYST and p.scopes == {"read", "export"}
    update_user(db, "ann", role="viewer", hasher=FAST)  # demoting the owner demotes the token
    p = verify_token(db, plain, now=T0)
    assert p is not None and p.role is Role.VIEWER and p.scopes == {"read"}
    update_user(db, "ann", disabled=True, hasher=FAST)
    assert verify_token(db, plain, now=T0) is None


# ------------------------------------------------------------------------------ sessions


def test_session_cookie_flags_and_csrf_binding(db: Database) -> None:
    uid = user(db)
    settings = CookieSettings(secure=True, lifetime=timedelta(hours=12), idle=timedelta(hours=1))
    new = create_session(db, uid, lifetime=settings.lifetime, now=T0)
    resp = Response()
    set_session_cookies(resp, new, settings)
    cookies = [v.decode() for k, v in resp.raw_headers if k == b"set-cookie"]
    session = next(c for c in cookies if c.startswith("__Host-storelens_session="))
    csrf = next(c for c in cookies if c.startswith("__Host-storelens_csrf="))
    for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
        assert flag.lower() in session.lower()
    assert "httponly" not in csrf.lower() and "secure" in csrf.lower()  # the page must read the CSRF token
    assert "domain" not in session.lower()
    with db.engine.connect() as conn:
        stored = conn.execute(sa.select(SESSIONS.c.id, SESSIONS.c.csrf_hash)).one()
    assert new.secret not in stored.id and new.csrf_token not in stored.csrf_hash
    found = resolve_session(db, new.secret, idle=settings.idle, now=T0 + timedelta(minutes=30))
    assert found is not None and found[0].username == "alice" and found[0].via == "session"
    assert csrf_matches(found[1], new.csrf_token, new.csrf_token)
    assert not csrf_matches(found[1], "forged", "forged")
    assert not csrf_matches(found[1], new.csrf_token, None)


def test_session_ends_when_idle_expired_or_password_changes(db: Database) -> None:
    uid = user(db)
    idle = timedelta(hours=1)
    new = create_session(db, uid, lifetime=timedelta(hours=12), now=T0)
    assert resolve_session(db, new.secret, idle=idle, now=T0 + timedelta(minutes=61)) is None
    new = create_session(db, uid, lifetime=timedelta(hours=2), now=T0)
    for m in (50, 100):
        assert resolve_session(db, new.secret, idle=idle, now=T0 + timedelta(minutes=m)) is not None
    assert resolve_session(db, new.secret, idle=idle, now=T0 + timedelta(minutes=121)) is None
    new = create_session(db, uid, lifetime=timedelta(hours=2), now=T0)
    update_user(db, "alice", password="another long password", hasher=FAST)
    assert resolve_session(db, new.secret, idle=idle, now=T0) is None


# ------------------------------------------------------------------------------ rbac table


@pytest.mark.parametrize(
    ("method", "template", "role", "scope"),
    [
        ("GET", "/api/v1/health", None, "read"),
        ("GET", "/api/v1/aggregates", Role.VIEWER, "read"),
        ("GET", "/api/v1/visits/{visit_id}", Role.ANALYST, "read"),
        ("GET", "/api/v1/exports/{kind}", Role.ANALYST, "export"),
        ("GET", "/api/v1/zones", Role.VIEWER, "read"),
        ("POST", "/api/v1/zones", Role.ADMIN, "admin"),
        ("DELETE", "/api/v1/zones/{zone_id}", Role.ADMIN, "admin"),
        ("GET", "/api/v1/users", Role.ADMIN, "admin"),
        ("GET", "/api/v1/cameras/{camera_id}/live", Role.ADMIN, "admin"),
        ("GET", "/api/v1/something/new", Role.ADMIN, "admin"),  # unknown: fails closed
    ],
)
def test_route_table(method: str, template: str, role: Role | None, scope: str) -> None:
    r = rule_for(method, template)
    assert (r.role, r.scope) == (role, scope)


def test_every_role_scope_set_and_default_rule() -> None:
    assert rule_for("PATCH", "/nowhere") is DEFAULT_RULE
    assert parse_scopes(None, Role.VIEWER) == {"read", "write"}
    with pytest.raises(ValueError, match="unknown scope"):
        parse_scopes(["root"], Role.ADMIN)
    assert all(r.role is None or r.role in Role for r in ROUTE_RULES)
