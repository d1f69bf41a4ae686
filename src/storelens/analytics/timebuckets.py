"""Time buckets aligned to the store's local clock (a "day" bucket starts at local midnight)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["BucketClock", "bucket_start"]


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {timezone!r}") from exc


def bucket_start(wall_time: float, bucket_s: int, timezone: str = "UTC") -> float:
    """UNIX time at which the local-time bucket containing ``wall_time`` starts."""
    offset = datetime.fromtimestamp(wall_time, tz=UTC).astimezone(_zone(timezone)).utcoffset()
    off = offset.total_seconds() if offset is not None else 0.0
    return math.floor((wall_time + off) / bucket_s) * bucket_s - off


class BucketClock:
    """:func:`bucket_start` with the UTC offset cached per hour (called every frame)."""

    def __init__(self, bucket_s: int, timezone: str = "UTC") -> None:
        if bucket_s <= 0:
            raise ValueError("bucket_s must be > 0")
        self.bucket_s = bucket_s
        self.tz = _zone(timezone)
        self._hour = -1.0
        self._off = 0.0

    def start(self, wall_time: float) -> float:
        hour = math.floor(wall_time / 3600)
        if hour != self._hour:
            offset = datetime.fromtimestamp(wall_time, tz=UTC).astimezone(self.tz).utcoffset()
            self._off = offset.total_seconds() if offset is not None else 0.0
            self._hour = hour
        return math.floor((wall_time + self._off) / self.bucket_s) * self.bucket_s - self._off
