"""Core data types that flow between pipeline stages.

One columnar type per stage (after supervision's ``Detections``): every per-object attribute is a
numpy column of the same length, validated when the object is built, and the object is indexed with
boolean masks or integer index arrays. Keeping the columns in numpy (rather than lists of objects)
is what makes the per-frame analytics cheap enough for 50 shoppers per camera.

Images are **BGR uint8** (OpenCV's convention) everywhere in storelens; converters to RGB live at
the model edges only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

NUM_KEYPOINTS = 17
"""COCO body keypoints: nose, l/r eye, l/r ear, l/r shoulder, l/r elbow, l/r wrist, l/r hip, l/r knee,
l/r ankle (in that order), as produced by YOLO11-pose."""

KEYPOINT_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
KP = {name: i for i, name in enumerate(KEYPOINT_NAMES)}

Index = npt.NDArray[np.bool_] | npt.NDArray[np.integer[Any]] | slice | int


class ValidationError(ValueError):
    """A core object was built with inconsistent columns."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded video frame.

    ``pts`` is the media timestamp in seconds (monotonic within one source session: use it for
    motion and dwell); ``wall_time`` is the UNIX time the frame was captured (or, for files, the
    configured start time plus ``pts``): use it for stored events. ``index`` counts decoded frames
    of the source, so gaps show which frames were dropped by fps sampling.
    """

    camera_id: str
    index: int
    pts: float
    wall_time: float
    image: npt.NDArray[np.uint8]

    def __post_init__(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            shape = getattr(img, "shape", None)
            dtype = getattr(img, "dtype", None)
            raise ValidationError(f"Frame.image must be HxWx3 uint8 BGR, got shape={shape} dtype={dtype}")
        if self.index < 0:
            raise ValidationError(f"Frame.index must be >= 0, got {self.index}")
        if not np.isfinite(self.pts) or not np.isfinite(self.wall_time):
            raise ValidationError("Frame timestamps must be finite")

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


def _as(arr: Any, dtype: type, name: str, shape_tail: tuple[int, ...], n: int | None) -> np.ndarray:
    out: np.ndarray = np.asarray(arr, dtype=dtype)
    if out.ndim == 1 and shape_tail and out.size == 0:
        out = out.reshape((0, *shape_tail))
    if out.shape[1:] != shape_tail:
        raise ValidationError(f"{name} must have shape (N, {', '.join(map(str, shape_tail))}), got {out.shape}")
    if n is not None and out.shape[0] != n:
        raise ValidationError(f"{name} has {out.shape[0]} rows, expected {n}")
    return out


def _index_data(data: Mapping[str, np.ndarray], idx: Index) -> dict[str, np.ndarray]:
    return {k: np.asarray(v)[idx] for k, v in data.items()}


def _normalise_index(idx: Index) -> Index:
    if isinstance(idx, int):
        return np.array([idx])
    return idx


def _box_columns(obj: Detections | Tracks) -> int:
    """Check and coerce the columns Detections and Tracks share (boxes, scores, classes and the
    optional keypoints), in place on the frozen dataclass; returns the row count. One validator for
    both, so a rule added here holds for both types."""
    xyxy = _as(obj.xyxy, np.float32, "xyxy", (4,), None)
    n = int(xyxy.shape[0])
    object.__setattr__(obj, "xyxy", xyxy)
    object.__setattr__(obj, "score", _as(obj.score, np.float32, "score", (), n))
    object.__setattr__(obj, "class_id", _as(obj.class_id, np.int32, "class_id", (), n))
    if obj.keypoints is not None:
        object.__setattr__(obj, "keypoints", _as(obj.keypoints, np.float32, "keypoints", (NUM_KEYPOINTS, 3), n))
    return n


def _check_data(data: dict[str, np.ndarray], n: int) -> None:
    for key, col in data.items():
        if len(col) != n:
            raise ValidationError(f"data[{key!r}] has {len(col)} rows, expected {n}")


class _BoxRows:
    """What :class:`Detections` and :class:`Tracks` derive from their boxes alone: one definition of
    the row count, centre and feet point, so the two types cannot drift apart."""

    __slots__ = ()
    xyxy: npt.NDArray[np.float32]

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    @property
    def bottom_center(self) -> npt.NDArray[np.float32]:
        """Feet point: the middle of the box's bottom edge (where a standing person touches the floor)."""
        x = (self.xyxy[:, 0] + self.xyxy[:, 2]) / 2
        return np.stack([x, self.xyxy[:, 3]], axis=1).astype(np.float32)

    @property
    def center(self) -> npt.NDArray[np.float32]:
        return ((self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2).astype(np.float32)


_D = TypeVar("_D", bound="Detections")


@dataclass(frozen=True, slots=True, eq=False)
class Detections(_BoxRows):
    """Objects found in one frame, as columns.

    ``xyxy`` are frame pixels (float32, x1<=x2, y1<=y2), ``score`` in [0, 1], ``class_id`` the
    model's class index, ``keypoints`` (N, 17, 3) with (x, y, visibility) in frame pixels when the
    detector gives them. ``data`` holds extra per-object columns (e.g. an appearance descriptor) that
    follow the rows through masking.
    """

    xyxy: npt.NDArray[np.float32]
    score: npt.NDArray[np.float32]
    class_id: npt.NDArray[np.int32]
    keypoints: npt.NDArray[np.float32] | None = None
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_data(self.data, _box_columns(self))

    # construction ---------------------------------------------------------------------------
    @classmethod
    def empty(cls: type[_D], with_keypoints: bool = False) -> _D:
        kp = np.zeros((0, NUM_KEYPOINTS, 3), np.float32) if with_keypoints else None
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            score=np.zeros(0, np.float32),
            class_id=np.zeros(0, np.int32),
            keypoints=kp,
        )

    # access ---------------------------------------------------------------------------------
    def __getitem__(self, idx: Index) -> Detections:
        idx = _normalise_index(idx)
        return Detections(
            xyxy=self.xyxy[idx],
            score=self.score[idx],
            class_id=self.class_id[idx],
            keypoints=None if self.keypoints is None else self.keypoints[idx],
            data=_index_data(self.data, idx),
        )

    @property
    def area(self) -> npt.NDArray[np.float32]:
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return (wh[:, 0] * wh[:, 1]).astype(np.float32)

    def valid_mask(self) -> npt.NDArray[np.bool_]:
        """Rows with finite coordinates and positive area (trackers drop the others)."""
        finite = np.isfinite(self.xyxy).all(axis=1) & np.isfinite(self.score)
        with np.errstate(invalid="ignore"):
            positive = (self.xyxy[:, 2] > self.xyxy[:, 0]) & (self.xyxy[:, 3] > self.xyxy[:, 1])
        return np.asarray(finite & positive, dtype=bool)


FIRST_BOX = "first_xyxy"
"""``Tracks.data`` key: (N, 4) box a track confirmed in this frame was first observed with."""
FIRST_AGO = "first_seen_ago_s"
"""``Tracks.data`` key: (N,) seconds since that first observation (NaN: not confirmed now)."""


@dataclass(frozen=True, slots=True, eq=False)
class Tracks(_BoxRows):
    """Tracked objects in one frame, as columns.

    Like :class:`Detections` plus ``track_id`` (unique within one tracker instance),
    ``detection_index`` (the row of the frame's Detections this track matched, -1 while coasting
    through an occlusion) so per-detection attributes follow the id, ``visit_id`` (the shopper
    visit the track fragment belongs to after stitching; equals a random per-visit id) and
    ``floor_xy`` (store floor coordinates in metres, once a floor mapper has run).
    """

    xyxy: npt.NDArray[np.float32]
    score: npt.NDArray[np.float32]
    class_id: npt.NDArray[np.int32]
    track_id: npt.NDArray[np.int64]
    detection_index: npt.NDArray[np.int32]
    keypoints: npt.NDArray[np.float32] | None = None
    visit_id: npt.NDArray[np.int64] | None = None
    floor_xy: npt.NDArray[np.float32] | None = None
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = _box_columns(self)
        track_id = _as(self.track_id, np.int64, "track_id", (), n)
        if len(np.unique(track_id)) != n:
            raise ValidationError("track_id values must be unique within a frame")
        object.__setattr__(self, "track_id", track_id)
        object.__setattr__(self, "detection_index", _as(self.detection_index, np.int32, "detection_index", (), n))
        if self.visit_id is not None:
            object.__setattr__(self, "visit_id", _as(self.visit_id, np.int64, "visit_id", (), n))
        if self.floor_xy is not None:
            object.__setattr__(self, "floor_xy", _as(self.floor_xy, np.float32, "floor_xy", (2,), n))
        _check_data(self.data, n)

    @classmethod
    def empty(cls) -> Tracks:
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            score=np.zeros(0, np.float32),
            class_id=np.zeros(0, np.int32),
            track_id=np.zeros(0, np.int64),
            detection_index=np.zeros(0, np.int32),
        )

    def __getitem__(self, idx: Index) -> Tracks:
        idx = _normalise_index(idx)
        return Tracks(
            xyxy=self.xyxy[idx],
            score=self.score[idx],
            class_id=self.class_id[idx],
            track_id=self.track_id[idx],
            detection_index=self.detection_index[idx],
            keypoints=None if self.keypoints is None else self.keypoints[idx],
            visit_id=None if self.visit_id is None else self.visit_id[idx],
            floor_xy=None if self.floor_xy is None else self.floor_xy[idx],
            data=_index_data(self.data, idx),
        )

    def replace(self, **changes: Any) -> Tracks:
        """A copy with some columns replaced (the object itself is frozen)."""
        fields: dict[str, Any] = {
            "xyxy": self.xyxy,
            "score": self.score,
            "class_id": self.class_id,
            "track_id": self.track_id,
            "detection_index": self.detection_index,
            "keypoints": self.keypoints,
            "visit_id": self.visit_id,
            "floor_xy": self.floor_xy,
            "data": dict(self.data),
        }
        fields.update(changes)
        return Tracks(**fields)

    @property
    def subject_id(self) -> npt.NDArray[np.int64]:
        """The id analytics key on: the stitched visit id when present, else the track id."""
        return self.visit_id if self.visit_id is not None else self.track_id

    @property
    def is_matched(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.detection_index >= 0)
