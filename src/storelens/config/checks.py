"""Checks of a store config against the machine it runs on: files exist, sources open, and zones,
lines, masks and calibration points lie inside the camera's frame.

The schema cannot know these (a path is a valid string whether or not the file is there; a zone
at x = 5000 is a valid polygon until the camera turns out to be 768 pixels wide), and finding
them at start-up, all at once and with the YAML line, beats a traceback minutes into a run.
They run on the parsed YAML data (paths already resolved, see :mod:`storelens.config.paths`), so
they can be reported together with schema errors elsewhere in the file.

Opening a source means reading one frame for its size: files and image folders always (cheap),
live cameras (``rtsp://``, ``http(s)://``, ``webcam:N``) only when not ``offline``, each within
``timeout_s``. A point may lie a little outside the frame (:data:`FRAME_MARGIN`): a zone whose
members stand at the bottom edge is drawn past it on purpose, since people's feet are there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from storelens.config.paths import is_live_source, path_values
from storelens.config.references import Issue, Loc

FRAME_MARGIN = 0.1
"""How far (share of the frame's width or height) a point may lie outside the frame."""


def file_issues(data: Any) -> list[Issue]:
    """Every path field that must name an existing file (or folder, for a camera) and does not."""
    out: list[Issue] = []
    for loc, spec, value in path_values(data):
        if not spec.must_exist:
            continue
        if spec.kind == "source":
            if is_live_source(value):
                continue
            path = _source_path(value)
            if not path.exists():
                out.append((loc, f"file not found: {path}"))
        elif spec.kind == "model":
            from storelens.vision.models import ModelError, resolve_model

            try:  # a vendored name must be known and intact, a path must exist
                resolve_model(value)
            except ModelError as exc:
                out.append((loc, str(exc)))
        elif not Path(value).expanduser().is_file():
            out.append((loc, f"file not found: {value}"))
    return out


def _source_path(value: str) -> Path:
    from storelens.sources.factory import resolve_source_path

    return resolve_source_path(value.strip(), None)


def _cameras(data: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    cams = data.get("cameras") if isinstance(data, dict) else None
    for i, cam in enumerate(cams if isinstance(cams, list) else []):
        if isinstance(cam, dict) and isinstance(cam.get("id"), str) and isinstance(cam.get("source"), str):
            yield i, cam


def probe_frame_sizes(
    data: Any, *, offline: bool, timeout_s: float = 10.0, skip: set[int] | None = None
) -> tuple[dict[str, tuple[int, int]], list[Issue]]:
    """Open each enabled camera's source and read one frame: camera id -> native (width, height),
    and an issue for each source that does not open. ``skip``: camera indices not to open."""
    from storelens.config.schema import CameraConfig
    from storelens.sources.probe import probe_frame_size

    sizes: dict[str, tuple[int, int]] = {}
    issues: list[Issue] = []
    for i, raw in _cameras(data):
        if raw.get("enabled", True) is False or (skip and i in skip):
            continue
        if offline and is_live_source(raw["source"]):
            continue
        try:
            cam = CameraConfig.model_validate(raw)
        except ValueError:
            continue  # the schema errors say what is wrong with it
        try:
            sizes[cam.id] = probe_frame_size(cam, timeout_s=timeout_s)
        except Exception as exc:  # any failure to open is the message for this line
            issues.append((["cameras", i, "source"], f"cannot open camera {cam.id!r}: {exc}"))
    return sizes, issues


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
    for i, cam in _cameras(data):
        cal = cam.get("calibration")
        if isinstance(cal, dict) and cam["id"] in sizes:
            loc: Loc = ["cameras", i, "calibration", "image_points"]
            add(_first_outside(cal.get("image_points"), sizes[cam["id"]], loc, "calibration", cam["id"]))
    return out


def environment_issues(data: Any, *, probe: bool = True, offline: bool = False, timeout_s: float = 10.0) -> list[Issue]:
    """Files, sources and frame geometry (see the module docstring); empty when all is well."""
    issues = file_issues(data)
    if probe:
        missing = {int(loc[1]) for loc, _ in issues if loc[:1] == ["cameras"] and isinstance(loc[1], int)}
        sizes, probe_issues = probe_frame_sizes(data, offline=offline, timeout_s=timeout_s, skip=missing)
        issues += probe_issues + geometry_issues(data, sizes)
    return issues
