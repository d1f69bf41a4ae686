"""`storelens central`: consume every store's events from NATS JetStream into one database."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

import typer

log = logging.getLogger(__name__)


def _settings(config: Path | None, overrides: dict[str, Any], nats_overrides: dict[str, Any]) -> Any:
    """File (if any) + flags → a validated CentralConfig; errors name the file line or the flag."""
    from pydantic import ValidationError

    from storelens.central import CentralConfig
    from storelens.config import ConfigError
    from storelens.config.loader import load_yaml_model
    from storelens.config.secrets import CENTRAL_SECRET_FIELDS

    try:
        base = (
            load_yaml_model(config, CentralConfig, secret_fields=CENTRAL_SECRET_FIELDS) if config else CentralConfig()
        )
    except ConfigError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        raise typer.Exit(code=2) from None
    data = base.model_dump(exclude_unset=True)
    data.update({k: v for k, v in overrides.items() if v is not None})
    nats = data.setdefault("nats", {})
    nats.update({k: v for k, v in nats_overrides.items() if v is not None})
    try:
        cfg = CentralConfig.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            where = ".".join(str(p) for p in err["loc"])
            typer.echo(f"{where}: {err['msg'].removeprefix('Value error, ')}", err=True)
        raise typer.Exit(code=2) from None
    if not cfg.database_url:
        typer.echo("a database is required: --db URL (or database_url in --config)", err=True)
        raise typer.Exit(code=2)
    return cfg


async def _serve(cfg: Any, early: list[signal.Signals] | None = None) -> Any:
    from storelens.central import CentralIngest
    from storelens.central.metrics import serve_metrics

    ingest = CentralIngest(cfg)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)

    def on_signal(sig: signal.Signals) -> None:
        typer.echo(f"{sig.name}: finishing the batch in hand, then stopping (again to abort)", err=True)
        stop.set()
        for s in signals:  # a second signal gets the default behaviour: stop now
            loop.remove_signal_handler(s)

    for sig in signals:
        loop.add_signal_handler(sig, on_signal, sig)
    if early:  # a signal that came while starting: handled now, as if it came just now
        on_signal(early[0])
    stop_metrics = serve_metrics(ingest.stats, cfg.metrics_host, cfg.metrics_port) if cfg.metrics_port else None
    try:
        await ingest.run(stop)
    finally:
        if stop_metrics is not None:
            stop_metrics()
    return ingest.stats()


def central(
    config: Path | None = typer.Option(
        None, "--config", "-c", help="YAML: nats (servers, TLS, creds...), database_url and the options below"
    ),
    nats_servers: list[str] | None = typer.Option(
        None, "--nats", help="NATS server URL; repeat for a cluster (default nats://127.0.0.1:4222)"
    ),
    db: str | None = typer.Option(None, "--db", help="Database URL (postgresql://...) or SQLite path"),
    stream: str | None = typer.Option(None, "--stream", help="JetStream stream (default STORELENS)"),
    prefix: str | None = typer.Option(None, "--prefix", help="Edge nodes' subject prefix (default storelens)"),
    subject: str | None = typer.Option(
        None, "--subject", help="Subjects to consume, e.g. 'storelens.s1.>' (default '<prefix>.>')"
    ),
    durable: str | None = typer.Option(
        None, "--durable", help="Durable consumer name; keeps the position across restarts (storelens-central)"
    ),
    batch: int | None = typer.Option(None, "--batch", help="Events per fetch and per transaction (500)"),
    inflight: int | None = typer.Option(
        None, "--inflight", help="Batches held at once; 2 fetches the next while one commits (2)"
    ),
    metrics_port: int | None = typer.Option(None, "--metrics-port", help="Serve Prometheus /metrics on this port"),
    metrics_host: str | None = typer.Option(None, "--metrics-host", help="Interface for /metrics (127.0.0.1)"),
) -> None:
    """Store events from every edge node (NATS JetStream) into one database, exactly once.

    Several processes with the same --durable share the work (each batch goes to one of them);
    stops cleanly on SIGINT/SIGTERM: the batches in hand are committed and acknowledged first.
    """
    from storelens.central.service import safe_url
    from storelens.core.redact import mask_credentials

    cfg = _settings(
        config,
        {
            "database_url": db,
            "filter_subject": subject,
            "durable": durable,
            "batch": batch,
            "inflight": inflight,
            "metrics_port": metrics_port,
            "metrics_host": metrics_host,
        },
        {"servers": nats_servers or None, "stream": stream, "subject_prefix": prefix},
    )
    metrics = f", metrics on http://{cfg.metrics_host}:{cfg.metrics_port}/metrics" if cfg.metrics_port else ""
    servers = ", ".join(mask_credentials(s) for s in cfg.nats.servers)
    # a Ctrl-C or SIGTERM from the start line until _serve's handlers are in place is recorded and
    # handled by them (stop after the batch in hand), instead of interrupting start-up halfway or
    # being turned by asyncio's own handler into a cancellation of the starting consumer
    early: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: early.append(signal.Signals(signum)))
    typer.echo(
        f"storelens central: consuming {cfg.subject!r} from stream {cfg.nats.stream} on {servers} "
        f"(durable {cfg.durable}) into {safe_url(cfg.database_url)}, batches of {cfg.batch} "
        f"({cfg.inflight} in flight){metrics}"
    )
    try:
        st = asyncio.run(_serve(cfg, early))
    except KeyboardInterrupt:  # a second Ctrl-C: the batch in hand is redelivered, not lost
        typer.echo("aborted: events not yet acknowledged will be redelivered", err=True)
        raise typer.Exit(code=130) from None
    except Exception as exc:  # not retryable: bad URL, schema newer than this code, missing secret, port in use
        typer.echo(mask_credentials(f"cannot run: {type(exc).__name__}: {exc}"), err=True)
        raise typer.Exit(code=1) from None
    typer.echo(
        f"storelens central stopped: {st.consumed} consumed, {st.stored} stored, {st.duplicates} duplicate(s), "
        f"{st.rejected} rejected, {st.batches} batch(es)"
    )


def register(app: typer.Typer) -> None:
    app.command("central")(central)
