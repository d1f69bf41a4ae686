"""Detector latency: our rectangular letterbox vs the square letterbox many integrations use.

Baseline: every frame letterboxed to a square 640x640 (what a plain ``model(img, imgsz=640)``
export integration feeds the network). Ours: the rectangular 640x384 tensor for a 768x432 frame.
Both run the same model, session options and decoder, so the ratio isolates the input shape.
Runs alternate between ours and the baseline so load from other processes hits both equally.

Also times NMS on ~300 clustered candidates: ``cv2.dnn.NMSBoxes`` (our default) vs our numpy
greedy reference.

``--backends`` (issue 16) instead compares the runtimes on the same files, 640x384: onnxruntime vs
OpenVINO (static-shape graph, and the dynamic one) for the FP32 and the INT8 model, ms/frame side
by side with ratios, each one's person agreement with onnxruntime FP32 on held-out frames (the demo
entrance clip, never used for calibration), what ``detector.backend: auto`` picks, and then N
frames as one batch vs N single calls, and through :class:`SharedDetector` from N camera threads.

    .venv/bin/python bench/detector.py [--runs 30] [--threads 2] [--frame N]
    .venv/bin/python bench/detector.py --backends [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from storelens.config.detection import DetectorConfig
from storelens.vision.backends import ModelSession, open_session
from storelens.vision.detector import YoloDetector
from storelens.vision.models import resolve_model
from storelens.vision.onnx_session import create_session
from storelens.vision.openvino_session import OpenVinoSession, openvino_available
from storelens.vision.quantize import agreement, read_frames
from storelens.vision.shared_detector import SharedDetector
from storelens.vision.yolo import COCO_CLASSES, nms

VIDEO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "video" / "one-by-one-person-detection.mp4"
HELD_OUT = Path(__file__).resolve().parents[1] / "examples" / "demo" / "entrance.mp4"


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


STAT = statistics.median


def interleaved(fns: dict[str, Callable[[], object]], runs: int, warmup: int = 3) -> dict[str, float]:
    """:data:`STAT` (median, or min with ``--stat min``) ms of each callable; runs alternate so
    load from other processes hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for k, fn in fns.items():
            times[k].append(timed(fn))
    return {k: STAT(v) for k, v in times.items()}


def bench_backends(frame: npt.NDArray[np.uint8], threads: int, runs: int) -> None:
    if not openvino_available():
        raise SystemExit("--backends needs OpenVINO: pip install 'storelens[openvino]'")
    held_out = read_frames(HELD_OUT, every=8)
    cfg = DetectorConfig(input_size=640, threads=threads, device="cpu")
    ref = YoloDetector(cfg, session=create_session(resolve_model("yolo11n-pose"), threads=threads, device="cpu"))
    ref_out = [ref.detect(f) for f in held_out]
    print(f"runtimes at 640x384, {threads} threads, {STAT.__name__} of {runs} interleaved runs; agreement vs ort FP32")
    print(f"on {len(held_out)} held-out frames of {HELD_OUT.name} (IoU 0.5)")
    print(f"{'model':<18} {'runtime':<20} {'ms/frame':>9} {'vs ort':>7}  recall  precis  kp err  auto picks")
    for model in ("yolo11n-pose", "yolo11n-pose-int8"):
        path = resolve_model(model)
        sessions: dict[str, ModelSession] = {
            "onnxruntime": create_session(path, threads=threads, device="cpu"),
            "openvino": OpenVinoSession(path, threads),
            "openvino dynamic": OpenVinoSession(path, threads, dynamic=True),
        }
        dets = {k: YoloDetector(cfg.model_copy(update={"model": model}), session=v) for k, v in sessions.items()}
        ms = interleaved({k: partial(d.detect, frame) for k, d in dets.items()}, runs)
        with tempfile.TemporaryDirectory() as tmp:
            _, choice = open_session(path, threads=threads, device="cpu", cache_path=Path(tmp) / "c.json")
        for k, d in dets.items():
            a = agreement(ref_out, [d.detect(f) for f in held_out])
            kp = "n/a" if a.keypoint_error is None else f"{a.keypoint_error:.4f}"
            pick = choice.describe() if k == "onnxruntime" else ""
            print(
                f"{model:<18} {k:<20} {ms[k]:9.1f} {ms[k] / ms['onnxruntime']:6.2f}x  "
                f"{a.recall:.3f}   {a.precision:.3f}   {kp}  {pick}"
            )
    for backend in ("onnxruntime", "openvino"):
        det = YoloDetector(cfg.model_copy(update={"backend": backend}))
        bench_batching(det, frame, runs, backend)


def bench_batching(det: YoloDetector, frame: npt.NDArray[np.uint8], runs: int, label: str) -> None:
    """N frames (different frames of one camera size) as one batch vs N single calls, and N camera
    threads submitting one frame each to a :class:`SharedDetector` at the same moment."""
    frames = [np.ascontiguousarray(np.roll(frame, 16 * k, axis=1)) for k in range(8)]
    with SharedDetector(det, max_batch=8) as shared:
        for n in (1, 2, 4, 8):
            batch = frames[:n]

            def singles(batch: Sequence[npt.NDArray[np.uint8]] = batch) -> None:
                for f in batch:
                    det.detect(f)

            def cameras(batch: Sequence[npt.NDArray[np.uint8]] = batch) -> None:
                start = threading.Barrier(len(batch))

                def one(f: npt.NDArray[np.uint8]) -> None:
                    start.wait()
                    shared.detect(f)

                ts = [threading.Thread(target=one, args=(f,)) for f in batch]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join()

            ms = interleaved(
                {"single": singles, "batch": partial(det.detect_batch, batch), "shared": cameras}, max(5, runs // 2)
            )
            print(
                f"{label:<12} N={n}: {n} single calls {ms['single'] / n:6.1f} ms/frame, one batch "
                f"{ms['batch'] / n:6.1f} ms/frame (single/batch {ms['single'] / ms['batch']:4.2f}x), "
                f"{n} threads via SharedDetector {ms['shared'] / n:6.1f} ms/frame"
            )
        st = shared.stats()
        print(f"{label:<12} SharedDetector: {st.frames} frames in {st.batches} runs (mean batch {st.mean_batch:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30, help="timed runs per setting (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    parser.add_argument("--frame", type=int, default=300, help="frame of the clip to use (one person)")
    parser.add_argument("--video", type=Path, default=VIDEO)
    parser.add_argument("--backends", action="store_true", help="onnxruntime vs OpenVINO, batching (issue 16)")
    parser.add_argument("--stat", choices=("median", "min"), default="median", help="--backends: time statistic")
    args = parser.parse_args()
    global STAT
    STAT = min if args.stat == "min" else statistics.median
    frame = read_frame(args.video, args.frame)
    if args.backends:
        print(f"frame {args.frame} of {args.video.name}; load average {os.getloadavg()[0]:.1f}")
        bench_backends(frame, args.threads, args.runs)
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        return
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
