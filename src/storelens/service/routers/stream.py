"""``/stream`` (WebSocket): live events with type/camera filters, and overlay metadata."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from storelens.security.rbac import Role
from storelens.service.schemas.common import check_type_filter
from storelens.service.scope import view_of
from storelens.service.ws import StreamFilter

router = APIRouter(tags=["stream"])

POLICY_VIOLATION = 1008


def _split(values: list[str]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


@router.websocket("/stream")
async def stream(websocket: WebSocket) -> None:
    """Query parameters: ``types`` (comma separated or repeated; exact types or prefixes ending in
    '.'), ``cameras`` (ids), ``events`` (default true), ``overlay`` (default false). A bad
    parameter is answered with ``{"kind": "error", "detail": ...}`` and close code 1008."""
    deps = websocket.app.state.deps
    deps.authorize(websocket, Role.ANALYST)  # live per-visit events: like /events (rbac table)
    params = websocket.query_params
    errors: list[str] = []
    types = _split(params.getlist("types"))
    for t in types:
        try:
            check_type_filter(t)
        except ValueError as exc:
            errors.append(str(exc))
    cameras = _split(params.getlist("cameras"))
    view = view_of(websocket)
    known = [c.id for c in view.cameras()]
    errors += [f"unknown camera {c!r} (known: {', '.join(known)})" for c in cameras if c not in known]

    def flag(name: str, default: bool) -> bool:
        raw = params.get(name)
        if raw is None:
            return default
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        errors.append(f"{name} must be true or false, got {raw!r}")
        return default

    flt = StreamFilter(
        types=tuple(types),
        cameras=tuple(cameras),
        events=flag("events", True),
        overlay=flag("overlay", False),
        visible_cameras=view.camera_ids(),
        visible_zones=view.zone_ids(),
    )
    await websocket.accept()
    if errors:
        await websocket.send_json({"kind": "error", "detail": errors})
        await websocket.close(code=POLICY_VIOLATION, reason="invalid parameters"[:120])
        return
    hello = {
        "store_id": deps.store.store_id,
        "types": list(flt.types),
        "cameras": list(flt.cameras),
        "events": flt.events,
        "overlay": flt.overlay,
    }
    await deps.hub.serve(websocket, flt, hello)
