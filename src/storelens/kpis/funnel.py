"""The store funnel: passers-by -> entries -> engaged -> buyers, per store-local hour/day/week,
and the same per zone (attraction, holding, and conversion where POS sales list their categories).

Inputs, all from storage:

* passers-by: ``line.crossed`` on lines with ``role: storefront`` (a line across the pavement or
  mall walkway in front of the store, either direction). No such line: not measured.
* entries: ``line.crossed`` inward on lines with ``role: entrance``; with no entrance line, the
  non-staff visits that started (each visit is one person entering). ``entries_source`` says which.
* engaged: distinct shoppers (track subjects) with a stay of at least ``engaged_dwell_s`` in a
  product zone (shelf, display, aisle, other) or any shelf reach / product pick, counted in the
  bucket of their first such moment. Staff-flagged stays are left out.
* buyers: POS transactions (one transaction = one buyer; buying units are not in this slice). A
  store with no POS data stored at all: not measured (an hour without sales is still 0).

Per-zone conversion: of the shoppers who engaged at a zone, the share whose sale (the till join
of :func:`storelens.kpis.pos.join_transactions_to_stays`: the sale matched to their checkout stay)
lists the zone's ``category``. A shopper counts only under the one subject (visit id) seen at the
zone and at the till, so a zone on one camera and the till on another need store-level fused visits.

Rates (``None`` with a reason when the denominator is 0 or missing): capture rate = entries /
passers-by, engagement rate = engaged / entries, conversion = buyers / entries, sales per visitor =
sales / entries.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa

from storelens.config.cameras import ZoneKind
from storelens.config.store import StoreConfig
from storelens.events.models import EventType
from storelens.kpis.buckets import Granularity, bucket_starts
from storelens.kpis.pos import category_key, checkout_stays, join_transactions_to_stays, load_transactions
from storelens.storage.database import Database
from storelens.storage.models import EVENTS, POS_TRANSACTIONS, VISITS

PRODUCT_ZONE_KINDS = frozenset({ZoneKind.SHELF, ZoneKind.DISPLAY, ZoneKind.AISLE, ZoneKind.OTHER})
INTERACTION_TYPES = (EventType.SHELF_REACH.value, EventType.PRODUCT_PICKED.value)

NO_STOREFRONT = "not measured: no line with role 'storefront' (a camera that sees the street or mall)"
NO_POS = "not measured: no POS transactions stored for this store"
NO_ENTRIES = "no entries in this period"
NO_PASSERS = "no passers-by in this period"
NO_ZONE_POS = "not measured: no POS transaction in this period lists its categories (POS column 'categories')"
NO_ZONE_CATEGORY = "not measured: the zone has no category (zones[].category)"
NO_TILL = "not measured: no checkout zone to join sales to shoppers"
NO_ZONE_ENGAGED = "nobody engaged at this zone in this period"


@dataclass(slots=True)
class FunnelInputs:
    """What the funnel counts, as times; ``None`` = the input is not measured in this store."""

    passers_by: list[datetime] | None
    entries: list[datetime]
    entries_source: str
    engaged: list[datetime]
    sales: list[tuple[datetime, float]] | None


@dataclass(slots=True)
class FunnelRow:
    bucket_start: datetime
    passers_by: int | None
    entries: int
    engaged: int
    buyers: int | None
    sales: float | None
    capture_rate: float | None
    engagement_rate: float | None
    conversion: float | None
    sales_per_visitor: float | None
    notes: dict[str, str] = field(default_factory=dict)
    """metric -> why it is None."""


def _ratio(num: float | None, den: float | None, why_num: str, why_den: str) -> tuple[float | None, str | None]:
    if num is None:
        return None, why_num
    if den is None:
        return None, why_den
    if den == 0:
        return None, why_den if why_den.startswith("not measured") else NO_ENTRIES
    return num / den, None


def compute_funnel(
    inputs: FunnelInputs, since: datetime, until: datetime, tz: tzinfo, granularity: Granularity
) -> list[FunnelRow]:
    """Pure: the funnel per bucket of [since, until)."""
    return _compute(inputs, bucket_starts(since, until, tz, granularity), since, until)


def funnel_total(inputs: FunnelInputs, since: datetime, until: datetime) -> FunnelRow:
    """Pure: [since, until) as one bucket; its rates are ratios of the sums, not means of rates."""
    return _compute(inputs, [since], since, until)[0]


def _compute(inputs: FunnelInputs, starts: list[datetime], since: datetime, until: datetime) -> list[FunnelRow]:
    if not starts:
        return []
    edges = [*starts, until]

    def slot(ts: datetime) -> int | None:
        if ts < since or ts >= until:
            return None
        lo, hi = 0, len(starts) - 1  # binary search: last start <= ts
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if edges[mid] <= ts:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def counts(times: Iterable[datetime]) -> list[int]:
        out = [0] * len(starts)
        for t in times:
            i = slot(t)
            if i is not None:
                out[i] += 1
        return out

    passers = counts(inputs.passers_by) if inputs.passers_by is not None else None
    entries = counts(inputs.entries)
    engaged = counts(inputs.engaged)
    buyers: list[int] | None = None
    sales: list[float] | None = None
    if inputs.sales is not None:
        buyers, sales = [0] * len(starts), [0.0] * len(starts)
        for t, v in inputs.sales:
            i = slot(t)
            if i is not None:
                buyers[i] += 1
                sales[i] += v
    rows: list[FunnelRow] = []
    for i, b in enumerate(starts):
        notes: dict[str, str] = {}
        p = passers[i] if passers is not None else None
        e = entries[i]
        by = buyers[i] if buyers is not None else None
        s = round(sales[i], 2) if sales is not None else None
        if p is None:
            notes["passers_by"] = NO_STOREFRONT
        if by is None:
            notes["buyers"] = notes["sales"] = NO_POS
        cap, why = _ratio(e, p, "", NO_STOREFRONT if p is None else NO_PASSERS)
        if why:
            notes["capture_rate"] = why
        eng, why = _ratio(engaged[i], e, "", NO_ENTRIES)
        if why:
            notes["engagement_rate"] = why
        conv, why = _ratio(by, e, NO_POS, NO_ENTRIES)
        if why:
            notes["conversion"] = why
        spv, why = _ratio(s, e, NO_POS, NO_ENTRIES)
        if why:
            notes["sales_per_visitor"] = why
        rows.append(FunnelRow(b, p, e, engaged[i], by, s, cap, eng, conv, spv, notes))
    return rows


# ----------------------------------------------------------------------------------- per zone


@dataclass(slots=True)
class ZoneFunnel:
    zone_id: str
    kind: str
    visits: int
    engaged: int
    attraction: float | None
    holding: float | None
    conversion: float | None
    notes: dict[str, str]
    buyers: int | None = None
    """Engaged shoppers whose sale lists the zone's category."""


@dataclass(frozen=True, slots=True)
class ZonePurchases:
    """What each shopper bought, from the till join: subject -> category keys of their sale(s).
    ``unknown``: shoppers matched to a sale that lists no categories (left out of the zone rates)."""

    bought: dict[str, frozenset[str]]
    unknown: frozenset[str] = frozenset()


def compute_zone_funnel(
    zone_stays: dict[str, dict[str, float]],
    zone_kinds: dict[str, str],
    entries: int,
    engaged_dwell_s: float,
    *,
    zone_categories: dict[str, str | None] | None = None,
    purchases: ZonePurchases | None = None,
    conversion_note: str = NO_ZONE_POS,
) -> list[ZoneFunnel]:
    """Pure. ``zone_stays``: zone -> subject -> longest stay (s, ``math.inf`` for an interaction).

    attraction = zone visitors / store entries; holding = engaged zone visitors / zone visitors;
    conversion = engaged zone visitors whose sale lists the zone's category / engaged zone visitors
    (those matched to a sale without categories left out of both), ``None`` with
    ``conversion_note`` when ``purchases`` is None."""
    out: list[ZoneFunnel] = []
    cats = zone_categories or {}
    for zone_id in sorted(set(zone_kinds) | set(zone_stays)):
        stays = zone_stays.get(zone_id, {})
        visits = len(stays)
        engaged_by = [s for s, d in stays.items() if d >= engaged_dwell_s]
        engaged = len(engaged_by)
        notes: dict[str, str] = {}
        conversion: float | None = None
        buyers: int | None = None
        category = cats.get(zone_id)
        if purchases is None:
            notes["conversion"] = conversion_note
        elif not category:
            notes["conversion"] = NO_ZONE_CATEGORY
        else:
            key = category_key(category)
            known = [s for s in engaged_by if s not in purchases.unknown]
            buyers = sum(1 for s in known if key in purchases.bought.get(s, frozenset()))
            if known:
                conversion = buyers / len(known)
            else:
                notes["conversion"] = NO_ZONE_ENGAGED
        attraction = visits / entries if entries else None
        if attraction is None:
            notes["attraction"] = NO_ENTRIES
        holding = engaged / visits if visits else None
        if holding is None:
            notes["holding"] = "no visits to this zone in this period"
        out.append(
            ZoneFunnel(
                zone_id,
                zone_kinds.get(zone_id, "unknown"),
                visits,
                engaged,
                attraction,
                holding,
                conversion,
                notes,
                buyers,
            )
        )
    return out


def load_zone_purchases(
    db: Database, store: StoreConfig, since: datetime, until: datetime, *, window_s: float = 120.0
) -> tuple[ZonePurchases | None, str]:
    """The till join over [since, until) as :class:`ZonePurchases`, or None with the reason the
    per-zone conversion is not measured (no POS sales listing categories, no checkout zone)."""
    txns = load_transactions(db, store.store_id, since, until)
    if not any(t.categories for t in txns):
        return None, NO_ZONE_POS
    kinds = {z.id: str(z.kind) for z in store.zones}
    if ZoneKind.CHECKOUT not in kinds.values():
        return None, NO_TILL
    pad = timedelta(seconds=window_s)
    stays = checkout_stays(db, store.store_id, kinds, since - pad, until + pad)
    join = join_transactions_to_stays(txns, stays, window_s=window_s)
    categories = {t.id: t.categories for t in txns}
    bought: dict[str, set[str]] = {}
    unknown: set[str] = set()
    for m in join.matches:
        if m.subject is None:
            continue
        cats = categories.get(m.transaction_id)
        if not cats:
            unknown.add(m.subject)
            continue
        bought.setdefault(m.subject, set()).update(category_key(c) for c in cats)
    return ZonePurchases({s: frozenset(c) for s, c in bought.items()}, frozenset(unknown)), ""


# ----------------------------------------------------------------------------------- loading


def _dwell(p: dict[str, Any]) -> float | None:
    d = p.get("dwell_s")
    if isinstance(d, bool) or not isinstance(d, int | float) or not math.isfinite(d) or d < 0:
        return None
    return float(d)


@dataclass(slots=True)
class StoredFunnel:
    inputs: FunnelInputs
    zone_stays: dict[str, dict[str, float]]


def load_funnel_inputs(
    db: Database,
    store: StoreConfig,
    since: datetime,
    until: datetime,
    *,
    engaged_dwell_s: float,
    event_filter: Sequence[sa.ColumnElement[bool]] = (),
    visit_filter: Sequence[sa.ColumnElement[bool]] = (),
    entries_only: bool = False,
) -> StoredFunnel:
    """Read the funnel's inputs for [since, until) from storage; the filters are the request's
    access terms on EVENTS and VISITS (:meth:`storelens.service.scope.View.sql_filter`).
    ``entries_only`` (the forecast's months of history) reads line crossings and visits only."""
    storefront = {ln.id for ln in store.lines if ln.role == "storefront"}
    entrance = {ln.id for ln in store.lines if ln.role == "entrance"}
    product_zones = {z.id for z in store.zones if z.kind in PRODUCT_ZONE_KINDS}
    c = EVENTS.c
    types = [
        EventType.LINE_CROSSED.value,
        EventType.ZONE_ENTERED.value,
        EventType.ZONE_EXITED.value,
        *INTERACTION_TYPES,
    ]
    if entries_only:
        types = [EventType.LINE_CROSSED.value]
    stmt = (
        sa.select(c.type, c.ts, c.subject, c.zone_id, c.payload)
        .where(c.store_id == store.store_id, c.type.in_(types), c.ts >= since, c.ts < until, *event_filter)
        .order_by(c.ts, c.id)
    )
    passers: list[datetime] = []
    line_entries: list[datetime] = []
    first_engaged: dict[str, datetime] = {}
    zone_stays: dict[str, dict[str, float]] = {}
    with db.engine.connect() as conn:
        for row in conn.execute(stmt):
            p: dict[str, Any] = row.payload or {}
            if p.get("staff") is True:
                continue
            if row.type == EventType.LINE_CROSSED.value:
                line = p.get("line_id")
                if line in storefront:
                    passers.append(row.ts)
                elif line in entrance and p.get("direction") == "in":
                    line_entries.append(row.ts)
                continue
            subject, zone = row.subject, row.zone_id
            if not subject:
                continue
            stay = 0.0
            if row.type == EventType.ZONE_EXITED.value:
                stay = _dwell(p) or 0.0
            elif row.type in INTERACTION_TYPES:
                stay = math.inf
            if zone:
                zs = zone_stays.setdefault(zone, {})
                zs[subject] = max(zs.get(subject, 0.0), stay)
            product = zone in product_zones if zone else row.type in INTERACTION_TYPES
            if product and stay >= engaged_dwell_s and subject not in first_engaged:
                first_engaged[subject] = row.ts
        if entrance:
            entries, source = line_entries, "entrance_line"
        else:
            v = VISITS.c
            q = sa.select(v.started_at).where(
                v.store_id == store.store_id,
                v.started_at >= since,
                v.started_at < until,
                v.is_staff == sa.false(),
                *visit_filter,
            )
            entries, source = [r[0] for r in conn.execute(q)], "visits"
        pt = POS_TRANSACTIONS.c
        has_pos = not entries_only and (
            conn.execute(sa.select(pt.id).where(pt.store_id == store.store_id).limit(1)).first() is not None
        )
        sales: list[tuple[datetime, float]] | None = None
        if has_pos:
            q2 = sa.select(pt.ts, pt.basket_value).where(pt.store_id == store.store_id, pt.ts >= since, pt.ts < until)
            sales = [(r[0], float(r[1])) for r in conn.execute(q2)]
    return StoredFunnel(
        FunnelInputs(passers if storefront else None, entries, source, sorted(first_engaged.values()), sales),
        zone_stays,
    )
