"""`storelens export DATASET`: events, visits or aggregates of a time range to CSV or Parquet."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from storelens.config import ConfigError, load_config


def _parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{name} must be ISO 8601, e.g. 2025-03-01T00:00:00Z; got {value!r}") from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def export(
    dataset: str = typer.Argument(..., help="events | visits | aggregates"),
    config: Path | None = typer.Option(None, "--config", "-c", help="Store YAML (store id and database URL)"),
    store: str | None = typer.Option(None, "--store", help="Store id (default: from --config)"),
    db: str | None = typer.Option(None, "--db", help="Database URL or SQLite path (default: from --config)"),
    since: str | None = typer.Option(None, "--since", help="Inclusive start, ISO 8601 (naive = UTC)"),
    until: str | None = typer.Option(None, "--until", help="Exclusive end, ISO 8601 (naive = UTC)"),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv | parquet"),
    bucket_s: int = typer.Option(3600, "--bucket-s", min=60, help="Aggregate bucket size (aggregates only)"),
    out: Path = typer.Option(..., "--out", "-o", help="File to write"),
) -> None:
    """Export a dataset for a time range; rows are read and written page by page."""
    from storelens.output.export import DATASETS, FORMATS, ExportQuery, export_to_file
    from storelens.sinks.factory import default_database_url, store_database_url
    from storelens.storage.database import StorageError, open_database

    if dataset not in DATASETS:
        raise typer.BadParameter(f"dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    if fmt not in FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    cfg = None
    if config is not None:
        try:
            cfg = load_config(config)
        except ConfigError as exc:
            for issue in exc.issues:
                typer.echo(str(issue), err=True)
            raise typer.Exit(code=2) from None
    store_id = store or (cfg.store_id if cfg else None)
    if store_id is None:
        raise typer.BadParameter("give --store or --config")
    if db:
        url = db
    elif cfg is not None:
        url = store_database_url(cfg)
    else:
        url = default_database_url(Path("out") / store_id)
    try:
        q = ExportQuery(
            store_id=store_id,
            dataset=dataset,  # checked against DATASETS above
            since=_parse_time(since, "--since"),
            until=_parse_time(until, "--until"),
            bucket_s=bucket_s,
        )
        with open_database(url) as database:
            size = export_to_file(database, q, fmt, out)  # checked above
    except (ValueError, StorageError) as exc:
        typer.echo(f"export failed: {exc}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"wrote {out} ({size} bytes)")


def register(app: typer.Typer) -> None:
    app.command("export")(export)
