"""Find vendored ONNX models and verify them against the sha256 manifest before loading.

Weights are never downloaded (stores are often air-gapped): they ship in ``models/`` with
``SHA256SUMS``. A file whose hash does not match is refused, because a truncated or swapped
model fails in ways that look like bad analytics rather than an error.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

MODELS_ENV = "STORELENS_MODELS_DIR"


class ModelError(RuntimeError):
    """A model file is missing, unreadable or does not match its manifest."""


def models_dir() -> Path:
    """``$STORELENS_MODELS_DIR`` if set, else the repository's ``models/`` next to ``src/``."""
    env = os.environ.get(MODELS_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "models" / "SHA256SUMS").is_file():
            return parent / "models"
    raise ModelError(f"cannot find the models/ folder; set {MODELS_ENV} to the folder holding SHA256SUMS")


def _manifest(folder: Path) -> dict[str, str]:
    path = folder / "SHA256SUMS"
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            out[name.strip().lstrip("*")] = digest.lower()
    return out


@lru_cache(maxsize=32)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    st = path.stat()
    return _sha256(path, st.st_size, st.st_mtime_ns)


def resolve_model(name_or_path: str, base_dir: Path | None = None) -> Path:
    """Return the path of a vendored model (by name, with or without ``.onnx``), verified against
    the manifest, or of a user-supplied ONNX file (by path; it has no manifest entry to check)."""
    from storelens.config.paths import is_model_path

    candidate = Path(name_or_path).expanduser()
    if is_model_path(name_or_path):
        if not candidate.is_absolute() and base_dir is not None:
            candidate = base_dir / candidate
        if not candidate.is_file():
            raise ModelError(f"model file not found: {candidate}")
        return candidate
    folder = models_dir()
    name = name_or_path if name_or_path.endswith(".onnx") else f"{name_or_path}.onnx"
    manifest = _manifest(folder)
    if name not in manifest:
        raise ModelError(f"unknown model {name_or_path!r}; vendored models: {sorted(manifest)}")
    path = folder / name
    if not path.is_file():
        raise ModelError(f"vendored model missing: {path}")
    digest = file_sha256(path)
    if digest != manifest[name]:
        raise ModelError(f"{path} sha256 {digest} does not match manifest {manifest[name]}: refusing to load")
    return path
