"""Cross-references of a store config (ids that must exist, kinds that must match), as a list.

The rules run on the plain data (the parsed YAML mapping or a model dump) and tolerate anything
malformed around them, so the loader can report them *together with* schema errors: a person
fixing a file sees every problem at once, not the reference errors only after the schema ones are
gone. :class:`~storelens.config.store.StoreConfig` raises the first of them from its validator
(the API and the zone editor validate models, not files), so the rules exist once.

Each issue is ``(location, message)``; the location is the field's path as a list of keys and
indices (``["zones", 2, "camera"]``), which the loader turns into a file line.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

Loc = list[int | str]
Issue = tuple[Loc, str]


def _items(data: dict[str, Any], key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    value = data.get(key)
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict):
                yield i, item


def _ids(data: dict[str, Any], key: str) -> list[str]:
    return [str(item["id"]) for _, item in _items(data, key) if isinstance(item.get("id"), str)]


def _unique(data: dict[str, Any], key: str) -> Iterator[Issue]:
    seen: set[str] = set()
    for i, item in _items(data, key):
        ident = item.get("id")
        if not isinstance(ident, str):
            continue
        if ident in seen:
            yield [key, i, "id"], f"duplicate id {ident!r}"
        seen.add(ident)


def _mapping(data: dict[str, Any], *path: str) -> dict[str, Any]:
    node: Any = data
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def reference_issues(data: Any) -> list[Issue]:
    """Every broken cross-reference in a store config's data (empty when all hold)."""
    if not isinstance(data, dict):
        return []
    out: list[Issue] = []
    for key in ("cameras", "zones", "lines"):
        out.extend(_unique(data, key))
    cam_ids = _ids(data, "cameras")
    calibrated = any(isinstance(c.get("calibration"), dict) for _, c in _items(data, "cameras"))
    for key in ("zones", "lines"):
        for i, item in _items(data, key):
            camera = item.get("camera")
            if isinstance(camera, str) and camera not in cam_ids:
                out.append(([key, i, "camera"], f"unknown camera {camera!r} (known: {cam_ids})"))
            if key == "zones" and item.get("space") == "floor" and not calibrated:
                zid = item.get("id", i)
                out.append(([key, i, "space"], f"zone {zid!r} is in floor space but no camera has a calibration"))
    kinds = {
        str(z["id"]): str(z.get("kind", "other")) for _, z in _items(data, "zones") if isinstance(z.get("id"), str)
    }
    for i, q in _items(_mapping(data, "behaviour"), "queues"):
        for field, want in (("queue_zone", "queue"), ("checkout_zone", "checkout")):
            zid = q.get(field)
            if not isinstance(zid, str):
                continue
            if zid not in kinds:
                out.append((["behaviour", "queues", i, field], f"unknown zone {zid!r}"))
            elif kinds[zid] != want:
                out.append((["behaviour", "queues", i, field], f"zone {zid!r} has kind {kinds[zid]}, expected {want}"))
    for i, m in _items(_mapping(data, "privacy"), "masks"):
        camera = m.get("camera")
        if isinstance(camera, str) and camera not in cam_ids:
            out.append((["privacy", "masks", i, "camera"], f"unknown camera {camera!r} (known: {cam_ids})"))
    return out


def format_loc(loc: Sequence[int | str]) -> str:
    """``["zones", 2, "camera"]`` -> ``zones[2].camera`` (how the loader prints field paths)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
