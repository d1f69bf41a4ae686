"""Preflight: checks of a store config against the machine it runs on: files exist, model files
resolve, sources open, and zones, lines, masks and calibration points lie inside the camera's frame
(:mod:`storelens.config.checks`).

The schema cannot know these (a path is a valid string whether or not the file is there; a zone
at x = 5000 is a valid polygon until the camera turns out to be 768 pixels wide), and finding
them at start-up, all at once and with the YAML line, beats a traceback minutes into a run.
They run on the parsed YAML data (paths already resolved, see :mod:`storelens.config.paths`), so
they can be reported together with schema errors elsewhere in the file.

Opening a source means reading one frame for its size: files and image folders always (cheap),
live cameras (``rtsp://``, ``http(s)://``, ``webcam:N``) only when not ``offline``, each within
``timeout_s``.

It sits in ``pipeline``, above config, vision, sources and intent, because it asks each of them
(config itself imports none): :func:`check_config` is ``storelens validate``, :func:`load_checked`
what ``run``, ``serve`` and ``snapshot`` load a store with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from storelens.config.checks import camera_items, geometry_issues
from storelens.config.loader import ConfigError, ConfigIssue, read_store
from storelens.config.paths import is_live_source, path_values
from storelens.config.references import Issue
from storelens.config.store import StoreConfig


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


def probe_frame_sizes(
    data: Any, *, offline: bool, timeout_s: float = 10.0, skip: set[int] | None = None
) -> tuple[dict[str, tuple[int, int]], list[Issue]]:
    """Open each enabled camera's source and read one frame: camera id -> native (width, height),
    and an issue for each source that does not open. ``skip``: camera indices not to open."""
    from storelens.config.cameras import CameraConfig
    from storelens.sources.probe import probe_frame_size

    sizes: dict[str, tuple[int, int]] = {}
    issues: list[Issue] = []
    for i, raw in camera_items(data):
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


def environment_issues(data: Any, *, probe: bool = True, offline: bool = False, timeout_s: float = 10.0) -> list[Issue]:
    """Files, sources and frame geometry (see the module docstring); empty when all is well."""
    issues = file_issues(data)
    if probe:
        missing = {int(loc[1]) for loc, _ in issues if loc[:1] == ["cameras"] and isinstance(loc[1], int)}
        sizes, probe_issues = probe_frame_sizes(data, offline=offline, timeout_s=timeout_s, skip=missing)
        issues += probe_issues + geometry_issues(data, sizes)
    return issues


def _environment(probe: bool, offline: bool, timeout_s: float) -> Any:
    # intent.states.*.weights name intent's features: importing intent.features registers their
    # check with the schema, so an unknown feature is reported with its line like any other field
    import storelens.intent.features  # noqa: F401

    return lambda data: environment_issues(data, probe=probe, offline=offline, timeout_s=timeout_s)


def check_config(
    path: str | Path, *, probe: bool = True, offline: bool = False, timeout_s: float = 10.0
) -> list[ConfigIssue]:
    """Every problem of a store config file at once: schema, cross-references, files that must
    exist, and (``probe``) sources that do not open and shapes outside their camera's frame;
    ``offline`` leaves live cameras unopened. Empty when the store is ready to run."""
    try:
        _, issues = read_store(path, extra=_environment(probe, offline, timeout_s))
    except ConfigError as exc:
        return exc.issues
    return issues


def load_checked(path: str | Path, *, probe: bool = True, offline: bool = True) -> StoreConfig:
    """``load_config`` plus :func:`check_config`'s environment checks, for commands about to run
    the store (``run``, ``serve``): raises :class:`ConfigError` with every problem."""
    cfg, issues = read_store(path, extra=_environment(probe, offline, 10.0))
    if cfg is None or issues:
        raise ConfigError(issues)
    return cfg
