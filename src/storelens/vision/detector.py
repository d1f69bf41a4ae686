"""YOLO person detector (with body keypoints when the model is a pose model) on onnxruntime or
OpenVINO (``detector.backend``, :mod:`storelens.vision.backends`: same file, same decode).

Works for the vendored ``yolo11n-pose`` / ``yolo11n-det`` and for any Ultralytics-format ONNX a
user points the config at: the output layout is recognised from one probe run at load time, the
class count comes from ``detector.classes`` or the model's own metadata, and a model with a static
input shape gets letterboxed to exactly that shape. Nothing model-specific is hard-coded here.
"""

from __future__ import annotations

import ast
import logging
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from storelens.config.detection import DetectorConfig
from storelens.core.types import Detections
from storelens.vision.backends import BackendChoice, ModelSession, open_session
from storelens.vision.letterbox import STRIDE, LetterboxInfo, check_image, letterbox_image, plan_letterbox, to_tensor
from storelens.vision.models import resolve_model
from storelens.vision.yolo import COCO_CLASSES, LayoutError, ModelKind, YoloLayout, decode, infer_layout

log = logging.getLogger(__name__)


def _static_dim(value: Any) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def _metadata_names(session: ModelSession) -> list[str] | None:
    """Class names an Ultralytics export stores in its metadata (``{0: 'person', ...}``), if any."""
    meta = session.get_modelmeta().custom_metadata_map
    raw = meta.get("names")
    if not raw:
        return None
    try:
        names = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return None
    if isinstance(names, dict) and all(isinstance(k, int) for k in names):
        return [str(names[k]) for k in sorted(names)]
    if isinstance(names, list):
        return [str(n) for n in names]
    return None


class YoloDetector:
    """Implements :class:`storelens.vision.base.Detector` for YOLO-format ONNX models.

    ``kind`` is "pose" (keypoints filled) or "det" (``keypoints`` None). ``keep_classes`` are the
    class indices reported (default: ``cfg.person_class`` only). ``input_shape=(h, w)`` forces a
    fixed letterbox size instead of the rectangular one (the benchmark's square baseline; models
    with a static input use their own shape automatically). After each call, ``last_preprocess_ms``,
    ``last_inference_ms`` and ``last_postprocess_ms`` hold that call's stage times (summed over
    size groups in a mixed-size batch) and ``last_batch_size`` the number of images. ``backend``
    says which runtime runs the model and why (``backend_cache`` overrides where the probe's answer
    is kept; a given ``session`` skips the choice).
    """

    def __init__(
        self,
        cfg: DetectorConfig,
        base_dir: Path | None = None,
        *,
        keep_classes: Collection[int] | None = None,
        input_shape: tuple[int, int] | None = None,
        session: ModelSession | None = None,
        backend_cache: Path | None = None,
    ) -> None:
        self.cfg = cfg
        self.model_path = resolve_model(cfg.model, base_dir)
        if session is not None:
            self.session: ModelSession = session
            self.backend = BackendChoice("given", {}, "caller")
        else:
            probe = plan_letterbox(1920, 1080, cfg.input_size, STRIDE, input_shape)  # a 16:9 camera
            self.session, self.backend = open_session(
                self.model_path,
                threads=cfg.threads,
                device=cfg.device,
                backend=cfg.backend,
                probe_hw=(probe.input_h, probe.input_w),
                cache_path=backend_cache,
            )
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            shapes = [(i.name, i.shape) for i in inputs]
            raise LayoutError(f"{self.model_path.name}: expected one NCHW image input, got {shapes}")
        self.input_name: str = inputs[0].name
        self.output_name: str = self.session.get_outputs()[0].name
        n, c, h, w = inputs[0].shape
        if _static_dim(c) not in (None, 3):
            raise LayoutError(f"{self.model_path.name}: input has {c} channels, expected 3 (RGB)")
        self.static_batch: int | None = _static_dim(n)
        model_hw = (_static_dim(h), _static_dim(w))
        if input_shape is not None:
            self.fixed_shape: tuple[int, int] | None = input_shape
        elif model_hw[0] is not None and model_hw[1] is not None:
            self.fixed_shape = (model_hw[0], model_hw[1])
            if max(self.fixed_shape) != cfg.input_size:
                log.info("%s has a static input %s; detector.input_size is not used", self.model_path.name, model_hw)
        else:
            self.fixed_shape = None

        names = list(cfg.classes) if cfg.classes is not None else _metadata_names(self.session)
        self.layout: YoloLayout = infer_layout(self._probe_channels(), None if names is None else len(names))
        if names is None:
            names = list(COCO_CLASSES) if self.layout.num_classes == len(COCO_CLASSES) else None
        self.class_names: tuple[str, ...] = (
            tuple(names) if names is not None else tuple(f"class{i}" for i in range(self.layout.num_classes))
        )
        self.keep_classes: tuple[int, ...] = tuple(keep_classes) if keep_classes is not None else (cfg.person_class,)
        bad = [c for c in self.keep_classes if not 0 <= c < self.layout.num_classes]
        if bad:
            raise LayoutError(
                f"class index {bad} out of range: {self.model_path.name} has {self.layout.num_classes} "
                f"classes ({', '.join(self.class_names[:5])}{'...' if self.layout.num_classes > 5 else ''})"
            )
        self.last_preprocess_ms = 0.0
        self.last_inference_ms = 0.0
        self.last_postprocess_ms = 0.0
        self.last_batch_size = 0

    @property
    def kind(self) -> ModelKind:
        return self.layout.kind

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    def _probe_channels(self) -> int:
        """Channels per anchor, from one run on a small grey input (the output's channel axis is
        symbolic in dynamic exports, so the graph itself cannot tell us)."""
        hw = self.fixed_shape or (2 * STRIDE, 2 * STRIDE)
        probe = np.full((self.static_batch or 1, 3, *hw), 114 / 255, dtype=np.float32)
        out = self.session.run([self.output_name], {self.input_name: probe})[0]
        if out.ndim != 3:
            raise LayoutError(
                f"{self.model_path.name}: output {self.output_name!r} has shape {out.shape}; expected "
                "(N, C, A) from a YOLO export without built-in NMS"
            )
        return int(out.shape[1])

    # Detector protocol ------------------------------------------------------------------------
    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        """Persons (or ``keep_classes``) in one BGR uint8 frame, in that frame's pixels."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[npt.NDArray[np.uint8]], input_size: int | None = None) -> list[Detections]:
        """Detect in several frames; frames of the same size share one batched model run (a model
        with a static batch size runs in chunks of that size). Results keep the input order.
        ``input_size`` overrides ``cfg.input_size`` for this call (a camera's own
        ``detector_input_size`` on a detector shared by cameras)."""
        size = self.cfg.input_size if input_size is None else input_size
        if not 64 <= size <= 2048 or size % STRIDE:
            raise ValueError(f"input_size must be a multiple of {STRIDE} in 64..2048, got {size}")
        self.last_preprocess_ms = self.last_inference_ms = self.last_postprocess_ms = 0.0
        self.last_batch_size = len(images)
        results: list[Detections | None] = [None] * len(images)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, img in enumerate(images):
            try:
                check_image(img)
            except ValueError as e:  # which frame of the batch: the caller has several
                raise ValueError(f"image {i}: {e}") from None
            groups.setdefault((img.shape[1], img.shape[0]), []).append(i)
        for (w, h), members in groups.items():
            info = plan_letterbox(w, h, size, STRIDE, self.fixed_shape)
            chunk = self.static_batch or len(members)
            for start in range(0, len(members), chunk):
                part = members[start : start + chunk]
                for i, det in zip(part, self._run([images[i] for i in part], info), strict=True):
                    results[i] = det
        return [r for r in results if r is not None]

    def _run(self, images: Sequence[npt.NDArray[np.uint8]], info: LetterboxInfo) -> list[Detections]:
        t0 = time.perf_counter()
        tensor = to_tensor([letterbox_image(img, info) for img in images])
        if self.static_batch is not None and tensor.shape[0] < self.static_batch:
            fill = np.full((self.static_batch - tensor.shape[0], *tensor.shape[1:]), 114 / 255, np.float32)
            tensor = np.concatenate([tensor, fill])
        t1 = time.perf_counter()
        out = self.session.run([self.output_name], {self.input_name: tensor})[0]
        t2 = time.perf_counter()
        if out.ndim != 3 or out.shape[1] != self.layout.channels:
            raise LayoutError(f"model output shape {out.shape} changed from the probed ({self.layout.channels}, A)")
        dets = [
            decode(
                out[k],
                self.layout,
                info,
                conf_threshold=self.cfg.confidence,
                iou_threshold=self.cfg.nms_iou,
                max_detections=self.cfg.max_detections,
                keep_classes=self.keep_classes,
            )
            for k in range(len(images))
        ]
        t3 = time.perf_counter()
        self.last_preprocess_ms += (t1 - t0) * 1000
        self.last_inference_ms += (t2 - t1) * 1000
        self.last_postprocess_ms += (t3 - t2) * 1000
        return dets


__all__ = ["YoloDetector"]
