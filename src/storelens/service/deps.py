"""Settings, the injected dependencies of the app, and the per-router authorisation hook.

``create_app(settings, deps)`` takes everything it uses from a :class:`ServiceDeps`: the database,
the event bus, the store config holder, the WebSocket hub, the metrics, the sinks and (optionally)
the camera runner. Tests build their own (an in-memory bus, a temporary database, no cameras);
``ServiceDeps.build(settings)`` wires the production set.

Authorisation: every router is included with ``Depends(require_role(<role>))`` (``ROUTER_ROLES`` in
``app.py``; mutating routes ask for a stronger role themselves). Roles are the one model of
:class:`storelens.security.rbac.Role`, and each route's declared role must equal the one the route
table (``rbac.ROUTE_RULES``) gives it (``tests/unit/test_route_roles.py`` walks every route). The
check calls ``deps.authorize(request, role)``: :func:`allow_all` when the app runs without the
security layer (tests, embedding), the signed-in principal's role check once
``storelens.service.security.install_security`` has secured the app.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection
from starlette.requests import HTTPConnection

from storelens.config.store import StoreConfig
from storelens.events.bus import EventBus
from storelens.kpis.anomaly_watch import ForecastWatch
from storelens.pipeline.heatmaps import HeatmapRecorder
from storelens.security.rbac import Role
from storelens.service.config_store import StoreConfigStore
from storelens.service.metrics import ServiceMetrics
from storelens.service.runner import StoreRunner
from storelens.service.ws import StreamHub
from storelens.sinks.base import EventSink
from storelens.sinks.factory import sink_handler
from storelens.storage.database import Database, open_database

log = logging.getLogger(__name__)


class Authorizer(Protocol):
    """Decide whether ``request`` may act with ``role``; raise ``HTTPException`` (401/403) if not."""

    def __call__(self, request: HTTPConnection, role: Role) -> None: ...


def allow_all(request: HTTPConnection, role: Role) -> None:
    """The default authoriser: every request is allowed (the app runs without the security layer)."""
    return None


class ServiceSettings(BaseModel):
    """How the service runs (the store itself is described by its config)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    store: StoreConfig = Field(description="The store served (zones are edited through the API)")
    config_path: Path | None = Field(default=None, description="Store YAML file zone edits are written to")
    database_url: str = Field(min_length=1, description="SQLAlchemy URL or SQLite path")
    run_pipelines: bool = Field(default=True, description="Run the camera pipelines in this process")
    loop_sources: bool = Field(default=False, description="Replay file sources forever (demos)")
    realtime: bool = Field(default=True, description="Pace file sources to their capture times")
    max_frames: int | None = Field(default=None, ge=1, description="Stop each camera after this many frames")
    ws_queue_size: int = Field(default=1000, ge=10, le=100_000, description="Messages kept per WebSocket client")
    overlay_max_hz: float = Field(default=10.0, gt=0, le=60, description="Overlay messages per camera per second")
    max_page: int = Field(default=1000, ge=10, le=10_000, description="Largest page size of list endpoints")
    restart_initial_s: float = Field(default=1.0, gt=0, le=60)
    restart_max_s: float = Field(default=60.0, gt=0, le=3600)
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed to call the API")
    state_dir: Path | None = Field(
        default=None, description="Sink spools (broker/webhook outages); default next to a SQLite file or ./out/<store>"
    )


@dataclass(eq=False)
class ServiceDeps:
    """Everything the routes use; see the module docstring."""

    settings: ServiceSettings
    db: Database
    bus: EventBus
    config: StoreConfigStore
    hub: StreamHub
    heatmaps: HeatmapRecorder
    runner: StoreRunner | None = None
    forecast_watch: ForecastWatch | None = None
    """Staff alerts when an hour's traffic or conversion leaves the forecast band (edge service)."""
    sinks: list[EventSink] = field(default_factory=list)
    authorize: Authorizer = allow_all
    metrics: ServiceMetrics = field(init=False)
    started_at: float = field(default_factory=time.time)
    owns_db: bool = True
    _started: bool = field(default=False, init=False, repr=False)
    _closed: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.metrics = ServiceMetrics(self.bus, self.hub, lambda: self.runner, lambda: list(self.sinks))
        self.bus.subscribe(self.metrics.count_event)
        store = self.config.current
        if store.privacy.aggregate_only:
            from storelens.events.aggregate_only import aggregate_only_handler

            self.bus.subscribe(aggregate_only_handler(self.hub.publish_event))
        else:
            self.bus.subscribe(self.hub.publish_event)
        for sink in self.sinks:
            self.bus.subscribe(sink_handler(sink, store))
        if self.runner is not None:
            self.runner.add_observer(self.hub.publish_overlay)
            self.runner.add_observer(self.heatmaps.observe)
            runner = self.runner
            self.config.on_change(lambda store, cams: runner.update_store(store, cams))

    @property
    def store(self) -> StoreConfig:
        return self.config.current

    @classmethod
    def build(cls, settings: ServiceSettings, *, runner_kwargs: dict[str, Any] | None = None) -> ServiceDeps:
        """The production wiring: migrated database, the store's sinks on the bus (database always;
        MQTT, NATS and webhooks when configured, via :func:`storelens.sinks.factory.build_sinks`)
        and the camera runner."""
        from storelens.sinks.factory import build_sinks

        store = settings.store
        db = open_database(settings.database_url)
        # the sinks write where the API reads, whatever the config file's own output.database_url says
        sink_cfg = store.model_copy(update={"output": store.output.model_copy(update={"database_url": db_url(db)})})
        try:
            sink_set = build_sinks(sink_cfg, settings.state_dir or default_state_dir(settings), jsonl=False)
        except Exception:
            db.close()
            raise
        bus = EventBus()
        heatmaps = HeatmapRecorder(store, db)
        runner = None
        if settings.run_pipelines:
            runner = StoreRunner(
                store,
                bus,
                loop=settings.loop_sources,
                realtime=settings.realtime,
                max_frames=settings.max_frames,
                restart_initial_s=settings.restart_initial_s,
                restart_max_s=max(settings.restart_max_s, settings.restart_initial_s),
                store_heat=heatmaps,  # the store map (two or more calibrated cameras) stored and live too
                **(runner_kwargs or {}),
            )
        return cls(
            settings=settings,
            db=db,
            bus=bus,
            config=StoreConfigStore(store, settings.config_path),
            hub=StreamHub(settings.ws_queue_size, settings.overlay_max_hz),
            heatmaps=heatmaps,
            runner=runner,
            forecast_watch=ForecastWatch(db, store) if settings.run_pipelines else None,
            sinks=list(sink_set.sinks),
        )

    def start(self) -> None:
        """Start the camera threads (idempotent); called by the app's lifespan."""
        if self._started:
            return
        self._started = True
        if self.runner is not None:
            self.runner.start()
        if self.forecast_watch is not None and self.store.actions.alerts.forecast_anomaly.enabled:
            self.forecast_watch.start(self.bus)

    def close(self) -> None:
        """Stop cameras first (their final events still reach the sinks, their heat maps the database),
        then sinks, then the database."""
        if self._closed:
            return
        self._closed = True
        if self.forecast_watch is not None:
            self.forecast_watch.stop()
        if self.runner is not None:
            self.runner.stop()
            self.heatmaps.flush()  # what the cameras gathered since the last periodic flush
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:
                log.exception("closing sink %s failed", getattr(sink, "name", sink))
        if self.owns_db:
            self.db.close()

    def flush(self) -> None:
        """Wait until every event published so far reached the sinks' destinations (tests, export)."""
        for sink in self.sinks:
            sink.flush()


def db_url(db: Database) -> str:
    """The database's URL with its password (the sinks connect on their own)."""
    return db.engine.url.render_as_string(hide_password=False)


def default_state_dir(settings: ServiceSettings) -> Path:
    """Where the sinks spool during outages: next to a SQLite file, else ``out/<store_id>`` next to
    the store's YAML (:func:`~storelens.sinks.factory.default_out_dir`)."""
    from storelens.sinks.factory import default_out_dir

    url = settings.database_url
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return Path(url[len("sqlite:///") :]).expanduser().resolve().parent
    return default_out_dir(settings.store)


# ------------------------------------------------------------------------- FastAPI dependencies


def get_deps(request: Request) -> ServiceDeps:
    deps: ServiceDeps = request.app.state.deps
    return deps


Deps = Annotated[ServiceDeps, Depends(get_deps)]


def get_conn(deps: Deps) -> Iterator[Connection]:
    """A read connection for one request (no transaction kept open beyond the request)."""
    with deps.db.engine.connect() as conn:
        yield conn


Conn = Annotated[Connection, Depends(get_conn)]


def require_role(role: Role | str) -> Callable[..., None]:
    """A dependency that asks the app's authoriser whether the request may act as ``role``; the
    role it asks for is kept on the dependency (``.role``) so a test can hold it against the table."""
    need = Role.parse(role)

    def check(request: Request, deps: Deps) -> None:
        deps.authorize(request, need)

    check.__name__ = f"require_{need.label}"
    check.role = need  # type: ignore[attr-defined]
    return check


def to_utc(value: datetime) -> datetime:
    """Aware UTC (naive values are UTC); out-of-range values are a 422, not an overflow."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise HTTPException(422, detail=f"time {value.isoformat()} is out of range") from None


def time_range(since: datetime | None, until: datetime | None) -> tuple[datetime | None, datetime | None]:
    s = None if since is None else to_utc(since)
    u = None if until is None else to_utc(until)
    if s is not None and u is not None and u <= s:
        raise HTTPException(422, detail="'until' must be after 'since'")
    return s, u
