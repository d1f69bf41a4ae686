"""Facial-expression classifier: mini-Xception (FER2013, 7 classes) on aligned greyscale crops.

One batched model run per frame for every face that passed the quality gate; the network has a
dynamic batch axis, and at 64x64x1 a batch of five costs about as much as two single runs.
Optional horizontal-flip averaging runs the mirrored crops in the same batch (test-time
augmentation; whether it pays is decided by subject-wise cross-validation in
``bench/expression_cv.py``, and the pipeline's default follows that). :func:`calibrate` applies a
softmax temperature so that the top probability can be used to abstain ("uncertain").
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from storelens.vision.face_align import EXPRESSION_INPUT, to_model_input
from storelens.vision.models import resolve_model
from storelens.vision.onnx_session import create_session

EXPRESSION_LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""Output order of the model (FER2013's class order)."""

NUM_EXPRESSIONS = len(EXPRESSION_LABELS)


UNCERTAIN = "uncertain"
"""The label of a reading whose calibrated confidence is below ``emotion.min_confidence``."""


def calibrate(probs: npt.ArrayLike, temperature: float) -> npt.NDArray[np.float64]:
    """Temperature-scaled probabilities: ``softmax(log(p) / T)`` row-wise.

    The network's softmax is over-confident on faces unlike FER2013 (its top probability is not
    its chance of being right), so a threshold on it would not mean what it says. ``T`` is fitted
    by negative log-likelihood on held-out subjects (``bench/expression_cv.py``); T = 1 changes
    nothing. The argmax never changes, only how sure the reading claims to be.
    """
    if not (temperature > 0 and np.isfinite(temperature)):
        raise ValueError(f"temperature must be a positive number, got {temperature}")
    p = np.asarray(probs, dtype=np.float64)
    z = np.log(np.maximum(p, 1e-12)) / temperature
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


class ExpressionClassifier:
    """Probabilities over :data:`EXPRESSION_LABELS` for (N, 64, 64) uint8 greyscale face crops."""

    def __init__(
        self,
        model: str = "emotion-minixception",
        flip_average: bool = False,
        threads: int = 0,
        device: str = "auto",
        flip_weight: float | None = None,
    ) -> None:
        """``flip_weight``: weight of the mirrored crop's probabilities (0.5 = plain averaging);
        given, it switches flip averaging on (when > 0) whatever ``flip_average`` says."""
        if flip_weight is None:
            flip_weight = 0.5 if flip_average else 0.0
        if not 0.0 <= flip_weight <= 1.0:
            raise ValueError(f"flip_weight must be in [0, 1], got {flip_weight}")
        self.flip_weight = float(flip_weight)
        self.flip_average = self.flip_weight > 0
        self._session = create_session(resolve_model(model), threads=threads, device=device)
        inp = self._session.get_inputs()[0]
        shape = inp.shape
        if len(shape) != 4 or shape[1:] != [EXPRESSION_INPUT, EXPRESSION_INPUT, 1]:
            raise ValueError(f"{model}: expected an (N, 64, 64, 1) input, got {shape}")
        out = self._session.get_outputs()[0]
        if out.shape[-1] != NUM_EXPRESSIONS:
            raise ValueError(f"{model}: expected {NUM_EXPRESSIONS} outputs, got {out.shape}")
        self._input = inp.name
        self._output = out.name

    def predict(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """(N, 7) probabilities (rows sum to 1) for N crops; N may be 0."""
        c = np.asarray(crops)
        if c.ndim != 3 or c.shape[1:] != (EXPRESSION_INPUT, EXPRESSION_INPUT) or c.dtype != np.uint8:
            raise ValueError(f"expected (N, 64, 64) uint8 crops, got shape={c.shape} dtype={c.dtype}")
        n = len(c)
        if n == 0:
            return np.zeros((0, NUM_EXPRESSIONS), np.float32)
        batch = np.concatenate([c, c[:, :, ::-1]]) if self.flip_average else c
        probs = self._session.run([self._output], {self._input: to_model_input(np.ascontiguousarray(batch))})[0]
        probs = np.asarray(probs, np.float32)
        if self.flip_average:
            probs = (1.0 - self.flip_weight) * probs[:n] + self.flip_weight * probs[n:]
        # the softmax output sums to 1 up to float error; renormalise so downstream sums are exact
        probs = probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)
        return np.asarray(probs, np.float32)
