"""`storelens serve STORE.yaml`: the camera pipelines and the API in one process."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import typer

from storelens.cli.errors import config_failed, start_failed
from storelens.config import ConfigError
from storelens.pipeline.preflight import load_checked

log = logging.getLogger(__name__)

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def _log_level(value: str) -> str:
    """uvicorn's levels only: anything else was a traceback from inside uvicorn's logging setup."""
    if value.lower() not in LOG_LEVELS:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(LOG_LEVELS)}")
    return value.lower()


def check_listen(host: str, port: int) -> None:
    """Bind ``host:port`` once before anything starts, so a typo in ``--host`` (exit 2) or a port
    already taken (exit 1) is one line before the database is opened, rather than uvicorn's
    ERROR log and exit 3 after the pipelines started."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        reason = f"--host {host!r} is not an address of this machine ({exc})"
        typer.echo(f"cannot listen on {host}:{port}: {reason}", err=True)
        raise typer.Exit(code=2) from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds it
        try:
            sock.bind(addr)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            typer.echo(f"cannot listen on {host}:{port}: {reason} (another server there? pick --port)", err=True)
            raise typer.Exit(code=1) from None


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
    log_level: str = typer.Option(
        "info", "--log-level", callback=_log_level, help=f"uvicorn log level: {', '.join(LOG_LEVELS)}"
    ),
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
    check_listen(host, port)
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
        start_failed("start", exc)  # its first line: a driver's hints and links stay out
    scheme = "https" if tls else "http"
    typer.echo(
        f"storelens serving store {cfg.store_id!r} on {scheme}://{host}:{port}/api/v1 "
        f"(dashboard /, docs /api/v1/docs, metrics /metrics, database {app.state.deps.db.url})"
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, ws=ws_protocol(), **tls, **uvicorn_proxy_kwargs())


def ws_protocol() -> str:
    """The websockets library's protocol: its sans-I/O one where this uvicorn has it (0.35+), as
    the legacy one prints a deprecation warning at every start that a store's operator cannot act on."""
    from uvicorn.config import WS_PROTOCOLS

    return "websockets-sansio" if "websockets-sansio" in WS_PROTOCOLS else "websockets"


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
