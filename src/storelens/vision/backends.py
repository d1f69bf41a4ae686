"""Which inference runtime runs the detector on this machine: onnxruntime or OpenVINO, same file.

Which one is faster depends on the CPU (its vector units, its cache, the OpenVINO and
onnxruntime builds) and on the model (FP32 or the INT8 QDQ file), so it is measured rather than
guessed: with ``detector.backend: auto`` the first start on a machine times both on the model at
the input size it will run, keeps the faster, and writes the answer to a small JSON cache keyed by
the model's sha256, the CPU, the thread count, the input shape and both runtime versions. Later
starts read the answer (no probe); a new CPU, model, thread count or runtime version probes anew.

onnxruntime is the fallback and the default on a tie: OpenVINO must be at least
:data:`MARGIN` faster to be chosen, because onnxruntime is the backend the rest of the project is
tested on and a few percent is within run-to-run noise on a shared machine. With a GPU
(onnxruntime's CUDA provider active) there is no probe: the GPU is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from storelens.vision.models import file_sha256
from storelens.vision.onnx_session import CUDA_PROVIDER, SessionError, create_session, usable_cpus
from storelens.vision.openvino_session import OpenVinoSession, openvino_available, openvino_version

log = logging.getLogger(__name__)

Backend = Literal["auto", "onnxruntime", "openvino"]
BACKENDS: tuple[str, ...] = ("auto", "onnxruntime", "openvino")
CACHE_ENV = "STORELENS_BACKEND_CACHE"
MARGIN = 0.9
"""OpenVINO is chosen only when its probe time is at most this fraction of onnxruntime's."""
PROBE_WARMUP = 2
_PROBE_LOCK = threading.Lock()
"""One probe at a time in a process: cameras starting together wait for the first one's answer
(then read it from the cache) instead of each timing both runtimes on the same shared cores."""
PROBE_RUNS = 8


class ModelSession(Protocol):
    """The part of ``onnxruntime.InferenceSession`` the detector uses; :class:`OpenVinoSession`
    has it too."""

    def get_inputs(self) -> Sequence[Any]: ...

    def get_outputs(self) -> Sequence[Any]: ...

    def get_modelmeta(self) -> Any: ...

    def get_providers(self) -> list[str]: ...

    def run(self, output_names: Any, input_feed: Any) -> Any: ...


def default_cache_path() -> Path:
    """``$STORELENS_BACKEND_CACHE``, else ``$XDG_STATE_HOME/storelens/detector-backend.json``
    (``~/.local/state/...``): machine state, not store state, so every store on the box shares it."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
    return base / "storelens" / "detector-backend.json"


def cpu_signature() -> str:
    """The CPU model and its feature flags (hashed), plus the cores this process may use: what
    decides which runtime's kernels are faster."""
    fields: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    name = fields.get("model name") or platform.processor() or platform.machine()
    digest = hashlib.sha256(fields.get("flags", "").encode()).hexdigest()[:12]
    return f"{name} flags:{digest} cpus:{usable_cpus()}"


def probe_key(model_path: Path, threads: int, shape: Sequence[int]) -> str:
    import onnxruntime as ort

    return "|".join(
        [
            file_sha256(Path(model_path)),
            cpu_signature(),
            f"threads:{threads or usable_cpus()}",
            "shape:" + "x".join(str(d) for d in shape),
            f"onnxruntime:{ort.__version__}",
            f"openvino:{openvino_version()}",
        ]
    )


@dataclass(frozen=True, slots=True)
class BackendChoice:
    """The chosen backend, the fastest milliseconds each took in the probe (empty when there was
    no probe) and where the answer came from: "config", "gpu", "no-openvino", "probe" or "cache"."""

    backend: str
    ms: Mapping[str, float]
    source: str

    def describe(self) -> str:
        times = ", ".join(f"{k} {v:.1f} ms" for k, v in sorted(self.ms.items()))
        return f"detector backend {self.backend} ({self.source}{': ' + times if times else ''})"


def choose(ms: Mapping[str, float], margin: float = MARGIN) -> str:
    """OpenVINO when it took at most ``margin`` of onnxruntime's time, else onnxruntime."""
    ov, ort_ms = ms.get("openvino"), ms.get("onnxruntime")
    if ov is None or ort_ms is None or not np.isfinite(ov):
        return "onnxruntime"
    return "openvino" if ov <= margin * ort_ms else "onnxruntime"


def time_sessions(
    sessions: Mapping[str, ModelSession],
    tensor: npt.NDArray[np.float32],
    runs: int = PROBE_RUNS,
    warmup: int = PROBE_WARMUP,
    clock: Callable[[], float] = time.perf_counter,
    rounds: int = 2,
) -> dict[str, float]:
    """Fastest ms per run of each session on ``tensor``, timed in blocks: ``rounds`` times, each
    session runs ``warmup`` untimed runs then its share of ``runs`` timed ones. Blocks, not one run
    each in turn: a runtime's thread pool spins on the cores for a while after each run, and
    measured here every run that directly followed the other runtime's was slowed (both runtimes
    1.3-3x slower interleaved than in blocks), which would rank whichever spins longer. Alternating
    blocks still spread a burst of outside load over both; the minimum is kept, not the median,
    because load only ever adds time (medians of one session moved 2x between runs here)."""
    feeds = {name: {s.get_inputs()[0].name: tensor} for name, s in sessions.items()}
    per_round = max(1, -(-runs // rounds))
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(rounds):
        for name, s in sessions.items():
            for _ in range(warmup):
                s.run(None, feeds[name])
            for _ in range(per_round):
                t0 = clock()
                s.run(None, feeds[name])
                times[name].append((clock() - t0) * 1000)
    return {name: min(t) for name, t in times.items()}


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable detector backend cache %s: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(path: Path, key: str, entry: dict[str, Any]) -> None:
    """Add one entry, atomically (a second process starting at the same time may write too)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _read_cache(path)
        data[key] = entry
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".backend-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only home must not stop the cameras: the probe just reruns
        log.warning("cannot write detector backend cache %s: %s", path, exc)


def probe_tensor(session: ModelSession, default_hw: tuple[int, int]) -> npt.NDArray[np.float32]:
    """A grey input of the shape the detector will run: the model's static dims where it has them,
    else batch 1 and ``default_hw``."""
    shape = list(session.get_inputs()[0].shape)
    dims = [1, 3, *default_hw]
    real = [d if isinstance(d, int) and d > 0 else dims[i] for i, d in enumerate(shape)]
    return np.full(real, 114 / 255, dtype=np.float32)


def open_session(
    path: Path,
    *,
    threads: int = 0,
    device: str = "auto",
    backend: str = "auto",
    probe_hw: tuple[int, int] = (384, 640),
    cache_path: Path | None = None,
) -> tuple[ModelSession, BackendChoice]:
    """A session for ``path`` on ``backend`` ("auto" = the faster CPU runtime here, see the module
    docstring), and how it was chosen. ``probe_hw`` is the input the probe times (the detector
    passes its letterbox size for a 16:9 camera)."""
    if backend not in BACKENDS:
        raise SessionError(f"detector.backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "openvino":
        if device == "cuda":
            raise SessionError("detector.backend 'openvino' runs on the CPU; use device 'cpu' or 'auto' with it")
        return OpenVinoSession(path, threads), BackendChoice("openvino", {}, "config")
    if backend == "onnxruntime":
        return create_session(path, threads=threads, device=device), BackendChoice("onnxruntime", {}, "config")
    ort_session = create_session(path, threads=threads, device=device)
    if CUDA_PROVIDER in ort_session.get_providers():
        return ort_session, BackendChoice("onnxruntime", {}, "gpu")
    if not openvino_available():
        return ort_session, BackendChoice("onnxruntime", {}, "no-openvino")
    with _PROBE_LOCK:
        return _auto_session(path, ort_session, threads, probe_hw, cache_path)


def _auto_session(
    path: Path,
    ort_session: ModelSession,
    threads: int,
    probe_hw: tuple[int, int],
    cache_path: Path | None,
) -> tuple[ModelSession, BackendChoice]:
    """``backend: auto`` on a CPU with OpenVINO installed: the cached answer, else a probe."""
    tensor = probe_tensor(ort_session, probe_hw)
    cache = cache_path or default_cache_path()
    key = probe_key(path, threads, tensor.shape)
    hit = _read_cache(cache).get(key)
    if isinstance(hit, dict) and hit.get("backend") in ("onnxruntime", "openvino"):
        ms = {str(k): float(v) for k, v in dict(hit.get("ms", {})).items()}
        choice = BackendChoice(str(hit["backend"]), ms, "cache")
        if choice.backend == "onnxruntime":
            return ort_session, choice
        try:
            return OpenVinoSession(path, threads), choice
        except SessionError as exc:
            log.warning("OpenVINO failed for %s (%s); using onnxruntime", path.name, exc)
            return ort_session, BackendChoice("onnxruntime", ms, "cache")
    try:
        ov_session = OpenVinoSession(path, threads)
        ms = time_sessions({"onnxruntime": ort_session, "openvino": ov_session}, tensor)
    except Exception as exc:  # any OpenVINO failure leaves the tested default in place
        log.warning("OpenVINO probe failed for %s (%s); using onnxruntime", path.name, exc)
        ov_session, ms = None, {}
    picked = choose(ms)
    _write_cache(cache, key, {"backend": picked, "ms": ms, "when": time.strftime("%Y-%m-%dT%H:%M:%S")})
    choice = BackendChoice(picked, ms, "probe")
    log.info("%s for %s", choice.describe(), path.name)
    return (ov_session if picked == "openvino" and ov_session is not None else ort_session), choice


__all__ = [
    "BACKENDS",
    "MARGIN",
    "BackendChoice",
    "ModelSession",
    "choose",
    "cpu_signature",
    "default_cache_path",
    "open_session",
    "probe_key",
    "time_sessions",
]
