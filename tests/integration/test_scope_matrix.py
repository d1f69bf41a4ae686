"""Per-store and per-camera access (issue 14): every route of the app x role x restriction.

One SQLite database, as a central one is, holds two stores ("north", "south") with two cameras
each; every id of camera b of north contains ``north-b`` and every id of south contains
``south``. Two apps serve it (``serve --no-pipelines`` of north, and of south). For each route in
the app's own route index (the OpenAPI operations, the WebSocket stream and the non-API routes),
each role, and each restriction (north camera a only; south only), the test checks:

* the decision the route table (``security.access.ROUTE_ACCESS``) makes for it: 403 on global
  routes, 403/404 on store-wide ones, and otherwise an answer from the route itself;
* that no response body ever contains an id of a store or camera outside the restriction;
* 404 (never 403) for item routes and query parameters naming a hidden camera, zone, visit,
  event, alert or store, and no change behind a refused write;
* that the stream, exports, heat maps and token creation keep to the restriction.

An unrestricted admin runs the same requests as a control: it must see the hidden ids (so the
seeded data reaches every list and the test could fail), and get 200 where the restricted
principals get 404. A route the table has no decision for fails
:func:`test_every_route_has_an_access_decision` and is refused to restricted principals at run
time (:func:`test_an_undecided_route_is_closed_to_restricted_principals`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from argon2 import PasswordHasher, Type
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from storelens.analytics.heatmap import HeatBucket, HeatmapGrid, write_png
from storelens.config import load_config
from storelens.events.models import Event
from storelens.privacy.snapshot import snapshot_path
from storelens.security.access import ROUTE_ACCESS, route_access
from storelens.security.middleware import flat_routes
from storelens.security.rbac import ROLE_SCOPES, ROUTE_RULES, Role, rule, rule_for
from storelens.security.tokens import create_token, verify_token
from storelens.security.users import create_user, get_user, update_user
from storelens.service import ServiceDeps, ServiceSettings, create_app
from storelens.service.dashboard import dashboard_router, dashboard_rules
from storelens.service.security import install_security
from storelens.storage import store_events
from storelens.storage.heatmaps import add_heatmap_buckets
from testdata import DEMO_COUNTER_CLIP

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
PW = "correct horse battery"
BASE = "https://testserver"
GRID = HeatmapGrid.covering("image", 64, 48, 16.0)

pytestmark = pytest.mark.timeout(900)

STORES = ("north", "south")
ROLES = ("viewer", "analyst", "admin")
# restriction name -> (stores, cameras) given to the user
RESTRICTIONS: dict[str, tuple[list[str] | None, list[str] | None]] = {
    "cam": (["north"], ["north/north-cam-a"]),
    "south": (["south"], None),
}


def cams(store: str) -> list[str]:
    return [f"{store}-cam-a", f"{store}-cam-b"]


def zone_of(store: str, cam: str) -> str:
    return f"{store}-{cam[-1]}-zone"


def forbidden_markers(restriction: str, served: str) -> tuple[str, ...]:
    """Substrings a restricted principal must never see in any body of the app serving ``served``."""
    if restriction == "cam":
        return ("north-b", "north-cam-b", "south")
    return ("north",)  # south-only: nothing of north, whichever app


def config(tmp: Path, store: str) -> Path:
    path = tmp / f"{store}.yaml"
    data = {
        "store_id": store,
        "cameras": [{"id": c, "source": str(DEMO_COUNTER_CLIP)} for c in cams(store)],
        "zones": [
            {"id": zone_of(store, c), "kind": "checkout", "camera": c, "points": [[0, 0], [100, 0], [100, 100]]}
            for c in cams(store)
        ],
        "lines": [{"id": f"{store}-{c[-1]}-line", "camera": c, "a": [0, 50], "b": [100, 50]} for c in cams(store)],
        "security": {"login_max_failures": 50, "login_rate_per_min": 1000},
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def seed_events(store: str) -> list[Event]:
    out: list[Event] = []
    for i, cam in enumerate(cams(store)):
        tag = f"{store}-{cam[-1]}"
        zone = zone_of(store, cam)
        base = i * 1000.0

        def ev(t: str, sec: float, base: float = base, **kw: Any) -> Event:
            payload = kw.pop("payload", {})
            return Event(type=t, store_id=store, ts=T0 + timedelta(seconds=base + sec), payload=payload, **kw)

        subject = f"{tag}-visit"
        out += [
            ev("visit.started", 0, subject=subject, camera_id=cam),
            ev("zone.entered", 5, subject=subject, zone_id=zone, camera_id=cam),
            ev("zone.exited", 40, subject=subject, zone_id=zone, camera_id=cam, payload={"dwell_s": 35.0}),
            # no camera: belongs to its zone's camera
            ev("alert.raised", 30, subject=subject, zone_id=zone, payload={"alert_id": f"{tag}-alert"}),
            ev("promotion.triggered", 35, subject=subject, zone_id=zone, payload={"promotion_id": f"{tag}-promo"}),
            ev("visit.ended", 120, subject=subject, camera_id=cam),
        ]
    return out


@dataclass
class App:
    store: str
    app: FastAPI
    deps: ServiceDeps
    event_ids: dict[str, str]  # "<store>-<a|b>" -> id of its visit.started event


@dataclass
class Env:
    apps: dict[str, App]
    tokens: dict[tuple[str, str], str]  # (restriction or "all", role) -> token
    db_url: str


def build(tmp: Path) -> Env:
    db_url = f"sqlite:///{tmp / 'central.db'}"
    apps: dict[str, App] = {}
    for store in STORES:
        path = config(tmp, store)
        st = ServiceSettings(store=load_config(path), config_path=path, database_url=db_url, run_pipelines=False)
        for cam in st.store.cameras:  # a redacted still per camera, as `storelens snapshot` writes it
            still = snapshot_path(st.store, cam.id)
            still.parent.mkdir(parents=True, exist_ok=True)
            write_png(still, np.full((8, 8, 3), 120, np.uint8))
        deps = ServiceDeps.build(st)
        events = seed_events(store)
        with deps.db.begin() as conn:
            store_events(conn, events, buckets_s=deps.store.storage.aggregate_buckets_s)
            for cam in cams(store):
                bucket = HeatBucket(
                    T0.timestamp(),
                    900,
                    np.asarray([1, 2], np.int32),
                    np.asarray([3, 1], np.uint32),
                    np.asarray([2.0, 1.0], np.float32),
                )
                add_heatmap_buckets(conn, store_id=store, camera_id=cam, grid=GRID, buckets=[bucket])
        app = create_app(st, deps)
        app.include_router(dashboard_router())
        install_security(app, deps.db, st, hasher=FAST, run_retention=False, extra_rules=dashboard_rules())
        ids = {f"{store}-{e.camera_id[-1]}": e.id for e in events if e.type == "visit.started" and e.camera_id}
        apps[store] = App(store, app, deps, ids)
    db = apps["north"].deps.db
    tokens: dict[tuple[str, str], str] = {}
    for role in ROLES:
        user = create_user(db, f"{role}-all", PW, role, hasher=FAST)
        tokens[("all", role)], _ = create_token(db, user.id, "t")
        for name, (stores, cameras) in RESTRICTIONS.items():
            u = create_user(
                db,
                f"{role}-{name[:1]}x",  # user names free of store ids
                PW,
                role,
                hasher=FAST,
                stores=None if stores is None else frozenset(stores),
                cameras=None if cameras is None else frozenset(cameras),
            )
            tokens[(name, role)], _ = create_token(db, u.id, "t")
    return Env(apps, tokens, db_url)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    e = build(tmp_path_factory.mktemp("scope"))
    yield e
    for a in e.apps.values():
        a.deps.close()


def h(env: Env, who: tuple[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {env.tokens[who]}"}


def http_routes(app: FastAPI) -> list[tuple[str, str]]:
    return [
        (m, r.template)
        for r in flat_routes(app)
        if not r.websocket
        for m in sorted(r.methods or {"GET"})
        if m != "HEAD"
    ]


def visible_params(store: str, event_ids: dict[str, str]) -> dict[str, str]:
    """Path parameters naming objects of camera a (visible to the 'cam' restriction)."""
    return {
        "store_id": store,
        "camera_id": f"{store}-cam-a",
        "zone_id": "zz-missing",  # writes go to a missing zone: the seeded ones stay for later checks
        "visit_id": f"{store}-a-visit",
        "alert_id": f"{store}-a-alert",
        "event_id": event_ids[f"{store}-a"],
        "dataset": "events",
        "username": "nobody-here",
        "token_id": "0000000000000000",
        "name": "app.js",
    }


def hidden_params(store: str, event_ids: dict[str, str]) -> dict[str, str]:
    """Path parameters naming objects of camera b (hidden from the 'cam' restriction)."""
    return {
        "store_id": "south" if store == "north" else "north",
        "camera_id": f"{store}-cam-b",
        "zone_id": f"{store}-b-zone",
        "visit_id": f"{store}-b-visit",
        "alert_id": f"{store}-b-alert",
        "event_id": event_ids[f"{store}-b"],
    }


def fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), "x"), template)


def role_denied(method: str, template: str, role: str) -> bool:
    r = rule_for(method, template, (*dashboard_rules(), *ROUTE_RULES))
    if r.role is None:
        return False
    granted = Role.parse(role)
    return granted < r.role or r.scope not in ROLE_SCOPES[granted]


# ------------------------------------------------------------------------------------ decisions


def test_every_route_has_an_access_decision(env: Env) -> None:
    """A route added later without a store/camera decision fails here (and is closed at run time)."""
    app = env.apps["north"].app
    undecided = [
        (m, r.template)
        for r in flat_routes(app)
        for m in sorted(r.methods or {"GET"})
        if m != "HEAD" and route_access(m, r.template) is None
    ]
    assert not undecided, f"routes without a store/camera access decision in ROUTE_ACCESS: {undecided}"
    present = {f"{m} {t}" for m, t in http_routes(app)} | {"GET /api/v1/stream"}
    stale = sorted(set(ROUTE_ACCESS) - present)
    assert not stale, f"ROUTE_ACCESS names routes the app does not have: {stale}"


def test_an_undecided_route_is_closed_to_restricted_principals(tmp_path: Path) -> None:
    path = config(tmp_path, "north")
    st = ServiceSettings(
        store=load_config(path), config_path=path, database_url=f"sqlite:///{tmp_path / 'x.db'}", run_pipelines=False
    )
    deps = ServiceDeps.build(st)
    app = create_app(st, deps)

    @app.get("/api/v1/added-later")
    def added_later() -> dict[str, list[str]]:
        return {"cameras": [c.id for c in deps.store.cameras]}

    install_security(
        app,
        deps.db,
        st,
        hasher=FAST,
        run_retention=False,
        extra_rules=(rule("GET", r"/api/v1/added-later", Role.VIEWER),),
    )
    free = create_user(deps.db, "free", PW, "viewer", hasher=FAST)
    narrow = create_user(deps.db, "narrow", PW, "viewer", hasher=FAST, cameras=frozenset({"north-cam-a"}))
    t_free, _ = create_token(deps.db, free.id, "t")
    t_narrow, _ = create_token(deps.db, narrow.id, "t")
    with TestClient(app, base_url=BASE) as client:
        assert client.get("/api/v1/added-later", headers={"Authorization": f"Bearer {t_free}"}).status_code == 200
        r = client.get("/api/v1/added-later", headers={"Authorization": f"Bearer {t_narrow}"})
        assert r.status_code == 403 and "north-cam-b" not in r.text
    deps.close()


# ------------------------------------------------------------------------------------ the matrix


def test_route_role_restriction_matrix(env: Env) -> None:
    wrong: list[str] = []
    control_saw: set[str] = set()
    checked = 0
    for served, a in env.apps.items():
        client = TestClient(a.app, base_url=BASE)
        routes = http_routes(a.app)
        assert len(routes) >= 50
        visible = visible_params(served, a.event_ids)
        for method, template in routes:
            url = fill(template, visible)
            body: Any = {} if method in ("POST", "PUT", "PATCH") else None
            if template.endswith("/auth/login"):
                continue  # public, judges the body's credentials only
            if template.endswith("/auth/logout"):
                continue  # ends nothing for a token
            if template.startswith("/privacy"):
                continue  # the public notice (no login): it names the store to anyone, by design
            # control: an unrestricted admin sees camera b's / the other store's ids somewhere
            if method == "GET":
                r = client.get(url, headers=h(env, ("all", "admin")))
                if r.status_code < 500 and (f"{served}-b" in r.text or f"{served}-cam-b" in r.text):
                    control_saw.add(f"{served} {template}")
            for restriction in RESTRICTIONS:
                markers = forbidden_markers(restriction, served)
                for role in ROLES:
                    who = (restriction, role)
                    r = client.request(method, url, headers=h(env, who), json=body)
                    checked += 1
                    got = r.status_code
                    where = f"{method} {url} on {served} as {role}/{restriction}: {got} {r.text[:160]}"
                    leaked = [m for m in markers if m in r.text]
                    if leaked:
                        wrong.append(f"LEAK {leaked}: {where}")
                    if got >= 500 or got == 401:
                        wrong.append(f"server error / refused token: {where}")
                        continue
                    if role_denied(method, template, role):
                        if got != 403:
                            wrong.append(f"role: want 403: {where}")
                        continue
                    access = route_access(method, template)
                    store_hidden = (restriction == "south" and served == "north") or (
                        restriction == "cam" and served == "south"
                    )
                    if access == "unrestricted" or (
                        access == "whole_store" and not store_hidden and restriction == "cam"
                    ):
                        want = 403
                    elif access in ("scoped", "whole_store") and store_hidden:
                        want = 404
                    else:
                        want = None
                    if want is not None and got != want:
                        wrong.append(f"access {access}: want {want}: {where}")
                    if want is None and got == 403:
                        wrong.append(f"access {access}: unexpected 403: {where}")
                    if template.endswith("/stores") and method == "GET":
                        ids = [s["id"] for s in r.json()]
                        if ids != ([] if store_hidden else [served]):
                            wrong.append(f"store list {ids}: {where}")
    must_see = {
        "north /api/v1/cameras",
        "north /api/v1/zones",
        "north /api/v1/events",
        "north /api/v1/visits",
        "north /api/v1/alerts",
        "north /api/v1/promotions",
        "north /api/v1/heatmaps",
        "north /api/v1/aggregates",
        "north /api/v1/stores",
        "north /api/v1/exports/{dataset}",
    }
    assert must_see <= control_saw, f"the control admin did not see camera b on: {sorted(must_see - control_saw)}"
    print(f"route x role x restriction requests: {checked}")
    assert not wrong, "\n".join(wrong[:60])


def test_hidden_objects_are_404_on_item_routes_and_query_parameters(env: Env) -> None:
    """Objects of camera b / the other store: 404 for the restricted principals, found by the control."""
    wrong: list[str] = []
    for served, a in env.apps.items():
        client = TestClient(a.app, base_url=BASE)
        hidden = hidden_params(served, a.event_ids)
        items = [t for m, t in http_routes(a.app) if m == "GET" and route_access(m, t) == "scoped" and "{" in t]
        items = [t for t in items if "{dataset}" not in t]
        urls = [fill(t, hidden) for t in items]
        urls += [
            f"/api/v1/events?camera_id={served}-cam-b",
            f"/api/v1/events?zone_id={served}-b-zone",
            f"/api/v1/aggregates?zone_id={served}-b-zone",
        ]
        assert len(urls) >= 10
        for url in urls:
            for restriction in RESTRICTIONS:
                if restriction == "south" and served == "south":
                    continue  # south sees all of south
                for role in ("analyst", "admin"):
                    r = client.get(url, headers=h(env, (restriction, role)))
                    if r.status_code != 404:
                        wrong.append(f"GET {url} on {served} as {role}/{restriction}: {r.status_code} {r.text[:120]}")
            control = client.get(url, headers=h(env, ("all", "admin")))
            if "/stores/" not in url and control.status_code != 200:
                wrong.append(f"control GET {url} on {served}: {control.status_code} {control.text[:120]}")
    assert not wrong, "\n".join(wrong)


def test_refused_writes_change_nothing(env: Env) -> None:
    a = env.apps["north"]
    client = TestClient(a.app, base_url=BASE)
    admin_cam = h(env, ("cam", "admin"))
    before = a.deps.config.zones()
    zone = {"id": "north-b-zone", "kind": "shelf", "camera": "north-cam-b", "points": [[0, 0], [9, 0], [9, 9]]}
    assert client.put("/api/v1/zones/north-b-zone", json=zone, headers=admin_cam).status_code == 404
    assert client.delete("/api/v1/zones/north-b-zone", headers=admin_cam).status_code == 404
    new = {**zone, "id": "sneaky"}
    r = client.post("/api/v1/zones", json=new, headers=admin_cam)
    assert r.status_code == 404 and "(known: north-cam-a)" in r.text, r.text  # as if it did not exist
    moved = {**zone, "id": "north-a-zone"}  # moving a visible zone onto a hidden camera
    assert client.put("/api/v1/zones/north-a-zone", json=moved, headers=admin_cam).status_code == 404
    assert client.post("/api/v1/alerts/north-b-alert/ack", headers=h(env, ("cam", "viewer"))).status_code == 404
    assert a.deps.config.zones() == before
    got = client.get("/api/v1/alerts/north-b-alert", headers=h(env, ("all", "admin"))).json()
    assert got["state"] != "acknowledged"
    # within the restriction the same writes work
    own = {"id": "north-a-shelf", "kind": "shelf", "camera": "north-cam-a", "points": [[0, 0], [9, 0], [9, 9]]}
    assert client.post("/api/v1/zones", json=own, headers=admin_cam).status_code == 201
    assert client.delete("/api/v1/zones/north-a-shelf", headers=admin_cam).status_code == 204
    assert a.deps.config.zones() == before


def test_exports_keep_to_the_restriction(env: Env) -> None:
    a = env.apps["north"]
    client = TestClient(a.app, base_url=BASE)
    for dataset in ("events", "visits", "aggregates"):
        full = client.get(f"/api/v1/exports/{dataset}", headers=h(env, ("all", "admin")))
        narrow = client.get(f"/api/v1/exports/{dataset}", headers=h(env, ("cam", "analyst")))
        assert full.status_code == narrow.status_code == 200
        assert "north-b" in full.text, dataset
        assert "north-b" not in narrow.text and "south" not in narrow.text, dataset
        assert "north-a" in narrow.text, dataset  # not simply empty
        rows = narrow.text.strip().splitlines()
        if dataset == "aggregates":  # no store-wide row (it sums camera b too)
            header = rows[0].split(",")
            zi = header.index("zone_id")
            assert all(r.split(",")[zi] for r in rows[1:]), rows[:3]


def test_the_stream_keeps_to_the_restriction(env: Env) -> None:
    a = env.apps["north"]

    def ev(camera: str | None, zone: str | None, subject: str) -> Event:
        return Event(type="zone.entered", store_id="north", ts=T0, subject=subject, camera_id=camera, zone_id=zone)

    with TestClient(a.app, base_url=BASE) as client:
        # naming a hidden camera is the same error as naming an unknown one
        with client.websocket_connect("/api/v1/stream?cameras=north-cam-b", headers=h(env, ("cam", "analyst"))) as ws:
            err = ws.receive_json()
            assert err["kind"] == "error" and "(known: north-cam-a)" in str(err["detail"]), err
            with pytest.raises(WebSocketDisconnect):
                ws.receive_json()
        # a store the principal may not see: refused at the handshake
        south = h(env, ("south", "analyst"))
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("/api/v1/stream", headers=south) as ws:
            ws.receive_json()
        with client.websocket_connect("/api/v1/stream", headers=h(env, ("cam", "analyst"))) as ws:
            hello = ws.receive_json()
            assert hello["kind"] == "hello"
            a.deps.bus.publish(ev("north-cam-b", "north-b-zone", "north-b-live"))
            a.deps.bus.publish(ev(None, "north-b-zone", "north-b-live-zone"))
            a.deps.bus.publish(ev(None, None, "north-b-live-nothing"))
            a.deps.bus.publish(ev(None, "north-a-zone", "north-a-live-zone"))
            a.deps.bus.publish(ev("north-cam-a", "north-a-zone", "north-a-live"))
            got: list[str] = []
            while "north-a-live" not in got:  # delivered in order: anything hidden would come first
                msg = ws.receive_json()
                assert "north-b" not in str(msg), msg
                if msg["kind"] == "event":
                    got.append(msg["event"]["subject"])
            assert got == ["north-a-live-zone", "north-a-live"]


def test_a_session_carries_the_users_restriction(env: Env) -> None:
    a = env.apps["north"]
    with TestClient(a.app, base_url=BASE) as client:
        r = client.post("/api/v1/auth/login", json={"username": "analyst-cx", "password": PW})
        assert r.status_code == 200, r.text
        assert r.json()["user"]["cameras"] == ["north/north-cam-a"]
        me = client.get("/api/v1/auth/me").json()
        assert me["stores"] == ["north"] and me["cameras"] == ["north/north-cam-a"]
        body = client.get("/api/v1/events?limit=1000").text
        assert "north-a" in body and "north-b" not in body
        assert client.get("/api/v1/users").status_code == 403


def test_a_token_never_mints_a_broader_store_or_camera_token(env: Env) -> None:
    """Like test_a_token_never_mints_a_broader_token for roles: stores and cameras of a new token
    stay within the calling credential's and the owner's; narrowing the owner narrows the tokens."""
    a = env.apps["north"]
    db = a.deps.db
    with TestClient(a.app, base_url=BASE) as client:
        caller = h(env, ("cam", "analyst"))
        for body in (
            {"name": "esc", "stores": ["south"]},
            {"name": "esc", "stores": ["north", "south"]},
            {"name": "esc", "cameras": ["north-cam-b"]},
            {"name": "esc", "cameras": ["north-cam-a"]},  # any store's cam-a is broader than north/north-cam-a
            {"name": "esc", "cameras": ["north/north-cam-b"]},
            {"name": "esc", "stores": []},
        ):
            r = client.post("/api/v1/tokens", json=body, headers=caller)
            assert r.status_code == 422, (body, r.status_code, r.text)
        r = client.post("/api/v1/tokens", json={"name": "child"}, headers=caller)
        assert r.status_code == 201, r.text
        child = r.json()
        assert child["stores"] == ["north"] and child["cameras"] == ["north/north-cam-a"]
        ch = {"Authorization": f"Bearer {child['token']}"}
        assert "north-b" not in client.get("/api/v1/events?limit=1000", headers=ch).text
        # an unrestricted admin may hand out a narrower token, not a broader one from a narrow user
        r = client.post(
            "/api/v1/tokens", json={"name": "n", "cameras": ["north-cam-b"]}, headers=h(env, ("all", "admin"))
        )
        assert r.status_code == 201 and r.json()["cameras"] == ["north-cam-b"]
        nb = {"Authorization": f"Bearer {r.json()['token']}"}
        assert client.get("/api/v1/cameras", headers=nb).json()[0]["id"] == "north-cam-b"
    # narrowing the owner narrows an existing unrestricted token at once (intersection at use)
    with db.engine.connect() as conn:
        owner = get_user(conn, "viewer-all")
    assert owner is not None
    plain, _ = create_token(db, owner.id, "follow")
    p = verify_token(db, plain)
    assert p is not None and not p.restricted
    update_user(db, "viewer-all", stores=frozenset({"south"}))
    p = verify_token(db, plain)
    assert p is not None and p.stores == frozenset({"south"})
    update_user(db, "viewer-all", stores="all")
    p = verify_token(db, plain)
    assert p is not None and not p.restricted


def test_user_api_sets_and_shows_the_restriction(env: Env) -> None:
    a = env.apps["north"]
    admin = h(env, ("all", "admin"))
    with TestClient(a.app, base_url=BASE) as client:
        r = client.post(
            "/api/v1/users",
            json={
                "username": "partner",
                "password": PW,
                "role": "viewer",
                "stores": ["north"],
                "cameras": ["north-cam-a"],
            },
            headers=admin,
        )
        assert r.status_code == 201, r.text
        assert r.json()["stores"] == ["north"] and r.json()["cameras"] == ["north-cam-a"]
        bad = client.post(
            "/api/v1/users",
            json={"username": "partner2", "password": PW, "role": "viewer", "cameras": ["../etc"]},
            headers=admin,
        )
        assert bad.status_code == 422
        r = client.patch("/api/v1/users/partner", json={"cameras": "all"}, headers=admin)
        assert r.status_code == 200 and r.json()["cameras"] is None and r.json()["stores"] == ["north"]
        assert client.get("/api/v1/users/partner", headers=admin).json()["stores"] == ["north"]
        # a restricted admin cannot manage users (and so cannot lift its own restriction)
        r = client.patch("/api/v1/users/admin-cx", json={"stores": "all"}, headers=h(env, ("cam", "admin")))
        assert r.status_code == 403
