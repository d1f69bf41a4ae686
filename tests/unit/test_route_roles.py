"""Each route's declared role is the one the route table gives it.

The service's routers declare roles (``ROUTER_ROLES`` and per-route ``require_role``) and the
security gate enforces ``rbac.ROUTE_RULES``; both must pass, so a router that says "viewer" where the
table says "analyst" (as /events and /visits once did) is a second, silent truth. These tests read
the declarations off the built app, with no database traffic and no security layer installed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from storelens.config import load_config
from storelens.security.rbac import Role, rule_for
from storelens.service import ServiceDeps, ServiceSettings, create_app
from storelens.service.deps import require_role

GATE_ONLY = {"/metrics"}
"""Protected routes that declare no router-level role: Prometheus' scrape path sits outside the
versioned API, so the security gate alone guards it (public routes need no declaration at all)."""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, ServiceDeps]]:
    tmp = tmp_path_factory.mktemp("roles")
    path = tmp / "store.yaml"
    data = {
        "store_id": "s1",
        "cameras": [{"id": "cam1", "source": str(tmp / "none.mp4")}],
        "zones": [{"id": "z1", "kind": "aisle", "camera": "cam1", "points": [[0, 0], [100, 0], [100, 100]]}],
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    settings = ServiceSettings(
        store=load_config(path), config_path=path, database_url=f"sqlite:///{tmp / 'r.db'}", run_pipelines=False
    )
    deps = ServiceDeps.build(settings)
    try:
        yield create_app(settings, deps), deps
    finally:
        deps.close()


def declared_roles(dependant: Dependant) -> list[Role]:
    found: list[Role] = []
    for sub in dependant.dependencies:
        role = getattr(sub.call, "role", None)
        if isinstance(role, Role):
            found.append(role)
        found += declared_roles(sub)
    return found


def test_every_declared_role_matches_the_table(app: tuple[FastAPI, ServiceDeps]) -> None:
    wrong: list[str] = []
    checked = 0
    for route in iter_route_contexts(app[0].router.routes):  # included routers are lazy branches
        dependant = getattr(route, "dependant", None)
        if not isinstance(dependant, Dependant):
            continue
        roles = declared_roles(dependant)
        template = str(route.path_format)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            want = rule_for(method, template).role
            if not roles:
                if want is not None and template not in GATE_ONLY:
                    wrong.append(f"{method} {template}: declares no role, table says {want}")
                continue
            got = max(roles)
            checked += 1
            if got != want:
                wrong.append(f"{method} {template}: declares {got.label}, table says {want}")
    assert not wrong, "\n".join(wrong)
    assert checked >= 30


def test_per_visit_routes_need_analyst_and_aggregates_do_not() -> None:
    """The grant SECURITY.md states: per-visit data (events, visits, the live stream, exports) is
    analyst and above; aggregates and heat maps are for viewers."""
    for template in ("/api/v1/events", "/api/v1/events/{event_id}", "/api/v1/visits", "/api/v1/visits/{visit_id}"):
        rule = rule_for("GET", template)
        assert rule.role is Role.ANALYST and rule.per_visit, template
    assert rule_for("GET", "/api/v1/stream").role is Role.ANALYST
    assert rule_for("GET", "/api/v1/aggregates").role is Role.VIEWER
    assert rule_for("GET", "/api/v1/heatmaps/{camera_id}").role is Role.VIEWER


def test_the_stream_asks_the_hook_for_the_tables_role(app: tuple[FastAPI, ServiceDeps]) -> None:
    asked: list[Role] = []
    deps = app[1]
    deps.authorize = lambda conn, role: asked.append(role)
    try:
        with TestClient(app[0]) as client, client.websocket_connect("/api/v1/stream") as ws:
            assert ws.receive_json()
    finally:
        del deps.authorize  # back to the class default (allow_all)
    assert asked == [rule_for("GET", "/api/v1/stream").role]


def test_roles_are_one_ordered_model() -> None:
    assert Role.VIEWER < Role.ANALYST < Role.ADMIN  # rank, not the alphabet ("admin" < "viewer")
    assert Role.VIEWER == "viewer" and Role.parse("Analyst") is Role.ANALYST
    assert min(Role.ADMIN, Role.ANALYST) is Role.ANALYST
    assert require_role("admin").role is Role.ADMIN  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="unknown role 'root'"):
        require_role("root")
