"""One place that builds onnxruntime sessions, so every model (person, face, expression) runs with
the same CPU-friendly settings and the same provider choice.

Stores run this on small CPUs (2-4 cores, often shared with the decoder and the service), so the
defaults favour predictable latency over peak throughput: one intra-op pool sized to the cores
the process may use, no inter-op pool (YOLO-sized graphs have little branch parallelism, and a
second pool only fights the first for the same cores), sequential execution and full graph
optimisation. Where a GPU exists, the CUDA provider goes first and the CPU provider stays as the
fallback for operators CUDA does not implement.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"


class SessionError(RuntimeError):
    """The model cannot be loaded, or the requested device is not usable here."""


def usable_cpus() -> int:
    """CPUs this process may run on: the affinity mask where the OS has one (a container or
    ``taskset`` limits it below ``os.cpu_count()``), else ``os.cpu_count()``."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def session_options(threads: int = 0) -> ort.SessionOptions:
    """Session options for a small CPU: ``threads`` intra-op threads (0 = every usable core)."""
    if threads < 0:
        raise SessionError(f"threads must be >= 0 (0 = all cores), got {threads}")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or usable_cpus()
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Keep onnxruntime's own log chatter (e.g. "some nodes not assigned to CUDA") at warnings.
    opts.log_severity_level = 2
    return opts


def select_providers(device: str = "auto", available: Sequence[str] | None = None) -> list[str]:
    """Providers in priority order for ``device`` ("auto", "cpu" or "cuda").

    ``available`` defaults to what this onnxruntime build offers; passing it lets the choice be
    tested without a GPU. "cuda" when CUDA is not offered is an error rather than a silent CPU
    run, because a user who asked for the GPU would otherwise get 10x slower analytics unawares.
    """
    if device not in DEVICES:
        raise SessionError(f"device must be one of {DEVICES}, got {device!r}")
    offered = list(ort.get_available_providers() if available is None else available)
    if device == "cpu":
        return [CPU_PROVIDER]
    if CUDA_PROVIDER in offered:
        return [CUDA_PROVIDER, CPU_PROVIDER]
    if device == "cuda":
        raise SessionError(
            "device 'cuda' requested but this onnxruntime has no CUDAExecutionProvider "
            f"(available: {offered}); install onnxruntime-gpu with a matching CUDA, or use device 'auto'/'cpu'"
        )
    return [CPU_PROVIDER]


def create_session(path: Path, threads: int = 0, device: str = "auto") -> ort.InferenceSession:
    """Load an ONNX model with :func:`session_options` and :func:`select_providers`.

    ``path`` should come from :func:`storelens.vision.models.resolve_model` (which verifies the
    vendored hash). Raises :class:`SessionError` with the path in the message when the file is
    missing or not a loadable ONNX graph, or when CUDA was required and did not initialise
    (onnxruntime silently drops a provider whose libraries fail to load, so this is checked).
    """
    path = Path(path)
    if not path.is_file():
        raise SessionError(f"ONNX model not found: {path}")
    providers = select_providers(device)
    try:
        session = ort.InferenceSession(str(path), sess_options=session_options(threads), providers=providers)
    except SessionError:
        raise
    except Exception as exc:  # onnxruntime raises its own pybind exception types
        raise SessionError(f"cannot load ONNX model {path}: {exc}") from exc
    active = session.get_providers()
    if device == "cuda" and CUDA_PROVIDER not in active:
        raise SessionError(
            f"device 'cuda' requested but CUDA did not initialise for {path.name} (active providers: {active}); "
            "check the CUDA/cuDNN libraries onnxruntime-gpu needs"
        )
    log.debug("loaded %s with providers %s", path.name, active)
    return session
