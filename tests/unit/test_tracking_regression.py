"""Regression: the default tracker's HOTA/IDF1 on TUD-Campus and TUD-Stadtmitte must not drop below
the recorded baseline (tests/data/tracking_baseline.json), and the evaluator must reproduce
TrackEval / py-motmetrics on a reference result."""

from __future__ import annotations

import json

import numpy as np
import pytest

from storelens.core.types import Detections
from storelens.tracking import VisitStitcher, make_tracker
from storelens.tracking.evaluation import evaluate
from storelens.tracking.mot import detections_by_frame, read_gt, read_mot, timed_frames, track_frames, tracks_to_rows
from testdata import TEST_DATA, shared_data_path, skip_unless_shared

DATA = shared_data_path("mot")
BASELINE = json.loads((TEST_DATA / "tracking_baseline.json").read_text())
SEQUENCES = sorted(BASELINE["sequences"])

needs_data = skip_unless_shared("mot")


@needs_data
@pytest.mark.parametrize("seq", SEQUENCES)
def test_default_tracker_holds_its_recorded_scores(seq: str) -> None:
    base = DATA / seq
    det = read_mot(base / "det" / "det.txt")
    gt = read_gt(base / "gt" / "gt.txt")
    n = int(max(det[:, 0].max(), gt[:, 0].max()))
    result = track_frames(make_tracker(), detections_by_frame(det), timed_frames(n, BASELINE["fps"]))
    scores = evaluate(gt, result)
    want = BASELINE["sequences"][seq]
    tol = BASELINE["tolerance"]
    assert scores.hota >= want["hota"] - tol, f"{seq}: HOTA {scores.hota:.4f} < baseline {want['hota']}"
    assert scores.idf1 >= want["idf1"] - tol, f"{seq}: IDF1 {scores.idf1:.4f} < baseline {want['idf1']}"


@needs_data
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("seq", SEQUENCES)
def test_visit_stitching_never_costs_identity(seq: str, stride: int) -> None:
    """Stitched visit ids score at least the raw track ids' IDF1 on every MOT sequence, at the
    native rate and at store-camera rates (every 2nd / 3rd frame). Motion only: no frames here."""
    base = DATA / seq
    det = read_mot(base / "det" / "det.txt")
    gt = read_gt(base / "gt" / "gt.txt")
    n = int(max(det[:, 0].max(), gt[:, 0].max()))
    numbers = list(range(1, n + 1, stride))
    gt = gt[np.isin(gt[:, 0], numbers)]
    by_frame = detections_by_frame(det)
    tracker, stitcher = make_tracker(), VisitStitcher(frame_size=(640, 480))
    raw, stitched = [], []
    for f in numbers:
        tracks = tracker.update(by_frame.get(f, Detections.empty()), (f - 1) / BASELINE["fps"])
        out = stitcher.update(tracks, (f - 1) / BASELINE["fps"])
        if len(tracks):
            raw.append(tracks_to_rows(f, tracks))
        if len(out):
            stitched.append(tracks_to_rows(f, out, ids=out.visit_id))
    idf1_raw = evaluate(gt, np.concatenate(raw)).idf1
    idf1_visits = evaluate(gt, np.concatenate(stitched)).idf1
    assert idf1_visits >= idf1_raw - 1e-9, (
        f"{seq} every {stride}: visits IDF1 {idf1_visits:.4f} < tracks {idf1_raw:.4f}"
    )


@needs_data
@pytest.mark.parametrize(
    ("seq", "hota", "mota", "idsw", "idf1"),
    [
        # TrackEval 1.3.0 (HOTA, CLEAR, Identity) and py-motmetrics 1.4.0 on the same files.
        ("TUD-Campus", 0.391397, 0.526462, 7, 0.557659),
        ("TUD-Stadtmitte", 0.397849, 0.564014, 7, 0.644619),
    ],
)
def test_evaluator_matches_trackeval_on_reference_results(
    seq: str, hota: float, mota: float, idsw: int, idf1: float
) -> None:
    base = DATA / seq
    s = evaluate(read_gt(base / "gt" / "gt.txt"), read_mot(base / "tracker_result_motmetrics" / "test.txt"))
    assert s.hota == pytest.approx(hota, abs=1e-6)
    assert s.mota == pytest.approx(mota, abs=1e-6)
    assert s.idf1 == pytest.approx(idf1, abs=1e-6)
    assert s.id_switches == idsw


def _rows(frames: int, ids: list[int], shift: float = 0.0) -> np.ndarray:
    out = []
    for f in range(1, frames + 1):
        for k, i in enumerate(ids):
            out.append([f, i, 10 + 100 * k + shift, 20, 40, 100, 1])
    return np.array(out, dtype=np.float64)


def test_evaluator_perfect_and_swapped_ids() -> None:
    gt = _rows(10, [1, 2])
    perfect = evaluate(gt, _rows(10, [5, 9]))
    assert perfect.hota == pytest.approx(1.0) and perfect.mota == 1.0 and perfect.idf1 == 1.0
    swapped = np.concatenate([_rows(5, [5, 9]), _rows(10, [9, 5])[10:]])  # ids swap at frame 6
    s = evaluate(gt, swapped)
    assert s.id_switches == 2 and s.idf1 == pytest.approx(0.5) and s.mota == pytest.approx(0.9)
    assert s.deta == pytest.approx(1.0) and s.hota < 0.8
    empty = evaluate(gt, np.zeros((0, 7)))
    assert empty.hota == 0.0 and empty.fn == 20
