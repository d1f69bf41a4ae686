"""`storelens run` ends cleanly whatever happens to it: stopped by a signal, a camera file missing,
damaged or cut short, the disk full (issue 14 "Low", issue 17 "no traceback").

Each test runs the real command in a subprocess on the bundled demo clips (copies cut in tmp_path)
with the real detector, and checks what a person or a service manager sees: the exit code the
README documents, one clear line per problem on stderr (never a traceback), the summary, and
outputs that are complete for what was analysed. No wall-clock bound: the waits are for lines the
run prints, under the suite's scaled hang guard.
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from testdata import DEMO_STORE

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

DEMO = DEMO_STORE.parent
LONG_CLIP = DEMO / "one-by-one.mp4"  # 1,394 frames at 10 fps, moov atom first (a cut copy opens)
SHORT_CLIP = DEMO / "entrance.mp4"  # 41 frames at 12.5 fps


def _store(tmp_path: Path, cameras: list[tuple[str, str, float]]) -> Path:
    lines = ["store_id: robust", "cameras:"]
    for cam_id, source, fps in cameras:
        lines += [f"  - id: {cam_id}", f"    source: {source}", f"    fps: {fps}"]
    # These runs test failures, not detection: the smallest input keeps them cheap.
    lines += ["detector:", "  model: yolo11n-pose", "  input_size: 320"]
    path = tmp_path / "store.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _cli(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "storelens.cli.main", *(str(a) for a in args)]


def _jsonl(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text().splitlines()]  # every line must be whole JSON


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_a_signal_stops_the_run_with_summary_and_complete_outputs(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    store = _store(tmp_path, [("counter", str(LONG_CLIP), 10)])
    out = tmp_path / "out"
    proc = subprocess.Popen(
        _cli("run", store, "-o", out, "--no-video"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # a log (not a terminal) gets a progress line at the first frame
        seen.append(line)
        if "frames analysed" in line:
            break
    else:
        pytest.fail(f"no progress line before the run ended: {''.join(seen)}")
    proc.send_signal(sig)
    stdout, rest = proc.communicate()
    stderr = "".join(seen) + rest
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr, stderr
    assert f"{sig.name}: stopping" in stderr
    assert "Stopped before the end of the sources" in stdout, stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["stopped"] is True
    frames = summary["cameras"]["counter"]["frames_analysed"]
    assert 0 < frames < 1394  # stopped part-way: and not reported as a truncated file
    assert summary["warnings"] == [] and summary["failed"] == {}
    events = _jsonl(out / "events.jsonl")
    assert len(events) == sum(summary["events_by_type"].values())
    assert f"({len(events)} events)" in stdout  # the printed summary says the same
    assert (out / "counter_heatmap_traffic.png").stat().st_size > 0


def test_bad_camera_files_beside_a_good_one(tmp_path: Path) -> None:
    data = LONG_CLIP.read_bytes()
    (tmp_path / "tiny.mp4").write_bytes(data[:1000])  # not even a header
    (tmp_path / "cut.mp4").write_bytes(data[:60_000])  # header says 1,394 frames; ~38 are there
    store = _store(
        tmp_path,
        [
            ("good", str(SHORT_CLIP), 12.5),
            ("missing", "nowhere.mp4", 10),
            ("tiny", "tiny.mp4", 10),
            ("cut", "cut.mp4", 10),
        ],
    )
    out = tmp_path / "out"
    proc = subprocess.run(_cli("run", store, "-o", out, "--no-video"), capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    # one clear line per bad camera before the run, with the YAML line
    assert f"{store}:7: camera missing will not run: file not found" in proc.stderr
    assert f"{store}:10: camera tiny will not run: cannot open camera 'tiny'" in proc.stderr
    cut_warning = "camera cut: file ended after "
    assert f"warning: {cut_warning}" in proc.stderr and "of 1394 frames (truncated?)" in proc.stderr

    summary = json.loads((out / "summary.json").read_text())
    assert summary["cameras"]["good"]["frames_analysed"] == 41  # the good camera analysed in full
    assert summary["cameras"]["good"]["status"] == "ok"
    assert set(summary["failed"]) == {"missing", "tiny"}
    assert summary["cameras"]["cut"]["status"] == "warning"
    assert 10 < summary["cameras"]["cut"]["frames_analysed"] < 100
    assert any(w.startswith(cut_warning) for w in summary["warnings"])
    offline = {e["camera_id"]: e["payload"] for e in _jsonl(out / "events.jsonl") if e["type"] == "camera.offline"}
    assert offline["missing"]["reason"] == offline["tiny"]["reason"] == "source_error"
    assert offline["cut"]["reason"] == "file_truncated" and offline["cut"]["expected_frames"] == 1394

    # validate still calls them errors
    check = subprocess.run(_cli("validate", store), capture_output=True, text=True)
    assert check.returncode == 2 and "file not found" in check.stdout + check.stderr


def test_no_camera_opens(tmp_path: Path) -> None:
    (tmp_path / "tiny.mp4").write_bytes(LONG_CLIP.read_bytes()[:1000])
    store = _store(tmp_path, [("missing", "nowhere.mp4", 10), ("tiny", "tiny.mp4", 10)])
    proc = subprocess.run(_cli("run", store, "-o", tmp_path / "out"), capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr  # nothing can run: a config problem, as validate says
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert "cameras[0].source: file not found" in lines[0] and "cameras[1].source: cannot open" in lines[1]
    assert lines[-1].startswith(f"2 problem(s) in {store}"), lines


def _file_size_limit(limit: int) -> None:
    # past the limit a write fails with EFBIG, as on a full disk, instead of killing the process
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


# 2 kB: every output overflows (the database's spool and the JSONL first when there is no video);
# 40 kB: the annotated video and the heat maps do, the events fit
@pytest.mark.parametrize(("limit", "flags"), [(2_000, ()), (2_000, ("--no-video",)), (40_000, ())])
def test_disk_full_is_one_line_naming_the_file(tmp_path: Path, limit: int, flags: tuple[str, ...]) -> None:
    store = _store(tmp_path, [("good", str(SHORT_CLIP), 12.5)])
    out = tmp_path / "out"
    proc = subprocess.run(
        _cli("run", store, "-o", out, *flags),
        capture_output=True,
        text=True,
        preexec_fn=lambda: _file_size_limit(limit),
    )
    assert proc.returncode == 4, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"cannot run {store}: disk full writing {out}"), last
    # nothing half-written that reads as complete: a summary is whole JSON or absent, no cut PNG
    if (out / "summary.json").exists():
        json.loads((out / "summary.json").read_text())
    for png in out.glob("*.png"):
        assert png.stat().st_size < limit
