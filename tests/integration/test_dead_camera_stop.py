"""A live camera that accepts the connection and never answers must not hold up shutdown (issue 14:
"a dead RTSP camera delays `serve` shutdown by 30 s").

The camera is a real TCP server on loopback that accepts and then stays silent, which is what a
hung NVR or a camera stuck in its boot loop looks like: FFmpeg's RTSP client sends OPTIONS and
waits. The pipeline sits in ``next(frames)`` waiting for a first frame; stopping the service must
end it at once instead of waiting for the runner's join timeout.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from storelens.config import parse_config
from storelens.events.bus import EventBus
from storelens.service import StoreRunner
from testdata import DEMO_STORE

pytestmark = pytest.mark.timeout(180)


class SilentServer:
    """Accepts TCP connections on loopback and never sends a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._conns.append(conn)  # held open, never answered
            self.accepted.set()

    def close(self) -> None:
        self.sock.close()
        for c in self._conns:
            c.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def test_stopping_the_runner_does_not_wait_for_a_camera_that_never_answers(silent: SilentServer) -> None:
    cfg = parse_config(
        f"""
store_id: dead
cameras:
  - id: door
    source: rtsp://127.0.0.1:{silent.port}/cam
    fps: 5
detector:
  model: yolo11n-pose
""",
        base_dir=DEMO_STORE.parent,
    )
    runner = StoreRunner(cfg, EventBus())
    runner.start()
    # the pipeline is running and its source is connecting: blocked waiting for the first frame
    assert silent.accepted.wait(120), "the camera never connected"
    assert runner.camera_status("door").state == "running"
    # the bound is generous (FFmpeg's own open timeout is 10 s, the old join timeout 30 s): a
    # stop that has to wait for the camera to time out misses it, one that interrupts it does not
    runner.stop(timeout_s=20)
    assert runner.join(0), "the camera thread was still waiting for the silent camera"
    assert runner.camera_status("door").state == "stopped"


def test_sigterm_ends_a_run_whose_only_camera_never_answers(silent: SilentServer, tmp_path: Path) -> None:
    """`storelens run` on the same silent camera: SIGTERM while it waits for a first frame ends the
    run with its summary (before, the loop waited for a frame that never came, forever)."""
    store = tmp_path / "store.yaml"
    store.write_text(
        f"store_id: dead\ncameras:\n  - id: door\n    source: rtsp://127.0.0.1:{silent.port}/cam\n    fps: 5\n"
        "detector:\n  model: yolo11n-pose\n"
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "storelens.cli.main", "run", str(store), "-o", str(out), "--no-video"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert silent.accepted.wait(120), "the camera never connected"
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=20)  # generous: FFmpeg's own open timeout is 10 s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["stopped"] is True and summary["cameras"]["door"]["frames_analysed"] == 0
    assert "Stopped before the end of the sources" in stdout
