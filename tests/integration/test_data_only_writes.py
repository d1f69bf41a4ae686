"""No API write stores anything that is later executed, imported or interpreted (issue 14; the class
of Frigate's CVE-2026-25643, where a config edit reached a YAML loader / template engine).

Every write route of the app (found in its route index, so a write route added later without a
case here fails :func:`test_every_write_route_has_a_case`) gets, with an admin token:

* its valid body plus an unknown field: 422;
* each typed field (ids, enums, patterns, numbers, lists, maps) replaced by a YAML tag
  (``!!python/object/apply:os.system``), a template string, a path, a shell snippet, NaN, +-inf,
  1e309 and a 400-digit integer: 422;
* the body sent as YAML instead of JSON: 422;

and after each refused request nothing changed: the store file's bytes, every table's rows, and
no file the payloads name was created. Free-text fields (a zone's name, an acknowledgement note, a
token's name) are data: the same strings are accepted there and come back, from the API and from
the store file re-read with the safe loader, as the same plain strings, never as objects or
rendered templates. The last test checks the source: no unsafe YAML loader and no eval/exec/
subprocess/pickle anywhere in the package.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from argon2 import PasswordHasher, Type
from fastapi import FastAPI
from fastapi.testclient import TestClient

import storelens
from storelens.config import load_config
from storelens.security.middleware import flat_routes
from storelens.security.tokens import create_token
from storelens.security.users import create_user
from storelens.service import ServiceDeps, ServiceSettings, create_app
from storelens.service.security import install_security
from storelens.storage.models import Base
from testdata import DEMO_COUNTER_CLIP

FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
PW = "correct horse battery"
BASE = "https://testserver"

pytestmark = pytest.mark.timeout(600)


def hostile_strings(marker: Path) -> list[str]:
    m = str(marker)
    return [
        f"!!python/object/apply:os.system ['touch {m}']",
        "!!python/object/new:subprocess.Popen [['touch', '" + m + "']]",
        "{{ 7*7 }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "${jndi:ldap://127.0.0.1/x}",
        "%(x)s{0.__class__}",
        "../../../../etc/passwd",
        "/etc/passwd",
        f"$(touch {m})",
        f"`touch {m}`",
        f"; touch {m} #",
        "__import__('os').system('id')",
    ]


HOSTILE_NUMBERS: list[str] = ["NaN", "Infinity", "-Infinity", "1e309", "1" + "0" * 400]
"""JSON tokens (NaN/Infinity are what Python's json emits and Starlette's parser accepts)."""


@dataclass
class Env:
    app: FastAPI
    deps: ServiceDeps
    path: Path
    admin: dict[str, str]
    marker: Path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("dataonly")
    path = tmp / "store.yaml"
    data = {
        "store_id": "s1",
        "cameras": [{"id": "cam1", "source": str(DEMO_COUNTER_CLIP)}],
        "zones": [{"id": "z1", "kind": "aisle", "camera": "cam1", "points": [[0, 0], [100, 0], [100, 100]]}],
        "security": {"login_max_failures": 100, "login_rate_per_min": 10000},
    }
    path.write_text("# hand-written comment that must survive\n" + yaml.safe_dump(data, sort_keys=False))
    st = ServiceSettings(
        store=load_config(path), config_path=path, database_url=f"sqlite:///{tmp / 'd.db'}", run_pipelines=False
    )
    deps = ServiceDeps.build(st)
    app = create_app(st, deps)
    install_security(app, deps.db, st, hasher=FAST, run_retention=False)
    admin = create_user(deps.db, "admin1", PW, "admin", hasher=FAST)
    create_user(deps.db, "someone", PW, "viewer", hasher=FAST)
    token, _ = create_token(deps.db, admin.id, "t")
    with TestClient(app, base_url=BASE):
        yield Env(app, deps, path, {"Authorization": f"Bearer {token}"}, tmp / "PWNED")
    deps.close()


# A valid body per write route, and which of its fields are free text (data kept verbatim).
CASES: dict[str, tuple[str, Any, set[str]]] = {
    # "METHOD template": (url, valid body, free-text fields)
    "POST /api/v1/zones": (
        "/api/v1/zones",
        {"id": "z2", "name": "Drinks", "kind": "shelf", "camera": "cam1", "points": [[0, 0], [9, 0], [9, 9]]},
        {"name", "category"},
    ),
    "PUT /api/v1/zones/{zone_id}": (
        "/api/v1/zones/z1",
        {"id": "z1", "kind": "aisle", "camera": "cam1", "points": [[0, 0], [100, 0], [100, 100]]},
        {"name", "category"},
    ),
    "DELETE /api/v1/zones/{zone_id}": ("/api/v1/zones/{hostile}", None, set()),
    "PUT /api/v1/cameras/{camera_id}/geometry": (
        "/api/v1/cameras/cam1/geometry",
        {
            "zones": [{"id": "z1", "kind": "aisle", "camera": "cam1", "points": [[0, 0], [100, 0], [100, 100]]}],
            "lines": [],
        },
        set(),
    ),
    "PUT /api/v1/cameras/{camera_id}/calibration": (
        "/api/v1/cameras/cam1/calibration",
        {
            "image_points": [[100, 400], [700, 400], [600, 150], [200, 150]],
            "floor_points": [[1, 9], [9, 9], [9, 1], [1, 1]],
        },
        set(),
    ),
    "DELETE /api/v1/cameras/{camera_id}/calibration": ("/api/v1/cameras/{hostile}/calibration", None, set()),
    "PUT /api/v1/floor-plan/zones": (
        "/api/v1/floor-plan/zones",
        {"zones": [{"id": "f1", "kind": "aisle", "space": "floor", "points": [[1, 1], [3, 1], [3, 3]]}]},
        {"name", "category"},
    ),
    "POST /api/v1/alerts/{alert_id}/ack": ("/api/v1/alerts/{hostile}/ack", {"note": "on my way"}, {"by", "note"}),
    "POST /api/v1/pos/transactions": (
        "/api/v1/pos/transactions",
        {"transactions": [{"timestamp": "2025-03-01T09:00:00Z", "register": "till1", "basket_value": 12.5}]},
        set(),
    ),
    "POST /api/v1/pos/import": ("/api/v1/pos/import", None, set()),
    "POST /api/v1/webhooks/deliveries/requeue": ("/api/v1/webhooks/deliveries/requeue", {"ids": [1]}, set()),
    # both judged, never stored as given (the audit log's handling of names is issue 14's audit part)
    "POST /api/v1/auth/login": (
        "/api/v1/auth/login",
        {"username": "nobody", "password": "x"},
        {"username", "password"},
    ),
    "POST /api/v1/auth/logout": ("/api/v1/auth/logout", None, set()),
    "POST /api/v1/users": ("/api/v1/users", {"username": "u2", "password": PW, "role": "viewer"}, {"password"}),
    "PATCH /api/v1/users/{username}": ("/api/v1/users/someone", {"role": "viewer"}, {"password"}),
    "DELETE /api/v1/users/{username}": ("/api/v1/users/{hostile}", None, set()),
    "POST /api/v1/tokens": ("/api/v1/tokens", {"name": "bi", "expires_in_days": 1}, {"name"}),
    "DELETE /api/v1/tokens/{token_id}": ("/api/v1/tokens/{hostile}", None, set()),
    "POST /api/v1/privacy/deletions": (
        "/api/v1/privacy/deletions",
        {"start": "2025-03-01T00:00:00Z", "end": "2025-03-02T00:00:00Z", "camera_id": "cam1"},
        {"reason"},
    ),
}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def snapshot(env: Env) -> dict[str, Any]:
    """What a refused write must leave as it was: the store file and every table but the audit log
    (which records the refusals, as it should) and the sessions (login attempts)."""
    out: dict[str, Any] = {"file": env.path.read_bytes(), "zones": env.deps.config.zones()}
    with env.deps.db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in ("audit_log", "audit_anchor", "sessions", "alembic_version"):
                continue
            cols = [c for c in table.c if c.name != "last_used_at"]  # using the admin token touches it
            rows = conn.execute(sa.select(*cols)).all()
            out[table.name] = sorted(repr(tuple(r)) for r in rows)
    return out


def send(client: TestClient, env: Env, method: str, url: str, body: Any, raw: str | None = None) -> Any:
    headers = {**env.admin, "Content-Type": "application/json"}
    content = raw if raw is not None else (None if body is None else json.dumps(body))
    return client.request(method, url, headers=headers, content=content)


def typed_fields(body: dict[str, Any], free: set[str]) -> list[str]:
    return [k for k in body if k not in free]


def test_every_write_route_has_a_case(env: Env) -> None:
    writes = {f"{m} {r.template}" for r in flat_routes(env.app) for m in (r.methods or set()) if m in WRITE_METHODS}
    assert len(writes) >= 14
    missing = sorted(writes - set(CASES))
    assert not missing, f"write routes without a data-only case: {missing}"


def test_unknown_fields_and_yaml_bodies_are_422_and_change_nothing(env: Env) -> None:
    client = TestClient(env.app, base_url=BASE)
    wrong: list[str] = []
    yaml_body = f"!!python/object/apply:os.system ['touch {env.marker}']\n"
    for key, (url, body, _free) in CASES.items():
        method = key.split()[0]
        if "{hostile}" in url:
            url = url.replace("{hostile}", "x")
        before = snapshot(env)
        if isinstance(body, dict):
            r = send(client, env, method, url, {**body, "__class__": "os.system", "exec": "touch x"})
            if r.status_code != 422:
                wrong.append(f"{key} unknown field: {r.status_code} {r.text[:120]}")
        if body is not None or key.endswith("/pos/import"):
            for ctype in ("application/json", "application/x-yaml", "text/csv"):
                r = client.request(method, url, headers={**env.admin, "Content-Type": ctype}, content=yaml_body)
                if r.status_code != 422:
                    wrong.append(f"{key} YAML body as {ctype}: {r.status_code} {r.text[:120]}")
        if snapshot(env) != before:
            wrong.append(f"{key}: state changed by a refused request")
    assert not env.marker.exists()
    assert not wrong, "\n".join(wrong)


def test_hostile_values_in_typed_fields_are_422_and_change_nothing(env: Env) -> None:
    client = TestClient(env.app, base_url=BASE)
    wrong: list[str] = []
    strings = hostile_strings(env.marker)
    tried = 0
    for key, (url, body, free) in CASES.items():
        method = key.split()[0]
        if "{hostile}" in url:  # the id in the path is the only input: never found, never a 5xx
            for s in strings:
                before = snapshot(env)
                r = client.request(method, url.replace("{hostile}", s.replace("/", "%2F")), headers=env.admin)
                tried += 1
                if r.status_code not in (404, 422) or snapshot(env) != before:
                    wrong.append(f"{key} path {s!r}: {r.status_code} {r.text[:100]}")
        if not isinstance(body, dict):
            continue
        for field in typed_fields(body, free):
            for token in [json.dumps(s) for s in strings] + HOSTILE_NUMBERS:
                raw = json.dumps({**body, field: "__HOSTILE__"}).replace('"__HOSTILE__"', token)
                before = snapshot(env)
                r = send(client, env, method, url, None, raw=raw)
                tried += 1
                if r.status_code != 422:
                    wrong.append(f"{key} {field}={token[:40]}: {r.status_code} {r.text[:120]}")
                if snapshot(env) != before:
                    wrong.append(f"{key} {field}={token[:40]}: state changed")
        # nested typed values: the zone's points and the POS transaction's fields
        nested: list[tuple[str, dict[str, Any]]] = []
        if "points" in body:
            nested = [("points[0][0]", {**body, "points": [["__H__", 0], [9, 0], [9, 9]]})]
        if "transactions" in body:
            txn = body["transactions"][0]
            nested = [
                (f"transactions[0].{k}", {"transactions": [{**txn, k: "__H__"}]})
                for k in ("timestamp", "register", "basket_value")
            ]
        for name, template in nested:
            for token in [json.dumps(s) for s in strings] + HOSTILE_NUMBERS:
                raw = json.dumps(template).replace('"__H__"', token)
                before = snapshot(env)
                r = send(client, env, method, url, None, raw=raw)
                tried += 1
                if r.status_code != 422 or snapshot(env) != before:
                    wrong.append(f"{key} {name}={token[:40]}: {r.status_code} {r.text[:120]}")
    print(f"hostile typed values tried: {tried}")
    assert not wrong, "\n".join(wrong[:40])
    assert not env.marker.exists(), "a payload was executed"
    assert tried >= 400


def test_free_text_is_stored_as_inert_data(env: Env) -> None:
    """The same strings in a zone's name/category/labels are data: stored and returned verbatim,
    written to the store file as quoted plain strings (the safe loader reads them back as str)."""
    client = TestClient(env.app, base_url=BASE)
    strings = hostile_strings(env.marker)
    for i, s in enumerate(strings):
        zone = {
            "id": f"t{i}",
            "name": s[:128],
            "category": s[:128],
            "labels": {"note": s[:256]},
            "kind": "shelf",
            "camera": "cam1",
            "points": [[0, 0], [9, 0], [9, 9]],
        }
        r = send(client, env, "POST", "/api/v1/zones", zone)
        assert r.status_code == 201, (s, r.text)
        assert r.json()["name"] == s[:128] and r.json()["labels"] == {"note": s[:256]}
    text = env.path.read_text()
    assert text.startswith("# hand-written comment that must survive\n")
    assert "!!python" not in re.sub(r"'[^']*'|\"[^\"]*\"", "", text), "an unquoted YAML tag reached the file"
    reread = yaml.safe_load(text)
    names = {z["id"]: z.get("name") for z in reread["zones"]}
    for i, s in enumerate(strings):
        assert names[f"t{i}"] == s[:128] and type(names[f"t{i}"]) is str
    assert next(z for z in load_config(env.path).zones if z.id == "t2").name == "{{ 7*7 }}"  # not rendered
    assert not env.marker.exists()
    for i in range(len(strings)):
        assert client.delete(f"/api/v1/zones/t{i}", headers=env.admin).status_code == 204
    # oversized free text is refused, not truncated
    big = {"id": "big", "name": "x" * 129, "kind": "shelf", "camera": "cam1", "points": [[0, 0], [9, 0], [9, 9]]}
    assert send(client, env, "POST", "/api/v1/zones", big).status_code == 422
    many = {**big, "name": "ok", "labels": {f"k{i}": "v" for i in range(65)}}
    assert send(client, env, "POST", "/api/v1/zones", many).status_code == 422


UNSAFE = re.compile(
    r"yaml\.(load|unsafe_load|full_load|load_all)\(|yaml\.(Unsafe|Full)?Loader\b(?!\s*=\s*yaml\.SafeLoader)"
    r"|\beval\(|\bexec\(|\bcompile\(|subprocess|os\.system|os\.popen|os\.exec|os\.spawn|\bpickle\b|\bmarshal\b"
    r"|__import__\(|shell=True|jinja2|string\.Template|\.format_map\("
)


def test_no_unsafe_loader_or_execution_in_the_package() -> None:
    """Grep of the package source: YAML only through the safe loader/dumper, nothing that runs code
    from data. ``importlib.import_module`` appears only with the package's own module names."""
    root = Path(storelens.__file__).parent
    hits: list[str] = []
    imports: list[str] = []
    for f in sorted(root.rglob("*.py")):
        for n, line in enumerate(f.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if UNSAFE.search(code) and "re.compile" not in code:
                hits.append(f"{f.relative_to(root)}:{n}: {line.strip()}")
            if "import_module(" in code:
                imports.append(str(f.relative_to(root)))
    assert not hits, "\n".join(hits)
    # the CLI's command modules and the storage model modules: names from the package itself
    assert sorted(imports) == ["cli/main.py", "storage/models.py"], imports
    loads = [
        f"{f.relative_to(root)}" for f in root.rglob("*.py") if re.search(r"yaml\.(safe_load|compose)\(", f.read_text())
    ]
    assert loads  # the config loader and the zone store do read YAML, through the safe loader
