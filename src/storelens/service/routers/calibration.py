"""``/cameras/{id}/calibration`` and ``/floor-plan``: the image ↔ floor point pairs drawn in the editor.

A camera is calibrated by 4 or more pairs: a point on its redacted still and the same spot on the
floor plan (in metres from the plan's top-left corner). The editor draws both halves of each pair
and saves them in one request; the API refuses, with every reason at once and each at its point
(``loc`` such as ``["body", "image_points", 2]``), pairs that do not pair up, image points outside
the camera's frame, floor points outside the floor plan, and pairs from which no usable
homography follows (repeated or collinear points, a too-small area, points on both sides of the
horizon: :func:`storelens.analytics.floor.fit_homography`, the check ``storelens calibrate`` makes).
A good fit is written into the camera's entry of the store YAML and the running camera is rebuilt
with it (no restart); the answer carries the fit's error per pair so a mistyped pair stands out.

Saving and removing need the admin role and are audited (``calibration.change``). The floor plan's
extent and image are read like the heat maps that are drawn on it (viewer).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from storelens.analytics.floor import CalibrationError, FloorPlan, fit_homography
from storelens.config.base import Point
from storelens.config.cameras import CalibrationConfig, CameraConfig
from storelens.config.checks import FRAME_MARGIN
from storelens.config.store import StoreConfig
from storelens.service.config_store import ZoneInvalid
from storelens.service.deps import Deps, require_role
from storelens.service.routers.geometry import FrameSizeOut, frame_size, shape_error
from storelens.service.schemas.common import ERROR_RESPONSES
from storelens.service.scope import ScopeView

log = logging.getLogger(__name__)

router = APIRouter(tags=["cameras"], responses=ERROR_RESPONSES)

MAX_PAIRS = 64


class FloorPlanOut(BaseModel):
    width_m: float = Field(description="Floor width in metres (x runs right from the plan's top-left corner)")
    height_m: float = Field(description="Floor depth in metres (y runs down)")
    image: bool = Field(description="Whether the plan has an image (GET /floor-plan/image)")


class CalibrationIn(BaseModel):
    """The pairs in order: ``image_points[i]`` (native pixels) is the spot ``floor_points[i]`` (metres)."""

    model_config = ConfigDict(extra="forbid")
    image_points: list[Point] = Field(max_length=MAX_PAIRS)
    floor_points: list[Point] = Field(max_length=MAX_PAIRS)


class CalibrationOut(BaseModel):
    camera_id: str
    frame: FrameSizeOut | None = Field(description="Frame size the image points are checked against; null: unknown")
    floor_plan: FloorPlanOut | None = Field(description="The store's floor plan; null: none configured")
    image_points: list[Point] = Field(description="Empty when the camera is not calibrated")
    floor_points: list[Point]
    errors_m: list[float] = Field(description="Per pair: distance in metres between the fit and the floor point")
    rms_m: float | None = Field(description="Root mean square of errors_m; null when not calibrated")
    applied: Literal["live", "saved", "memory"] | None = Field(
        default=None, description="After a save: as for PUT /cameras/{id}/geometry"
    )
    message: str | None = Field(default=None, description="What the save did, in words")


def floor_plan_of(store: StoreConfig) -> FloorPlan | None:
    """The configured plan, or None (none configured, or its image cannot be read: ``validate``
    reports that; the editor then draws a metre grid instead)."""
    try:
        return FloorPlan.from_config(store)
    except (FileNotFoundError, OSError) as exc:
        log.info("floor plan unavailable: %s", exc)
        return None


def plan_out(plan: FloorPlan | None) -> FloorPlanOut | None:
    if plan is None:
        return None
    return FloorPlanOut(width_m=round(plan.width_m, 4), height_m=round(plan.height_m, 4), image=plan.image is not None)


def _out(deps: Deps, cam: CameraConfig, **extra: Any) -> CalibrationOut:
    cal = cam.calibration
    errors: list[float] = []
    rms: float | None = None
    if cal is not None:
        try:
            fit = fit_homography(cal.image_points, cal.floor_points)
        except CalibrationError:  # a hand-written YAML calibration that the editor would refuse
            pass
        else:
            errors, rms = [round(float(e), 4) for e in fit.errors_m], round(fit.rms_m, 4)
    return CalibrationOut(
        camera_id=cam.id,
        frame=frame_size(deps, cam),
        floor_plan=plan_out(floor_plan_of(deps.store)),
        image_points=[] if cal is None else list(cal.image_points),
        floor_points=[] if cal is None else list(cal.floor_points),
        errors_m=errors,
        rms_m=rms,
        **extra,
    )


def outside(p: Point, w: float, h: float) -> bool:
    """Whether ``p`` lies outside a ``w`` x ``h`` frame or plan by more than the margin."""
    mx, my = FRAME_MARGIN * w, FRAME_MARGIN * h
    return not (-mx <= p[0] <= w + mx and -my <= p[1] <= h + my)


def calibration_errors(body: CalibrationIn, frame: FrameSizeOut | None, plan: FloorPlan | None) -> list[dict[str, Any]]:
    """Every problem of the pairs, each at its point when it has one; the fit is tried only on
    pairs that are each in place (its messages name pairs by number, 1-based)."""
    errors: list[dict[str, Any]] = []
    n_img, n_floor = len(body.image_points), len(body.floor_points)
    if n_img != n_floor:
        errors.append(shape_error([], f"{n_img} image point(s) but {n_floor} floor point(s): every pair needs both"))
    if frame is not None:
        for i, p in enumerate(body.image_points):
            if outside(p, frame.width, frame.height):
                size = f"{frame.width}x{frame.height}"
                msg = f"pair {i + 1}: image point ({p[0]:g}, {p[1]:g}) lies outside the {size} frame"
                errors.append(shape_error(["image_points", i], msg))
    if plan is not None:
        for i, p in enumerate(body.floor_points):
            if outside(p, plan.width_m, plan.height_m):
                msg = (
                    f"pair {i + 1}: floor point ({p[0]:g}, {p[1]:g}) m lies outside the "
                    f"{plan.width_m:g} x {plan.height_m:g} m floor plan"
                )
                errors.append(shape_error(["floor_points", i], msg))
    if errors:
        return errors
    if n_img < 4:
        return [shape_error([], f"need at least 4 pairs, got {n_img}: add {4 - n_img} more")]
    try:
        fit_homography(body.image_points, body.floor_points)
    except CalibrationError as exc:
        return [shape_error([], str(exc))]
    return []


@router.get("/floor-plan", response_model=FloorPlanOut, summary="The store's floor plan: extent in metres")
def get_floor_plan(deps: Deps, view: ScopeView) -> FloorPlanOut:
    view.require_store()
    plan = plan_out(floor_plan_of(deps.store))
    if plan is None:
        raise HTTPException(404, detail="this store has no floor plan (floor_plan: in the store YAML)")
    return plan


@router.get(
    "/floor-plan/image",
    response_class=Response,
    summary="The floor plan's image as PNG",
    responses={200: {"content": {"image/png": {}}, "description": "PNG"}},
)
def get_floor_plan_image(deps: Deps, view: ScopeView) -> Response:
    import cv2

    view.require_store()
    plan = floor_plan_of(deps.store)
    if plan is None or plan.image is None:
        raise HTTPException(404, detail="this store's floor plan has no image")
    ok, png = cv2.imencode(".png", plan.image)
    if not ok:  # pragma: no cover - a decoded image always encodes
        raise HTTPException(500, detail="cannot encode the floor plan image")
    return Response(np.asarray(png).tobytes(), media_type="image/png", headers={"Cache-Control": "no-cache"})


@router.get(
    "/cameras/{camera_id}/calibration",
    response_model=CalibrationOut,
    summary="A camera's image ↔ floor point pairs, with the fit's error per pair",
)
def get_calibration(deps: Deps, view: ScopeView, camera_id: str = Path(max_length=64)) -> CalibrationOut:
    view.require_camera(camera_id)
    return _out(deps, deps.store.camera(camera_id))


def _apply(deps: Deps, camera_id: str, what: str) -> tuple[Literal["live", "saved", "memory"], str]:
    runner = deps.runner
    if runner is not None and runner.is_running(camera_id):
        return "live", f"{what}; the running camera now uses it (no restart)."
    if deps.config.path is not None:
        return "saved", f"{what} in {deps.config.path.name}; the camera uses it when it next starts."
    return "memory", f"{what} in this process only (the service has no store file)."


@router.put(
    "/cameras/{camera_id}/calibration",
    response_model=CalibrationOut,
    dependencies=[Depends(require_role("admin"))],
    summary="Replace a camera's calibration (validated, saved, applied live)",
)
def put_calibration(
    deps: Deps, view: ScopeView, body: CalibrationIn, camera_id: str = Path(max_length=64)
) -> CalibrationOut:
    view.require_camera(camera_id)
    cam = deps.store.camera(camera_id)
    errors = calibration_errors(body, frame_size(deps, cam), floor_plan_of(deps.store))
    if errors:
        raise HTTPException(422, detail=errors)
    cal = CalibrationConfig(image_points=body.image_points, floor_points=body.floor_points)
    try:
        deps.config.replace_camera_calibration(camera_id, cal)
    except ZoneInvalid as exc:
        raise HTTPException(422, detail=[shape_error([], m) for m in exc.errors]) from None
    log.info("camera %s: calibration with %d pair(s) saved", camera_id, len(body.image_points))
    applied, message = _apply(deps, camera_id, f"Saved {len(body.image_points)} pairs")
    return _out(deps, deps.store.camera(camera_id), applied=applied, message=message)


@router.delete(
    "/cameras/{camera_id}/calibration",
    response_model=CalibrationOut,
    dependencies=[Depends(require_role("admin"))],
    summary="Remove a camera's calibration (refused while floor zones need it)",
)
def delete_calibration(deps: Deps, view: ScopeView, camera_id: str = Path(max_length=64)) -> CalibrationOut:
    view.require_camera(camera_id)
    try:
        deps.config.replace_camera_calibration(camera_id, None)
    except ZoneInvalid as exc:
        raise HTTPException(422, detail=[shape_error([], m) for m in exc.errors]) from None
    applied, message = _apply(deps, camera_id, "Removed the calibration")
    return _out(deps, deps.store.camera(camera_id), applied=applied, message=message)
