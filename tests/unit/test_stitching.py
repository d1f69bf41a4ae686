"""Visit stitching on synthetic track fragments."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from factories import make_tracks, person_box
from storelens.core.types import Tracks
from storelens.tracking import StitchParams, VisitStitcher, VisitSummary

FPS = 10.0


def tracks(rows: Sequence[tuple[int, list[float]]], matched: Sequence[bool] | None = None) -> Tracks:
    det = [i if (matched is None or matched[i]) else -1 for i in range(len(rows))]
    return make_tracks([b for _, b in rows], [t for t, _ in rows], score=0.9, detection_index=det)


def person(cx: float, bottom: float = 300.0, h: float = 150.0) -> list[float]:
    return person_box(cx, bottom, h)


def frame(people: Sequence[tuple[list[float], tuple[int, int, int]]]) -> np.ndarray:
    img = np.full((432, 768, 3), 110, np.uint8)
    for (x1, y1, x2, y2), colour in people:
        img[int(y1) : int(y2), int(x1) : int(x2)] = colour
    return img


def run_fragments(
    stitcher: VisitStitcher,
    second_start_t: float,
    second_x: float,
    colours: tuple[tuple[int, int, int], tuple[int, int, int]] | None = None,
    h2: float = 150.0,
) -> tuple[set[int], set[int]]:
    """Track 1 walks right for 3 s then vanishes; track 2 appears at ``second_start_t``."""
    v1: set[int] = set()
    v2: set[int] = set()
    t = 0.0
    while t <= second_start_t + 1.0 + 1e-9:
        rows: list[tuple[int, list[float]]] = []
        paint = []
        if t <= 3.0 + 1e-9:
            rows.append((1, person(100 + 60 * t)))
            if colours:
                paint.append((rows[-1][1], colours[0]))
        if t >= second_start_t - 1e-9:
            rows.append((2, person(second_x + 60 * (t - second_start_t), h=h2)))
            if colours:
                paint.append((rows[-1][1], colours[1]))
        out = stitcher.update(tracks(rows), t, frame(paint) if colours else None)
        assert out.visit_id is not None
        for tid, vid in zip(out.track_id.tolist(), out.visit_id.tolist(), strict=True):
            (v1 if tid == 1 else v2).add(vid)
        t = round(t + 1 / FPS, 6)
    return v1, v2


def test_a_track_that_continues_another_joins_its_visit() -> None:
    s = VisitStitcher()
    v1, v2 = run_fragments(s, second_start_t=4.0, second_x=100 + 60 * 4.0)
    assert len(v1) == 1 and v1 == v2
    assert s.pop_finished(5.0) == []  # still open
    done = s.pop_finished(5.0 + s.params.max_gap_s + 0.1)
    assert len(done) == 1
    visit = done[0]
    assert isinstance(visit, VisitSummary)
    assert visit.visit_id == next(iter(v1))
    assert visit.fragments == 2 and visit.track_ids == (1, 2)
    assert 0.0 < visit.confidence < 1.0
    assert visit.started_ts == 0.0 and visit.ended_ts == pytest.approx(5.0)
    assert s.open_visits == 0


@pytest.mark.parametrize(
    ("start", "x", "h2", "why"),
    [
        (4.0, 700.0, 150.0, "far"),
        (3.0 + 4.5, 100 + 60 * 7.5, 150.0, "late"),
        (4.0, 340.0, 260.0, "different size"),
    ],
)
def test_no_join_when_far_late_or_different_size(start: float, x: float, h2: float, why: str) -> None:
    s = VisitStitcher()
    v1, v2 = run_fragments(s, second_start_t=start, second_x=x, h2=h2)
    assert v1 and v2 and v1.isdisjoint(v2), why


def test_no_join_when_appearance_differs_and_join_when_alike() -> None:
    red, blue = (30, 30, 200), (200, 60, 30)
    alike = VisitStitcher()
    v1, v2 = run_fragments(alike, 4.0, 340.0, colours=(red, red))
    assert v1 == v2
    conf_alike = alike.flush()[0].confidence
    differ = VisitStitcher()
    v1, v2 = run_fragments(differ, 4.0, 340.0, colours=(red, blue))
    assert v1.isdisjoint(v2)
    motion_only = VisitStitcher()
    run_fragments(motion_only, 4.0, 340.0)
    conf_motion = motion_only.flush()[0].confidence
    assert conf_alike > conf_motion > 0  # a colour match is stronger evidence than motion alone


def test_single_fragment_visit_has_full_confidence_and_flush_ends_everything() -> None:
    s = VisitStitcher()
    for k in range(20):
        s.update(tracks([(7, person(100 + 5 * k)), (8, person(500))]), k / FPS)
    done = s.flush()
    assert [v.fragments for v in done] == [1, 1]
    assert all(v.confidence == 1.0 for v in done)
    assert {v.track_ids for v in done} == {(7,), (8,)}
    assert s.open_visits == 0 and s.flush() == []


def test_visit_ids_are_random_47_bit() -> None:
    ids = set()
    for _ in range(5):
        out = VisitStitcher().update(tracks([(1, person(100))]), 0.0)
        assert out.visit_id is not None
        ids.add(int(out.visit_id[0]))
    assert len(ids) == 5 and all(0 < i < 2**47 for i in ids)


def test_coasting_ghost_of_a_continued_track_is_dropped() -> None:
    """The tracker gave the shopper a new id while the old track still coasts: one visit, one row."""
    s = VisitStitcher()
    for k in range(30):
        s.update(tracks([(1, person(100 + 6 * k))]), k / FPS)
    t = 3.0
    out = s.update(tracks([(1, person(100 + 6 * 30)), (2, person(100 + 6 * 30))], matched=[False, True]), t)
    assert out.track_id.tolist() == [2]
    assert out.visit_id is not None and len(set(out.visit_id.tolist())) == 1


def test_bad_params_and_timestamps_are_errors() -> None:
    with pytest.raises(ValueError, match="max_gap"):
        VisitStitcher.from_params({"max_gap": 3})
    with pytest.raises(ValueError, match="finite"):
        VisitStitcher().update(tracks([]), float("inf"))
    assert StitchParams().max_gap_s > 0


def _edge_run(
    stitcher: VisitStitcher, colours: tuple[tuple[int, int, int], tuple[int, int, int]] | None
) -> tuple[set[int], set[int]]:
    """Track 1 walks right out of a 768 px frame (last seen touching the right edge); 1 s later
    track 2 enters at that edge walking left: a typical "one leaves, another enters" pair."""
    v1: set[int] = set()
    v2: set[int] = set()
    t = 0.0
    while t <= 5.0 + 1e-9:
        rows: list[tuple[int, list[float]]] = []
        if t <= 2.0 + 1e-9:
            rows.append((1, person(min(600 + 80 * t, 740))))
        if t >= 3.0 - 1e-9:
            rows.append((2, person(740 - 80 * (t - 3.0))))
        paint = [(b, colours[tid - 1]) for tid, b in rows] if colours else []
        out = stitcher.update(tracks(rows), t, frame(paint) if colours else None)
        assert out.visit_id is not None
        for tid, vid in zip(out.track_id.tolist(), out.visit_id.tolist(), strict=True):
            (v1 if tid == 1 else v2).add(vid)
        t = round(t + 1 / FPS, 6)
    return v1, v2


def test_an_edge_exit_and_an_edge_entry_are_not_joined_on_motion_alone() -> None:
    v1, v2 = _edge_run(VisitStitcher(frame_size=(768, 432)), colours=None)
    assert v1.isdisjoint(v2)


def test_an_edge_exit_and_an_edge_entry_of_different_colours_are_two_visits() -> None:
    v1, v2 = _edge_run(VisitStitcher(), colours=((200, 40, 40), (40, 40, 200)))
    assert v1.isdisjoint(v2)


def test_the_same_person_leaving_and_returning_at_the_edge_is_joined_by_a_strong_colour_match() -> None:
    v1, v2 = _edge_run(VisitStitcher(), colours=((200, 40, 40), (200, 40, 40)))
    assert len(v1) == 1 and v1 == v2


def test_a_long_gap_needs_appearance_motion_alone_is_not_evidence() -> None:
    # 2.5 s unseen, reappearing exactly where the walk would have taken the shopper.
    s = VisitStitcher()
    v1, v2 = run_fragments(s, second_start_t=5.5, second_x=100 + 60 * 5.5)
    assert v1.isdisjoint(v2)
    s = VisitStitcher()
    v1, v2 = run_fragments(s, second_start_t=5.5, second_x=100 + 60 * 5.5, colours=((30, 160, 30), (30, 160, 30)))
    assert len(v1) == 1 and v1 == v2


def test_an_ambiguous_join_is_not_made() -> None:
    """Two shoppers stop being seen side by side; one new track starts between them: either could
    be its continuation, so the stitcher abstains instead of guessing."""
    s = VisitStitcher()
    ids: dict[int, set[int]] = {1: set(), 2: set(), 3: set()}
    t = 0.0
    while t <= 3.0 + 1e-9:
        rows: list[tuple[int, list[float]]] = []
        if t <= 1.0 + 1e-9:
            rows += [(1, person(300)), (2, person(360))]
        if t >= 1.5 - 1e-9:
            rows.append((3, person(330)))
        out = s.update(tracks(rows), t)
        assert out.visit_id is not None
        for tid, vid in zip(out.track_id.tolist(), out.visit_id.tolist(), strict=True):
            ids[tid].add(vid)
        t = round(t + 1 / FPS, 6)
    assert ids[3].isdisjoint(ids[1] | ids[2])
