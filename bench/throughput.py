"""How many live cameras one machine sustains: storelens's configuration against the naive way.

N cameras play the bundled clips as live cameras: each is decoded in real time at the clip's own
frame rate by a capture thread that keeps only the newest frame (a frame the analyser has not
taken when the next one arrives is dropped, as an RTSP client does), and each camera's analyser
takes a frame at most every 1/--fps s and runs every stage of the demo store (detector, tracker,
visit stitching, zones, lines, behaviour, interaction, emotion, intent, self-check). Three
configurations, each in its own process per trial (so RSS is that configuration's own):

- **baseline**, the naive way: the same pose model, FP32 onnxruntime, square 640x640 letterbox,
  detection on every analysed frame, one thread per camera whose session asks for every core;
- **storelens**: the INT8 model (``yolo11n-pose-int8``, shipped because it agrees with FP32, see
  scripts/quantize_detector.py), the camera's rectangular input (640x384), motion gating with a
  2 s longest gap (detector.gating), one onnxruntime thread per camera session;
- **shared**: storelens's configuration with one session for every camera (``detector.shared``,
  the runner's :class:`~storelens.vision.shared_detector.SharedDetectorPool`), frames batched,
  its threads set once for the machine (all cores).

For each, the largest N at which every camera keeps >= --fps analysed frames/s (all but at most
one of the window's frames) and the worst camera's frame-to-event latency p95 (capture of a frame to the
publication of its events) stays < 1 s is found by doubling then bisecting, with short trials.
Printed: ``sustained cameras: N`` for each, the ratios (each to the baseline, shared to
storelens), CPU % (of one core) and RSS per camera,
latency p50/p95 and the share of frames the detector ran on. On a machine shared with other work
the sustained N depends on what else runs (each trial prints the load average); the CPU one camera
costs per analysed second is much steadier, so the table also gives it at the target rate and the
cameras the machine's cores would carry at that cost (``by CPU``). Then the accuracy side, offline on
the demo clips (no drops, deterministic): visits, per-zone dwell totals and line counts of
storelens's configuration against the baseline's full-rate output (every frame of the clip).

Run with the machine to itself (other benchmarks skew every figure):
`.venv/bin/python bench/throughput.py`  (about 10 minutes on 2 cores;
`--quick` for a 5 s window and no accuracy run; `--only storelens shared` searches just those;
`--levers --n 4` adds one lever at a time at 4 cameras;
`--processes K` splits each trial's cameras over K processes instead of threads in one).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from storelens.config import load_config  # noqa: E402
from storelens.config.store import StoreConfig  # noqa: E402
from storelens.core.types import Frame  # noqa: E402
from storelens.events.bus import EventBus  # noqa: E402
from storelens.events.models import Event, EventType  # noqa: E402
from storelens.pipeline.build import build_camera  # noqa: E402
from storelens.vision.base import Detector  # noqa: E402
from storelens.vision.detector import YoloDetector  # noqa: E402
from storelens.vision.shared_detector import SharedDetectorPool  # noqa: E402

DEMO = ROOT / "examples" / "demo" / "store.yaml"
SHARED_VIDEO = ROOT.parent / "shared" / "data" / "video"
KINDS = ("baseline", "storelens", "shared")
LEVERS: dict[str, dict[str, Any]] = {
    # one lever added at a time, baseline -> storelens (``--levers``)
    "baseline": {"model": "yolo11n-pose", "threads": 0, "gating": {"enabled": False}},
    "+ rect 640x384": {"model": "yolo11n-pose", "threads": 0, "gating": {"enabled": False}},
    "+ INT8": {"model": "yolo11n-pose-int8", "threads": 0, "gating": {"enabled": False}},
    "+ 1 thread/camera": {"model": "yolo11n-pose-int8", "threads": 1, "gating": {"enabled": False}},
    "storelens": {"model": "yolo11n-pose-int8", "threads": 1, "gating": {"enabled": True, "max_gap_s": 2.0}},
    # the same with one session for every camera (detector.shared), its threads set once: all cores
    "shared": {
        "model": "yolo11n-pose-int8",
        "threads": 0,
        "gating": {"enabled": True, "max_gap_s": 2.0},
        "shared": True,
    },
}
FRAME_SLACK = 1.5  # a camera may miss one frame of the window (where the window cuts the frame clock)
LATENCY_P95_MAX_S = 1.0
GATING = {"enabled": True, "max_gap_s": 2.0}


# -- configurations ---------------------------------------------------------------------------------
def store_for(kind: str, n: int, fps: float, clips: str) -> tuple[StoreConfig, list[tuple[str, Path, float]]]:
    """The demo store with ``n`` cameras; camera i plays the counter clip (768x432) from a staggered
    start, so cameras do not all see the same shopper at the same moment (``clips="all"`` also
    mixes in the entrance clip and the 480x270 GIFs). Returns the config and (camera id, clip,
    start offset in s) per camera."""
    base = load_config(DEMO)
    data = base.model_dump()
    by_id = {c["id"]: c for c in data["cameras"]}
    plan: list[tuple[str, Path]] = [("counter-cam", ROOT / "examples" / "demo" / "one-by-one.mp4")]
    if clips == "all":
        plan.append(("entrance-cam", ROOT / "examples" / "demo" / "entrance.mp4"))
        for gif in ("store-aisle-detection.gif", "people-detection.gif", "worker-zone-detection.gif"):
            if (SHARED_VIDEO / gif).is_file():
                plan.append(("", SHARED_VIDEO / gif))
    cams, zones, lines, feeds = [], [], [], []
    for i in range(n):
        template, clip = plan[i % len(plan)]
        cid = f"cam{i:02d}"
        cam = dict(by_id[template] if template else by_id["counter-cam"])
        cam.update(id=cid, name=cid, source=str(clip), fps=fps)
        cams.append(cam)
        if template:
            zones += [dict(z, id=f"{z['id']}-{i}", camera=cid) for z in data["zones"] if z["camera"] == template]
            lines += [dict(ln, id=f"{ln['id']}-{i}", camera=cid) for ln in data["lines"] if ln["camera"] == template]
        feeds.append((cid, clip, (i * 37.0) % 130.0 if clip.suffix == ".mp4" and clip.stem == "one-by-one" else 0.0))
    data.update(cameras=cams, zones=zones, lines=lines)
    data["actions"] = {}  # promotion rules name the demo's zones; the copies have their own ids
    det = data["detector"]
    det.update(device="cpu", **LEVERS[kind])
    cfg = StoreConfig.model_validate(data)
    cfg.base_dir = base.base_dir
    return cfg, feeds


def detector_for(cfg: StoreConfig, kind: str, camera_id: str, pool: SharedDetectorPool | None = None) -> Detector:
    """The camera's detector: its own session, or (``detector.shared``) a view onto ``pool``'s one
    session, as the supervised runner gives it."""
    if cfg.detector.shared and pool is not None:
        return pool.for_camera(cfg.detector, cfg.base_dir, cfg.camera(camera_id).detector_input_size)
    square = (640, 640) if kind == "baseline" else None
    return YoloDetector(cfg.detector_for(camera_id), base_dir=cfg.base_dir, input_shape=square)


# -- a live camera ----------------------------------------------------------------------------------
@dataclass
class Slot:
    """The newest captured frame, as an RTSP client holds it: a new frame replaces an untaken one."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    frame: Frame | None = None
    captured: float = 0.0
    dropped: int = 0
    captured_n: int = 0


def capture(clip: Path, start_s: float, slot: Slot, camera_id: str, stop: threading.Event) -> None:
    """Decode ``clip`` in real time from ``start_s``, looping, into ``slot``."""
    import av

    t0 = time.perf_counter()
    media = 0.0  # media time of this camera since it started (monotonic over loops)
    index = 0
    first = True
    while not stop.is_set():
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            rate = float(stream.average_rate or 10)
            if first and start_s > 0 and stream.time_base is not None:
                container.seek(int(start_s / stream.time_base), stream=stream)
            first = False
            for vf in container.decode(stream):
                if stop.is_set():
                    return
                due = t0 + media
                media += 1.0 / rate
                now = time.perf_counter()
                if now > due + 1.0 / rate:  # the decoder itself fell behind: a lost frame
                    slot.dropped += 1
                    continue
                if due > now:
                    time.sleep(due - now)
                image = vf.to_ndarray(format="bgr24")
                frame = Frame(camera_id, index, media, time.time(), image)
                index += 1
                with slot.cond:
                    if slot.frame is not None:
                        slot.dropped += 1
                    slot.frame, slot.captured = frame, time.perf_counter()
                    slot.captured_n += 1
                    slot.cond.notify()


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    analysed: int = 0


def analyse(built: Any, slot: Slot, fps: float, stop: threading.Event, window: list[float], tally: Tally) -> None:
    """Take the newest frame at most ``fps`` times a second and run it through every stage."""
    period = 1.0 / fps
    next_t = time.perf_counter()
    pipeline = built.pipeline
    while not stop.is_set():
        now = time.perf_counter()
        if next_t > now:
            time.sleep(next_t - now)
        with slot.cond:
            while slot.frame is None and not stop.is_set():
                slot.cond.wait(0.2)
            frame, captured = slot.frame, slot.captured
            slot.frame = None
        if frame is None:
            break
        next_t = max(next_t + period, time.perf_counter() - period)
        pipeline.process(frame)
        done = time.perf_counter()
        if window[0] <= captured and (window[1] == 0.0 or captured < window[1]):
            tally.analysed += 1
            tally.latencies.append(done - captured)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def trial(kind: str, n: int, fps: float, seconds: float, warmup: float, clips: str) -> dict[str, Any]:
    """One configuration with ``n`` cameras for ``seconds`` (after ``warmup``); runs in a child."""
    rss0 = rss_mb()
    cfg, feeds = store_for(kind, n, fps, clips)
    bus = EventBus()
    stop = threading.Event()
    window = [float("inf"), 0.0]
    cams = []
    pool = SharedDetectorPool()
    for cid, clip, start in feeds:
        cam = cfg.camera(cid)
        built = build_camera(cfg, cam, bus, None, detector=detector_for(cfg, kind, cid, pool))
        built.source.close()  # frames come from the paced capture below
        cams.append((built, clip, start, Slot(), Tally()))
    threads = []
    for built, clip, start, slot, tally in cams:
        cid = built.camera.id
        threads.append(threading.Thread(target=capture, args=(clip, start, slot, cid, stop), daemon=True))
        threads.append(threading.Thread(target=analyse, args=(built, slot, fps, stop, window, tally), daemon=True))
    for t in threads:
        t.start()
    time.sleep(warmup)
    cpu0, w0 = os.times(), time.perf_counter()
    window[0] = w0
    time.sleep(seconds)
    w1 = time.perf_counter()
    window[1] = w1
    cpu1 = os.times()
    rss = rss_mb()
    drops0 = [s.dropped for _, _, _, s, _ in cams]
    time.sleep(1.5)  # frames captured inside the window finish (or show their latency)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    pool.close(timeout=10)
    span = w1 - w0
    per_cam = []
    for (built, _, _, _slot, tally), d0 in zip(cams, drops0, strict=True):
        lat = np.array(tally.latencies) if tally.latencies else np.array([np.inf])
        p = built.pipeline.stats
        per_cam.append(
            {
                "fps": tally.analysed / span,
                "p50": float(np.percentile(lat, 50)),
                "p95": float(np.percentile(lat, 95)),
                "detect_ratio": p.detector_runs / p.frames if p.frames else 0.0,
                "dropped": d0,
            }
        )
    all_lat = np.concatenate([np.array(t.latencies) for *_, t in cams if t.latencies] or [np.array([np.inf])])
    cpu_s = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    min_fps = min(c["fps"] for c in per_cam)
    worst_p95 = max(c["p95"] for c in per_cam)
    return {
        "kind": kind,
        "n": n,
        "ok": bool(min_fps * span >= fps * span - FRAME_SLACK and worst_p95 < LATENCY_P95_MAX_S),
        "min_fps": min_fps,
        "mean_fps": float(np.mean([c["fps"] for c in per_cam])),
        "p50": float(np.percentile(all_lat, 50)),
        "p95": float(np.percentile(all_lat, 95)),
        "worst_p95": worst_p95,
        "cpu_pct_per_cam": 100 * cpu_s / span / n,
        "rss_mb_per_cam": rss / n,
        "rss_mb_added_per_cam": (rss - rss0) / n,
        "detect_ratio": float(np.mean([c["detect_ratio"] for c in per_cam])),
        "events": bus.published,
        "load_1min": os.getloadavg()[0],
    }


def run_child(kind: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """One trial of ``n`` cameras: threads in one child process, or (``--processes K``) the cameras
    split over K concurrent children, as camera workers as processes would run them."""
    k = max(1, min(getattr(args, "processes", 1), n))
    if k == 1:
        return _one_child(kind, n, args)
    counts = [n // k + (1 if i < n % k else 0) for i in range(k)]
    pipe = subprocess.PIPE
    procs = [subprocess.Popen(_child_cmd(kind, c, args), stdout=pipe, stderr=pipe, text=True) for c in counts]
    parts = [_child_result(kind, c, *p.communicate()) for c, p in zip(counts, procs, strict=True)]
    return _merge(parts, n)


def _child_cmd(kind: str, n: int, args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, __file__, "--trial", kind, "--n", str(n), "--fps", str(args.fps)]
    return [*cmd, "--seconds", str(args.seconds), "--warmup", str(args.warmup), "--clips", args.clips]


def _child_result(kind: str, n: int, stdout: str, stderr: str) -> dict[str, Any]:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
    raise RuntimeError(f"trial {kind} n={n} failed:\n{stderr[-3000:]}")


def _one_child(kind: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    out = subprocess.run(_child_cmd(kind, n, args), capture_output=True, text=True, check=False)
    return _child_result(kind, n, out.stdout, out.stderr)


def _merge(parts: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """Concurrent children as one trial: the worst camera decides, CPU and RSS are per camera over
    all of them (latency percentiles: the worst child's, a conservative reading)."""
    w = [p["n"] / n for p in parts]
    return {
        "kind": parts[0]["kind"],
        "n": n,
        "ok": all(p["ok"] for p in parts),
        "min_fps": min(p["min_fps"] for p in parts),
        "mean_fps": sum(p["mean_fps"] * x for p, x in zip(parts, w, strict=True)),
        "p50": max(p["p50"] for p in parts),
        "p95": max(p["p95"] for p in parts),
        "worst_p95": max(p["worst_p95"] for p in parts),
        "cpu_pct_per_cam": sum(p["cpu_pct_per_cam"] * x for p, x in zip(parts, w, strict=True)),
        "rss_mb_per_cam": sum(p["rss_mb_per_cam"] * x for p, x in zip(parts, w, strict=True)),
        "rss_mb_added_per_cam": sum(p["rss_mb_added_per_cam"] * x for p, x in zip(parts, w, strict=True)),
        "detect_ratio": sum(p["detect_ratio"] * x for p, x in zip(parts, w, strict=True)),
        "events": sum(p["events"] for p in parts),
        "load_1min": max(p["load_1min"] for p in parts),
    }


def search(kind: str, args: argparse.Namespace) -> tuple[int, dict[int, dict[str, Any]]]:
    """Largest sustained N: double from --start until a trial fails, then bisect."""
    trials: dict[int, dict[str, Any]] = {}

    def ok(n: int) -> bool:
        if n not in trials:
            trials[n] = run_child(kind, n, args)
            r = trials[n]
            print(
                f"  {kind:9} N={n:2d}  {'ok  ' if r['ok'] else 'FAIL'}  min fps {r['min_fps']:5.2f}  "
                f"worst p95 {r['worst_p95']:6.2f} s  detect {100 * r['detect_ratio']:3.0f} %  "
                f"cpu/cam {r['cpu_pct_per_cam']:5.1f} %  load {r['load_1min']:.1f}",
                flush=True,
            )
        return bool(trials[n]["ok"])

    lo, hi, n = 0, args.max_cameras + 1, 1
    while n <= args.max_cameras:
        if ok(n):
            lo = n
            n *= 2
        else:
            hi = n
            break
    if lo == args.max_cameras:
        return lo, trials
    hi = min(hi, args.max_cameras + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo, trials


# -- accuracy ---------------------------------------------------------------------------------------
def outcome(kind: str, camera_id: str, fps: float | None) -> dict[str, float]:
    """Visits, per-zone dwell and line counts of one demo camera's whole clip, offline."""
    base = load_config(DEMO)
    data = base.model_dump()
    det = data["detector"]
    if kind == "baseline":
        det.update(model="yolo11n-pose", threads=0, device="cpu", gating={"enabled": False})
    else:
        det.update(model="yolo11n-pose-int8", threads=0, device="cpu", gating=GATING)
    for cam in data["cameras"]:
        if fps is not None:
            cam["fps"] = fps
    cfg = StoreConfig.model_validate(data)
    cfg.base_dir = base.base_dir
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    cam = cfg.camera(camera_id)
    built = build_camera(cfg, cam, bus, None, detector=detector_for(cfg, kind, camera_id))
    stats = built.pipeline.run(built.source)
    built.close()
    out: dict[str, float] = defaultdict(float)
    out["visits"] = sum(1 for e in events if e.type == EventType.VISIT_ENDED)
    for e in events:
        if e.type == EventType.ZONE_EXITED:
            out[f"dwell {e.zone_id} s"] += float(e.payload.get("dwell_s", 0.0))
            out[f"stays {e.zone_id}"] += 1
    crossings = Counter(
        f"line {e.payload['line_id']} {e.payload['direction']}" for e in events if e.type == EventType.LINE_CROSSED
    )
    out.update({k: float(v) for k, v in crossings.items()})
    out["analysed frames"] = stats.frames
    out["detector runs"] = stats.detector_runs
    return dict(out)


def accuracy(fps: float) -> None:
    print(
        f"\naccuracy: storelens (INT8, rect 640, gated, {fps:g} fps) vs "
        "baseline full rate (FP32, square 640, every frame of the clip)"
    )
    print(f"{'camera':14}{'measure':28}{'baseline':>10}{'storelens':>11}{'diff':>9}")
    worst = 0.0
    for cid in ("counter-cam", "entrance-cam"):
        ref = outcome("baseline", cid, None)  # the clip's own rate (the demo config's fps)
        ours = outcome("storelens", cid, fps)
        for key in sorted(set(ref) | set(ours)):
            a, b = ref.get(key, 0.0), ours.get(key, 0.0)
            counted = key not in ("analysed frames", "detector runs")
            diff = abs(b - a) / a if a else (0.0 if b == 0 else 1.0)
            if counted:
                worst = max(worst, diff)
            mark = f"{100 * diff:8.1f}%" if counted else ""
            print(f"{cid:14}{key:28}{a:10.1f}{b:11.1f}{mark:>9}")
    print(f"largest difference: {100 * worst:.1f} % ({'within' if worst <= 0.05 else 'NOT within'} 5 %)")


def levers(args: argparse.Namespace) -> None:
    """Each lever's own effect: one short trial per configuration at the same camera count."""
    n = max(1, args.n)
    print(f"levers: {n} camera(s), {args.seconds:g} s window, CPU per camera scaled to {args.fps:g} analysed fps")
    print(f"{'configuration':20}{'min fps':>9}{'cpu %/cam@fps':>15}{'detect %':>10}{'p95 ms':>8}{'load':>6}")
    for kind in LEVERS:
        r = run_child(kind, n, args)
        at = r["cpu_pct_per_cam"] * args.fps / max(r["mean_fps"], 1e-9)
        print(
            f"{kind:20}{r['min_fps']:9.2f}{at:15.1f}{100 * r['detect_ratio']:10.0f}"
            f"{1e3 * r['worst_p95']:8.0f}{r['load_1min']:6.1f}",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fps", type=float, default=5.0, help="analysed frames/s each camera must keep")
    ap.add_argument("--seconds", type=float, default=10.0, help="measured window of one trial")
    ap.add_argument("--warmup", type=float, default=4.0, help="seconds before the window (model warm-up)")
    ap.add_argument("--max-cameras", type=int, default=24)
    ap.add_argument("--clips", choices=("counter", "all"), default="counter")
    ap.add_argument("--only", nargs="+", choices=KINDS, help="search these configurations only")
    ap.add_argument("--no-accuracy", action="store_true")
    ap.add_argument("--quick", action="store_true", help="5 s windows, no accuracy run")
    ap.add_argument("--levers", action="store_true", help="CPU per camera with one lever added at a time")
    ap.add_argument("--trial", choices=tuple(LEVERS), help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=1, help="cameras of a --levers trial")
    ap.add_argument(
        "--processes",
        type=int,
        default=1,
        help="split a trial's cameras over this many concurrent processes (camera workers as processes)",
    )
    args = ap.parse_args()
    if args.trial:
        print(json.dumps(trial(args.trial, args.n, args.fps, args.seconds, args.warmup, args.clips)))
        return
    if args.levers:
        levers(args)
        return
    if args.quick:
        args.seconds, args.no_accuracy = 5.0, True
    print(
        f"cpu cores: {os.cpu_count()}  target: every camera >= {args.fps:g} analysed fps "
        f"(one frame of slack), worst camera's latency p95 < {LATENCY_P95_MAX_S:g} s  "
        f"window {args.seconds:g} s  clips: {args.clips}"
    )
    found: dict[str, tuple[int, dict[int, dict[str, Any]]]] = {}
    for kind in KINDS if args.only is None else args.only:
        found[kind] = search(kind, args)
    print(
        f"\n{'configuration':12}{'cameras':>8}{'min fps':>9}{'p50 ms':>8}{'p95 ms':>8}{'cpu %/cam':>10}"
        f"{'RSS MB/cam':>11}{'detect %':>9}{'cpu %/cam@fps':>14}{'by CPU':>8}"
    )
    by_cpu: dict[str, float] = {}
    for kind, (n, trials) in found.items():
        r = trials.get(n)
        if r is None:
            r = trials[1]
            print(f"{kind:12}{0:8d}  (not even one camera: {r['min_fps']:.2f} fps)", end="")
        else:
            print(
                f"{kind:12}{n:8d}{r['min_fps']:9.2f}{1e3 * r['p50']:8.0f}{1e3 * r['p95']:8.0f}"
                f"{r['cpu_pct_per_cam']:10.1f}{r['rss_mb_per_cam']:11.0f}{100 * r['detect_ratio']:9.0f}",
                end="",
            )
        # CPU per camera scaled to the target rate, from the trial with the most cameras kept up
        at = r["cpu_pct_per_cam"] * args.fps / max(r["mean_fps"], 1e-9)
        by_cpu[kind] = 100 * (os.cpu_count() or 1) / at
        print(f"{at:14.1f}{by_cpu[kind]:8.1f}")
    for kind, (n, _) in found.items():
        print(f"{kind}: sustained cameras: {n}")
    pairs = [(k, "baseline") for k in found if k != "baseline" and "baseline" in found]
    if "storelens" in found and "shared" in found:
        pairs.append(("shared", "storelens"))  # one session for all cameras vs a session each
    for ours, ref in pairs:
        b, s = found[ref][0], found[ours][0]
        if b:
            print(f"ratio {ours}/{ref}: x{s / b:.2f}   by CPU per camera: x{by_cpu[ours] / by_cpu[ref]:.2f}")
        else:  # the reference cannot keep even one camera: compare in cameras' worth of analysed fps
            one = found[ref][1][1]["min_fps"] / args.fps
            print(f"ratio: {ref} sustains no camera (one camera at {one * args.fps:.2f} fps = {one:.2f} of one)")
            print(f"ratio {ours}/{ref} in cameras' worth: x{s / one:.1f}" if one else "")
    if not args.no_accuracy:
        accuracy(args.fps)


if __name__ == "__main__":
    main()
