"""Footfall forecast backtest and anomaly false-alarm rate on synthetic histories (issue 20).

For each scenario (flat seasonality; 3 %/week growth; a level drop of 30 % five weeks before the
end) and seed, every method forecasts each week one week ahead from the weeks before it; the table
prints each method's MAE and RMSE and its MASE (MAE / seasonal-naive MAE on the same weeks; below 1
beats seasonal-naive), averaged over seeds. Then the anomaly band's false-alarm rate per hour on
normal traffic and its hit rate on planted anomalies (one hour x2.5, one hour at 0), per alpha.

    .venv/bin/python bench/kpis.py [--weeks 12] [--seeds 20]
"""

from __future__ import annotations

import argparse

import numpy as np
import numpy.typing as npt

from storelens.kpis import forecast as kf
from storelens.kpis.synthetic import WEEK, expected_week, history


def scenario(name: str, weeks: int, seed: int) -> npt.NDArray[np.float64]:
    if name == "growth 3%/week":
        return history(weeks, growth_per_week=0.03, seed=seed)[0]
    y, rate = history(weeks, seed=seed)
    if name == "level drop -30%":
        rng = np.random.default_rng(seed + 10_000)
        cut = (weeks - 5) * WEEK
        y[cut:] = rng.poisson(rate[cut:] * 0.7)
    return y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weeks", type=int, default=12)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--k", type=int, default=4)
    args = ap.parse_args()
    print(f"backtest: {args.weeks} weeks of hourly entries, {args.seeds} seeds, k={args.k}, one-week-ahead")
    print(f"{'scenario':<18} {'method':<16} {'MAE':>7} {'RMSE':>7} {'MASE':>6}")
    for name in ("seasonal", "growth 3%/week", "level drop -30%"):
        acc: dict[str, list[tuple[float, float, float]]] = {}
        for seed in range(args.seeds):
            for b in kf.score(scenario(name, args.weeks, seed), args.k):
                acc.setdefault(b.method, []).append((b.mae, b.rmse, b.mase or float("nan")))
        for method, rows in acc.items():
            m = np.mean(np.asarray(rows), axis=0)
            print(f"{name:<18} {method:<16} {m[0]:7.3f} {m[1]:7.3f} {m[2]:6.3f}")
    print()
    print("anomaly band (last week vs forecast from the weeks before; closed hours included)")
    print(f"{'alpha':>7} {'false alarms/hour':>18} {'per week':>9} {'planted hits':>13}")
    busy = int(np.argmax(expected_week()))
    for alpha in (0.001, 0.01, 0.05):
        flags = hours = hits = planted = 0
        for seed in range(args.seeds):
            y = history(8, seed=500 + seed)[0]
            f, _ = kf.anomalies(y, args.k, alpha)
            flags += int(f.sum())
            hours += len(f)
            last = len(y) - WEEK
            y[last + busy] *= 2.5
            y[last + busy - 24] = 0
            f2, _ = kf.anomalies(y, args.k, alpha)
            hits += int(f2[busy]) + int(f2[busy - 24])
            planted += 2
        rate = flags / hours
        print(f"{alpha:7.3f} {rate:18.4f} {rate * WEEK:9.2f} {hits:>6}/{planted:<6}")


if __name__ == "__main__":
    main()
