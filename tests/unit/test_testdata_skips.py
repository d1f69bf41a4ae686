"""A clone has no development data beside it (issue 17): the tests that need it skip with the
reason, never error. Every test finds that data through :mod:`testdata`; pointed at an empty
folder, as a user's clone sees it, its lookup skips with where the data lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from testdata import shared_data, skip_unless_shared


def test_a_missing_development_file_skips_with_where_it_lives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORELENS_SHARED_DATA", str(tmp_path))
    with pytest.raises(pytest.skip.Exception, match=r"not available \(it lives in \.\./shared"):
        shared_data("video", "clip.mp4")


def test_a_module_without_its_development_data_is_marked_skip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORELENS_SHARED_DATA", str(tmp_path))
    mark = skip_unless_shared("mot")
    assert mark.name == "skipif" and mark.args[0] is True
    assert "not available" in mark.kwargs["reason"]
    (tmp_path / "mot").mkdir()
    assert skip_unless_shared("mot").args[0] is False
