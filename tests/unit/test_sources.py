"""Frame sources on real video: fps sampling, downscaling, GIF, image folders, damaged files,
looping, and live-stream behaviour (HTTP replay, outages, backoff) against local servers.

Small test clips are encoded here with PyAV from the real Intel sample clip, into tmp_path, so
nothing large is committed and every test knows exactly what its input contains.
"""

from __future__ import annotations

import functools
import itertools
import random
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from storelens.config.cameras import CameraConfig
from storelens.core.types import Frame
from storelens.sources.base import FrameSource, SourceError
from storelens.sources.decode import MonotonicClock
from storelens.sources.factory import open_source, resolve_source_path, stream_options, webcam_device
from storelens.sources.file import FileSource
from storelens.sources.images import ImageFolderSource
from storelens.sources.live import Backoff, LatestFrames, LiveSource
from storelens.sources.sampling import FpsSampler, fit_width
from storelens.sources.status import redact_url
from testdata import DEMO_COUNTER_CLIP, shared_data_path, skip_unless_shared

ONE_BY_ONE = DEMO_COUNTER_CLIP  # one-by-one-person-detection.mp4 as the demo has it: 1394 frames, 768x432, 10 fps
STORE_AISLE_GIF = shared_data_path("video", "store-aisle-detection.gif")  # 67 frames, 480x270
needs_gif = skip_unless_shared("video", "store-aisle-detection.gif")


# -- helpers ----------------------------------------------------------------------------------------
def cam(source: str | Path, **kw: Any) -> CameraConfig:
    return CameraConfig(id="cam1", source=str(source), **kw)


@dataclass
class StatusLog:
    events: list[tuple[str, float, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event_type: str, wall_time: float, payload: dict[str, Any]) -> None:
        with self.lock:
            self.events.append((event_type, wall_time, dict(payload)))

    def of(self, event_type: str) -> list[dict[str, Any]]:
        with self.lock:
            return [p for t, _, p in self.events if t == event_type]


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Poll until condition() holds; the timeout only bounds a failing test."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


class Collector:
    """Consumes a live source on its own thread, as the pipeline does."""

    def __init__(self, source: FrameSource) -> None:
        self.frames: list[Frame] = []
        self._thread = threading.Thread(target=self._run, args=(source,), daemon=True)
        self._thread.start()

    def _run(self, source: FrameSource) -> None:
        for frame in source.frames():
            self.frames.append(frame)

    def join(self, timeout_s: float = 5.0) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()


def encode_clip(dst: Path, *, seconds: float, width: int = 320, gop: int = 10, faststart: bool = True) -> Path:
    """Re-encode the start of the real clip to a small H.264 MP4 (10 fps, keyframe every ``gop``).

    faststart puts the index (moov) before the media data, as web-served MP4s have it; without it
    a truncated MP4 has no index at all and cannot be opened, which is a different test.
    """
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(ONE_BY_ONE)) as inp, av.open(str(dst), "w", options=options) as out:
        src = inp.streams.video[0]
        height = round(src.codec_context.height * width / src.codec_context.width / 2) * 2
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        stream.codec_context.options = {"preset": "ultrafast"}
        for i, frame in enumerate(inp.decode(src)):
            if i >= seconds * 10:
                break
            small = frame.reformat(width=width, height=height, format="yuv420p")
            small.pts, small.time_base = i, Fraction(1, 10)
            out.mux(stream.encode(small))
        out.mux(stream.encode(None))
    return dst


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("clips")
    encode_clip(d / "clip4s.mp4", seconds=4)
    encode_clip(d / "clip2s.mp4", seconds=2)
    return d


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- pure pieces ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("source_fps", "analyse_fps", "seconds", "expected"),
    [
        (10, 5, 10, 50),  # half
        (10, 10, 10, 100),  # all
        (10, 20, 10, 100),  # asking for more than the source has keeps everything, invents nothing
        (10, 6, 10, 60),  # rates that do not divide still average out exactly
        (30, 10, 10, 100),
        (25, 1, 10, 10),
    ],
)
def test_fps_sampler_keeps_the_configured_rate(source_fps: int, analyse_fps: int, seconds: int, expected: int) -> None:
    sampler = FpsSampler(analyse_fps)
    kept = [i / source_fps for i in range(source_fps * seconds) if sampler.keep(i / source_fps)]
    assert len(kept) == expected
    assert kept[0] == 0.0


def test_fps_sampler_reanchors_after_a_gap_and_restarts_after_going_backwards() -> None:
    sampler = FpsSampler(5)
    assert [sampler.keep(t / 10) for t in range(5)] == [True, False, True, False, True]
    # a 60 s gap: the frame after it is kept, then the normal 0.2 s rhythm resumes (no backlog)
    assert [sampler.keep(60 + t / 10) for t in range(5)] == [True, False, True, False, True]
    # timestamps went back (restarted stream): sampling restarts instead of waiting 60 s
    assert [sampler.keep(t / 10) for t in range(3)] == [True, False, True]


def test_fps_sampler_tolerates_millisecond_timestamp_rounding() -> None:
    # 29.97 fps in a 1 ms time base (MKV/FLV), analysed at 29.97: every frame must be kept
    pts = [round(i / 29.97, 3) for i in range(300)]
    sampler = FpsSampler(29.97)
    assert all(sampler.keep(t) for t in pts)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_fps_sampler_rejects_bad_rates(bad: float) -> None:
    with pytest.raises(ValueError, match="fps"):
        FpsSampler(bad)


@pytest.mark.parametrize(
    ("shape", "max_width", "expected"),
    [
        ((432, 768), 640, (360, 640)),
        ((432, 768), 320, (180, 320)),
        ((432, 768), 768, (432, 768)),
        ((432, 768), 1280, (432, 768)),  # never upscaled
        ((1080, 1920), 1280, (720, 1280)),
        ((3, 1000), 100, (1, 100)),  # degenerate strips keep at least one row
    ],
)
def test_fit_width(shape: tuple[int, int], max_width: int, expected: tuple[int, int]) -> None:
    img = np.zeros((*shape, 3), np.uint8)
    out = fit_width(img, max_width)
    assert out.shape == (*expected, 3)
    assert out.dtype == np.uint8
    if expected == shape:
        assert out is img


def test_fit_width_averages_instead_of_sampling() -> None:
    # 1-pixel vertical stripes: INTER_AREA halves them into uniform grey, nearest would keep stripes
    img = np.zeros((4, 8, 3), np.uint8)
    img[:, ::2] = 255
    out = fit_width(img, 4)
    assert np.all(np.abs(out.astype(int) - 128) <= 1)


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        ([0.0, 0.1, 0.2], [0.0, 0.1, 0.2]),
        ([0.0, 0.1, 0.1, 0.3], [0.0, 0.1, 0.2, 0.3]),  # duplicate timestamp
        ([0.0, 0.2, 0.1, 0.3], [0.0, 0.2, 0.3, 0.4]),  # backwards
        ([None, None, 0.5], [0.0, 0.1, 0.5]),  # missing timestamps
    ],
)
def test_monotonic_clock(candidates: list[float | None], expected: list[float]) -> None:
    clock = MonotonicClock(0.1)
    assert [clock.next(c) for c in candidates] == pytest.approx(expected)


def test_backoff_doubles_up_to_the_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(0.5, 4.0, random.Random(7))
    nominal = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    delays = [backoff.next() for _ in nominal]
    for d, n in zip(delays, nominal, strict=True):
        assert 0.8 * n <= d <= n
    assert len(set(delays[3:])) == 3  # jittered, not lock-step
    backoff.reset()
    assert 0.4 <= backoff.next() <= 0.5


def test_latest_frames_keeps_the_newest_and_counts_evictions() -> None:
    q = LatestFrames(2)
    img = np.zeros((2, 2, 3), np.uint8)
    evicted = [q.put(Frame("c", i, i / 10, 0.0, img)) for i in range(5)]
    assert evicted == [0, 0, 1, 1, 1]
    first, second = q.get(0.0), q.get(0.0)
    assert first is not None and second is not None
    assert (first.index, second.index) == (3, 4)
    assert q.get(0.0) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the whole userinfo goes, user name included (issue 14)
        ("rtsp://admin:s3cret@10.0.0.5:554/live", "rtsp://***@10.0.0.5:554/live"),
        ("failed: 'rtsps://u:p%40ss@cam/x' (refused)", "failed: 'rtsps://***@cam/x' (refused)"),
        ("http://token@cam/mjpg", "http://***@cam/mjpg"),
        ("rtsp://10.0.0.5/live", "rtsp://10.0.0.5/live"),
        # passwords people really type, unencoded: '@', '/', ':' and percent-encoding
        ("rtsp://admin:S3cr@tPass@host/x", "rtsp://***@host/x"),
        ("rtsp://admin:pa/ss@host/x", "rtsp://***@host/x"),
        ("rtsp://admin:a:b:c@host:554/x", "rtsp://***@host:554/x"),
        ("rtsp://ad%3Amin:p%2Fa%40ss@host/x", "rtsp://***@host/x"),
        ("nats://u:S3cr@t@n1:4222, nats://v:pa/ss@n2:4222", "nats://***@n1:4222, nats://***@n2:4222"),
        ('{"url": "rtsp://admin:pa/ss@host/x"}', '{"url": "rtsp://***@host/x"}'),
    ],
)
def test_redact_url(text: str, expected: str) -> None:
    assert redact_url(text) == expected


@pytest.mark.parametrize(
    ("source", "platform", "expected"),
    [
        ("webcam:0", "linux", ("/dev/video0", "v4l2")),
        ("webcam:3", "linux", ("/dev/video3", "v4l2")),
        ("/dev/video2", "linux", ("/dev/video2", "v4l2")),
        ("webcam:1", "darwin", ("1", "avfoundation")),
    ],
)
def test_webcam_device(source: str, platform: str, expected: tuple[str, str]) -> None:
    assert webcam_device(source, platform) == expected


def test_webcam_on_unsupported_platform_says_what_to_do() -> None:
    with pytest.raises(SourceError, match="RTSP URL"):
        webcam_device("webcam:0", "win32")


def test_stream_options_use_tcp_for_rtsp_only() -> None:
    assert stream_options("rtsp://h/x") == {"rtsp_transport": "tcp"}
    assert stream_options("RTSPS://h/x") == {"rtsp_transport": "tcp"}
    assert stream_options("http://h/x.mjpg") == {}


def test_resolve_source_path(tmp_path: Path) -> None:
    assert resolve_source_path("clip.mp4", tmp_path) == tmp_path / "clip.mp4"
    assert resolve_source_path("/abs/clip.mp4", tmp_path) == Path("/abs/clip.mp4")
    assert resolve_source_path("file:///abs/my%20clip.mp4", tmp_path) == Path("/abs/my clip.mp4")


# -- files ------------------------------------------------------------------------------------------
def test_file_analysed_at_half_rate_keeps_every_second_frame() -> None:
    with open_source(cam(ONE_BY_ONE, fps=5)) as src:
        assert isinstance(src, FileSource)
        frames = []
        for frame in src.frames():
            frames.append(frame)
            if len(frames) == 60:
                break
        stats = src.stats
    indices = [f.index for f in frames]
    assert indices == list(range(0, 120, 2))
    assert np.allclose(np.diff([f.pts for f in frames]), 0.2, atol=1e-6)
    assert stats.decoded == 119 and stats.emitted == 60 and stats.dropped == 59
    assert all(f.camera_id == "cam1" for f in frames)
    assert frames[0].image.shape == (432, 768, 3) and frames[0].image.dtype == np.uint8


def test_file_wall_time_is_start_plus_pts() -> None:
    with open_source(cam(ONE_BY_ONE, fps=2), start_wall_time=1_700_000_000.0) as src:
        frames = [f for _, f in zip(range(5), src.frames(), strict=False)]
    assert [f.wall_time - 1_700_000_000.0 for f in frames] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0])


def test_file_is_downscaled_to_max_width_and_reports_native_size() -> None:
    with open_source(cam(ONE_BY_ONE, max_width=320)) as src:
        frame = next(iter(src.frames()))
        assert src.stats.extra["native_width"] == 768 and src.stats.extra["native_height"] == 432
    assert frame.image.shape == (180, 320, 3)


def test_whole_file_is_analysed_and_ends(clip_dir: Path) -> None:
    with open_source(cam(clip_dir / "clip4s.mp4", fps=10)) as src:
        frames = list(src.frames())
        assert src.stats.online is False
    assert len(frames) == 40
    assert [f.index for f in frames] == list(range(40))
    assert src.stats.decoded == src.stats.emitted == 40 and src.stats.dropped == 0
    assert frames[-1].pts == pytest.approx(3.9)


def test_relative_path_resolves_against_base_dir(clip_dir: Path) -> None:
    with open_source(cam("clip2s.mp4"), base_dir=clip_dir) as src:
        assert len(list(src.frames())) == 20


@needs_gif
def test_gif_frames_are_bgr_and_match_pillow() -> None:
    with open_source(cam(STORE_AISLE_GIF, fps=60)) as src:
        frames = list(src.frames())
    assert len(frames) == 67
    assert frames[0].image.shape == (270, 480, 3)
    pts = [f.pts for f in frames]
    assert all(b > a for a, b in itertools.pairwise(pts))
    with Image.open(STORE_AISLE_GIF) as im:
        rgb = np.asarray(im.convert("RGB"))
    # identical palette decode, channels reversed: proves BGR order, not just "some image"
    assert np.abs(frames[0].image[:, :, ::-1].astype(int) - rgb.astype(int)).mean() < 1.0


@needs_gif
def test_gif_at_lower_fps_samples_by_time_not_by_count() -> None:
    with open_source(cam(STORE_AISLE_GIF, fps=5)) as src:
        frames = list(src.frames())
    steps = np.diff([f.pts for f in frames])
    assert len(frames) == pytest.approx(4.4 * 5 + 1, abs=1)
    assert steps.min() >= 0.2 - 0.005 - 1e-9  # 5 ms tolerance for timestamp rounding
    assert steps.max() <= 0.2 + 0.07 + 1e-9  # at most one GIF frame late


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "cam.mp4"
    with pytest.raises(SourceError, match="not found") as err:
        open_source(cam(missing))
    assert str(missing) in str(err.value)


def test_garbage_file_names_the_path_and_reason(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(random.Random(1).randbytes(50_000))
    with pytest.raises(SourceError, match="Invalid data") as err:
        open_source(cam(bad))
    assert str(bad) in str(err.value)


def test_file_without_video_stream_is_rejected(tmp_path: Path) -> None:
    wav = tmp_path / "audio.wav"
    with av.open(str(wav), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(SourceError, match="no video stream") as err:
        open_source(cam(wav))
    assert str(wav) in str(err.value)


def test_unsupported_scheme_is_an_error_without_credentials() -> None:
    with pytest.raises(SourceError, match="scheme 'ftp'") as err:
        open_source(cam("ftp://user:pw@host/cam.mp4"))
    assert "pw" not in str(err.value)


def test_truncated_file_yields_the_frames_before_the_damage(tmp_path: Path, clip_dir: Path) -> None:
    data = (clip_dir / "clip4s.mp4").read_bytes()
    cut = tmp_path / "truncated.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    log = StatusLog()
    with open_source(cam(cut, fps=10), on_status=log) as src:
        frames = list(src.frames())
        stats = src.stats
    assert 10 <= len(frames) < 40
    assert [f.index for f in frames] == list(range(len(frames)))
    pts = [f.pts for f in frames]
    assert all(b > a for a, b in itertools.pairwise(pts))
    assert len(log.of("camera.frame_corrupt")) == min(stats.corrupt, 1)  # rate-limited to 1/s


def test_damaged_middle_is_skipped_counted_and_reported(tmp_path: Path, clip_dir: Path) -> None:
    data = bytearray((clip_dir / "clip4s.mp4").read_bytes())
    mid = len(data) // 2
    data[mid : mid + 4096] = random.Random(1234).randbytes(4096)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    log = StatusLog()
    with open_source(cam(damaged, fps=10), on_status=log) as src:
        frames = list(src.frames())
        stats = src.stats
    assert stats.corrupt >= 1
    assert 25 <= len(frames) < 40  # frames after the damage (next keyframe on) come through
    assert frames[-1].pts > 3.0
    reports = log.of("camera.frame_corrupt")
    assert len(reports) == 1  # the whole clip decodes within a second: one report, all counted
    assert reports[0]["corrupt"] >= 1 and reports[0]["error"]


def test_status_callback_errors_do_not_stop_decoding(tmp_path: Path, clip_dir: Path) -> None:
    data = bytearray((clip_dir / "clip4s.mp4").read_bytes())
    mid = len(data) // 2
    data[mid : mid + 4096] = random.Random(1234).randbytes(4096)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))

    def broken(*_: object) -> None:
        raise RuntimeError("handler bug")

    with open_source(cam(damaged, fps=10), on_status=broken) as src:
        assert len(list(src.frames())) >= 25


def test_loop_keeps_pts_increasing_across_the_seam(clip_dir: Path) -> None:
    with open_source(cam(clip_dir / "clip2s.mp4", fps=10, loop=True), start_wall_time=0.0) as src:
        frames = [f for _, f in zip(range(50), src.frames(), strict=False)]
    pts = np.array([f.pts for f in frames])
    assert len(frames) == 50  # 20 per pass: the loop went round twice and kept going
    assert np.all(np.diff(pts) > 0)
    assert np.allclose(np.diff(pts), 0.1, atol=1e-6)  # the seam is one frame interval wide
    assert [f.index for f in frames] == list(range(50))
    assert frames[20].wall_time == pytest.approx(2.0)
    assert np.array_equal(frames[0].image, frames[20].image)


def test_close_mid_file_stops_iteration(clip_dir: Path) -> None:
    src = open_source(cam(clip_dir / "clip4s.mp4"))
    it = src.frames()
    next(it)
    src.close()
    assert list(it) == []


# -- image folders ----------------------------------------------------------------------------------
def test_image_folder_in_natural_order_with_pts_from_fps(tmp_path: Path) -> None:
    colours = {"img1.png": 10, "img2.png": 20, "img10.png": 30, "IMG11.JPG": 40}
    for name, value in colours.items():
        cv2.imwrite(str(tmp_path / name), np.full((80, 120, 3), value, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "img3.png").write_bytes(b"not really a png")
    log = StatusLog()
    with open_source(cam(tmp_path, fps=4, max_width=90), on_status=log, start_wall_time=100.0) as src:
        assert isinstance(src, ImageFolderSource)
        frames = list(src.frames())
        stats = src.stats
    assert [int(f.image[0, 0, 0]) for f in frames] == pytest.approx([10, 20, 30, 40], abs=2)  # JPEG is lossy
    # img3.png sits at position 2 and is unreadable: skipped and counted, its time slot kept
    assert [f.index for f in frames] == [0, 1, 3, 4]
    assert [f.pts for f in frames] == [0.0, 0.25, 0.75, 1.0]
    assert [f.wall_time for f in frames] == [100.0, 100.25, 100.75, 101.0]
    assert frames[0].image.shape == (60, 90, 3)
    assert stats.corrupt == 1 and stats.decoded == 5 and stats.emitted == 4
    assert len(log.of("camera.frame_corrupt")) == 1


def test_image_folder_loop(tmp_path: Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((8, 8, 3), i, np.uint8))
    with open_source(cam(tmp_path, fps=2, loop=True)) as src:
        frames = [f for _, f in zip(range(7), src.frames(), strict=False)]
    assert [f.pts for f in frames] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert [int(f.image[0, 0, 0]) for f in frames] == [0, 1, 2, 0, 1, 2, 0]


def test_empty_image_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no images") as err:
        open_source(cam(tmp_path))
    assert str(tmp_path) in str(err.value)


# -- live sources -----------------------------------------------------------------------------------
class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_server(clip_dir: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(clip_dir)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_stream_reads_then_reconnects_after_the_stream_ends(http_server: str) -> None:
    log = StatusLog()
    config = cam(f"{http_server}/clip2s.mp4", fps=10, max_width=160, reconnect_initial_s=0.05)
    src = open_source(config, on_status=log)
    assert isinstance(src, LiveSource)
    collector = Collector(src)
    try:
        # a served file ends after 2 s of media: the source reports the outage, reconnects and
        # keeps going, with time continuing forward
        assert wait_for(lambda: len(log.of("camera.online")) >= 1 and len(collector.frames) >= 25, 30)
    finally:
        src.close()
    assert collector.join()
    assert not src.is_running
    offline = log.of("camera.offline")
    assert offline[0]["error"] == "stream ended" and 0.04 <= offline[0]["retry_in_s"] <= 0.05
    assert log.of("camera.online")[0] == {"reconnects": 1}
    assert src.stats.reconnects >= 1
    frames = collector.frames
    assert frames[0].image.shape == (90, 160, 3)
    assert all(b.pts > a.pts for a, b in itertools.pairwise(frames))
    assert all(b.index > a.index for a, b in itertools.pairwise(frames))
    s = src.stats
    assert s.decoded == s.emitted + s.dropped + src.pending


def test_unreachable_camera_reports_offline_once_and_keeps_retrying() -> None:
    log = StatusLog()
    url = f"rtsp://admin:hunter2@127.0.0.1:{free_port()}/cam"
    src = open_source(cam(url, reconnect_initial_s=0.02, reconnect_max_s=0.05), on_status=log)
    collector = Collector(src)
    try:
        assert wait_for(lambda: src.stats.extra.get("connect_attempts", 0) >= 4, 20)
        assert src.is_running
    finally:
        src.close()
    assert collector.join()
    assert collector.frames == []
    offline = log.of("camera.offline")
    assert len(offline) == 1  # one outage, one report, however many retries
    assert "refused" in offline[0]["error"].lower()
    assert "hunter2" not in offline[0]["error"] and "rtsp://***@" in offline[0]["error"]
    assert "hunter2" not in str(src.stats.extra) and "hunter2" not in (src.stats.last_error or "")
    assert log.of("camera.online") == []
    assert src.stats.online is False and src.stats.reconnects == 0


def test_close_interrupts_a_long_backoff_wait() -> None:
    log = StatusLog()
    config = cam(f"rtsp://127.0.0.1:{free_port()}/cam", reconnect_initial_s=60, reconnect_max_s=60)
    src = open_source(config, on_status=log)
    assert isinstance(src, LiveSource)
    src.start()
    assert wait_for(lambda: len(log.of("camera.offline")) == 1, 20)
    src.close()  # waits at most close_timeout_s (2 s) for the reader; a 60 s sleep would outlive it
    assert not src.is_running


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="V4L2 device paths are Linux-only")
def test_missing_webcam_is_an_outage_not_a_crash() -> None:
    log = StatusLog()
    with open_source(cam("webcam:97", reconnect_initial_s=30, reconnect_max_s=30), on_status=log) as src:
        assert isinstance(src, LiveSource)
        src.start()
        assert wait_for(lambda: len(log.of("camera.offline")) == 1, 20)
    assert "/dev/video97" in log.of("camera.offline")[0]["error"]
    assert not src.is_running
