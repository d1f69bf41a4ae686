"""``/health`` (the process answers) and ``/ready`` (it can do its job: database, cameras)."""

from __future__ import annotations

import time

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse

import storelens
from storelens.core.errors import brief_error
from storelens.service.deps import Deps
from storelens.service.schemas.health import CameraCheck, DatabaseCheck, HealthOut, ReadyOut
from storelens.storage.migrate import current_revision

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut, summary="Liveness")
def health(deps: Deps) -> HealthOut:
    return HealthOut(status="ok", version=storelens.__version__, uptime_s=round(time.time() - deps.started_at, 3))


@router.get(
    "/ready",
    response_model=ReadyOut,
    summary="Readiness: database reachable, camera states",
    responses={503: {"model": ReadyOut, "description": "Not ready (the body says why)"}},
)
def ready(deps: Deps) -> JSONResponse:
    """503 when the database cannot be queried or the pipelines should run but have not started.
    Cameras are reported (state, online) but an offline camera does not make the API unready:
    the API still serves stored data while a camera is down."""
    db_ok, revision, error = False, None, None
    try:
        with deps.db.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            revision = current_revision(conn)
        db_ok = True
    except Exception as exc:  # any failure means "not ready"; the message says which
        error = brief_error(exc)[:500]
    runner = deps.runner
    cameras = [CameraCheck(id=s.camera_id, state=s.state, online=s.online) for s in runner.status()] if runner else []
    runner_ok = runner is None or runner.started
    body = ReadyOut(
        ready=db_ok and runner_ok,
        database=DatabaseCheck(ok=db_ok, dialect=deps.db.dialect, revision=revision, error=error),
        pipelines="running" if runner is not None else "disabled",
        cameras=cameras,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if body.ready else 503)
