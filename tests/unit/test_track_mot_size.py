"""`storelens track-mot` on detections without a video reads the frame size from seqinfo.ini, so
the size-aware low-score birth (issue 13) works there as it does on frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from storelens.cli.main import app


def sequence(root: Path, with_seqinfo: bool) -> Path:
    (root / "det").mkdir(parents=True)
    rows = [f"{f},-1,{100 + 3 * f},200,16,40,0.4,-1,-1,-1" for f in range(1, 9)]  # 40 px of 480: small
    (root / "det" / "det.txt").write_text("\n".join(rows) + "\n")
    if with_seqinfo:
        (root / "seqinfo.ini").write_text("[Sequence]\nframeRate=10\nimWidth=640\nimHeight=480\n")
    return root / "det" / "det.txt"


def ids(tmp_path: Path, with_seqinfo: bool) -> set[int]:
    det = sequence(tmp_path / ("with" if with_seqinfo else "without"), with_seqinfo)
    out = tmp_path / f"out-{with_seqinfo}.txt"
    res = CliRunner().invoke(app, ["track-mot", "--det", str(det), "--out", str(out), "--fps", "10"])
    assert res.exit_code == 0, res.output
    text = out.read_text().strip()
    return set() if not text else {int(r) for r in np.loadtxt(out, delimiter=",", ndmin=2)[:, 1]}


def test_a_small_low_score_person_is_tracked_when_seqinfo_gives_the_size(tmp_path: Path) -> None:
    assert ids(tmp_path, with_seqinfo=True) == {1}


def test_without_the_size_the_low_score_person_starts_no_track(tmp_path: Path) -> None:
    assert ids(tmp_path, with_seqinfo=False) == set()
