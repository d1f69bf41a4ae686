"""Low findings of the outside probe (issue 14), each through the real app over HTTP.

* a lone surrogate in the login JSON is a 422, and the submitted value is not logged;
* an oversized chunked (no Content-Length) upload to /pos/import is a 413, not a 500;
* a password typed into the user-name field does not reach the append-only audit log in clear;
* disabling a user ends their sessions and tokens for good (re-enabling brings none back).

The app is the one ``test_auth_matrix`` builds (the service's own ``create_app`` with
``install_security`` on a SQLite database)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_auth_matrix import BASE, FAST, PW, Env, build

from storelens.security.audit import list_audit, verify_audit
from storelens.security.tokens import create_token
from storelens.security.users import create_user, get_user

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return build(tmp_path)


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    with TestClient(env.app, base_url=BASE, raise_server_exceptions=False) as c:
        yield c


def _headers(env: Env, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {env.tokens[role]}"}


@pytest.mark.parametrize("field", ["username", "password"])
def test_lone_surrogate_in_login_is_422_and_not_logged(
    env: Env, client: TestClient, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = {"username": "analyst1", "password": "x-secret-x", field: "ab\\ud800cd"}
    raw = f'{{"username": "{body["username"]}", "password": "{body["password"]}"}}'
    caplog.set_level(logging.DEBUG)
    r = client.post("/api/v1/auth/login", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert "\ud800" not in r.text and "\\ud800" not in r.text
    assert "x-secret-x" not in r.text
    logged = caplog.text
    assert "ud800" not in logged and "\ud800" not in logged and "x-secret-x" not in logged


def test_chunked_upload_over_the_limit_is_413(env: Env, client: TestClient) -> None:
    limit = env.deps.store.security.max_request_bytes
    line = b"2025-03-01T09:00:00,till-1,12.50\n"

    def body() -> Iterator[bytes]:  # a generator: the client sends it chunked, without Content-Length
        yield b"timestamp,register,basket_value\n"
        sent = 0
        while sent <= limit + len(line) * 2000:
            chunk = line * 2000
            sent += len(chunk)
            yield chunk

    headers = {**_headers(env, "analyst"), "Content-Type": "text/csv"}
    r = client.post("/api/v1/pos/import", content=body(), headers=headers)
    assert r.status_code == 413, r.text[:300]
    assert r.json()["detail"]


def test_password_typed_as_user_name_is_not_in_the_audit_log(env: Env, client: TestClient) -> None:
    typed = "Tr0ub4dor&3-my-password"
    for _ in range(2):
        r = client.post("/api/v1/auth/login", json={"username": typed, "password": "whatever"})
        assert r.status_code == 401
    r = client.post("/api/v1/auth/login", json={"username": "analyst1", "password": "wrong one"})
    assert r.status_code == 401
    with env.deps.db.engine.connect() as conn:
        failed = list_audit(conn, limit=50, action="auth.login_failed")
    targets = [rec.target for rec in failed]
    assert typed not in str([rec.to_json_dict() for rec in failed])
    unknown = [t for t in targets if t != "analyst1"]
    assert len(unknown) == 2 and unknown[0] == unknown[1]  # one name, one pseudonym: attempts still group
    assert unknown[0] is not None and unknown[0].startswith("unknown:") and len(unknown[0]) == len("unknown:") + 12
    assert "analyst1" in targets  # a real account's name stays readable
    assert verify_audit(env.deps.db).ok


def test_disabled_users_sessions_and_tokens_do_not_come_back(env: Env, client: TestClient) -> None:
    db = env.deps.db
    user = create_user(db, "temp1", PW, "analyst", hasher=FAST)
    token, _ = create_token(db, user.id, "temp-token")
    bearer = {"Authorization": f"Bearer {token}"}
    browser = TestClient(env.app, base_url=BASE)  # the user's own browser, holding the session cookie
    assert browser.post("/api/v1/auth/login", json={"username": "temp1", "password": PW}).status_code == 200
    assert browser.get("/api/v1/auth/me").status_code == 200
    assert client.get("/api/v1/auth/me", headers=bearer).status_code == 200
    admin = _headers(env, "admin")
    assert client.patch("/api/v1/users/temp1", json={"disabled": True}, headers=admin).status_code == 200
    assert browser.get("/api/v1/auth/me").status_code == 401
    assert client.patch("/api/v1/users/temp1", json={"disabled": False}, headers=admin).status_code == 200
    with db.engine.connect() as conn:
        found = get_user(conn, "temp1")
    assert found is not None and not found.disabled
    # re-enabled: the old cookie and the old token stay dead; a new login works
    assert browser.get("/api/v1/auth/me").status_code == 401
    assert client.get("/api/v1/auth/me", headers=bearer).status_code == 401
    browser.cookies.clear()
    assert browser.post("/api/v1/auth/login", json={"username": "temp1", "password": PW}).status_code == 200


SECRET_SOURCES = ["rtsp://admin:S3cr@tPass@127.0.0.1:9/x", "rtsp://admin:pa/ss@127.0.0.1:9/y"]


def test_camera_credentials_are_masked_for_every_role(tmp_path: Path) -> None:
    import yaml

    from storelens.config import load_config
    from storelens.service import ServiceDeps, ServiceSettings, create_app
    from storelens.service.security import install_security

    path = tmp_path / "store.yaml"
    cams = [{"id": f"cam{i}", "source": src} for i, src in enumerate(SECRET_SOURCES)]
    path.write_text(yaml.safe_dump({"store_id": "s1", "cameras": cams}, sort_keys=False))
    st = ServiceSettings(
        store=load_config(path), config_path=path, database_url=f"sqlite:///{tmp_path / 'c.db'}", run_pipelines=False
    )
    deps = ServiceDeps.build(st)
    app = create_app(st, deps)
    install_security(app, deps.db, st, hasher=FAST, run_retention=False)
    with TestClient(app, base_url=BASE) as c:
        for role in ("viewer", "analyst", "admin"):
            user = create_user(deps.db, f"{role}9", PW, role, hasher=FAST)
            token, _ = create_token(deps.db, user.id, "t")
            r = c.get("/api/v1/cameras", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
            text = r.text
            for secret in ("S3cr", "tPass", "pa/ss", "admin"):
                assert secret not in text, (role, text)
            assert text.count("rtsp://***@127.0.0.1:9/") == 2, text


def test_logs_and_tracebacks_mask_url_userinfo(caplog: pytest.LogCaptureFixture) -> None:
    from storelens.core.redact import SecretFilter

    logger = logging.getLogger("storelens.test.mask")
    caplog.set_level(logging.INFO, logger="storelens.test.mask")
    caplog.handler.addFilter(SecretFilter())
    try:
        logger.error("cannot open %s", SECRET_SOURCES[0])
        try:
            raise ConnectionError(f"refused: {SECRET_SOURCES[1]}")
        except ConnectionError:
            logger.exception("camera failed")
    finally:
        caplog.handler.filters.clear()
    text = caplog.text
    assert "rtsp://***@127.0.0.1:9/x" in text and "rtsp://***@127.0.0.1:9/y" in text
    for secret in ("S3cr", "tPass", "pa/ss"):
        assert secret not in text, text


def test_central_prints_no_broker_or_database_password() -> None:
    from storelens.central.service import safe_url

    assert safe_url("postgresql://ingest:S3cr@tPass@db.local/sl") == "postgresql+psycopg://***@db.local/sl"


def test_central_start_line_masks_nats_and_database_credentials(tmp_path: Path) -> None:
    """The real command: its first line names servers and database without their userinfo. A
    closed local port stands in for the broker; the process is stopped by SIGINT after that line."""
    import signal
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = "import sys; from storelens.cli.main import main; sys.argv = ['storelens', *sys.argv[1:]]; main()"
    args = ["central", "--nats", f"nats://edge:S3cr@tPass@127.0.0.1:{port}", "--db", f"sqlite:///{tmp_path}/c.db"]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = first + out + err
    assert f"nats://***@127.0.0.1:{port}" in first, text
    assert "S3cr" not in text and "tPass" not in text and "edge:" not in text, text
