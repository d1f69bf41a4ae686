"""`storelens validate STORE.yaml`: check a store config and report every problem at once."""

from __future__ import annotations

from pathlib import Path

import typer

from storelens.config import load_config
from storelens.config.store import StoreConfig
from storelens.pipeline.preflight import check_config


def validate(
    config: Path = typer.Argument(..., help="Store YAML file"),
    offline: bool = typer.Option(
        False, "--offline", help="Do not open live cameras (rtsp://, http(s)://, webcam:N); files are still read"
    ),
    timeout_s: float = typer.Option(10.0, "--timeout", min=0.5, max=120, help="Seconds to wait for a live camera"),
    probe: bool = typer.Option(
        False,
        "--probe",
        help="Also run the detector on ~30 s of each camera and warn when people move but are not "
        "detected or are too small for the detector input (with the setting to change)",
    ),
) -> None:
    """Validate a store config: schema, references, files, sources (one frame each) and zones,
    lines, masks and calibration points against each camera's frame. Every problem is printed
    with file, line and field; the exit code is 2 when there is any."""
    issues = check_config(config, probe=True, offline=offline, timeout_s=timeout_s)
    if issues:
        for issue in issues:
            typer.echo(str(issue), err=True)
        typer.echo(f"{len(issues)} problem(s) in {config}", err=True)
        raise typer.Exit(code=2)
    cfg = load_config(config)
    typer.echo(
        f"{config}: OK: store {cfg.store_id!r}, {len(cfg.cameras)} camera(s), "
        f"{len(cfg.zones)} zone(s), {len(cfg.lines)} line(s)" + (" (live cameras not opened)" if offline else "")
    )
    from storelens.privacy.lawful import emotion_status

    for line in emotion_status(cfg):  # on/off and why (EU AI Act), and who cannot be read
        typer.echo(line)
    if probe:
        _probe_detection(cfg, offline)


def _probe_detection(cfg: StoreConfig, offline: bool) -> None:
    """Warnings only (exit 0): a blind detector is a setting to change, not an invalid config."""
    from storelens.cli.errors import expected_errors
    from storelens.config.paths import is_live_source
    from storelens.pipeline.selfcheck import probe_camera

    for cam in cfg.cameras:
        if offline and is_live_source(cam.source):
            typer.echo(f"camera {cam.id}: detection not probed (live camera, --offline)")
            continue
        try:
            check = probe_camera(cfg, cam)
        except expected_errors() as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            typer.echo(f"warning: camera {cam.id}: detection not probed: {first}", err=True)
            continue
        findings = check.findings()
        for f in findings:
            typer.echo(f"warning: {f.message}", err=True)
        heights, smallest = check.person_heights(), check.smallest_input()
        seen = (
            f"; people {heights[0]:.0f} px tall (1 in 10 below {heights[1]:.0f} px), smallest input keeping them "
            f"detectable: {smallest} (the camera's detector_input_size)"
            if heights is not None and smallest is not None
            else "; too few people in the sample to size the input"
        )
        state = "see the warnings above" if findings else "OK"
        typer.echo(
            f"camera {cam.id}: detection self-check {state} ({cfg.detector.model} at "
            f"{cfg.detector_for(cam.id).input_size}){seen}"
        )


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
