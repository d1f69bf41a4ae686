"""Store fusion benchmark (issue 18): one store, not N cameras, on the simulated store.

The demo store's shoppers are seen through four virtual calibrated cameras (two overlaps, one
1.8 m gap; ``storelens.sim.cameras``), clean and with the realistic noise model drawn per camera.
For each it prints the store visit count error, the share of visits whose journey (zone sequence)
is exactly right, and the occupancy error, fused against the naive sum over cameras.

    .venv/bin/python bench/store.py [--shoppers 40] [--minutes 12] [--seeds 0 1 2]

Targets: visits within 5 % of the truth, journeys >= 90 % exact clean and >= 75 % with noise.
"""

from __future__ import annotations

import argparse
import time

from storelens.sim.layout import StoreLayout
from storelens.sim.noise import NoiseConfig
from storelens.sim.runner import SimConfig
from storelens.sim.store_eval import StoreEval, evaluate_store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--shoppers", type=int, default=40)
    ap.add_argument("--minutes", type=float, default=12.0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    layout = StoreLayout.demo()
    rows: list[tuple[str, list[StoreEval]]] = []
    t = time.perf_counter()
    for name, noise in (("clean", NoiseConfig.off()), ("noisy", NoiseConfig.realistic())):
        runs = [
            evaluate_store(layout, SimConfig(shoppers=args.shoppers, minutes=args.minutes, seed=s, noise=noise))
            for s in args.seeds
        ]
        rows.append((name, runs))
    print(
        f"{args.shoppers} shoppers x {args.minutes:g} min x seeds {args.seeds}, 4 cameras "
        f"({time.perf_counter() - t:.0f} s)\n"
    )
    head = (
        "| setting | people | visits fused (err) | visits naive (err) | journeys exact "
        "| occupancy MAE fused | naive | hand-offs |"
    )
    print(head)
    print("|" + "---|" * 8)
    for name, runs in rows:
        people = sum(r.shoppers for r in runs)
        fused = sum(r.visits_fused for r in runs)
        naive = sum(r.visits_naive for r in runs)
        exact = sum(r.journeys_exact for r in runs)
        mae_f = sum(r.occupancy_mae_fused for r in runs) / len(runs)
        mae_n = sum(r.occupancy_mae_naive for r in runs) / len(runs)
        mean_true = sum(r.occupancy_mean_true for r in runs) / len(runs)
        print(
            f"| {name} | {people} | {fused} ({(fused - people) / people:+.1%}) | {naive} "
            f"({(naive - people) / people:+.0%}) | {exact / people:.1%} | {mae_f:.2f} of {mean_true:.1f} "
            f"| {mae_n:.2f} | {sum(r.handoffs for r in runs)} |"
        )


if __name__ == "__main__":
    main()
