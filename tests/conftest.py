"""Suite-wide test setup: hang-guard timeouts that scale with the machine (tests/budget.py).

Data paths are in tests/testdata.py (``from testdata import DEMO_STORE, shared_data``), the one
way every test finds the repository's data and the development data beside it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from budget import slowness


def pytest_configure(config: pytest.Config) -> None:
    """The detector-backend probe (``detector.backend: auto``) caches its answer per machine; the
    suite keeps that cache in a folder of its own run, so a test run neither reads an answer an
    earlier run measured under other load nor writes into the user's ``~/.local/state``."""
    if "STORELENS_BACKEND_CACHE" not in os.environ:
        folder = Path(tempfile.mkdtemp(prefix="storelens-tests-"))
        os.environ["STORELENS_BACKEND_CACHE"] = str(folder / "detector-backend.json")


def pytest_report_header(config: pytest.Config) -> str:
    return f"storelens: machine slowness {slowness():.2f}x the quiet dev machine (timeouts scaled by it)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Multiply each test's pytest-timeout (its marker, else the ini default) by the slowness, so
    the hang guard never trips on a machine that is merely slow or busy."""
    factor = slowness()
    if factor <= 1.0:
        return
    try:
        default = float(config.getini("timeout") or 0)
    except (ValueError, KeyError):
        default = 0.0
    for item in items:
        marker = item.get_closest_marker("timeout")
        base = float(marker.args[0]) if marker is not None and marker.args else default
        if base > 0:
            item.add_marker(pytest.mark.timeout(base * factor), append=False)
