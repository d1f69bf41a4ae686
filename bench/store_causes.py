"""Where extra store visits come from (issue 18): every store visit that is not a shopper's first,
counted by what the fusion saw when it started it.

The same play as :func:`storelens.sim.store_eval.evaluate_store` (simulated store, four virtual
cameras, real FloorMapper and StoreLevelStage). Each time a store visit starts, its sightings'
ground truth says which shopper it is; if that shopper already had a store subject, the new visit
is an extra one and its cause is read from the fusion's state just before the tick:

* ``overlap``: the shopper's previous store subject is seen *now* by another camera (the overlap
  join failed: too far apart, colours below the gate, or that subject drifted and split);
* ``switch``: the new visit's camera track was unlinked from a live subject by the colour switch
  rule (its tracker swapped ids) and found no store subject to go back to;
* ``split``: the same, unlinked because it drifted more than twice the gate from its subject;
* ``exit``: the previous subject was lost inside an entrance zone (the door rule refused it);
* ``late``: lost longer than ``handoff_s`` (or already forgotten);
* ``colour``: lost within ``handoff_s`` and reachable, but colours below the gate;
* ``far``: lost within ``handoff_s``, farther than it could have walked;
* ``taken``: reachable and alike, but the assignment gave the sighting to someone else.

And per extra visit how long it lasted and how many ticks it was seen (short ones are ghosts).

    .venv/bin/python bench/store_causes.py [--seeds 0 1 2] [--clean]

A diagnostic for tuning: run it on the tuning seeds only.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict

import numpy as np

from storelens.analytics.floor import FloorMapper
from storelens.analytics.storelevel import StoreLevelStage
from storelens.core.geometry import points_in_polygon
from storelens.sim.cameras import FRAME_H, camera_frames, demo_cameras, store_with_cameras
from storelens.sim.layout import StoreLayout
from storelens.sim.noise import NoiseConfig
from storelens.sim.runner import SimConfig, plan_shoppers
from storelens.tracking.appearance import similarity


def causes(cfg: SimConfig) -> tuple[int, int, list[dict[str, object]], int]:
    """(people, visits, one record per extra visit, people with no store visit at all)."""
    layout = StoreLayout.demo()
    cams = demo_cameras()
    store = store_with_cameras(layout, cams, cfg.store_id)
    plans = plan_shoppers(layout, cfg)
    mappers = {c.id: FloorMapper(c.calibration()) for c in cams}
    stage = StoreLevelStage(store, seed=cfg.seed)
    fusion = stage.fusion
    fcfg = fusion.cfg
    exits = fusion._exits  # a diagnostic reads the fusion's state
    owner_of: dict[int, int] = {}  # store subject -> shopper (at its start)
    last_of: dict[int, int] = {}  # shopper -> latest store subject
    extras: list[dict[str, object]] = []
    seen_ticks: Counter[int] = Counter()
    sight: dict[int, Counter[int]] = defaultdict(Counter)  # shopper -> store subject -> sightings
    first_t: dict[int, float] = {}
    last_t: dict[int, float] = {}
    for frame in camera_frames(layout, cfg, cams, plans):
        wall = frame.wall
        links_before = fusion.links()
        hist = {g: h[-1] for g, h in fusion._hist.items()}
        apps = dict(fusion._app)
        unlike = set(fusion._unlike)
        before = set(stage.visits)
        for cid, tracks in frame.cameras.items():
            stage.update(cid, mappers[cid].map(tracks, FRAME_H), wall, advance=False)
        stage.step(wall)
        links = fusion.links()
        members: dict[int, list[tuple[str, int, int, np.ndarray | None]]] = defaultdict(list)
        for cid, tracks in frame.cameras.items():
            app = tracks.data["appearance"]
            for k, (tid, shopper) in enumerate(
                zip(tracks.track_id.tolist(), tracks.data["shopper"].tolist(), strict=True)
            ):
                g = links.get((cid, int(tid)))
                if g is not None:
                    members[g].append((cid, int(tid), int(shopper), app[k]))
        for g, ms in members.items():
            for m in ms:
                sight[m[2]][g] += 1
            seen_ticks[g] += 1
            first_t.setdefault(g, wall)
            last_t[g] = wall
        for g in set(stage.visits) - before:
            ms = members.get(g, [])
            if not ms:
                continue
            shopper = Counter(m[2] for m in ms).most_common(1)[0][0]
            owner_of[g] = shopper
            prev = last_of.get(shopper)
            last_of[shopper] = g
            if prev is None:
                continue
            cid, tid, _, app = ms[0]
            rec: dict[str, object] = {"seed": cfg.seed, "g": g, "shopper": shopper, "t": wall - cfg.start_wall}
            xy = mappers[cid].map(frame.cameras[cid], FRAME_H).floor_xy
            row = frame.cameras[cid].track_id.tolist().index(tid)
            assert xy is not None
            ox, oy = float(xy[row, 0]), float(xy[row, 1])
            rec["xy"] = (round(ox, 1), round(oy, 1))
            if (cid, tid) in links_before:
                rec["cause"] = "switch" if (cid, tid) in unlike else "split"
                old = links_before[(cid, tid)]
                rec["old_owner"] = owner_of.get(old)
                rec["prev_live"] = [(m[0], m[2]) for m in members.get(prev, [])]
                t = apps.get(prev)
                rec["sim_prev"] = None if t is None else round(float(similarity(app, t)[0, 0]), 3)
                t = apps.get(old)
                rec["sim_old"] = None if t is None else round(float(similarity(app, t)[0, 0]), 3)
            elif prev in members and prev != g:
                rec["cause"] = "overlap"
                pm = members[prev]
                rec["prev_cams"] = sorted({m[0] for m in pm})
                rec["same_cam"] = cid in rec["prev_cams"]
                t = apps.get(prev)
                rec["sim"] = None if t is None else round(float(similarity(app, t)[0, 0]), 3)
            elif prev not in hist:
                rec["cause"] = "late"
                rec["dt"] = round(wall - last_t.get(prev, wall), 1)
            else:
                t_last, x, y = hist[prev]
                dt = wall - t_last
                rec["dt"] = round(dt, 2)
                at_exit = any(points_in_polygon(np.array([[x, y]]), p)[0] for p in exits)
                dist = float(np.hypot(ox - x, oy - y))
                t = apps.get(prev)
                sim = None if t is None else float(similarity(app, t)[0, 0])
                rec["sim"] = None if sim is None else round(sim, 3)
                rec["dist"] = round(dist, 2)
                if dt > fcfg.handoff_s:
                    rec["cause"] = "late"
                elif at_exit:
                    rec["cause"] = "exit"
                elif dist > fcfg.max_distance_m + fcfg.handoff_speed_mps * dt:
                    rec["cause"] = "far"
                elif sim is not None and sim < fcfg.appearance_min:
                    rec["cause"] = "colour"
                else:
                    rec["cause"] = "taken"
            rec["prev_ticks"] = seen_ticks[prev]
            extras.append(rec)
    stage.close(wall + 1.0)
    for r in extras:
        g = int(r["g"])  # type: ignore[call-overload]
        if not g:
            continue
        r["ticks"] = seen_ticks[g]
        r["dur"] = round(last_t.get(g, 0.0) - first_t.get(g, 0.0), 1)
    missing = len(plans) - len(last_of)
    for p in plans:
        if p.shopper not in last_of:  # every sighting went to a store subject started for someone else
            into = [(owner_of.get(g), k) for g, k in sight[p.shopper].most_common(2)]
            extras.append({"seed": cfg.seed, "g": 0, "shopper": p.shopper, "cause": "absorbed", "into": into})
    return len(plans), stage.visits_total, extras, missing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--shoppers", type=int, default=40)
    ap.add_argument("--minutes", type=float, default=12.0)
    ap.add_argument("--clean", action="store_true", help="without the noise model")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every extra visit")
    args = ap.parse_args()
    noise = NoiseConfig.off() if args.clean else NoiseConfig.realistic()
    total: Counter[str] = Counter()
    people = visits = missing = 0
    for s in args.seeds:
        n, v, extras, miss = causes(SimConfig(shoppers=args.shoppers, minutes=args.minutes, seed=s, noise=noise))
        people += n
        visits += v
        missing += miss
        for r in extras:
            if r["cause"] != "absorbed":
                total[str(r["cause"])] += 1
            if args.verbose:
                print(r)
    print(
        f"seeds {args.seeds}: {people} people, {visits} store visits, {sum(total.values())} extra, "
        f"{missing} people never a visit"
    )
    for cause, k in total.most_common():
        print(f"  {cause}: {k}")


if __name__ == "__main__":
    main()
