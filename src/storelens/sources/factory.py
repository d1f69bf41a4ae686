"""Pick and open the right FrameSource for a camera's ``source`` string.

``rtsp://``, ``rtsps://``, ``http://``, ``https://``  live stream, reconnects on outages
``webcam:N`` or ``/dev/videoN``                      local camera device (V4L2 on Linux)
an existing directory                                 image folder
anything else                                         a video file (relative to ``base_dir``)

Files and folders are checked here, so a typo in the config fails at start-up with the path in
the message; live sources never fail to open (an unreachable camera is an outage, reported with
``camera.offline`` and retried), because cameras are routinely down when the analyser starts.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

from storelens.config.cameras import CameraConfig
from storelens.sources.base import FrameSource, SourceError, StatusCallback
from storelens.sources.file import FileSource
from storelens.sources.images import ImageFolderSource
from storelens.sources.live import LiveSource
from storelens.sources.status import redact_url

STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "http", "https"})

_WEBCAM = re.compile(r"^webcam:(\d+)$", re.IGNORECASE)
_V4L2_DEVICE = re.compile(r"^/dev/video\d+$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def stream_options(url: str) -> dict[str, str]:
    """FFmpeg demuxer options for a stream URL.

    RTSP goes over TCP: over UDP a lost packet is a torn frame, and store networks with busy
    Wi-Fi lose packets; TCP costs a little latency, which analytics does not notice.
    """
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("rtsp", "rtsps"):
        return {"rtsp_transport": "tcp"}
    return {}


def webcam_device(source: str, platform: str = sys.platform) -> tuple[str, str]:
    """(device url, FFmpeg input format) for ``webcam:N`` or ``/dev/videoN`` on this platform."""
    if _V4L2_DEVICE.match(source):
        return source, "v4l2"
    m = _WEBCAM.match(source)
    if m is None:
        raise SourceError(f"not a webcam source: {source!r} (expected 'webcam:N' or '/dev/videoN')")
    n = int(m.group(1))
    if platform.startswith("linux"):
        return f"/dev/video{n}", "v4l2"
    if platform == "darwin":
        return str(n), "avfoundation"
    raise SourceError(f"webcam source {source!r} is not supported on {platform}; use the camera's RTSP URL")


def resolve_source_path(source: str, base_dir: Path | None) -> Path:
    """A file/folder source as a path: ``file://`` URLs accepted, relative paths against base_dir."""
    is_url = source.lower().startswith("file://")
    path = Path(unquote(urlsplit(source).path)) if is_url else Path(source).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def open_source(
    cam: CameraConfig,
    base_dir: Path | None = None,
    on_status: StatusCallback | None = None,
    start_wall_time: float | None = None,
) -> FrameSource:
    """Open the source a camera config names.

    ``on_status(event_type, wall_time, payload)`` receives camera.offline / camera.online /
    camera.frame_corrupt (from a reader thread for live sources). ``start_wall_time`` is the UNIX
    time a file's or folder's first frame is taken to have been captured (default: now); live
    frames carry the time they were decoded. Raises SourceError when a file or folder is missing
    or unreadable, or the source string names an unsupported scheme.
    """
    source = cam.source.strip()
    scheme_match = _SCHEME.match(source)
    if scheme_match is not None:
        scheme = scheme_match.group(1).lower()
        if scheme in STREAM_SCHEMES:
            return LiveSource(cam, source, options=stream_options(source), on_status=on_status)
        if scheme != "file":
            raise SourceError(
                f"unsupported source URL {redact_url(source)!r} for camera {cam.id!r}: "
                f"scheme {scheme!r} (supported: {', '.join(sorted(STREAM_SCHEMES))}, file)"
            )
    if _WEBCAM.match(source) or _V4L2_DEVICE.match(source):
        device, fmt = webcam_device(source)
        return LiveSource(cam, device, container_format=fmt, on_status=on_status)
    path = resolve_source_path(source, base_dir)
    if path.is_dir():
        return ImageFolderSource(cam, path, on_status=on_status, start_wall_time=start_wall_time)
    return FileSource(cam, path, on_status=on_status, start_wall_time=start_wall_time)
