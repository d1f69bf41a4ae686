"""Synthetic footfall histories with known answers, for the tests and ``bench/kpis.py``.

Entries per hour are Poisson around a rate with a daily shape (open 9:00-20:00, peaks at lunch and
after work), a weekday factor (Saturday busiest, Sunday closed) and an optional weekly growth, so
the true expected value of every hour is known and a forecast's error can be judged against it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

WEEK = 168
_DAY = np.array(
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0.6, 0.8, 1.0, 1.4, 1.2, 0.9, 0.8, 0.9, 1.2, 1.5, 1.1, 0.7, 0, 0, 0],
    dtype=np.float64,
)
_WEEKDAY = np.array([0.8, 0.85, 0.9, 0.95, 1.2, 1.6, 0.0], dtype=np.float64)  # Mon..Sun


def expected_week(base: float = 40.0) -> npt.NDArray[np.float64]:
    """The expected entries of each hour of a week starting Monday 00:00."""
    return np.concatenate([base * f * _DAY for f in _WEEKDAY])


def history(
    weeks: int, *, base: float = 40.0, growth_per_week: float = 0.0, seed: int = 0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(observed counts, expected rate) for ``weeks`` weeks, Monday first."""
    rng = np.random.default_rng(seed)
    rate = np.concatenate([expected_week(base) * (1 + growth_per_week) ** w for w in range(weeks)])
    return rng.poisson(rate).astype(np.float64), rate


def buyers(entries: npt.ArrayLike, conversion: float = 0.2, seed: int = 0) -> npt.NDArray[np.float64]:
    """POS transactions per hour: each entry buys with probability ``conversion`` (binomial)."""
    e = np.asarray(entries, dtype=np.int64)
    return np.random.default_rng([seed, 7]).binomial(e, conversion).astype(np.float64)
