"""ExpressionTracker: time-based smoothing, hysteresis, affect, confidence and unknowns."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from storelens.analytics.expressions import (
    AFFECTS,
    UNKNOWN,
    ExpressionTracker,
    affect_scores,
    summary_payload,
)
from storelens.vision.expressions import EXPRESSION_LABELS


def onehot(label: str, p: float = 1.0) -> np.ndarray:
    """A distribution with ``p`` on ``label`` and the rest spread evenly."""
    out = np.full(7, (1 - p) / 6)
    out[EXPRESSION_LABELS.index(label)] = p
    return out


def test_first_reading_sets_label_and_confidence() -> None:
    tr = ExpressionTracker(half_life_s=2.0)
    assert tr.current(1) is None
    tr.update(1, onehot("happy", 0.7), quality=1.0, ts=10.0)
    s = tr.current(1)
    assert s is not None and s.dist is not None
    assert s.label == "happy" and s.affect == "positive"
    np.testing.assert_allclose(s.dist, onehot("happy", 0.7))
    assert s.confidence == pytest.approx((1 - math.exp(-1.0)) * 0.7)
    assert s.n_readings == 1 and s.n_unknown == 0


def test_irregular_timestamps_weight_by_elapsed_time() -> None:
    a, b = onehot("sad"), onehot("surprise")
    tr = ExpressionTracker(half_life_s=2.0, hysteresis=0.0, min_hold_s=0.0)
    tr.update(1, a, 1.0, ts=0.0)
    tr.update(1, b, 1.0, ts=2.0)  # one half-life later: a weighs 0.5
    s = tr.current(1)
    assert s is not None and s.dist is not None
    np.testing.assert_allclose(s.dist, (0.5 * a + b) / 1.5)
    tr.update(1, a, 1.0, ts=2.0)  # same timestamp: no decay between the two
    s = tr.current(1)
    assert s is not None and s.dist is not None
    np.testing.assert_allclose(s.dist, (1.5 * a + b) / 2.5)
    tr.update(1, b, 0.5, ts=8.0)  # three half-lives later, half quality
    s = tr.current(1)
    assert s is not None and s.dist is not None
    np.testing.assert_allclose(s.dist, ((1.5 * a + b) / 8 + 0.5 * b) / (2.5 / 8 + 0.5))


def test_smoothing_depends_on_time_not_frame_count() -> None:
    """The same expression change seen at 10 fps and at 2 fps ends up close: a frame-count EMA
    would move 5x faster at 10 fps."""
    results = []
    for fps in (10.0, 2.0):
        tr = ExpressionTracker(half_life_s=2.0, hysteresis=0.0, min_hold_s=0.0)
        for k in range(int(10 * fps)):
            tr.update(1, onehot("neutral"), 1.0, k / fps)
        for k in range(int(10 * fps), int(11 * fps) + 1):
            tr.update(1, onehot("happy"), 1.0, k / fps)
        s = tr.current(1)
        assert s is not None and s.dist is not None
        results.append(s.dist[EXPRESSION_LABELS.index("happy")])
    # Continuous limit: 1 - 2**(-1/2) ~ 0.29 of the weight is on "happy" one second after the
    # switch; each rate overshoots it a little (a reading stands for the interval before it). A
    # per-frame EMA tuned to a 2 s half-life at 10 fps would give 0.32 at 10 fps but 0.10 at 2 fps.
    assert results[0] == pytest.approx(results[1], abs=0.1)
    assert all(0.25 < r < 0.45 for r in results)


def test_hysteresis_needs_margin_and_hold_time() -> None:
    tr = ExpressionTracker(half_life_s=0.5, hysteresis=0.2, min_hold_s=1.0)
    tr.update(1, onehot("neutral", 0.8), 1.0, 0.0)
    # a near tie: happy slightly ahead but by less than the margin -> label stays neutral
    close = np.zeros(7)
    close[EXPRESSION_LABELS.index("happy")] = 0.45
    close[EXPRESSION_LABELS.index("neutral")] = 0.40
    close[0] = 0.15
    for t in np.arange(0.1, 5.0, 0.1):
        tr.update(1, close, 1.0, float(t))
    s = tr.current(1)
    assert s is not None and s.label == "neutral"
    # a clear lead must last min_hold_s before the label switches
    labels = []
    for t in np.arange(5.0, 8.0, 0.1):
        tr.update(1, onehot("happy", 0.9), 1.0, float(t))
        cur = tr.current(1)
        assert cur is not None
        labels.append((round(float(t), 1), cur.label))
    first_happy = next(t for t, lab in labels if lab == "happy")
    assert 6.0 <= first_happy <= 6.6  # lead reached within a few readings, then held 1 s
    assert all(lab == "happy" for t, lab in labels if t >= first_happy)


def test_flicker_does_not_switch_label() -> None:
    tr = ExpressionTracker(half_life_s=2.0, hysteresis=0.15, min_hold_s=0.5)
    tr.update(1, onehot("neutral", 0.9), 1.0, 0.0)
    for k in range(1, 40):  # alternate a single surprised frame with neutral ones
        p = onehot("surprise", 0.9) if k % 3 == 0 else onehot("neutral", 0.9)
        tr.update(1, p, 1.0, k * 0.1)
        s = tr.current(1)
        assert s is not None and s.label == "neutral"


def test_unknown_only_and_low_quality_give_unknown() -> None:
    tr = ExpressionTracker(min_quality=0.3)
    tr.update(5, None, 0.0, 0.0)
    tr.update(5, onehot("happy"), 0.1, 0.5)  # below min_quality: not a reading
    s = tr.current(5)
    assert s is not None
    assert (s.label, s.affect, s.confidence, s.dist) == (UNKNOWN, UNKNOWN, 0.0, None)
    assert (s.n_readings, s.n_unknown) == (0, 2)
    assert summary_payload(s)["label"] == UNKNOWN


def test_confidence_fades_without_new_readings() -> None:
    tr = ExpressionTracker(half_life_s=1.0)
    for k in range(5):
        tr.update(1, onehot("angry", 0.9), 1.0, k * 0.1)
    s1 = tr.current(1)
    tr.update(1, None, 0.0, 5.0)  # the face turned away for 4.6 s
    s2 = tr.current(1)
    assert s1 is not None and s2 is not None
    assert s2.label == "angry" and s2.n_unknown == 1
    assert s2.confidence < 0.2 * s1.confidence
    np.testing.assert_allclose(s2.dist, s1.dist)  # the distribution itself is unchanged


@pytest.mark.parametrize(
    ("label", "affect"),
    [("happy", "positive"), ("neutral", "neutral"), ("angry", "negative"), ("disgust", "negative"),
     ("sad", "negative"), ("surprise", "surprised"), ("fear", "surprised")],
)  # fmt: skip
def test_affect_groups(label: str, affect: str) -> None:
    tr = ExpressionTracker()
    tr.update(1, onehot(label, 0.9), 1.0, 0.0)
    s = tr.current(1)
    assert s is not None and s.affect == affect
    assert sum(s.affect_scores.values()) == pytest.approx(1.0)


def test_affect_sums_its_classes() -> None:
    dist = np.array([0.2, 0.1, 0.05, 0.25, 0.15, 0.05, 0.2])
    sc = affect_scores(dist)
    assert sc == pytest.approx({"positive": 0.25, "neutral": 0.2, "negative": 0.45, "surprised": 0.1})
    assert sorted(lab for group in AFFECTS.values() for lab in group) == sorted(EXPRESSION_LABELS)


def test_affect_can_differ_from_label() -> None:
    """Happy is the single most likely class, but the negative classes together outweigh it."""
    dist = np.array([0.2, 0.15, 0.0, 0.35, 0.15, 0.0, 0.15])
    tr = ExpressionTracker()
    tr.update(1, dist, 1.0, 0.0)
    s = tr.current(1)
    assert s is not None and s.label == "happy" and s.affect == "negative"


@pytest.mark.parametrize(
    ("probs", "quality", "ts", "match"),
    [
        (np.ones(6) / 6, 1.0, 1.0, "7 values"),
        (np.full(7, np.nan), 1.0, 1.0, "finite"),
        (-np.ones(7), 1.0, 1.0, "non-negative"),
        (np.ones(7) / 7, 1.5, 1.0, "quality"),
        (np.ones(7) / 7, 1.0, math.inf, "finite"),
        (np.ones(7) / 7, 1.0, 0.5, "before"),
    ],
)
def test_bad_updates_raise_and_change_nothing(probs: np.ndarray, quality: float, ts: float, match: str) -> None:
    tr = ExpressionTracker()
    tr.update(1, onehot("sad"), 1.0, 1.0)
    before = tr.current(1)
    with pytest.raises(ValueError, match=match):
        tr.update(1, probs, quality, ts)
    after = tr.current(1)
    assert before is not None and after is not None and before.dist is not None and after.dist is not None
    np.testing.assert_array_equal(before.dist, after.dist)
    assert (before.n_readings, before.last_ts) == (after.n_readings, after.last_ts)


def test_unnormalised_probs_are_normalised() -> None:
    tr = ExpressionTracker()
    tr.update(1, 2 * onehot("fear"), 1.0, 0.0)
    s = tr.current(1)
    assert s is not None and s.dist is not None
    assert s.dist.sum() == pytest.approx(1.0)


def test_subjects_are_independent_and_forgotten() -> None:
    tr = ExpressionTracker()
    tr.update(1, onehot("happy"), 1.0, 0.0)
    tr.update(2, onehot("sad"), 1.0, 5.0)
    s1, s2 = tr.current(1), tr.current(2)
    assert s1 is not None and s2 is not None and (s1.label, s2.label) == ("happy", "sad")
    tr.forget(1)
    tr.forget(99)  # unknown subject: ignored
    assert tr.current(1) is None and tr.subjects() == [2]
    assert tr.prune(older_than_ts=6.0) == [2]
    assert len(tr) == 0


def test_summary_payload_is_json_ready() -> None:
    tr = ExpressionTracker()
    tr.update(3, onehot("surprise", 0.6), 0.8, 1.0)
    payload = summary_payload(tr.current(3))
    assert set(payload) == {
        "label", "affect", "affect_scores", "confidence", "label_confidence", "n_readings", "n_unknown"
    }  # fmt: skip
    assert payload["label"] == "surprise" and payload["affect"] == "surprised"
    state = tr.current(3)
    assert state is not None
    assert payload["confidence"] == round(state.affect_confidence, 3)
    assert payload["label_confidence"] == round(state.confidence, 3)
    assert json.loads(json.dumps(payload)) == payload
    assert summary_payload(None)["n_readings"] == 0


@pytest.mark.parametrize(
    "kwargs", [{"half_life_s": 0.0}, {"hysteresis": 1.5}, {"min_hold_s": -1.0}, {"min_quality": 2.0}]
)
def test_bad_parameters_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ExpressionTracker(**kwargs)
