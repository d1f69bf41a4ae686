"""`storelens snapshot`: a redacted still of a demo camera, and one clear line for each mistake."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from storelens.cli.main import app
from testdata import DEMO_STORE

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_snapshot_writes_the_median_still(tmp_path: Path) -> None:
    out = tmp_path / "still.png"
    result = CliRunner().invoke(
        app, ["snapshot", str(DEMO_STORE), "counter-cam", "--out", str(out), "--frames", "5", "--threads", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "median of 5 frame(s)" in result.output
    image = cv2.imread(str(out))
    assert image is not None and image.shape == (432, 768, 3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "unknown camera 'nope'"),
        (["counter-cam", "--out", "still.gif"], "--out must end in .png, .jpg or .jpeg"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["snapshot", str(DEMO_STORE), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
