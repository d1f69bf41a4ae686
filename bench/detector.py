"""Detector latency: our rectangular letterbox vs the square letterbox many integrations use.

Baseline: every frame letterboxed to a square 640x640 (what a plain ``model(img, imgsz=640)``
export integration feeds the network). Ours: the rectangular 640x384 tensor for a 768x432 frame.
Both run the same model, session options and decoder, so the ratio isolates the input shape.
Runs alternate between ours and the baseline so load from other processes hits both equally.

Also times NMS on ~300 clustered candidates: ``cv2.dnn.NMSBoxes`` (our default) vs our numpy
greedy reference.

    .venv/bin/python bench/detector.py [--runs 30] [--threads 2] [--frame N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from storelens.config.schema import DetectorConfig
from storelens.vision.detector import YoloDetector
from storelens.vision.yolo import COCO_CLASSES, nms

VIDEO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "video" / "one-by-one-person-detection.mp4"


def read_frame(path: Path, index: int) -> npt.NDArray[np.uint8]:
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
    raise SystemExit(f"{path} has fewer than {index + 1} frames")


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def bench_detector(model: str, frame: npt.NDArray[np.uint8], threads: int, runs: int) -> None:
    classes = list(COCO_CLASSES) if model == "yolo11n-det" else None
    cfg = DetectorConfig(model=model, classes=classes, input_size=640, threads=threads, device="cpu")
    ours = YoloDetector(cfg)
    base = YoloDetector(cfg, input_shape=(640, 640), session=ours.session)
    for batch in (1, 4):
        images = [frame] * batch
        for det in (ours, base):  # warm-up: first runs allocate arenas for this shape
            for _ in range(3):
                det.detect_batch(images)
        t_ours: list[float] = []
        t_base: list[float] = []
        stages: list[tuple[float, float, float]] = []
        for _ in range(runs):
            t_ours.append(timed(partial(ours.detect_batch, images)) / batch)
            stages.append((ours.last_preprocess_ms, ours.last_inference_ms, ours.last_postprocess_ms))
            t_base.append(timed(partial(base.detect_batch, images)) / batch)
        m_ours, m_base = statistics.median(t_ours), statistics.median(t_base)
        pre, inf, post = (statistics.median(s[k] for s in stages) / batch for k in range(3))
        n_ours, n_base = len(ours.detect(frame)), len(base.detect(frame))
        print(
            f"{model:<12} batch {batch}  ours 640x384 {m_ours:6.1f} ms/img "
            f"(pre {pre:4.1f} inf {inf:5.1f} post {post:4.2f})  "
            f"baseline 640x640 {m_base:6.1f} ms/img  baseline/ours {m_base / m_ours:4.2f}x  "
            f"persons ours {n_ours} baseline {n_base}"
        )


def bench_nms(runs: int) -> None:
    """300 candidates in 20 clusters (20 people x 15 overlapping anchors), as a crowded frame gives."""
    rng = np.random.default_rng(0)
    people, per = 20, 15
    centres = np.repeat(rng.uniform([50, 50], [590, 330], (people, 2)), per, 0)
    sizes = np.repeat(rng.uniform([30, 80], [80, 200], (people, 2)), per, 0)
    centres += rng.normal(0, 4, centres.shape)
    sizes *= rng.uniform(0.9, 1.1, sizes.shape)
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], 1).astype(np.float32)
    scores = rng.uniform(0.3, 0.95, len(boxes)).astype(np.float32)
    cls = np.zeros(len(boxes), np.int32)
    keep_cv = nms(boxes, scores, 0.6, cls, backend="cv2")
    keep_np = nms(boxes, scores, 0.6, cls, backend="numpy")
    t_cv, t_np = [], []
    for _ in range(max(runs, 100)):
        t_cv.append(timed(lambda: nms(boxes, scores, 0.6, cls, backend="cv2")))
        t_np.append(timed(lambda: nms(boxes, scores, 0.6, cls, backend="numpy")))
    m_cv, m_np = statistics.median(t_cv), statistics.median(t_np)
    print(
        f"nms {len(boxes)} candidates: cv2.dnn.NMSBoxes {m_cv:.3f} ms, numpy greedy {m_np:.3f} ms, "
        f"numpy/cv2 {m_np / m_cv:.1f}x, same survivors: {np.array_equal(keep_cv, keep_np)} ({len(keep_cv)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30, help="timed runs per setting (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    parser.add_argument("--frame", type=int, default=300, help="frame of the clip to use (one person)")
    parser.add_argument("--video", type=Path, default=VIDEO)
    args = parser.parse_args()
    frame = read_frame(args.video, args.frame)
    h, w = frame.shape[:2]
    print(
        f"frame {args.frame} of {args.video.name}: {w}x{h}; input 640; threads {args.threads}; "
        f"median of {args.runs} runs after 3 warm-up runs; per-image times"
    )
    for model in ("yolo11n-pose", "yolo11n-det"):
        bench_detector(model, frame, args.threads, args.runs)
    bench_nms(args.runs)


if __name__ == "__main__":
    main()
