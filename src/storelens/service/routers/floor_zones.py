"""``/floor-plan/zones``: read and replace the zones drawn on the floor plan (the editor).

Floor zones (``space: floor``) are polygons in metres from the plan's top-left corner; every
calibrated camera maps its people's feet onto the floor and tests them against these, so one
zone spans the cameras that see it. The editor draws them on the floor plan and saves all of
them in one request, checked as the camera geometry is (:mod:`.geometry`): the schema, ids unique
across the store, and every corner inside the plan (with the frame margin), each problem at its
shape and corner (``loc`` such as ``["body", "zones", 0, "points", 2]``). The whole config is then
validated (floor zones need a calibrated camera) and written into the store's ``zones:`` block,
and the running cameras are rebuilt with them (no restart).

Floor zones belong to no one camera, so reading and saving them needs access to every camera,
like a camera-less zone in ``/zones``; saving needs the admin role and is audited (``zone.change``).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from storelens.config.cameras import ZoneConfig
from storelens.config.checks import FRAME_MARGIN
from storelens.service.deps import Deps, require_role
from storelens.service.routers.calibration import FloorPlanOut, floor_plan_of, outside, plan_out
from storelens.service.routers.geometry import MAX_SHAPES, applied_as, save_shapes, shape_error
from storelens.service.schemas.common import ERROR_RESPONSES, ErrorBody
from storelens.service.scope import ScopeView, View

log = logging.getLogger(__name__)

router = APIRouter(prefix="/floor-plan", tags=["zones"], responses=ERROR_RESPONSES)


class FloorZonesIn(BaseModel):
    """Every floor zone of the store, as they should be after the save (``[]`` removes them all)."""

    model_config = ConfigDict(extra="forbid")
    zones: list[ZoneConfig] = Field(max_length=MAX_SHAPES)


class FloorZonesOut(BaseModel):
    floor_plan: FloorPlanOut | None = Field(description="The plan the corners are checked against; null: none")
    frame_margin: float = Field(description="Share of the plan a corner may lie outside it")
    calibrated: list[str] = Field(description="The cameras that see floor zones (those with a calibration)")
    zones: list[ZoneConfig]
    applied: Literal["live", "saved", "memory"] | None = Field(
        default=None, description="After a save: as for PUT /cameras/{id}/geometry"
    )
    message: str | None = Field(default=None, description="What the save did, in words")


def _every_camera(view: View) -> None:
    if not view.all_cameras:
        raise HTTPException(404, detail="floor zones span the cameras: they need access to every camera")


def _out(deps: Deps, **extra: Any) -> FloorZonesOut:
    store = deps.store
    return FloorZonesOut(
        floor_plan=plan_out(floor_plan_of(store)),
        frame_margin=FRAME_MARGIN,
        calibrated=[c.id for c in store.cameras if c.calibration is not None],
        zones=[z for z in store.zones if z.space == "floor"],
        **extra,
    )


def floor_zone_errors(deps: Deps, body: FloorZonesIn) -> list[dict[str, Any]]:
    """Every problem of a save that the schema does not catch, each at its field or corner."""
    errors: list[dict[str, Any]] = []
    others = {z.id: z.camera for z in deps.store.zones if z.space != "floor"}
    seen: dict[str, int] = {}
    for i, zone in enumerate(body.zones):
        if zone.space != "floor":
            errors.append(shape_error(["zones", i, "space"], "must be 'floor': the editor draws it on the floor plan"))
        if zone.id in seen:
            msg = f"id {zone.id!r} is used twice (also zones[{seen[zone.id]}])"
            errors.append(shape_error(["zones", i, "id"], msg))
        elif zone.id in others:
            msg = f"id {zone.id!r} is already used on camera {others[zone.id]}"
            errors.append(shape_error(["zones", i, "id"], msg))
        seen.setdefault(zone.id, i)
    plan = floor_plan_of(deps.store)
    if plan is not None:
        for i, zone in enumerate(body.zones):
            for j, p in enumerate(zone.points):
                if outside(p, plan.width_m, plan.height_m):
                    msg = (
                        f"corner {j + 1} ({p[0]:g}, {p[1]:g}) m lies outside the "
                        f"{plan.width_m:g} x {plan.height_m:g} m floor plan"
                    )
                    errors.append(shape_error(["zones", i, "points", j], msg))
    return errors


@router.get("/zones", response_model=FloorZonesOut, summary="The zones drawn on the floor plan (metres)")
def get_floor_zones(deps: Deps, view: ScopeView) -> FloorZonesOut:
    _every_camera(view)
    return _out(deps)


@router.put(
    "/zones",
    response_model=FloorZonesOut,
    dependencies=[Depends(require_role("admin"))],
    responses={409: {"model": ErrorBody, "description": "A zone to be removed is referenced elsewhere"}},
    summary="Replace the zones drawn on the floor plan (validated, saved, applied live)",
)
def put_floor_zones(deps: Deps, view: ScopeView, body: FloorZonesIn) -> FloorZonesOut:
    _every_camera(view)
    errors = floor_zone_errors(deps, body)
    if errors:
        raise HTTPException(422, detail=errors)
    save_shapes(lambda: deps.config.replace_floor_zones(body.zones), [("zones", body.zones)])
    log.info("%d floor zone(s) saved", len(body.zones))
    counts = f"{len(body.zones)} floor zone(s)"
    runner = deps.runner
    live = runner is not None and any(runner.is_running(c) for c in runner.camera_ids())
    applied, message = applied_as(
        deps, counts, live, ("the running cameras now use", "the cameras use them when they next start")
    )
    return _out(deps, applied=applied, message=message)
