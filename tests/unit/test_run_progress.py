"""Long work shows progress (issue 17): `storelens run` moves a bar on a terminal and, into a log
(`make demo > log`), prints one line per camera at its first frame and then every 30 s, so a long
run is never silent. The ticker is the one `run` gives each camera; the clock is a fake one."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.progress import Progress

from storelens.cli.commands.run import PROGRESS_LOG_INTERVAL_S, progress_ticker


def test_into_a_log_a_line_at_the_first_frame_then_every_interval(capsys: pytest.CaptureFixture[str]) -> None:
    now = [100.0]
    progress = Progress(disable=True)
    tick = progress_ticker(progress, "door", 500, clock=lambda: now[0])
    for _ in range(10):  # ten frames within a second: one line, the first
        tick(None)
        now[0] += 0.1
    now[0] += PROGRESS_LOG_INTERVAL_S
    tick(None)  # the interval has passed: the next line
    tick(None)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in lines] == ["door: 1/500 frames analysed", "door: 11/500 frames analysed"]
    assert progress.tasks[0].completed == 12


def test_on_a_terminal_the_bar_moves_and_no_lines_are_printed(capsys: pytest.CaptureFixture[str]) -> None:
    screen = io.StringIO()
    progress = Progress(console=Console(file=screen, force_terminal=True, width=100))
    with progress:
        tick = progress_ticker(progress, "door", None, clock=lambda: 0.0)
        for _ in range(3):
            tick(None)
    assert progress.tasks[0].completed == 3
    assert "door" in screen.getvalue()
    assert capsys.readouterr().err == ""
