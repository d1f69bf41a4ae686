"""What the second pass on crops (``detector.second_pass``, issue 13) costs per frame on a clip.

Why: the pass is bounded by ``max_crops`` but what it spends in practice depends on how often a
track goes unmatched or something small moves; on the demo clips (people 185-380 px tall) it
should cost almost nothing, on a high camera up to ``max_crops`` small inferences a frame. This
runs the clip's frames through the default detector and tracker with the pass off and on and
prints the CPU time per frame of detection (full frame + crops) and the crops per frame.

    .venv/bin/python bench/second_pass_cost.py [--every 2] [--frames 300] [--shrink 1]
        [--crops motion_width=384]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import counts
from storelens.config.detection import DetectorConfig, SecondPassConfig, TrackerConfig
from storelens.pipeline.second_pass import SecondPass, crop_detector
from storelens.tracking.base import PredictsBoxes
from storelens.tracking.registry import make_tracker
from storelens.vision.detector import YoloDetector


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=counts.REPO / "examples" / "demo" / "one-by-one.mp4")
    ap.add_argument("--every", type=int, default=2, help="use every Nth frame (the demo analyses 5 of 10 fps)")
    ap.add_argument("--frames", type=int, default=300, help="analysed frames")
    ap.add_argument("--shrink", type=int, default=1, choices=range(1, 6), help="as bench/counts.py's shrink-k")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--crops", action="append", default=[], help="detector.second_pass override, KEY=VALUE")
    args = ap.parse_args(argv)
    over = {k: v for k, _, v in (item.partition("=") for item in args.crops)}
    frames: list[counts.Image] = []
    times: list[float] = []
    with av.open(str(args.clip)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % args.every:
                continue
            frames.append(counts.shrink(np.ascontiguousarray(frame.to_ndarray(format="bgr24")), args.shrink)[0])
            times.append(float(frame.time) if frame.time is not None else i / 10.0)
            if len(frames) >= args.frames:
                break
    cfg = DetectorConfig(
        threads=args.threads, device="cpu", second_pass=SecondPassConfig.model_validate({**over, "enabled": True})
    )
    detector = YoloDetector(cfg)
    crops = crop_detector(detector, cfg)
    print(f"# {args.clip.name} shrink {args.shrink}: {len(frames)} frames (every {args.every}th), {cfg.second_pass}")
    print("| second pass | detect ms/frame (CPU) | crops/frame | crop finds/frame |")
    print("|---|---|---|---|")
    for on in (False, True):
        tracker = make_tracker(TrackerConfig())
        second = SecondPass(cfg.second_pass, crops, cfg.input_size) if on else None
        spent = 0.0
        for image, t in zip(frames, times, strict=True):
            t0 = time.process_time()
            d = detector.detect(image)
            if second is not None:
                predicted = tracker.predicted_boxes(t) if isinstance(tracker, PredictsBoxes) else None
                d = second.run(image, d, predicted)
            spent += time.process_time() - t0
            tracker.update(d, t, image)
        n = len(frames)
        per = (second.crops_run / n, second.found / n) if second is not None else (0.0, 0.0)
        print(f"| {'on' if on else 'off'} | {1e3 * spent / n:.0f} | {per[0]:.2f} | {per[1]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
