"""Behaviour-analytics cost, ours next to plain-Python baselines from the same run.

1. Per-frame cost with 50 concurrent tracks (target: median < 1 ms). A calibrated camera with six
   zones of every kind (shelf ... staff_only), an image line and a floor line, 50 people random-
   walking; we time ``BehaviourStage.update`` (floor mapping, zones and dwell, revisits, speed,
   lingering, lines, queues, paths, staff, heat map, peak occupancy) and ``ZoneAnalytics.update``
   alone. Baseline ("per-track loop"): the same measures the way most open-source zone counters
   are written: for every track, project its feet point with Python arithmetic, test every zone
   with a pure-Python ray-casting point-in-polygon, keep dwell/grace, speed history, lingering,
   line side, path, staff time and heat cells in per-track dicts (without building events); and
   the zones-only part of it against ``ZoneAnalytics``. Times are CPU time of the benchmark
   thread (``time.thread_time``) next to wall time, because the machine is shared.
   1b: the same with 200 tracks, to show how each scales.
2. Heat-map aggregation of one million floor points (target: < 1 s): ``aggregate_points`` (traffic
   = unique visits per cell, dwell seconds per cell) vs a per-point Python loop with a dict of
   cells and a set of (cell, visit) pairs.

    .venv/bin/python bench/analytics.py [--frames 600] [--points 1000000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from storelens.analytics.heatmap import HeatmapGrid, aggregate_points
from storelens.analytics.stage import BehaviourStage
from storelens.analytics.zones import ZoneAnalytics
from storelens.config.store import StoreConfig
from storelens.core.types import Tracks

N_TRACKS = 50
KINDS = ("shelf", "aisle", "display", "queue", "checkout", "staff_only")


def bench_store() -> StoreConfig:
    return StoreConfig.model_validate(
        {
            "store_id": "bench",
            "cameras": [
                {
                    "id": "cam",
                    "source": "x",
                    "calibration": {
                        "image_points": [[100, 700], [1180, 700], [1000, 200], [280, 200], [640, 450]],
                        "floor_points": [[0, 0], [12, 0], [12, 20], [0, 20], [6, 6.5]],
                    },
                }
            ],
            "zones": [
                {
                    "id": f"z{i}",
                    "kind": kind,
                    "camera": "cam",
                    "points": [[x, 300], [x + 200, 300], [x + 200, 650], [x, 650]],
                }
                for i, (x, kind) in enumerate(zip(range(50, 1250, 200), KINDS, strict=True))
            ],
            "lines": [
                {"id": "door", "camera": "cam", "a": [0, 600], "b": [1280, 600]},
                {"id": "mid", "space": "floor", "a": [6, 0], "b": [6, 20]},
            ],
        }
    )


def random_walk_frames(n_frames: int, n_tracks: int = N_TRACKS, seed: int = 0) -> list[Tracks]:
    rng = np.random.default_rng(seed)
    pos = rng.uniform([0, 220], [1280, 700], size=(n_tracks, 2))
    frames = []
    for _ in range(n_frames):
        pos = np.clip(pos + rng.normal(0, 6, size=pos.shape), [0, 220], [1279, 719])
        xyxy = np.concatenate([pos - np.array([15, 120]), pos + np.array([15, 0])], axis=1)
        frames.append(
            Tracks(
                xyxy=xyxy,
                score=np.ones(n_tracks),
                class_id=np.zeros(n_tracks),
                track_id=np.arange(n_tracks),
                detection_index=np.arange(n_tracks),
            )
        )
    return frames


class NaiveAnalytics:
    """The baseline: the same measures as a Python loop per track and per zone, dict state per track
    (how most open-source zone counters are written)."""

    def __init__(self, store: StoreConfig, h: npt.NDArray[np.float64], zones_only: bool = False) -> None:
        b = store.behaviour
        za = store.zone_analytics
        self.zones = [(z.id, z.kind, [tuple(p) for p in z.points]) for z in store.zones]
        self.lines = [(ln.space, ln.a, ln.b) for ln in store.lines]
        self.h = h.tolist()
        self.cell = b.heatmap.cell_m
        self.zones_only = zones_only
        self.enter, self.exit, self.min_dwell = za.enter_grace_s, za.exit_grace_s, za.min_dwell_s
        self.slow, self.linger_s, self.step = b.lingering_speed_mps, b.lingering_min_s, b.path_min_step_m
        self.stays: dict[tuple[int, str], list[float]] = {}  # first, last, announced
        self.finished: list[tuple[int, str, float]] = []
        self.history: dict[int, list[tuple[float, float, float]]] = {}
        self.linger: dict[tuple[int, str], float] = {}
        self.side: dict[tuple[int, int], bool] = {}
        self.crossings = 0
        self.paths: dict[int, list[tuple[float, float, float]]] = {}
        self.staff_s: dict[int, float] = {}
        self.heat: dict[tuple[int, int], float] = {}
        self.visits: set[tuple[int, int, int]] = set()
        self.last_t = 0.0

    @staticmethod
    def inside(x: float, y: float, poly: list[tuple[float, float]]) -> bool:
        c = False
        j = len(poly) - 1
        for i in range(len(poly)):
            xi, yi = poly[i]
            xj, yj = poly[j]
            if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
                c = not c
            j = i
        return c

    def update(self, tracks: Tracks, t: float) -> None:
        dt = t - self.last_t
        self.last_t = t
        (h00, h01, h02), (h10, h11, h12), (h20, h21, h22) = self.h
        present = set()
        for tid, (x1, _y1, x2, y2) in zip(tracks.track_id.tolist(), tracks.xyxy.tolist(), strict=True):
            fx, fy = (x1 + x2) / 2, y2
            w = h20 * fx + h21 * fy + h22
            gx, gy = (h00 * fx + h01 * fy + h02) / w, (h10 * fx + h11 * fy + h12) / w
            hist = self.history.setdefault(tid, [])
            hist.append((t, gx, gy))
            while len(hist) > 2 and hist[1][0] <= t - 1.0:
                hist.pop(0)
            speed = float("inf") if len(hist) < 2 else np.hypot(gx - hist[0][1], gy - hist[0][2]) / (t - hist[0][0])
            for zid, kind, poly in self.zones:
                key = (tid, zid)
                if self.inside(fx, fy, poly):
                    present.add(key)
                    st = self.stays.setdefault(key, [t, t, 0.0])
                    st[1] = t
                    if not st[2] and t - st[0] >= max(self.enter, self.min_dwell):
                        st[2] = 1.0
                    if self.zones_only:
                        continue
                    if speed < self.slow:
                        self.linger.setdefault(key, t)
                    else:
                        self.linger.pop(key, None)
                    if kind == "staff_only":
                        self.staff_s[tid] = self.staff_s.get(tid, 0.0) + dt
            if self.zones_only:
                continue
            for li, (space, (ax, ay), (bx, by)) in enumerate(self.lines):
                px, py = (gx, gy) if space == "floor" else (fx, fy)
                s = (bx - ax) * (py - ay) - (by - ay) * (px - ax) > 0
                old = self.side.get((tid, li))
                if old is not None and old != s:
                    self.crossings += 1
                self.side[(tid, li)] = s
            path = self.paths.setdefault(tid, [(t, gx, gy)])
            if np.hypot(gx - path[-1][1], gy - path[-1][2]) >= self.step:
                path.append((t, gx, gy))
            cell = (int(gx // self.cell), int(gy // self.cell))
            self.heat[cell] = self.heat.get(cell, 0.0) + dt
            self.visits.add((cell[0], cell[1], tid))
        for key in [k for k, st in self.stays.items() if k not in present and t - st[1] >= self.exit]:
            first, last, announced = self.stays.pop(key)
            if announced:
                self.finished.append((key[0], key[1], last - first))


def time_per_frame(
    update: Callable[[Tracks, float], object], frames: list[Tracks], warmup: int
) -> tuple[list[float], list[float]]:
    """(wall ms, thread CPU ms) per frame after ``warmup`` frames."""
    wall, cpu = [], []
    for i, tr in enumerate(frames):
        t = i / 10
        w0, c0 = time.perf_counter(), time.thread_time()
        update(tr, t)
        if i >= warmup:
            cpu.append((time.thread_time() - c0) * 1000)
            wall.append((time.perf_counter() - w0) * 1000)
    return wall, cpu


def per_frame(store: StoreConfig, n_tracks: int, n_frames: int, section: str) -> None:
    frames = random_walk_frames(n_frames, n_tracks)
    warmup = min(100, n_frames // 5)
    stage = BehaviourStage(store, "cam")
    assert stage.mapper is not None
    h = stage.mapper.homography
    zones = ZoneAnalytics(store, "cam")
    naive_all = NaiveAnalytics(store, h)
    naive_zones = NaiveAnalytics(store, h, zones_only=True)
    runs = {
        "ours: BehaviourStage.update (all)": lambda tr, t: stage.update(tr, t, 1.8e9 + t, frame_size=(1280, 720)),
        "baseline: per-track loop (all)": naive_all.update,
        "ours: ZoneAnalytics.update": lambda tr, t: zones.update(tr, t, 1.8e9 + t),
        "baseline: per-track loop (zones)": naive_zones.update,
    }
    res = {name: time_per_frame(fn, frames, warmup) for name, fn in runs.items()}
    print(
        f"{section}. per-frame analytics, {n_tracks} tracks, {len(store.zones)} zones, {len(store.lines)} lines, "
        f"{len(frames) - warmup} timed frames"
    )
    print(f"   {'':36s} {'CPU median ms':>13s} {'wall median':>11s} {'wall p90':>9s}")
    for name, (wall, cpu) in res.items():
        med_cpu, med_wall, p90 = statistics.median(cpu), statistics.median(wall), np.percentile(wall, 90)
        print(f"   {name:36s} {med_cpu:13.3f} {med_wall:11.3f} {p90:9.3f}")
    names = list(res)
    for ours_name, base_name in ((names[0], names[1]), (names[2], names[3])):
        ratio = statistics.median(res[base_name][1]) / statistics.median(res[ours_name][1])
        print(f"   ratio {base_name.split(': ')[1]} / {ours_name.split(': ')[1]}: {ratio:.1f}x (CPU)")
    if n_tracks == N_TRACKS:
        m_cpu = statistics.median(res[names[0]][1])
        verdict = "met" if m_cpu < 1.0 else "NOT met"
        print(f"   target < 1 ms per frame at {N_TRACKS} tracks (CPU time of this thread): {verdict}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--points", type=int, default=1_000_000)
    args = ap.parse_args()
    store = bench_store()
    per_frame(store, N_TRACKS, args.frames, "1")
    per_frame(store, 4 * N_TRACKS, args.frames // 2, "1b")

    rng = np.random.default_rng(1)
    n = args.points
    xy = rng.uniform(0, [40.0, 25.0], size=(n, 2))
    subjects = rng.integers(0, 5000, n)
    grid = HeatmapGrid.covering("floor", 40.0, 25.0, 0.5)
    t0 = time.perf_counter()
    traffic, dwell = aggregate_points(grid, xy, subjects, 0.1)
    t_ours = time.perf_counter() - t0

    t0 = time.perf_counter()
    ref_dwell: dict[int, float] = {}
    pairs: set[tuple[int, int]] = set()
    for (x, y), s in zip(xy.tolist(), subjects.tolist(), strict=True):
        cx, cy = int(x // 0.5), int(y // 0.5)
        if 0 <= cx < grid.nx and 0 <= cy < grid.ny:
            c = cy * grid.nx + cx
            ref_dwell[c] = ref_dwell.get(c, 0.0) + 0.1
            pairs.add((c, s))
    ref_traffic: dict[int, int] = {}
    for c, _ in pairs:
        ref_traffic[c] = ref_traffic.get(c, 0) + 1
    t_base = time.perf_counter() - t0
    same = all(traffic[c] == v for c, v in ref_traffic.items()) and abs(dwell.sum() - sum(ref_dwell.values())) < 1e-3
    print(f"2. heat-map aggregation of {n:,} floor points ({grid.nx}x{grid.ny} cells, 5,000 visits)")
    print(f"   ours: aggregate_points           {t_ours * 1000:9.1f} ms")
    print(f"   baseline: per-point Python loop  {t_base * 1000:9.1f} ms")
    print(
        f"   ratio baseline/ours: {t_base / t_ours:.1f}x; same result: {same}; target < 1 s: "
        f"{'met' if t_ours < 1.0 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
