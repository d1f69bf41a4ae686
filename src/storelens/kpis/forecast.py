"""Hourly footfall forecast for the next 7 days, its backtest, the anomaly band and staffing.

The series is entries per UTC hour (an hour is an hour; the weekly season is 168 steps, so a DST
change shifts the local pattern by one hour for the week after it: see docs/KPIS.md).

Methods, all one week ahead from the history before the week they forecast:

* ``seasonal_naive``: the same hour last week. The baseline any method must beat.
* ``seasonal_mean``: the mean of the same hour over the last ``k`` weeks, times a damped level
  factor (last week's total over the k-week mean's total, pulled halfway to 1 and clipped to
  [0.5, 2]). Averaging k weeks divides the week-to-week noise the naive forecast repeats by about
  sqrt(k); the level factor follows a trend or a lasting change the plain mean would lag.

Holt-Winters (statsmodels' ``ExponentialSmoothing``, additive weekly season, with and without a
damped trend) was backtested against these in ``bench/kpis.py`` and is not offered: it edges the
seasonal mean on a flat season but falls behind even seasonal-naive under steady growth (an
additive season cannot scale with the level), so statsmodels is not a dependency (docs/KPIS.md).

Anomalies: an hour is flagged when the observed count leaves the band forecast +- z * s * sqrt(f+1),
where s is a robust (MAD) scale of the standardised backtest residuals. With z from the per-hour
false-alarm rate ``alpha`` the flag rate on normal traffic is about alpha (measured on synthetic
history in the tests), so "3 false alarms a week" is a setting, not a surprise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
import numpy.typing as npt

WEEK = 168
Method = Literal["seasonal_naive", "seasonal_mean"]
METHODS: tuple[Method, ...] = ("seasonal_naive", "seasonal_mean")


def forecast_week(history: npt.ArrayLike, method: Method = "seasonal_mean", k: int = 4) -> npt.NDArray[np.float64]:
    """The next 168 hours after ``history`` (hourly counts, oldest first, at least one week)."""
    y = np.asarray(history, dtype=np.float64)
    if y.ndim != 1 or len(y) < WEEK:
        raise ValueError(f"need at least one week ({WEEK} hours) of history, got {len(y)} hours")
    last = y[-WEEK:]
    if method == "seasonal_naive":
        return last.copy()
    weeks = min(k, len(y) // WEEK)
    stack = np.stack([y[len(y) - (i + 1) * WEEK : len(y) - i * WEEK] for i in range(weeks)])
    base = stack.mean(axis=0)
    total = float(base.sum())
    if total <= 0:
        return base
    ratio = float(last.sum()) / total
    level = min(2.0, max(0.5, 1 + 0.5 * (ratio - 1)))
    return base * level


@dataclass(frozen=True, slots=True)
class Backtest:
    method: Method
    weeks: int
    mae: float
    rmse: float
    mase: float | None
    """MAE over the seasonal-naive forecast's MAE on the same weeks (below 1 beats it)."""


def backtest(
    series: npt.ArrayLike, method: Method, k: int = 4, min_weeks: int = 1
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Rolling one-week-ahead forecasts: (forecast, actual) over every full week after the first
    ``max(min_weeks, 1)`` weeks of ``series``."""
    y = np.asarray(series, dtype=np.float64)
    n_weeks = len(y) // WEEK
    fc: list[npt.NDArray[np.float64]] = []
    act: list[npt.NDArray[np.float64]] = []
    for w in range(max(1, min_weeks), n_weeks):
        fc.append(forecast_week(y[: w * WEEK], method, k))
        act.append(y[w * WEEK : (w + 1) * WEEK])
    if not fc:
        raise ValueError(f"a backtest needs at least {max(1, min_weeks) + 1} full weeks of history")
    return np.concatenate(fc), np.concatenate(act)


def score(series: npt.ArrayLike, k: int = 4, min_weeks: int | None = None) -> list[Backtest]:
    """Each method's error on the same weeks (those after the first ``k`` weeks, so the k-week mean
    has its full window; fewer when the history is short)."""
    y = np.asarray(series, dtype=np.float64)
    first = min_weeks if min_weeks is not None else max(1, min(k, len(y) // WEEK - 1))
    naive_f, naive_a = backtest(y, "seasonal_naive", k, first)
    naive_mae = float(np.mean(np.abs(naive_f - naive_a)))
    out: list[Backtest] = []
    for m in METHODS:
        f, a = backtest(y, m, k, first)
        err = f - a
        mae = float(np.mean(np.abs(err)))
        out.append(
            Backtest(
                m, len(a) // WEEK, mae, float(np.sqrt(np.mean(err**2))), mae / naive_mae if naive_mae > 0 else None
            )
        )
    return out


def best_method(series: npt.ArrayLike, k: int = 4) -> Method:
    """The method with the lowest backtest MAE; seasonal-naive when the history is too short to test."""
    try:
        results = score(series, k)
    except ValueError:
        return "seasonal_naive"
    return min(results, key=lambda b: b.mae).method


# ----------------------------------------------------------------------------------- anomalies


@dataclass(frozen=True, slots=True)
class Band:
    forecast: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    z: float
    scale: float


def residual_scale(forecast: npt.ArrayLike, actual: npt.ArrayLike) -> float:
    """Robust scale of (actual - forecast) / sqrt(forecast + 1): 1.4826 * MAD, at least 0.5.

    Dividing by sqrt(f + 1) makes busy and quiet hours comparable (counts are roughly Poisson);
    the median absolute deviation ignores the anomalies the band is meant to catch. Hours with
    neither traffic nor forecast (closed) are left out: their zero residuals would shrink the scale
    and turn every busy hour into an alarm."""
    f = np.asarray(forecast, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    live = (f > 0) | (a > 0)
    if not live.any():
        return 0.5
    f, a = f[live], a[live]
    r = (a - f) / np.sqrt(np.maximum(f, 0) + 1)
    med = float(np.median(r))
    return max(0.5, 1.4826 * float(np.median(np.abs(r - med))))


def band(forecast: npt.ArrayLike, scale: float, alpha: float = 0.01) -> Band:
    """The band outside which an hour is flagged, for a per-hour false-alarm rate ``alpha``."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    f = np.maximum(np.asarray(forecast, dtype=np.float64), 0)
    z = NormalDist().inv_cdf(1 - alpha / 2)
    half = z * scale * np.sqrt(f + 1)
    return Band(f, np.maximum(f - half, 0), f + half, z, scale)


def flag(actual: npt.ArrayLike, b: Band) -> npt.NDArray[np.bool_]:
    a = np.asarray(actual, dtype=np.float64)
    return np.asarray((a < b.low) | (a > b.high), dtype=np.bool_)


def anomalies(series: npt.ArrayLike, k: int = 4, alpha: float = 0.01) -> tuple[npt.NDArray[np.bool_], Band]:
    """Flags for the last week of ``series`` against the forecast made from the weeks before it;
    the band's scale comes from the backtest residuals of those earlier weeks."""
    y = np.asarray(series, dtype=np.float64)
    if len(y) < 3 * WEEK:
        raise ValueError("anomaly flags need at least 3 full weeks of history (2 to fit, 1 to check)")
    head, last = y[: len(y) - WEEK], y[len(y) - WEEK :]
    method = best_method(head, k)
    f_bt, a_bt = backtest(head, method, k, 1)
    b = band(forecast_week(head, method, k), residual_scale(f_bt, a_bt), alpha)
    return flag(last, b), b


def _conversion_expected(
    entries: npt.NDArray[np.float64], buyers: npt.NDArray[np.float64], w: int, k: int
) -> npt.NDArray[np.float64]:
    """Expected buyers of week ``w``: its own entries x the conversion of the ``k`` weeks before it
    (pooled over the hours: an hour-of-week rate from a few dozen visitors is mostly noise)."""
    lo = max(0, w - k) * WEEK
    e, b = float(entries[lo : w * WEEK].sum()), float(buyers[lo : w * WEEK].sum())
    rate = b / e if e > 0 else 0.0
    return entries[w * WEEK : (w + 1) * WEEK] * rate


def conversion_anomalies(
    entries: npt.ArrayLike, buyers: npt.ArrayLike, k: int = 4, alpha: float = 0.01
) -> tuple[npt.NDArray[np.bool_], Band]:
    """Flags for the last week's conversion: an hour is flagged when its buyers leave the band
    around its own entries x the conversion of the weeks before (so a busy hour is not "low
    conversion" for having more visitors). The band is built like the traffic band, its scale from
    the same residuals over the earlier weeks; hours without entries are never flagged."""
    e = np.asarray(entries, dtype=np.float64)
    b = np.asarray(buyers, dtype=np.float64)
    if e.shape != b.shape or e.ndim != 1:
        raise ValueError("entries and buyers must be hourly series of the same length")
    n = len(e) // WEEK
    if n < 3:
        raise ValueError("conversion flags need at least 3 full weeks of history (2 to fit, 1 to check)")
    e, b = e[len(e) - n * WEEK :], b[len(b) - n * WEEK :]
    f_bt = np.concatenate([_conversion_expected(e, b, w, k) for w in range(1, n - 1)])
    a_bt = b[WEEK : (n - 1) * WEEK]
    bd = band(_conversion_expected(e, b, n - 1, k), residual_scale(f_bt, a_bt), alpha)
    flags = flag(b[-WEEK:], bd) & (e[-WEEK:] > 0)
    return flags, bd


# ----------------------------------------------------------------------------------- staffing


def staff_needed(
    entries_per_hour: Sequence[float], mean_visit_s: float, shoppers_per_staff: float, min_staff: int = 1
) -> list[int]:
    """Staff per hour for a target of shoppers per staff member.

    Shoppers present in an hour = entries per hour x mean visit length in hours (Little's law);
    staff = ceil(present / target), at least ``min_staff`` in an hour with any expected traffic and
    0 in an hour with none (the store is presumably closed)."""
    if shoppers_per_staff <= 0:
        raise ValueError("shoppers_per_staff must be > 0")
    if mean_visit_s <= 0:
        raise ValueError("mean_visit_s must be > 0")
    out: list[int] = []
    for e in entries_per_hour:
        present = max(0.0, e) * mean_visit_s / 3600
        out.append(0 if e < 0.5 else max(min_staff, math.ceil(present / shoppers_per_staff - 1e-9)))
    return out
