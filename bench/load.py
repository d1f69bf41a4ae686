"""Load test: how many cameras' worth of shoppers one CPU core turns into intent, in real time.

Each simulated camera is the demo store's floor seen at ``--fps`` with ``--shoppers`` arriving over
``--minutes`` (plus one staff member; the run lasts until the last visit ends), observed with the
realistic tracker/interaction/expression noise of ``NoiseConfig.realistic``. Its tracks go through
what a server runs after detection and tracking: the behaviour analytics (``StoreBehaviourStage``),
the intent engine, the action rules, and the event path into the database (``DatabaseSink`` into
SQLite: batched, idempotent inserts with the aggregate and visit projections). The simulator's own
cost (planning trajectories, injecting noise) is not counted: analytics, intent and actions are
timed with the thread's CPU clock inside the run, storage by the sink's wall time from first write
to drain.

Baseline, same observations in the same run: the dwell-threshold rule
(``storelens.sim.baseline``) in place of the intent engine, the simplest "intent" there is.

Reported per camera-second of video: CPU ms per stage, and how many such cameras one core keeps
up with in real time (1000 ms / total ms). Detection and tracking are not included: they are
``bench/pipeline.py``'s (48 ms per frame for YOLO11n-pose on this CPU), and on a real server they
run on a GPU or a CPU of their own per camera.

    .venv/bin/python bench/load.py [--cameras 100] [--shoppers 20] [--minutes 2] [--fps 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from storelens.actions.dispatcher import ActionEngine
from storelens.config.actions import ActionsConfig
from storelens.events.models import Event
from storelens.intent.engine import IntentEngine
from storelens.sim.baseline import DwellThresholdBaseline
from storelens.sim.layout import StoreLayout
from storelens.sim.noise import NoiseConfig
from storelens.sim.runner import IntentLike, SimConfig, run_simulation
from storelens.sim.scripts import ShopperPlan
from storelens.sinks.database import DatabaseSink
from storelens.storage import count_events, open_database

OURS = "ours"
BASE = "dwell-threshold rule"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=100, help="simulated cameras (one store floor each)")
    ap.add_argument("--shoppers", type=int, default=20, help="shoppers per camera over --minutes")
    ap.add_argument("--minutes", type=float, default=2.0, help="arrivals spread over this; visits run to their end")
    ap.add_argument("--fps", type=float, default=5.0)
    args = ap.parse_args()
    layout = StoreLayout.demo()
    cpu: defaultdict[str, float] = defaultdict(float)
    sim_s = 0.0
    samples = 0
    frames = 0
    peak_concurrent = 0
    stored_wall = 0.0
    written = 0
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(Path(tmp) / "load.db")
        sink = DatabaseSink(db, spool_dir=Path(tmp) / "spool", max_pending=2_000_000)
        for cam in range(args.cameras):
            cfg = SimConfig(
                shoppers=args.shoppers,
                minutes=args.minutes,
                seed=10_000 + cam,
                fps=args.fps,
                noise=NoiseConfig.realistic(),
                store_id=f"load-{cam:03d}",
            )
            engines: dict[str, IntentLike] = {
                OURS: IntentEngine(cfg.store_id, zones=layout.zones),
                BASE: DwellThresholdBaseline(cfg.store_id, layout.zones),
            }
            actions = {n: ActionEngine(cfg.store_id, ActionsConfig(dry_run=True), zones=layout.zones) for n in engines}
            r = run_simulation(layout, cfg, engines, actions)
            for k, v in r.cpu_s.items():
                cpu[k] += v
            sim_s += r.sim_seconds
            samples += r.samples
            frames += r.frames
            peak_concurrent = max(peak_concurrent, _peak_concurrent(r.plans))
            # the event path: what this camera's server would store (observations + our outputs)
            events: list[Event] = [*r.observed, *r.outputs[OURS]]
            written += len(events)
            t0 = time.perf_counter()
            for i in range(0, len(events), 200):
                sink.write(events[i : i + 200])
            if not sink.drain(600):
                raise RuntimeError("the database sink did not drain")
            stored_wall += time.perf_counter() - t0
        sink.close()
        with db.begin() as conn:
            stored = count_events(conn)
        db.close()
    if stored != written:
        raise RuntimeError(f"stored {stored} events, expected {written}")
    cam_s = sim_s  # camera-seconds of video
    per = {k: 1000.0 * v / cam_s for k, v in cpu.items()}
    store_ms = 1000.0 * stored_wall / cam_s
    ours = per["analytics"] + per[f"intent:{OURS}"] + per[f"actions:{OURS}"] + store_ms
    base = per["analytics"] + per[f"intent:{BASE}"] + per[f"actions:{BASE}"] + store_ms
    print(
        f"## Load: {args.cameras} cameras x {args.minutes:g} min at {args.fps:g} fps, {args.shoppers} shoppers "
        f"+ 1 staff each (up to {peak_concurrent} at once), realistic noise"
    )
    print(
        f"{cam_s / 3600:.1f} camera-hours, {frames:,} frames, {samples:,} track observations, "
        f"{stored:,} events stored (SQLite); {time.perf_counter() - t_all:.0f} s in all\n"
    )
    print("| per camera-second of video (CPU ms) | ours | dwell-threshold rule |")
    print("|---|---|---|")
    print(f"| behaviour analytics (zones, dwell, lingering, queues, staff) | {per['analytics']:.2f} | (same) |")
    print(f"| intent | {per[f'intent:{OURS}']:.2f} | {per[f'intent:{BASE}']:.2f} |")
    print(f"| actions (promotions, alerts, inventory) | {per[f'actions:{OURS}']:.2f} | {per[f'actions:{BASE}']:.2f} |")
    print(f"| storing events (wall, DatabaseSink -> SQLite) | {store_ms:.2f} | (same) |")
    print(f"| total | {ours:.2f} | {base:.2f} |")
    print(f"| cameras one core keeps up with in real time | {1000.0 / ours:.0f} | {1000.0 / base:.0f} |")
    intent_ratio = per[f"intent:{OURS}"] / per[f"intent:{BASE}"]
    print(f"\nours / baseline cost: {ours / base:.2f}x; intent alone: {intent_ratio:.1f}x")
    print(f"track observations per CPU second (ours, all stages): {samples / (ours * cam_s / 1000.0):,.0f}")


def _peak_concurrent(plans: list[ShopperPlan]) -> int:
    """Most visits (staff included) in the store at the same moment."""
    spans = sorted([(p.traj.start, 1) for p in plans] + [(p.end, -1) for p in plans])
    n = peak = 0
    for _, d in spans:
        n += d
        peak = max(peak, n)
    return peak


if __name__ == "__main__":
    main()
