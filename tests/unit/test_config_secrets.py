"""``${ENV:NAME}`` and ``${FILE:/path}`` in the secret-bearing fields of a store or central YAML
(issue 14; docs/DEPLOY.md): substituted before validation, a missing one is a config error naming
file, line and field, and a reference anywhere else stays literal."""

from __future__ import annotations

from pathlib import Path

import pytest

from storelens.central import CentralConfig
from storelens.config import ConfigError, load_config
from storelens.config.loader import load_yaml_model
from storelens.config.secrets import CENTRAL_SECRET_FIELDS

STORE = """\
store_id: s1
cameras:
  - id: cam1
    source: rtsp://admin:${ENV:SL_TEST_CAM_PW}@10.0.0.5/stream1
zones:
  - id: z1
    name: ${FILE:/etc/hostname}
    kind: aisle
    camera: cam1
    points: [[0, 0], [100, 0], [100, 100]]
output:
  database_url: ${FILE:db-url.txt}
nats:
  servers: ["nats://edge:${ENV:SL_TEST_NATS_PW}@nats.local:4222"]
webhooks:
  subscriptions:
    - id: bi
      url: https://hooks.example/x
      secret: ${FILE:hook-secret}
"""


def _write(tmp_path: Path, text: str = STORE) -> Path:
    (tmp_path / "db-url.txt").write_text("postgresql://sl:S3cr@tPass@db.local/sl\n")
    (tmp_path / "hook-secret").write_text("0123456789abcdef-hook\n")
    path = tmp_path / "store.yaml"
    path.write_text(text)
    return path


def test_env_and_file_references_are_substituted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SL_TEST_CAM_PW", "pa/ss@x")
    monkeypatch.setenv("SL_TEST_NATS_PW", "n4ts")
    cfg = load_config(_write(tmp_path))
    assert cfg.cameras[0].source == "rtsp://admin:pa/ss@x@10.0.0.5/stream1"
    assert cfg.output.database_url == "postgresql://sl:S3cr@tPass@db.local/sl"  # relative to the YAML, no newline
    assert cfg.nats.servers == ["nats://edge:n4ts@nats.local:4222"]
    assert cfg.webhooks.subscriptions[0].secret == "0123456789abcdef-hook"
    # not a secret field: stays literal, so nothing the API shows can pull in a file
    assert cfg.zones[0].name == "${FILE:/etc/hostname}"


def test_missing_env_var_names_file_line_and_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SL_TEST_CAM_PW", raising=False)
    monkeypatch.setenv("SL_TEST_NATS_PW", "n4ts")
    path = _write(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (issue,) = info.value.issues
    assert issue.file == str(path) and issue.line == 4 and issue.field == "cameras[0].source"
    assert "SL_TEST_CAM_PW is not set" in issue.message


def test_unreadable_file_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SL_TEST_CAM_PW", "x")
    monkeypatch.setenv("SL_TEST_NATS_PW", "y")
    path = _write(tmp_path)
    (tmp_path / "hook-secret").unlink()
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (issue,) = info.value.issues
    assert issue.line == 19 and issue.field == "webhooks.subscriptions[0].secret" and "cannot read" in issue.message


def test_central_yaml_takes_references_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SL_TEST_PG", "postgresql://c:pw@db/sl")
    path = tmp_path / "central.yaml"
    path.write_text("database_url: ${ENV:SL_TEST_PG}\nnats:\n  servers: ['nats://${ENV:SL_TEST_MISSING}@n:4222']\n")
    with pytest.raises(ConfigError) as info:
        load_yaml_model(path, CentralConfig, secret_fields=CENTRAL_SECRET_FIELDS)
    assert [(i.line, i.field) for i in info.value.issues] == [(3, "nats.servers[0]")]
    monkeypatch.setenv("SL_TEST_MISSING", "tok")
    cfg = load_yaml_model(path, CentralConfig, secret_fields=CENTRAL_SECRET_FIELDS)
    assert cfg.database_url == "postgresql://c:pw@db/sl" and cfg.nats.servers == ["nats://tok@n:4222"]
