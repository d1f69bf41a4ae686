"""Why the second pass on crops misses a person: a per-frame trace, and the misses per cause.

Why: an error in ``bench/counts.py`` or ``bench/detection_scale.py`` says *that* a small person was
lost, not whether the crops never looked there, looked and the model found nothing, or found them
and the tracker did not confirm the track in time. The fix differs for each (seed crops earlier,
a better model or input, a tracker rule), so this prints the cause, issue 13.

* ``trace CLIP K``: ``bench/counts.py``'s clip ``CLIP`` shrunk ``K`` times, frame by frame: for
  each labelled person, whether the full frame (``FF``) or a crop (``CR``) found them (score, IoU),
  the tracker row that holds them (id, confirmed, hits / hits needed, low-score born, frames
  missed), whether a track is reported (``OUT``), the crops that ran (``t`` track, ``m`` motion),
  and at the end the (dwell, crossings) counted against the truth.
* ``misses``: ``bench/detection_scale.py``'s select clip, every 4th frame, all variants: each
  person in ``--band`` that the full frame plus crops do not find at IoU >= 0.5, by what the
  crops did (inside a crop that ran or not; the crop model found nothing, a poor box, or a find
  the later filters dropped).

    .venv/bin/python bench/crop_trace.py trace face-demographics-walking 4 \\
        [--cache DIR] [--crops motion_width=384]
    .venv/bin/python bench/crop_trace.py misses [--band 40,60]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import counts
import detection_scale
from storelens.config.detection import DetectorConfig, SecondPassConfig, TrackerConfig
from storelens.core.types import Detections
from storelens.pipeline.second_pass import Crop, SecondPass, crop_detector
from storelens.tracking.base import PredictsBoxes
from storelens.tracking.registry import make_stitcher, make_tracker
from storelens.tracking.storelens_tracker import StorelensTracker
from storelens.vision.detector import YoloDetector
from storelens.vision.yolo import box_iou

Boxes = detection_scale.Boxes


def _best(box: Boxes, others: Boxes) -> tuple[int, float]:
    if not len(others):
        return -1, 0.0
    iou = box_iou(box[None], others.reshape(-1, 4))[0]
    j = int(iou.argmax())
    return j, float(iou[j])


def _record_finds(second_pass: SecondPass) -> list[tuple[Boxes, Boxes]]:
    """Wrap the pass's mapping of crop finds back to the frame so each crop's finds are kept
    before and after the crop-edge cut (the list is filled per frame; clear it before each)."""
    raw: list[tuple[Boxes, Boxes]] = []
    back = second_pass._back
    side_px = float(second_pass.cfg.crop_input)

    def record(d: Detections, c: Crop, fw: int, fh: int) -> Detections:
        before = d.xyxy.reshape(-1, 4) * (c.side / side_px) + np.array([c.x0, c.y0, c.x0, c.y0], np.float32)
        after = back(d, c, fw, fh)
        raw.append((before.astype(np.float32), after.xyxy.reshape(-1, 4).astype(np.float32)))
        return after

    second_pass._back = record  # type: ignore[method-assign]
    return raw


def trace(clip: str, k: int, second: SecondPassConfig, cache: Path | None) -> int:
    frames, times, gts = counts.load(counts.ANNOTATIONS / f"{clip}.json")
    shrunk = [counts.shrink(f, k) for f in frames]
    images = [s[0] for s in shrunk]
    scale, offset = shrunk[0][1], shrunk[0][2]
    h, w = frames[0].shape[:2]
    size = (images[0].shape[1], images[0].shape[0])
    store = counts.store_for(w, h, scale, offset)
    cfg = DetectorConfig(threads=2, device="cpu", second_pass=second.model_copy(update={"enabled": True}))
    detector = YoloDetector(cfg)
    tracker, stitcher = make_tracker(TrackerConfig()), make_stitcher(TrackerConfig())
    second_pass = SecondPass(cfg.second_pass, crop_detector(detector, cfg), cfg.input_size)
    where = cache / f"{clip}.shrink-{k}.npz" if cache is not None and k > 1 else None
    dets = counts.cached_detections(where, images, detector)
    move = np.array([offset[0], offset[1]] * 2, np.float32)
    print(f"# {clip} shrink-{k}, line x = {offset[0] + 0.5 * w * scale:.0f}, {cfg.second_pass}")
    out = []
    for i, (image, d, t) in enumerate(zip(images, dets, times, strict=True)):
        predicted = tracker.predicted_boxes(t) if isinstance(tracker, PredictsBoxes) else None
        merged = second_pass.run(image, d, predicted)
        tr = tracker.update(merged, t, image)
        shown = stitcher.update(tr, t, image) if stitcher is not None else tr
        out.append(shown)
        cells = [f"f{i:02d} t={t:4.2f}"]
        for box, who in zip(gts[i][0] * scale + move, gts[i][1], strict=True):
            cell = f"P{who} cx={(box[0] + box[2]) / 2:4.0f} h={box[3] - box[1]:3.0f}"
            j, iou = _best(box, merged.xyxy)
            cell += f" {'FF' if j < len(d) else 'CR'} s={merged.score[j]:.2f} iou={iou:.2f}" if iou > 0.3 else " miss"
            if isinstance(tracker, StorelensTracker) and len(tracker._tracks):
                rows = tracker._tracks
                r, iou = _best(box, rows.last_box.astype(np.float32))
                if iou > 0.2:
                    cell += (
                        f" track(id={rows.ids[r]} conf={int(rows.confirmed[r])} hits={rows.hits[r]}/"
                        f"{rows.need_hits[r]} low={int(rows.low_born[r])} missed={rows.missed[r]})"
                    )
            cell += " OUT" if _best(box, shown.xyxy)[1] > 0.3 else ""
            cells.append(cell)
        cells.append(f"crops[{''.join(c.why[0] for c in second_pass.last_crops)}]")
        print(" | ".join(cells))
    got = counts.count(store, out, times, size)
    truth = counts.count(store, counts.truth_tracks(gts, scale, offset), times, size)
    print(f"counted {got[0]:.1f} s {got[1]}x, truth {truth[0]:.1f} s {truth[1]}x")
    return 0


def misses(band: tuple[float, float], second: SecondPassConfig) -> int:
    ann = detection_scale.ANNOTATIONS / detection_scale.SELECT
    frames, gts = detection_scale.load_clip(ann)
    fps = float(json.loads(ann.read_text())["fps"]) / 4
    models = detection_scale.Models(2)
    full_det = models.get("yolo11n-pose", 960)
    cfg = second.model_copy(update={"enabled": True})
    causes: Counter[str] = Counter()
    where: Counter[str] = Counter()
    for variant, seq in detection_scale.variants(frames, gts, list(range(0, len(frames), 4))):
        second_pass = SecondPass(cfg, models.get("yolo11n-pose", cfg.crop_input), 960)
        raw = _record_finds(second_pass)
        tracker = make_tracker(TrackerConfig())
        for i, s in enumerate(seq):
            t = i / fps
            raw.clear()
            predicted = tracker.predicted_boxes(t) if isinstance(tracker, PredictsBoxes) else None
            full = full_det.detect(s.image)
            merged = second_pass.run(s.image, full, predicted)
            tracker.update(merged, t, s.image)
            before = np.concatenate([b for b, _ in raw] + [np.zeros((0, 4), np.float32)])
            after = np.concatenate([a for _, a in raw] + [np.zeros((0, 4), np.float32)])
            heights = s.gt[:, 3] - s.gt[:, 1]
            for box in s.gt[(heights >= band[0]) & (heights < band[1])]:
                if _best(box, merged.xyxy)[1] >= 0.5:
                    continue
                looked = any(
                    c.x0 <= box[0] and c.y0 <= box[1] and c.x0 + c.side >= box[2] and c.y0 + c.side >= box[3]
                    for c in second_pass.last_crops
                )
                found, kept = _best(box, before)[1], _best(box, after)[1]
                if not looked:
                    cause = "no crop there"
                elif found < 0.3:
                    cause = "in a crop: found nothing"
                elif found < 0.5:
                    cause = "in a crop: poor box"
                elif kept < 0.5:
                    cause = "in a crop: cut by its edge"
                else:
                    cause = "in a crop: dropped by the later filters"
                causes[cause] += 1
                where[variant] += 1
    print(f"# misses {band[0]:.0f}-{band[1]:.0f} px, {detection_scale.SELECT}, every 4th frame, {cfg}")
    for cause, n in causes.most_common():
        print(f"{cause}: {n}")
    print("per variant: " + ", ".join(f"{v} {n}" for v, n in where.most_common()))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("trace", "misses"))
    ap.add_argument("clip", nargs="?", default="face-demographics-walking")
    ap.add_argument("shrink", nargs="?", type=int, default=4)
    ap.add_argument("--cache", type=Path, default=None, help="bench/counts.py's detection cache")
    ap.add_argument("--band", default="40,60", help="misses: person heights lo,hi (frame pixels)")
    ap.add_argument("--crops", action="append", default=[], help="detector.second_pass override, KEY=VALUE")
    args = ap.parse_args(argv)
    second = SecondPassConfig.model_validate({k: v for k, _, v in (item.partition("=") for item in args.crops)})
    if args.what == "trace":
        return trace(args.clip, args.shrink, second, args.cache)
    lo, _, hi = args.band.partition(",")
    return misses((float(lo), float(hi)), second)


if __name__ == "__main__":
    raise SystemExit(main())
