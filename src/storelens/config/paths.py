"""Every path in a store config, resolved against the YAML file's folder.

A store is configured by one file, and a person writes ``source: entrance.mp4`` or
``key_file: keys.txt`` meaning "next to this file", whichever folder ``storelens`` is started
from. So the loader rewrites each relative path field to an absolute one *before* validation,
in one place (:data:`PATH_FIELDS`), and no consumer ever resolves a path itself or against the
current directory. ``tests/unit/test_config_checks.py`` keeps this table complete: every field of
the schema that holds a path must be listed here.

The same table tells ``storelens validate`` which files must already exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from storelens.config.references import Loc

PathKind = Literal["source", "model", "file", "dir", "database"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_WEBCAM = re.compile(r"^(webcam:\d+|/dev/video\d+)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PathField:
    loc: tuple[str, ...]  # "*" = every item of a list
    kind: PathKind
    must_exist: bool


PATH_FIELDS: tuple[PathField, ...] = (
    PathField(("cameras", "*", "source"), "source", True),
    PathField(("detector", "model"), "model", True),
    PathField(("floor_plan", "image"), "file", True),
    PathField(("intent", "calibration_file"), "file", True),
    PathField(("output", "database_url"), "database", False),
    PathField(("storage", "spool_dir"), "dir", False),
    PathField(("mqtt", "spool_dir"), "dir", False),
    PathField(("mqtt", "tls", "ca_file"), "file", True),
    PathField(("mqtt", "tls", "cert_file"), "file", True),
    PathField(("mqtt", "tls", "key_file"), "file", True),
    PathField(("nats", "creds_file"), "file", True),
    PathField(("nats", "spool_dir"), "dir", False),
    PathField(("nats", "tls", "ca_file"), "file", True),
    PathField(("nats", "tls", "cert_file"), "file", True),
    PathField(("nats", "tls", "key_file"), "file", True),
    PathField(("privacy", "snapshot_dir"), "dir", False),
    PathField(("security", "key_file"), "file", True),
    PathField(("security", "audit_key_file"), "file", False),
    PathField(("security", "tls", "cert_file"), "file", True),
    PathField(("security", "tls", "key_file"), "file", True),
)


def is_live_source(source: str) -> bool:
    """A camera stream or device (not a file or folder): ``rtsp://``, ``http(s)://``, ``webcam:N``."""
    s = source.strip()
    m = _SCHEME.match(s)
    return bool(m and m.group(1).lower() != "file") or bool(_WEBCAM.match(s))


def is_model_path(value: str) -> bool:
    """``detector.model`` names a file (not a vendored model) when it is an .onnx path with a folder
    part or an absolute path: the rule :func:`storelens.vision.models.resolve_model` applies."""
    p = Path(value).expanduser()
    return p.suffix == ".onnx" and (p.is_absolute() or "/" in value or "\\" in value)


def _walk(node: Any, pattern: tuple[str, ...], loc: Loc) -> Iterator[tuple[Loc, Any, str]]:
    """(location, container, key) of every value the pattern names that is present."""
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        if isinstance(node, list):
            for i, item in enumerate(node):
                yield from _walk(item, rest, [*loc, i])
        return
    if not isinstance(node, dict) or head not in node:
        return
    if not rest:
        yield [*loc, head], node, head
    else:
        yield from _walk(node[head], rest, [*loc, head])


def path_values(data: Any) -> Iterator[tuple[Loc, PathField, str]]:
    """Every path-holding string value in a store config's data, with its field."""
    for spec in PATH_FIELDS:
        for loc, container, key in _walk(data, spec.loc, []):
            value = container[key]
            if isinstance(value, str) and value.strip():
                yield loc, spec, value


def _resolve(value: str, kind: PathKind, base_dir: Path) -> str:
    if kind == "source":
        if is_live_source(value) or value.strip().lower().startswith("file://"):
            return value
    elif kind == "model":
        if not is_model_path(value):
            return value  # a vendored model's name
    elif kind == "database":
        # SQLite file URLs only ("sqlite:///rel.db" is relative; "sqlite:////abs.db" is absolute)
        prefix = "sqlite:///"
        if not value.startswith(prefix) or value == prefix or value.startswith(prefix + "/"):
            return value
        rest = value[len(prefix) :]
        if rest.startswith(":memory:") or Path(rest).expanduser().is_absolute():
            return value
        return prefix + str(base_dir / Path(rest).expanduser())
    p = Path(value.strip()).expanduser()
    return str(p if p.is_absolute() else base_dir / p)


def resolve_paths(data: Any, base_dir: Path) -> None:
    """Rewrite every relative path field of ``data`` (a parsed YAML mapping) against ``base_dir``."""
    for spec in PATH_FIELDS:
        for _, container, key in _walk(data, spec.loc, []):
            value = container[key]
            if isinstance(value, str) and value.strip():
                container[key] = _resolve(value, spec.kind, base_dir)
