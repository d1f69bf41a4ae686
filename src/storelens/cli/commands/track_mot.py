"""`storelens track-mot`: run a tracker on MOTChallenge detections, write MOTChallenge results.

This is how the tracker is evaluated against published trackers on the same detections (see
``bench/tracking.py``). With ``--video`` the frames are decoded so the appearance cue works and the
timestamps are the video's own; without it, timestamps are ``(frame - 1) / fps``.
"""

from __future__ import annotations

import configparser
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import typer

from storelens.config.detection import TrackerConfig
from storelens.tracking.mot import (
    MotFormatError,
    MotFrame,
    detections_by_frame,
    read_mot,
    timed_frames,
    track_frames,
    write_mot,
)
from storelens.tracking.registry import TRACKERS, make_tracker


def _seqinfo(det: Path, key: str) -> float | None:
    """MOTChallenge keeps the frame rate and size in ``<seq>/seqinfo.ini`` next to ``det/``."""
    ini = det.resolve().parent.parent / "seqinfo.ini"
    if not ini.is_file():
        return None
    cp = configparser.ConfigParser()
    try:
        cp.read(ini, encoding="utf-8")
        return float(cp["Sequence"][key])
    except (KeyError, ValueError, configparser.Error):
        return None


def _seqinfo_fps(det: Path) -> float | None:
    return _seqinfo(det, "frameRate")


def _video_frames(video: Path, n_frames: int, fps: float) -> Iterator[MotFrame]:
    import av  # local: only this path needs the decoder

    count = 0
    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            for count, frame in enumerate(container.decode(stream), start=1):
                ts = frame.time if frame.time is not None else (count - 1) / fps
                image = np.ascontiguousarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
                yield MotFrame(count, float(ts), image)
                if count >= n_frames:
                    return
    except av.error.FFmpegError as exc:
        raise typer.BadParameter(f"cannot decode {video}: {exc}", param_hint="--video") from None
    if count < n_frames:
        typer.echo(
            f"warning: {video} has {count} frames, detections go to frame {n_frames}; "
            "the rest is tracked without pixels",
            err=True,
        )
        last_ts = (count - 1) / fps if count else 0.0
        for i in range(count + 1, n_frames + 1):
            yield MotFrame(i, last_ts + (i - count) / fps)


def track_mot(
    det: Path = typer.Option(..., "--det", help="MOTChallenge detections (frame,-1,x,y,w,h,conf,...)"),
    out: Path = typer.Option(..., "--out", help="Where to write MOTChallenge results"),
    video: Path | None = typer.Option(None, "--video", help="The sequence's video: enables appearance"),
    tracker: str = typer.Option("storelens", "--tracker", help=f"One of: {', '.join(sorted(TRACKERS))}"),
    fps: float | None = typer.Option(
        None, "--fps", help="Frame rate (default: seqinfo.ini next to det/, else 25)", min=0.001
    ),
    min_score: float = typer.Option(0.0, "--min-score", help="Ignore detections below this score"),
) -> None:
    """Track MOTChallenge detections and write frame,id,x,y,w,h,1,-1,-1,-1 results."""
    if tracker not in TRACKERS:
        raise typer.BadParameter(f"unknown tracker {tracker!r}; known: {sorted(TRACKERS)}", param_hint="--tracker")
    if video is not None and not video.is_file():
        raise typer.BadParameter(f"{video} does not exist", param_hint="--video")
    try:
        rows = read_mot(det)
    except MotFormatError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    rate = fps or _seqinfo_fps(det) or 25.0
    dets = detections_by_frame(rows, min_score=min_score)
    n_frames = int(rows[:, 0].max()) if len(rows) else 0
    trk = make_tracker(TrackerConfig(type=tracker))
    width, height = _seqinfo(det, "imWidth"), _seqinfo(det, "imHeight")
    if video is None and width and height and hasattr(trk, "set_frame_size"):
        trk.set_frame_size(int(width), int(height))  # the size-aware birth rule needs the frame size
    frames = _video_frames(video, n_frames, rate) if video is not None else timed_frames(n_frames, rate)
    started = time.perf_counter()
    results = track_frames(trk, dets, frames)
    elapsed = time.perf_counter() - started
    out.parent.mkdir(parents=True, exist_ok=True)
    write_mot(out, results)
    ids = len(np.unique(results[:, 1])) if len(results) else 0
    typer.echo(
        f"{tracker}: {n_frames} frames at {rate:g} fps, {len(results)} boxes, {ids} ids, "
        f"{n_frames / max(elapsed, 1e-9):.0f} frames/s{' (appearance on)' if video else ''}"
    )
    typer.echo(f"results: {out}")


def register(app: typer.Typer) -> None:
    app.command("track-mot")(track_mot)
