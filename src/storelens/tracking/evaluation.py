"""MOT metrics as TrackEval defines them: HOTA (Luiten et al., IJCV 2021), CLEAR MOT (MOTA,
ID switches) and Identity (IDF1), for one sequence of 2D boxes.

Why a re-implementation: the regression test must run on a fresh machine with only the project's
dependencies, and TrackEval is not packaged for them. The code follows TrackEval's
``metrics/hota.py``, ``clear.py`` and ``identity.py`` step by step (same matching, same epsilon,
same 19 localisation thresholds); ``bench/tracking.py`` checks it against TrackEval itself and
against py-motmetrics on the same results.

Inputs are MOTChallenge rows ``frame, id, x, y, w, h, ...``; the caller drops ignored ground truth
(``mot.read_gt``). Similarity is box IoU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_EPS = np.finfo("float").eps
ALPHAS = np.arange(0.05, 0.99, 0.05)


@dataclass(frozen=True, slots=True)
class MotScores:
    """Scores of one sequence (fractions in [0, 1] except counts)."""

    hota: float
    deta: float
    assa: float
    loca: float
    mota: float
    idf1: float
    id_switches: int
    fp: int
    fn: int
    num_gt: int
    num_pred: int


@dataclass(slots=True)
class _Step:
    gt_ids: I64
    pr_ids: I64
    sim: F64


def _iou_xywh(a: F64, b: F64) -> F64:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    a1, a2 = a[:, :2], a[:, :2] + a[:, 2:4]
    b1, b2 = b[:, :2], b[:, :2] + b[:, 2:4]
    lt = np.maximum(a1[:, None], b1[None])
    rb = np.minimum(a2[:, None], b2[None])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    out = np.zeros_like(inter)
    ok = union > 0 + _EPS
    out[ok] = inter[ok] / union[ok]
    return np.clip(out, 0, 1)


def _steps(gt: F64, pred: F64) -> tuple[list[_Step], int, int]:
    """Per-frame ids relabelled to 0..n-1 (as TrackEval does) and the IoU matrices."""
    gt_u, gt_inv = np.unique(gt[:, 1].astype(np.int64), return_inverse=True)
    pr_u, pr_inv = np.unique(pred[:, 1].astype(np.int64), return_inverse=True)
    gt_f = gt[:, 0].astype(np.int64)
    pr_f = pred[:, 0].astype(np.int64)
    frames = np.union1d(gt_f, pr_f)
    steps: list[_Step] = []
    for f in frames.tolist():
        gm = gt_f == f
        pm = pr_f == f
        steps.append(
            _Step(
                gt_ids=gt_inv[gm].astype(np.int64),
                pr_ids=pr_inv[pm].astype(np.int64),
                sim=_iou_xywh(gt[gm, 2:6], pred[pm, 2:6]),
            )
        )
    return steps, len(gt_u), len(pr_u)


def _matchable(steps: list[_Step]) -> tuple[list[_Step], int, int]:
    """The frames with both ground truth and predictions, in order, and the misses and false
    positives of the others: TrackEval counts a frame with one side empty without matching it."""
    both = [s for s in steps if len(s.gt_ids) and len(s.pr_ids)]
    fn = sum(len(s.gt_ids) for s in steps if len(s.pr_ids) == 0)
    fp = sum(len(s.pr_ids) for s in steps if len(s.gt_ids) == 0)
    return both, fn, fp


def _hota(steps: list[_Step], n_gt: int, n_pr: int) -> tuple[float, float, float, float]:
    na = len(ALPHAS)
    tp, fn, fp, loc = np.zeros(na), np.zeros(na), np.zeros(na), np.zeros(na)
    potential = np.zeros((n_gt, n_pr))
    gt_count = np.zeros((n_gt, 1))
    pr_count = np.zeros((1, n_pr))
    for s in steps:
        denom = s.sim.sum(0)[None, :] + s.sim.sum(1)[:, None] - s.sim
        sim_iou = np.zeros_like(s.sim)
        mask = denom > 0 + _EPS
        sim_iou[mask] = s.sim[mask] / denom[mask]
        potential[s.gt_ids[:, None], s.pr_ids[None, :]] += sim_iou
        gt_count[s.gt_ids] += 1
        pr_count[0, s.pr_ids] += 1
    global_score = potential / np.maximum(gt_count + pr_count - potential, _EPS)
    matches = np.zeros((na, n_gt, n_pr))
    both, fn0, fp0 = _matchable(steps)
    fn += fn0
    fp += fp0
    for s in both:
        score = global_score[s.gt_ids[:, None], s.pr_ids[None, :]] * s.sim
        rows, cols = linear_sum_assignment(-score)
        for a, alpha in enumerate(ALPHAS):
            ok = s.sim[rows, cols] >= alpha - _EPS
            r, c = rows[ok], cols[ok]
            k = len(r)
            tp[a] += k
            fn[a] += len(s.gt_ids) - k
            fp[a] += len(s.pr_ids) - k
            if k:
                loc[a] += s.sim[r, c].sum()
                matches[a, s.gt_ids[r], s.pr_ids[c]] += 1
    assa = np.zeros(na)
    for a in range(na):
        m = matches[a]
        ass = m / np.maximum(1, gt_count + pr_count - m)
        assa[a] = np.sum(m * ass) / np.maximum(1, tp[a])
    loca = np.maximum(1e-10, loc) / np.maximum(1e-10, tp)
    deta = tp / np.maximum(1, tp + fn + fp)
    hota = np.sqrt(deta * assa)
    return float(hota.mean()), float(deta.mean()), float(assa.mean()), float(loca.mean())


def _clear(steps: list[_Step], n_gt: int, threshold: float = 0.5) -> tuple[float, int, int, int, int]:
    tp = idsw = 0
    prev_id = np.full(n_gt, np.nan)
    prev_step_id = np.full(n_gt, np.nan)
    both, fn, fp = _matchable(steps)
    for s in both:
        continuing = s.pr_ids[None, :] == prev_step_id[s.gt_ids[:, None]]
        score = 1000 * continuing + s.sim
        score[s.sim < threshold - _EPS] = 0
        rows, cols = linear_sum_assignment(-score)
        ok = score[rows, cols] > 0 + _EPS
        rows, cols = rows[ok], cols[ok]
        mg = s.gt_ids[rows]
        mp = s.pr_ids[cols].astype(np.float64)
        prev = prev_id[mg]
        idsw += int(np.sum(~np.isnan(prev) & (mp != prev)))
        prev_id[mg] = mp
        prev_step_id[:] = np.nan
        prev_step_id[mg] = mp
        k = len(mg)
        tp += k
        fn += len(s.gt_ids) - k
        fp += len(s.pr_ids) - k
    mota = (tp - fp - idsw) / max(1, tp + fn)
    return float(mota), idsw, fp, fn, tp


def _identity(steps: list[_Step], n_gt: int, n_pr: int, threshold: float = 0.5) -> float:
    potential = np.zeros((n_gt, n_pr))
    gt_count = np.zeros(n_gt)
    pr_count = np.zeros(n_pr)
    for s in steps:
        gi, pi = np.nonzero(s.sim >= threshold - _EPS)
        potential[s.gt_ids[gi], s.pr_ids[pi]] += 1
        gt_count[s.gt_ids] += 1
        pr_count[s.pr_ids] += 1
    size = n_gt + n_pr
    fp_mat = np.zeros((size, size))
    fn_mat = np.zeros((size, size))
    fp_mat[n_gt:, :n_pr] = 1e10
    fn_mat[:n_gt, n_pr:] = 1e10
    for g in range(n_gt):
        fn_mat[g, :n_pr] = gt_count[g]
        fn_mat[g, n_pr + g] = gt_count[g]
    for p in range(n_pr):
        fp_mat[:n_gt, p] = pr_count[p]
        fp_mat[p + n_gt, p] = pr_count[p]
    fn_mat[:n_gt, :n_pr] -= potential
    fp_mat[:n_gt, :n_pr] -= potential
    rows, cols = linear_sum_assignment(fn_mat + fp_mat)
    idfn = fn_mat[rows, cols].sum()
    idfp = fp_mat[rows, cols].sum()
    idtp = gt_count.sum() - idfn
    return float(idtp / max(1.0, idtp + 0.5 * idfp + 0.5 * idfn))


def evaluate(gt: F64, pred: F64) -> MotScores:
    """Score predicted rows against ground-truth rows (both ``frame, id, x, y, w, h, ...``)."""
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, max(6, np.shape(gt)[-1] if np.size(gt) else 6))
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, max(6, np.shape(pred)[-1] if np.size(pred) else 6))
    steps, n_gt, n_pr = _steps(gt, pred)
    hota, deta, assa, loca = _hota(steps, n_gt, n_pr)
    mota, idsw, fp, fn, _ = _clear(steps, n_gt)
    idf1 = _identity(steps, n_gt, n_pr)
    return MotScores(
        hota=hota,
        deta=deta,
        assa=assa,
        loca=loca,
        mota=mota,
        idf1=idf1,
        id_switches=idsw,
        fp=fp,
        fn=fn,
        num_gt=len(gt),
        num_pred=len(pred),
    )
