"""Expected start-up failures of the commands that run a store, as one line and an exit code.

A missing model, a camera file that is not a video, an unreachable database or an unwritable
output folder are things a person fixes in the config or on the machine: they get one line that
says what and where (``cannot run store.yaml: SessionError: cannot load ONNX model ...``) and exit
code 1, never a traceback. Anything else is a bug and keeps its traceback (with ``--verbose``
logging for the details).
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer

from storelens.config import ConfigError


def expected_errors() -> tuple[type[BaseException], ...]:
    from sqlalchemy.exc import SQLAlchemyError

    from storelens.output.video import VideoWriteError
    from storelens.security.audit import AuditKeyError
    from storelens.security.crypto import KeyConfigError
    from storelens.sources.base import SourceError
    from storelens.storage.database import StorageError
    from storelens.storage.migrate import MigrationError
    from storelens.vision.models import ModelError
    from storelens.vision.onnx_session import SessionError
    from storelens.vision.yolo import LayoutError

    return (
        AuditKeyError,
        SourceError,
        ModelError,
        SessionError,
        LayoutError,
        StorageError,
        MigrationError,
        SQLAlchemyError,
        VideoWriteError,
        KeyConfigError,
        OSError,
    )


def config_failed(exc: ConfigError, config: Path) -> NoReturn:
    """Every config problem, one per line, then exit 2 (the code ``validate`` uses)."""
    for issue in exc.issues:
        typer.echo(str(issue), err=True)
    typer.echo(f"{len(exc.issues)} problem(s) in {config}; `storelens validate {config}` checks it", err=True)
    raise typer.Exit(code=2)


def start_failed(what: str, exc: BaseException) -> NoReturn:
    first = (str(exc).strip().splitlines() or [""])[0]
    typer.echo(f"cannot {what}: {type(exc).__name__}: {first}", err=True)
    raise typer.Exit(code=1)
