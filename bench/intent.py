"""Shopper-intent accuracy on simulated visits, ours next to a naive baseline from the same run.

Protocol (held-aside seeds): the rule weights were set by hand and checked on simulator seeds 0-9
only; the learned calibration is fitted on seeds 0-9 (clean and noisy runs, one labelled sample
per visit and second); everything below is measured on seeds 100-119, which nothing was tuned on.
Each seed is one simulated store period (``--shoppers`` visits in ``--minutes``, one staff
member) observed twice: by a perfect observer ("clean") and with the realistic tracker,
interaction and expression noise of ``storelens.sim.noise.NoiseConfig.realistic`` ("noise").

Three engines see exactly the same observations in each run:

* ``storelens rules``: the intent engine with its default, documented weights;
* ``storelens learned``: the same engine with weights fitted by logistic regression;
* ``dwell-threshold rule``: the naive baseline (``storelens.sim.baseline``): dwell in the current
  zone only (3 s browsing, 15 s considering, 60 s needs assistance).

Reported (see ``storelens.sim.evaluation`` for exact definitions): primary-intent macro-F1 over the
six intents, accuracy, per-state precision/recall over all eight states, median detection delay
(seconds from the start of the true intent to our event), alert precision and recall, with ratios
ours/baseline. Targets: macro-F1 >= 0.8 clean and >= 0.7 with noise; median delay < 5 s.

    .venv/bin/python bench/intent.py [--shoppers 15] [--minutes 6] [--eval-seeds 100-119]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from storelens.actions.dispatcher import ActionEngine
from storelens.config.actions import ActionsConfig
from storelens.intent.calibration import fit_calibration, load_calibration
from storelens.intent.engine import IntentEngine
from storelens.intent.states import STATE_ORDER
from storelens.sim.baseline import DwellThresholdBaseline
from storelens.sim.evaluation import PRIMARY_LABELS, IntentReport, evaluate, merge_reports
from storelens.sim.layout import StoreLayout
from storelens.sim.noise import NoiseConfig
from storelens.sim.runner import SimConfig, run_simulation

OURS = "storelens rules"
LEARNED = "storelens learned"
BASE = "dwell-threshold rule"


def _seeds(spec: str) -> list[int]:
    lo, _, hi = spec.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def _fit(layout: StoreLayout, seeds: list[int], shoppers: int, minutes: float, out: Path) -> tuple[Path, int]:
    xs, ys = [], []
    for seed in seeds:
        for noise in (NoiseConfig.off(), NoiseConfig.realistic()):
            cfg = SimConfig(shoppers=shoppers, minutes=minutes, seed=seed, noise=noise)
            eng = IntentEngine(cfg.store_id, zones=layout.zones)
            r = run_simulation(layout, cfg, {"e": eng}, feature_every_s=1.0, feature_source=eng.features)
            if r.training is not None:
                xs.append(r.training[0])
                ys.extend(r.training[1])
    cal = fit_calibration(np.vstack(xs), ys, meta={"source": f"sim seeds {seeds[0]}-{seeds[-1]}, clean+noise"})
    return cal.save(out), len(ys)


def _run(
    layout: StoreLayout, seeds: list[int], noise: NoiseConfig, shoppers: int, minutes: float, cal_path: Path
) -> tuple[dict[str, IntentReport], dict[str, float]]:
    cal = load_calibration(cal_path)
    reps: dict[str, list[IntentReport]] = {OURS: [], LEARNED: [], BASE: []}
    idf1, sim_s, wall_s = [], 0.0, 0.0
    for seed in seeds:
        cfg = SimConfig(shoppers=shoppers, minutes=minutes, seed=seed, noise=noise)
        engines = {
            OURS: IntentEngine(cfg.store_id, zones=layout.zones),
            LEARNED: IntentEngine(cfg.store_id, zones=layout.zones, calibration=cal),
            BASE: DwellThresholdBaseline(cfg.store_id, layout.zones),
        }
        actions = {
            name: ActionEngine(cfg.store_id, ActionsConfig(dry_run=True), zones=layout.zones) for name in engines
        }
        r = run_simulation(layout, cfg, engines, actions)
        for name in engines:
            reps[name].append(evaluate(r, name))
        idf1.append(r.idf1)
        sim_s += r.sim_seconds
        wall_s += r.wall_seconds
    info = {"idf1": float(np.mean(idf1)), "speedup": sim_s / wall_s, "sim_s": sim_s}
    return {k: merge_reports(v) for k, v in reps.items()}, info


def _fmt(x: float, nd: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def _ratio(a: float, b: float) -> str:
    if any(math.isnan(v) for v in (a, b)) or b == 0:
        return "n/a"
    return f"{a / b:.2f}x"


def _summary(cond: str, reps: dict[str, IntentReport]) -> None:
    print(f"\n### {cond}\n")
    print(
        "| engine | visits | macro-F1 (6 intents) | accuracy | state macro-F1 (8) | median delay s "
        "| alert precision | alert recall |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, r in reps.items():
        print(
            f"| {name} | {r.visits} | {_fmt(r.macro_f1)} | {_fmt(r.accuracy)} | {_fmt(r.state_macro_f1)} | "
            f"{_fmt(r.median_delay, 1)} | {_fmt(r.alert_precision, 2)} ({r.alerts}) | {_fmt(r.alert_recall, 2)} |"
        )
    o, b = reps[OURS], reps[BASE]
    print(
        f"| ours / baseline | | {_ratio(o.macro_f1, b.macro_f1)} | {_ratio(o.accuracy, b.accuracy)} | "
        f"{_ratio(o.state_macro_f1, b.state_macro_f1)} | {_ratio(o.median_delay, b.median_delay)} | "
        f"{_ratio(o.alert_precision, b.alert_precision)} | {_ratio(o.alert_recall, b.alert_recall)} |"
    )


def _per_state(cond: str, r: IntentReport) -> None:
    print(f"\n{OURS}, {cond}: per state (multi-label: did the visit ever enter it), primary F1, delay\n")
    print("| state | precision | recall | support | primary P / R / F1 | median delay s (n) |")
    print("|---|---|---|---|---|---|")
    prim = r.primary_f1()
    for s in (str(x) for x in STATE_ORDER):
        p, rec, n = r.state_pr()[s]
        pf = prim.get(s)
        d = r.delays.get(s, [])
        pr = f"{pf[0]:.2f} / {pf[1]:.2f} / {pf[2]:.2f}" if pf else "(outcome)"
        dd = f"{np.median(d):.1f} ({len(d)})" if d else "-"
        print(f"| {s} | {p:.2f} | {rec:.2f} | {n} | {pr} | {dd} |")


def _confusion(cond: str, r: IntentReport) -> None:
    cols = [*PRIMARY_LABELS, "none"]
    print(f"\n{OURS}, {cond}: confusion of primary intent (rows: truth, columns: predicted)\n")
    print("| truth \\ predicted | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for t in PRIMARY_LABELS:
        row = r.confusion.get(t, {})
        print(f"| {t} | " + " | ".join(str(row.get(c, 0)) for c in cols) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shoppers", type=int, default=15)
    ap.add_argument("--minutes", type=float, default=6.0)
    ap.add_argument("--train-seeds", default="0-9")
    ap.add_argument("--eval-seeds", default="100-119")
    args = ap.parse_args()
    layout = StoreLayout.demo()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cal_path, n_train = _fit(layout, _seeds(args.train_seeds), args.shoppers, args.minutes, Path(tmp) / "w.json")
        t_fit = time.perf_counter() - t0
        results = {}
        for cond, noise in (("clean", NoiseConfig.off()), ("noise", NoiseConfig.realistic())):
            results[cond] = _run(layout, _seeds(args.eval_seeds), noise, args.shoppers, args.minutes, cal_path)
    print(
        f"## Intent benchmark: eval seeds {args.eval_seeds} ({args.shoppers} shoppers x {args.minutes:g} min each), "
        f"learned weights fitted on seeds {args.train_seeds} ({n_train} labelled samples, {t_fit:.0f} s)"
    )
    for cond, (reps, info) in results.items():
        _summary(
            f"{cond}: observation IDF1 {info['idf1']:.2f}, simulated {info['sim_s'] / 3600:.1f} h at "
            f"{info['speedup']:.0f}x real time (3 engines)",
            reps,
        )
    for cond, (reps, _) in results.items():
        _per_state(cond, reps[OURS])
    for cond, (reps, _) in results.items():
        _confusion(cond, reps[OURS])
    clean, noisy = results["clean"][0][OURS], results["noise"][0][OURS]
    print("\nTargets (storelens rules):")
    print(f"- macro-F1 clean {clean.macro_f1:.3f} (>= 0.8: {'met' if clean.macro_f1 >= 0.8 else 'NOT met'})")
    print(f"- macro-F1 noise {noisy.macro_f1:.3f} (>= 0.7: {'met' if noisy.macro_f1 >= 0.7 else 'NOT met'})")
    for cond, r in (("clean", clean), ("noise", noisy)):
        print(f"- median delay {cond} {r.median_delay:.1f} s (< 5 s: {'met' if r.median_delay < 5 else 'NOT met'})")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
