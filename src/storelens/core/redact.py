"""One way to hide credentials inside URLs, used for every place a URL can be shown: the camera
list of the API, ``camera.offline`` payloads, log lines and tracebacks, and what ``central``
prints about its NATS servers and database.

The whole *userinfo* goes, not just the part after the first ``:``: people put ``@``, ``/`` and
``:`` into camera passwords unencoded (``rtsp://admin:S3cr@tPass@host/x``), which no URL parser
reads as they meant, so the userinfo is taken to run up to the *last* ``@`` of the URL (a URL ends
at whitespace or a quote). A path that itself contains ``@`` loses its host part too: showing
too little is the safe side.

:class:`SecretFilter` applies the same masking, plus every secret registered with it (values the
config substituted from ``${ENV:..}``/``${FILE:..}``, encryption keys), to each log record. It
lives here, beside :func:`mask_credentials`, so config loading can register the secrets it reads
without reaching up into ``security``."""

from __future__ import annotations

import logging
import re
import threading
from typing import ClassVar

MASK = "***"

# scheme:// then anything up to the last "@" before the URL ends (whitespace or a quote)
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s'\"<>`]*@")


def mask_credentials(text: str) -> str:
    """``text`` with the userinfo of every URL in it replaced by ``***``:
    ``rtsp://admin:pa/ss@cam/x`` -> ``rtsp://***@cam/x``."""
    if "@" not in text:
        return text
    return _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)


class SecretFilter(logging.Filter):
    """Masks registered secret strings in every log record that passes through a handler."""

    _secrets: ClassVar[set[str]] = set()
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def register(cls, value: str) -> None:
        if len(value) >= 8:
            with cls._lock:
                cls._secrets.add(value)

    def _mask(self, text: str) -> str:
        masked = mask_credentials(text)  # URL userinfo (camera, broker, database passwords)
        for s in tuple(self._secrets):
            if s in masked:
                masked = masked.replace(s, "***")
        return masked

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        masked = self._mask(msg)
        if masked != msg:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # the traceback's messages carry URLs too (FFmpeg and drivers echo them): format it
            # here, masked; handlers use exc_text when it is set
            record.exc_text = self._mask(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self._mask(record.exc_text)
        return True


def install_secret_filter(logger: logging.Logger | None = None) -> None:
    """Attach :class:`SecretFilter` to every handler of ``logger`` (root by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, SecretFilter) for f in handler.filters):
            handler.addFilter(SecretFilter())
