"""Store-local time buckets: an hour, a day or an ISO week (Monday) of the store's wall clock.

Managers read "Saturday" and "9-10 am" in store time, so buckets are floored in the store's zone
and returned in UTC; a day with a DST change has 23 or 25 hours and is still one bucket.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

Granularity = Literal["hour", "day", "week"]


def floor_local(ts: datetime, tz: tzinfo, granularity: Granularity) -> datetime:
    """Start (UTC) of the bucket holding ``ts``."""
    local = ts.astimezone(tz)
    if granularity == "hour":
        # the aware local time keeps its DST fold, so the repeated hour of a change stays two hours
        return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity == "week":
        day = day - timedelta(days=day.weekday())
    return _local_midnight(day, tz)


def _local_midnight(day: datetime, tz: tzinfo) -> datetime:
    return day.replace(tzinfo=None).replace(tzinfo=tz).astimezone(UTC)


def next_start(start: datetime, tz: tzinfo, granularity: Granularity) -> datetime:
    if granularity == "hour":
        return start + timedelta(hours=1)
    local = start.astimezone(tz).replace(tzinfo=None)
    step = timedelta(days=7 if granularity == "week" else 1)
    # +2 h then floor: lands on the next local midnight whatever the DST change
    nxt = (local + step + timedelta(hours=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    return _local_midnight(nxt, tz)


def bucket_starts(since: datetime, until: datetime, tz: tzinfo, granularity: Granularity) -> list[datetime]:
    """Every bucket start from the one holding ``since`` up to (excluding) ``until``."""
    out: list[datetime] = []
    b = floor_local(since, tz, granularity)
    while b < until:
        out.append(b)
        b = next_start(b, tz, granularity)
    return out
