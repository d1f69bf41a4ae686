"""Load a store YAML file and turn every problem into a message naming file, line and field.

PyYAML's node tree keeps the position of every key and value; pydantic reports the path of every
invalid field. Walking one with the other gives "store.yaml:14:7 cameras[0].fps: Input should be
greater than 0", which is what a person editing the file needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from storelens.config.paths import resolve_paths
from storelens.config.references import Issue, format_loc, reference_issues
from storelens.config.secrets import STORE_SECRET_FIELDS, substitute_secrets
from storelens.config.store import StoreConfig

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    file: str
    line: int  # 1-based
    column: int  # 1-based
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ConfigError(ValueError):
    """The configuration is invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


_PATH_PREFIX = re.compile(r"^([A-Za-z_]\w*(?:\[\d+\])*(?:\.[A-Za-z_]\w*(?:\[\d+\])*)*): (.+)$", re.S)


def _parse_path(path: str) -> list[int | str]:
    out: list[int | str] = []
    for name, index in re.findall(r"([A-Za-z_]\w*)|\[(\d+)\]", path):
        out.append(int(index) if index else name)
    return out


def _locate(root: yaml.Node | None, loc: Sequence[int | str]) -> tuple[yaml.Node | None, bool]:
    """Follow a pydantic error location through the YAML node tree.

    Returns the deepest node reached and whether the full path was found (a missing field points
    at its parent mapping)."""
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key_node, value_node in node.value:
                if key_node.value == part:
                    node = value_node
                    break
            else:
                return node, False
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            return node, False
    return node, True


def _key_node(root: yaml.Node | None, loc: Sequence[int | str]) -> yaml.Node | None:
    """The key node for a mapping entry (an unknown key is best reported at the key itself)."""
    if not loc or not isinstance(loc[-1], str):
        return None
    parent, found = _locate(root, loc[:-1])
    if not found or not isinstance(parent, yaml.MappingNode):
        return None
    for key_node, _ in parent.value:
        if key_node.value == loc[-1]:
            return key_node
    return None


def _compose(text: str, filename: str) -> tuple[yaml.Node | None, Any]:
    """The YAML node tree (for line numbers) and the plain data, or a ConfigError."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise ConfigError([ConfigIssue(filename, line, col, "", f"YAML syntax: {exc.problem}")]) from None
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue(filename, 1, 1, "", "the file must be a YAML mapping (key: value)")])
    return root, data


def _issue_at(root: yaml.Node | None, filename: str, loc: Sequence[int | str], message: str) -> ConfigIssue:
    node, _ = _locate(root, loc)
    mark = node.start_mark if node is not None else None
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return ConfigIssue(filename, line, col, format_loc(loc), message)


def _schema_issues(root: yaml.Node | None, filename: str, exc: ValidationError) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if isinstance(p, int | str)]
        msg = err["msg"].removeprefix("Value error, ")
        prefixed = _PATH_PREFIX.match(msg)
        if prefixed:  # a cross-field rule names the field it is about: "zones[0].camera: ..."
            loc = [*loc, *_parse_path(prefixed.group(1))]
            msg = prefixed.group(2)
        if err["type"] == "missing":
            msg = "required field is missing"
        issue = _issue_at(root, filename, loc, msg)
        if err["type"] == "extra_forbidden":
            key = _key_node(root, loc)
            if key is not None:
                issue = ConfigIssue(filename, key.start_mark.line + 1, key.start_mark.column + 1, issue.field, msg)
        issues.append(issue)
    return issues


def _merge(*groups: Sequence[ConfigIssue]) -> list[ConfigIssue]:
    """All issues once each (a reference rule may be reported by the model and the raw check),
    in file order."""
    seen: set[tuple[str, str]] = set()
    out: list[ConfigIssue] = []
    for group in groups:
        for issue in group:
            if (issue.field, issue.message) not in seen:
                seen.add((issue.field, issue.message))
                out.append(issue)
    return sorted(out, key=lambda i: (i.line, i.column))


def parse_yaml_model(
    text: str,
    model: type[M],
    filename: str = "<string>",
    *,
    secret_fields: tuple[tuple[str, ...], ...] = (),
    base_dir: Path | None = None,
) -> M:
    """Parse YAML text into a validated ``model`` or raise :class:`ConfigError` with file:line
    issues; ``${ENV:..}``/``${FILE:..}`` are replaced in ``secret_fields`` (config/secrets.py)."""
    root, data = _compose(text, filename)
    missing = substitute_secrets(data, secret_fields, base_dir)
    if missing:
        raise ConfigError([_issue_at(root, filename, loc, msg) for loc, msg in missing])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_schema_issues(root, filename, exc)) from None


def load_yaml_model(path: str | Path, model: type[M], *, secret_fields: tuple[tuple[str, ...], ...] = ()) -> M:
    """Read a YAML file and validate it as ``model`` (see :func:`parse_yaml_model`)."""
    p = Path(path)
    return parse_yaml_model(_read(p), model, filename=str(p), secret_fields=secret_fields, base_dir=p.resolve().parent)


def _read(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(p), 1, 1, "", f"cannot read file: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError([ConfigIssue(str(p), 1, 1, "", "cannot read file: it is not UTF-8 text")]) from None


ExtraChecks = Callable[[Any], list[Issue]]
"""Checks on the parsed YAML data beyond the schema's, as (loc, message) pairs the loader turns into
file:line issues (the preflight's files, sources and frame geometry)."""


def _store(
    text: str, filename: str, base_dir: Path | None, *, extra: ExtraChecks | None = None
) -> tuple[StoreConfig | None, list[ConfigIssue]]:
    """The config (None if invalid) and every issue: schema and cross-references together, and
    whatever ``extra`` finds in the same data."""
    root, data = _compose(text, filename)
    missing = substitute_secrets(data, STORE_SECRET_FIELDS, base_dir)
    if missing:  # nothing else is checked against a half-substituted config
        raise ConfigError([_issue_at(root, filename, loc, msg) for loc, msg in missing])
    if base_dir is not None:
        resolve_paths(data, base_dir)
    cfg: StoreConfig | None = None
    schema: list[ConfigIssue] = []
    try:
        cfg = StoreConfig.model_validate(data)
        cfg.base_dir = base_dir
    except ValidationError as exc:
        schema = _schema_issues(root, filename, exc)
    # the reference rules on the raw data too: they are reported even while the schema is broken
    refs = [_issue_at(root, filename, loc, msg) for loc, msg in reference_issues(data)] if cfg is None else []
    env = [_issue_at(root, filename, loc, msg) for loc, msg in extra(data)] if extra is not None else []
    return cfg, _merge(schema, refs, env)


def read_store(path: str | Path, *, extra: ExtraChecks | None = None) -> tuple[StoreConfig | None, list[ConfigIssue]]:
    """A store config file's config (None if invalid) and every issue, ``extra``'s included (see
    :mod:`storelens.pipeline.preflight`); unreadable files and unresolved secrets raise."""
    p = Path(path)
    return _store(_read(p), str(p), p.resolve().parent, extra=extra)


def parse_config(text: str, filename: str = "<string>", base_dir: Path | None = None) -> StoreConfig:
    """Parse YAML text into a validated :class:`StoreConfig` or raise :class:`ConfigError` listing
    every schema and cross-reference problem; relative paths resolve against ``base_dir``."""
    cfg, issues = _store(text, filename, base_dir)
    if cfg is None or issues:
        raise ConfigError(issues)
    return cfg


def load_config(path: str | Path) -> StoreConfig:
    """Read and validate a store config file; relative paths inside resolve against its folder."""
    p = Path(path)
    return parse_config(_read(p), filename=str(p), base_dir=p.resolve().parent)
