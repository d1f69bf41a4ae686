"""How an exception is shown in logs, stats and health checks (its type and first line), and how a
full disk is recognised whatever layer reported it.

Only the first line: database drivers and HTTP clients put the failing SQL, its parameters or a
long context after it, which is noise in a log line and may carry data a log should not hold.
"""

from __future__ import annotations

import errno

__all__ = ["DISK_FULL_ERRNOS", "DiskFullError", "as_disk_full", "brief_error", "is_disk_full"]


def brief_error(exc: BaseException) -> str:
    """``"OperationalError: connection refused"``; just the type name when the message is empty."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


# -- a full disk ------------------------------------------------------------------------------------
# ENOSPC: the file system is full; EDQUOT: the user's quota is; EFBIG: the file may not grow (a
# file-size limit, or the file system's maximum). For the person running the store all three mean
# the same thing: free space (or raise the limit) and run again.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})

# SQLite reports SQLITE_FULL as text through the driver, without an errno
_SQLITE_FULL = "database or disk is full"


class DiskFullError(OSError):
    """An output could not be written because the disk (or a size limit) is full.

    Raised in place of the low-level error by every writer of a run's outputs (JSONL, database,
    video, images, summary) so the command can end with one line that names the file, instead of
    a traceback or, worse, a sink that keeps failing silently while analysis goes on: nothing more
    can be recorded, so the run stops."""

    def __init__(self, path: object, cause: BaseException | None = None) -> None:
        code = getattr(cause, "errno", None)
        super().__init__(code if isinstance(code, int) else errno.ENOSPC, "disk full", str(path))
        self.path = str(path)
        self.detail = getattr(cause, "strerror", None) or (str(cause).strip().splitlines() or [""])[0] if cause else ""

    def __str__(self) -> str:
        extra = f" ({self.detail})" if self.detail and self.detail != "disk full" else ""
        return f"disk full writing {self.path}{extra}"


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or an exception it was raised from) means the disk or a size limit is full."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, DiskFullError):
            return True
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return True
        if _SQLITE_FULL in str(exc).lower():
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def as_disk_full(exc: BaseException, path: object) -> DiskFullError | None:
    """A :class:`DiskFullError` naming ``path`` when ``exc`` means a full disk, else None."""
    if isinstance(exc, DiskFullError):
        return exc
    return DiskFullError(path, exc) if is_disk_full(exc) else None
