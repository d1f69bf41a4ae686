"""Make the INT8 detector, check it against FP32 on held-out frames, ship it only if it passes.

Calibration: frames of the CC-BY Intel IoT DevKit clips (the first half of the counter clip, the
store-aisle, people-detection and worker-zone GIFs). Held out for the check: the second half of the
counter clip, the entrance clip and the two face-demographics / head-pose GIFs, which calibration
never saw. When recall and precision against FP32 at IoU 0.5 are both >= 0.97 the file is written
to models/ and its sha256 added to models/SHA256SUMS; otherwise nothing is written. Also prints
the median inference time of both files at 640x384 with 1 and 2 threads.

Run (takes the machine for a few minutes):
`.venv/bin/python scripts/quantize_detector.py [--model yolo11n-pose]`
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from storelens.config.detection import DetectorConfig  # noqa: E402
from storelens.vision.detector import YoloDetector  # noqa: E402
from storelens.vision.models import file_sha256, models_dir  # noqa: E402
from storelens.vision.onnx_session import create_session  # noqa: E402
from storelens.vision.quantize import agreement, quantize_detector, read_frames  # noqa: E402
from testdata import DEMO_COUNTER_CLIP, DEMO_ENTRANCE_CLIP, shared_data_path  # noqa: E402


def _frames(held_out: bool) -> list[np.ndarray]:
    video = shared_data_path("video")
    if held_out:
        out = read_frames(DEMO_COUNTER_CLIP, every=7, start=700)
        out += read_frames(DEMO_ENTRANCE_CLIP, every=2)
        gifs = ["face-demographics-walking.gif", "head-pose-face-detection-female-and-male.gif"]
        every = 1
    else:
        out = read_frames(DEMO_COUNTER_CLIP, every=10, stop=700)
        gifs = ["store-aisle-detection.gif", "people-detection.gif", "worker-zone-detection.gif"]
        every = 2
    for g in gifs:
        if (video / g).is_file():
            out += read_frames(video / g, every=every)
    return out


def _latency_ms(path: Path, threads: int, runs: int = 20) -> float:
    sess = create_session(path, threads=threads, device="cpu")
    x = np.random.default_rng(0).random((1, 3, 384, 640), dtype=np.float32)
    name = sess.get_inputs()[0].name
    for _ in range(3):
        sess.run(None, {name: x})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, {name: x})
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="yolo11n-pose")
    ap.add_argument("--input-size", type=int, default=640)
    args = ap.parse_args()
    folder = models_dir()
    fp32 = folder / f"{args.model}.onnx"
    target = folder / f"{args.model}-int8.onnx"
    calib, held = _frames(False), _frames(True)
    print(f"calibration frames: {len(calib)}  held-out frames: {len(held)}")
    with tempfile.TemporaryDirectory() as tmp:
        candidate = Path(tmp) / target.name
        t0 = time.perf_counter()
        quantize_detector(fp32, candidate, calib, args.input_size)
        print(f"quantised in {time.perf_counter() - t0:.0f} s")
        cfg = DetectorConfig(model=args.model, input_size=args.input_size, threads=2, device="cpu")
        ref = YoloDetector(cfg)
        cand = YoloDetector(cfg.model_copy(update={"model": str(candidate)}))
        result = agreement([ref.detect(f) for f in held], [cand.detect(f) for f in held])
        print(result.describe())
        for threads in (1, 2):
            a, b = _latency_ms(fp32, threads), _latency_ms(candidate, threads)
            print(f"inference 640x384, {threads} thread(s): FP32 {a:.1f} ms, INT8 {b:.1f} ms (x{a / b:.2f})")
        if not result.passes:
            print("INT8 model NOT shipped: agreement below the bar")
            return 1
        target.write_bytes(candidate.read_bytes())
    sums = folder / "SHA256SUMS"
    lines = [ln for ln in sums.read_text().splitlines() if ln.strip() and not ln.endswith(f"  {target.name}")]
    lines.append(f"{file_sha256(target)}  {target.name}")
    sums.write_text("\n".join(sorted(lines, key=lambda ln: ln.split()[-1])) + "\n")
    print(f"shipped {target} ({target.stat().st_size / 1e6:.1f} MB), sha256 in {sums}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
