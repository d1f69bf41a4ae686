"""``/privacy/report`` (what is collected, kept, shown and sent) and ``/privacy/deletions`` (erase a
window, camera or zone; admin, audited)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request

from storelens.lifecycle.deletion import DeletionError, DeletionRequest, delete_data
from storelens.lifecycle.report import build_report
from storelens.service.routers._security import actor, runtime
from storelens.service.schemas.security import DeletionIn, DeletionOut

router = APIRouter(prefix="/api/v1")


@router.get("/privacy/report", tags=["privacy"], summary="What is collected, kept, shown and sent")
def privacy_report(request: Request) -> dict[str, Any]:
    rt = runtime(request)
    return build_report(rt.store, rt.db).to_json_dict()


@router.post(
    "/privacy/deletions", response_model=DeletionOut, tags=["privacy"], summary="Delete data (window/camera/zone)"
)
def privacy_delete(request: Request, body: Annotated[DeletionIn, Body()]) -> DeletionOut:
    rt = runtime(request)
    p = actor(request)
    try:
        req = DeletionRequest(body.start, body.end, body.camera_id, body.zone_id, body.reason)
    except (DeletionError, OverflowError, ValueError) as exc:
        raise HTTPException(422, detail=str(exc)) from None
    zone_cameras = {z.id: z.camera for z in rt.store.zones}
    report = delete_data(
        rt.db,
        req,
        actor=p.username,
        snapshots=rt.snapshots,
        zone_cameras=zone_cameras,
        ip=rt.client_ip(request.scope),
        now=rt.clock(),
    )
    return DeletionOut(**report.to_json_dict())
