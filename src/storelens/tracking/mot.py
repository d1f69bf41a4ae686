"""MOTChallenge text files and running a tracker over them.

Format (one object per line, 1-based frames): ``frame,id,left,top,width,height,conf,x,y,z``;
detections have ``id = -1``. Our results are written as ``frame,id,x,y,w,h,1,-1,-1,-1``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from storelens.core.types import Detections, Tracks
from storelens.tracking.base import Tracker

F64 = npt.NDArray[np.float64]


class MotFormatError(ValueError):
    """A MOTChallenge file could not be parsed; the message names the file and line."""


def read_mot(path: str | Path) -> F64:
    """Read a MOTChallenge file as an (N, 7+) float64 array ``frame, id, x, y, w, h, conf, ...``.

    Blank lines are skipped; a line with fewer than 6 numbers, a non-numeric field or a frame
    below 1 is a :class:`MotFormatError` naming the line, so a bad file is never half-read.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise MotFormatError(f"{p}: cannot read ({exc.strerror or exc})") from None
    rows: list[list[float]] = []
    width = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        parts = [s for s in line.replace(" ", ",").split(",") if s != ""]
        try:
            vals = [float(s) for s in parts]
        except ValueError:
            raise MotFormatError(f"{p}:{lineno}: non-numeric field in {line!r}") from None
        if len(vals) < 6:
            raise MotFormatError(f"{p}:{lineno}: expected at least 6 fields, got {len(vals)}")
        if not math.isfinite(vals[0]) or vals[0] < 1 or vals[0] != int(vals[0]):
            raise MotFormatError(f"{p}:{lineno}: frame must be an integer >= 1, got {parts[0]!r}")
        if len(vals) < 7:
            vals.append(1.0)  # no confidence column: every box counts
        rows.append(vals)
        width = max(width, len(vals))
    out = np.full((len(rows), max(width, 7)), -1.0)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def read_gt(path: str | Path) -> F64:
    """Ground truth rows to evaluate against: MOTChallenge marks ignored boxes with conf 0."""
    a = read_mot(path)
    return a[a[:, 6] != 0]


def detections_by_frame(rows: F64, min_score: float = -math.inf) -> dict[int, Detections]:
    """Group detection rows (``x, y, w, h`` → ``xyxy``) into one Detections per frame (class 0)."""
    out: dict[int, Detections] = {}
    if len(rows) == 0:
        return out
    rows = rows[rows[:, 6] >= min_score]
    order = np.argsort(rows[:, 0], kind="stable")
    rows = rows[order]
    frames = rows[:, 0].astype(np.int64)
    cuts = np.flatnonzero(np.diff(frames)) + 1
    for chunk in np.split(rows, cuts):
        xyxy = np.stack([chunk[:, 2], chunk[:, 3], chunk[:, 2] + chunk[:, 4], chunk[:, 3] + chunk[:, 5]], axis=1)
        out[int(chunk[0, 0])] = Detections(
            xyxy=xyxy.astype(np.float32),
            score=chunk[:, 6].astype(np.float32),
            class_id=np.zeros(len(chunk), np.int32),
        )
    return out


@dataclass(frozen=True, slots=True)
class MotFrame:
    """One frame to track: 1-based number, timestamp in seconds, optional BGR image."""

    number: int
    timestamp: float
    image: npt.NDArray[np.uint8] | None = None


def timed_frames(n_frames: int, fps: float) -> Iterator[MotFrame]:
    """Frames without pixels: timestamps ``(frame - 1) / fps``."""
    if fps <= 0 or not math.isfinite(fps):
        raise ValueError(f"fps must be a positive number, got {fps}")
    for i in range(1, n_frames + 1):
        yield MotFrame(i, (i - 1) / fps)


def track_frames(
    tracker: Tracker,
    detections: dict[int, Detections],
    frames: Iterable[MotFrame],
    on_tracks: Callable[[MotFrame, Tracks], None] | None = None,
) -> F64:
    """Run ``tracker`` over ``frames`` (every frame, including those without detections) and return
    result rows ``frame, id, x, y, w, h, 1, -1, -1, -1``."""
    empty = Detections.empty()
    chunks: list[F64] = []
    for fr in frames:
        tracks = tracker.update(detections.get(fr.number, empty), fr.timestamp, fr.image)
        if on_tracks is not None:
            on_tracks(fr, tracks)
        if len(tracks) == 0:
            continue
        chunks.append(tracks_to_rows(fr.number, tracks))
    if not chunks:
        return np.zeros((0, 10))
    return np.concatenate(chunks)


def tracks_to_rows(frame: int, tracks: Tracks, ids: npt.NDArray[np.int64] | None = None) -> F64:
    """MOT result rows for one frame's tracks (``ids`` overrides the track ids, e.g. visit ids)."""
    n = len(tracks)
    b = tracks.xyxy.astype(np.float64)
    rows = np.empty((n, 10))
    rows[:, 0] = frame
    rows[:, 1] = tracks.track_id if ids is None else ids
    rows[:, 2:4] = b[:, :2]
    rows[:, 4:6] = b[:, 2:] - b[:, :2]
    rows[:, 6] = 1
    rows[:, 7:] = -1
    return rows


def write_mot(path: str | Path, rows: F64) -> None:
    """Write result rows as MOTChallenge text (ids as integers, boxes with 2 decimals)."""
    p = Path(path)
    lines = [
        f"{int(r[0])},{int(r[1])},{r[2]:.2f},{r[3]:.2f},{r[4]:.2f},{r[5]:.2f},1,-1,-1,-1"
        for r in rows[np.lexsort((rows[:, 1], rows[:, 0]))]
    ]
    p.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
