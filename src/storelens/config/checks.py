"""Frame-geometry checks of a store config: image-space zones, lines, privacy masks and
calibration points that lie outside their camera's frame.

Pure functions of the parsed YAML data and the frame sizes: the sizes come from opening the
sources (:mod:`storelens.pipeline.preflight`, before a run) or from the live camera (the zone
editor's save route). A point may lie a little outside the frame (:data:`FRAME_MARGIN`): a zone
whose members stand at the bottom edge is drawn past it on purpose, since people's feet are there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from storelens.config.references import Issue, Loc

FRAME_MARGIN = 0.1
"""How far (share of the frame's width or height) a point may lie outside the frame."""


def camera_items(data: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    cams = data.get("cameras") if isinstance(data, dict) else None
    for i, cam in enumerate(cams if isinstance(cams, list) else []):
        if isinstance(cam, dict) and isinstance(cam.get("id"), str) and isinstance(cam.get("source"), str):
            yield i, cam


def _point(value: Any) -> tuple[float, float] | None:
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        return float(value[0]), float(value[1])
    return None


def _outside(pt: tuple[float, float], size: tuple[int, int]) -> bool:
    w, h = size
    mx, my = FRAME_MARGIN * w, FRAME_MARGIN * h
    return not (-mx <= pt[0] <= w + mx and -my <= pt[1] <= h + my)


def _first_outside(points: Any, size: tuple[int, int], loc: Loc, what: str, camera: str) -> Issue | None:
    for j, value in enumerate(points if isinstance(points, list) else []):
        pt = _point(value)
        if pt is not None and _outside(pt, size):
            w, h = size
            return (
                [*loc, j],
                f"{what} point ({pt[0]:g}, {pt[1]:g}) lies outside the {w}x{h} frame of camera {camera!r}",
            )
    return None


def geometry_issues(data: Any, sizes: dict[str, tuple[int, int]]) -> list[Issue]:
    """Image-space zones, lines, privacy masks and calibration points outside their camera's frame
    (cameras whose size is unknown are not checked). One issue per shape: its first bad point."""
    if not isinstance(data, dict):
        return []
    out: list[Issue] = []

    def add(issue: Issue | None) -> None:
        if issue is not None:
            out.append(issue)

    def items(node: Any) -> Iterator[tuple[int, dict[str, Any]]]:
        for i, item in enumerate(node if isinstance(node, list) else []):
            if isinstance(item, dict) and item.get("space", "image") == "image" and item.get("camera") in sizes:
                yield i, item

    for i, z in items(data.get("zones")):
        add(_first_outside(z.get("points"), sizes[z["camera"]], ["zones", i, "points"], "zone", z["camera"]))
    for i, ln in items(data.get("lines")):
        for end in ("a", "b"):
            pt = _point(ln.get(end))
            if pt is not None and _outside(pt, sizes[ln["camera"]]):
                w, h = sizes[ln["camera"]]
                cam = ln["camera"]
                msg = f"line end {end} ({pt[0]:g}, {pt[1]:g}) lies outside the {w}x{h} frame of camera {cam!r}"
                out.append((["lines", i, end], msg))
                break
    privacy = data.get("privacy")
    for i, m in items(privacy.get("masks") if isinstance(privacy, dict) else None):
        add(_first_outside(m.get("points"), sizes[m["camera"]], ["privacy", "masks", i, "points"], "mask", m["camera"]))
    for i, cam in camera_items(data):
        cal = cam.get("calibration")
        if isinstance(cal, dict) and cam["id"] in sizes:
            loc: Loc = ["cameras", i, "calibration", "image_points"]
            add(_first_outside(cal.get("image_points"), sizes[cam["id"]], loc, "calibration", cam["id"]))
    return out
