"""Footfall forecast backtest and anomaly false-alarm rate on synthetic histories (issue 20).

For each scenario (flat seasonality; 3 %/week growth; a level drop of 30 % five weeks before the
end) and seed, every method forecasts each week one week ahead from the weeks before it; the table
prints each method's MAE and RMSE and its MASE (MAE / seasonal-naive MAE on the same weeks; below 1
beats seasonal-naive), averaged over seeds. Then the anomaly band's false-alarm rate per hour on
normal traffic and its hit rate on planted anomalies (one hour x2.5, one hour at 0), per alpha.
Last, the staff alerts (:func:`storelens.kpis.anomaly_watch.replay`, the live watch's logic hour
by hour, default config: alpha 0.001, one open alert per metric, cooldown): alarms per 1,000
hours on histories without anomalies, and on planted ones (traffic at 30 % for 4 hours, traffic
x2 for 3 hours, conversion at a third for 4 hours, each starting at a random open weekday hour of
the checked weeks) the share detected and the hours from the anomaly's start to the alert (1 =
raised at the end of its first hour).

The backtest also runs statsmodels' Holt-Winters (``ExponentialSmoothing``, additive weekly
season of 168 hours, without and with a damped additive trend, parameters and initial states fitted
by maximum likelihood on the weeks before each forecast week only) when statsmodels is installed
(``.venv/bin/pip install --no-deps -r bench/requirements-baselines.txt``; it is not a dependency: the seasonal mean beat
it, docs/KPIS.md). Without it those rows are skipped.

    .venv/bin/python bench/kpis.py [--weeks 12] [--seeds 20]
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from storelens.config.store import StoreConfig
from storelens.events.models import EventType
from storelens.kpis import experiments as kx
from storelens.kpis import forecast as kf
from storelens.kpis.anomaly_watch import replay
from storelens.kpis.synthetic import WEEK, buyers, expected_week, history

T0 = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday


def scenario(name: str, weeks: int, seed: int) -> npt.NDArray[np.float64]:
    if name == "growth 3%/week":
        return history(weeks, growth_per_week=0.03, seed=seed)[0]
    y, rate = history(weeks, seed=seed)
    if name == "level drop -30%":
        rng = np.random.default_rng(seed + 10_000)
        cut = (weeks - 5) * WEEK
        y[cut:] = rng.poisson(rate[cut:] * 0.7)
    return y


Forecaster = Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]


def library_methods() -> dict[str, Forecaster]:
    """statsmodels' Holt-Winters variants, one week ahead; empty when statsmodels is missing."""
    try:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing
    except ImportError:
        return {}

    def fit(trend: str | None) -> Forecaster:
        def run(train: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
            with warnings.catch_warnings():  # convergence chatter on flat (closed) hours
                warnings.simplefilter("ignore")
                model = ExponentialSmoothing(
                    train,
                    trend=trend,
                    damped_trend=trend is not None,
                    seasonal="add",
                    seasonal_periods=WEEK,
                    initialization_method="estimated",
                ).fit()
            return np.maximum(np.asarray(model.forecast(WEEK), dtype=np.float64), 0.0)

        return run

    return {"holt_winters": fit(None), "holt_winters_damped": fit("add")}


def library_score(y: npt.NDArray[np.float64], k: int, run: Forecaster) -> tuple[float, float, float]:
    """(MAE, RMSE, MASE) of ``run`` on the same held-out weeks as :func:`kf.score`."""
    first = max(1, min(k, len(y) // WEEK - 1))
    naive_f, naive_a = kf.backtest(y, "seasonal_naive", k, first)
    fc = np.concatenate([run(y[: w * WEEK]) for w in range(first, len(y) // WEEK)])
    err = fc - naive_a
    mae = float(np.mean(np.abs(err)))
    return mae, float(np.sqrt(np.mean(err**2))), mae / float(np.mean(np.abs(naive_f - naive_a)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weeks", type=int, default=12)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--k", type=int, default=4)
    args = ap.parse_args()
    print(f"backtest: {args.weeks} weeks of hourly entries, {args.seeds} seeds, k={args.k}, one-week-ahead")
    lib = library_methods()
    if not lib:
        print("statsmodels not installed: Holt-Winters rows skipped")
    print(f"{'scenario':<18} {'method':<20} {'MAE':>7} {'RMSE':>7} {'MASE':>6}")
    for name in ("seasonal", "growth 3%/week", "level drop -30%"):
        acc: dict[str, list[tuple[float, float, float]]] = {}
        for seed in range(args.seeds):
            y = scenario(name, args.weeks, seed)
            for b in kf.score(y, args.k):
                acc.setdefault(b.method, []).append((b.mae, b.rmse, b.mase or float("nan")))
            for method, run in lib.items():
                acc.setdefault(method, []).append(library_score(y, args.k, run))
        for method, rows in acc.items():
            m = np.mean(np.asarray(rows), axis=0)
            print(f"{name:<18} {method:<20} {m[0]:7.3f} {m[1]:7.3f} {m[2]:6.3f}")
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
    alerts(args.seeds)
    uplifts(args.seeds * 5)


def uplifts(seeds: int) -> None:
    """Promotion uplift against a 20 % randomised hold-out: a planted +8 pp conversion (0.20 ->
    0.28) and +15 s dwell, and no effect at all, at 200 / 1,000 / 3,000 triggers; the mean
    estimate, how often the 95 % interval holds the truth, and how often the verdict is
    "significant" (power with the effect, false positives without)."""
    print()
    print(f"promotion uplift: 20 % hold-out, 95 % intervals, {seeds} seeds")
    print(f"{'effect':<12} {'triggers':>8} {'mean uplift':>12} {'CI holds truth':>15} {'significant':>12}")
    for name, dp, dd in (("+8 pp, +15 s", 0.08, 15.0), ("none", 0.0, 0.0)):
        for n in (200, 1000, 3000):
            est, cover, sig = [], 0, 0
            for seed in range(seeds):
                rng = np.random.default_rng([seed, n, 41])
                held = rng.random(n) < 0.2
                p = np.where(held, 0.20, 0.20 + dp)
                conv = rng.random(n) < p
                dwell = rng.exponential(np.where(held, 40.0, 40.0 + dd))
                trig = [
                    kx.Trigger("r", T0, bool(h), bool(c), float(d)) for h, c, d in zip(held, conv, dwell, strict=True)
                ]
                u = kx.uplift("r", trig)
                assert (
                    u.conversion_uplift is not None and u.conversion_low is not None and u.conversion_high is not None
                )
                est.append(u.conversion_uplift)
                cover += int(u.conversion_low <= dp <= u.conversion_high)
                sig += int(u.conversion_verdict.startswith("significant"))
            print(f"{name:<12} {n:>8} {np.mean(est) * 100:>10.2f}pp {cover / seeds:>15.2f} {sig / seeds:>12.2f}")


def _raised(events: list, metric: str) -> list[int]:
    """Hours (since T0) at whose end an alert of ``metric`` was raised."""
    return [
        int((e.ts - T0).total_seconds() // 3600) - 1
        for e in events
        if e.type == EventType.ALERT_RAISED and e.payload.get("metric") == metric
    ]


def alerts(seeds: int, weeks: int = 7, checked: int = 3) -> None:
    store = StoreConfig(store_id="bench", cameras=[{"id": "c", "source": "x.mp4"}])
    first = (weeks - checked) * WEEK
    open_week = expected_week() > 0
    print()
    print(f"staff alerts: {weeks}-week histories, the last {checked} weeks checked hour by hour, {seeds} seeds")
    false = {"entries": 0, "conversion": 0}
    for seed in range(seeds):
        y = history(weeks, seed=900 + seed)[0]
        ev = replay(y, buyers(y, seed=900 + seed), store, first, T0)
        for m in false:
            false[m] += len(_raised(ev, m))
    hours = seeds * checked * WEEK
    open_hours = seeds * checked * int(open_week.sum())
    for m, n in false.items():
        print(
            f"  no anomaly, {m:<10}: {n} alarms in {hours} hours = {1000 * n / hours:.2f} per 1,000 hours "
            f"({1000 * n / open_hours:.2f} per 1,000 open hours)"
        )
    plants = (
        ("traffic at 30 %", "entries", 0.3, 4),
        ("traffic x2", "entries", 2.0, 3),
        ("conversion / 3", "conversion", 1 / 3, 4),
    )
    for name, metric, factor, length in plants:
        found, delays = 0, []
        for seed in range(seeds):
            rng = np.random.default_rng([seed, 31])
            y, rate = history(weeks, seed=1900 + seed)
            b = buyers(y, seed=1900 + seed)
            starts = [h for h in range(first, len(y) - length) if open_week[(h + np.arange(length)) % WEEK].all()]
            h0 = int(rng.choice(starts))
            span = slice(h0, h0 + length)
            if metric == "entries":
                y[span] = rng.poisson(rate[span] * factor)
                b[span] = rng.binomial(y[span].astype(int), 0.2)
            else:
                b[span] = rng.binomial(y[span].astype(int), 0.2 * factor)
            hit = [h for h in _raised(replay(y, b, store, first, T0), metric) if h0 <= h < h0 + length]
            if hit:
                found += 1
                delays.append(hit[0] - h0 + 1)
        med = f"{np.median(delays):.0f}" if delays else "-"
        worst = max(delays, default=0)
        print(f"  planted {name:<16} ({length} h): detected {found}/{seeds}, hours to alert median {med}, max {worst}")


if __name__ == "__main__":
    main()
