"""Config loading: every error names file, line and field, with a message a person can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from storelens.config import ConfigError, load_config, parse_config
from testdata import REPO

GOOD = """\
store_id: shop1
cameras:
  - id: cam1
    source: clip.mp4
zones:
  - id: z1
    camera: cam1
    kind: shelf
    points: [[0, 0], [10, 0], [10, 10]]
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, filename="store.yaml")
    return [str(i) for i in exc.value.issues]


def test_good_config_parses_with_defaults() -> None:
    cfg = parse_config(GOOD)
    assert cfg.cameras[0].fps == 10.0
    assert cfg.detector.input_size == 960
    assert [z.id for z in cfg.zones_for("cam1")] == ["z1"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace("source: clip.mp4", "source: clip.mp4\n    fps: 0"),
            "store.yaml:5:10: cameras[0].fps: Input should be greater than 0",
        ),
        (
            GOOD.replace("source: clip.mp4", "source: clip.mp4\n    colour: red"),
            "store.yaml:5:5: cameras[0].colour: Extra inputs are not permitted",
        ),
        (
            GOOD.replace("kind: shelf", "kind: shelves"),
            "store.yaml:8:11: zones[0].kind: Input should be 'entrance', 'aisle', 'shelf', 'display', 'checkout', "
            "'queue', 'staff_only' or 'other'",
        ),
        (
            GOOD.replace("[[0, 0], [10, 0], [10, 10]]", "[[0, 0], [5, 5], [10, 10]]"),
            "store.yaml:9:13: zones[0].points: polygon has zero area (points are collinear or repeated)",
        ),
        (
            GOOD.replace("camera: cam1", "camera: cam9"),
            "store.yaml:7:13: zones[0].camera: unknown camera 'cam9' (known: ['cam1'])",
        ),
        (GOOD.replace("    source: clip.mp4\n", ""), "store.yaml:3:5: cameras[0].source: required field is missing"),
        ("store_id: [unclosed\n", "store.yaml:2:1: YAML syntax: expected ',' or ']', but got '<stream end>'"),
        ("- just\n- a list\n", "store.yaml:1:1: the file must be a YAML mapping (key: value)"),
        (
            GOOD.replace("    camera: cam1\n", ""),
            "store.yaml:6:5: zones[0]: an image-space zone needs 'camera' (or set space: floor)",
        ),
        (
            GOOD + "detector:\n  input_size: 650\n",
            "store.yaml:11:15: detector.input_size: input_size must be a multiple of 32, got 650",
        ),
    ],
)
def test_errors_name_file_line_and_field(text: str, expected: str) -> None:
    assert expected in errors_of(text)


def test_duplicate_ids_point_at_the_second_one() -> None:
    text = GOOD.replace("zones:", "  - id: cam1\n    source: b.mp4\nzones:")
    assert "store.yaml:5:9: cameras[1].id: duplicate id 'cam1'" in errors_of(text)


def test_every_error_is_reported_not_just_the_first() -> None:
    text = GOOD.replace("source: clip.mp4", "source: clip.mp4\n    fps: -1\n    max_width: 1")
    errs = errors_of(text)
    assert any("cameras[0].fps" in e for e in errs)
    assert any("cameras[0].max_width" in e for e in errs)


def test_load_config_resolves_relative_paths(tmp_path: Path) -> None:
    p = tmp_path / "store.yaml"
    p.write_text(GOOD)
    cfg = load_config(p)
    assert cfg.resolve_path("clip.mp4") == tmp_path / "clip.mp4"


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        load_config(tmp_path / "nope.yaml")


def test_demo_config_is_valid() -> None:
    root = REPO
    cfg = load_config(root / "examples" / "demo" / "store.yaml")
    assert cfg.store_id == "demo"
    assert cfg.resolve_path(cfg.cameras[0].source).is_file()
