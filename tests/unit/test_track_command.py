"""`storelens track VIDEO --out tracks.txt`: MOTChallenge rows from pixels, with the store's own
detector, tracker and stitching, so a user can score storelens on their own labelled footage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from storelens.cli.main import app
from storelens.tracking.mot import read_mot
from testdata import DEMO_COUNTER_CLIP, DEMO_STORE

runner = CliRunner()


def test_track_writes_mot_rows_for_the_people_in_the_clip(tmp_path: Path) -> None:
    out = tmp_path / "tracks.txt"
    res = runner.invoke(
        app, ["track", str(DEMO_COUNTER_CLIP), "--out", str(out), "-c", str(DEMO_STORE), "--max-frames", "100"]
    )
    assert res.exit_code == 0, res.output
    rows = read_mot(out)
    assert len(rows) > 0
    frames = rows[:, 0].astype(int)
    assert frames.min() >= 1 and frames.max() <= 100
    # one row per person and frame: no id appears twice on one frame
    pairs = {(int(f), int(i)) for f, i in rows[:, :2]}
    assert len(pairs) == len(rows)
    assert (rows[:, 4] > 0).all() and (rows[:, 5] > 0).all()
    assert "100 frames" in res.output


def test_raw_track_ids_and_visit_ids_cover_the_same_boxes(tmp_path: Path) -> None:
    visits, tracks = tmp_path / "v.txt", tmp_path / "t.txt"
    for ids, out in (("visits", visits), ("tracks", tracks)):
        res = runner.invoke(
            app, ["track", str(DEMO_COUNTER_CLIP), "--out", str(out), "--ids", ids, "--max-frames", "90"]
        )
        assert res.exit_code == 0, res.output
    v, t = read_mot(visits), read_mot(tracks)
    # the stitcher only renames (and drops coasting ghosts of continued tracks): never adds boxes
    assert len(v) <= len(t)
    assert np.isin(v[:, 0], t[:, 0]).all()


def test_a_file_that_is_not_a_video_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"not a video")
    res = runner.invoke(app, ["track", str(bad), "--out", str(tmp_path / "o.txt")])
    assert res.exit_code == 1
    assert "cannot decode" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o.txt").exists()
