"""A live RTSP camera drops off the network mid-stream and comes back: the source must report
camera.offline, keep retrying, report camera.online, and deliver frames again, with pts running
on through the outage.

The camera is a real RTSP server (GStreamer's gst-rtsp-server, run by the system python where
its gi bindings live) serving an H.264 MP4 made from the real Intel sample clip. Killing the
server process is the network drop; starting it again on the same port is the camera's return.
"""

from __future__ import annotations

import itertools
import select
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest

from storelens.config.cameras import CameraConfig
from storelens.core.types import Frame
from storelens.sources.factory import open_source
from storelens.sources.live import LiveSource
from testdata import DEMO_COUNTER_CLIP

pytestmark = pytest.mark.integration

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
ONE_BY_ONE = DEMO_COUNTER_CLIP  # one-by-one-person-detection.mp4 as the demo has it (H.264, 10 fps)
APT_LINE = (
    "apt-get install -y python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good "
    "gstreamer1.0-plugins-bad gstreamer1.0-libav"
)
_PROBE = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
    "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
    "missing = [e for e in ('filesrc', 'qtdemux', 'h264parse', 'rtph264pay') if not Gst.ElementFactory.find(e)];"
    "assert not missing, missing"
)


def _require_gstreamer() -> None:
    try:
        probe = subprocess.run([SYSTEM_PYTHON, "-c", _PROBE], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"no usable {SYSTEM_PYTHON} for the RTSP server ({exc}); install with: {APT_LINE}")
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["unknown error"])[-1]
        pytest.skip(f"GStreamer RTSP server unavailable ({reason}); install with: {APT_LINE}")


class RtspServer:
    """The RTSP server subprocess; start() returns once it is listening."""

    def __init__(self, video: Path, port: int) -> None:
        self.video = video
        self.port = port
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def start(self, timeout_s: float = 20.0) -> None:
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER_SCRIPT), str(self.video), str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        line = self.proc.stdout.readline().strip() if ready else ""
        if line != "serving":
            self.kill()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"RTSP server did not start on port {self.port}: {line!r} {err}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _encode_h264(dst: Path, seconds: float) -> Path:
    """The first ``seconds`` of the real clip as H.264 yuv420p, a keyframe every second (g=10 at
    10 fps) so a reconnecting reader can start decoding within a second."""
    with av.open(str(ONE_BY_ONE)) as inp, av.open(str(dst), "w") as out:
        src = inp.streams.video[0]
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = src.codec_context.width, src.codec_context.height, "yuv420p"
        stream.codec_context.gop_size = 10
        stream.codec_context.options = {"preset": "ultrafast"}
        for i, frame in enumerate(inp.decode(src)):
            if i >= seconds * 10:
                break
            f = frame.reformat(format="yuv420p")
            f.pts, f.time_base = i, Fraction(1, 10)
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))
    return dst


def _wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def rtsp_server(tmp_path: Path) -> Iterator[RtspServer]:
    _require_gstreamer()
    if not ONE_BY_ONE.exists():
        pytest.skip(f"real data missing: {ONE_BY_ONE}")
    server = RtspServer(_encode_h264(tmp_path / "cam.mp4", seconds=30), _free_port())
    server.start()
    yield server
    server.kill()


@pytest.mark.timeout(60)
def test_rtsp_camera_drop_and_return(rtsp_server: RtspServer) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    lock = threading.Lock()

    def on_status(event_type: str, wall_time: float, payload: dict[str, Any]) -> None:
        with lock:
            events.append((event_type, dict(payload)))

    def of(event_type: str) -> list[dict[str, Any]]:
        with lock:
            return [p for t, p in events if t == event_type]

    cam = CameraConfig(id="door", source=rtsp_server.url, fps=5, reconnect_initial_s=0.2, reconnect_max_s=1.0)
    src = open_source(cam, on_status=on_status)
    assert isinstance(src, LiveSource)
    frames: list[Frame] = []

    def consume() -> None:
        for frame in src.frames():
            frames.append(frame)

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    try:
        assert _wait_for(lambda: len(frames) >= 5, 20), "no frames from the RTSP server"
        assert src.stats.online

        rtsp_server.kill()
        killed_at = time.monotonic()
        assert _wait_for(lambda: len(of("camera.offline")) == 1, 15), "camera.offline not reported"
        offline = of("camera.offline")[0]
        assert offline["error"] and 0.16 <= offline["retry_in_s"] <= 0.2
        assert not src.stats.online
        # it keeps knocking on the closed port while the camera is gone
        attempts = src.stats.extra["connect_attempts"]
        assert _wait_for(lambda: src.stats.extra["connect_attempts"] >= attempts + 2, 15)
        n_before = len(frames)
        last_pts_before = frames[-1].pts if frames else 0.0

        down_s = time.monotonic() - killed_at  # a lower bound of the outage
        rtsp_server.start()
        assert _wait_for(lambda: len(of("camera.online")) == 1, 20), "camera.online not reported"
        assert _wait_for(lambda: len(frames) >= n_before + 5, 20), "no frames after the camera came back"
    finally:
        src.close()
    consumer.join(5)
    assert not consumer.is_alive() and not src.is_running

    assert of("camera.online") == [{"reconnects": 1}]
    assert len(of("camera.offline")) == 1  # one outage, one report, despite the failed retries
    assert src.stats.reconnects == 1
    pts = [f.pts for f in frames]
    assert all(b > a for a, b in itertools.pairwise(pts))
    assert all(b.index > a.index for a, b in itertools.pairwise(frames))
    # time runs on through the outage: the first frame after it is at least the downtime later
    assert frames[n_before].pts - last_pts_before >= down_s
    assert frames[-1].image.shape == (432, 768, 3)
