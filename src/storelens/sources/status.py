"""Status reporting shared by all sources: safe callbacks, rate-limited corruption reports, and
URL redaction so camera passwords never reach an event, a log line or an exception message."""

from __future__ import annotations

import logging
import time
from typing import Any

from storelens.core.redact import mask_credentials
from storelens.sources.base import SourceStats, StatusCallback

log = logging.getLogger(__name__)

CAMERA_OFFLINE = "camera.offline"
CAMERA_ONLINE = "camera.online"
FRAME_CORRUPT = "camera.frame_corrupt"


def redact_url(text: str) -> str:
    """Hide credentials embedded in any URL inside ``text`` (RTSP URLs very often carry them, and
    FFmpeg echoes the URL it failed on into its error messages): the one masking function,
    :func:`storelens.core.redact.mask_credentials`."""
    return mask_credentials(text)


def describe_error(exc: BaseException) -> str:
    """A one-line, credential-free description of an exception for events and logs."""
    message = str(exc) or type(exc).__name__
    return redact_url(f"{type(exc).__name__}: {message}")


class StatusReporter:
    """Calls the user's status callback without letting it break decoding.

    The callback may run on a source's reader thread; an exception in it is logged and swallowed,
    because a broken event handler must not take a camera offline. Corrupt-frame reports are
    limited to one per ``corrupt_interval_s`` so a badly damaged stream cannot flood the event bus;
    ``stats.corrupt`` still counts every one.
    """

    def __init__(
        self,
        camera_id: str,
        stats: SourceStats,
        callback: StatusCallback | None,
        corrupt_interval_s: float = 1.0,
    ) -> None:
        self.camera_id = camera_id
        self.stats = stats
        self._callback = callback
        self._corrupt_interval_s = corrupt_interval_s
        self._last_corrupt_report: float | None = None

    def emit(self, event_type: str, wall_time: float, payload: dict[str, Any]) -> None:
        if self._callback is None:
            return
        try:
            self._callback(event_type, wall_time, payload)
        except Exception:
            log.exception("camera %s: status callback failed for %s", self.camera_id, event_type)

    def corrupt(self, reason: str, wall_time: float) -> None:
        """Count one undecodable packet or frame and report it if the last report is old enough."""
        self.stats.corrupt += 1
        self.stats.last_error = reason
        now = time.monotonic()
        if self._last_corrupt_report is not None and now - self._last_corrupt_report < self._corrupt_interval_s:
            return
        self._last_corrupt_report = now
        log.warning("camera %s: corrupt data skipped (%s)", self.camera_id, reason)
        self.emit(FRAME_CORRUPT, wall_time, {"error": reason, "corrupt": self.stats.corrupt})
