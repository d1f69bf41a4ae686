"""`storelens track VIDEO --out tracks.txt`: per-frame tracks from pixels, in MOTChallenge format.

Why: anyone should be able to score storelens on their own labelled footage with the tools the
field uses (TrackEval, py-motmetrics), with exactly the detector, tracker and visit stitching their
store runs. ``track-mot`` tracks given detections; this command starts from the video itself.
Rows are ``frame,id,x,y,w,h,1,-1,-1,-1`` with 1-based frame numbers counted over every decoded
frame of the file, so they line up with a ground truth labelled on the same file.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import typer

from storelens.config.detection import DetectorConfig, TrackerConfig

IDS = ("visits", "tracks")


def _settings(config: Path | None) -> tuple[DetectorConfig, TrackerConfig, Path | None]:
    """The store's detector and tracker settings (the defaults without ``--config``)."""
    if config is None:
        return DetectorConfig(), TrackerConfig(), None
    from storelens.cli.errors import config_failed
    from storelens.config import ConfigError, load_config

    try:
        store = load_config(config)
    except ConfigError as exc:
        config_failed(exc, config)
    return store.detector, store.tracker, store.base_dir


def track(
    video: Path = typer.Argument(..., help="Video file or GIF to track (every frame is analysed)"),
    out: Path = typer.Option(..., "--out", help="Where to write the MOTChallenge results"),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Store YAML whose detector and tracker to use (default: the defaults)"
    ),
    ids: str = typer.Option("visits", "--ids", help="visits (stitched, what storelens counts) or tracks (raw)"),
    max_frames: int | None = typer.Option(None, "--max-frames", min=1, help="Stop after this many frames"),
) -> None:
    """Detect, track and stitch every frame of VIDEO; write frame,id,x,y,w,h,1,-1,-1,-1 rows."""
    import av

    from storelens.cli.errors import expected_errors, start_failed
    from storelens.tracking.mot import tracks_to_rows, write_mot
    from storelens.tracking.registry import make_stitcher, make_tracker
    from storelens.vision.detector import YoloDetector

    if ids not in IDS:
        raise typer.BadParameter(f"must be one of {', '.join(IDS)}, got {ids!r}", param_hint="--ids")
    if not video.is_file():
        raise typer.BadParameter(f"{video} does not exist", param_hint="VIDEO")
    det_cfg, trk_cfg, base_dir = _settings(config)
    try:
        detector = YoloDetector(det_cfg, base_dir=base_dir)
    except expected_errors() as exc:
        start_failed(f"load the detector {det_cfg.model}", exc)
    tracker = make_tracker(trk_cfg)
    stitcher = make_stitcher(trk_cfg) if ids == "visits" else None
    rows: list[np.ndarray] = []
    n = 0
    started = time.perf_counter()
    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            rate = float(stream.average_rate or stream.guessed_rate or 25.0)
            for n, frame in enumerate(container.decode(stream), start=1):
                ts = float(frame.time) if frame.time is not None else (n - 1) / rate
                image = np.ascontiguousarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
                tracks = tracker.update(detector.detect(image), ts, image)
                if stitcher is not None:
                    tracks = stitcher.update(tracks, ts, image)
                if len(tracks):
                    rows.append(tracks_to_rows(n, tracks, ids=tracks.visit_id if stitcher is not None else None))
                if max_frames is not None and n >= max_frames:
                    break
    except (av.error.FFmpegError, IndexError) as exc:
        start_failed(f"decode {video}", exc)
    if n == 0:
        start_failed(f"track {video}", ValueError("no video frames"))
    result = np.concatenate(rows) if rows else np.zeros((0, 10))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_mot(out, result)
    elapsed = time.perf_counter() - started
    people = len(np.unique(result[:, 1])) if len(result) else 0
    typer.echo(
        f"{video.name}: {n} frames, {len(result)} boxes, {people} {ids}, "
        f"{n / max(elapsed, 1e-9):.1f} frames/s ({det_cfg.model} @ {det_cfg.input_size})"
    )
    typer.echo(f"results: {out}")


def register(app: typer.Typer) -> None:
    app.command("track")(track)
