"""The redacted still of a camera: the picture zones and lines are drawn on.

A user drawing zones needs to see the camera's view, and that picture leaves the pipeline (a file,
the dashboard's editor), so it must show nobody: it is the temporal median of frames sampled over
the source (people who walk are gone whether or not they were detected), people who stayed through
the samples are blurred whole (from the detections of the sampled frames, and wherever many samples
differ from the median), the detector looks at the median once more, whole and in tiles, and
what it finds there is blurred whole, faces the face detector finds are
blurred, and privacy masks are filled. See :mod:`storelens.privacy.background`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from storelens.config.store import StoreConfig
from storelens.privacy.background import MedianBackground, detect_people
from storelens.privacy.frames import FrameRedactor, RedactedFrame
from storelens.privacy.masks import masks_for
from storelens.vision.base import Detector

MIN_INTERVAL_S = 2.0
"""Samples at least this far apart: a shopper walking past is in one sample, not in most."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    frame: RedactedFrame
    samples: int
    span_s: float
    lingering: int
    """Areas blurred because a detection stayed there through many samples."""


def snapshot_path(store: StoreConfig, camera_id: str) -> Path:
    """Where ``storelens snapshot`` writes a camera's still by default, and where the API reads it."""
    from storelens.sinks.factory import default_out_dir

    return default_out_dir(store) / f"{camera_id}_snapshot.png"


def camera_snapshot(
    store: StoreConfig,
    camera_id: str,
    *,
    frames: int = 15,
    detector: Detector,
    redactor: FrameRedactor,
) -> Snapshot:
    """Sample ``frames`` frames of the camera's source and return the redacted median still.

    A file is sampled evenly over its length (at least :data:`MIN_INTERVAL_S` apart); a live
    camera every :data:`MIN_INTERVAL_S` until ``frames`` were taken. ``redactor`` supplies the face
    detectors; its masks are replaced by the camera's, scaled to the frames."""
    from storelens.sources.factory import open_source
    from storelens.sources.probe import media_duration

    cam = store.camera(camera_id)
    length = media_duration(store, cam)
    seconds = None if length is None else length[0]
    interval = MIN_INTERVAL_S if seconds is None else max(MIN_INTERVAL_S, seconds / frames)
    background = MedianBackground(max_frames=frames, min_interval_s=interval)
    source = open_source(cam, store.base_dir)
    first = last = None
    try:
        for frame in source.frames():
            if not background.wants(frame.pts):
                continue
            background.offer(frame.image, frame.pts, detector.detect(frame.image).xyxy)
            first = frame.pts if first is None else first
            last = frame.pts
            if len(background) >= frames:
                break
        native = source.stats.extra.get("native_width")
    finally:
        source.close()
    median = background.median()
    if median is None:
        raise ValueError(f"camera {camera_id!r}: no frame could be read from its source")
    scale = median.shape[1] / float(native) if native else 1.0
    redactor.masks = masks_for(store, camera_id, scale)
    found = detector.detect(median)
    lingering = background.lingering()
    regions = [lingering, background.unstable(), background.padded(detect_people(detector, median), median.shape)]
    still = redactor(median, found, regions=np.concatenate(regions).astype(np.float32))
    span = 0.0 if first is None or last is None else float(last - first)
    return Snapshot(still, len(background), span, len(lingering))
