"""The one way tests build :class:`Tracks` and :class:`Detections` by hand.

Tests of analytics stages feed them synthetic people: boxes, ids, sometimes keypoints, visits or
floor points. Each test used to spell out every column (scores, class ids, detection rows), so a
new column or a changed default meant editing a dozen builders. Here the columns a test does not
care about get the values of a confident, matched person of class 0, and the test names only what
it is about. The core types still validate and normalise what they are given.

Tests of the core types' own validation (tests/unit/test_types.py) build them raw on purpose.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from storelens.core.types import Detections, Tracks

Point = tuple[float, float]


def boxes_on_feet(feet: npt.ArrayLike, width: float, height: float) -> npt.NDArray[np.float32]:
    """Boxes ``width`` x ``height`` standing on each feet point (bottom centre), as a person's box
    stands on the floor point the zone and heat-map stages read. Computed in float64 and rounded
    once, so float32 and float64 feet give the boxes their own arithmetic would."""
    xy = np.asarray(feet, np.float64).reshape(-1, 2)
    half = width / 2
    return np.stack([xy[:, 0] - half, xy[:, 1] - height, xy[:, 0] + half, xy[:, 1]], axis=1).astype(np.float32)


def person_box(cx: float, bottom: float, h: float) -> list[float]:
    """A standing person's box: ``h`` tall, 0.4 ``h`` wide, centred on ``cx``."""
    w = 0.4 * h
    return [cx - w / 2, bottom - h, cx + w / 2, bottom]


def _person_columns(
    xyxy: npt.ArrayLike, score: float | npt.ArrayLike
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int32]]:
    """Boxes, scores (one for all rows, or one per row) and class 0 for every row."""
    boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
    n = len(boxes)
    return boxes, np.broadcast_to(np.asarray(score, np.float32), (n,)).copy(), np.zeros(n, np.int32)


def make_tracks(
    xyxy: npt.ArrayLike,
    track_id: npt.ArrayLike,
    *,
    score: float | npt.ArrayLike = 1.0,
    detection_index: npt.ArrayLike | None = None,
    visit_id: npt.ArrayLike | None = None,
    keypoints: npt.ArrayLike | None = None,
    floor_xy: npt.ArrayLike | None = None,
    data: dict[str, np.ndarray] | None = None,
) -> Tracks:
    """Tracks of one frame: every row matched to the detection of its own index unless
    ``detection_index`` says otherwise (-1: coasting)."""
    boxes, scores, classes = _person_columns(xyxy, score)
    return Tracks(
        xyxy=boxes,
        score=scores,
        class_id=classes,
        track_id=np.asarray(track_id, np.int64),
        detection_index=np.arange(len(boxes), dtype=np.int32)
        if detection_index is None
        else np.asarray(detection_index),
        keypoints=None if keypoints is None else np.asarray(keypoints, np.float32),
        visit_id=None if visit_id is None else np.asarray(visit_id, np.int64),
        floor_xy=None if floor_xy is None else np.asarray(floor_xy, np.float32),
        data={} if data is None else data,
    )


def standing_tracks(rows: Sequence[tuple[int, int | None, Point]], width: float, height: float) -> Tracks:
    """rows: (track id, visit id or None, feet point), each a ``width`` x ``height`` box on its feet.

    A row without a visit is its own visit (its track id), as before stitching; when no row has a
    visit the tracks have no visit column at all."""
    if not rows:
        return Tracks.empty()
    visits = [r[1] for r in rows]
    return make_tracks(
        boxes_on_feet([r[2] for r in rows], width, height),
        [r[0] for r in rows],
        visit_id=None
        if all(v is None for v in visits)
        else [r[0] if v is None else v for v, r in zip(visits, rows, strict=True)],
    )


def make_detections(
    xyxy: npt.ArrayLike,
    *,
    score: float | npt.ArrayLike = 0.9,
    keypoints: npt.ArrayLike | None = None,
    data: dict[str, np.ndarray] | None = None,
) -> Detections:
    """Detections of one frame, class 0 (person)."""
    boxes, scores, classes = _person_columns(xyxy, score)
    return Detections(
        xyxy=boxes,
        score=scores,
        class_id=classes,
        keypoints=None if keypoints is None else np.asarray(keypoints, np.float32),
        data={} if data is None else data,
    )
