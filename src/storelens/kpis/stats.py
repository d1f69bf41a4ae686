"""Confidence intervals and sample sizes for the experiment KPIs.

Hand-written on :class:`statistics.NormalDist` and scipy's t distribution so every formula is the
one docs/KPIS.md states: Wilson score intervals for a proportion, Newcombe's hybrid (method 10) for
a difference of two proportions (it keeps its coverage at small counts and near 0 %/100 %, where the
textbook Wald interval is too narrow), Welch's t interval for a difference of means with unequal
variances, and the normal-approximation sample size per arm for a two-sided test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from scipy import stats as _st


def z_of(confidence: float) -> float:
    """Two-sided normal quantile (1.96 for 0.95)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k successes out of n (n > 0)."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    z = z_of(confidence)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_diff(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> tuple[float, float]:
    """Interval for p1 - p2 from the two Wilson intervals (Newcombe 1998, method 10)."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, confidence)
    l2, u2 = wilson(k2, n2, confidence)
    d = p1 - p2
    lo = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return lo, hi


@dataclass(frozen=True, slots=True)
class MeanDiff:
    diff: float
    low: float
    high: float
    df: float


def welch_diff(a: list[float], b: list[float], confidence: float = 0.95) -> MeanDiff:
    """Welch's interval for mean(a) - mean(b); each sample needs 2+ values."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError("each arm needs at least 2 values for a variance")
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    va = sum((x - ma) ** 2 for x in a) / (len(a) - 1)
    vb = sum((x - mb) ** 2 for x in b) / (len(b) - 1)
    sa, sb = va / len(a), vb / len(b)
    se = math.sqrt(sa + sb)
    if se == 0:
        return MeanDiff(ma - mb, ma - mb, ma - mb, float(len(a) + len(b) - 2))
    df = (sa + sb) ** 2 / (sa**2 / (len(a) - 1) + sb**2 / (len(b) - 1)) if sa + sb > 0 else 1.0
    t = float(_st.t.ppf(0.5 + confidence / 2, df))
    d = ma - mb
    return MeanDiff(d, d - t * se, d + t * se, df)


def n_per_arm_proportions(p_base: float, mde: float, confidence: float = 0.95, power: float = 0.8) -> int | None:
    """Units per arm to detect an absolute change ``mde`` from ``p_base`` (two-sided); None when
    the target rate p_base + mde is outside (0, 1) or mde is 0."""
    p2 = p_base + mde
    if mde == 0 or not 0 < p2 < 1 or not 0 <= p_base <= 1:
        return None
    za, zb = z_of(confidence), NormalDist().inv_cdf(power)
    pbar = (p_base + p2) / 2
    num = za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p_base * (1 - p_base) + p2 * (1 - p2))
    return math.ceil(num * num / (mde * mde))


def n_per_arm_means(sd: float, mde: float, confidence: float = 0.95, power: float = 0.8) -> int | None:
    """Units per arm to detect a change ``mde`` in a mean with standard deviation ``sd``."""
    if mde == 0 or sd <= 0:
        return None
    za, zb = z_of(confidence), NormalDist().inv_cdf(power)
    return math.ceil(2 * ((za + zb) * sd / mde) ** 2)
