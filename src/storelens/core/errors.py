"""How an exception is shown in logs, stats and health checks: its type and first line.

Only the first line: database drivers and HTTP clients put the failing SQL, its parameters or a
long context after it, which is noise in a log line and may carry data a log should not hold.
"""

from __future__ import annotations

__all__ = ["brief_error"]


def brief_error(exc: BaseException) -> str:
    """``"OperationalError: connection refused"``; just the type name when the message is empty."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
