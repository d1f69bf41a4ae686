"""The detector's runtime choice (issue 16): onnxruntime or OpenVINO on the same model file, the
one-off probe behind ``detector.backend: auto`` and its on-disk cache.

The probe's timing is tested with a fake clock (tests never assert wall-clock times); the real
probe runs on a 64x64 input so it costs a few milliseconds per run.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from budget import scaled
from storelens.config.detection import DetectorConfig
from storelens.vision import backends
from storelens.vision.backends import BackendChoice, choose, open_session, probe_key, time_sessions
from storelens.vision.detector import YoloDetector
from storelens.vision.models import resolve_model
from storelens.vision.onnx_session import SessionError, create_session
from storelens.vision.openvino_session import OPENVINO_PROVIDER, OpenVinoSession, openvino_available
from storelens.vision.quantize import read_frames
from testdata import DEMO_ENTRANCE_CLIP

POSE = resolve_model("yolo11n-pose")
SMALL = (64, 64)


def test_choose_prefers_onnxruntime_unless_openvino_is_clearly_faster() -> None:
    assert choose({"onnxruntime": 50.0, "openvino": 40.0}) == "openvino"
    assert choose({"onnxruntime": 50.0, "openvino": 46.0}) == "onnxruntime"  # within the margin: a tie
    assert choose({"onnxruntime": 50.0, "openvino": 60.0}) == "onnxruntime"
    assert choose({"onnxruntime": 50.0}) == "onnxruntime"
    assert choose({}) == "onnxruntime"


class FakeSession:
    """A session whose every run advances a shared fake clock by its own cost."""

    def __init__(self, clock: list[float], cost_ms: float, log: list[str], name: str) -> None:
        self.clock, self.cost, self.log, self.name = clock, cost_ms, log, name
        self.spikes = [0.0, 0.0, 40.0, 50.0, 0.0]  # popped from the end: load slows 2 of the first 4 runs

    def get_inputs(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(name="images", shape=["batch", 3, "h", "w"])]

    def run(self, names: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        assert feeds["images"].shape == (1, 3, *SMALL)
        self.clock[0] += (self.cost + (self.spikes.pop() if self.spikes else 0.0)) / 1000
        self.log.append(self.name)
        return []


def test_time_sessions_takes_the_fastest_run_of_alternating_blocks() -> None:
    clock, log = [0.0], []
    sessions: dict[str, Any] = {
        "onnxruntime": FakeSession(clock, 30.0, log, "ort"),
        "openvino": FakeSession(clock, 20.0, log, "ov"),
    }
    ms = time_sessions(sessions, np.zeros((1, 3, *SMALL), np.float32), runs=4, warmup=1, clock=lambda: clock[0])
    assert ms == pytest.approx({"onnxruntime": 30.0, "openvino": 20.0})  # the load spikes do not count
    # per round and session: one warm-up, then two timed runs
    assert log == ["ort"] * 3 + ["ov"] * 3 + ["ort"] * 3 + ["ov"] * 3


def test_fixed_backends_and_bad_choices(tmp_path: Path) -> None:
    session, choice = open_session(POSE, threads=1, device="cpu", backend="onnxruntime")
    assert choice == BackendChoice("onnxruntime", {}, "config")
    assert session.get_providers() == ["CPUExecutionProvider"]
    with pytest.raises(SessionError, match="backend must be one of"):
        open_session(POSE, backend="tensorrt")
    with pytest.raises(SessionError, match="runs on the CPU"):
        open_session(POSE, device="cuda", backend="openvino")
    with pytest.raises(ValueError):
        DetectorConfig(backend="tensorrt")  # type: ignore[arg-type]


def test_auto_without_openvino_is_onnxruntime_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backends, "openvino_available", lambda: False)
    cache = tmp_path / "backend.json"
    session, choice = open_session(POSE, threads=1, device="cpu", probe_hw=SMALL, cache_path=cache)
    assert (choice.backend, choice.source) == ("onnxruntime", "no-openvino")
    assert session.get_providers() == ["CPUExecutionProvider"] and not cache.exists()


# ------------------------------------------------------------------------------------- OpenVINO
needs_openvino = pytest.mark.skipif(not openvino_available(), reason="the openvino extra is not installed")


@pytest.fixture(scope="module")
def ov_session() -> OpenVinoSession:
    return OpenVinoSession(POSE, threads=1)


@needs_openvino
def test_openvino_session_runs_the_same_model_as_onnxruntime(ov_session: OpenVinoSession) -> None:
    ort_session = create_session(POSE, threads=1, device="cpu")
    assert [(i.name, i.shape[1]) for i in ov_session.get_inputs()] == [("images", 3)]
    assert ov_session.get_outputs()[0].name == ort_session.get_outputs()[0].name
    assert ov_session.get_modelmeta().custom_metadata_map["names"] == "{0: 'person'}"
    assert ov_session.get_providers() == [OPENVINO_PROVIDER]
    x = np.random.default_rng(0).random((2, 3, 96, 160), dtype=np.float32)
    a = ort_session.run(None, {"images": x})[0]
    b = ov_session.run(None, {"images": x})[0]
    assert a.shape == b.shape == (2, 56, 12 * 20 + 6 * 10 + 3 * 5)  # anchors at strides 8, 16, 32
    np.testing.assert_allclose(b, a, atol=0.02)  # f32 inference: float noise, not a bf16 shift
    with pytest.raises(SessionError, match="missing inputs"):
        ov_session.run(None, {"x": x})
    with pytest.raises(SessionError, match="not found"):
        OpenVinoSession(Path("/nonexistent.onnx"))


@needs_openvino
def test_detector_on_openvino_finds_what_onnxruntime_finds(ov_session: OpenVinoSession) -> None:
    frames = read_frames(DEMO_ENTRANCE_CLIP, every=10, stop=31)  # people walking in
    cfg = DetectorConfig(input_size=320, threads=1, device="cpu")
    ref = YoloDetector(cfg.model_copy(update={"backend": "onnxruntime"}))
    got = YoloDetector(cfg, session=ov_session)
    assert got.class_names == ("person",) and got.kind == "pose"
    total = 0
    for frame in frames:
        a, b = ref.detect(frame), got.detect(frame)
        assert len(a) == len(b)
        np.testing.assert_allclose(b.xyxy, a.xyxy, atol=0.05)
        total += len(a)
    assert total >= len(frames)


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "state" / "detector-backend.json"


@needs_openvino
def test_auto_probes_once_then_reads_the_cache(
    cache: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []
    real = backends.time_sessions

    def counted(*a: Any, **k: Any) -> dict[str, float]:
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(backends, "time_sessions", counted)
    _, first = open_session(POSE, threads=1, device="cpu", probe_hw=SMALL, cache_path=cache)
    assert first.source == "probe" and set(first.ms) == {"onnxruntime", "openvino"}
    assert first.backend == choose(first.ms)
    entry = json.loads(cache.read_text())[probe_key(POSE, 1, (1, 3, *SMALL))]
    assert entry["backend"] == first.backend

    session, again = open_session(POSE, threads=1, device="cpu", probe_hw=SMALL, cache_path=cache)
    assert (again.backend, again.source, calls) == (first.backend, "cache", [1])
    assert (OPENVINO_PROVIDER in session.get_providers()) == (first.backend == "openvino")

    # another thread count is another question; a cached "openvino" answer is honoured
    data = json.loads(cache.read_text())
    key2 = probe_key(POSE, 2, (1, 3, *SMALL))
    assert key2 not in data
    data[key2] = {"backend": "openvino", "ms": {"onnxruntime": 9.0, "openvino": 5.0}}
    cache.write_text(json.dumps(data))
    session, forced = open_session(POSE, threads=2, device="cpu", probe_hw=SMALL, cache_path=cache)
    assert (forced.backend, forced.source) == ("openvino", "cache") and session.get_providers() == [OPENVINO_PROVIDER]

    cache.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        _, reprobe = open_session(POSE, threads=1, device="cpu", probe_hw=SMALL, cache_path=cache)
    assert reprobe.source == "probe" and "unreadable detector backend cache" in caplog.text
    assert calls == [1, 1]


@needs_openvino
def test_a_failing_openvino_leaves_onnxruntime(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*a: Any, **k: Any) -> None:
        raise RuntimeError("no CPU plugin")

    monkeypatch.setattr(backends, "OpenVinoSession", broken)
    session, choice = open_session(POSE, threads=1, device="cpu", probe_hw=SMALL, cache_path=cache)
    assert (choice.backend, choice.source) == ("onnxruntime", "probe")
    assert session.get_providers() == ["CPUExecutionProvider"]


@needs_openvino
def test_key_names_model_cpu_threads_shape_and_versions() -> None:
    key = probe_key(POSE, 1, (1, 3, *SMALL))
    parts = key.split("|")
    assert len(parts[0]) == 64 and "cpus:" in parts[1] and parts[2] == "threads:1" and parts[3] == "shape:1x3x64x64"
    assert parts[4].startswith("onnxruntime:") and parts[5].startswith("openvino:20")
    assert probe_key(resolve_model("yolo11n-pose-int8"), 1, (1, 3, *SMALL)) != key


CONCURRENT_OPEN = """
import json, sys, threading
from pathlib import Path
from storelens.vision.backends import open_session

sources = []
def open_one():
    model, cache = Path(sys.argv[1]), Path(sys.argv[2])
    _, choice = open_session(model, threads=1, device="cpu", probe_hw=(64, 64), cache_path=cache)
    sources.append(choice.source)
threads = [threading.Thread(target=open_one) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(sorted(sources)))
"""


@needs_openvino
def test_cameras_starting_together_probe_once_and_do_not_deadlock(cache: Path) -> None:
    """Four cameras opening their detector at once in a fresh process (OpenVINO's first-use statics
    not yet initialised, where two first calls from two threads could deadlock on the GIL): one
    probe, three cache reads, and the process ends. The timeout only catches a hang (the run
    takes seconds)."""
    out = subprocess.run(
        [sys.executable, "-c", CONCURRENT_OPEN, str(POSE), str(cache)],
        capture_output=True,
        text=True,
        timeout=scaled(300),
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.splitlines()[-1]) == ["cache", "cache", "cache", "probe"]
