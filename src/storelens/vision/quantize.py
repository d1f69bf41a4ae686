"""INT8 static quantisation of the YOLO detector, and the check that decides whether it may ship.

A small store server has 2-4 cores and no accelerator; INT8 (QDQ, per-channel weights, uint8
activations) runs the same graph about 1.5x faster on onnxruntime's AVX2 kernels. Quantisation
changes what the detector sees, so the INT8 file is only worth shipping if it finds the same
people: :func:`agreement` compares its detections with the FP32 model's on frames that were
*not* used for calibration (calibrating and checking on the same frames would hide overfitted
activation ranges). The decode tail of the graph (box distribution, keypoint scaling, the final
concatenations under ``/model.23/``) stays in float: those few ops are cheap and quantising
coordinates in input pixels would cost whole pixels of box and keypoint error.

``onnx`` (the quantiser's own dependency) is needed only to make the file, never to run it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from storelens.core.types import Detections
from storelens.vision.letterbox import STRIDE, letterbox_image, plan_letterbox, to_tensor
from storelens.vision.yolo import box_iou

RECALL_MIN = 0.97
PRECISION_MIN = 0.97
"""Both must hold on held-out frames at IoU 0.5 against the FP32 detector (issue 16)."""


@dataclass(frozen=True, slots=True)
class Agreement:
    """How well a candidate detector reproduces a reference detector's persons.

    ``recall``: reference persons the candidate also found (IoU >= the threshold, one-to-one);
    ``precision``: candidate persons the reference also has. ``keypoint_error`` is the median
    distance between matched keypoints visible in both, as a fraction of the reference box height
    (so it reads the same for near and far people); None without keypoints or matches."""

    frames: int
    reference: int
    candidate: int
    matched: int
    recall: float
    precision: float
    keypoint_error: float | None

    @property
    def passes(self) -> bool:
        return self.recall >= RECALL_MIN and self.precision >= PRECISION_MIN

    def describe(self) -> str:
        kp = "n/a" if self.keypoint_error is None else f"{self.keypoint_error:.4f} of box height"
        return (
            f"{self.frames} held-out frames: {self.reference} reference persons, {self.candidate} candidate, "
            f"{self.matched} matched at IoU 0.5 -> recall {self.recall:.4f}, precision {self.precision:.4f}, "
            f"median keypoint error {kp} ({'PASS' if self.passes else 'FAIL'}: both >= {RECALL_MIN})"
        )


def _greedy_match(iou: npt.NDArray[np.float32], threshold: float) -> list[tuple[int, int]]:
    """One-to-one pairs (reference row, candidate column), best IoU first, each >= ``threshold``."""
    pairs: list[tuple[int, int]] = []
    if iou.size == 0:
        return pairs
    order = np.dstack(np.unravel_index(np.argsort(-iou, axis=None), iou.shape))[0]
    used_r: set[int] = set()
    used_c: set[int] = set()
    for r, c in order.tolist():
        if iou[r, c] < threshold:
            break
        if r in used_r or c in used_c:
            continue
        used_r.add(r)
        used_c.add(c)
        pairs.append((r, c))
    return pairs


def agreement(
    reference: Sequence[Detections],
    candidate: Sequence[Detections],
    iou_threshold: float = 0.5,
    keypoint_visibility: float = 0.5,
) -> Agreement:
    """Compare two detectors' outputs frame by frame (same frames, same order).

    An empty reference and an empty candidate agree perfectly (recall and precision 1.0): a
    model that finds nobody where the reference finds nobody is right."""
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference frames but {len(candidate)} candidate frames")
    n_ref = n_cand = n_match = 0
    kp_err: list[float] = []
    for ref, cand in zip(reference, candidate, strict=True):
        n_ref += len(ref)
        n_cand += len(cand)
        if not len(ref) or not len(cand):
            continue
        pairs = _greedy_match(box_iou(ref.xyxy, cand.xyxy), iou_threshold)
        n_match += len(pairs)
        if ref.keypoints is None or cand.keypoints is None:
            continue
        for r, c in pairs:
            height = float(ref.xyxy[r, 3] - ref.xyxy[r, 1])
            kr, kc = ref.keypoints[r], cand.keypoints[c]
            both = (kr[:, 2] >= keypoint_visibility) & (kc[:, 2] >= keypoint_visibility)
            if height > 0 and both.any():
                d = np.linalg.norm(kr[both, :2] - kc[both, :2], axis=1) / height
                kp_err.extend(d.tolist())
    return Agreement(
        frames=len(reference),
        reference=n_ref,
        candidate=n_cand,
        matched=n_match,
        recall=n_match / n_ref if n_ref else 1.0,
        precision=n_match / n_cand if n_cand else 1.0,
        keypoint_error=float(np.median(kp_err)) if kp_err else None,
    )


def read_frames(path: Path, every: int = 1, start: int = 0, stop: int | None = None) -> list[npt.NDArray[np.uint8]]:
    """BGR frames ``start, start+every, ...`` (< ``stop``) of a clip (mp4 or GIF, via PyAV)."""
    import av

    out: list[npt.NDArray[np.uint8]] = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if stop is not None and i >= stop:
                break
            if i >= start and (i - start) % every == 0:
                out.append(np.ascontiguousarray(frame.to_ndarray(format="bgr24")))
    return out


class _FrameReader:
    """onnxruntime's CalibrationDataReader protocol over letterboxed frames (one tensor at a time,
    at the input size the detector will run at, so the activation ranges are those it will see)."""

    def __init__(self, input_name: str, frames: Sequence[npt.NDArray[np.uint8]], input_size: int) -> None:
        self._name = input_name
        self._frames = frames
        self._size = input_size
        self._it: Iterator[npt.NDArray[np.uint8]] = iter(frames)

    def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
        img = next(self._it, None)
        if img is None:
            return None
        info = plan_letterbox(img.shape[1], img.shape[0], self._size, STRIDE)
        return {self._name: to_tensor([letterbox_image(img, info)])}

    def rewind(self) -> None:
        self._it = iter(self._frames)


def decode_tail_nodes(model_path: Path) -> list[str]:
    """Nodes of the YOLO head's decode tail (``/model.23/`` minus its convolutions), kept float."""
    import onnx

    model = onnx.load(str(model_path))
    return [
        n.name
        for n in model.graph.node
        if n.name.startswith("/model.23/") and (n.op_type != "Conv" or "/dfl/" in n.name)
    ]


def quantize_detector(
    fp32_path: Path, out_path: Path, frames: Sequence[npt.NDArray[np.uint8]], input_size: int = 640
) -> Path:
    """Write a static INT8 (QDQ, per-channel int8 weights, uint8 activations) copy of ``fp32_path``
    calibrated on ``frames``; the decode tail stays float (:func:`decode_tail_nodes`)."""
    import tempfile

    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not frames:
        raise ValueError("quantisation needs calibration frames")
    input_name = ort.InferenceSession(str(fp32_path), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    with tempfile.TemporaryDirectory() as tmp:
        prepped = Path(tmp) / "prepped.onnx"
        quant_pre_process(str(fp32_path), str(prepped), skip_symbolic_shape=True)
        quantize_static(
            str(prepped),
            str(out_path),
            _FrameReader(input_name, frames, input_size),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=decode_tail_nodes(prepped),
            calibrate_method=CalibrationMethod.MinMax,
        )
    return out_path


__all__ = [
    "PRECISION_MIN",
    "RECALL_MIN",
    "Agreement",
    "agreement",
    "decode_tail_nodes",
    "quantize_detector",
    "read_frames",
]
