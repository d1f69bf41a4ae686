"""Line crossings and zone dwell from pixels against the hand-labelled ground truth, per person size.

Why: every retail number (footfall through a line, dwell in a zone) is counted from detections and
tracks, so the defaults are judged by those numbers, not by recall alone. The labelled clips in
``tests/data/annotations`` carry person identities, so their interpolated boxes are ground-truth
*tracks*: run through the same behaviour stage (same zone, same line, same grace times) they give
the true dwell and crossings. The same stage then counts from

* ``storelens``: the store's default detector, tracker and visit stitching, from pixels;
* ``det@640+ByteTrack``: YOLO11n-det at 640 and Roboflow ``trackers`` ByteTrack, the usual
  tutorial pipeline a user would build instead;

on each clip as it is and shrunk 2x / 3x / 4x into a frame twice its size (smaller people, a higher
camera). Zone: the middle half of the clip's width, its lower 60 % (feet). Line: vertical, through
the middle of the clip. Both reach 5 % past the clip's edges, so people cut off at the bottom edge
(feet on the last row) are not on a boundary. Errors are absolute, summed over clips (a miss on one clip does not cancel
an extra count on another): ``sum |method - truth| / sum truth``.

Errors are printed per split (A = tune, B = report, as in ``bench/track_birth.py``) and together.

Limits: the clips are 3-4.7 s long with 1-3 people (small samples: read the error, not its second
digit): 12 line crossings in all, every one in B (A's truth has none, so A cannot judge lines);
the ground truth between labelled key frames is interpolated. The last row says how precise the
truth itself is: how much it moves when every labelled box moves 4 px left or right (a hand
label's precision). An error at or under that row is at the labels' noise floor.

    .venv/bin/python bench/counts.py [--variants orig,shrink-2] [--cache DIR]
        [--splits A] [--methods storelens+crops] [--crops max_crops=2 --crops motion_width=384]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

from storelens.analytics.stage import BehaviourStage
from storelens.config.detection import DetectorConfig, SecondPassConfig
from storelens.config.store import StoreConfig
from storelens.core.types import Detections, Tracks
from storelens.pipeline.second_pass import SecondPass, crop_detector
from storelens.tracking.base import PredictsBoxes
from storelens.tracking.registry import make_stitcher, make_tracker
from storelens.vision.detector import YoloDetector
from storelens.vision.yolo import COCO_CLASSES

REPO = Path(__file__).resolve().parents[1]
ANNOTATIONS = REPO / "tests" / "data" / "annotations"
Image = npt.NDArray[np.uint8]
Method = Callable[[list[Image], list[float], Path | None], list[Tracks]]
"""(frames, their pts, where the detections of this clip variant are cached or None) -> tracks."""
LABEL_PX = 4.0
"""A hand-drawn box edge is good to a few pixels (in the clip's own 480x270 or 768x432 pixels)."""


def load(ann_path: Path) -> tuple[list[Image], list[float], list[tuple[npt.NDArray[np.float32], list[int]]]]:
    """Frames, their pts, and per frame the ground-truth boxes with person indices."""
    ann = json.loads(ann_path.read_text())
    path = (REPO / ann["clip_root"] / ann["clip"]).resolve()
    if not path.exists():
        raise FileNotFoundError(path)
    frames: list[Image] = []
    times: list[float] = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            frames.append(np.ascontiguousarray(frame.to_ndarray(format="bgr24")))
            times.append(float(frame.time) if frame.time is not None else i / float(ann["fps"]))
    gts = []
    for t in times:
        boxes, who = [], []
        for k, keys in enumerate(ann["people"].values()):
            ts = [key[0] for key in keys]
            if t < ts[0] - 1e-6 or t > ts[-1] + 0.5:
                continue
            b = np.array([key[1] for key in keys], dtype=np.float32)
            boxes.append([np.interp(t, ts, b[:, c]) for c in range(4)])
            who.append(k)
        gts.append((np.array(boxes, np.float32).reshape(-1, 4), who))
    return frames, times, gts


def shrink(image: Image, k: int) -> tuple[Image, float, tuple[float, float]]:
    """The frame shrunk k times into a grey frame twice its size: (image, scale, offset)."""
    if k == 1:
        return image, 1.0, (0.0, 0.0)
    h, w = image.shape[:2]
    canvas = np.full((2 * h, 2 * w, 3), 114, np.uint8)
    sw, sh = round(w / k), round(h / k)
    ox, oy = (2 * w - sw) // 2, (2 * h - sh) // 3
    canvas[oy : oy + sh, ox : ox + sw] = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
    return canvas, 1.0 / k, (float(ox), float(oy))


def store_for(w: int, h: int, scale: float, offset: tuple[float, float]) -> StoreConfig:
    """The zone and line in the clip's own pixels, moved with it into the variant's frame."""
    ox, oy = offset

    def p(x: float, y: float) -> list[float]:
        return [round(ox + x * scale, 1), round(oy + y * scale, 1)]

    return StoreConfig.model_validate(
        {
            "store_id": "bench",
            "cameras": [{"id": "cam", "source": "x"}],
            "zones": [
                {
                    "id": "middle",
                    "kind": "display",
                    "camera": "cam",
                    # 5 % past the bottom: cut-off people have their feet on the frame's last row
                    "points": [
                        p(0.25 * w, 0.4 * h),
                        p(0.75 * w, 0.4 * h),
                        p(0.75 * w, 1.05 * h),
                        p(0.25 * w, 1.05 * h),
                    ],
                }
            ],
            "lines": [{"id": "mid", "camera": "cam", "a": p(0.5 * w, -0.05 * h), "b": p(0.5 * w, 1.05 * h)}],
        }
    )


def count(store: StoreConfig, tracks: list[Tracks], times: list[float], size: tuple[int, int]) -> tuple[float, int]:
    """(total dwell in the zone in s, line crossings in + out) the behaviour stage measures."""
    stage = BehaviourStage(store, "cam")
    for tr, t in zip(tracks, times, strict=True):
        stage.update(tr, t, 1.8e9 + t, frame_size=size)
    stage.close(times[-1] + 0.1, 1.8e9 + times[-1] + 0.1)
    s = stage.summary()
    dwell = float(sum(z["total_dwell_s"] or 0.0 for z in s["zones"]))
    lines = int(sum(ln["in"] + ln["out"] for ln in s["lines"]))
    return dwell, lines


def truth_tracks(
    gts: list[tuple[npt.NDArray[np.float32], list[int]]], scale: float, offset: tuple[float, float], shift: float = 0.0
) -> list[Tracks]:
    """The labelled boxes as tracks in the variant's frame, moved ``shift`` clip pixels to the right."""
    move = np.array([offset[0] + shift * scale, offset[1]] * 2, np.float32)
    return [as_tracks(b * scale + move, np.array(who, np.int64)) for b, who in gts]


def label_spread(
    store: StoreConfig,
    gts: list[tuple[npt.NDArray[np.float32], list[int]]],
    scale: float,
    offset: tuple[float, float],
    times: list[float],
    size: tuple[int, int],
    px: float = LABEL_PX,
) -> tuple[float, int]:
    """How far the truth itself moves when every labelled box moves ``px`` clip pixels left or
    right (about a hand label's precision): (largest dwell change in s, largest crossing change).
    A method cannot be judged more finely than this: it is the floor under any error."""
    base = count(store, truth_tracks(gts, scale, offset), times, size)
    moved = [count(store, truth_tracks(gts, scale, offset, d), times, size) for d in (-px, px)]
    return max(abs(m[0] - base[0]) for m in moved), max(abs(m[1] - base[1]) for m in moved)


def as_tracks(xyxy: npt.NDArray[np.float32], ids: npt.NDArray[np.int64]) -> Tracks:
    n = len(xyxy)
    return Tracks(
        xyxy=xyxy.astype(np.float32).reshape(-1, 4),
        score=np.ones(n, np.float32),
        class_id=np.zeros(n, np.int32),
        track_id=ids.astype(np.int64),
        detection_index=np.arange(n, dtype=np.int32),
    )


def cached_detections(path: Path | None, images: list[Image], detector: YoloDetector | None) -> list[Detections]:
    """The detector's output on ``images``, from ``path`` when it was saved there before (a sweep
    or a rerun then costs only tracking); ``path=None``: no cache."""
    if path is None or (detector is not None and not path.exists()):
        assert detector is not None
        dets = [detector.detect(im) for im in images]
        if path is not None:
            save_detections(path, dets)
        return dets
    if path.exists():
        z = np.load(path)
        out = []
        for i in range(len(images)):
            sel = z["frame"] == i
            out.append(
                Detections(
                    xyxy=z["xyxy"][sel],
                    score=z["score"][sel],
                    class_id=z["class_id"][sel],
                    keypoints=z["keypoints"][sel] if "keypoints" in z else None,
                )
            )
        return out
    raise FileNotFoundError(path)


def save_detections(path: Path, dets: list[Detections]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    kp = [d.keypoints for d in dets]
    arrays = {
        "frame": np.concatenate([np.full(len(d), i, np.int32) for i, d in enumerate(dets)]),
        "xyxy": np.concatenate([d.xyxy.reshape(-1, 4) for d in dets]),
        "score": np.concatenate([d.score for d in dets]),
        "class_id": np.concatenate([d.class_id for d in dets]),
    }
    if all(k is not None for k in kp):
        arrays["keypoints"] = np.concatenate([k for k in kp if k is not None])
    np.savez(path, allow_pickle=False, **arrays)


def storelens_method(threads: int, params: dict[str, float | int | bool | str] | None = None) -> Method:
    detector = YoloDetector(DetectorConfig(threads=threads, device="cpu"))

    def run(frames: list[Image], times: list[float], cache: Path | None) -> list[Tracks]:
        from storelens.config.detection import TrackerConfig

        cfg = TrackerConfig(params=params or {})
        tracker, stitcher = make_tracker(cfg), make_stitcher(cfg)
        out = []
        dets = cached_detections(cache, frames, detector)
        for image, d, t in zip(frames, dets, times, strict=True):
            tr = tracker.update(d, t, image)
            out.append(stitcher.update(tr, t, image) if stitcher is not None else tr)
        return out

    return run


def crops_method(
    threads: int, second: SecondPassConfig, params: dict[str, float | int | bool | str] | None = None
) -> Method:
    """``storelens`` plus the second detector pass on crops (``detector.second_pass``): the same
    full-frame detections (the same cache), then per frame the crops where the tracker expects a
    person the full frame missed and around small moving regions, as the camera pipeline runs it.
    The crops depend on the tracker's state, so they are never cached."""
    cfg = DetectorConfig(threads=threads, device="cpu", second_pass=second.model_copy(update={"enabled": True}))
    detector = YoloDetector(cfg)
    crop_det = crop_detector(detector, cfg)

    def run(frames: list[Image], times: list[float], cache: Path | None) -> list[Tracks]:
        from storelens.config.detection import TrackerConfig

        tcfg = TrackerConfig(params=params or {})
        tracker, stitcher = make_tracker(tcfg), make_stitcher(tcfg)
        second_pass = SecondPass(cfg.second_pass, crop_det, cfg.input_size)
        out = []
        dets = cached_detections(cache, frames, detector)
        for image, d, t in zip(frames, dets, times, strict=True):
            predicted = tracker.predicted_boxes(t) if isinstance(tracker, PredictsBoxes) else None
            merged = second_pass.run(image, d, predicted)
            tr = tracker.update(merged, t, image)
            out.append(stitcher.update(tr, t, image) if stitcher is not None else tr)
        CROP_STATS.append((second_pass.crops_run, len(frames)))
        return out

    return run


CROP_STATS: list[tuple[int, int]] = []
"""(crops run, frames) per clip variant of the crops method, for the cost line."""


def bytetrack_method(threads: int) -> Method:
    cfg = DetectorConfig(model="yolo11n-det", classes=list(COCO_CLASSES), input_size=640, threads=threads, device="cpu")
    detector = YoloDetector(cfg)

    def run(frames: list[Image], times: list[float], cache: Path | None) -> list[Tracks]:
        import supervision as sv
        import trackers

        fps = 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else 10.0
        trk = trackers.ByteTrackTracker(frame_rate=fps)
        out = []
        for d in cached_detections(cache and cache.parent / "det640" / cache.name, frames, detector):
            svd = (
                sv.Detections(xyxy=d.xyxy.astype(np.float32), confidence=d.score, class_id=d.class_id)
                if len(d)
                else sv.Detections.empty()
            )
            res = trk.update(svd)
            ids = res.tracker_id if res.tracker_id is not None else np.zeros(0, np.int64)
            keep = ids >= 0
            out.append(as_tracks(res.xyxy[keep].astype(np.float32), ids[keep].astype(np.int64)))
        return out

    return run


SPLITS = ("A", "B")
"""Clips in name order alternate: A (tune) = even positions, B (report) = odd (bench/track_birth.py)."""
ERROR_KEYS = ("dwell_err", "dwell_true", "line_err", "line_true")


def add(
    totals: dict[str, dict[str, list[float]]], name: str, split: str, got: tuple[float, int], truth: tuple[float, int]
) -> None:
    acc = totals.setdefault(f"{name}/{split}", {k: [] for k in ERROR_KEYS})
    acc["dwell_err"].append(abs(got[0] - truth[0]))
    acc["dwell_true"].append(truth[0])
    acc["line_err"].append(abs(got[1] - truth[1]))
    acc["line_true"].append(truth[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="orig,shrink-2,shrink-3,shrink-4")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=None, help="keep detections here (same as track_birth.py's)")
    ap.add_argument("--param", action="append", default=[], help="tracker override for storelens, KEY=FLOAT")
    ap.add_argument(
        "--crops", action="append", default=[], help="detector.second_pass override for storelens+crops, KEY=VALUE"
    )
    ap.add_argument("--methods", default=None, help="only these methods, comma-separated (default: all)")
    ap.add_argument("--splits", default="A,B", help="only these splits (a sweep runs on A alone, the tune split)")
    args = ap.parse_args(argv)
    second = SecondPassConfig.model_validate({k: v for k, _, v in (item.partition("=") for item in args.crops)})
    params: dict[str, float | int | bool | str] = {}
    for item in args.param:
        key, _, value = item.partition("=")
        params[key] = float(value)
    ks = {"orig": 1, **{f"shrink-{k}": k for k in range(2, 6)}}
    variants = [v.strip() for v in args.variants.split(",")]
    unknown = [v for v in variants if v not in ks]
    if unknown:
        print(f"unknown variants {unknown}; known: {sorted(ks)}", file=sys.stderr)
        return 2
    methods: dict[str, Method] = {
        "storelens": storelens_method(args.threads, params),
        "storelens+crops": crops_method(args.threads, second, params),
        "det@640+ByteTrack": bytetrack_method(args.threads),
    }
    if args.methods:
        methods = {k: v for k, v in methods.items() if k in args.methods.split(",")}
    noise_name = f"(the truth itself, labels moved +-{LABEL_PX:.0f} px)"
    totals: dict[str, dict[str, list[float]]] = {}  # per method and split: errors and truths
    print("# counts: zone dwell (s) and line crossings, ground truth vs each method, per clip and variant")
    print(f"{'clip':<42} {'variant':<9} {'truth':>13} " + " ".join(f"{m:>22}" for m in methods))
    for n, ann_path in enumerate(sorted(ANNOTATIONS.glob("*.json"))):
        split = SPLITS[n % 2]
        if split not in args.splits.split(","):
            continue
        try:
            frames, times, gts = load(ann_path)
        except FileNotFoundError as exc:
            print(f"skip {ann_path.stem}: {exc} not found (development data lives in ../shared)", file=sys.stderr)
            continue
        h, w = frames[0].shape[:2]
        for v in variants:
            k = ks[v]
            shrunk = [shrink(f, k) for f in frames]
            images = [s[0] for s in shrunk]
            scale, offset = shrunk[0][1], shrunk[0][2]
            size = (images[0].shape[1], images[0].shape[0])
            store = store_for(w, h, scale, offset)
            truth = count(store, truth_tracks(gts, scale, offset), times, size)
            spread = label_spread(store, gts, scale, offset, times, size)
            add(totals, noise_name, split, (truth[0] + spread[0], truth[1] + spread[1]), truth)
            row = [f"{truth[0]:7.1f}s {truth[1]:3d}x"]
            for name, method in methods.items():
                t0 = time.process_time()
                where = args.cache / f"{ann_path.stem}.{v}.npz" if args.cache is not None else None
                got = count(store, method(images, times, where), times, size)
                spent = time.process_time() - t0
                add(totals, name, split, got, truth)
                row.append(f"{got[0]:7.1f}s {got[1]:3d}x {spent / len(images) * 1e3:5.0f}ms")
            print(f"{ann_path.stem:<42} {v:<9} {row[0]:>13} " + " ".join(f"{c:>22}" for c in row[1:]))
    print("\n| method | A dwell | A lines | B dwell | B lines | all dwell | all lines |")
    print("|---|---|---|---|---|---|---|")
    names = [*methods, noise_name]
    for name in names:
        cells = []
        for keys in ([f"{name}/A"], [f"{name}/B"], [f"{name}/A", f"{name}/B"]):
            acc = {k: sum(v for key in keys for v in totals.get(key, {}).get(k, [])) for k in ERROR_KEYS}
            for err, true in (("dwell_err", "dwell_true"), ("line_err", "line_true")):
                cells.append(f"{100 * acc[err] / acc[true]:.1f} %" if acc[true] > 0 else "n/a (truth 0)")
        print(f"| {name} | " + " | ".join(cells) + " |")
    if CROP_STATS:
        crops, frames_seen = (sum(c[i] for c in CROP_STATS) for i in range(2))
        per = crops / max(frames_seen, 1)
        print(f"\nstorelens+crops: {crops} crops on {frames_seen} frames ({per:.2f} per frame), {second}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
