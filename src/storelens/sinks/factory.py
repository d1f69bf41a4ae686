"""Build the event sinks a store config asks for, in one place (run, demo and serve share it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from storelens.config.store import StoreConfig
from storelens.events.models import Event
from storelens.sinks.base import EventSink


@dataclass
class SinkSet:
    sinks: list[EventSink] = field(default_factory=list)
    database_url: str = ""
    jsonl_path: Path | None = None

    def close(self) -> None:
        """Close every sink (each flushes what it holds); one failing close does not skip the rest."""
        errors: list[BaseException] = []
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:  # keep closing the others, then report
                errors.append(exc)
        if errors:
            raise errors[0]

    def delivery(self) -> dict[str, dict[str, int]]:
        """Per broker sink: messages still in its journal (re-sent on the next start) and messages
        dropped (outbox bound, unwritable journal), for the run summary: a loss is never silent."""
        out: dict[str, dict[str, int]] = {}
        for sink in self.sinks:
            outbox = getattr(sink, "outbox", None)
            if outbox is not None:
                out[str(getattr(sink, "name", "sink"))] = {"pending": len(outbox), "dropped": int(outbox.dropped)}
        return out


def sink_handler(sink: EventSink, store: StoreConfig) -> Callable[[Event], None]:
    """The bus handler that feeds ``sink``; in aggregate-only mode it sees anonymised events only
    (no visit or track ids, no paths), so no per-visit record leaves the pipeline."""

    def write(event: Event) -> None:
        sink.write([event])

    write.__name__ = f"write_{getattr(sink, 'name', 'sink')}"
    if store.privacy.aggregate_only:
        from storelens.events.aggregate_only import aggregate_only_handler

        return aggregate_only_handler(write)
    return write


def default_database_url(out_dir: Path) -> str:
    return f"sqlite:///{(out_dir / 'storelens.db').resolve()}"


def default_out_dir(cfg: StoreConfig) -> Path:
    """Where a store's outputs and its SQLite database live unless told otherwise: ``out/<store_id>``
    next to the store's YAML file, so every command given the same file (``run``, ``serve``,
    ``user``, ``export``...) finds the same database from whichever folder it is started."""
    return (cfg.base_dir or Path.cwd()) / "out" / cfg.store_id


def store_database_url(cfg: StoreConfig) -> str:
    """The store's database: ``output.database_url``, else SQLite in :func:`default_out_dir`."""
    return cfg.output.database_url or default_database_url(default_out_dir(cfg))


SinkBuilder = Callable[[StoreConfig, Path, str], EventSink | None]
"""Builds one broker/network sink from the store config (``out_dir``, the database URL), or None
when the config does not ask for it. Imports its sink module itself: a store without MQTT never
loads the MQTT client."""


def _mqtt(cfg: StoreConfig, out_dir: Path, database_url: str) -> EventSink | None:
    if not cfg.mqtt.enabled:
        return None
    from storelens.sinks.mqtt import MqttSink

    cameras = [c.id for c in cfg.cameras]
    return MqttSink(
        cfg.mqtt, store_id=cfg.store_id, cameras=cameras, zones=cfg.zones, spool_dir=_spool(out_dir, "mqtt")
    )


def _nats(cfg: StoreConfig, out_dir: Path, database_url: str) -> EventSink | None:
    if not cfg.nats.enabled:
        return None
    from storelens.sinks.nats import NatsSink

    return NatsSink(cfg.nats, spool_dir=_spool(out_dir, "nats"))


def _webhooks(cfg: StoreConfig, out_dir: Path, database_url: str) -> EventSink | None:
    if not cfg.webhooks.subscriptions:
        return None
    from storelens.sinks.webhook import WebhookSink

    return WebhookSink(database_url, cfg.webhooks)


def _spool(out_dir: Path, name: str) -> Path:
    """A network sink's own on-disk spool, so that a broker outage loses nothing."""
    return out_dir / "spool" / name


SINKS: dict[str, SinkBuilder] = {"mqtt": _mqtt, "nats": _nats, "webhooks": _webhooks}
"""The broker and network sinks, in the order they are subscribed (after the database and JSONL).
A new sink is one module in ``sinks/``, its config section, and one builder here."""


def build_sinks(cfg: StoreConfig, out_dir: Path, *, jsonl: bool | None = None) -> SinkSet:
    """The database sink (always), JSONL (unless off), and every :data:`SINKS` entry the config
    asks for (MQTT / NATS / webhooks), each network sink with its own spool under ``out_dir/spool``."""
    from storelens.sinks.database import DatabaseSink

    url = cfg.output.database_url or default_database_url(out_dir)
    st = cfg.storage
    out = SinkSet(database_url=url)
    out.sinks.append(
        DatabaseSink(
            url,
            batch_size=st.batch_size,
            flush_interval_s=st.flush_interval_s,
            spool_dir=st.spool_dir,  # default: next to the database
            spool_max_events=st.spool_max_events,
            retry_initial_s=st.retry_initial_s,
            retry_max_s=st.retry_max_s,
            buckets_s=st.aggregate_buckets_s,
        )
    )
    if cfg.output.jsonl if jsonl is None else jsonl:
        from storelens.sinks.jsonl import JsonlSink

        out.jsonl_path = out_dir / "events.jsonl"
        out.sinks.append(JsonlSink(out.jsonl_path))
    for build in SINKS.values():
        sink = build(cfg, out_dir, url)
        if sink is not None:
            out.sinks.append(sink)
    return out
