"""The shared builders (tests/factories.py) give what the tests that use them assume: a box stands
on its feet point, a row without a visit is its own visit, every row is matched by default."""

from __future__ import annotations

import numpy as np

from factories import boxes_on_feet, make_detections, make_tracks, person_box, standing_tracks


def test_a_box_on_feet_has_its_bottom_centre_at_the_feet() -> None:
    feet = np.array([[50.0, 250.0], [0.1, 7.3]])
    t = make_tracks(boxes_on_feet(feet, width=10, height=60), [1, 2])
    np.testing.assert_allclose(t.bottom_center, feet, rtol=1e-6)
    np.testing.assert_allclose(t.xyxy[:, 3] - t.xyxy[:, 1], [60, 60], rtol=1e-6)
    assert t.detection_index.tolist() == [0, 1] and t.is_matched.all() and t.score.tolist() == [1.0, 1.0]


def test_standing_tracks_give_a_visitless_row_its_own_track_id() -> None:
    assert len(standing_tracks([], width=20, height=60)) == 0
    assert standing_tracks([(1, None, (5.0, 5.0))], width=20, height=60).visit_id is None
    t = standing_tracks([(1, None, (5.0, 5.0)), (2, 70, (9.0, 9.0))], width=20, height=60)
    assert t.visit_id is not None and t.visit_id.tolist() == [1, 70]
    assert t.subject_id.tolist() == [1, 70]


def test_coasting_rows_and_detection_scores() -> None:
    t = make_tracks([person_box(100, 300, 150)] * 2, [4, 5], score=[0.9, 0.8], detection_index=[0, -1])
    assert t.is_matched.tolist() == [True, False]
    np.testing.assert_allclose(t.xyxy[0], [70, 150, 130, 300])
    d = make_detections([person_box(100, 300, 150)])
    assert len(d) == 1 and d.class_id.tolist() == [0] and float(d.score[0]) == np.float32(0.9)
