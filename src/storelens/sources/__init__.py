"""Frame sources: video files, live streams (RTSP/HTTP), webcams and image folders.

Use :func:`storelens.sources.factory.open_source` to get the right one for a camera config; all of
them implement the :class:`FrameSource` protocol. Only the protocol is imported eagerly, so code
that merely type-checks against it does not pay for loading FFmpeg and OpenCV.
"""

from typing import Any

from storelens.sources.base import FrameSource, SourceError, SourceStats, StatusCallback

__all__ = ["FrameSource", "SourceError", "SourceStats", "StatusCallback", "open_source"]


def __getattr__(name: str) -> Any:
    if name == "open_source":
        from storelens.sources.factory import open_source

        return open_source
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
