"""Interaction events on real video against hand annotations, next to a naive baseline.

Runs the real pose model (``YoloDetector``, yolo11n-pose) over the annotated CC-BY clips in
``../shared/data/video``, links detections into tracks with a small greedy IoU matcher (the clips
have at most four people; a private matcher keeps this benchmark about interaction, not about the
tracker), feeds :class:`storelens.interaction.InteractionStage`, and scores its ``shelf.reach`` and
``attention.*`` events against ``tests/data/annotations/*.json``:

* an annotated episode is *found* when an event of the same person (tracks are assigned to
  annotated people by box IoU) and zone overlaps it in time; matching is one-to-one, so a reach
  split into three events is one hit and two false positives;
* events overlapping an ``ignore`` interval (behaviour the annotator could not judge) are not
  scored.

Baseline (reaches): "wrist in polygon" -- any wrist keypoint inside a shelf polygon on a frame,
no visibility gating, no extension test, no smoothing; each run of such frames is one reach.
For the head-pose clip it also reports how often the head yaw falls in the annotated range.

    .venv/bin/python bench/interaction.py [--input-size 960]
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from storelens.config.store import StoreConfig
from storelens.core.geometry import iou_matrix, points_in_polygon
from storelens.core.types import KP, Detections, Tracks
from storelens.events.models import Event
from storelens.interaction import InteractionStage, estimate_orientation

ROOT = Path(__file__).resolve().parents[1]
ANNOTATIONS = ROOT / "tests" / "data" / "annotations"
CLIPS = ("store-aisle-detection", "head-pose-face-detection-female-and-male")


# -- inputs ---------------------------------------------------------------------------------------
def load_annotation(name: str) -> dict[str, Any]:
    return dict(json.loads((ANNOTATIONS / f"{name}.json").read_text()))


def clip_path(ann: dict[str, Any]) -> Path:
    return (ROOT / ann["clip_root"] / ann["clip"]).resolve()


def read_frames(path: Path) -> Iterator[tuple[float, npt.NDArray[np.uint8]]]:
    """(pts seconds, BGR image) for every frame of a GIF/video."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            pts = float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
            yield pts, frame.to_ndarray(format="bgr24")


def store_for(ann: dict[str, Any]) -> StoreConfig:
    zones = [{**z, "camera": "cam"} for z in ann["zones"]]
    interaction = ann.get("config", {})
    return StoreConfig.model_validate(
        {
            "store_id": "bench",
            "cameras": [{"id": "cam", "source": ann["clip"]}],
            "zones": zones,
            "interaction": interaction,
        }
    )


class IouLinker:
    """Greedy IoU frame-to-frame matching: enough for a few people who barely move."""

    def __init__(self, min_iou: float = 0.3, max_age_s: float = 0.5) -> None:
        self.min_iou = min_iou
        self.max_age_s = max_age_s
        self._boxes: dict[int, tuple[npt.NDArray[np.float32], float]] = {}
        self._next = 1

    def update(self, det: Detections, pts: float) -> Tracks:
        self._boxes = {k: v for k, v in self._boxes.items() if pts - v[1] <= self.max_age_s}
        ids = list(self._boxes)
        prev = np.array([self._boxes[k][0] for k in ids]).reshape(-1, 4)
        iou = iou_matrix(det.xyxy, prev)
        assigned = np.full(len(det), -1, np.int64)
        used: set[int] = set()
        for flat in np.argsort(-iou, axis=None):
            i, j = np.unravel_index(flat, iou.shape)
            if iou[i, j] < self.min_iou:
                break
            if assigned[i] >= 0 or j in used:
                continue
            assigned[i] = ids[j]
            used.add(int(j))
        for i in range(len(det)):
            if assigned[i] < 0:
                assigned[i] = self._next
                self._next += 1
            self._boxes[int(assigned[i])] = (det.xyxy[i], pts)
        return Tracks(
            xyxy=det.xyxy,
            score=det.score,
            class_id=det.class_id,
            track_id=assigned,
            detection_index=np.arange(len(det), dtype=np.int32),
            keypoints=det.keypoints,
        )


@dataclass(slots=True)
class ClipRun:
    events: list[Event]
    frames: list[tuple[float, Tracks]]
    wall0: float
    seconds: float


def run_clip(ann: dict[str, Any], detector: Any, max_frames: int | None = None) -> ClipRun:
    """Detector -> IoU linker -> InteractionStage over one annotated clip."""
    store = store_for(ann)
    stage = InteractionStage(store, "cam")
    linker = IouLinker()
    wall0 = 1_700_000_000.0
    events: list[Event] = []
    frames: list[tuple[float, Tracks]] = []
    t0 = time.perf_counter()
    last = 0.0
    for n, (pts, image) in enumerate(read_frames(clip_path(ann))):
        if max_frames is not None and n >= max_frames:
            break
        tracks = linker.update(detector.detect(image), pts)
        frames.append((pts, tracks))
        events += stage.update(image, tracks, pts, wall0 + pts)
        last = pts
    events += stage.close(last, wall0 + last)
    return ClipRun(events, frames, wall0, time.perf_counter() - t0)


# -- scoring --------------------------------------------------------------------------------------
def gt_box(keyframes: Sequence[Sequence[Any]], t: float) -> npt.NDArray[np.float64] | None:
    """Annotated box of a person at time t (linear between keyframes; None outside them)."""
    times = [float(k[0]) for k in keyframes]
    if t < times[0] - 0.1 or t > times[-1] + 0.1:
        return None
    boxes = np.array([k[1] for k in keyframes], dtype=np.float64)
    return np.array([np.interp(t, times, boxes[:, c]) for c in range(4)])


def assign_tracks(ann: dict[str, Any], frames: Sequence[tuple[float, Tracks]]) -> dict[int, str]:
    """Track id -> annotated person by mean box IoU over the frames they share (>= 0.3)."""
    score: dict[tuple[int, str], list[float]] = {}
    for pts, tracks in frames:
        for person, kf in ann["people"].items():
            box = gt_box(kf, pts)
            if box is None or not len(tracks):
                continue
            ious = iou_matrix(tracks.xyxy, box[None])[:, 0]
            for tid, iou in zip(tracks.subject_id.tolist(), ious.tolist(), strict=True):
                score.setdefault((tid, person), []).append(iou)
    best: dict[int, tuple[float, str]] = {}
    for (tid, person), vals in score.items():
        m = float(np.mean(vals))
        if m >= 0.3 and m > best.get(tid, (0.0, ""))[0]:
            best[tid] = (m, person)
    return {tid: p for tid, (_, p) in best.items()}


@dataclass(frozen=True, slots=True)
class Episode:
    person: str
    zone: str
    start: float
    end: float
    side: str | None = None


def overlap(a: Episode, b: Episode) -> float:
    return max(0.0, min(a.end, b.end) - max(a.start, b.start)) + (1e-3 if a.start <= b.end and b.start <= a.end else 0)


def score(pred: list[Episode], gt: list[Episode], ignore: list[Episode]) -> dict[str, Any]:
    """One-to-one matching by temporal overlap; returns tp/fp/fn, precision, recall."""
    pairs = sorted(
        (
            (overlap(p, g), i, j)
            for i, p in enumerate(pred)
            for j, g in enumerate(gt)
            if p.person == g.person and p.zone == g.zone
        ),
        reverse=True,
    )
    mp: set[int] = set()
    mg: set[int] = set()
    for ov, i, j in pairs:
        if ov > 0 and i not in mp and j not in mg:
            mp.add(i)
            mg.add(j)
    ignored = {
        i
        for i, p in enumerate(pred)
        if i not in mp and any(p.person == g.person and g.zone in ("*", p.zone) and overlap(p, g) > 0 for g in ignore)
    }
    tp = len(mp)
    fp = len(pred) - tp - len(ignored)
    fn = len(gt) - len(mg)
    side_ok = sum(
        1
        for i in mp
        for j in mg
        if pred[i].side is not None
        and pred[i].side == gt[j].side
        and pred[i].zone == gt[j].zone
        and pred[i].person == gt[j].person
    )
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "ignored": len(ignored),
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "side_correct": side_ok,
    }


def gt_episodes(ann: dict[str, Any], kind: str) -> list[Episode]:
    return [Episode(e["person"], e["zone"], e["start_s"], e["end_s"], e.get("side")) for e in ann[kind]]


def ignore_episodes(ann: dict[str, Any], kind: str) -> list[Episode]:
    return [Episode(e["person"], e["zone"], e["start_s"], e["end_s"]) for e in ann["ignore"] if e["kind"] == kind]


def predicted(run: ClipRun, who: dict[int, str], etype: str) -> list[Episode]:
    out = []
    for e in run.events:
        if e.type != etype or e.subject is None:
            continue
        person = next((p for tid, p in who.items() if format(tid, "x") == e.subject), f"track-{e.subject}")
        end = e.ts.timestamp() - run.wall0
        dur = float(e.payload["duration_s"])
        out.append(Episode(person, str(e.zone_id), end - dur, end, e.payload.get("side")))
    return out


def naive_reaches(ann: dict[str, Any], run: ClipRun, who: dict[int, str]) -> list[Episode]:
    """The baseline: runs of frames with any wrist keypoint inside a shelf/display polygon."""
    open_: dict[tuple[int, str, int], float] = {}
    last: dict[tuple[int, str, int], float] = {}
    out: list[Episode] = []
    times = [pts for pts, _ in run.frames]
    for pts, tracks in run.frames:
        now: set[tuple[int, str, int]] = set()
        if tracks.keypoints is not None:
            for z in ann["zones"]:
                for h, kp in enumerate((KP["left_wrist"], KP["right_wrist"])):
                    inside = points_in_polygon(tracks.keypoints[:, kp, :2], z["points"])
                    for tid, ok in zip(tracks.subject_id.tolist(), inside.tolist(), strict=True):
                        if ok:
                            now.add((tid, z["id"], h))
        for key in now:
            open_.setdefault(key, pts)
            last[key] = pts
        for key in [k for k in open_ if k not in now]:
            out.append(
                Episode(
                    who.get(key[0], f"track-{key[0]}"), key[1], open_.pop(key), last[key], ("left", "right")[key[2]]
                )
            )
    for key, start in open_.items():
        out.append(Episode(who.get(key[0], f"track-{key[0]}"), key[1], start, times[-1], ("left", "right")[key[2]]))
    return out


def yaw_accuracy(ann: dict[str, Any], run: ClipRun, who: dict[int, str]) -> tuple[int, int, int]:
    """(frames in the annotated yaw range, frames in range for the shoulders-only baseline, frames)."""
    ok = base_ok = total = 0
    for pts, tracks in run.frames:
        if tracks.keypoints is None:
            continue
        for tid, kp in zip(tracks.subject_id.tolist(), tracks.keypoints, strict=True):
            person = who.get(tid)
            for y in ann.get("yaw", []):
                if y["person"] == person and y["start_s"] <= pts <= y["end_s"]:
                    total += 1
                    o = estimate_orientation(kp)
                    ok += int(y["min_deg"] <= o.yaw_deg <= y["max_deg"])
                    b = o.body_yaw_deg
                    base_ok += int(b is not None and y["min_deg"] <= b <= y["max_deg"])
    return ok, base_ok, total


def fmt(s: dict[str, Any]) -> str:
    return f"P={s['precision']:.2f} R={s['recall']:.2f} (tp={s['tp']} fp={s['fp']} fn={s['fn']} ignored={s['ignored']})"


def main() -> int:
    from storelens.config.detection import DetectorConfig
    from storelens.vision.detector import YoloDetector

    size = int(sys.argv[sys.argv.index("--input-size") + 1]) if "--input-size" in sys.argv else 640
    detector = YoloDetector(DetectorConfig(input_size=size))
    print(f"pose model yolo11n-pose, input size {size}")
    totals = {"ours": [0, 0, 0], "naive": [0, 0, 0], "att": [0, 0, 0]}
    for name in CLIPS:
        ann = load_annotation(name)
        run = run_clip(ann, detector)
        who = assign_tracks(ann, run.frames)
        print(
            f"\n== {name}: {len(run.frames)} frames in {run.seconds:.1f} s (detector + stage); tracks -> people {who}"
        )
        ours = score(predicted(run, who, "shelf.reach"), gt_episodes(ann, "reaches"), ignore_episodes(ann, "reaches"))
        naive = score(naive_reaches(ann, run, who), gt_episodes(ann, "reaches"), ignore_episodes(ann, "reaches"))
        att = score(
            predicted(run, who, "attention.ended"), gt_episodes(ann, "attention"), ignore_episodes(ann, "attention")
        )
        for key, s in (("ours", ours), ("naive", naive), ("att", att)):
            for k, f in enumerate(("tp", "fp", "fn")):
                totals[key][k] += s[f]
        if ann["reaches"]:
            print(f"  reach  ours : {fmt(ours)}, side correct {ours['side_correct']}/{ours['tp']}")
            print(f"  reach  naive: {fmt(naive)}")
        print(f"  attention   : {fmt(att)}")
        if ann.get("yaw"):
            ok, base_ok, total = yaw_accuracy(ann, run, who)
            print(
                f"  head yaw in annotated range: {ok}/{total} = {ok / max(total, 1):.2f} "
                f"(shoulders-only baseline {base_ok}/{total} = {base_ok / max(total, 1):.2f})"
            )
        for e in run.events:
            if e.type in ("shelf.reach", "attention.ended", "product.picked", "product.returned"):
                keep = {
                    k: e.payload[k]
                    for k in ("side", "duration_s", "max_depth", "hand_source", "confidence", "engaged")
                    if k in e.payload
                }
                print(
                    f"    {e.type:17s} {who.get(int(e.subject or '0', 16), e.subject)!s:12s} {e.zone_id:13s} "
                    f"t_end={e.ts.timestamp() - run.wall0:5.2f} {keep}"
                )

    def pr(t: list[int]) -> str:
        tp, fp, fn = t
        p = tp / (tp + fp) if tp + fp else float("nan")
        r = tp / (tp + fn) if tp + fn else float("nan")
        return f"P={p:.2f} R={r:.2f} (tp={tp} fp={fp} fn={fn})"

    print("\n== totals over both clips")
    print(f"  shelf.reach ours : {pr(totals['ours'])}")
    print(f"  shelf.reach naive: {pr(totals['naive'])}")
    tp_o, fp_o, _ = totals["ours"]
    tp_n, fp_n, _ = totals["naive"]
    p_o = tp_o / max(tp_o + fp_o, 1)
    p_n = tp_n / max(tp_n + fp_n, 1)
    print(f"  precision ratio ours/naive = {p_o / p_n:.1f}x" if p_n > 0 else "  naive precision 0")
    print(f"  attention        : {pr(totals['att'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
