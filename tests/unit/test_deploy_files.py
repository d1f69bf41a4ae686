"""The deployment files name commands and options that exist (so docs/DEPLOY.md cannot go stale)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from storelens.cli.main import app
from testdata import REPO

DEPLOY = REPO / "deploy"
UNITS = sorted(DEPLOY.glob("*.service"))


def exec_start(unit: Path) -> list[str]:
    lines = [ln for ln in unit.read_text().splitlines() if ln.startswith("ExecStart=")]
    assert len(lines) == 1, f"{unit.name}: one ExecStart expected"
    return shlex.split(lines[0].removeprefix("ExecStart="))


def test_there_are_units() -> None:
    assert {u.name for u in UNITS} >= {"storelens.service", "storelens-central.service"}


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_runs_a_real_storelens_command_with_real_options(unit: Path) -> None:
    argv = exec_start(unit)
    assert Path(argv[0]).name == "storelens"
    args = argv[1:]
    command = args[0]
    options = [a for a in args if a.startswith("--")]
    # every option the unit passes must be one the command's --help lists
    result = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for opt in options:
        assert opt in result.output, f"{unit.name}: storelens {command} has no option {opt}"


def test_prometheus_snippet_is_valid_yaml_with_both_jobs() -> None:
    data = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    jobs = {j["job_name"] for j in data["scrape_configs"]}
    assert jobs == {"storelens", "storelens-central"}
