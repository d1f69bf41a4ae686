"""``/zones``: CRUD, validated against the store config schema and persisted to the store file.

See :mod:`storelens.service.config_store` for how edits are validated and written, and how the
affected cameras' pipelines are rebuilt with the new geometry.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Response

from storelens.config.cameras import ZoneConfig
from storelens.service.config_store import ZoneConflict, ZoneInvalid, ZoneNotFound
from storelens.service.deps import Deps, require_role
from storelens.service.schemas.common import ERROR_RESPONSES, ErrorBody
from storelens.service.scope import ScopeView, View

router = APIRouter(prefix="/zones", tags=["zones"], responses=ERROR_RESPONSES)

_WRITE = [Depends(require_role("admin"))]
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "Id taken, or the zone is referenced elsewhere"}
}


def _unknown(view: View, zone_id: str) -> HTTPException:
    known = ", ".join(z.id for z in view.zones()) or "none"
    return HTTPException(404, detail=f"unknown zone {zone_id!r} (known: {known})")


def _camera_visible(view: View, zone: ZoneConfig) -> None:
    """A zone is written on its camera: one outside the principal's cameras is a 404, like an
    unknown one (checked before the config store, whose errors could name other cameras)."""
    if zone.camera is not None and not view.all_cameras:
        view.require_camera(zone.camera)
    elif zone.camera is None and not view.all_cameras:
        raise HTTPException(404, detail="a zone without a camera needs access to every camera")


def _invalid(exc: ZoneInvalid) -> HTTPException:
    return HTTPException(422, detail=[{"loc": ["body"], "msg": m, "type": "value_error"} for m in exc.errors])


@router.get("", response_model=list[ZoneConfig], summary="List zones")
def list_zones(deps: Deps, view: ScopeView) -> list[ZoneConfig]:
    return [z for z in deps.config.zones() if view.zone_ok(z.id)]


@router.get("/{zone_id}", response_model=ZoneConfig, summary="One zone")
def get_zone(deps: Deps, view: ScopeView, zone_id: str = Path(max_length=64)) -> ZoneConfig:
    if not view.zone_ok(zone_id):
        raise _unknown(view, zone_id)
    try:
        return deps.config.zone(zone_id)
    except ZoneNotFound:
        raise _unknown(view, zone_id) from None


@router.post(
    "", response_model=ZoneConfig, status_code=201, dependencies=_WRITE, responses=_CONFLICT, summary="Create a zone"
)
def create_zone(deps: Deps, view: ScopeView, zone: ZoneConfig) -> ZoneConfig:
    _camera_visible(view, zone)
    try:
        return deps.config.create_zone(zone)
    except ZoneConflict as exc:
        raise HTTPException(409, detail=str(exc)) from None
    except ZoneInvalid as exc:
        raise _invalid(exc) from None


@router.put("/{zone_id}", response_model=ZoneConfig, dependencies=_WRITE, summary="Replace a zone")
def replace_zone(deps: Deps, view: ScopeView, zone: ZoneConfig, zone_id: str = Path(max_length=64)) -> ZoneConfig:
    if not view.zone_ok(zone_id):
        raise _unknown(view, zone_id)
    _camera_visible(view, zone)
    try:
        return deps.config.replace_zone(zone_id, zone)
    except ZoneNotFound:
        raise _unknown(view, zone_id) from None
    except ZoneInvalid as exc:
        raise _invalid(exc) from None


@router.delete("/{zone_id}", status_code=204, dependencies=_WRITE, responses=_CONFLICT, summary="Delete a zone")
def delete_zone(deps: Deps, view: ScopeView, zone_id: str = Path(max_length=64)) -> Response:
    if not view.zone_ok(zone_id):
        raise _unknown(view, zone_id)
    try:
        deps.config.delete_zone(zone_id)
    except ZoneNotFound:
        raise _unknown(view, zone_id) from None
    except ZoneConflict as exc:
        raise HTTPException(409, detail=str(exc)) from None
    except ZoneInvalid as exc:
        raise _invalid(exc) from None
    return Response(status_code=204)
