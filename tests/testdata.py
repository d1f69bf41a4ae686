"""The one way tests find their data: the repository's own files first, the development data second.

A user's clone has the repository and nothing beside it, so every test must pass there: data the
repository ships (the demo store and its clips under ``examples/demo``, annotations under
``tests/data``) is used directly, and the development data that cannot ship (``../shared/data``:
more clips, MOT ground truth, research-only faces) is looked up through :func:`shared_data` and
the test is *skipped with the reason* when it is absent, never errored.

``STORELENS_SHARED_DATA`` points at another copy of the development data (a CI cache, say).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO / "examples" / "demo"
DEMO_STORE = DEMO_DIR / "store.yaml"
TEST_DATA = REPO / "tests" / "data"

# The demo counter clip is the development clip "one-by-one-person-detection.mp4" re-encoded at
# the same size, rate and frame count (768x432, 10 fps, 1394 frames): tests that need that clip use
# this copy, which every clone has.
DEMO_COUNTER_CLIP = DEMO_DIR / "one-by-one.mp4"
DEMO_ENTRANCE_CLIP = DEMO_DIR / "entrance.mp4"


def shared_data_dir() -> Path:
    """Where the development data lives: $STORELENS_SHARED_DATA, else ``../shared/data``."""
    env = os.environ.get("STORELENS_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def shared_data_path(*parts: str) -> Path:
    """A path in the development data, whether or not it exists (for skip conditions)."""
    return shared_data_dir().joinpath(*parts)


def has_shared_data(*parts: str) -> bool:
    return shared_data_path(*parts).exists()


def shared_data(*parts: str) -> Path:
    """A file or folder of the development data; skips the calling test when it is absent."""
    path = shared_data_path(*parts)
    if not path.exists():
        pytest.skip(f"development data {path} not available (it lives in ../shared, which a clone does not have)")
    return path


def shared_video(name: str) -> Path:
    return shared_data("video", name)


def skip_unless_shared(*parts: str) -> pytest.MarkDecorator:
    """``pytestmark = skip_unless_shared("mot")``: a whole module that needs development data."""
    path = shared_data_path(*parts)
    return pytest.mark.skipif(
        not path.exists(), reason=f"development data {path} not available (it lives in ../shared)"
    )
