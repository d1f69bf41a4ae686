"""Read one frame of a camera's source to learn its native size (``storelens validate``), and a
file source's length (:func:`media_duration`, for progress bars and sampling).

Zones, lines and masks are drawn in the native pixels of the camera's frames, so checking them
needs the real frame size. Files and image folders are opened through the same sources the
pipeline uses; a live camera is opened once with PyAV under an open/read timeout, without the
reconnect loop (a probe that retried forever would hang ``validate``).
"""

from __future__ import annotations

import av

from storelens.config.cameras import CameraConfig
from storelens.config.store import StoreConfig
from storelens.sources.base import SourceError
from storelens.sources.decode import open_input
from storelens.sources.status import describe_error, redact_url


def probe_frame_size(cam: CameraConfig, *, timeout_s: float = 10.0) -> tuple[int, int]:
    """(width, height) of the camera's first frame; raises :class:`SourceError` with the reason."""
    from storelens.sources.factory import STREAM_SCHEMES, open_source, stream_options, webcam_device

    source = cam.source.strip()
    scheme = source.split("://", 1)[0].lower() if "://" in source else None
    if scheme in STREAM_SCHEMES or source.lower().startswith("webcam:") or source.startswith("/dev/video"):
        if scheme in STREAM_SCHEMES:
            url, fmt, options = source, None, stream_options(source)
        else:
            (url, fmt), options = webcam_device(source), {}
        try:
            container, stream = open_input(url, container_format=fmt, options=options, timeout=(timeout_s, timeout_s))
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise SourceError(f"{redact_url(url)}: {describe_error(exc)}") from None
        try:
            for vf in container.decode(stream):
                return int(vf.width), int(vf.height)
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise SourceError(f"{redact_url(url)}: {describe_error(exc)}") from None
        finally:
            container.close()
        raise SourceError(f"{redact_url(url)}: the stream ended before its first frame")
    src = open_source(cam)
    try:
        for frame in src.frames():
            extra = src.stats.extra
            return int(extra.get("native_width") or frame.image.shape[1]), int(
                extra.get("native_height") or frame.image.shape[0]
            )
    finally:
        src.close()
    raise SourceError(f"{redact_url(cam.source)}: no readable frame")


def media_duration(store: StoreConfig, cam: CameraConfig) -> tuple[float, float | None] | None:
    """(seconds, average frame rate or None) of a file source; None for live sources or when the
    container does not say. For estimates only (a progress bar, how far apart to sample): any
    failure reads as unknown, and the source itself reports real errors when it is opened."""
    if "://" in cam.source or cam.source.startswith(("webcam:", "/dev/")):
        return None
    path = store.resolve_path(cam.source)
    if not path.is_file():
        return None
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = float(stream.average_rate) if stream.average_rate else None
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base), rate
            if container.duration is not None:
                return float(container.duration) / 1e6, rate
    except Exception:
        return None
    return None
