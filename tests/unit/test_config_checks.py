"""`storelens validate`, `run` and `serve` catch config mistakes before anything runs (issue 17):
missing files, sources that do not open, zones and lines outside the camera's frame, all reported
at once with file and line; paths resolve against the YAML's folder; the database lives next to
the YAML, whichever folder a command is started from; no traceback reaches the user."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from storelens.cli.main import app
from storelens.config import load_config
from storelens.config.paths import PATH_FIELDS
from storelens.config.store import StoreConfig
from testdata import DEMO_COUNTER_CLIP, DEMO_STORE, REPO

runner = CliRunner()

STORE = """\
store_id: shop1
cameras:
  - id: cam1
    source: {source}
zones:
  - id: z1
    camera: cam1
    points: {points}
lines:
  - id: door
    camera: cam1
    a: [10, 400]
    b: {b}
"""
INSIDE = "[[0, 290], [768, 290], [768, 432], [0, 432]]"


def write_store(folder: Path, *, source: str = "clip.mp4", points: str = INSIDE, b: str = "[700, 400]") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if source == "clip.mp4":
        shutil.copy(DEMO_COUNTER_CLIP, folder / "clip.mp4")  # 768x432
    path = folder / "store.yaml"
    path.write_text(STORE.format(source=source, points=points, b=b))
    return path


def validate(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", *args])
    return result.exit_code, result.output


def test_a_good_store_and_the_demo_store_validate(tmp_path: Path) -> None:
    code, out = validate(str(write_store(tmp_path)))
    assert code == 0, out
    assert "OK" in out
    code, out = validate(str(DEMO_STORE))  # its entrance zone ends 5 px below the frame: allowed
    assert code == 0, out


def test_a_camera_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    store = write_store(tmp_path, source="nowhere.mp4")
    code, out = validate(str(store))
    assert code == 2, out
    assert f"store.yaml:4:13: cameras[0].source: file not found: {tmp_path / 'nowhere.mp4'}" in out


def test_a_file_that_is_not_a_video_does_not_open(tmp_path: Path) -> None:
    store = write_store(tmp_path, source="notes.mp4")
    (tmp_path / "notes.mp4").write_text("not a video")
    code, out = validate(str(store))
    assert code == 2, out
    assert "cameras[0].source: cannot open camera 'cam1'" in out


def test_zone_and_line_far_outside_the_frame_are_errors(tmp_path: Path) -> None:
    store = write_store(tmp_path, points="[[0, 0], [5000, 0], [5000, 3000]]", b="[2000, 400]")
    code, out = validate(str(store))
    assert code == 2, out
    assert "zones[0].points[1]: zone point (5000, 0) lies outside the 768x432 frame of camera 'cam1'" in out
    assert "lines[0].b: line end b (2000, 400) lies outside the 768x432 frame of camera 'cam1'" in out


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """A schema error, a cross-reference error and a missing file, in one run (before, the
    reference error only appeared once the schema error was fixed)."""
    store = write_store(tmp_path, source="nowhere.mp4")
    text = store.read_text().replace("  - id: z1\n    camera: cam1", "  - id: z1\n    camera: cam9")
    text = text.replace("source: nowhere.mp4", "source: nowhere.mp4\n    fps: 0")
    store.write_text(text)
    code, out = validate(str(store))
    assert code == 2, out
    assert "cameras[0].fps: Input should be greater than 0" in out
    assert "zones[0].camera: unknown camera 'cam9'" in out
    assert "cameras[0].source: file not found" in out
    assert "3 problem(s)" in out


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens


def test_live_cameras_are_opened_unless_offline(tmp_path: Path) -> None:
    store = write_store(tmp_path, source=f"rtsp://127.0.0.1:{_closed_port()}/stream")
    code, out = validate(str(store), "--timeout", "5")
    assert code == 2, out
    assert "cameras[0].source: cannot open camera 'cam1'" in out
    code, out = validate(str(store), "--offline")
    assert code == 0, out
    assert "live cameras not opened" in out


# ---------------------------------------------------------------------------------- paths


def _path_like_fields(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every field of the schema whose name says it holds a path (recursing into sections)."""
    out: set[tuple[str, ...]] = set()
    for name, field in model.model_fields.items():
        if field.exclude:  # not part of the YAML (base_dir)
            continue
        loc = (*prefix, name)
        if name in ("source", "model", "image", "database_url") or name.endswith(("_file", "_dir")):
            out.add(loc)
        for arg in [field.annotation, *typing.get_args(field.annotation)]:
            for inner in [arg, *typing.get_args(arg)]:
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    is_list = typing.get_origin(field.annotation) is list or typing.get_origin(arg) is list
                    out |= _path_like_fields(inner, (*loc, "*") if is_list else loc)
    return out


def test_every_path_field_of_the_schema_is_resolved_against_the_yaml() -> None:
    listed = {f.loc for f in PATH_FIELDS}
    missing = _path_like_fields(StoreConfig) - listed
    assert not missing, f"path fields not in config/paths.py PATH_FIELDS: {sorted(missing)}"


def test_relative_paths_resolve_against_the_yaml_not_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = write_store(tmp_path / "store")
    store.write_text(
        store.read_text()
        + """\
detector:
  model: models/custom.onnx
floor_plan:
  image: plan.png
  width_m: 10
  height_m: 8
output:
  database_url: sqlite:///data/store.db
storage:
  spool_dir: spool
intent:
  calibration_file: weights.json
privacy:
  snapshot_dir: snaps
security:
  key_file: keys.txt
  tls: {cert_file: tls/cert.pem, key_file: tls/key.pem}
mqtt:
  tls: {ca_file: ca.pem, cert_file: c.pem, key_file: k.pem}
  spool_dir: mq
nats:
  creds_file: n.creds
  spool_dir: ns
  tls: {ca_file: nca.pem}
"""
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(Path("..") / "store" / "store.yaml")
    base = (tmp_path / "store").resolve()
    assert cfg.cameras[0].source == str(base / "clip.mp4")
    assert cfg.detector.model == str(base / "models" / "custom.onnx")
    assert cfg.floor_plan is not None and cfg.floor_plan.image == str(base / "plan.png")
    assert cfg.output.database_url == f"sqlite:///{base / 'data' / 'store.db'}"
    assert cfg.storage.spool_dir == str(base / "spool")
    assert cfg.intent.calibration_file == str(base / "weights.json")
    assert cfg.privacy.snapshot_dir == str(base / "snaps")
    assert cfg.security.key_file == str(base / "keys.txt")
    assert cfg.security.tls.cert_file == str(base / "tls" / "cert.pem")
    assert cfg.security.tls.key_file == str(base / "tls" / "key.pem")
    assert (cfg.mqtt.tls.ca_file, cfg.mqtt.tls.cert_file, cfg.mqtt.tls.key_file) == (
        str(base / "ca.pem"),
        str(base / "c.pem"),
        str(base / "k.pem"),
    )
    assert cfg.mqtt.spool_dir == str(base / "mq")
    assert cfg.nats.creds_file == str(base / "n.creds")
    assert cfg.nats.spool_dir == str(base / "ns")
    assert cfg.nats.tls.ca_file == str(base / "nca.pem")
    # URLs, devices, vendored model names and absolute paths stay as written
    for source in ("rtsp://cam.local/s", "webcam:0", "/abs/clip.mp4"):
        plain = write_store(tmp_path / "plain", source=source)
        assert load_config(plain).cameras[0].source == source


def test_the_database_lives_next_to_the_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`user add` in the store's folder, `user list -c` from another: the same database (before,
    the second said "no users" and created a second database under its own folder)."""
    store = write_store(tmp_path / "store")
    monkeypatch.chdir(store.parent)
    args = ["user", "add", "maria", "--role", "admin", "--password-stdin", "-c", "store.yaml"]
    added = runner.invoke(app, args, input="correct horse battery staple\n")
    assert added.exit_code == 0, added.output
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    listed = runner.invoke(app, ["user", "list", "-c", str(store)])
    assert listed.exit_code == 0, listed.output
    assert "maria" in listed.output
    assert not list(other.rglob("*.db")), "a second database was created in the current folder"
    assert (store.parent / "out" / "shop1" / "storelens.db").is_file()


# ----------------------------------------------------------------------- run and serve


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real command in a process of its own, as a user runs it (stderr as they see it)."""
    code = "import sys; from storelens.cli.main import main; sys.argv = ['storelens', *sys.argv[1:]]; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_run_with_a_missing_camera_file_says_so_in_one_line(tmp_path: Path) -> None:
    store = write_store(tmp_path, source="nowhere.mp4")
    done = cli("run", str(store), "--max-frames", "2", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "cameras[0].source: file not found" in done.stderr


def test_run_with_a_broken_model_file_says_so_in_one_line(tmp_path: Path) -> None:
    store = write_store(tmp_path)
    (tmp_path / "broken.onnx").write_bytes(b"not an onnx graph")
    store.write_text(store.read_text() + "detector:\n  model: ./broken.onnx\n")
    done = cli("run", str(store), "--max-frames", "2", "--no-video", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    # the camera's own line (each camera is built by its supervised worker), then the run's verdict
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("camera cam1 failed: SessionError: cannot load ONNX model"), lines
    assert lines[1] == f"cannot run {store}: no camera could be analysed", lines


def test_serve_with_config_errors_exits_2_without_a_traceback(tmp_path: Path) -> None:
    store = write_store(tmp_path, source="nowhere.mp4")
    done = cli("serve", str(store), "--port", "1", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    # one line for the one problem, with the YAML line, then what to run to check the file
    problem, summary = done.stderr.strip().splitlines()
    assert problem.startswith(f"{store}:") and "cameras[0].source: file not found" in problem, problem
    assert summary == f"1 problem(s) in {store}; `storelens validate {store}` checks it", summary


def test_serve_usage_and_start_errors_are_one_line_with_their_exit_code(tmp_path: Path) -> None:
    """A bad --log-level was a KeyError traceback from uvicorn; a taken port or an unknown host an
    uvicorn ERROR log and exit 3 after start-up; a database driver's error three lines."""
    store = write_store(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        cases = [
            (("--log-level", "bogus"), 2, "'bogus' is not one of critical"),
            (("--host", "no-such-host.invalid"), 2, "--host 'no-such-host.invalid' is not an address"),
            (("--port", port), 1, f"cannot listen on 127.0.0.1:{port}: Address already in use"),
        ]
        for extra, code, text in cases:  # in-process: each stops before the app is built
            result = runner.invoke(app, ["serve", str(store), "--no-pipelines", *extra])
            assert result.exit_code == code, (extra, result.output)
            assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
            assert text in " ".join(result.output.split()), (extra, result.output)
            if code == 1:
                assert len(result.output.strip().splitlines()) == 1, result.output
    with socket.socket() as free:  # nothing listens on these once closed: the database is refused
        free.bind(("127.0.0.1", 0))
        serve_port, db_port = str(free.getsockname()[1]), free.getsockname()[1] + 1
    db = f"postgresql://x@127.0.0.1:{db_port}/x"
    result = runner.invoke(app, ["serve", str(store), "--no-pipelines", "--port", serve_port, "--db", db])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("cannot start: OperationalError:"), line


def test_serve_without_the_service_extra_says_how_to_install_it(tmp_path: Path) -> None:
    store = write_store(tmp_path)
    code = (
        "import sys; sys.modules['uvicorn'] = None; from storelens.cli.main import main; "
        "sys.argv = ['storelens', 'serve', sys.argv[1]]; main()"
    )
    done = subprocess.run([sys.executable, "-c", code, str(store)], capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "pip install 'storelens[service]'" in done.stderr


def test_run_without_a_key_says_its_imagery_is_redacted_but_not_encrypted(tmp_path: Path) -> None:
    """SECURITY.md and ``run`` agree (issue 14): ``run`` writes its annotated video and heat maps
    as plain (redacted) files, and says so, naming no key as a condition."""
    store = write_store(tmp_path)
    done = cli("run", str(store), "--max-frames", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    videos = list((tmp_path / "out").rglob("*_annotated.mp4"))
    assert videos, "run wrote no annotated video"
    assert "redacted" in done.stderr and "NOT encrypted" in done.stderr, done.stderr
    security = (REPO / "SECURITY.md").read_text()
    assert "Without a key no imagery is stored at all" not in security
    assert "`storelens run`" in security and "not encrypted" in security
