"""`storelens snapshot STORE.yaml CAMERA`: the redacted still of a camera, to draw zones on.

People are removed by a temporal median over frames of the camera's source, people who stayed are
blurred whole, the detector and face detector look at the result once more, and privacy masks are
filled (:mod:`storelens.privacy.snapshot`), so the still can be shared and shown in the editor.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import typer

from storelens.cli.errors import config_failed, expected_errors, start_failed
from storelens.config import ConfigError
from storelens.pipeline.preflight import load_checked


def snapshot(
    config: Path = typer.Argument(..., help="Store YAML file"),
    camera: str = typer.Argument(..., help="Camera id"),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="PNG to write (default: out/<store_id>/<camera>_snapshot.png beside the YAML, which the API serves)",
    ),
    frames: int = typer.Option(15, "--frames", "-n", min=1, max=120, help="Frames the median is taken over"),
    threads: int = typer.Option(1, "--threads", min=0, max=64, help="onnxruntime threads (0 = all cores)"),
) -> None:
    """Write a redacted still of a camera (people removed by a temporal median, then redacted)."""
    from storelens.privacy.frames import FrameRedactor
    from storelens.privacy.snapshot import camera_snapshot, snapshot_path
    from storelens.vision.detector import YoloDetector

    try:
        cfg = load_checked(config, probe=True, offline=True)
    except ConfigError as exc:
        config_failed(exc, config)
    if camera not in {c.id for c in cfg.cameras}:
        known = ", ".join(c.id for c in cfg.cameras)
        typer.echo(f"unknown camera {camera!r} in {config} (cameras: {known})", err=True)
        raise typer.Exit(code=2)
    path = out if out is not None else snapshot_path(cfg, camera)
    if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        typer.echo(f"--out must end in .png, .jpg or .jpeg, got {path.name!r}", err=True)
        raise typer.Exit(code=2)
    failures: tuple[type[BaseException], ...] = (*expected_errors(), ValueError)
    try:
        detector = YoloDetector(cfg.detector_for(camera).model_copy(update={"threads": threads}), base_dir=cfg.base_dir)
        face = cfg.privacy.face_detection
        redactor = FrameRedactor.build(face_detection=face, threads=threads, with_person_detector=False)
        snap = camera_snapshot(cfg, camera, frames=frames, detector=detector, redactor=redactor)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), snap.frame.image):
            raise OSError(f"could not write {path}")
    except failures as exc:
        start_failed(f"snapshot {camera}", exc)
    h, w = snap.frame.image.shape[:2]
    typer.echo(
        f"{path}: {w}x{h} still of {camera} from the median of {snap.samples} frame(s) over {snap.span_s:.0f} s; "
        f"{snap.lingering} lingering area(s) and {snap.frame.people} remaining detection(s) blurred, "
        f"{snap.frame.faces} face(s) blurred"
        + (
            " (a short source: too few samples for the median to remove people, so all were blurred)"
            if snap.samples < 5
            else ""
        )
    )


def register(app: typer.Typer) -> None:
    app.command("snapshot")(snapshot)
