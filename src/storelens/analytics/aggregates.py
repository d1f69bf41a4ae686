"""Per-zone aggregates per time bucket (15 min, hour, day): the rows a dashboard and an export read.

Pure functions over finished stays (plus revisits and peak occupancy), so the same code builds the
live summary, re-aggregates stored events, and is checked against a plain-loop reference in the
tests. A stay belongs to the bucket in which it started (local store time; a day bucket starts at
local midnight).

Conversion proxy: of the unique visitors of a zone in a bucket, the share who entered a checkout
zone at or after that entry: "people who looked at TVs and then went to pay", which is what a
camera can tell without a till integration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from storelens.analytics.revisits import Revisit
from storelens.analytics.timebuckets import bucket_start
from storelens.analytics.zones import ZoneStay

__all__ = ["ZoneBucketRow", "aggregate_zones"]


@dataclass(frozen=True, slots=True)
class ZoneBucketRow:
    zone_id: str
    bucket_s: int
    start: float  # UNIX time of the bucket start
    visits: int
    unique_visitors: int
    median_dwell_s: float | None
    p90_dwell_s: float | None
    revisits: int
    revisit_rate: float | None  # revisits / visits
    conversions: int
    conversion_rate: float | None  # conversions / unique visitors
    peak_occupancy: int | None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("median_dwell_s", "p90_dwell_s", "revisit_rate", "conversion_rate"):
            if d[k] is not None:
                d[k] = round(d[k], 3)
        return d


def aggregate_zones(
    stays: Iterable[ZoneStay],
    bucket_s: int,
    *,
    timezone: str = "UTC",
    revisits: Iterable[Revisit] = (),
    checkout_zones: Iterable[str] = (),
    peaks: Mapping[tuple[int, str, float], int] | None = None,
    exclude_subjects: Iterable[int] = (),
) -> list[ZoneBucketRow]:
    """Rows sorted by (start, zone_id). ``peaks`` maps (bucket_s, zone_id, start) -> peak occupancy
    (see :class:`~storelens.analytics.occupancy.PeakOccupancy`); buckets with a peak but no
    finished stay still get a row. ``exclude_subjects`` (staff) are left out of every count."""
    excluded = set(exclude_subjects)
    tills = set(checkout_zones)
    all_stays = [s for s in stays if s.subject not in excluded]
    checkout_entries: dict[int, list[float]] = {}
    for s in all_stays:
        if s.zone_id in tills:
            checkout_entries.setdefault(s.subject, []).append(s.enter_wall)
    groups: dict[tuple[float, str], list[ZoneStay]] = {}
    for s in all_stays:
        groups.setdefault((bucket_start(s.enter_wall, bucket_s, timezone), s.zone_id), []).append(s)
    rv_count: dict[tuple[float, str], int] = {}
    for r in revisits:
        if r.subject in excluded:
            continue
        key = (bucket_start(r.wall, bucket_s, timezone), r.zone_id)
        rv_count[key] = rv_count.get(key, 0) + 1
    keys = set(groups) | set(rv_count)
    if peaks is not None:
        keys |= {(start, zid) for (b, zid, start) in peaks if b == bucket_s}
    rows: list[ZoneBucketRow] = []
    for start, zid in sorted(keys):
        group = groups.get((start, zid), [])
        dwell = np.asarray([s.dwell_s for s in group], dtype=np.float64)
        first_entry: dict[int, float] = {}
        for s in group:
            first_entry[s.subject] = min(first_entry.get(s.subject, s.enter_wall), s.enter_wall)
        conversions = sum(1 for subj, t in first_entry.items() if any(c >= t for c in checkout_entries.get(subj, ())))
        n_rv = rv_count.get((start, zid), 0)
        rows.append(
            ZoneBucketRow(
                zone_id=zid,
                bucket_s=bucket_s,
                start=start,
                visits=len(group),
                unique_visitors=len(first_entry),
                median_dwell_s=float(np.median(dwell)) if len(dwell) else None,
                p90_dwell_s=float(np.percentile(dwell, 90)) if len(dwell) else None,
                revisits=n_rv,
                revisit_rate=n_rv / len(group) if group else None,
                conversions=conversions,
                conversion_rate=conversions / len(first_entry) if first_entry else None,
                peak_occupancy=None if peaks is None else peaks.get((bucket_s, zid, start), 0),
            )
        )
    return rows
