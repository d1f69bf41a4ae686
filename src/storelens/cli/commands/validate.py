"""`storelens validate STORE.yaml`: check a store config and report every problem."""

from __future__ import annotations

from pathlib import Path

import typer

from storelens.config import ConfigError, load_config


def validate(config: Path = typer.Argument(..., help="Store YAML file")) -> None:
    """Validate a store config; print every error with file, line and field."""
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        typer.echo(f"{len(exc.issues)} error(s) in {config}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(
        f"{config}: OK: store {cfg.store_id!r}, {len(cfg.cameras)} camera(s), "
        f"{len(cfg.zones)} zone(s), {len(cfg.lines)} line(s)"
    )


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
