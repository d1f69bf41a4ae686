"""Association building blocks shared by the trackers: Hungarian matching with a gate, and
OC-SORT's observation-centric momentum (direction consistency) term."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

__all__ = ["direction_consistency", "inside_fraction", "iou_matrix", "match"]


def _intersection(a: F64, b: F64) -> F64:
    """Pairwise intersection areas of (N, 4) and (M, 4) xyxy boxes (0 where they do not overlap)."""
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.asarray(np.maximum(w, 0.0) * np.maximum(h, 0.0))


def iou_matrix(a: F64, b: F64) -> F64:
    """Pairwise IoU of (N, 4) and (M, 4) float64 xyxy boxes with positive areas.

    A lean version of ``core.geometry.iou_matrix`` for the tracker's hot path: inputs are already
    validated float64 arrays, so no conversion or degenerate-box handling is repeated per call.
    """
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    inter = _intersection(a, b)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return np.asarray(inter / (area_a[:, None] + area_b[None, :] - inter))


def inside_fraction(a: F64, b: F64) -> F64:
    """Pairwise fraction of each (N, 4) box ``a``'s area that lies inside each (M, 4) box ``b``
    (intersection over ``a``'s area; float64 xyxy, positive areas): 1 when ``a`` is wholly inside.
    Unlike IoU it does not shrink when ``b`` is much larger, so it flags a part-of-a-person box."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    inter = _intersection(a, b)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    return np.asarray(inter / area_a[:, None])


def match(score: F64, allowed: npt.NDArray[np.bool_]) -> tuple[I64, I64]:
    """Maximum-score one-to-one assignment restricted to ``allowed`` pairs.

    Returns ``(rows, cols)`` of the matched pairs. Forbidden pairs get a penalty larger than any
    achievable total score, so the solver first maximises the number of allowed matches and then
    their summed score; the forbidden pairs it still had to make (rectangular matrices) are dropped.
    """
    n, m = score.shape
    if n == 0 or m == 0 or not allowed.any():
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    if allowed.sum(axis=0).max() == 1 and allowed.sum(axis=1).max() == 1:
        # No conflicts (the usual case when people are apart): every allowed pair is a match.
        r0, c0 = np.nonzero(allowed)
        return r0.astype(np.int64), c0.astype(np.int64)
    # Only rows and columns with at least one allowed pair take part: smaller problem, same answer.
    row_ok = np.flatnonzero(allowed.any(axis=1))
    col_ok = np.flatnonzero(allowed.any(axis=0))
    sub_allowed = allowed[row_ok][:, col_ok]
    sub = score[row_ok][:, col_ok]
    if len(row_ok) == 1 or len(col_ok) == 1:
        # One candidate on a side: the best allowed pair is the optimum (no solver needed).
        flat = np.where(sub_allowed, sub, -np.inf).ravel()
        k = int(np.argmax(flat))
        r1, c1 = divmod(k, len(col_ok))
        return np.array([row_ok[r1]], np.int64), np.array([col_ok[c1]], np.int64)
    penalty = 2.0 * (np.abs(np.where(sub_allowed, sub, 0.0)).sum() + 1.0)
    cost = np.where(sub_allowed, -sub, penalty)
    r, c = linear_sum_assignment(cost)
    keep = sub_allowed[r, c]
    return row_ok[r[keep]].astype(np.int64), col_ok[c[keep]].astype(np.int64)


def direction_consistency(
    velocity_dir: F64, has_velocity: npt.NDArray[np.bool_], reference: F64, det_centres: F64
) -> F64:
    """OC-SORT's momentum term, (N, M) in [-0.5, 0.5].

    For track i with observed motion direction ``velocity_dir[i]`` (a unit vector estimated from
    *observations*, not the filter state, so it is not corrupted by coasting) and an older observed
    centre ``reference[i]``, a detection j whose direction from that reference agrees with the
    motion scores +0.5, a perpendicular one 0 and an opposite one -0.5. Tracks without a velocity
    yet score 0 (no opinion).
    """
    n, m = len(velocity_dir), len(det_centres)
    out = np.zeros((n, m))
    if n == 0 or m == 0 or not has_velocity.any():
        return out
    d = det_centres[None, :, :] - reference[:, None, :]
    norm = np.linalg.norm(d, axis=2)
    norm = np.where(norm > 1e-6, norm, 1.0)
    cos = np.clip((d[..., 0] * velocity_dir[:, None, 0] + d[..., 1] * velocity_dir[:, None, 1]) / norm, -1, 1)
    angle = np.arccos(cos)
    out = (np.pi / 2 - angle) / np.pi
    out[~has_velocity] = 0.0
    return np.asarray(out)
