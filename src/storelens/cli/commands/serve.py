"""`storelens serve STORE.yaml`: the camera pipelines and the API in one process."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from storelens.cli.errors import config_failed
from storelens.config import ConfigError
from storelens.pipeline.preflight import load_checked

log = logging.getLogger(__name__)


def serve(
    config: Path = typer.Argument(..., help="Store YAML file (zone edits through the API are written back to it)"),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on"),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="TCP port"),
    db: str | None = typer.Option(
        None,
        "--db",
        help="Database URL or SQLite path (default: output.database_url, else out/<store>/storelens.db by the YAML)",
    ),
    loop: bool = typer.Option(False, "--loop", help="Replay file sources forever (demos)"),
    no_pipelines: bool = typer.Option(False, "--no-pipelines", help="Serve stored data only; run no camera"),
    no_realtime: bool = typer.Option(
        False, "--no-realtime", help="Analyse file sources as fast as possible instead of at their own pace"
    ),
    max_frames: int | None = typer.Option(None, "--max-frames", min=1, help="Stop each camera after N frames"),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level"),
) -> None:
    """Run the store's camera pipelines and serve the REST + WebSocket API (/api/v1, /metrics)."""
    try:
        import uvicorn
    except ModuleNotFoundError as exc:  # a runtime-only install (pip install storelens)
        typer.echo(
            f"storelens serve needs the service extra ({exc.name} is not installed): "
            "pip install 'storelens[service]' (`make demo` and `make dev` install it)",
            err=True,
        )
        raise typer.Exit(code=1) from None

    from storelens.service import ServiceSettings, create_app
    from storelens.service.dashboard import dashboard_router, dashboard_rules
    from storelens.service.security import install_security, uvicorn_proxy_kwargs, uvicorn_tls_kwargs
    from storelens.sinks.factory import store_database_url

    try:
        # with pipelines, camera files are checked now; live cameras reconnect on their own
        cfg = load_checked(config, probe=not no_pipelines, offline=True)
    except ConfigError as exc:
        config_failed(exc, config)
    url = db or store_database_url(cfg)
    settings = ServiceSettings(
        store=cfg,
        config_path=config,
        database_url=url,
        run_pipelines=not no_pipelines,
        loop_sources=loop,
        realtime=not no_realtime,
        max_frames=max_frames,
    )
    try:
        app = create_app(settings)
        app.include_router(dashboard_router())
        # Authentication, roles, audit, CSRF, security headers and retention are always on in
        # `serve` (create users with `storelens user add`); TLS when the config names a cert/key.
        install_security(app, app.state.deps.db, settings, extra_rules=dashboard_rules())
        tls = uvicorn_tls_kwargs(cfg)
    except Exception as exc:  # e.g. database unreachable, schema newer than this code, bad TLS files
        typer.echo(f"cannot start: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(code=1) from None
    scheme = "https" if tls else "http"
    typer.echo(
        f"storelens serving store {cfg.store_id!r} on {scheme}://{host}:{port}/api/v1 "
        f"(dashboard /, docs /api/v1/docs, metrics /metrics, database {app.state.deps.db.url})"
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, ws="websockets", **tls, **uvicorn_proxy_kwargs())


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
