"""X-Forwarded-For is believed only from ``security.trusted_proxies`` (issue 14).

The app runs under a real uvicorn with the keyword arguments `storelens serve` uses, so uvicorn's
own default (it rewrites the peer from X-Forwarded-For when the peer is 127.0.0.1) is part of what
is tested: with no trusted proxy, 12 failed logins each claiming another address are one client,
limited to ``login_rate_per_min``, and the audit log records the real peer.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import uvicorn
import yaml
from argon2 import PasswordHasher, Type

from budget import scaled
from storelens.config import load_config
from storelens.security.audit import list_audit
from storelens.service import ServiceDeps, ServiceSettings, create_app
from storelens.service.security import install_security, uvicorn_proxy_kwargs
from testdata import DEMO_COUNTER_CLIP

FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)


def test_forged_forwarded_for_does_not_escape_the_rate_limit(tmp_path: Path) -> None:
    path = tmp_path / "store.yaml"
    data = {
        "store_id": "s1",
        "cameras": [{"id": "cam1", "source": str(DEMO_COUNTER_CLIP)}],
        "security": {"login_rate_per_min": 10, "login_max_failures": 100, "trusted_proxies": []},
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    st = ServiceSettings(
        store=load_config(path), config_path=path, database_url=f"sqlite:///{tmp_path / 'x.db'}", run_pipelines=False
    )
    deps = ServiceDeps.build(st)
    app = create_app(st, deps)
    install_security(app, deps.db, st, hasher=FAST, run_retention=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", **uvicorn_proxy_kwargs()))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + scaled(30)
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/api/v1/auth/login"
        codes = []
        with httpx.Client(timeout=scaled(30)) as client:
            for i in range(12):
                r = client.post(
                    url,
                    json={"username": f"user{i}", "password": "wrong password"},
                    headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
                )
                codes.append(r.status_code)
        assert codes[:10] == [401] * 10
        assert codes[10:] == [429, 429]
        with deps.db.engine.connect() as conn:
            ips = {r.ip for r in list_audit(conn, limit=100) if r.action.startswith("auth.")}
        assert ips == {"127.0.0.1"}
    finally:
        server.should_exit = True
        thread.join(scaled(30))
        sock.close()
        deps.close()
