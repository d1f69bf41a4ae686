"""OpenVINO Runtime behind the few onnxruntime session methods the detector uses, so one model file
and one decoder serve both CPU backends.

:class:`OpenVinoSession` reads the same ``.onnx`` file onnxruntime does and answers
``get_inputs``/``get_outputs``/``get_modelmeta``/``get_providers``/``run`` like an
``onnxruntime.InferenceSession``; :class:`~storelens.vision.detector.YoloDetector` cannot tell them
apart. Choices that keep its output the same as onnxruntime's:

- ``INFERENCE_PRECISION_HINT=f32``: on CPUs with AVX512-BF16 OpenVINO otherwise runs FP32 models in
  bfloat16, about twice as fast here but moving raw box coordinates by up to 16 px (measured on
  the counter clip), which would be a different detector under the same model name.
- A static shape per input size (``dynamic=False``): the detector feeds one letterbox size per
  camera, so the graph is compiled for that shape (``bench/detector.py --backends`` times it
  against the dynamic graph); compiled shapes are kept in a small LRU so a mixed batch does not
  recompile every call.
- The same threading policy as :mod:`storelens.vision.onnx_session`: ``threads`` inference threads
  (0 = every usable core), one stream, latency hint.

``openvino`` is an optional extra (``pip install storelens[openvino]``, ~180 MB); without it
:func:`openvino_available` is False and the backend choice falls back to onnxruntime.
"""

from __future__ import annotations

import contextlib
import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from storelens.vision.onnx_session import SessionError, usable_cpus

OPENVINO_PROVIDER = "OpenVINO:CPU"
"""What :meth:`OpenVinoSession.get_providers` reports, in the place of onnxruntime's provider names."""

COMPILED_SHAPES = 4
"""Compiled input shapes kept per session (one per camera input size and batch size in use)."""

INIT_LOCK = threading.RLock()
"""Held by every OpenVINO call that may run a first-use initialisation: the version query, a
session's construction, a shape's compilation and its first inference. OpenVINO's Python bindings
initialise function-local statics while holding the GIL, so two threads making their first
OpenVINO calls at once can deadlock (seen on a fresh machine: two cameras starting together, one
thread waiting in ``__cxa_guard_acquire`` with the GIL, the other waiting for the GIL inside that
static's initialiser; 1 run in 3 of three concurrent ``open_session`` calls hung). Warmed-up
inference does not take it, so cameras still infer in parallel."""


def openvino_available() -> bool:
    """Whether the ``openvino`` package is installed (without importing it: that costs ~0.3 s)."""
    return importlib.util.find_spec("openvino") is not None


def openvino_version() -> str | None:
    if not openvino_available():
        return None
    with INIT_LOCK:
        import openvino as ov

        return str(ov.get_version())


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """An input or output as onnxruntime's ``NodeArg`` shows it: dynamic dims are strings."""

    name: str
    shape: list[int | str]
    type: str = "tensor(float)"


@dataclass(frozen=True, slots=True)
class ModelMeta:
    custom_metadata_map: dict[str, str] = field(default_factory=dict)


def _node(port: Any, index: int) -> NodeInfo:
    names = sorted(port.get_names())
    shape: list[int | str] = []
    for i, dim in enumerate(port.get_partial_shape()):
        shape.append(dim.get_length() if dim.is_static else f"d{i}")
    return NodeInfo(name=names[0] if names else f"port{index}", shape=shape)


class OpenVinoSession:
    """An ONNX model on OpenVINO's CPU plugin with the onnxruntime session interface the detector
    uses. ``run`` is thread-safe (one lock: the compiled request is not re-entrant, and with
    ``threads`` = every core two concurrent calls would only fight for the same cores)."""

    def __init__(self, path: Path, threads: int = 0, *, dynamic: bool = False) -> None:
        if threads < 0:
            raise SessionError(f"threads must be >= 0 (0 = all cores), got {threads}")
        path = Path(path)
        if not path.is_file():
            raise SessionError(f"ONNX model not found: {path}")
        if not openvino_available():
            raise SessionError(
                "detector.backend 'openvino' needs the openvino package: pip install 'storelens[openvino]'"
            )
        self.path = path
        self.threads = threads or usable_cpus()
        with INIT_LOCK:
            import openvino as ov

            self._core = ov.Core()
            try:
                self._model = self._core.read_model(str(path))
            except Exception as exc:  # OpenVINO raises RuntimeError subclasses of its own
                raise SessionError(f"OpenVINO cannot read {path}: {exc}") from exc
            self._inputs = [_node(p, i) for i, p in enumerate(self._model.inputs)]
            self._outputs = [_node(p, i) for i, p in enumerate(self._model.outputs)]
            self._meta = ModelMeta(self._metadata())
        self._config = {
            "INFERENCE_NUM_THREADS": self.threads,
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32",
        }
        self.dynamic = dynamic
        self._compiled: OrderedDict[tuple[tuple[int, ...], ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def _metadata(self) -> dict[str, str]:
        """The ONNX file's metadata_props (Ultralytics stores the class names there), as strings."""
        info = self._model.get_rt_info()
        if "framework" not in info:
            return {}
        out: dict[str, str] = {}
        for key in info["framework"]:
            try:
                out[str(key)] = self._model.get_rt_info(["framework", str(key)]).astype(str)
            except Exception:  # a value OpenVINO cannot render as text is not one we read
                continue
        return out

    def get_inputs(self) -> list[NodeInfo]:
        return list(self._inputs)

    def get_outputs(self) -> list[NodeInfo]:
        return list(self._outputs)

    def get_modelmeta(self) -> ModelMeta:
        return self._meta

    def get_providers(self) -> list[str]:
        return [OPENVINO_PROVIDER]

    def _request(self, shapes: tuple[tuple[int, ...], ...]) -> tuple[Any, bool]:
        """The compiled request for ``shapes`` and whether it was compiled just now (its first
        inference then runs under :data:`INIT_LOCK` too)."""
        if self.dynamic:
            shapes = ()
        request = self._compiled.get(shapes)
        if request is not None:
            self._compiled.move_to_end(shapes)
            return request, False
        with INIT_LOCK:
            model = self._model.clone()
            if shapes:
                model.reshape({port: list(shape) for port, shape in zip(model.inputs, shapes, strict=True)})
            try:
                request = self._core.compile_model(model, "CPU", self._config).create_infer_request()
            except Exception as exc:
                raise SessionError(f"OpenVINO cannot compile {self.path.name} for input {shapes}: {exc}") from exc
        self._compiled[shapes] = request
        if len(self._compiled) > COMPILED_SHAPES:
            self._compiled.popitem(last=False)
        return request, True

    def run(
        self, output_names: Sequence[str] | None, feeds: Mapping[str, npt.NDArray[np.float32]]
    ) -> list[npt.NDArray[np.float32]]:
        """Outputs named in ``output_names`` (None = all), as onnxruntime's ``run`` returns them."""
        missing = [n.name for n in self._inputs if n.name not in feeds]
        if missing:
            raise SessionError(f"{self.path.name}: missing inputs {missing}")
        tensors = [np.ascontiguousarray(feeds[n.name], dtype=np.float32) for n in self._inputs]
        shapes = tuple(tuple(int(d) for d in t.shape) for t in tensors)
        wanted = [n.name for n in self._outputs] if output_names is None else list(output_names)
        index = {n.name: i for i, n in enumerate(self._outputs)}
        unknown = [n for n in wanted if n not in index]
        if unknown:
            raise SessionError(f"{self.path.name}: unknown outputs {unknown}")
        with self._lock:
            request, fresh = self._request(shapes)
            with INIT_LOCK if fresh else contextlib.nullcontext():
                request.infer(dict(enumerate(tensors)))
                # copies: the request's buffers are reused by the next call
                return [np.array(request.get_output_tensor(index[n]).data) for n in wanted]


__all__ = ["INIT_LOCK", "OPENVINO_PROVIDER", "OpenVinoSession", "openvino_available", "openvino_version"]
