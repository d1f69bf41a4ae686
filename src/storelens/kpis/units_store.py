"""Buying units from storage: visits (their stored path) + each visit's body height + POS, per bucket.

People are the non-staff visits that started in the range; a visit's path is ``visits.path``
(``[t, x, y]``, floor metres on a calibrated camera, else pixels) and its height the ``height_m``
of its ``visit.ended`` payload (the median standing body height on the floor, from keypoints on a
calibrated camera). A unit belongs to the bucket of its first member's entry; buyers are POS
transactions in the bucket, as in the funnel. Raw conversion (buyers / people), visitor
conversion (buyers / visitors, children out) and unit conversion (buyers / units) sit side by
side so the effect of each correction is visible.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

import sqlalchemy as sa

from storelens.config.store import StoreConfig
from storelens.events.models import EventType
from storelens.kpis.buckets import Granularity, bucket_starts
from storelens.kpis.funnel import NO_ENTRIES, NO_POS
from storelens.kpis.units import GroupingConfig, Person, UnitsResult, buying_units
from storelens.storage.database import Database
from storelens.storage.models import EVENTS, POS_TRANSACTIONS, VISITS

NO_HEIGHTS = "not measured: no body heights stored (needs calibrated cameras with keypoints)"
NO_PATHS = "not measured: no stored visit has a path"


@dataclass(slots=True)
class UnitsRow:
    bucket_start: datetime
    people: int
    children: int | None
    height_unknown: int
    visitors: int
    units: int
    unit_sizes: dict[int, int]
    buyers: int | None
    raw_conversion: float | None
    visitor_conversion: float | None
    unit_conversion: float | None
    people_per_unit: float | None
    notes: dict[str, str] = field(default_factory=dict)


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def _path(raw: Any) -> list[tuple[float, float, float]]:
    out: list[tuple[float, float, float]] = []
    if isinstance(raw, list):
        for q in raw:
            if isinstance(q, list | tuple) and len(q) >= 3:
                t, x, y = (_num(v) for v in q[:3])
                if t is not None and x is not None and y is not None:
                    out.append((t, x, y))
    return out


def load_people(
    db: Database,
    store: StoreConfig,
    since: datetime,
    until: datetime,
    *,
    event_filter: Sequence[sa.ColumnElement[bool]] = (),
    visit_filter: Sequence[sa.ColumnElement[bool]] = (),
) -> tuple[list[Person], list[tuple[datetime, float]] | None]:
    """The people (visits) of [since, until) and the POS sales there (None: no POS stored)."""
    calibrated = {c.id for c in store.cameras if c.calibration is not None}
    v = VISITS.c
    q = sa.select(v.id, v.started_at, v.camera_id, v.path).where(
        v.store_id == store.store_id,
        v.started_at >= since,
        v.started_at < until,
        v.is_staff == sa.false(),
        *visit_filter,
    )
    e = EVENTS.c
    hq = sa.select(e.subject, e.payload).where(
        e.store_id == store.store_id,
        e.type == EventType.VISIT_ENDED.value,
        e.ts >= since,
        *event_filter,
    )
    pt = POS_TRANSACTIONS.c
    with db.engine.connect() as conn:
        rows = list(conn.execute(q))
        heights: dict[str, float] = {}
        for r in conn.execute(hq):
            h = _num((r.payload or {}).get("height_m"))
            if r.subject and h is not None and 0.3 <= h <= 2.5:
                heights[r.subject] = h
        has_pos = conn.execute(sa.select(pt.id).where(pt.store_id == store.store_id).limit(1)).first() is not None
        sales: list[tuple[datetime, float]] | None = None
        if has_pos:
            sq = sa.select(pt.ts, pt.basket_value).where(pt.store_id == store.store_id, pt.ts >= since, pt.ts < until)
            sales = [(s[0], float(s[1])) for s in conn.execute(sq)]
    people = [
        Person(
            subject=r.id,
            entered_at=r.started_at,
            path=_path(r.path),
            space="floor" if r.camera_id in calibrated else "image",
            camera_id=r.camera_id,
            height_m=heights.get(r.id),
        )
        for r in rows
    ]
    return people, sales


def _ratio(num: int | None, den: int, why: str) -> tuple[float | None, str | None]:
    if num is None:
        return None, why
    if den == 0:
        return None, NO_ENTRIES
    return num / den, None


def _row(start: datetime, r: UnitsResult, buyers: int | None, any_height: bool, any_path: bool) -> UnitsRow:
    notes: dict[str, str] = {}
    if not any_height:
        notes["children"] = NO_HEIGHTS
    if not any_path:
        notes["units"] = NO_PATHS
    if buyers is None:
        notes["buyers"] = NO_POS
    raw, w1 = _ratio(buyers, r.people, NO_POS)
    vis, w2 = _ratio(buyers, r.visitors, NO_POS)
    uni, w3 = _ratio(buyers, r.units, NO_POS)
    for k, w in (("raw_conversion", w1), ("visitor_conversion", w2), ("unit_conversion", w3)):
        if w:
            notes[k] = w
    ppu = r.visitors / r.units if r.units else None
    return UnitsRow(
        start,
        r.people,
        r.children,
        r.height_unknown,
        r.visitors,
        r.units,
        r.unit_sizes,
        buyers,
        raw,
        vis,
        uni,
        ppu,
        notes,
    )


def compute_units(
    people: Sequence[Person],
    sales: Sequence[tuple[datetime, float]] | None,
    since: datetime,
    until: datetime,
    tz: tzinfo,
    granularity: Granularity,
    cfg: GroupingConfig,
) -> tuple[list[UnitsRow], UnitsRow]:
    """Pure: units grouped over the whole range (a group is not cut at a bucket edge), then each
    unit counted in the bucket of its first member's entry. Returns (rows, total)."""
    starts = bucket_starts(since, until, tz, granularity)
    any_height = any(p.height_m is not None for p in people)
    any_path = any(p.path for p in people)

    def slot(ts: datetime) -> int | None:
        if ts < since or ts >= until:
            return None
        i = bisect_right(starts, ts) - 1
        return i if i >= 0 else None

    total = buying_units(people, cfg)
    by_subject = {p.subject: p for p in people}
    per: list[list[Person]] = [[] for _ in starts]
    # people of one unit go to the bucket of the unit's first entry, so a unit is never split
    placed: set[str] = set()
    for g in total.groups:
        first = min(by_subject[s].entered_at for s in g)
        i = slot(first)
        for s in g:
            placed.add(s)
            if i is not None:
                per[i].append(by_subject[s])
    for p in people:  # children on their own (no unit): their own entry bucket
        if p.subject not in placed and (i := slot(p.entered_at)) is not None:
            per[i].append(p)
    buyers: list[int] | None = None
    if sales is not None:
        buyers = [0] * len(starts)
        for t, _ in sales:
            if (i := slot(t)) is not None:
                buyers[i] += 1
    rows = [
        _row(s, buying_units(per[i], cfg), buyers[i] if buyers is not None else None, any_height, any_path)
        for i, s in enumerate(starts)
    ]
    total_buyers = sum(buyers) if buyers is not None else None
    return rows, _row(since, total, total_buyers, any_height, any_path)
