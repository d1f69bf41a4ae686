"""Dwell distributions per zone: the numbers behind "how long do people stay in Electronics".

Means are dragged by the one shopper who stood at the TVs for twenty minutes, so the summary leads
with the median and the 90th percentile, and a histogram on fixed, human bins (seconds to minutes)
shows the shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from storelens.analytics.zones import ZoneStay

__all__ = ["DWELL_BINS_S", "dwell_distribution", "dwell_stats"]

DWELL_BINS_S: tuple[float, ...] = (0, 5, 10, 30, 60, 120, 300, 600, float("inf"))


def dwell_stats(values: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """count, total, mean, median, p90 and max of dwell seconds (only count when empty)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {"count": 0}
    return {
        "count": int(arr.size),
        "total_s": round(float(arr.sum()), 2),
        "mean_s": round(float(arr.mean()), 2),
        "median_s": round(float(np.median(arr)), 2),
        "p90_s": round(float(np.percentile(arr, 90)), 2),
        "max_s": round(float(arr.max()), 2),
    }


def dwell_distribution(
    stays: Iterable[ZoneStay], zone_ids: Iterable[str] = (), bins: Sequence[float] = DWELL_BINS_S
) -> dict[str, dict[str, Any]]:
    """Per zone: :func:`dwell_stats` plus a histogram on ``bins`` (labels like "10-30s")."""
    by_zone: dict[str, list[float]] = {z: [] for z in zone_ids}
    for s in stays:
        by_zone.setdefault(s.zone_id, []).append(s.dwell_s)
    edges = np.asarray(bins, dtype=np.float64)
    labels = [f"{a:g}-{b:g}s" if np.isfinite(b) else f">={a:g}s" for a, b in pairwise(edges.tolist())]
    out: dict[str, dict[str, Any]] = {}
    for zid, vals in by_zone.items():
        counts, _ = np.histogram(np.asarray(vals, dtype=np.float64), bins=edges)
        out[zid] = {**dwell_stats(vals), "histogram": dict(zip(labels, counts.tolist(), strict=True))}
    return out
