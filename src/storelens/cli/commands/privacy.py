"""`storelens redact | purge | privacy-report | delete-data`: privacy tools anyone can run.

``storelens redact INPUT OUTPUT`` writes the redacted version of any video, GIF or image through
the same redaction the pipeline uses (pose head boxes + face detector + masks + motion without a
detection), so anyone can check what storelens would ever show or store of a recording.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

import typer

from storelens.cli.commands.security import _actor, _database, _error, _load
from storelens.storage.database import Database

ConfigOpt = typer.Option(None, "--config", "-c", help="Store YAML file (its database is used)")
DbOpt = typer.Option(None, "--db", help="Database URL or SQLite path (overrides the config's)")


def _parse_time(value: str, what: str) -> datetime:
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        typer.echo(f"{what}: not an ISO 8601 time: {value!r}", err=True)
        raise typer.Exit(code=2) from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def redact(
    source: Path = typer.Argument(..., help="Video, GIF or image to redact"),
    output: Path = typer.Argument(..., help="Redacted output (.mp4, .mkv, .mov, .avi, .gif, .png, .jpg)"),
    config: Path | None = typer.Option(None, "--config", "-c", help="Store YAML (detector settings, masks)"),
    camera: str | None = typer.Option(None, "--camera", help="Apply this camera's privacy masks (needs --config)"),
    no_face_detector: bool = typer.Option(
        False, "--no-face-detector", help="Pose head boxes only (as with privacy.face_detection: false)"
    ),
    max_width: int | None = typer.Option(None, "--max-width", min=64, help="Downscale wider frames first"),
    threads: int = typer.Option(1, "--threads", min=0, max=64, help="onnxruntime threads (0 = all cores)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUTPUT if it exists"),
) -> None:
    """Blur every head and face (and fill privacy masks) in a recording."""
    from storelens.config.detection import DetectorConfig
    from storelens.privacy.frames import FrameRedactor
    from storelens.privacy.masks import masks_for
    from storelens.privacy.media import MediaError, redact_media

    cfg = _load(config)
    masks = []
    if camera is not None:
        if cfg is None:
            typer.echo("--camera needs --config (the masks are in the store config)", err=True)
            raise typer.Exit(code=2)
        try:
            cfg.camera(camera)
        except KeyError:
            typer.echo(f"unknown camera {camera!r}", err=True)
            raise typer.Exit(code=2) from None
        masks = masks_for(cfg, camera)
    detector = cfg.detector.model_copy(update={"threads": threads}) if cfg else DetectorConfig(threads=threads)
    face = not no_face_detector and (cfg.privacy.face_detection if cfg else True)
    redactor = FrameRedactor.build(detector=detector, face_detection=face, masks=masks, threads=threads, motion=True)
    try:
        stats = redact_media(source, output, redactor, max_width=max_width, overwrite=overwrite)
    except MediaError as exc:
        raise _error(exc) from None
    typer.echo(
        f"{stats.output}: {stats.frames} frame(s) redacted, {stats.people} person detection(s), "
        f"{stats.faces} face(s) found by the face detector and blurred"
    )


def purge(
    config: Path = typer.Argument(..., help="Store YAML file"),
    db: str | None = DbOpt,
    now: str | None = typer.Option(None, "--now", help="Purge as if it were this time (ISO 8601)"),
) -> None:
    """Delete everything older than its retention (privacy.retention); audited."""
    from storelens.lifecycle.retention import purge as run_purge
    from storelens.lifecycle.snapshots import snapshot_store_for

    cfg = _load(config)
    assert cfg is not None
    when = _parse_time(now, "--now") if now else datetime.now(UTC)
    with _database(config, db) as database:
        snapshots = snapshot_store_for(cfg, database)
        report = run_purge(database, cfg.privacy.retention, when, snapshots=snapshots, actor=_actor())
    for table, n in sorted(report.deleted.items()):
        typer.echo(f"{table:18s} {n:8d} deleted")
    typer.echo(f"{'paths':18s} {report.paths_cleared:8d} cleared")
    typer.echo(f"{'snapshots':18s} {report.snapshots:8d} deleted")
    typer.echo(f"{'audit records':18s} {report.audit:8d} deleted")


def privacy_report(
    config: Path = typer.Argument(..., help="Store YAML file"),
    fmt: str = typer.Option(
        "text", "--format", help="text, markdown or json (the report); md or html (the DPIA starting document)"
    ),
    db: str | None = DbOpt,
    no_db: bool = typer.Option(False, "--no-db", help="Do not open the database (no account counts)"),
) -> None:
    """What is collected, how long it is kept, who can see it, where it goes (for the store notice);
    ``--format md|html``: the DPIA starting document (purpose, data, retention, recipients, risk and
    mitigation per processing; GDPR Art. 35)."""
    from storelens.lifecycle.notice import render_dpia
    from storelens.lifecycle.report import build_report, render_report

    cfg = _load(config)
    assert cfg is not None
    if fmt not in ("text", "markdown", "json", "md", "html"):
        typer.echo("--format must be text, markdown, json, md or html", err=True)
        raise typer.Exit(code=2)
    opened: AbstractContextManager[Database | None] = nullcontext() if no_db else _database(config, db)
    with opened as database:
        report = build_report(cfg, database)
        text = render_dpia(cfg, fmt, report) if fmt in ("md", "html") else render_report(report, fmt)
        typer.echo(text, nl=False)


def delete_data(
    config: Path = typer.Argument(..., help="Store YAML file"),
    start: str = typer.Option(..., "--start", help="Window start (ISO 8601, UTC unless an offset is given)"),
    end: str = typer.Option(..., "--end", help="Window end (exclusive)"),
    camera: str | None = typer.Option(None, "--camera", help="Only this camera"),
    zone: str | None = typer.Option(None, "--zone", help="Only this zone"),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the audit log), e.g. 'request 2025-014'"),
    db: str | None = DbOpt,
) -> None:
    """Delete all data of a time window (optionally one camera/zone); audited."""
    from storelens.lifecycle.deletion import DeletionError, DeletionRequest
    from storelens.lifecycle.deletion import delete_data as run_delete
    from storelens.lifecycle.snapshots import snapshot_store_for

    cfg = _load(config)
    assert cfg is not None
    try:
        req = DeletionRequest(_parse_time(start, "--start"), _parse_time(end, "--end"), camera, zone, reason)
    except DeletionError as exc:
        raise _error(exc) from None
    with _database(config, db) as database:
        report = run_delete(
            database,
            req,
            actor=_actor(),
            snapshots=snapshot_store_for(cfg, database),
            zone_cameras={z.id: z.camera for z in cfg.zones},
        )
    for what, n in sorted(report.deleted.items()):
        typer.echo(f"{what:18s} {n:8d} deleted")
    typer.echo(f"audit record {report.audit_seq}")


def privacy_sign(
    config: Path = typer.Argument(..., help="Store YAML file"),
    output: Path = typer.Argument(..., help="PNG file to write (A4 portrait, 150 dpi)"),
    url: str | None = typer.Option(
        None, "--url", help="Address of the /privacy page for the QR code (default: privacy.public_url)"
    ),
) -> None:
    """Write the printable privacy sign (first-layer notice with a QR code to /privacy)."""
    from storelens.lifecycle.notice import render_sign_png

    cfg = _load(config)
    assert cfg is not None
    target = url or cfg.privacy.public_url
    if not target:
        typer.echo("error: give --url or set privacy.public_url (where customers reach /privacy)", err=True)
        raise typer.Exit(code=2)
    try:
        output.write_bytes(render_sign_png(cfg, target))
    except OSError as exc:
        typer.echo(f"error: cannot write {output}: {exc.strerror or exc}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(f"{output}: privacy sign, QR code to {target}")


def register(app: typer.Typer) -> None:
    app.command("redact")(redact)
    app.command("purge")(purge)
    app.command("privacy-report")(privacy_report)
    app.command("privacy-sign")(privacy_sign)
    app.command("delete-data")(delete_data)
