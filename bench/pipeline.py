"""End-to-end pipeline benchmark on the bundled demo clip.

Prints per-stage median latency (decode, detect, track, analytics stages, annotated-video output),
end-to-end analysed frames/s and the real-time factor (media seconds analysed per wall second),
for storelens's rectangular letterbox (768x432 -> 640x384) next to the common square 640x640
letterbox baseline, in the same run, with ratios. Run: `.venv/bin/python bench/pipeline.py`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from storelens.config import load_config  # noqa: E402
from storelens.events.bus import EventBus  # noqa: E402
from storelens.pipeline.build import build_camera  # noqa: E402
from storelens.pipeline.camera import RunStats  # noqa: E402
from storelens.vision.detector import YoloDetector  # noqa: E402


def run_once(max_frames: int, square: bool, video: bool) -> RunStats:
    cfg = load_config(ROOT / "examples" / "demo" / "store.yaml")
    cam = cfg.cameras[0]
    det = YoloDetector(cfg.detector, base_dir=cfg.base_dir, input_shape=(640, 640) if square else None)
    with tempfile.TemporaryDirectory() as tmp:
        built = build_camera(cfg, cam, EventBus(), Path(tmp) if video else None, detector=det)
        try:
            # warm-up: the first inferences allocate onnxruntime buffers
            for _ in range(3):
                det.detect(np.zeros((432, 768, 3), np.uint8))
            return built.pipeline.run(built.source, max_frames=max_frames)
        finally:
            built.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=300, help="frames to analyse per configuration")
    ap.add_argument("--no-video", action="store_true", help="skip annotated video output")
    args = ap.parse_args()
    print(f"cpu cores: {os.cpu_count()}  frames per run: {args.frames}  clip: examples/demo/one-by-one.mp4 768x432")
    results = {
        "storelens (rect 640x384)": run_once(args.frames, square=False, video=not args.no_video),
        "baseline (square 640x640)": run_once(args.frames, square=True, video=not args.no_video),
    }
    stages = ["decode", "detect", "track"]
    for r in results.values():
        for k in r.stage_ms:
            if k not in stages:
                stages.append(k)
    header = f"{'configuration':28}" + "".join(f"{s:>10}" for s in stages) + f"{'e2e fps':>10}{'RT factor':>11}"
    print("\nmedian ms per frame")
    print(header)
    for name, r in results.items():
        med = r.median_ms()
        rt = r.media_s / r.wall_s if r.wall_s else 0.0
        print(f"{name:28}" + "".join(f"{med.get(s, 0.0):10.2f}" for s in stages) + f"{r.fps:10.1f}{rt:11.2f}")
    ours, base = results.values()
    print(
        f"\nratio ours/baseline: e2e fps x{ours.fps / base.fps:.2f}, "
        f"detect latency x{ours.median_ms()['detect'] / base.median_ms()['detect']:.2f}"
    )


if __name__ == "__main__":
    main()
