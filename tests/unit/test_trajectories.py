"""Real pedestrian movement through the behaviour analytics, checked by an independent script.

The trajectories are the MOTChallenge ground truth of TUD-Stadtmitte (10 pedestrians on a street,
25 fps, with each person's ground-plane position in metres) and TUD-Campus (image only). Boxes
become feet points, the camera is calibrated from the ground truth's own image/world pairs, and
every measure the stage reports is recomputed here by plain loops written from the definitions
(run-based stays, orientation-test line crossings, set-based heat cells), not by calling the
modules under test.

To get returns and revisits out of a 7-second clip, the clip is played forward and then backward
("ping-pong"): real motion, walked back.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from factories import make_tracks
from storelens.analytics.fusion import StoreFusion
from storelens.analytics.heatmap import HeatmapGrid, aggregate_points
from storelens.analytics.stage import BehaviourStage
from storelens.config.behaviour import FusionConfig
from storelens.config.store import StoreConfig
from storelens.core.types import Tracks
from testdata import shared_data_path, skip_unless_shared

MOT = shared_data_path("mot")
FPS = 25.0
ENTER, EXIT, MIN_DWELL, REVISIT = 0.2, 0.3, 0.4, 1.0

pytestmark = skip_unless_shared("mot")


def load(seq: str) -> np.ndarray:
    return np.loadtxt(MOT / seq / "gt" / "gt.txt", delimiter=",")


def ping_pong(g: np.ndarray) -> list[np.ndarray]:
    """Rows per replayed frame: forward, then backward without repeating the turning frame."""
    frames = [g[g[:, 0] == f] for f in range(1, int(g[:, 0].max()) + 1)]
    return frames + frames[-2::-1]


def frame_tracks(rows: np.ndarray) -> Tracks:
    xyxy = np.stack([rows[:, 2], rows[:, 3], rows[:, 2] + rows[:, 4], rows[:, 3] + rows[:, 5]], axis=1)
    return make_tracks(xyxy, rows[:, 1].astype(np.int64))


def store_for(seq: str, g: np.ndarray) -> StoreConfig:
    zone_cfg = {"enter_grace_s": ENTER, "exit_grace_s": EXIT, "min_dwell_s": MIN_DWELL}
    behaviour = {"revisit_gap_s": REVISIT, "heatmap": {"cell_m": 0.5, "cell_px": 32}, "subject_timeout_s": 2.0}
    if seq == "TUD-Stadtmitte":
        feet = np.stack([g[:, 2] + g[:, 4] / 2, g[:, 3] + g[:, 5]], axis=1)
        _, first = np.unique(g[:, 7:9].round(2), axis=0, return_index=True)
        cam = {
            "id": "cam",
            "source": "x",
            "calibration": {"image_points": feet[first].tolist(), "floor_points": g[first, 7:9].tolist()},
        }
        zones = [
            {"id": "west", "space": "floor", "points": [[3, 1], [8, 1], [8, 12], [3, 12]]},
            {"id": "east", "space": "floor", "points": [[10, 1], [17, 1], [17, 12], [10, 12]]},
            {"id": "north_east", "space": "floor", "points": [[11, 7.5], [17, 7.5], [17, 12], [11, 12]]},
        ]
        lines = [{"id": "mid", "space": "floor", "a": [9, 0], "b": [9, 12]}]
    else:
        cam = {"id": "cam", "source": "x"}
        zones = [
            {"id": "left", "camera": "cam", "points": [[0, 300], [320, 300], [320, 480], [0, 480]]},
            {"id": "right", "camera": "cam", "points": [[320, 250], [700, 250], [700, 480], [320, 480]]},
        ]
        lines = [{"id": "mid", "camera": "cam", "a": [320, 200], "b": [320, 480]}]
    return StoreConfig.model_validate(
        {
            "store_id": "tud",
            "cameras": [cam],
            "zones": zones,
            "lines": lines,
            "zone_analytics": zone_cfg,
            "behaviour": behaviour,
        }
    )


# ---- independent reference ---------------------------------------------------------------------


def ref_points(rows: np.ndarray, h: np.ndarray | None) -> dict[int, tuple[float, float]]:
    out = {}
    for r in rows:
        x, y = r[2] + r[4] / 2, r[3] + r[5]
        if h is not None:
            w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
            x, y = (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / w, (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / w
        out[int(r[1])] = (float(x), float(y))
    return out


def inside_poly(x: float, y: float, poly: list[tuple[float, float]]) -> bool:
    """Winding-number test (a different algorithm from the module's even-odd ray casting)."""
    wn = 0
    for (x1, y1), (x2, y2) in zip(poly, poly[1:] + poly[:1], strict=True):
        cross = (x2 - x1) * (y - y1) - (x - x1) * (y2 - y1)
        if y1 <= y < y2 and cross > 0:
            wn += 1
        elif y2 <= y < y1 and cross < 0:
            wn -= 1
    return wn != 0


def ref_stays(times: list[float], inside: list[bool]) -> list[tuple[float, float]]:
    """Stays from runs of inside frames: a run of >= ENTER opens a stay; later runs join it while
    the outside stretch before them (last outside frame - stay end) is < EXIT; report >= MIN_DWELL."""
    runs = []
    start = None
    for i, flag in enumerate(inside):
        if flag and start is None:
            start = i
        if start is not None and (not flag or i == len(inside) - 1):
            end = i if flag else i - 1
            runs.append((start, end))
            start = None
    stays: list[list[float]] = []
    open_stay: list[float] | None = None
    for s, e in runs:
        if open_stay is not None and times[s - 1] - open_stay[1] < EXIT:
            open_stay[1] = times[e]
            continue
        if open_stay is not None:
            stays.append(open_stay)
            open_stay = None
        if times[e] - times[s] >= ENTER:
            open_stay = [times[s], times[e]]
    if open_stay is not None:
        stays.append(open_stay)
    return [(a, b) for a, b in stays if b - a >= MIN_DWELL]


def ref_crossings(
    seq_pts: list[tuple[float, float]], a: tuple[float, float], b: tuple[float, float], band: float
) -> dict[str, int]:
    def side(p: tuple[float, float]) -> float:
        return ((b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])) / np.hypot(b[0] - a[0], b[1] - a[1])

    def ccw(p, q, r) -> float:  # type: ignore[no-untyped-def]
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    counts = {"in": 0, "out": 0}
    last = None
    for p in seq_pts:
        d = side(p)
        if abs(d) < band or d == 0:
            continue
        if last is not None and (side(last) > 0) != (d > 0):
            proper = ccw(last, p, a) * ccw(last, p, b) < 0 and ccw(a, b, last) * ccw(a, b, p) < 0
            if proper:
                counts["in" if d > 0 else "out"] += 1  # ends on the visual right of a->b: "in"
        last = p
    return counts


# ---- the replay ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seq", ["TUD-Stadtmitte", "TUD-Campus"])
def test_replay_matches_independent_reference(seq: str) -> None:
    g = load(seq)
    store = store_for(seq, g)
    stage = BehaviourStage(store, "cam")
    frames = ping_pong(g)
    times = [i / FPS for i in range(len(frames))]
    events = []
    for t, rows in zip(times, frames, strict=True):
        events += stage.update(frame_tracks(rows), t, 1.8e9 + t, frame_size=(640, 480))
    events += stage.close(times[-1], 1.8e9 + times[-1])
    summary = stage.summary()
    floor = seq == "TUD-Stadtmitte"
    h = stage.mapper.homography if stage.mapper is not None else None
    pts_per_frame = [ref_points(rows, h) for rows in frames]
    subjects = sorted({s for p in pts_per_frame for s in p})

    # zone stays
    got = sorted(
        (s.zone_id, s.subject, round(s.enter_pts, 3), round(s.exit_pts, 3)) for s in stage.measures.zones.stays()
    )
    want = []
    for z in store.zones:
        poly = [tuple(p) for p in z.points]
        for s in subjects:
            flags = [s in p and inside_poly(*p[s], poly) for p in pts_per_frame]
            want += [(z.id, s, round(a, 3), round(b, 3)) for a, b in ref_stays(times, flags)]
    assert got == sorted(want)
    assert len(want) >= 8, "the replay must exercise the zones"

    # per-zone table: visits, dwell median, revisits
    for row in summary["zones"]:
        mine = [w for w in want if w[0] == row["zone_id"]]
        assert row["visits"] == len(mine)
        if mine:
            assert row["median_dwell_s"] == pytest.approx(float(np.median([b - a for _, _, a, b in mine])), abs=0.01)
        by_subj: dict[int, list[tuple[float, float]]] = {}
        for _, s, a, b in mine:
            by_subj.setdefault(s, []).append((a, b))
        rv = sum(1 for st in by_subj.values() for p, q in itertools.pairwise(st) if q[0] - p[1] >= REVISIT)
        assert row["revisits"] == rv
    assert sum(r["revisits"] for r in summary["zones"]) >= 1, "ping-pong replay must produce revisits"
    assert sum(1 for e in events if e.type == "zone.revisited") == sum(r["revisits"] for r in summary["zones"])

    # line crossings
    line = store.lines[0]
    band = store.behaviour.line_hysteresis_m if floor else store.behaviour.line_hysteresis_px
    ref = {"in": 0, "out": 0}
    for s in subjects:
        c = ref_crossings([p[s] for p in pts_per_frame if s in p], line.a, line.b, band)
        ref["in"] += c["in"]
        ref["out"] += c["out"]
    (line_row,) = summary["lines"]
    assert (line_row["in"], line_row["out"]) == (ref["in"], ref["out"])
    assert ref["in"] + ref["out"] >= 4

    # heat maps: unique visits per cell and seconds per cell
    grid = HeatmapGrid.from_dict(summary["heatmaps"]["grid"])
    ref_traffic = np.zeros(grid.size)
    ref_dwell = np.zeros(grid.size)
    seen: set[tuple[int, int]] = set()
    for i, p in enumerate(pts_per_frame):
        dt = 0.0 if i == 0 else times[i] - times[i - 1]
        for s, (x, y) in p.items():
            cx, cy = int(np.floor((x - grid.x0) / grid.cell)), int(np.floor((y - grid.y0) / grid.cell))
            if not (0 <= cx < grid.nx and 0 <= cy < grid.ny):
                continue
            c = cy * grid.nx + cx
            ref_dwell[c] += dt
            if (c, s) not in seen:
                seen.add((c, s))
                ref_traffic[c] += 1
    np.testing.assert_array_equal(np.asarray(summary["heatmaps"]["traffic"]).ravel(), ref_traffic)
    np.testing.assert_allclose(np.asarray(summary["heatmaps"]["dwell_s"]).ravel(), ref_dwell, atol=0.01)

    # paths: split after subject_timeout_s unseen; total distance per subject
    timeout = store.behaviour.subject_timeout_s
    ref_paths = 0
    ref_dist = 0.0
    for s in subjects:
        seq_t = [(t, p[s]) for t, p in zip(times, pts_per_frame, strict=True) if s in p]
        ref_paths += 1 + sum(1 for (t0, _), (t1, _) in itertools.pairwise(seq_t) if t1 - t0 > timeout)
        ref_dist += sum(
            float(np.hypot(q[0] - p[0], q[1] - p[1]))
            for (t0, p), (t1, q) in itertools.pairwise(seq_t)
            if t1 - t0 <= timeout
        )
    paths = stage.measures.paths.finished
    assert len(paths) == ref_paths
    assert sum(p.distance for p in paths) == pytest.approx(ref_dist, rel=1e-6)
    if floor:  # real people walk at human speed: a sanity check of calibration + feet + timing
        speeds = [p.mean_speed for p in paths if p.mean_speed is not None and p.duration_s > 1.0]
        assert 0.6 < float(np.median(speeds)) < 2.0


def test_two_overlapping_cameras_are_fused_not_doubled() -> None:
    """Camera A sees the whole TUD-Stadtmitte street, camera B the east half, each with its own track
    ids and 5 cm of position noise: the fused store sees 10 people, and the traffic heat map is
    about the single-camera one, not double."""
    g = load("TUD-Stadtmitte")
    rng = np.random.default_rng(0)
    # hand-off off: an open street has no entrance zone, so a newcomer where someone just walked
    # out of view would be taken for them (a store's exits stop that; tests/unit/test_store_fusion.py)
    fusion = StoreFusion(FusionConfig(max_distance_m=1.0, max_age_s=0.2, handoff_s=0), seed=1)
    grid = HeatmapGrid.covering("floor", 20, 14, 0.5)
    fused_ids: set[int] = set()
    pts_fused, ids_fused, pts_a, ids_a, pts_b, ids_b = [], [], [], [], [], []
    for f in range(1, int(g[:, 0].max()) + 1):
        rows = g[g[:, 0] == f]
        wall = 1.8e9 + f / FPS
        world = rows[:, 7:9]
        for cam, mask, offset in (("A", np.ones(len(rows), bool), 0), ("B", world[:, 0] > 9, 1000)):
            xy = world[mask] + rng.normal(0, 0.05, size=(int(mask.sum()), 2))
            t = make_tracks(np.zeros((len(xy), 4)), rows[mask, 1].astype(np.int64) + offset, floor_xy=xy)
            fusion.update(cam, t, wall)
            (pts_a if cam == "A" else pts_b).append(xy)
            (ids_a if cam == "A" else ids_b).append(rows[mask, 1] + offset)
        fused = fusion.fused(wall)
        fused_ids |= set(fused.track_id.tolist())
        pts_fused.append(fused.floor_xy)
        ids_fused.append(fused.track_id)
        assert len(fused) == len(rows)  # one store subject per real person in every frame
    assert len(fused_ids) == len(np.unique(g[:, 1]))
    t_fused, _ = aggregate_points(grid, np.concatenate(pts_fused), np.concatenate(ids_fused), 1 / FPS)
    t_a, _ = aggregate_points(grid, np.concatenate(pts_a), np.concatenate(ids_a), 1 / FPS)
    t_naive, _ = aggregate_points(grid, np.concatenate(pts_a + pts_b), np.concatenate(ids_a + ids_b), 1 / FPS)
    assert abs(t_fused.sum() - t_a.sum()) < 0.1 * t_a.sum()
    assert t_naive.sum() > 1.3 * t_a.sum()


def test_fusion_keeps_side_by_side_people_apart_and_splits_drift() -> None:
    fusion = StoreFusion(FusionConfig(max_distance_m=1.0, max_age_s=1.0), seed=2)

    def tr(ids: list[int], xy: list[tuple[float, float]]) -> Tracks:
        return make_tracks(np.zeros((len(ids), 4)), ids, floor_xy=np.array(xy, dtype=np.float32).reshape(-1, 2))

    fusion.update("A", tr([1, 2], [(0, 0), (0.6, 0)]), 0.0)
    fusion.update("B", tr([7, 8], [(0.55, 0.05), (0.05, 0.0)]), 0.0)
    out = fusion.fused(0.0)
    assert len(out) == 2  # two people, each seen twice
    np.testing.assert_allclose(sorted(out.floor_xy[:, 0].tolist()), [0.025, 0.575], atol=1e-6)
    # B's track 7 drifts away from A's 2 (a wrong link, or they parted): split into its own subject
    fusion.update("A", tr([1, 2], [(0, 0), (0.6, 0)]), 0.1)
    fusion.update("B", tr([7, 8], [(4.0, 0.0), (0.05, 0.0)]), 0.1)
    assert len(fusion.fused(0.1)) == 3
    # a camera that stops reporting ages out
    fusion.update("A", tr([1, 2], [(0, 0), (0.6, 0)]), 2.0)
    assert len(fusion.fused(2.0)) == 2
    with pytest.raises(ValueError, match="floor_xy"):
        fusion.update("C", make_tracks(np.zeros((1, 4)), [1]), 0)
    assert len(StoreFusion().fused(0.0)) == 0
