"""Heat maps: binning, unique-visit traffic vs dwell seconds, buckets, storage size, rendering."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from storelens.analytics.heatmap import (
    HeatBucket,
    HeatmapAccumulator,
    HeatmapGrid,
    aggregate_points,
    render_heatmap,
    write_png,
)

GRID = HeatmapGrid.covering("floor", 10.0, 6.0, 0.5)  # 20 x 12 cells


@pytest.mark.parametrize(
    ("xy", "want"),
    [
        ((0.0, 0.0), 0),
        ((0.49, 0.49), 0),
        ((0.5, 0.0), 1),
        ((9.99, 5.99), 12 * 20 - 1),
        ((0.0, 0.5), 20),
        ((10.0, 1.0), -1),
        ((-0.01, 1.0), -1),
        ((1.0, 6.0), -1),
        ((np.nan, 1.0), -1),
    ],
)
def test_cell_index(xy: tuple[float, float], want: int) -> None:
    assert GRID.cell_index(np.array([xy])).tolist() == [want]


def test_grid_validation() -> None:
    with pytest.raises(ValueError):
        HeatmapGrid("floor", 0, 0, 0.0, 10, 10)
    with pytest.raises(ValueError, match="too fine"):
        HeatmapGrid.covering("floor", 1000, 1000, 0.1)
    assert GRID.cell_index(np.zeros((0, 2))).shape == (0,)


def test_aggregate_points_matches_plain_loop() -> None:
    rng = np.random.default_rng(0)
    n = 5000
    xy = rng.uniform(-0.5, 10.5, size=(n, 2)) * [1, 0.6]
    subj = rng.integers(0, 40, n)
    dt = rng.uniform(0.05, 0.2, n)
    traffic, dwell = aggregate_points(GRID, xy, subj, dt)
    ref_t = np.zeros(GRID.size)
    ref_d = np.zeros(GRID.size)
    seen: set[tuple[int, int]] = set()
    for (x, y), s, d in zip(xy, subj, dt, strict=True):
        if not (0 <= x < 10 and 0 <= y < 6):
            continue
        c = int(y // 0.5) * 20 + int(x // 0.5)
        ref_d[c] += d
        if (c, int(s)) not in seen:
            seen.add((c, int(s)))
            ref_t[c] += 1
    np.testing.assert_array_equal(traffic, ref_t)
    np.testing.assert_allclose(dwell, ref_d)
    t0, d0 = aggregate_points(GRID, np.zeros((0, 2)), np.zeros(0), 0.1)
    assert t0.sum() == 0 and d0.sum() == 0


def test_standing_still_is_one_visit_many_seconds() -> None:
    acc = HeatmapAccumulator(GRID, bucket_s=900)
    for i in range(101):  # 10 s at 10 fps, subject 1 still; subject 2 walks along a row
        t = i / 10
        acc.update(np.array([1, 2]), np.array([[2.2, 2.2], [0.25 + 0.09 * i, 4.2]]), t, 1_700_000_000 + t)
    traffic, dwell = acc.maps()
    assert traffic[4, 4] == 1  # one visit, not 101 detections
    assert dwell[4, 4] == pytest.approx(10.0)
    assert traffic[8].sum() == 19  # 0.25..9.25 m crosses 19 cells, one visit each
    assert dwell.sum() == pytest.approx(20.0)  # two subjects x 10 s
    assert traffic.sum() == 20


def test_gap_is_capped_and_buckets_split() -> None:
    start = 1_700_000_100.0  # 1_700_000_100 is 100 s into a 900 s bucket (epoch multiple of 900 is ...000)
    acc = HeatmapAccumulator(GRID, bucket_s=900, max_step_s=2.0)
    acc.update(np.array([1]), np.array([[1.0, 1.0]]), 0.0, start)
    acc.update(np.array([1]), np.array([[1.0, 1.0]]), 60.0, start + 60)  # 60 s gap: credit 2 s
    b0 = acc._clock.start(start)
    boundary = b0 + 900
    acc.update(np.array([1]), np.array([[1.0, 1.0]]), boundary - start + 1, boundary + 1)
    acc.flush()
    assert [b.start for b in acc.buckets] == [b0, boundary]
    t_all, _ = acc.maps()
    assert t_all[2, 2] == 2  # once per bucket
    t_first, d_first = acc.maps(end=boundary)
    assert t_first[2, 2] == 1 and d_first[2, 2] == pytest.approx(2.0)
    _, d_second = acc.maps(start=boundary)
    assert d_second[2, 2] == pytest.approx(2.0)


def test_month_of_buckets_stays_small_and_roundtrips() -> None:
    rng = np.random.default_rng(1)
    acc = HeatmapAccumulator(GRID, bucket_s=900)
    t0 = 1_700_000_000.0
    for i in range(30 * 24 * 12):  # a month, one sample every 5 minutes, 30 shoppers in view
        t = i * 300.0
        acc.update(np.arange(30) + i * 7, rng.uniform(0, [10, 6], size=(30, 2)), t, t0 + t)
    acc.flush()
    assert len(acc.buckets) == 30 * 24 * 4 + 1
    assert acc.nbytes < 3_000_000
    restored = [HeatBucket.from_dict(b.to_dict()) for b in acc.buckets[:50]]
    for a, b in zip(acc.buckets[:50], restored, strict=True):
        np.testing.assert_array_equal(a.cells, b.cells)
        np.testing.assert_array_equal(a.traffic, b.traffic)
        np.testing.assert_allclose(a.dwell, b.dwell, atol=1e-3)
    with pytest.raises(ValueError, match="length"):
        HeatBucket.from_dict({"start": 0, "bucket_s": 900, "cells": [1, 2], "traffic": [1], "dwell": [1.0]})


def test_render_has_map_legend_and_scale(tmp_path: Path) -> None:
    vals = np.zeros((GRID.ny, GRID.nx))
    vals[3, 5] = 10
    vals[8, 15] = 5
    plan = np.full((120, 200, 3), 200, np.uint8)
    cv2.rectangle(plan, (20, 20), (60, 100), (0, 0, 0), -1)
    img = render_heatmap(vals, GRID, background=plan, background_size=(10.0, 6.0), title="Dwell", legend_label="s")
    assert img.dtype == np.uint8 and img.ndim == 3
    s = 720 // 20
    assert img.shape[1] >= 20 * s + 100 and img.shape[0] >= 12 * s + 80

    def px(x_m: float, y_m: float) -> np.ndarray:  # canvas pixel at a floor point (map drawn at 44, 16)
        return img[44 + int(y_m / 0.5 * s), 16 + int(x_m / 0.5 * s)].astype(int)

    top = cv2.applyColorMap(np.array([[255]], np.uint8), cv2.COLORMAP_INFERNO)[0, 0].astype(int)
    low = cv2.applyColorMap(np.array([[0]], np.uint8), cv2.COLORMAP_INFERNO)[0, 0].astype(int)
    hot = px(2.75, 1.75)  # cell (row 3, col 5): the maximum
    assert np.abs(hot - top).sum() < np.abs(hot - low).sum()
    # legend bar right of the map holds the full ramp
    bar = img[44:, 16 + 20 * s + 20 : 16 + 20 * s + 38]
    assert len(np.unique(bar.reshape(-1, 3), axis=0)) > 50
    # empty cells let the plan show through: dark block on the plan vs light floor
    assert px(2.2, 4.6).mean() < 120 < 180 < px(8.2, 1.2).mean()
    out = write_png(tmp_path / "sub" / "dwell.png", img)
    assert cv2.imread(str(out)).shape == img.shape
    blank = render_heatmap(np.zeros((GRID.ny, GRID.nx)), GRID)
    assert blank.shape[0] > 0
    with pytest.raises(ValueError, match="finite"):
        render_heatmap(-vals, GRID)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(OSError):  # an unwritable place raises instead of failing silently
        write_png(tmp_path / "a-file" / "x.png", img)
