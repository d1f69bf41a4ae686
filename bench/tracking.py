"""Tracker benchmark: our trackers against SORT, ByteTrack and OC-SORT of Roboflow's ``trackers``
package, in one run, on the same MOTChallenge public detections (TUD-Campus, TUD-Stadtmitte),
plus the tracker's own cost on synthetic crowds.

    .venv/bin/pip install --no-deps -r bench/requirements-baselines.txt
    .venv/bin/python bench/tracking.py [--data ../shared/data/mot] [--strides 1,2,3]

Metrics: HOTA from TrackEval when installed (else ``storelens.tracking.evaluation``, which the
run cross-checks against it), MOTA / IDF1 / ID switches from py-motmetrics (else ours). Every
tracker runs with its defaults at the sequence frame rate; ``--strides 2,3`` also scores every
2nd / 3rd frame (12.5 / 8.3 fps, the range store cameras are analysed at). frames/s is tracker
CPU time of the update calls only (detections are converted beforehand; CPU time, not wall time,
so other processes on a shared machine do not skew the comparison), single-threaded BLAS, pinned
to one core.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import contextlib
import io
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from storelens.config.detection import TrackerConfig
from storelens.core.types import Detections
from storelens.tracking import VisitStitcher, make_tracker
from storelens.tracking.evaluation import _iou_xywh, _steps, evaluate
from storelens.tracking.mot import detections_by_frame, read_gt, read_mot, tracks_to_rows

REPO = Path(__file__).resolve().parents[1]
SEQUENCES = ("TUD-Campus", "TUD-Stadtmitte")
SEQ_FPS = 25.0  # both TUD sequences (MOT15 seqinfo)
SEQ_SIZE = (640, 480)  # both TUD sequences (width, height): where the image edges are
OURS = ("storelens", "storelens+visits", "bytetrack")
BASELINES = ("SORT (trackers)", "ByteTrack (trackers)", "OC-SORT (trackers)")

# A runner takes per-frame detections and timestamps, returns (MOT rows, seconds spent tracking).
Runner = Callable[[list[Detections], list[float], list[int]], tuple[np.ndarray, float]]


@dataclass
class Row:
    name: str
    seq: str
    stride: int
    hota: float
    mota: float
    idf1: float
    idsw: int
    fps: float
    hota_check: float  # storelens.tracking.evaluation's HOTA, for the cross-check


def _ours(name: str, stitch: bool = False, params: dict[str, object] | None = None) -> Runner:
    def run(dets: list[Detections], ts: list[float], numbers: list[int]) -> tuple[np.ndarray, float]:
        trk = make_tracker(TrackerConfig(type=name, params=params or {}))
        if hasattr(trk, "set_frame_size"):  # no frames here: the size-aware birth needs the size
            trk.set_frame_size(*SEQ_SIZE)
        st = VisitStitcher(frame_size=SEQ_SIZE) if stitch else None
        rows = []
        spent = 0.0
        for d, t, f in zip(dets, ts, numbers, strict=True):
            t0 = time.process_time()
            out = trk.update(d, t)
            if st is not None:
                out = st.update(out, t)
            spent += time.process_time() - t0
            if len(out):
                ids = None if out.visit_id is None else out.visit_id
                rows.append(tracks_to_rows(f, out, ids=ids))
        return (np.concatenate(rows) if rows else np.zeros((0, 10))), spent

    return run


def _baseline(cls_name: str) -> Runner:
    def run(dets: list[Detections], ts: list[float], numbers: list[int]) -> tuple[np.ndarray, float]:
        import supervision as sv
        import trackers

        fps = 1.0 / float(np.median(np.diff(ts))) if len(ts) > 1 else SEQ_FPS
        trk = getattr(trackers, cls_name)(frame_rate=fps)
        svd = [
            sv.Detections(xyxy=d.xyxy.astype(np.float32), confidence=d.score, class_id=d.class_id)
            if len(d)
            else sv.Detections.empty()
            for d in dets
        ]
        rows = []
        spent = 0.0
        for d, f in zip(svd, numbers, strict=True):
            t0 = time.process_time()
            out = trk.update(d)
            spent += time.process_time() - t0
            keep = out.tracker_id >= 0
            for b, i in zip(out.xyxy[keep], out.tracker_id[keep], strict=True):
                rows.append([f, i, b[0], b[1], b[2] - b[0], b[3] - b[1], 1, -1, -1, -1])
        return np.array(rows, dtype=np.float64).reshape(-1, 10), spent

    return run


def _trackeval_hota(gt: np.ndarray, pred: np.ndarray) -> float | None:
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import trackeval
    except ImportError:
        return None
    steps, n_gt, n_pr = _steps(gt, pred)
    data = {
        "num_timesteps": len(steps),
        "num_gt_ids": n_gt,
        "num_tracker_ids": n_pr,
        "gt_ids": [s.gt_ids for s in steps],
        "tracker_ids": [s.pr_ids for s in steps],
        "similarity_scores": [s.sim for s in steps],
        "num_gt_dets": len(gt),
        "num_tracker_dets": len(pred),
    }
    with contextlib.redirect_stdout(io.StringIO()):
        res = trackeval.metrics.HOTA().eval_sequence(data)
    return float(np.mean(res["HOTA"]))


def _motmetrics(gt: np.ndarray, pred: np.ndarray) -> tuple[float, float, int] | None:
    try:
        import motmetrics as mm
    except ImportError:
        return None
    acc = mm.MOTAccumulator(auto_id=True)
    for f in np.union1d(gt[:, 0], pred[:, 0]):
        g = gt[gt[:, 0] == f]
        p = pred[pred[:, 0] == f]
        # motmetrics 1.4's own iou_matrix uses np.asfarray (gone in numpy 2): same distance here.
        d = 1.0 - _iou_xywh(g[:, 2:6], p[:, 2:6])
        d[d > 0.5] = np.nan
        acc.update(g[:, 1].astype(int), p[:, 1].astype(int), d)
    summary = mm.metrics.create().compute(acc, metrics=["mota", "idf1", "num_switches"], name="s")
    return float(summary["mota"].iloc[0]), float(summary["idf1"].iloc[0]), int(summary["num_switches"].iloc[0])


def score(name: str, runner: Runner, seq: str, data_dir: Path, stride: int) -> Row:
    base = data_dir / seq
    det = read_mot(base / "det" / "det.txt")
    gt = read_gt(base / "gt" / "gt.txt")
    n = int(max(det[:, 0].max(), gt[:, 0].max()))
    by_frame = detections_by_frame(det)
    numbers = list(range(1, n + 1, stride))
    dets = [by_frame.get(f, Detections.empty()) for f in numbers]
    ts = [(f - 1) / SEQ_FPS for f in numbers]
    gt = gt[np.isin(gt[:, 0], numbers)]
    pred, spent = runner(dets, ts, numbers)
    ours = evaluate(gt, pred)
    te = _trackeval_hota(gt, pred)
    mm_scores = _motmetrics(gt, pred)
    mota, idf1, idsw = mm_scores if mm_scores else (ours.mota, ours.idf1, ours.id_switches)
    hota = te if te is not None else ours.hota
    return Row(name, seq, stride, hota, mota, idf1, idsw, len(numbers) / max(spent, 1e-9), ours.hota)


def _synthetic(n_frames: int = 600, n_people: int = 20, seed: int = 0) -> tuple[list[Detections], np.ndarray]:
    """20 people walking and bouncing off the edges of a 768x432 frame, noisy boxes, mixed scores."""
    rng = np.random.default_rng(seed)
    w, h = 768, 432
    pos = rng.uniform([20, 100], [w - 20, h - 20], (n_people, 2))
    vel = rng.uniform(-60, 60, (n_people, 2))
    hh = rng.uniform(80, 160, n_people)
    frames = []
    for f in range(n_frames):
        p = pos + vel * f / 10.0
        p = np.abs(np.mod(p, 2 * np.array([w, h])))
        p = np.where(p > [w, h], 2 * np.array([w, h]) - p, p)
        xyxy = np.stack([p[:, 0] - 0.2 * hh, p[:, 1] - hh, p[:, 0] + 0.2 * hh, p[:, 1]], 1)
        xyxy += rng.normal(0, 1.5, xyxy.shape)
        frames.append(
            Detections(
                xyxy=xyxy.astype(np.float32),
                score=rng.uniform(0.3, 0.95, n_people).astype(np.float32),
                class_id=np.zeros(n_people, np.int32),
            )
        )
    image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    return frames, image


def cost(repeats: int = 3) -> list[tuple[str, float, float]]:
    """frames/s of the default tracker at 20 detections per frame (best of ``repeats``), by CPU time
    and by wall time, without and with the appearance cue."""
    frames, image = _synthetic()
    out = []
    for label, img in (("motion only", None), ("with appearance", image)):
        best_cpu = best_wall = 0.0
        for _ in range(repeats):
            trk = make_tracker()
            c0, w0 = time.process_time(), time.perf_counter()
            for i, d in enumerate(frames):
                trk.update(d, i / 10.0, img)
            c1, w1 = time.process_time(), time.perf_counter()
            best_cpu = max(best_cpu, len(frames) / max(c1 - c0, 1e-9))
            best_wall = max(best_wall, len(frames) / max(w1 - w0, 1e-9))
        out.append((label, best_cpu, best_wall))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "mot")
    ap.add_argument("--strides", default="1", help="comma-separated frame strides, e.g. 1,2,3")
    ap.add_argument("--param", action="append", default=[], help="storelens tracker override KEY=JSON (repeatable)")
    ap.add_argument("--ours-only", action="store_true", help="only storelens raw and stitched (for a sweep)")
    args = ap.parse_args()
    params: dict[str, object] = {}
    for item in args.param:
        key, _, value = item.partition("=")
        params[key] = json.loads(value)
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    warnings.filterwarnings("ignore")
    strides = [int(s) for s in args.strides.split(",")]

    runners: dict[str, Runner] = {
        "storelens": _ours("storelens", params=params),
        "storelens+visits": _ours("storelens", stitch=True, params=params),
    }
    if not args.ours_only:
        runners["bytetrack"] = _ours("bytetrack")
    try:
        if args.ours_only:
            raise ImportError
        with contextlib.redirect_stdout(io.StringIO()):
            import trackers  # noqa: F401
        runners.update(
            {
                "SORT (trackers)": _baseline("SORTTracker"),
                "ByteTrack (trackers)": _baseline("ByteTrackTracker"),
                "OC-SORT (trackers)": _baseline("OCSORTTracker"),
            }
        )
    except ImportError:
        if not args.ours_only:
            print("baselines missing: pip install --no-deps -r bench/requirements-baselines.txt\n")

    rows = [score(n, r, s, args.data, st) for st in strides for s in SEQUENCES for n, r in runners.items()]
    worst = max(abs(r.hota - r.hota_check) for r in rows)
    print(f"HOTA: TrackEval vs storelens.tracking.evaluation, max difference {worst:.2e}\n")
    for st in strides:
        for seq in SEQUENCES:
            group = [r for r in rows if r.seq == seq and r.stride == st]
            base = [r for r in group if r.name in BASELINES]
            best = max(base, key=lambda r: r.hota) if base else None
            print(f"{seq} @ {SEQ_FPS / st:.1f} fps" + (f" (best baseline: {best.name})" if best else ""))
            head = f"{'HOTA':>6s} {'MOTA':>6s} {'IDF1':>6s} {'IDsw':>5s} {'frames/s':>9s}"
            print(f"  {'tracker':22s} {head}   vs best: HOTA  IDF1  IDsw")
            for r in group:
                ratio = ""
                if best is not None:
                    ratio = f"{r.hota / best.hota:5.2f}x {r.idf1 / best.idf1:5.2f}x {r.idsw - best.idsw:+4d}"
                print(
                    f"  {r.name:22s} {100 * r.hota:6.1f} {100 * r.mota:6.1f} {100 * r.idf1:6.1f} "
                    f"{r.idsw:5d} {r.fps:9.0f}   {ratio}"
                )
            print()
    if args.ours_only:
        return
    print("Tracker cost, default tracker, 20 detections/frame, 768x432, one core:")
    for label, cpu_fps, wall_fps in cost():
        target = 1000 if label == "motion only" else 200
        print(f"  {label:16s} {cpu_fps:7.0f} frames/s CPU time ({wall_fps:.0f} wall)  target >= {target}")


if __name__ == "__main__":
    main()
