"""Would a second detector pass on a crop find the small people the full frame misses? (issue 13)

Why: the last count errors of ``bench/counts.py`` are one clip shrunk 4x (face-demographics-walking,
people 37-47 px tall in a 960 px frame): the default detector misses them or scores them at
0.25-0.45, a detection limit no tracker rule fixes. A second pass on a crop around where a person
is expected, upscaled so they are ~70 px tall in the crop's input, costs one small inference per
such place instead of a larger input for the whole frame. This probe measures the ceiling of that
idea: the crop is centred on the *labelled* box (an oracle position; a real pass would centre it
on a lost or tentative track's prediction, so it cannot help before a person's first detection),
square, ``--context`` box heights wide, run at ``--crop-input``. It prints recall (IoU >= 0.5)
per person-height band for the full frame (the default detector) next to the crop pass, and the
crop pass's median time per crop.

    nice -n 10 .venv/bin/python bench/crop_probe.py [--clip face-demographics-walking] [--shrink 4] [--every 4]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import counts
from storelens.config.detection import DetectorConfig
from storelens.vision.detector import YoloDetector
from storelens.vision.yolo import box_iou

BANDS = ((0.0, 40.0), (40.0, 60.0), (60.0, 1e9))
BAND_NAMES = ("<40", "40-60", ">=60")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default="face-demographics-walking")
    ap.add_argument("--shrink", type=int, default=4, choices=range(1, 6))
    ap.add_argument("--every", type=int, default=4, help="use every Nth frame")
    ap.add_argument("--crop-input", type=int, default=320, help="detector input for the crops (multiple of 32)")
    ap.add_argument("--context", type=float, default=4.0, help="crop side in box heights")
    args = ap.parse_args(argv)
    ann = counts.ANNOTATIONS / f"{args.clip}.json"
    if not ann.exists():
        print(f"no annotation {ann.name}; known: {sorted(p.stem for p in counts.ANNOTATIONS.glob('*.json'))}")
        return 2
    try:
        frames, _, gts = counts.load(ann)
    except FileNotFoundError as exc:
        print(f"{exc} not found (development data lives in ../shared)")
        return 2
    full = YoloDetector(DetectorConfig(threads=1, device="cpu"))
    crop_det = YoloDetector(DetectorConfig(threads=1, device="cpu", input_size=args.crop_input))
    hits = {"full frame": np.zeros(len(BANDS)), "crop pass": np.zeros(len(BANDS))}
    n = np.zeros(len(BANDS))
    spent: list[float] = []
    for i in range(0, len(frames), args.every):
        image, scale, (ox, oy) = counts.shrink(frames[i], args.shrink)
        boxes = gts[i][0] * scale + np.array([ox, oy, ox, oy], np.float32)
        if not len(boxes):
            continue
        d = full.detect(image)
        for box in boxes:
            h = float(box[3] - box[1])
            band = next(k for k, (lo, hi) in enumerate(BANDS) if lo <= h < hi)
            n[band] += 1
            hits["full frame"][band] += bool(len(d) and box_iou(box[None], d.xyxy).max() >= 0.5)
            cx, cy, side = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, args.context * h
            x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
            x1, y1 = int(min(image.shape[1], cx + side / 2)), int(min(image.shape[0], cy + side / 2))
            t0 = time.perf_counter()
            dc = crop_det.detect(np.ascontiguousarray(image[y0:y1, x0:x1]))
            spent.append(time.perf_counter() - t0)
            if len(dc):
                moved = dc.xyxy + np.array([x0, y0, x0, y0], np.float32)
                hits["crop pass"][band] += bool(box_iou(box[None], moved).max() >= 0.5)
    print(
        f"# {args.clip} shrunk {args.shrink}x, every {args.every}th frame; crops {args.context:g} box heights "
        f"at input {args.crop_input}, centred on the labelled box (oracle position)"
    )
    print("| design | " + " | ".join(f"recall {b} px (n={int(c)})" for b, c in zip(BAND_NAMES, n, strict=True)) + " |")
    print("|---|" + "---|" * len(BANDS))
    for name, hit in hits.items():
        cells = [f"{h / c:.2f}" if c else "n/a" for h, c in zip(hit, n, strict=True)]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if spent:
        print(f"crop pass: median {1e3 * float(np.median(spent)):.1f} ms per crop (wall, 1 thread)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
