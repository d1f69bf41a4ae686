"""Facial expression over time, per shopper visit: smoothed distribution, stable label, affect.

One frame's expression reading is noisy (a blink, a word being spoken, motion blur), so nothing
downstream sees single readings. Per subject (visit id) this keeps an exponentially weighted
average of the 7-class distribution with a half-life in *seconds* (frames are dropped and
sampled unevenly, so a frame count would make the smoothing depend on the camera's fps), each
reading weighted by its quality (face size x frontality, from the emotion stage). The weighted
form ``dist = sum(w_i * decay_i * p_i) / sum(w_i * decay_i)`` handles irregular gaps, several
readings at one timestamp and the very first reading alike.

On top of the distribution:

- a **stable label** with hysteresis: a new label replaces the current one only when its
  probability leads by ``hysteresis`` and has led for ``min_hold_s`` (no flicker between two
  near-equal classes);
- a **retail affect** with the same hysteresis, from summed class probabilities:
  ``positive`` = happy; ``neutral`` = neutral; ``negative`` (frustrated) = angry + disgust + sad;
  ``surprised`` (confused) = surprise + fear;
- a **confidence** for both: the evidence ``1 - exp(-W)``, where W is the decayed sum of
  reading weights (one full-quality reading gives 0.63, three recent ones 0.95, and it fades as
  readings age), times the probability of the reported label or affect.

Subjects with no usable reading yet report ``"unknown"`` with confidence 0, never a guess.
Only numbers are kept here: no image, no face, no embedding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from storelens.vision.expressions import EXPRESSION_LABELS

UNKNOWN = "unknown"

AFFECTS: dict[str, tuple[str, ...]] = {
    "positive": ("happy",),
    "neutral": ("neutral",),
    "negative": ("angry", "disgust", "sad"),
    "surprised": ("surprise", "fear"),
}
"""Retail affect groups: negative reads as frustration, surprised as confusion (docs/EMOTION.md)."""

_AFFECT_NAMES = tuple(AFFECTS)
_AFFECT_MATRIX = np.array(
    [[1.0 if lab in AFFECTS[a] else 0.0 for lab in EXPRESSION_LABELS] for a in _AFFECT_NAMES]
)  # (4, 7): affect scores = M @ dist


def affect_scores(dist: npt.ArrayLike) -> dict[str, float]:
    """Affect group probabilities of a 7-class distribution (they sum to the distribution's sum)."""
    d = np.asarray(dist, dtype=np.float64).reshape(len(EXPRESSION_LABELS))
    return {a: float(v) for a, v in zip(_AFFECT_NAMES, _AFFECT_MATRIX @ d, strict=True)}


@dataclass(frozen=True, slots=True)
class ExpressionState:
    """The current expression of one subject.

    ``dist`` is the smoothed 7-class distribution (None before the first usable reading);
    ``label`` / ``affect`` the stable (hysteresis) values or "unknown"; ``confidence`` /
    ``affect_confidence`` in [0, 1]; ``n_readings`` usable readings so far, ``n_unknown`` the
    sightings that gave none (no face, too small, turned away); ``last_ts`` the latest update.
    """

    dist: npt.NDArray[np.float64] | None
    label: str
    affect: str
    affect_scores: dict[str, float]
    confidence: float
    affect_confidence: float
    n_readings: int
    n_unknown: int
    last_ts: float


@dataclass(slots=True)
class _Hysteresis:
    """A label that changes only when a challenger leads by ``margin`` for ``hold_s`` seconds."""

    label: str | None = None
    challenger: str | None = None
    since: float = 0.0

    def update(
        self, names: tuple[str, ...], probs: npt.NDArray[np.float64], ts: float, margin: float, hold_s: float
    ) -> str:
        best = names[int(np.argmax(probs))]
        if self.label is None:
            self.label = best
            self.challenger = None
            return best
        if best == self.label:
            self.challenger = None
            return self.label
        lead = float(probs[names.index(best)] - probs[names.index(self.label)])
        if lead < margin:
            self.challenger = None
            return self.label
        if self.challenger != best:
            self.challenger, self.since = best, ts
        if ts - self.since >= hold_s:
            self.label, self.challenger = best, None
        return self.label


@dataclass(slots=True)
class _Subject:
    weighted_sum: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(len(EXPRESSION_LABELS)))
    weight: float = 0.0
    last_ts: float = -math.inf
    n_readings: int = 0
    n_unknown: int = 0
    label: _Hysteresis = field(default_factory=_Hysteresis)
    affect: _Hysteresis = field(default_factory=_Hysteresis)


class ExpressionTracker:
    """Per-subject smoothed expression. Call :meth:`update` for every sighting of a subject
    (``probs=None`` when no expression could be read), :meth:`current` whenever a value is needed
    (zone exit, intent features), :meth:`forget` when the visit ends."""

    def __init__(
        self,
        half_life_s: float = 2.0,
        hysteresis: float = 0.15,
        min_hold_s: float = 1.0,
        min_quality: float = 0.0,
    ) -> None:
        if not (half_life_s > 0 and math.isfinite(half_life_s)):
            raise ValueError(f"half_life_s must be a positive number, got {half_life_s}")
        if not 0.0 <= hysteresis <= 1.0:
            raise ValueError(f"hysteresis must be in [0, 1], got {hysteresis}")
        if not min_hold_s >= 0.0:
            raise ValueError(f"min_hold_s must be >= 0, got {min_hold_s}")
        if not 0.0 <= min_quality <= 1.0:
            raise ValueError(f"min_quality must be in [0, 1], got {min_quality}")
        self.half_life_s = float(half_life_s)
        self.hysteresis = float(hysteresis)
        self.min_hold_s = float(min_hold_s)
        self.min_quality = float(min_quality)
        self._subjects: dict[int, _Subject] = {}

    def __len__(self) -> int:
        return len(self._subjects)

    def subjects(self) -> list[int]:
        return list(self._subjects)

    def update(self, subject: int, probs: npt.ArrayLike | None, quality: float, ts: float) -> None:
        """Add one sighting of ``subject`` at time ``ts`` (seconds, monotonic per subject).

        ``probs``: the 7-class reading, or None when the face could not be read (it counts as an
        unknown sighting and lets older evidence fade). ``quality`` in [0, 1] weights the reading;
        readings below ``min_quality`` count as unknown. Raises ValueError on a time going
        backwards, a non-finite value or a malformed distribution; the state is then unchanged.
        """
        if not math.isfinite(ts):
            raise ValueError(f"timestamp must be finite, got {ts}")
        if not (math.isfinite(quality) and 0.0 <= quality <= 1.0):
            raise ValueError(f"quality must be in [0, 1], got {quality}")
        p: npt.NDArray[np.float64] | None = None
        if probs is not None:
            p = np.asarray(probs, dtype=np.float64).reshape(-1)
            if p.shape != (len(EXPRESSION_LABELS),):
                raise ValueError(f"probs must have {len(EXPRESSION_LABELS)} values, got shape {p.shape}")
            if not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
                raise ValueError("probs must be finite, non-negative and not all zero")
            p = p / p.sum()
        s = self._subjects.get(subject)
        if s is not None and ts < s.last_ts:
            raise ValueError(f"subject {subject}: timestamp {ts} is before the previous one {s.last_ts}")
        if s is None:
            s = self._subjects[subject] = _Subject()
        if s.weight > 0 and math.isfinite(s.last_ts):
            decay = 0.5 ** ((ts - s.last_ts) / self.half_life_s)
            s.weighted_sum *= decay
            s.weight *= decay
        s.last_ts = ts
        if p is None or quality <= 0.0 or quality < self.min_quality:
            s.n_unknown += 1
            return
        s.weighted_sum += quality * p
        s.weight += quality
        s.n_readings += 1
        dist = s.weighted_sum / s.weight
        s.label.update(EXPRESSION_LABELS, dist, ts, self.hysteresis, self.min_hold_s)
        s.affect.update(_AFFECT_NAMES, _AFFECT_MATRIX @ dist, ts, self.hysteresis, self.min_hold_s)

    def current(self, subject: int) -> ExpressionState | None:
        """The subject's state as of its last update; None for a subject never updated (or
        forgotten)."""
        s = self._subjects.get(subject)
        if s is None:
            return None
        if s.n_readings == 0 or s.weight <= 0 or s.label.label is None or s.affect.label is None:
            return ExpressionState(None, UNKNOWN, UNKNOWN, {}, 0.0, 0.0, 0, s.n_unknown, s.last_ts)
        dist = s.weighted_sum / s.weight
        scores = affect_scores(dist)
        evidence = 1.0 - math.exp(-s.weight)
        label = s.label.label
        affect = s.affect.label
        return ExpressionState(
            dist=dist,
            label=label,
            affect=affect,
            affect_scores=scores,
            confidence=float(evidence * dist[EXPRESSION_LABELS.index(label)]),
            affect_confidence=float(evidence * scores[affect]),
            n_readings=s.n_readings,
            n_unknown=s.n_unknown,
            last_ts=s.last_ts,
        )

    def forget(self, subject: int) -> None:
        """Drop a subject (visit ended); unknown subjects are ignored."""
        self._subjects.pop(subject, None)

    def prune(self, older_than_ts: float) -> list[int]:
        """Forget subjects not updated since ``older_than_ts``; returns their ids. Keeps memory
        bounded when the caller misses a visit end."""
        old = [k for k, s in self._subjects.items() if s.last_ts < older_than_ts]
        for k in old:
            del self._subjects[k]
        return old


def summary_payload(state: ExpressionState | None) -> dict[str, Any]:
    """The ``expression.summary`` event payload, JSON-ready (plain floats, 3 digits).

    ``affect`` and ``confidence`` are the retail reading (what the intent engine consumes:
    ``confidence`` is the *affect* confidence); ``label`` with ``label_confidence`` is the 7-class
    expression behind it; ``affect_scores`` the smoothed group probabilities; ``n_readings`` /
    ``n_unknown`` how many sightings gave a reading or none.
    """
    if state is None:
        return {
            "label": UNKNOWN,
            "affect": UNKNOWN,
            "affect_scores": {},
            "confidence": 0.0,
            "label_confidence": 0.0,
            "n_readings": 0,
            "n_unknown": 0,
        }
    return {
        "label": state.label,
        "affect": state.affect,
        "affect_scores": {k: round(float(v), 3) for k, v in state.affect_scores.items()},
        "confidence": round(float(state.affect_confidence), 3),
        "label_confidence": round(float(state.confidence), 3),
        "n_readings": int(state.n_readings),
        "n_unknown": int(state.n_unknown),
    }
