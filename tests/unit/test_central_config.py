"""`storelens central` settings and metrics, without services (the service itself: integration tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import generate_latest
from typer.testing import CliRunner

from storelens.central import CentralConfig, CentralStats
from storelens.central.metrics import central_registry
from storelens.cli.main import app
from storelens.config import ConfigError
from storelens.config.loader import parse_yaml_model

GOOD = """\
nats:
  servers: ["tls://nats-1.central:4222", "tls://nats-2.central:4222"]
  subject_prefix: shops
  creds_file: /etc/storelens/central.creds
  tls: {enabled: true, ca_file: /etc/storelens/ca.pem}
database_url: postgresql://storelens@db.central/storelens
batch: 250
metrics_port: 9464
"""


def test_yaml_config_parses_with_defaults() -> None:
    cfg = parse_yaml_model(GOOD, CentralConfig, "central.yaml")
    assert cfg.nats.servers == ["tls://nats-1.central:4222", "tls://nats-2.central:4222"] and cfg.nats.tls.enabled
    assert (cfg.batch, cfg.metrics_port, cfg.durable, cfg.nats.stream) == (250, 9464, "storelens-central", "STORELENS")
    assert cfg.subject == "shops.>"  # every store under the edge nodes' prefix unless narrowed


def test_yaml_errors_name_file_line_and_field() -> None:
    bad = GOOD.replace("batch: 250", "batch: 0").replace("metrics_port: 9464", "metrics_port: 9464\nbatchsize: 3")
    bad = bad.replace("subject_prefix: shops", "subject_prefix: shops.eu")
    with pytest.raises(ConfigError) as err:
        parse_yaml_model(bad, CentralConfig, "central.yaml")
    got = {str(i) for i in err.value.issues}
    assert "central.yaml:7:8: batch: Input should be greater than or equal to 1" in got
    assert any(i.startswith("central.yaml:9:1: batchsize: Extra inputs") for i in got)
    assert any(i.startswith("central.yaml:3:19: nats.subject_prefix: String should match") for i in got)
    with pytest.raises(ConfigError, match="retry_max_s must be >= retry_initial_s"):
        parse_yaml_model("retry_initial_s: 5\nretry_max_s: 1\n", CentralConfig)
    with pytest.raises(ConfigError, match=r"aggregate_buckets_s: bucket size 10 s out of range"):
        parse_yaml_model("aggregate_buckets_s: [10]\n", CentralConfig)


def test_cli_reports_bad_settings_before_connecting(tmp_path: Path) -> None:
    runner = CliRunner()
    f = tmp_path / "central.yaml"
    f.write_text(GOOD.replace("batch: 250", "batch: -1"))
    res = runner.invoke(app, ["central", "--config", str(f)])
    assert res.exit_code == 2 and f"{f}:7:8: batch:" in res.output
    res = runner.invoke(app, ["central", "--db", "x.db", "--batch", "0"])
    assert res.exit_code == 2 and "batch: Input should be greater than or equal to 1" in res.output
    res = runner.invoke(app, ["central", "--stream", "bad name"])
    assert res.exit_code == 2 and "nats.stream: String should match" in res.output
    res = runner.invoke(app, ["central"])
    assert res.exit_code == 2 and "a database is required" in res.output


def test_metrics_are_read_from_the_stats() -> None:
    stats = CentralStats(consumed=12, stored=10, duplicates=2, batches=3, db_errors=1, db_up=True, consumer_pending=7)
    text = generate_latest(central_registry(lambda: stats)).decode()
    for line in (
        "storelens_central_events_consumed_total 12.0",
        "storelens_central_events_stored_total 10.0",
        "storelens_central_events_duplicate_total 2.0",
        "storelens_central_batches_total 3.0",
        "storelens_central_db_errors_total 1.0",
        "storelens_central_consumer_pending 7.0",
        "storelens_central_db_up 1.0",
        "storelens_central_nats_connected 0.0",
    ):
        assert line in text.splitlines(), line
    assert "consumer_ack_pending" not in text  # unknown yet: absent rather than a made-up 0
