"""Person-size benchmark: recall and precision per person-height band for each detection design.

Why: every number storelens produces starts with "a person was detected", and the default design
was chosen on a demo clip with large people. This benchmark makes small and crowded people out of
the hand-labelled clips the project has (``tests/data/annotations``), so the choice of design is a
measurement, not a guess:

* ``orig``: the clip as it is;
* ``shrink-k`` (k = 2..5): the frame shrunk k times and pasted into a 2x larger grey frame (people
  k times smaller, camera "mounted higher"); ground truth boxes transform with the image;
* ``tile-n`` (n = 2, 3): n x n frames of the clip (different times) in one 2x frame (a crowd).

Ground truth: the hand-labelled person boxes of each clip, linearly interpolated between the
labelled key frames (the clips' annotations were labelled where a box changes; between key frames
people move little). Matching: greedy, IoU >= 0.5, per frame. Recall is per ground-truth height
band, precision per detected-box height band (the band of the box as detected).

Designs (all YOLO11n on onnxruntime, confidence 0.25, the store's own ``YoloDetector``):
``pose@640`` (the former default), ``det@640``, ``det+pose-crops`` (det boxes on the whole frame;
pose on each person's crop where keypoints are needed; its row adds the share of matched people
that got >= 5 visible keypoints), ``tiled-det`` (det on the frame and on 2x2 overlapping tiles,
merged by NMS), ``det@960``, ``pose@960`` (the default since this benchmark: best recall for people
>= 40 px at precision >= 0.95 for half the cost of 1280), ``pose@1280`` and the baseline
``det@640+ByteTrack`` (Roboflow ``trackers``; its output boxes are what the tutorial pipeline counts),
next to ``pose@960+storelens``: the default detector with the default tracker and stitching (the
boxes storelens counts). ``pose@960+crops`` adds the second pass on upscaled crops
(``detector.second_pass``, issue 13; its detections, the tracker running alongside to say where
to look) and ``pose@960+crops+storelens`` the tracks it gives.

HOLD-OUT: the design is picked on the ``select`` clip (store aisle: best mean recall over the bands
>= 30 px with precision >= 0.8) and reported on the other clip(s).

    .venv/bin/python bench/detection_scale.py [--every 3] [--threads 2]
        [--designs pose@960 pose@960+crops] [--select-only] [--crops motion_width=384]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

from storelens.config.detection import DetectorConfig
from storelens.core.types import Detections
from storelens.vision.detector import YoloDetector
from storelens.vision.yolo import COCO_CLASSES, box_iou, nms

REPO = Path(__file__).resolve().parents[1]
ANNOTATIONS = REPO / "tests" / "data" / "annotations"
SELECT = "store-aisle-detection.json"
BANDS: tuple[tuple[float, float], ...] = ((0, 30), (30, 40), (40, 60), (60, 100), (100, 200), (200, 1e9))
BAND_NAMES = ("<30", "30-40", "40-60", "60-100", "100-200", ">200")
IOU = 0.5
Image = npt.NDArray[np.uint8]
Boxes = npt.NDArray[np.float32]


def band_of(height: npt.NDArray[np.float32]) -> npt.NDArray[np.intp]:
    edges = np.array([b[1] for b in BANDS[:-1]], dtype=np.float32)
    return np.searchsorted(edges, height, side="right").astype(np.intp)


# ground truth ---------------------------------------------------------------------------------
def load_clip(ann_path: Path) -> tuple[list[Image], list[Boxes]]:
    """Frames of the annotated clip and the interpolated person boxes at each frame's pts."""
    ann = json.loads(ann_path.read_text())
    clip = (ann_path.parent / ann["clip_root"]).resolve() if not Path(ann["clip_root"]).is_absolute() else None
    root = REPO / ann["clip_root"] if clip is None or not clip.exists() else clip
    path = root / ann["clip"]
    if not path.exists():
        raise SystemExit(f"{path} not found (development data lives in ../shared)")
    frames: list[Image] = []
    times: list[float] = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            frames.append(np.ascontiguousarray(frame.to_ndarray(format="bgr24")))
            times.append(float(frame.time) if frame.time is not None else i / float(ann["fps"]))
    gts: list[Boxes] = []
    for t in times:
        rows = []
        for keys in ann["people"].values():
            ts = [k[0] for k in keys]
            if t < ts[0] - 1e-6 or t > ts[-1] + 0.5:
                continue
            boxes = np.array([k[1] for k in keys], dtype=np.float32)
            rows.append([np.interp(t, ts, boxes[:, c]) for c in range(4)])
        gts.append(np.array(rows, dtype=np.float32).reshape(-1, 4))
    return frames, gts


@dataclass
class Sample:
    image: Image
    gt: Boxes


def variants(frames: list[Image], gts: list[Boxes], index: list[int]) -> Iterator[tuple[str, list[Sample]]]:
    """Each variant as a sequence over the chosen frame indices (sequences, for the tracker)."""
    h, w = frames[0].shape[:2]
    yield "orig", [Sample(frames[i], gts[i]) for i in index]
    for k in (2, 3, 4, 5):
        seq = []
        for i in index:
            canvas = np.full((2 * h, 2 * w, 3), 114, np.uint8)
            sw, sh = round(w / k), round(h / k)
            small = cv2.resize(frames[i], (sw, sh), interpolation=cv2.INTER_AREA)
            ox, oy = (2 * w - sw) // 2, (2 * h - sh) // 3
            canvas[oy : oy + sh, ox : ox + sw] = small
            g = gts[i] / k + np.array([ox, oy, ox, oy], np.float32)
            seq.append(Sample(canvas, g.astype(np.float32)))
        yield f"shrink-{k}", seq
    for n in (2, 3):
        seq = []
        tw, th = (2 * w) // n, (2 * h) // n
        for i in index:
            canvas = np.full((2 * h, 2 * w, 3), 114, np.uint8)
            rows = []
            for j in range(n * n):
                src = (i + j * 7) % len(frames)
                ox, oy = (j % n) * tw, (j // n) * th
                canvas[oy : oy + th, ox : ox + tw] = cv2.resize(frames[src], (tw, th), interpolation=cv2.INTER_AREA)
                sx, sy = tw / w, th / h
                rows.append(gts[src] * np.array([sx, sy, sx, sy], np.float32) + np.array([ox, oy, ox, oy], np.float32))
            seq.append(Sample(canvas, np.concatenate(rows).astype(np.float32).reshape(-1, 4)))
        yield f"tile-{n}", seq


# designs --------------------------------------------------------------------------------------
@dataclass
class Models:
    threads: int
    cache: dict[tuple[str, int], YoloDetector] = field(default_factory=dict)

    def get(self, model: str, size: int) -> YoloDetector:
        key = (model, size)
        if key not in self.cache:
            classes = list(COCO_CLASSES) if model == "yolo11n-det" else None
            cfg = DetectorConfig(model=model, classes=classes, input_size=size, threads=self.threads, device="cpu")
            same = next((d for (m, _), d in self.cache.items() if m == model), None)
            self.cache[key] = YoloDetector(cfg, session=same.session if same else None)
        return self.cache[key]


Design = Callable[[list[Sample]], tuple[list[Boxes], list[float]]]


def _plain(models: Models, model: str, size: int) -> Design:
    def run(seq: list[Sample]) -> tuple[list[Boxes], list[float]]:
        det = models.get(model, size)
        return [det.detect(s.image).xyxy for s in seq], []

    return run


def _crop_keypoints(models: Models, image: Image, boxes: Boxes) -> list[int]:
    """Visible keypoints (score > 0.5) pose finds on each box's crop (20 % margin)."""
    pose = models.get("yolo11n-pose", 256)
    out = []
    h, w = image.shape[:2]
    for x1, y1, x2, y2 in boxes:
        mx, my = 0.2 * (x2 - x1), 0.2 * (y2 - y1)
        a, b = int(max(0, x1 - mx)), int(max(0, y1 - my))
        c, d = int(min(w, x2 + mx)), int(min(h, y2 + my))
        if c - a < 4 or d - b < 4:
            out.append(0)
            continue
        found = pose.detect(np.ascontiguousarray(image[b:d, a:c]))
        if len(found) == 0 or found.keypoints is None:
            out.append(0)
            continue
        best = int(np.argmax(found.score))
        out.append(int((found.keypoints[best, :, 2] > 0.5).sum()))
    return out


def _det_pose_crops(models: Models) -> Design:
    def run(seq: list[Sample]) -> tuple[list[Boxes], list[float]]:
        det = models.get("yolo11n-det", 640)
        boxes: list[Boxes] = []
        kp_ok: list[float] = []
        for s in seq:
            b = det.detect(s.image).xyxy
            boxes.append(b)
            if len(b) and len(s.gt):
                matched = b[np.max(box_iou(b, s.gt), axis=1) >= IOU]
                kp_ok.extend(float(k >= 5) for k in _crop_keypoints(models, s.image, matched))
        return boxes, kp_ok

    return run


def _tiled(models: Models) -> Design:
    def run(seq: list[Sample]) -> tuple[list[Boxes], list[float]]:
        det = models.get("yolo11n-det", 640)
        out = []
        for s in seq:
            h, w = s.image.shape[:2]
            parts = [det.detect(s.image)]
            tw, th = int(w * 0.6), int(h * 0.6)
            for ox in (0, w - tw):
                for oy in (0, h - th):
                    d = det.detect(np.ascontiguousarray(s.image[oy : oy + th, ox : ox + tw]))
                    parts.append(Detections(d.xyxy + np.array([ox, oy, ox, oy], np.float32), d.score, d.class_id))
            xyxy = np.concatenate([p.xyxy for p in parts]).reshape(-1, 4)
            score = np.concatenate([p.score for p in parts])
            keep = nms(xyxy, score, 0.6) if len(score) else np.zeros(0, np.intp)
            out.append(xyxy[keep].astype(np.float32).reshape(-1, 4))
        return out, []

    return run


def _bytetrack(models: Models, fps: float) -> Design:
    def run(seq: list[Sample]) -> tuple[list[Boxes], list[float]]:
        import supervision as sv
        import trackers

        det = models.get("yolo11n-det", 640)
        trk = trackers.ByteTrackTracker(frame_rate=fps)
        out = []
        for s in seq:
            d = det.detect(s.image)
            svd = (
                sv.Detections(xyxy=d.xyxy.astype(np.float32), confidence=d.score, class_id=d.class_id)
                if len(d)
                else sv.Detections.empty()
            )
            r = trk.update(svd)
            ids = np.asarray(r.tracker_id if r.tracker_id is not None else np.zeros(len(r.xyxy)) - 1)
            out.append(np.asarray(r.xyxy[ids >= 0], np.float32).reshape(-1, 4))
        return out, []

    return run


def _storelens(models: Models, fps: float) -> Design:
    """The default pipeline's boxes: pose@960 and the default tracker with its visit stitching, as
    the behaviour stage counts them (confirmed tracks, including the size-aware low-score births)."""

    def run(seq: list[Sample]) -> tuple[list[Boxes], list[float]]:
        from storelens.config.detection import TrackerConfig
        from storelens.tracking.registry import make_stitcher, make_tracker

        det = models.get("yolo11n-pose", 960)
        cfg = TrackerConfig()
        trk, stitcher = make_tracker(cfg), make_stitcher(cfg)
        out = []
        for i, s in enumerate(seq):
            t = i / fps
            tr = trk.update(det.detect(s.image), t, s.image)
            if stitcher is not None:
                tr = stitcher.update(tr, t, s.image)
            out.append(np.asarray(tr.xyxy, np.float32).reshape(-1, 4))
        return out, []

    return run


def _crops(models: Models, fps: float, tracked: bool, overrides: dict[str, str] | None = None) -> Design:
    """pose@960 plus the second pass on crops (``detector.second_pass``, issue 13): the default
    tracker runs alongside, because the crops go where its tracks expect a person the full frame
    missed (and around small moving regions). ``tracked=False`` scores the detections (full frame
    plus crop finds), ``tracked=True`` the tracks the behaviour stage would count. ``overrides``:
    ``detector.second_pass`` settings (``--crops KEY=VALUE``) for a sweep on the select split."""

    def run(seq: list[Sample]) -> tuple[list[Boxes], list[float]]:
        from storelens.config.detection import SecondPassConfig, TrackerConfig
        from storelens.pipeline.second_pass import SecondPass
        from storelens.tracking.base import PredictsBoxes
        from storelens.tracking.registry import make_stitcher, make_tracker

        det = models.get("yolo11n-pose", 960)
        sp_cfg = SecondPassConfig.model_validate({**(overrides or {}), "enabled": True})
        second = SecondPass(sp_cfg, models.get("yolo11n-pose", sp_cfg.crop_input), 960)
        cfg = TrackerConfig()
        trk, stitcher = make_tracker(cfg), make_stitcher(cfg)
        out = []
        for i, s in enumerate(seq):
            t = i / fps
            predicted = trk.predicted_boxes(t) if isinstance(trk, PredictsBoxes) else None
            d = second.run(s.image, det.detect(s.image), predicted)
            tr = trk.update(d, t, s.image)
            if stitcher is not None:
                tr = stitcher.update(tr, t, s.image)
            out.append(np.asarray((tr if tracked else d).xyxy, np.float32).reshape(-1, 4))
        return out, []

    return run


# scoring --------------------------------------------------------------------------------------
@dataclass
class Score:
    tp_gt: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(len(BANDS), np.int64))
    n_gt: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(len(BANDS), np.int64))
    tp_det: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(len(BANDS), np.int64))
    n_det: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(len(BANDS), np.int64))
    keypoints: list[float] = field(default_factory=list)
    seconds: float = 0.0
    frames: int = 0

    def add(self, gt: Boxes, det: Boxes) -> None:
        gt_hit = np.zeros(len(gt), bool)
        det_hit = np.zeros(len(det), bool)
        if len(gt) and len(det):
            iou = box_iou(det, gt)
            for flat in np.argsort(-iou, axis=None):
                di, gi = np.unravel_index(flat, iou.shape)
                if iou[di, gi] < IOU:
                    break
                if not det_hit[di] and not gt_hit[gi]:
                    det_hit[di] = gt_hit[gi] = True
        gb, db = band_of(gt[:, 3] - gt[:, 1]), band_of(det[:, 3] - det[:, 1])
        np.add.at(self.n_gt, gb, 1)
        np.add.at(self.tp_gt, gb[gt_hit], 1)
        np.add.at(self.n_det, db, 1)
        np.add.at(self.tp_det, db[det_hit], 1)

    def recall(self) -> npt.NDArray[np.float64]:
        return np.where(self.n_gt > 0, self.tp_gt / np.maximum(self.n_gt, 1), np.nan)

    def precision(self) -> npt.NDArray[np.float64]:
        return np.where(self.n_det > 0, self.tp_det / np.maximum(self.n_det, 1), np.nan)

    def summary(self, lo_band: int) -> tuple[float, float]:
        """Recall of all people in the bands from ``lo_band`` up, and overall precision."""
        rec = self.tp_gt[lo_band:].sum() / max(1, self.n_gt[lo_band:].sum())
        prec = self.tp_det.sum() / max(1, self.n_det.sum())
        return float(rec), float(prec)


def _fmt(values: npt.NDArray[np.float64]) -> str:
    return " ".join(f"{'  -  ' if np.isnan(v) else f'{v:5.2f}':>7}" for v in values)


def print_table(title: str, scores: dict[str, Score]) -> None:
    any_score = next(iter(scores.values()))
    print(f"\n## {title}")
    print(f"people per band (gt): {' '.join(f'{n}={int(c)}' for n, c in zip(BAND_NAMES, any_score.n_gt, strict=True))}")
    head = " ".join(f"{n:>7}" for n in BAND_NAMES)
    print(f"{'design':<20} {'':4} {head}   R>=30  R>=40  P-all  kp>=5  ms/frame")
    for name, s in scores.items():
        r30, prec = s.summary(1)
        r40, _ = s.summary(2)
        kp = f"{np.mean(s.keypoints):5.2f}" if s.keypoints else "   - "
        ms = 1000 * s.seconds / max(1, s.frames)
        print(f"{name:<20} {'R':4} {_fmt(s.recall())}   {r30:5.2f}  {r40:5.2f}  {prec:5.2f}  {kp}  {ms:7.0f}")
        print(f"{'':<20} {'P':4} {_fmt(s.precision())}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=3, help="use every Nth frame (default 3)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--designs", nargs="*", help="only these designs (default: all)")
    ap.add_argument("--crops", action="append", default=[], help="detector.second_pass override, KEY=VALUE")
    ap.add_argument("--select-only", action="store_true", help="only the select split (a sweep tunes there)")
    args = ap.parse_args(argv)
    if args.every < 1:
        print("--every must be >= 1", file=sys.stderr)
        return 2
    models = Models(args.threads)
    clips = sorted(ANNOTATIONS.glob("*.json"), key=lambda p: p.name != SELECT)
    if args.select_only:
        clips = [p for p in clips if p.name == SELECT]
    crops = {k: v for k, _, v in (item.partition("=") for item in args.crops)}
    per_split: dict[str, dict[str, Score]] = {}
    for ann_path in clips:
        split = "select" if ann_path.name == SELECT else "report"
        frames, gts = load_clip(ann_path)
        fps = float(json.loads(ann_path.read_text())["fps"]) / args.every
        designs: dict[str, Design] = {
            "pose@640": _plain(models, "yolo11n-pose", 640),
            "det@640": _plain(models, "yolo11n-det", 640),
            "det+pose-crops": _det_pose_crops(models),
            "tiled-det": _tiled(models),
            "det@960": _plain(models, "yolo11n-det", 960),
            "pose@960": _plain(models, "yolo11n-pose", 960),
            "pose@1280": _plain(models, "yolo11n-pose", 1280),
            "pose@960+crops": _crops(models, fps, tracked=False, overrides=crops),
            "pose@960+storelens": _storelens(models, fps),
            "pose@960+crops+storelens": _crops(models, fps, tracked=True, overrides=crops),
            "det@640+ByteTrack": _bytetrack(models, fps),
        }
        if args.designs:
            designs = {n: d for n, d in designs.items() if n in args.designs}
        scores = per_split.setdefault(split, {name: Score() for name in designs})
        index = list(range(0, len(frames), args.every))
        for variant, seq in variants(frames, gts, index):
            for name, design in designs.items():
                t0 = time.process_time()
                boxes, kp = design(seq)
                scores[name].seconds += time.process_time() - t0
                scores[name].frames += len(seq)
                scores[name].keypoints.extend(kp)
                for s, b in zip(seq, boxes, strict=True):
                    scores[name].add(s.gt, b)
            print(f"{ann_path.stem} {variant}: {len(seq)} frames", file=sys.stderr)
    select = per_split["select"]
    trackers_ = ("ByteTrack", "storelens", "crops")  # detector designs are chosen, tracked rows only reported
    ok = {n: s.summary(1) for n, s in select.items() if s.summary(1)[1] >= 0.8 and not any(t in n for t in trackers_)}
    chosen = max(ok, key=lambda n: ok[n][0]) if ok else max(select, key=lambda n: select[n].summary(1)[0])
    print(f"# detection_scale: every {args.every}th frame, IoU >= {IOU}, CPU time per frame (process time)")
    print_table(f"SELECT split ({SELECT}): choose the design here", select)
    print(f"\nchosen on the select split: {chosen} (best recall >= 30 px with precision >= 0.8)")
    if "report" in per_split:
        print_table("REPORT split (held out: other annotated clips)", per_split["report"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
