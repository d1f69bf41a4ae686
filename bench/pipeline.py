"""End-to-end pipeline benchmark on the bundled demo clip.

Prints per-stage median latency (decode, detect, track, analytics stages, annotated-video output),
end-to-end analysed frames/s and the real-time factor (media seconds analysed per wall second),
for storelens's rectangular letterbox (768x432 -> 640x384) next to the common square 640x640
letterbox baseline, in the same run, with ratios. With video on (the default) storelens's
configuration also runs without video, and the cost of the annotated video is printed as a ratio.
"End-to-end" includes closing the outputs (the encoder's flush), so work left queued for the
video thread is counted. Run: `.venv/bin/python bench/pipeline.py`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from storelens.config import load_config  # noqa: E402
from storelens.events.bus import EventBus  # noqa: E402
from storelens.pipeline.build import build_camera  # noqa: E402
from storelens.pipeline.camera import RunStats  # noqa: E402
from storelens.vision.detector import YoloDetector  # noqa: E402


@dataclass
class Result:
    stats: RunStats
    close_s: float  # closing the outputs after the loop: the video encoder's flush
    video_wait_s: float | None  # the loop blocked on a full video queue (None: no video or no queue)

    @property
    def fps(self) -> float:
        """Analysed frames per second, end to end (the loop plus closing the outputs)."""
        total = self.stats.wall_s + self.close_s
        return self.stats.frames / total if total > 0 else 0.0


def run_once(max_frames: int, square: bool, video: bool) -> Result:
    cfg = load_config(ROOT / "examples" / "demo" / "store.yaml")
    cam = cfg.cameras[0]
    det = YoloDetector(cfg.detector, base_dir=cfg.base_dir, input_shape=(640, 640) if square else None)
    with tempfile.TemporaryDirectory() as tmp:
        built = build_camera(cfg, cam, EventBus(), Path(tmp) if video else None, detector=det)
        closed = False
        try:
            # warm-up: the first inferences allocate onnxruntime buffers
            for _ in range(3):
                det.detect(np.zeros((432, 768, 3), np.uint8))
            stats = built.pipeline.run(built.source, max_frames=max_frames)
            t0 = time.perf_counter()
            built.close()
            closed = True
            wait = getattr(built._writer, "wait_s", None)
            return Result(stats, time.perf_counter() - t0, wait)
        finally:
            if not closed:
                built.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=300, help="frames to analyse per configuration")
    ap.add_argument("--no-video", action="store_true", help="skip annotated video output")
    args = ap.parse_args()
    print(f"cpu cores: {os.cpu_count()}  frames per run: {args.frames}  clip: examples/demo/one-by-one.mp4 768x432")
    video = not args.no_video
    results = {
        "storelens (rect 640x384)": run_once(args.frames, square=False, video=video),
        "baseline (square 640x640)": run_once(args.frames, square=True, video=video),
    }
    if video:
        results["storelens, no video"] = run_once(args.frames, square=False, video=False)
    stages = ["decode", "detect", "track"]
    for r in results.values():
        for k in r.stats.stage_ms:
            if k not in stages:
                stages.append(k)
    widths = [max(10, len(s) + 2) for s in stages]
    header = f"{'configuration':28}" + "".join(f"{s:>{w}}" for s, w in zip(stages, widths, strict=True))
    print("\nmedian ms per frame")
    print(header + f"{'close ms':>10}{'e2e fps':>10}{'RT factor':>11}")
    for name, r in results.items():
        med = r.stats.median_ms()
        rt = r.stats.media_s / (r.stats.wall_s + r.close_s) if r.stats.wall_s else 0.0
        cells = "".join(f"{med.get(s, 0.0):{w}.2f}" for s, w in zip(stages, widths, strict=True))
        print(f"{name:28}{cells}{r.close_s * 1e3:10.1f}{r.fps:10.1f}{rt:11.2f}")
    ours, base = results["storelens (rect 640x384)"], results["baseline (square 640x640)"]
    print(
        f"\nratio ours/baseline: e2e fps x{ours.fps / base.fps:.2f}, "
        f"detect latency x{ours.stats.median_ms()['detect'] / base.stats.median_ms()['detect']:.2f}"
    )
    if video:
        bare = results["storelens, no video"]
        wait = "" if ours.video_wait_s is None else f", loop blocked on a full video queue {ours.video_wait_s:.2f} s"
        print(
            f"video output cost: e2e fps with/without video x{ours.fps / bare.fps:.2f} "
            f"({ours.fps:.1f} vs {bare.fps:.1f} fps; output stage median "
            f"{ours.stats.median_ms().get('output', 0.0):.2f} ms{wait})"
        )


if __name__ == "__main__":
    main()
