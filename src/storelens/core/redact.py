"""One way to hide credentials inside URLs, used for every place a URL can be shown: the camera
list of the API, ``camera.offline`` payloads, log lines and tracebacks, and what ``central``
prints about its NATS servers and database.

The whole *userinfo* goes, not just the part after the first ``:``: people put ``@``, ``/`` and
``:`` into camera passwords unencoded (``rtsp://admin:S3cr@tPass@host/x``), which no URL parser
reads as they meant, so the userinfo is taken to run up to the *last* ``@`` of the URL (a URL ends
at whitespace or a quote). A path that itself contains ``@`` loses its host part too: showing
too little is the safe side."""

from __future__ import annotations

import re

MASK = "***"

# scheme:// then anything up to the last "@" before the URL ends (whitespace or a quote)
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s'\"<>`]*@")


def mask_credentials(text: str) -> str:
    """``text`` with the userinfo of every URL in it replaced by ``***``:
    ``rtsp://admin:pa/ss@cam/x`` -> ``rtsp://***@cam/x``."""
    if "@" not in text:
        return text
    return _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
