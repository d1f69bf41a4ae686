"""The FastAPI app factory: versioned routes, injected dependencies, errors that say what is wrong.

``create_app(settings, deps)`` builds an app around a :class:`~storelens.service.deps.ServiceDeps`
(``ServiceDeps.build(settings)`` when none is given). The app's lifespan starts the camera
pipelines and, on shutdown, stops them before closing the sinks and the database, so the last
events of every camera are stored.

Everything lives under ``/api/v1`` (OpenAPI at ``/api/v1/openapi.json``, interactive docs at
``/api/v1/docs``) except Prometheus' conventional ``/metrics``. Each router is included with the
role it needs in :data:`ROUTER_ROLES` (the roles of :mod:`storelens.security.rbac`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

import storelens
from storelens.core.errors import brief_error
from storelens.security.rbac import Role
from storelens.service.deps import ServiceDeps, ServiceSettings, require_role
from storelens.service.docs import install_docs
from storelens.service.routers import (
    aggregates,
    alerts,
    calibration,
    cameras,
    events,
    exports,
    floor_zones,
    geometry,
    health,
    heatmaps,
    journeys,
    kpis,
    metrics,
    pos,
    privacy_page,
    promotions,
    stores,
    stream,
    visits,
    webhooks,
    zones,
)

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"

V, A, ADM = Role.VIEWER, Role.ANALYST, Role.ADMIN

ROUTER_ROLES: list[tuple[APIRouter, Role]] = [
    (stores.router, V),
    (cameras.router, V),
    (zones.router, V),  # writes additionally require admin
    (geometry.router, V),  # a camera's zones and lines (the editor); saving requires admin
    (calibration.router, V),  # point pairs and the floor plan (the editor); saving requires admin
    (floor_zones.router, V),  # zones drawn on the floor plan (the editor); saving requires admin
    (events.router, A),  # per-visit data (SECURITY.md, "Roles"): a viewer sees aggregates
    (visits.router, A),
    (aggregates.router, V),
    (heatmaps.router, V),
    (alerts.router, V),
    (promotions.router, V),
    (pos.router, A),
    (exports.router, A),
    (kpis.router, A),  # conversion and sales: the same data as /pos
    (journeys.router, V),  # the flow table; the per-visit list needs analyst (route rules)
    (webhooks.router, ADM),  # delivery rows show receiver URLs
]
"""Router -> role needed for every route in it, enforced through ``deps.authorize``. Each equals what
the one route table (``storelens.security.rbac.ROUTE_RULES``) gives the router's routes; the
security gate enforces that table on its own, so the two checks can never disagree
(``tests/unit/test_route_roles.py``)."""


def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """A database that cannot be reached is an outage (503, retry later), not a server bug."""
    log.warning("database error on %s %s: %s", request.method, request.url.path, brief_error(exc))
    return JSONResponse({"detail": "database unavailable; retry later"}, status_code=503, headers={"Retry-After": "5"})


def _json_safe(value: Any) -> Any:
    """NaN/inf (which Python's JSON parser accepts in a request) as strings: the 422 that echoes the
    offending input must itself be valid JSON, else a NaN in any field became a 500."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 body (``{"detail": [errors]}``), JSON-safe."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else [{"msg": str(exc)}]
    return JSONResponse({"detail": _json_safe(jsonable_encoder(errors))}, status_code=422)


def create_app(settings: ServiceSettings, deps: ServiceDeps | None = None) -> FastAPI:
    """Build the app. ``deps`` defaults to ``ServiceDeps.build(settings)`` (database, sink, runner)."""
    service = deps if deps is not None else ServiceDeps.build(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.close()

    app = FastAPI(
        title="storelens API",
        version=storelens.__version__,
        description="Privacy-first retail video analytics: events, visits, aggregates, heat maps, alerts, POS.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # bundled Swagger UI instead of FastAPI's CDN page (service/docs.py)
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.deps = service
    install_docs(app, API_PREFIX)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"]
        )

    @app.middleware("http")
    async def count_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        service.metrics.http_latency.labels(request.method, template).observe(time.perf_counter() - started)
        service.metrics.http_requests.labels(request.method, template, str(response.status_code)).inc()
        return response

    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(sa.exc.OperationalError, _database_unavailable)
    app.add_exception_handler(sa.exc.InterfaceError, _database_unavailable)

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(health.router)
    for router, role in ROUTER_ROLES:
        api.include_router(router, dependencies=[Depends(require_role(role))])
    api.include_router(stream.router)
    app.include_router(api)
    app.include_router(metrics.router)
    app.include_router(privacy_page.router)  # public: the notice people filmed are pointed to
    return app
