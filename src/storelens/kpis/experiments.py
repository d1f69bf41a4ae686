"""Promotion experiments: uplift of the treated triggers over the randomised hold-out.

Each ``promotion.triggered`` carries its arm (``holdout: true`` = recorded, not shown; drawn at
random at trigger time, :mod:`storelens.actions.promotions`). A trigger carries no visit id (its
payload goes to signage hardware), so its outcome is read from the promoted category's zones
(zones whose ``category`` matches the trigger's) in the ``window_s`` after it:

* converted: any product pick in those zones in the window (a proportion per arm);
* dwell: the seconds of zone stays ending in those zones in the window (a mean per arm).

Because the arm is random, anything else going on in the zone lands in both arms alike: it dilutes
the measured uplift towards 0 but cannot fake one. Uplift = treated - hold-out, with a Newcombe
interval (proportions) or a Welch interval (means); "significant" only when the interval excludes
0, otherwise "not significant yet" with the sample size per arm needed to detect ``mde``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from storelens.config.store import StoreConfig
from storelens.events.models import EventType
from storelens.kpis.stats import n_per_arm_means, n_per_arm_proportions, newcombe_diff, welch_diff, wilson
from storelens.storage.database import Database
from storelens.storage.models import EVENTS


@dataclass(frozen=True, slots=True)
class Trigger:
    rule: str
    ts: datetime
    holdout: bool
    converted: bool
    dwell_s: float


@dataclass(slots=True)
class ArmStats:
    n: int
    converted: int
    conversion: float | None
    conversion_low: float | None
    conversion_high: float | None
    mean_dwell_s: float | None


@dataclass(slots=True)
class Uplift:
    rule: str
    treated: ArmStats
    holdout: ArmStats
    conversion_uplift: float | None
    conversion_low: float | None
    conversion_high: float | None
    conversion_verdict: str
    conversion_n_per_arm_needed: int | None
    dwell_uplift_s: float | None
    dwell_low_s: float | None
    dwell_high_s: float | None
    dwell_verdict: str
    dwell_n_per_arm_needed: int | None
    notes: dict[str, str] = field(default_factory=dict)


def _arm(ts: Sequence[Trigger], confidence: float) -> ArmStats:
    n = len(ts)
    k = sum(t.converted for t in ts)
    if n == 0:
        return ArmStats(0, 0, None, None, None, None)
    lo, hi = wilson(k, n, confidence)
    return ArmStats(n, k, k / n, lo, hi, sum(t.dwell_s for t in ts) / n)


def _verdict(lo: float, hi: float) -> str:
    if lo > 0:
        return "significant: treated higher"
    if hi < 0:
        return "significant: treated lower"
    return "not significant yet"


def uplift(
    rule: str,
    triggers: Sequence[Trigger],
    *,
    confidence: float = 0.95,
    power: float = 0.8,
    mde_conversion: float = 0.05,
    mde_dwell_s: float = 10.0,
) -> Uplift:
    """Pure: one rule's uplift from its triggers (both arms)."""
    treated = [t for t in triggers if not t.holdout]
    held = [t for t in triggers if t.holdout]
    a, b = _arm(treated, confidence), _arm(held, confidence)
    notes: dict[str, str] = {}
    out = Uplift(rule, a, b, None, None, None, "not measured", None, None, None, None, "not measured", None, notes)
    if not held:
        notes["uplift"] = "not measured: no hold-out triggers (set actions.promotions.holdout_share above 0)"
        return out
    if not treated:
        notes["uplift"] = "not measured: no treated triggers in this period"
        return out
    assert a.conversion is not None and b.conversion is not None
    out.conversion_uplift = a.conversion - b.conversion
    out.conversion_low, out.conversion_high = newcombe_diff(a.converted, a.n, b.converted, b.n, confidence)
    out.conversion_verdict = _verdict(out.conversion_low, out.conversion_high)
    out.conversion_n_per_arm_needed = n_per_arm_proportions(b.conversion, mde_conversion, confidence, power)
    if len(treated) >= 2 and len(held) >= 2:
        d = welch_diff([t.dwell_s for t in treated], [t.dwell_s for t in held], confidence)
        out.dwell_uplift_s, out.dwell_low_s, out.dwell_high_s = d.diff, d.low, d.high
        out.dwell_verdict = _verdict(d.low, d.high)
        pooled = [t.dwell_s for t in triggers]
        m = sum(pooled) / len(pooled)
        sd = math.sqrt(sum((x - m) ** 2 for x in pooled) / (len(pooled) - 1))
        out.dwell_n_per_arm_needed = n_per_arm_means(sd, mde_dwell_s, confidence, power)
    else:
        notes["dwell"] = "not measured: each arm needs at least 2 triggers"
    return out


# ----------------------------------------------------------------------------------- loading


def _num(p: dict[str, Any], key: str) -> float | None:
    v = p.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
        return None
    return float(v)


def load_triggers(
    db: Database,
    store: StoreConfig,
    since: datetime,
    until: datetime,
    *,
    window_s: float = 300.0,
    rule: str | None = None,
) -> tuple[dict[str, list[Trigger]], int]:
    """Triggers per rule in [since, until) with their outcome; also how many were skipped because
    their category has no zone (nothing to measure them by)."""
    cat_zones: dict[str, set[str]] = {}
    for zone in store.zones:
        if zone.category:
            cat_zones.setdefault(zone.category.casefold(), set()).add(zone.id)
    c = EVENTS.c
    window = timedelta(seconds=window_s)
    with db.engine.connect() as conn:
        trig_rows = conn.execute(
            sa.select(c.ts, c.payload)
            .where(
                c.store_id == store.store_id,
                c.type == EventType.PROMOTION_TRIGGERED.value,
                c.ts >= since,
                c.ts < until,
            )
            .order_by(c.ts, c.id)
        ).all()
        zones = sorted(set().union(*cat_zones.values())) if cat_zones else []
        outcome_rows = (
            conn.execute(
                sa.select(c.type, c.ts, c.zone_id, c.payload)
                .where(
                    c.store_id == store.store_id,
                    c.type.in_([EventType.PRODUCT_PICKED.value, EventType.ZONE_EXITED.value]),
                    c.zone_id.in_(zones),
                    c.ts >= since,
                    c.ts < until + window,
                )
                .order_by(c.ts, c.id)
            ).all()
            if zones
            else []
        )
    picks: dict[str, list[datetime]] = {}
    stays: dict[str, list[tuple[datetime, float]]] = {}
    for r in outcome_rows:
        p: dict[str, Any] = r.payload or {}
        if p.get("staff") is True:
            continue
        if r.type == EventType.PRODUCT_PICKED.value:
            picks.setdefault(r.zone_id, []).append(r.ts)
        else:
            d = _num(p, "dwell_s")
            if d is not None:
                stays.setdefault(r.zone_id, []).append((r.ts, d))
    out: dict[str, list[Trigger]] = {}
    skipped = 0
    for r in trig_rows:
        p = r.payload or {}
        rid = str(p.get("rule") or "unknown")
        if rule is not None and rid != rule:
            continue
        cat = p.get("category")
        zs = cat_zones.get(cat.casefold(), set()) if isinstance(cat, str) else set()
        if not zs:
            skipped += 1
            continue
        t0, t1 = r.ts, r.ts + window
        converted = False
        dwell = 0.0
        for zid in zs:
            pk = picks.get(zid, [])
            i = bisect.bisect_left(pk, t0)
            converted = converted or (i < len(pk) and pk[i] < t1)
            dwell += sum(d for t, d in stays.get(zid, []) if t0 <= t < t1)
        out.setdefault(rid, []).append(Trigger(rid, r.ts, p.get("holdout") is True, converted, dwell))
    return out, skipped


# ----------------------------------------------------------------------- layout change vs control


@dataclass(slots=True)
class LayoutChange:
    """Before/after a layout change in ``zone``, against ``control`` (difference in differences).

    A zone's visits move with the weather, the season and promotions elsewhere; a control zone (or
    the store) the change did not touch moves with them, so ``effect`` is the change of the daily
    difference zone - control, after minus before, with Welch's interval over the days."""

    zone: str
    control: str
    change_at: datetime
    days_before: int
    days_after: int
    zone_before: float | None
    zone_after: float | None
    control_before: float | None
    control_after: float | None
    effect: float | None
    """Visits per day the change added to the zone (beyond what the control moved)."""
    effect_low: float | None
    effect_high: float | None
    relative: float | None
    """effect / the zone's daily mean before."""
    verdict: str
    notes: dict[str, str] = field(default_factory=dict)


def layout_change(
    zone: str,
    control: str,
    change_at: datetime,
    days: Sequence[tuple[datetime, int, int]],
    confidence: float = 0.95,
) -> LayoutChange:
    """Pure: ``days`` = (day start, zone visits, control visits); days from ``change_at`` on are
    "after" (the day of the change should be left out by the caller when it is partial)."""
    before = [(z, c) for d, z, c in days if d < change_at]
    after = [(z, c) for d, z, c in days if d >= change_at]

    def mean(xs: Sequence[float]) -> float | None:
        return sum(xs) / len(xs) if xs else None

    out = LayoutChange(
        zone,
        control,
        change_at,
        len(before),
        len(after),
        mean([z for z, _ in before]),
        mean([z for z, _ in after]),
        mean([c for _, c in before]),
        mean([c for _, c in after]),
        None,
        None,
        None,
        None,
        "not measured",
    )
    if len(before) < 2 or len(after) < 2:
        out.notes["effect"] = "not measured: needs at least 2 days before and 2 after the change"
        return out
    d = welch_diff([float(z - c) for z, c in after], [float(z - c) for z, c in before], confidence)
    out.effect, out.effect_low, out.effect_high = d.diff, d.low, d.high
    out.verdict = _verdict(d.low, d.high)
    if out.zone_before:
        out.relative = d.diff / out.zone_before
    return out


def load_zone_days(
    db: Database,
    store: StoreConfig,
    zones: Sequence[str],
    starts: Sequence[datetime],
    until: datetime,
    event_filter: Sequence[sa.ColumnElement[bool]] = (),
) -> list[list[int]]:
    """Distinct non-staff shoppers entering each zone per bucket: ``out[bucket][zone index]``."""
    c = EVENTS.c
    q = sa.select(c.ts, c.zone_id, c.subject, c.payload).where(
        c.store_id == store.store_id,
        c.type == EventType.ZONE_ENTERED.value,
        c.zone_id.in_(list(zones)),
        c.ts >= starts[0],
        c.ts < until,
        *event_filter,
    )
    seen: list[list[set[str]]] = [[set() for _ in zones] for _ in starts]
    index = {z: i for i, z in enumerate(zones)}
    with db.engine.connect() as conn:
        for r in conn.execute(q):
            if (r.payload or {}).get("staff") is True or not r.subject:
                continue
            b = bisect.bisect_right(starts, r.ts) - 1
            if b >= 0:
                seen[b][index[r.zone_id]].add(r.subject)
    return [[len(s) for s in row] for row in seen]
