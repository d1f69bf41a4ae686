"""The interaction stage on real frames: the first two seconds of the CC-BY store-aisle clip through
the real pose model, checked against the hand annotation in tests/data/annotations."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest

from testdata import REPO


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_interaction", REPO / "bench" / "interaction.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def result():
    bench = _bench()
    ann = bench.load_annotation("store-aisle-detection")
    if not bench.clip_path(ann).is_file():
        pytest.skip(f"shared data clip not found: {bench.clip_path(ann)}")
    from storelens.config.detection import DetectorConfig
    from storelens.vision.detector import YoloDetector

    run = bench.run_clip(ann, YoloDetector(DetectorConfig()), max_frames=31)  # 0.0 .. 2.0 s
    who = bench.assign_tracks(ann, run.frames)
    return bench, ann, run, who


@pytest.mark.slow
def test_reach_found_and_hands_at_rest_ignored(result) -> None:
    bench, ann, run, who = result
    reaches = bench.predicted(run, who, "shelf.reach")
    # the man's right hand in the dishes (annotated 0.0-1.55 s) and nothing else: not his left hand
    # hanging at the table edge, not the woman's right hand hanging in front of the lower shelf
    assert [(r.person, r.zone, r.side) for r in reaches] == [("man-hat", "display-table", "right")]
    r = reaches[0]
    assert r.start <= 0.3 and 1.0 <= r.end <= 1.8
    naive = bench.naive_reaches(ann, run, who)
    assert len(naive) > 3 * len(reaches)  # what gating and smoothing remove on real keypoints


@pytest.mark.slow
def test_attention_on_real_frames(result) -> None:
    _bench_mod, _ann, run, who = result
    started = {(who.get(int(e.subject, 16)), e.zone_id) for e in run.events if e.type == "attention.started"}
    assert ("man-hat", "display-table") in started
    assert ("teal-woman", "shelf-right") in started
    assert ("teal-woman", "display-table") not in started
    assert not any(z == "shelf-left" for _, z in started)  # behind the display table from the man's view


@pytest.mark.slow
def test_events_are_well_formed(result) -> None:
    _bench_mod, _ann, run, _who = result
    for e in run.events:
        assert e.store_id == "bench" and e.camera_id == "cam"
        assert e.zone_id in {"display-table", "shelf-right", "shelf-left"}
        e.to_json_dict()  # serialisable: no arrays or images in payloads
