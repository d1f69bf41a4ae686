"""`storelens validate STORE.yaml`: check a store config and report every problem at once."""

from __future__ import annotations

from pathlib import Path

import typer

from storelens.config import check_config, load_config


def validate(
    config: Path = typer.Argument(..., help="Store YAML file"),
    offline: bool = typer.Option(
        False, "--offline", help="Do not open live cameras (rtsp://, http(s)://, webcam:N); files are still read"
    ),
    timeout_s: float = typer.Option(10.0, "--timeout", min=0.5, max=120, help="Seconds to wait for a live camera"),
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


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
