"""The live store config and zone edits, persisted to the store's YAML file.

Zones are part of the store config (the file `storelens run` and `storelens serve` read), so the API
edits that file rather than a database table: one source of truth, reviewable in version control,
and a restart can never resurrect a deleted zone from a stale copy. Every edit is validated as a
whole new :class:`StoreConfig` (unique ids, camera references, floor zones need a calibrated camera,
queue pairs refer to existing zones) before anything is written.

Writing replaces only the ``zones:`` block of the YAML text (and the ``lines:`` block when the
editor saves a camera's zones and lines; located with PyYAML's node marks), so every other section
keeps its formatting and comments; comments *inside* those blocks are not kept. The new text is
parsed again with the normal loader and written atomically (temporary file, fsync, rename), so a
crash mid-write leaves the old file intact. Without a file (``path=None``,
e.g. an app built from a config object in tests) edits live in memory only.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from storelens.config.cameras import CalibrationConfig, LineConfig, ZoneConfig
from storelens.config.loader import ConfigError, parse_config
from storelens.config.store import StoreConfig

ChangeListener = Callable[[StoreConfig, list[str]], None]


class ZoneNotFound(KeyError):
    pass


class ZoneConflict(ValueError):
    pass


class ZoneInvalid(ValueError):
    """The edit would make the store config invalid; ``errors`` are the messages."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


def _validation_messages(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        out.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return out


def _num(v: float) -> float | int:
    f = float(v)
    return int(f) if f.is_integer() and abs(f) < 1e15 else f


def _block_yaml(key: str, items: Sequence[ZoneConfig | LineConfig], points: Sequence[str]) -> str:
    """A top-level list block: one mapping per item, defaults left out, ``points`` fields (lists of
    points or single points) written as one flow list each so a polygon stays on one line."""
    if not items:
        return f"{key}: []\n"
    lines = [f"{key}:"]
    for item in items:
        data: dict[str, Any] = item.model_dump(mode="json", exclude_defaults=True)
        data["id"] = item.id
        geometry = {f: data.pop(f, getattr(item, f)) for f in points}
        first = True
        for k in ("id", *[k for k in data if k != "id"]):
            text = yaml.safe_dump({k: data[k]}, default_flow_style=True, sort_keys=False, width=1_000_000)
            text = text.strip()
            if text.startswith("{") and text.endswith("}"):
                text = text[1:-1]
            lines.append(("  - " if first else "    ") + text)
            first = False
        for f, value in geometry.items():
            lines.append(f"    {f}: " + json.dumps(_nums(value)))
    return "\n".join(lines) + "\n"


def _nums(value: Any) -> Any:
    """Points as plain numbers (2.0 -> 2), nested lists kept."""
    if isinstance(value, list | tuple):
        return [_nums(v) for v in value]
    return _num(value)


def zone_yaml(zones: Sequence[ZoneConfig]) -> str:
    """The ``zones:`` block as YAML (defaults left out, points as one flow list per zone)."""
    return _block_yaml("zones", zones, ("points",))


def line_yaml(lines: Sequence[LineConfig]) -> str:
    """The ``lines:`` block as YAML (defaults left out, each end as a flow list)."""
    return _block_yaml("lines", lines, ("a", "b"))


def replace_zones_block(text: str, zones: Sequence[ZoneConfig]) -> str:
    """``text`` with its top-level ``zones:`` entry replaced (or appended when absent)."""
    return replace_block(text, "zones", zone_yaml(zones))


def replace_block(text: str, name: str, block: str) -> str:
    """``text`` with its top-level ``name:`` entry replaced by ``block`` (or appended when absent)."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        raise ValueError("the store config is not a YAML mapping")
    for key, value in root.value:
        if key.value != name:
            continue
        if key.start_mark.column != 0:
            raise ValueError(f"the top-level {name!r} key must start at column 0 to be edited")
        lines = text.splitlines(keepends=True)
        start = key.start_mark.line
        end_line = value.end_mark.line
        end_col = value.end_mark.column
        # a block node's end mark is the start of the next token: exclude that line unless the
        # value ends inside it (flow style such as `zones: []`)
        end = end_line + 1 if end_col > 0 and end_line < len(lines) else end_line
        end = min(end, len(lines))
        # keep comments and blank lines that precede the next section
        while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
            end -= 1
        return "".join(lines[:start]) + block + "".join(lines[end:])
    sep = "" if text.endswith("\n") or not text else "\n"
    return f"{text}{sep}\n{block}"


def _last_line(node: yaml.Node) -> int:
    """The last text line a node's value occupies: a block node's own end mark is the start of
    the next token (often a later line), so follow its last child down to a scalar or flow node."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return _last_line(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _last_line(node.value[-1])
    end = node.end_mark
    return end.line if end.column > 0 else max(end.line - 1, node.start_mark.line)


def calibration_yaml(calibration: CalibrationConfig | None, indent: int) -> str:
    """A camera's ``calibration:`` entry at ``indent`` columns (empty for none), each list of
    points on one line."""
    if calibration is None:
        return ""
    pad = " " * indent
    return (
        f"{pad}calibration:\n"
        f"{pad}  image_points: {json.dumps(_nums(calibration.image_points))}\n"
        f"{pad}  floor_points: {json.dumps(_nums(calibration.floor_points))}\n"
    )


def replace_camera_calibration(text: str, camera_id: str, calibration: CalibrationConfig | None) -> str:
    """``text`` with the ``calibration:`` of camera ``camera_id`` replaced, added after the camera's
    last key, or removed (``None``); every other line of the file is kept as it was."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        raise ValueError("the store config is not a YAML mapping")
    cameras = next((v for k, v in root.value if k.value == "cameras"), None)
    if not isinstance(cameras, yaml.SequenceNode) or cameras.flow_style:
        raise ValueError("the cameras must be a block list ('- id: ...' lines) to be edited")
    for item in cameras.value:
        if not isinstance(item, yaml.MappingNode) or not item.value:
            continue
        if next((v.value for k, v in item.value if k.value == "id"), None) != camera_id:
            continue
        if item.flow_style:
            raise ValueError(f"camera {camera_id!r} is written in flow style ({{...}}); write it as a block to edit it")
        lines = text.splitlines(keepends=True)
        indent = item.value[0][0].start_mark.column
        block = calibration_yaml(calibration, indent)
        for key, value in item.value:
            if key.value == "calibration":
                start, end = key.start_mark.line, max(_last_line(value), key.start_mark.line) + 1
                return "".join(lines[:start]) + block + "".join(lines[end:])
        after = _last_line(item) + 1
        if after > len(lines) or (after == len(lines) and lines and not lines[-1].endswith("\n")):
            lines[-1:] = [lines[-1].rstrip("\n") + "\n"] if lines else []
        return "".join(lines[:after]) + block + "".join(lines[after:])
    raise ValueError(f"camera {camera_id!r} is not in the file")


class StoreConfigStore:
    """Thread-safe holder of the current config; zone CRUD with validation and persistence."""

    def __init__(self, store: StoreConfig, path: Path | None = None) -> None:
        self._store = store
        self.path = path
        self._lock = threading.Lock()
        self._listeners: list[ChangeListener] = []

    @property
    def current(self) -> StoreConfig:
        return self._store

    def on_change(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def zones(self) -> list[ZoneConfig]:
        return list(self._store.zones)

    def lines(self) -> list[LineConfig]:
        return list(self._store.lines)

    def zone(self, zone_id: str) -> ZoneConfig:
        for z in self._store.zones:
            if z.id == zone_id:
                return z
        raise ZoneNotFound(zone_id)

    # ---------------------------------------------------------------------------------- edits
    def create_zone(self, zone: ZoneConfig) -> ZoneConfig:
        with self._lock:
            if any(z.id == zone.id for z in self._store.zones):
                raise ZoneConflict(f"zone {zone.id!r} already exists (use PUT to replace it)")
            self._commit([*self._store.zones, zone], {zone.camera} if zone.camera else None)
        return zone

    def replace_zone(self, zone_id: str, zone: ZoneConfig) -> ZoneConfig:
        with self._lock:
            old = next((z for z in self._store.zones if z.id == zone_id), None)
            if old is None:
                raise ZoneNotFound(zone_id)
            if zone.id != zone_id:
                raise ZoneInvalid([f"id: the body's id {zone.id!r} differs from the path's {zone_id!r}"])
            zones = [zone if z.id == zone_id else z for z in self._store.zones]
            self._commit(
                zones, {c for c in (old.camera, zone.camera) if c} if old.space == zone.space == "image" else None
            )
        return zone

    def delete_zone(self, zone_id: str) -> None:
        with self._lock:
            old = next((z for z in self._store.zones if z.id == zone_id), None)
            if old is None:
                raise ZoneNotFound(zone_id)
            refs = self._references(zone_id)
            if refs:
                raise ZoneConflict(f"zone {zone_id!r} is referenced by {', '.join(refs)}; change those first")
            self._commit([z for z in self._store.zones if z.id != zone_id], {old.camera} if old.camera else None)

    def replace_camera_geometry(
        self, camera_id: str, zones: Sequence[ZoneConfig], lines: Sequence[LineConfig]
    ) -> tuple[list[ZoneConfig], list[LineConfig]]:
        """Replace every image-space zone and line drawn on ``camera_id`` (what the editor saves):
        the others keep their order, this camera's take the place of its first old one. A zone
        that goes away while the config still refers to it is a :class:`ZoneConflict`."""

        def mine(item: ZoneConfig | LineConfig) -> bool:
            return item.space == "image" and item.camera == camera_id

        self._replace_where(mine, zones, lines, {camera_id})
        return list(zones), list(lines)

    def replace_floor_zones(self, zones: Sequence[ZoneConfig]) -> list[ZoneConfig]:
        """Replace every floor-space zone (what the editor draws on the floor plan), like
        :meth:`replace_camera_geometry` does a camera's; every calibrated camera uses them."""

        def floor(item: ZoneConfig | LineConfig) -> bool:
            return item.space == "floor"

        self._replace_where(floor, zones, None, None)
        return list(zones)

    def _replace_where(
        self,
        mine: Callable[[ZoneConfig | LineConfig], bool],
        zones: Sequence[ZoneConfig],
        lines: Sequence[LineConfig] | None,
        cameras: set[str] | None,
    ) -> None:
        """The zones (and lines, unless None) that ``mine`` selects replaced by the new ones: the
        others keep their order, the new take the place of the first old one."""

        def merged(old: Sequence[Any], new: Sequence[Any]) -> list[Any]:
            at = next((i for i, item in enumerate(old) if mine(item)), len(old))
            kept = [item for item in old[:at] if not mine(item)]
            return [*kept, *new, *[item for item in old[at:] if not mine(item)]]

        with self._lock:
            gone = {z.id for z in self._store.zones if mine(z)} - {z.id for z in zones}
            for zone_id in sorted(gone):
                refs = self._references(zone_id)
                if refs:
                    raise ZoneConflict(f"zone {zone_id!r} is referenced by {', '.join(refs)}; change those first")
            new_zones = merged(self._store.zones, list(zones))
            new_lines = None if lines is None else merged(self._store.lines, list(lines))
            self._commit(new_zones, cameras, new_lines)

    def replace_camera_calibration(self, camera_id: str, calibration: CalibrationConfig | None) -> None:
        """Set (or remove, ``None``) one camera's image → floor point pairs (the editor's
        calibration), validated with the whole config and written into that camera's entry."""
        with self._lock:
            data = self._store.model_dump(mode="python")
            for cam in data["cameras"]:
                if cam["id"] == camera_id:
                    cam["calibration"] = None if calibration is None else calibration.model_dump(mode="python")
            self._swap(data, lambda new: self._persist_calibration(new, camera_id), [camera_id])

    def _persist_calibration(self, new: StoreConfig, camera_id: str) -> StoreConfig:
        assert self.path is not None
        text = self.path.read_text(encoding="utf-8")
        try:
            updated = replace_camera_calibration(text, camera_id, new.camera(camera_id).calibration)
        except ValueError as exc:
            raise ZoneInvalid([f"cannot edit {self.path.name}: {exc}"]) from None
        try:
            reparsed = parse_config(updated, filename=str(self.path), base_dir=self.path.resolve().parent)
        except ConfigError as exc:  # should not happen after model validation; never write it
            raise ZoneInvalid([str(i) for i in exc.issues]) from None
        if reparsed.camera(camera_id).calibration != new.camera(camera_id).calibration:
            raise ZoneInvalid(["internal error: the written calibration would not read back identically"])
        self._write(updated)
        return reparsed

    def _references(self, zone_id: str) -> list[str]:
        s = self._store
        refs = [
            f"behaviour.queues[{i}]"
            for i, q in enumerate(s.behaviour.queues)
            if zone_id in (q.queue_zone, q.checkout_zone)
        ]
        if zone_id in s.interaction.attention.camera_facing_zones:
            refs.append("interaction.attention.camera_facing_zones")
        if zone_id in s.interaction.inventory.expected_picks_per_hour:
            refs.append("interaction.inventory.expected_picks_per_hour")
        return refs

    def _commit(self, zones: list[ZoneConfig], cameras: set[str] | None, lines: list[LineConfig] | None = None) -> None:
        """Validate the whole config with ``zones`` (and ``lines``, when given), persist it, swap it
        in, tell the listeners. ``cameras``: the cameras whose geometry changed (None: every
        camera, for floor zones)."""
        data = self._store.model_dump(mode="python")
        data["zones"] = [z.model_dump(mode="python") for z in zones]
        if lines is not None:
            data["lines"] = [ln.model_dump(mode="python") for ln in lines]
        self._swap(
            data, lambda new: self._persist(new, lines=lines is not None), None if cameras is None else sorted(cameras)
        )

    def _swap(
        self, data: dict[str, Any], persist: Callable[[StoreConfig], StoreConfig], changed: list[str] | None
    ) -> None:
        """The one way a change takes effect: validate ``data`` as the whole config, write it with
        ``persist`` (file-backed stores only), swap it in, tell the listeners which cameras changed
        (``changed`` None: every camera of the new config)."""
        try:
            new = StoreConfig.model_validate(data)
        except ValidationError as exc:
            raise ZoneInvalid(_validation_messages(exc)) from None
        new.base_dir = self._store.base_dir
        if self.path is not None:
            new = persist(new)
        self._store = new
        for listener in self._listeners:
            listener(new, changed if changed is not None else [c.id for c in new.cameras])

    def _persist(self, new: StoreConfig, *, lines: bool = False) -> StoreConfig:
        assert self.path is not None
        text = self.path.read_text(encoding="utf-8")
        updated = replace_zones_block(text, new.zones)
        if lines:
            updated = replace_block(updated, "lines", line_yaml(new.lines))
        try:
            reparsed = parse_config(updated, filename=str(self.path), base_dir=self.path.resolve().parent)
        except ConfigError as exc:  # should not happen after model validation; never write it
            raise ZoneInvalid([str(i) for i in exc.issues]) from None
        if [z.model_dump() for z in reparsed.zones] != [z.model_dump() for z in new.zones] or [
            ln.model_dump() for ln in reparsed.lines
        ] != [ln.model_dump() for ln in new.lines]:
            raise ZoneInvalid(["internal error: the written zones or lines would not read back identically"])
        self._write(updated)
        return reparsed

    def _write(self, updated: str) -> None:
        """Replace the store file atomically (temporary file, fsync, rename)."""
        assert self.path is not None
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(updated)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
