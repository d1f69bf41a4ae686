"""Secrets kept out of the YAML: ``${ENV:NAME}`` and ``${FILE:/path}`` inside a secret-bearing value.

A store file is read by many people and copied into tickets; the camera and broker passwords in
it should not be. So in the fields that carry credentials (:data:`STORE_SECRET_FIELDS`: camera
sources, database and NATS URLs, webhook secrets and URLs) a reference is replaced before
validation by an environment variable (``rtsp://admin:${ENV:CAM3_PW}@cam-3/stream1``) or by a
file's content without its trailing newline (``secret: ${FILE:/run/secrets/hook}``; a relative
path is relative to the YAML file). The YAML text itself keeps the reference (zone edits rewrite
only the zones block), and every substituted value is registered with the log filter, so it is
masked in log lines as well.

Only these fields: a reference anywhere else (a zone name, say, which the API shows) stays a
literal string, so nothing that can be edited or read back through the API can pull a file or an
environment variable into view. A variable that is not set, or a file that cannot be read, is a
config error naming file, line and field.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

Loc = list[int | str]

STORE_SECRET_FIELDS: tuple[tuple[str, ...], ...] = (
    ("cameras", "*", "source"),
    ("output", "database_url"),
    ("nats", "servers", "*"),
    ("webhooks", "subscriptions", "*", "secret"),
    ("webhooks", "subscriptions", "*", "url"),
)
CENTRAL_SECRET_FIELDS: tuple[tuple[str, ...], ...] = (("database_url",), ("nats", "servers", "*"))

_REF = re.compile(r"\$\{(ENV|FILE):([^}]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _walk(node: Any, pattern: tuple[str, ...], loc: Loc) -> Iterator[tuple[Loc, Any, int | str]]:
    if not pattern:
        return
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        if isinstance(node, list):
            for i in range(len(node)):
                if rest:
                    yield from _walk(node[i], rest, [*loc, i])
                else:
                    yield [*loc, i], node, i
        return
    if not isinstance(node, dict) or head not in node:
        return
    if rest:
        yield from _walk(node[head], rest, [*loc, head])
    else:
        yield [*loc, head], node, head


def _value(kind: str, ref: str, base_dir: Path | None, environ: Mapping[str, str]) -> str:
    """The referenced secret; ValueError says what is wrong (never the secret)."""
    if kind == "ENV":
        if not _ENV_NAME.match(ref):
            raise ValueError(f"${{ENV:{ref}}}: not a valid environment variable name")
        if ref not in environ:
            raise ValueError(f"${{ENV:{ref}}}: environment variable {ref} is not set")
        return environ[ref]
    path = Path(ref.strip()).expanduser()
    if not ref.strip():
        raise ValueError("${FILE:}: no file named")
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"${{FILE:{ref}}}: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"${{FILE:{ref}}}: {path} is not UTF-8 text") from None


def substitute_secrets(
    data: Any,
    fields: tuple[tuple[str, ...], ...],
    base_dir: Path | None,
    environ: Mapping[str, str] | None = None,
) -> list[tuple[Loc, str]]:
    """Replace the references in ``fields`` of ``data`` in place; returns (location, message) for
    each one that cannot be resolved (the value is then left as written)."""
    env = os.environ if environ is None else environ
    problems: list[tuple[Loc, str]] = []
    secrets: list[str] = []
    for spec in fields:
        for loc, container, key in _walk(data, spec, []):
            value = container[key]
            if not isinstance(value, str) or "${" not in value:
                continue
            errors: list[str] = []
            parts: list[str] = []
            last = 0
            for m in _REF.finditer(value):
                parts.append(value[last : m.start()])
                last = m.end()
                try:
                    secret = _value(m.group(1), m.group(2), base_dir, env)
                except ValueError as exc:
                    errors.append(str(exc))
                    continue
                secrets.append(secret)
                parts.append(secret)
            parts.append(value[last:])
            if errors:
                problems.extend((loc, e) for e in errors)
            else:
                container[key] = "".join(parts)
    if secrets:
        from storelens.core.redact import SecretFilter

        for s in secrets:
            SecretFilter.register(s)
    return problems
