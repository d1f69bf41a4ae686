"""Every route of the real app × every role: anonymous, viewer, analyst, admin.

The app is the service's own (``create_app``) with ``install_security`` on a SQLite database seeded
with events, visits, alerts and zones. For each route in ``app.routes`` (found through the same
index the security gate uses) and each principal, the expected outcome comes from the route table
(``rbac.ROUTE_RULES``): 401 without credentials on a protected route, 403 below its role, and
otherwise anything but 401/403/5xx (a 404 or 422 for made-up ids and empty bodies is an answer from
the route itself, past the gate). Then cookie sessions (CSRF, cookie flags), lockout and rate
limiting through HTTP, aggregate-only mode, and a schemathesis run on the authenticated API.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from argon2 import PasswordHasher, Type
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from starlette.websockets import WebSocketDisconnect

from storelens.config import load_config
from storelens.events.models import Event
from storelens.security.audit import list_audit, verify_audit
from storelens.security.middleware import flat_routes
from storelens.security.rbac import Role, rule_for
from storelens.security.tokens import create_token
from storelens.security.users import create_user, get_user
from storelens.service import ServiceDeps, ServiceSettings, create_app
from storelens.service.security import install_security
from storelens.storage import store_events
from testdata import DEMO_COUNTER_CLIP

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
PW = "correct horse battery"
BASE = "https://testserver"

pytestmark = pytest.mark.timeout(600)

PARAMS = {
    "store_id": "s1",
    "camera_id": "cam1",
    "zone_id": "zz-missing",
    "visit_id": "a1",
    "alert_id": "al-1",
    "dataset": "events",
    "username": "nobody-here",
    "token_id": "0000000000000000",
}


@dataclass
class Env:
    app: FastAPI
    deps: ServiceDeps
    tokens: dict[str, str]
    event_id: str


def _seed(deps: ServiceDeps) -> str:
    def ev(t: str, sec: float, **kw: Any) -> Event:
        payload = kw.pop("payload", {})
        return Event(type=t, store_id="s1", ts=T0 + timedelta(seconds=sec), payload=payload, **kw)

    events = [
        ev("visit.started", 0, subject="a1", camera_id="cam1"),
        ev("zone.entered", 5, subject="a1", zone_id="z1", camera_id="cam1"),
        ev("zone.exited", 40, subject="a1", zone_id="z1", camera_id="cam1", payload={"dwell_s": 35.0}),
        ev("alert.raised", 30, subject="a1", zone_id="z1", payload={"alert_id": "al-1"}),
        ev("visit.ended", 120, subject="a1", camera_id="cam1"),
    ]
    with deps.db.begin() as conn:
        store_events(conn, events, buckets_s=deps.store.storage.aggregate_buckets_s)
    return events[0].id


def build(tmp: Path, **privacy: Any) -> Env:
    path = tmp / "store.yaml"
    data = {
        "store_id": "s1",
        "cameras": [{"id": "cam1", "source": str(DEMO_COUNTER_CLIP)}],
        "zones": [{"id": "z1", "kind": "aisle", "camera": "cam1", "points": [[0, 0], [100, 0], [100, 100]]}],
        "privacy": privacy,
        "security": {"login_max_failures": 3, "login_rate_per_min": 50},
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    st = ServiceSettings(
        store=load_config(path), config_path=path, database_url=f"sqlite:///{tmp / 'm.db'}", run_pipelines=False
    )
    deps = ServiceDeps.build(st)
    event_id = _seed(deps)
    app = create_app(st, deps)
    install_security(app, deps.db, st, hasher=FAST, run_retention=False)
    tokens: dict[str, str] = {}
    for name in ("viewer", "analyst", "admin"):
        user = create_user(deps.db, f"{name}1", PW, name, hasher=FAST)
        tokens[name], _ = create_token(deps.db, user.id, f"{name}-all")
    return Env(app, deps, tokens, event_id)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    e = build(tmp_path_factory.mktemp("matrix"))
    with TestClient(e.app, base_url=BASE):
        yield e


def concrete(template: str, event_id: str) -> str:
    values = {**PARAMS, "event_id": event_id}
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), "x"), template)


PRINCIPALS: tuple[str | None, ...] = (None, "viewer", "analyst", "admin")


def expected_denial(method: str, template: str, who: str | None) -> int | None:
    rule = rule_for(method, template)
    if rule.role is None:
        return None
    if who is None:
        return 401
    role = Role.parse(who)
    return 403 if role < rule.role or rule.scope not in {"read", "write", "export", "admin"} & _scopes(role) else None


def _scopes(role: Role) -> set[str]:
    from storelens.security.rbac import ROLE_SCOPES

    return set(ROLE_SCOPES[role])


def test_every_route_is_in_the_table(env: Env) -> None:
    from storelens.security.rbac import is_explicit

    missing = [
        (m, r.template)
        for r in flat_routes(env.app)
        for m in (sorted(r.methods) if r.methods else ["GET"])
        if m != "HEAD" and not is_explicit(m, r.template)
    ]
    assert not missing, f"routes falling back to the admin-only default: {missing}"


def test_route_role_matrix(env: Env) -> None:
    client = TestClient(env.app, base_url=BASE)
    checked = 0
    wrong: list[str] = []
    routes = flat_routes(env.app)
    http_routes = [
        (m, r.template) for r in routes if not r.websocket for m in sorted(r.methods or {"GET"}) if m != "HEAD"
    ]
    assert len(http_routes) >= 40
    for method, template in http_routes:
        url = concrete(template, env.event_id)
        for who in PRINCIPALS:
            headers = {} if who is None else {"Authorization": f"Bearer {env.tokens[who]}"}
            body: Any = {} if method in ("POST", "PUT", "PATCH") else None
            if template.endswith("/auth/login"):
                body = {"username": f"nobody-{who}", "password": "wrong password"}
            resp = client.request(method, url, headers=headers, json=body)
            want = expected_denial(method, template, who)
            got = resp.status_code
            ok = (got == want) if want is not None else (got not in (401, 403) and got < 500)
            if template.endswith("/auth/login"):
                ok = got == 401  # public route; wrong credentials
            if not ok:
                wrong.append(
                    f"{method} {template} as {who}: got {got}, want {want or 'not 401/403/5xx'}: {resp.text[:200]}"
                )
            checked += 1
    # the WebSocket stream: analyst and above
    for who in PRINCIPALS:
        headers = {} if who is None else {"Authorization": f"Bearer {env.tokens[who]}"}
        allowed = who in ("analyst", "admin")
        try:
            with client.websocket_connect("/api/v1/stream", headers=headers) as ws:
                hello = ws.receive_json()
                accepted = True
                assert hello
        except WebSocketDisconnect as exc:
            accepted = False
            assert exc.code == 1008
        if accepted != allowed:
            wrong.append(f"WS /api/v1/stream as {who}: accepted={accepted}")
        checked += 1
    print(f"route x role pairs checked: {checked} ({len(http_routes) + 1} routes x {len(PRINCIPALS)} principals)")
    assert not wrong, "\n".join(wrong)


def test_sensitive_routes_are_audited(env: Env) -> None:
    client = TestClient(env.app, base_url=BASE)
    admin = {"Authorization": f"Bearer {env.tokens['admin']}"}
    viewer = {"Authorization": f"Bearer {env.tokens['viewer']}"}
    assert client.get("/api/v1/exports/events", headers=admin).status_code < 400
    assert client.get("/api/v1/users", headers=viewer).status_code == 403
    with env.deps.db.engine.connect() as conn:
        actions = [(r.action, r.actor, r.outcome) for r in list_audit(conn, limit=50)]
    assert ("export", "admin1", "ok") in actions
    assert ("access.denied", "viewer1", "denied") in actions
    assert verify_audit(env.deps.db).ok


def test_session_cookie_csrf_and_logout(env: Env) -> None:
    client = TestClient(env.app, base_url=BASE)
    r = client.post("/api/v1/auth/login", json={"username": "admin1", "password": PW})
    assert r.status_code == 200
    cookies = r.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("__Host-storelens_session="))
    assert all(flag in session for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"))
    csrf = r.json()["csrf_token"]
    assert client.get("/api/v1/auth/me").json()["via"] == "session"
    body = {"name": "from-dashboard"}
    assert client.post("/api/v1/tokens", json=body).status_code == 403  # no CSRF header
    assert client.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert client.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
    # a cross-site page cannot sign anybody in either
    evil = {"Origin": "https://evil.example"}
    assert client.post("/api/v1/auth/login", json={"username": "a", "password": "b"}, headers=evil).status_code == 403
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401


def test_security_headers_and_body_limit(env: Env) -> None:
    client = TestClient(env.app, base_url=BASE)
    r = client.get("/api/v1/health")
    for h in ("x-content-type-options", "x-frame-options", "content-security-policy", "referrer-policy"):
        assert h in r.headers
    assert r.headers["strict-transport-security"].startswith("max-age=")
    assert (
        "access-control-allow-origin"
        not in client.get("/api/v1/health", headers={"Origin": "https://x.example"}).headers
    )
    big = b"x" * (env.deps.store.security.max_request_bytes + 1)
    admin = {"Authorization": f"Bearer {env.tokens['admin']}", "Content-Type": "text/csv"}
    assert client.post("/api/v1/pos/import", content=big, headers=admin).status_code == 413


def test_lockout_and_rate_limit_over_http(tmp_path: Path) -> None:
    e = build(tmp_path)
    client = TestClient(e.app, base_url=BASE)
    bad = {"username": "analyst1", "password": "not the password"}
    codes = [client.post("/api/v1/auth/login", json=bad).status_code for _ in range(3)]
    assert codes == [401, 401, 429]  # login_max_failures: 3
    locked = client.post("/api/v1/auth/login", json={"username": "analyst1", "password": PW})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    # unknown names lock the same way (no user enumeration)
    ghost = [
        client.post("/api/v1/auth/login", json={"username": "ghost", "password": "x"}).status_code for _ in range(3)
    ]
    assert ghost == [401, 401, 429]
    # per-client rate limit (50/min here): the 51st attempt in the minute is refused whatever the name
    statuses = [
        client.post("/api/v1/auth/login", json={"username": f"u{i}", "password": "x"}).status_code for i in range(50)
    ]
    assert statuses.index(429) == 50 - 7  # 7 attempts from this client came before
    with e.deps.db.engine.connect() as conn:
        outcomes = {r.outcome for r in list_audit(conn, limit=500, action="auth.login_failed")}
    assert {"bad_credentials", "locked", "rate_limited"} <= outcomes


def test_aggregate_only_closes_per_visit_routes(tmp_path: Path) -> None:
    e = build(tmp_path, aggregate_only=True)
    client = TestClient(e.app, base_url=BASE)
    admin = {"Authorization": f"Bearer {e.tokens['admin']}"}
    for path in ("/api/v1/visits", f"/api/v1/events/{e.event_id}", "/api/v1/exports/visits"):
        assert client.get(path, headers=admin).status_code == 404, path
    assert client.get("/api/v1/aggregates", headers=admin).status_code == 200


def test_schemathesis_on_the_authenticated_api(env: Env) -> None:
    """Positive examples for every operation with an admin token: no server error anywhere."""
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", env.app)
    headers = {"Authorization": f"Bearer {env.tokens['admin']}"}
    cases = 0
    failures: list[str] = []
    ops = [r.ok() for r in schema.get_all_operations()]
    for op in ops:
        if op.path.endswith("/auth/logout"):
            continue  # ends nothing for a token; skipped so as not to race other checks

        @given(case=op.as_strategy(generation_mode=GenerationMode.POSITIVE))
        @settings(
            max_examples=8, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def run(case: Any) -> None:
            nonlocal cases
            cases += 1
            response = case.call(headers=headers)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
            )
            if not case.path.endswith("/auth/login"):  # the one route that judges the body's credentials
                assert response.status_code != 401, f"{case.method} {case.formatted_path}: admin token refused"

        try:
            run()
        except Exception as exc:
            failures.append(f"{op.label}: {type(exc).__name__}: {str(exc)[:800]}")
    print(f"schemathesis: {len(ops)} operations, {cases} authenticated cases run")
    assert not failures, "\n\n".join(failures)
    assert cases >= 5 * len(ops)


def test_acknowledged_by_is_the_signed_in_user(tmp_path: Path) -> None:
    """With authentication on, the body's ``by`` cannot attribute an acknowledgement to someone else."""
    e = build(tmp_path)
    with TestClient(e.app, base_url=BASE) as client:
        r = client.post(
            "/api/v1/alerts/al-1/ack",
            json={"by": "someone-else", "note": "on my way"},
            headers={"Authorization": f"Bearer {e.tokens['viewer']}"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["acknowledged_by"] == "viewer1"


def test_a_token_never_mints_a_broader_token(tmp_path: Path) -> None:
    """Probe finding (high): a viewer token with scopes 'read write', valid one day, created an admin
    token valid a year. A new token stays within the calling credential's role, scopes and expiry."""
    e = build(tmp_path)
    with e.deps.db.engine.connect() as conn:
        admin = get_user(conn, "admin1")
    assert admin is not None
    uid = admin.id
    # an admin who hands an integration a narrow token: viewer, read write, one day
    narrow, _ = create_token(e.deps.db, uid, "narrow", role="viewer", scopes=["read", "write"], expires_in_days=1)
    h = {"Authorization": f"Bearer {narrow}"}
    with TestClient(e.app, base_url=BASE) as client:
        assert client.get("/api/v1/users", headers=h).status_code == 403
        for body in (
            {"name": "esc", "role": "admin", "expires_in_days": 365},
            {"name": "esc", "role": "analyst"},
            {"name": "esc", "scopes": ["read", "export"]},
            {"name": "esc", "expires_in_days": 30},
        ):
            r = client.post("/api/v1/tokens", json=body, headers=h)
            assert r.status_code == 422, (body, r.status_code, r.text)
        # within the ceiling it works, and the default lifetime is cut to the caller's
        r = client.post("/api/v1/tokens", json={"name": "child"}, headers=h)
        assert r.status_code == 201, r.text
        child = r.json()
        assert child["role"] == "viewer"
        assert set(child["scopes"]) <= {"read", "write"}
        assert datetime.fromisoformat(child["expires_at"]) <= datetime.now(UTC) + timedelta(days=1, minutes=1)
        ch = {"Authorization": f"Bearer {child['token']}"}
        assert client.get("/api/v1/users", headers=ch).status_code == 403
        # a read-only token cannot even create a read+write one
        r = client.post("/api/v1/tokens", json={"name": "ro", "scopes": ["read"]}, headers=h)
        assert r.status_code == 201, r.text
        ro = {"Authorization": f"Bearer {r.json()['token']}"}
        r = client.post("/api/v1/tokens", json={"name": "rw", "scopes": ["read", "write"]}, headers=ro)
        assert r.status_code in (403, 422), r.text
