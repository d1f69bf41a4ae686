"""``/cameras/{id}/geometry``: read and replace the zones and lines drawn on one camera (the editor).

The dashboard's editor draws on the camera's redacted still and saves the camera's image-space
zones and lines in one request, so a drawing is valid or refused as a whole. A save is checked
like ``storelens validate`` checks the file, and every problem comes back at once, each with the
field and point it is about (``loc`` such as ``["body", "zones", 0, "points", 2]``), which the editor
shows next to that shape: the schema (FastAPI's 422), the camera each shape names, ids unique
across the store, and points inside the camera's frame (:mod:`storelens.config.checks`, with its
margin). Then the whole config is validated and written back to the YAML by the config store,
and the running pipeline of the camera is rebuilt with the new geometry (no restart).

The frame size the points are checked against is the running pipeline's (its source reports the
native size), else one probed from a file source, else the still's size when the still cannot
have been scaled down (narrower than ``max_width``); with none known, the frame check is skipped
and the answer says so. Saving needs the admin role; the security layer audits it (``zone.change``).
"""

from __future__ import annotations

import logging
import struct
import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from storelens.config.cameras import CameraConfig, LineConfig, ZoneConfig
from storelens.config.checks import FRAME_MARGIN, geometry_issues
from storelens.config.store import StoreConfig
from storelens.service.config_store import ZoneConflict, ZoneInvalid
from storelens.service.deps import Deps, require_role
from storelens.service.schemas.common import ERROR_RESPONSES, ErrorBody
from storelens.service.scope import ScopeView

log = logging.getLogger(__name__)

router = APIRouter(prefix="/cameras", tags=["cameras"], responses=ERROR_RESPONSES)

MAX_SHAPES = 256


class FrameSizeOut(BaseModel):
    width: int = Field(description="Native frame width in pixels (the unit of every point)")
    height: int
    source: Literal["pipeline", "source", "still"] = Field(description="Where the size was learnt")


class GeometryIn(BaseModel):
    """Every image-space zone and line of the camera, as they should be after the save. Both lists
    are required: an empty body must not read as "remove everything" (send ``[]`` for that)."""

    model_config = ConfigDict(extra="forbid")
    zones: list[ZoneConfig] = Field(max_length=MAX_SHAPES)
    lines: list[LineConfig] = Field(max_length=MAX_SHAPES)


class GeometryOut(BaseModel):
    camera_id: str
    frame: FrameSizeOut | None = Field(description="Frame size the points are checked against; null: unknown")
    frame_margin: float = Field(description="Share of the frame a point may lie outside it")
    snapshot: bool = Field(description="Whether the redacted still exists (GET /cameras/{id}/snapshot)")
    zones: list[ZoneConfig]
    lines: list[LineConfig]
    applied: Literal["live", "saved", "memory"] | None = Field(
        default=None,
        description="After a save: 'live' (the running pipeline was rebuilt with it), 'saved' (written "
        "to the store file; used when the camera next starts), 'memory' (no file: this process only)",
    )
    message: str | None = Field(default=None, description="What the save did, in words")


_probed: dict[tuple[str, str], tuple[int, int]] = {}
_probe_lock = threading.Lock()


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def frame_size(deps: Deps, cam: CameraConfig) -> FrameSizeOut | None:
    """The camera's native frame size (see the module docstring for the order)."""
    from storelens.privacy.snapshot import snapshot_path
    from storelens.service.runner import is_file_source

    runner = deps.runner
    if runner is not None and cam.id in runner.camera_ids():
        size = runner.frame_size(cam.id)
        if size is not None:
            return FrameSizeOut(width=size[0], height=size[1], source="pipeline")
    if is_file_source(cam):
        key = (cam.id, cam.source)
        with _probe_lock:
            size = _probed.get(key)
        if size is None:
            from storelens.sources.probe import probe_frame_size

            try:
                size = probe_frame_size(cam)
            except Exception as exc:  # a missing or broken file: the still may still tell
                log.info("camera %s: cannot probe its frame size: %s", cam.id, exc)
            else:
                with _probe_lock:
                    _probed[key] = size
        if size is not None:
            return FrameSizeOut(width=size[0], height=size[1], source="source")
    still = snapshot_path(deps.store, cam.id)
    if still.is_file():
        with still.open("rb") as fh:
            size = _png_size(fh.read(24))
        if size is not None and size[0] < cam.max_width:  # never scaled down: native pixels
            return FrameSizeOut(width=size[0], height=size[1], source="still")
    return None


def _mine(item: ZoneConfig | LineConfig, camera_id: str) -> bool:
    return item.space == "image" and item.camera == camera_id


def _out(deps: Deps, store: StoreConfig, cam: CameraConfig, **extra: Any) -> GeometryOut:
    from storelens.privacy.snapshot import snapshot_path

    return GeometryOut(
        camera_id=cam.id,
        frame=frame_size(deps, cam),
        frame_margin=FRAME_MARGIN,
        snapshot=snapshot_path(store, cam.id).is_file(),
        zones=[z for z in store.zones if _mine(z, cam.id)],
        lines=[ln for ln in store.lines if _mine(ln, cam.id)],
        **extra,
    )


def shape_error(loc: list[str | int], msg: str) -> dict[str, Any]:
    """One problem of a save, at ``loc`` inside the body (FastAPI's 422 item shape)."""
    return {"loc": ["body", *loc], "msg": msg, "type": "value_error"}


def placed_error(groups: Sequence[tuple[str, Sequence[ZoneConfig | LineConfig]]], message: str) -> dict[str, Any]:
    """A whole-config error (a queue needing a zone of kind queue, ...) at the first shape of
    the body's ``groups`` (``("zones", [...])``) its message names, so the editor shows it
    there; else on the body."""
    msg = message.removeprefix("Value error, ")
    for kind, items in groups:
        for i, item in enumerate(items):
            if f"'{item.id}'" in msg:
                return shape_error([kind, i], msg)
    return shape_error([], msg)


SaveGroups = Sequence[tuple[str, Sequence[ZoneConfig | LineConfig]]]
Applied = Literal["live", "saved", "memory"]


def save_shapes(save: Callable[[], object], groups: SaveGroups) -> None:
    """Run a config save of drawn shapes; a conflict (a removed zone still referenced) is 409, a
    whole-config problem 422 placed at its shape, as the camera and floor editors both expect."""
    try:
        save()
    except ZoneConflict as exc:
        raise HTTPException(409, detail=str(exc)) from None
    except ZoneInvalid as exc:
        raise HTTPException(422, detail=[placed_error(groups, m) for m in exc.errors]) from None


def applied_as(deps: Deps, counts: str, live: bool, who: tuple[str, str]) -> tuple[Applied, str]:
    """How a save took effect and the sentence saying so; ``who``: the words for one camera or all
    of them (now: "the running camera now uses", later: "the camera uses them when it next starts")."""
    now, later = who
    if live:
        return "live", f"Saved {counts}; {now} them (no restart)."
    if deps.config.path is not None:
        return "saved", f"Saved {counts} to {deps.config.path.name}; {later}."
    return "memory", f"Applied {counts} in this process only (the service has no store file)."


def geometry_errors(store: StoreConfig, cam: CameraConfig, body: GeometryIn, frame: FrameSizeOut | None) -> list[Any]:
    """Every problem of a save that the schema does not catch, each located at its field."""
    errors: list[dict[str, Any]] = []
    groups: list[tuple[str, Sequence[ZoneConfig | LineConfig], Sequence[ZoneConfig | LineConfig]]] = [
        ("zones", body.zones, store.zones),
        ("lines", body.lines, store.lines),
    ]
    for kind, items, stored in groups:
        others = {item.id: item.camera or "the floor" for item in stored if not _mine(item, cam.id)}
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            if item.space != "image":
                msg = f"must be 'image': the editor draws on camera {cam.id!r}"
                errors.append(shape_error([kind, i, "space"], msg))
            if item.camera != cam.id:
                errors.append(shape_error([kind, i, "camera"], f"must be {cam.id!r}, the camera being edited"))
            if item.id in seen:
                msg = f"id {item.id!r} is used twice (also {kind}[{seen[item.id]}])"
                errors.append(shape_error([kind, i, "id"], msg))
            elif item.id in others:
                errors.append(shape_error([kind, i, "id"], f"id {item.id!r} is already used on {others[item.id]}"))
            seen.setdefault(item.id, i)
    if frame is not None:
        data = {
            "zones": [z.model_dump(mode="json") for z in body.zones],
            "lines": [ln.model_dump(mode="json") for ln in body.lines],
        }
        for loc, msg in geometry_issues(data, {cam.id: (frame.width, frame.height)}):
            errors.append(shape_error(list(loc), msg))
    return errors


@router.get(
    "/{camera_id}/geometry",
    response_model=GeometryOut,
    summary="The zones and lines drawn on one camera, with its frame size",
)
def get_geometry(deps: Deps, view: ScopeView, camera_id: str = Path(max_length=64)) -> GeometryOut:
    view.require_camera(camera_id)
    store = deps.store
    return _out(deps, store, store.camera(camera_id))


@router.put(
    "/{camera_id}/geometry",
    response_model=GeometryOut,
    dependencies=[Depends(require_role("admin"))],
    responses={409: {"model": ErrorBody, "description": "A zone to be removed is referenced elsewhere"}},
    summary="Replace the zones and lines drawn on one camera (validated, saved, applied live)",
)
def put_geometry(
    request: Request, deps: Deps, view: ScopeView, body: GeometryIn, camera_id: str = Path(max_length=64)
) -> GeometryOut:
    view.require_camera(camera_id)
    store = deps.store
    cam = store.camera(camera_id)
    frame = frame_size(deps, cam)
    errors = geometry_errors(store, cam, body, frame)
    if errors:
        raise HTTPException(422, detail=errors)
    save_shapes(
        lambda: deps.config.replace_camera_geometry(camera_id, body.zones, body.lines),
        [("zones", body.zones), ("lines", body.lines)],
    )
    from storelens.security.rbac import principal_of

    who = principal_of(request)
    log.info(
        "camera %s: %d zone(s) and %d line(s) saved by %s",
        camera_id,
        len(body.zones),
        len(body.lines),
        who.username if who is not None else "an unauthenticated client",
    )
    runner = deps.runner
    counts = f"{len(body.zones)} zone(s) and {len(body.lines)} line(s)"
    live = runner is not None and runner.is_running(camera_id)
    applied, message = applied_as(
        deps, counts, live, ("the running camera now uses", "the camera uses them when it next starts")
    )
    if frame is None:
        message += " The frame size is unknown, so points were not checked against it."
    return _out(deps, deps.store, cam, applied=applied, message=message)
