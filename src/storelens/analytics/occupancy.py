"""Peak occupancy per zone and time bucket.

Occupancy changes every frame; what a manager asks is "how full did it get between 12:00 and
12:15". Keeping only the running maximum per (bucket size, zone, bucket) answers that for any of
the configured bucket sizes without storing a time series.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from storelens.analytics.timebuckets import BucketClock

__all__ = ["PeakOccupancy"]


class PeakOccupancy:
    def __init__(self, bucket_sizes_s: Sequence[int], timezone: str = "UTC") -> None:
        self.clocks = [BucketClock(b, timezone) for b in bucket_sizes_s]
        self.peaks: dict[tuple[int, str, float], int] = {}

    def update(self, occupancy: Mapping[str, int], wall_time: float) -> None:
        for clock in self.clocks:
            start = clock.start(wall_time)
            for zone_id, n in occupancy.items():
                key = (clock.bucket_s, zone_id, start)
                if n > self.peaks.get(key, -1):
                    self.peaks[key] = n

    def peak(self, bucket_s: int, zone_id: str, start: float) -> int:
        return self.peaks.get((bucket_s, zone_id, start), 0)

    def overall(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (_, zone_id, _), n in self.peaks.items():
            out[zone_id] = max(out.get(zone_id, 0), n)
        return out
