"""``/cameras``: configuration and live status (fps, last frame, lag, drops, errors)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path, Response

from storelens.config.cameras import CameraConfig
from storelens.service.camera_health import camera_health
from storelens.service.deps import Deps
from storelens.service.runner import CameraStatus
from storelens.service.schemas.common import ERROR_RESPONSES
from storelens.service.schemas.stores import CameraOut, CameraStatusOut
from storelens.service.scope import ScopeView
from storelens.sources.status import redact_url

router = APIRouter(prefix="/cameras", tags=["cameras"], responses=ERROR_RESPONSES)


def status_out(s: CameraStatus, fps_target: float) -> CameraStatusOut:
    health, detail = camera_health(s, fps_target)
    return CameraStatusOut(
        health=health,
        health_detail=detail,
        state=s.state,
        online=s.online,
        fps=s.fps,
        frames=s.frames,
        last_frame_time=s.last_frame_time,
        lag_s=s.lag_s,
        dropped_frames=s.dropped_frames,
        queue_dropped=s.queue_dropped,
        corrupt_frames=s.corrupt_frames,
        reconnects=s.reconnects,
        restarts=s.restarts,
        hangs=s.hangs,
        errors=s.errors,
        last_error=s.last_error,
        stage_ms=s.stage_ms,
    )


def camera_out(deps: Deps, cam: CameraConfig, view: ScopeView) -> CameraOut:
    from storelens.privacy.snapshot import snapshot_path

    status = None
    runner = deps.runner
    if runner is not None and cam.id in runner.camera_ids():
        status = status_out(runner.camera_status(cam.id), cam.fps)
    return CameraOut(
        id=cam.id,
        name=cam.name,
        enabled=cam.enabled,
        source=redact_url(cam.source),
        fps_target=cam.fps,
        zones=[z.id for z in deps.store.zones_for(cam.id) if view.zone_ok(z.id)],
        status=status,
        snapshot=snapshot_path(deps.store, cam.id).is_file(),
    )


@router.get("", response_model=list[CameraOut], summary="List cameras with their status")
def list_cameras(deps: Deps, view: ScopeView) -> list[CameraOut]:
    return [camera_out(deps, c, view) for c in view.cameras()]


@router.get("/{camera_id}", response_model=CameraOut, summary="One camera with its status")
def get_camera(deps: Deps, view: ScopeView, camera_id: str = Path(max_length=64)) -> CameraOut:
    view.require_camera(camera_id)
    return camera_out(deps, deps.store.camera(camera_id), view)


@router.get(
    "/{camera_id}/snapshot",
    response_class=Response,
    summary="The camera's redacted still (people removed), as written by `storelens snapshot`",
    responses={200: {"content": {"image/png": {}}, "description": "PNG"}},
)
def get_snapshot(deps: Deps, view: ScopeView, camera_id: str = Path(max_length=64)) -> Response:
    """Served from the file ``storelens snapshot STORE.yaml CAMERA`` writes (already redacted: a
    temporal median with people removed, then blurred and masked); never made from a live frame."""
    from storelens.privacy.snapshot import snapshot_path

    view.require_camera(camera_id)
    path = snapshot_path(deps.store, camera_id)
    if not path.is_file():
        raise HTTPException(
            404, detail=f"no still for camera {camera_id!r} yet: run `storelens snapshot STORE.yaml {camera_id}`"
        )
    return Response(path.read_bytes(), media_type="image/png")
