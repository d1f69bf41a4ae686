"""Core types: validation at construction and boolean-mask indexing."""

from __future__ import annotations

import numpy as np
import pytest

from storelens.core.types import Detections, Frame, Tracks, ValidationError


def make_dets(n: int = 3, keypoints: bool = True) -> Detections:
    xyxy = np.array([[10 * i, 10, 10 * i + 5, 30] for i in range(n)], np.float32).reshape(-1, 4)
    kp = np.zeros((n, 17, 3), np.float32) if keypoints else None
    return Detections(
        xyxy=xyxy, score=np.linspace(0.5, 0.9, n), class_id=np.zeros(n), keypoints=kp, data={"tag": np.arange(n)}
    )


def test_detections_mask_and_index_keep_columns_aligned() -> None:
    d = make_dets(4)
    sub = d[d.score > 0.7]
    assert len(sub) == 2
    assert sub.data["tag"].tolist() == [2, 3]
    assert sub.keypoints is not None and sub.keypoints.shape == (2, 17, 3)
    assert d[np.array([3, 0])].xyxy[:, 0].tolist() == [30.0, 0.0]
    assert len(d[1]) == 1


def test_detections_dtypes_are_normalised() -> None:
    d = make_dets(2)
    assert d.xyxy.dtype == np.float32 and d.score.dtype == np.float32 and d.class_id.dtype == np.int32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"xyxy": np.zeros((2, 3))}, "xyxy must have shape (N, 4)"),
        ({"score": np.zeros(3)}, "score has 3 rows, expected 2"),
        ({"class_id": np.zeros(1)}, "class_id has 1 rows, expected 2"),
        ({"keypoints": np.zeros((2, 5, 3))}, "keypoints must have shape (N, 17, 3)"),
        ({"data": {"x": np.zeros(5)}}, "data['x'] has 5 rows, expected 2"),
    ],
)
def test_detections_reject_inconsistent_columns(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"xyxy": np.zeros((2, 4)), "score": np.zeros(2), "class_id": np.zeros(2)}
    base.update(kwargs)
    with pytest.raises(ValidationError) as exc:
        Detections(**base)  # type: ignore[arg-type]
    assert message in str(exc.value)


def test_empty_detections_and_tracks() -> None:
    assert len(Detections.empty()) == 0
    assert Detections.empty(with_keypoints=True).keypoints is not None
    t = Tracks.empty()
    assert len(t) == 0 and len(t[t.score > 0]) == 0


def test_valid_mask_drops_nan_and_zero_area() -> None:
    d = Detections(
        xyxy=np.array([[0, 0, 10, 10], [np.nan, 0, 1, 1], [5, 5, 5, 9], [3, 3, 1, 1]], np.float32),
        score=np.ones(4),
        class_id=np.zeros(4),
    )
    assert d.valid_mask().tolist() == [True, False, False, False]


def test_bottom_center_is_feet_point() -> None:
    d = make_dets(1, keypoints=False)
    assert d.bottom_center.tolist() == [[2.5, 30.0]]


def test_tracks_unique_ids_and_subject_id() -> None:
    kw = {"xyxy": np.zeros((2, 4)), "score": np.ones(2), "class_id": np.zeros(2), "detection_index": [0, -1]}
    with pytest.raises(ValidationError, match="unique"):
        Tracks(track_id=[1, 1], **kw)  # type: ignore[arg-type]
    t = Tracks(track_id=[1, 2], **kw)  # type: ignore[arg-type]
    assert t.subject_id.tolist() == [1, 2]
    assert t.is_matched.tolist() == [True, False]
    t2 = t.replace(visit_id=np.array([99, 98]))
    assert t2.subject_id.tolist() == [99, 98]
    assert t2[t2.is_matched].visit_id is not None


def test_frame_requires_bgr_uint8() -> None:
    img = np.zeros((4, 6, 3), np.uint8)
    f = Frame("cam", 0, 0.0, 1.0, img)
    assert (f.width, f.height) == (6, 4)
    with pytest.raises(ValidationError, match="HxWx3 uint8"):
        Frame("cam", 0, 0.0, 1.0, np.zeros((4, 6), np.uint8))
    with pytest.raises(ValidationError, match="HxWx3 uint8"):
        Frame("cam", 0, 0.0, 1.0, np.zeros((4, 6, 3), np.float32))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="finite"):
        Frame("cam", 0, float("nan"), 1.0, img)
