"""``/kpis``: funnel, buying units, queue service levels, footfall forecast, staffing plan and
promotion experiments (issue 20).

All of them read stored rows only (:mod:`storelens.kpis`), so the edge and ``storelens central`` give
the same answers. They mix every camera of the store (entries, POS, store-wide traffic), so the
route table marks them ``whole_store``: a principal limited to some cameras gets 403, one that may
not see the store 404; the view is still asked (store check, access terms on every query) so a
later change of that decision cannot widen what a principal sees. ``store``, when given, must be
the served store (404 otherwise, as for an unknown store).
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel

from storelens.analytics.queues import queue_pairs
from storelens.kpis import experiments as kx
from storelens.kpis import forecast as kf
from storelens.kpis.anomaly_watch import hourly_series
from storelens.kpis.buckets import bucket_starts, floor_local, next_start
from storelens.kpis.funnel import (
    compute_funnel,
    compute_zone_funnel,
    funnel_total,
    load_funnel_inputs,
    load_zone_purchases,
)
from storelens.kpis.pos import store_timezone
from storelens.kpis.queues import load_queue_moves, queue_joins, queue_rows
from storelens.kpis.units import GroupingConfig
from storelens.kpis.units_store import compute_units, load_people
from storelens.output.export import media_type
from storelens.service.deps import Deps, time_range
from storelens.service.schemas.common import ERROR_RESPONSES
from storelens.service.schemas.kpis import (
    AnomalyHourOut,
    ArmOut,
    BacktestOut,
    ExperimentOut,
    ExperimentsOut,
    ForecastHourOut,
    ForecastOut,
    FunnelOut,
    FunnelRowOut,
    LayoutChangeOut,
    LayoutDayOut,
    QueueOut,
    QueueRowOut,
    QueuesOut,
    StaffHourOut,
    StaffingOut,
    UnitsOut,
    UnitsRowOut,
    ZoneFunnelOut,
)
from storelens.service.scope import ScopeView, View
from storelens.storage.models import EVENTS, VISITS
from storelens.storage.serialize import json_dumps

router = APIRouter(prefix="/kpis", tags=["kpis"], responses=ERROR_RESPONSES)

MAX_RANGE = {"hour": timedelta(days=31), "day": timedelta(days=400), "week": timedelta(days=800)}
MAX_HISTORY = timedelta(days=7 * 26)
DEFAULT_SLA_WAIT_S = 180.0  # "served within 3 minutes", the usual retail till target
# far from datetime's limits: a range, a default 'from' and the forecast week after 'to' all fit
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {}, "application/vnd.apache.parquet": {}},
        "description": "JSON, or a table: CSV with format=csv, Parquet with format=parquet",
    }
}
Format = Literal["json", "csv", "parquet"]
TABLE = ("csv", "parquet")
_Row = TypeVar("_Row", bound=BaseModel)

STORE = Query(None, max_length=64, description="Store id; must be the store this service serves")
FROM = Query(None, alias="from", description="Range start (ISO 8601)")
TO = Query(None, alias="to", description="Range end, exclusive (ISO 8601)")


def _store(view: View, store: str | None) -> None:
    view.require_store()
    if store is not None and store != view.store.store_id:
        raise HTTPException(404, detail=f"unknown store {store!r}")


def _range(
    since: datetime | None, until: datetime | None, longest: timedelta, default: timedelta
) -> tuple[datetime, datetime]:
    s, u = time_range(since, until)
    for d in (s, u):
        if d is not None and not EARLIEST <= d <= LATEST:
            raise HTTPException(422, detail="'from' and 'to' must lie between 1970 and 9000")
    u = u if u is not None else datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    s = s if s is not None else u - default
    if u <= s:
        raise HTTPException(422, detail="'to' must be after 'from'")
    if u - s > longest:
        raise HTTPException(422, detail=f"range too long (max {longest.days} days)")
    return s, u


def _csv(rows: list[dict[str, Any]], name: str, fmt: str = "csv") -> Response:
    """The rows as CSV or Parquet (one flat table: nested values as JSON text, like /exports)."""
    flat = [{k: (json_dumps(v) if isinstance(v, dict | list) else v) for k, v in r.items()} for r in rows]
    if fmt == "parquet":
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(flat), buf)
        pname = name.rsplit(".", 1)[0] + ".parquet"
        return Response(
            buf.getvalue(),
            media_type=media_type("parquet"),
            headers={"Content-Disposition": f'attachment; filename="{pname}"'},
        )
    text = io.StringIO()
    if flat:
        w = csv.DictWriter(text, fieldnames=list(flat[0]), extrasaction="ignore")
        w.writeheader()
        for r in flat:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return Response(
        text.getvalue(), media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _flat(m: BaseModel) -> dict[str, Any]:
    d = m.model_dump(mode="json")
    notes = d.pop("notes", None) or {}
    d["notes"] = "; ".join(f"{k}: {v}" for k, v in notes.items())
    return d


def _bucket_out(model: type[_Row], r: Any) -> _Row:
    """A computed bucket row (a dataclass with ``bucket_start``) as its API row (``start``)."""
    d = asdict(r)
    d["start"] = d.pop("bucket_start")
    return model(**d)


def _filters(view: View) -> tuple[list[sa.ColumnElement[bool]], list[sa.ColumnElement[bool]]]:
    return view.sql_filter(EVENTS.c.camera_id, EVENTS.c.zone_id), view.sql_filter(VISITS.c.camera_id, None)


@router.get("/funnel", response_model=FunnelOut, responses=CSV_RESPONSE, summary="Passers-by to buyers")
def funnel(
    deps: Deps,
    view: ScopeView,
    store: str | None = STORE,
    since: datetime | None = FROM,
    until: datetime | None = TO,
    granularity: Literal["hour", "day", "week"] = Query("day", description="Store-local hours, days or weeks"),
    engaged_dwell_s: float = Query(20.0, ge=0, le=3600, description="Stay in a product zone that counts as engaged"),
    format: Format = Query("json"),
) -> FunnelOut | Response:
    """Per bucket and in total: passers-by, entries, engaged, buyers, sales and their rates, and the
    per-zone attraction and holding over the whole range. A missing input is null with a reason."""
    _store(view, store)
    s, u = _range(since, until, MAX_RANGE[granularity], timedelta(days=7))
    tz = store_timezone(deps.store.timezone)
    ev_f, vi_f = _filters(view)
    stored = load_funnel_inputs(
        deps.db, deps.store, s, u, engaged_dwell_s=engaged_dwell_s, event_filter=ev_f, visit_filter=vi_f
    )
    rows = compute_funnel(stored.inputs, s, u, tz, granularity)
    total = funnel_total(stored.inputs, s, u)
    kinds = {z.id: str(z.kind) for z in deps.store.zones}
    purchases, why = load_zone_purchases(deps.db, deps.store, s, u)
    zones = compute_zone_funnel(
        stored.zone_stays,
        kinds,
        total.entries,
        engaged_dwell_s,
        zone_categories={z.id: z.category for z in deps.store.zones},
        purchases=purchases,
        conversion_note=why,
    )
    out = FunnelOut(
        store_id=deps.store.store_id,
        timezone=deps.store.timezone,
        granularity=granularity,
        engaged_dwell_s=engaged_dwell_s,
        entries_source=stored.inputs.entries_source,
        rows=[_bucket_out(FunnelRowOut, r) for r in rows],
        totals=_bucket_out(FunnelRowOut, total),
        zones=[ZoneFunnelOut(**asdict(z)) for z in zones],
    )
    if format in TABLE:
        return _csv([_flat(r) for r in out.rows], f"{deps.store.store_id}-funnel.csv", format)
    return out


# ----------------------------------------------------------------------------------- forecast


def _hourly_entries(deps: Deps, view: View, s: datetime, u: datetime) -> tuple[datetime, np.ndarray]:
    """Entries per UTC hour of [s, u), trimmed at the front to whole weeks (:func:`hourly_series`)."""
    ev_f, vi_f = _filters(view)
    s0, y, _ = hourly_series(deps.db, deps.store, s, u, event_filter=ev_f, visit_filter=vi_f)
    return s0, y


def _forecast(
    deps: Deps, view: View, since: datetime | None, until: datetime | None, k: int, alpha: float
) -> ForecastOut:
    s, u = _range(since, until, MAX_HISTORY, timedelta(weeks=8))
    s0, y = _hourly_entries(deps, view, s, u)
    u0 = s0 + timedelta(hours=len(y))
    out = ForecastOut(
        store_id=deps.store.store_id,
        history_from=s0,
        history_to=u0,
        history_hours=len(y),
        method=None,
        alpha=alpha,
        backtest=[],
        hours=[],
        anomalies=[],
    )
    if len(y) < kf.WEEK:
        out.notes["forecast"] = "not measured: needs at least one full week of stored history"
        return out
    if not y.any():
        out.notes["forecast"] = "not measured: no entries stored in the history"
        return out
    try:
        out.backtest = [BacktestOut(**asdict(b)) for b in kf.score(y, k)]
    except ValueError:
        out.notes["backtest"] = "not measured: a backtest needs at least two full weeks of history"
    method = kf.best_method(y, k)
    out.method = method
    fc = kf.forecast_week(y, method, k)
    low: list[float | None] = [None] * kf.WEEK
    high: list[float | None] = [None] * kf.WEEK
    if len(y) >= 2 * kf.WEEK:
        f_bt, a_bt = kf.backtest(y, method, k, 1)
        b = kf.band(fc, kf.residual_scale(f_bt, a_bt), alpha)
        low, high = [float(x) for x in b.low], [float(x) for x in b.high]
    else:
        out.notes["band"] = "not measured: the band needs two full weeks of history"
    out.hours = [
        ForecastHourOut(start=u0 + timedelta(hours=i), forecast=round(float(fc[i]), 3), low=low[i], high=high[i])
        for i in range(kf.WEEK)
    ]
    if len(y) >= 3 * kf.WEEK:
        flags, band = kf.anomalies(y, k, alpha)
        last0 = u0 - timedelta(hours=kf.WEEK)
        tail = y[-kf.WEEK :]
        out.anomalies = [
            AnomalyHourOut(
                start=last0 + timedelta(hours=int(i)),
                observed=int(tail[i]),
                forecast=round(float(band.forecast[i]), 3),
                low=float(band.low[i]),
                high=float(band.high[i]),
            )
            for i in np.flatnonzero(flags)
        ]
    else:
        out.notes["anomalies"] = "not measured: anomaly flags need three full weeks of history"
    return out


K = Query(4, ge=1, le=12, description="Weeks averaged by the seasonal mean")
ALPHA = Query(0.01, gt=0, le=0.2, description="Per-hour false-alarm rate of the anomaly band")


@router.get("/forecast", response_model=ForecastOut, responses=CSV_RESPONSE, summary="Footfall forecast, next 7 days")
def forecast(
    deps: Deps,
    view: ScopeView,
    store: str | None = STORE,
    since: datetime | None = Query(None, alias="from", description="History start (default: 8 weeks before 'to')"),
    until: datetime | None = Query(None, alias="to", description="History end = forecast start (default: this hour)"),
    k: int = K,
    alpha: float = ALPHA,
    format: Format = Query("json"),
) -> ForecastOut | Response:
    """Entries per hour for the 168 hours after ``to``, the backtest of each method against
    seasonal-naive, the band, and the hours of the last history week outside it."""
    _store(view, store)
    out = _forecast(deps, view, since, until, k, alpha)
    if format in TABLE:
        return _csv([h.model_dump(mode="json") for h in out.hours], f"{deps.store.store_id}-forecast.csv", format)
    return out


@router.get("/staffing", response_model=StaffingOut, responses=CSV_RESPONSE, summary="Staff per hour, next 7 days")
def staffing(
    deps: Deps,
    view: ScopeView,
    shoppers_per_staff: float = Query(gt=0, le=1000, description="Target shoppers in the store per staff member"),
    store: str | None = STORE,
    since: datetime | None = Query(None, alias="from", description="History start (default: 8 weeks before 'to')"),
    until: datetime | None = Query(None, alias="to", description="History end = plan start (default: this hour)"),
    min_staff: int = Query(1, ge=0, le=1000, description="Staff in any hour with expected traffic"),
    mean_visit_s: float | None = Query(None, gt=0, le=86400, description="Default: mean stored visit length"),
    k: int = K,
    format: Format = Query("json"),
) -> StaffingOut | Response:
    """From the forecast: shoppers present = entries x mean visit length (Little's law); staff =
    ceil(present / target), at least ``min_staff`` when traffic is expected."""
    _store(view, store)
    fc = _forecast(deps, view, since, until, k, 0.01)
    source: str | None = "query" if mean_visit_s is not None else None
    if mean_visit_s is None:
        mean_visit_s = _mean_visit_s(deps, view, fc.history_from, fc.history_to)
        source = "stored visits" if mean_visit_s is not None else None
    out = StaffingOut(
        store_id=deps.store.store_id,
        method=fc.method,
        shoppers_per_staff=shoppers_per_staff,
        mean_visit_s=mean_visit_s,
        mean_visit_source=source,
        hours=[],
        staff_hours=0,
        notes=dict(fc.notes),
    )
    if mean_visit_s is None:
        out.notes["staff"] = "not measured: no ended visits stored; pass mean_visit_s"
    elif fc.hours:
        entries = [h.forecast for h in fc.hours]
        staff = kf.staff_needed(entries, mean_visit_s, shoppers_per_staff, min_staff)
        out.hours = [
            StaffHourOut(
                start=h.start,
                forecast_entries=h.forecast,
                shoppers_present=round(h.forecast * mean_visit_s / 3600, 3),
                staff=n,
            )
            for h, n in zip(fc.hours, staff, strict=True)
        ]
        out.staff_hours = sum(staff)
    if format in TABLE:
        return _csv([h.model_dump(mode="json") for h in out.hours], f"{deps.store.store_id}-staffing.csv", format)
    return out


def _mean_visit_s(deps: Deps, view: View, s: datetime, u: datetime) -> float | None:
    v = VISITS.c
    stmt = sa.select(v.started_at, v.ended_at).where(
        v.store_id == deps.store.store_id,
        v.started_at >= s,
        v.started_at < u,
        v.ended_at.is_not(None),
        v.is_staff == sa.false(),
        *view.sql_filter(v.camera_id, None),
    )
    with deps.db.engine.connect() as conn:
        pairs: list[tuple[datetime, datetime | None]] = [(r[0], r[1]) for r in conn.execute(stmt)]
    d = [(e - b).total_seconds() for b, e in pairs if e is not None and e > b]
    return sum(d) / len(d) if d else None


# ----------------------------------------------------------------------------------- experiments


@router.get("/experiments", response_model=ExperimentsOut, responses=CSV_RESPONSE, summary="Promotion uplift")
def experiments(
    deps: Deps,
    view: ScopeView,
    store: str | None = STORE,
    since: datetime | None = FROM,
    until: datetime | None = TO,
    rule: str | None = Query(None, max_length=64, description="Only this promotion rule"),
    window_s: float = Query(300.0, ge=10, le=3600, description="Outcome window after each trigger"),
    confidence: float = Query(0.95, ge=0.5, le=0.999),
    mde_conversion: float = Query(0.05, gt=0, le=1, description="Smallest conversion change worth detecting"),
    mde_dwell_s: float = Query(10.0, gt=0, le=3600, description="Smallest dwell change worth detecting"),
    format: Format = Query("json"),
) -> ExperimentsOut | Response:
    """Treated vs hold-out per promotion rule: conversion (a pick in the promoted category's zones
    within the window) and dwell there, with intervals, a verdict and the sample size needed."""
    _store(view, store)
    s, u = _range(since, until, timedelta(days=400), timedelta(days=28))
    by_rule, skipped = kx.load_triggers(deps.db, deps.store, s, u, window_s=window_s, rule=rule)
    items: list[ExperimentOut] = []
    for rid in sorted(by_rule):
        up = kx.uplift(rid, by_rule[rid], confidence=confidence, mde_conversion=mde_conversion, mde_dwell_s=mde_dwell_s)
        d = asdict(up)
        d["treated"], d["holdout"] = ArmOut(**d["treated"]), ArmOut(**d["holdout"])
        items.append(ExperimentOut(**d))
    out = ExperimentsOut(
        store_id=deps.store.store_id,
        window_s=window_s,
        confidence=confidence,
        skipped_no_category_zone=skipped,
        items=items,
    )
    if format in TABLE:
        flat = []
        for it in items:
            d = _flat(it)
            for arm in ("treated", "holdout"):
                for key, val in d.pop(arm).items():
                    d[f"{arm}_{key}"] = val
            flat.append(d)
        return _csv(flat, f"{deps.store.store_id}-experiments.csv", format)
    return out


@router.get(
    "/layout-change", response_model=LayoutChangeOut, responses=CSV_RESPONSE, summary="Layout change vs a control zone"
)
def layout_change(
    deps: Deps,
    view: ScopeView,
    zone: str = Query(max_length=64, description="The zone whose layout changed"),
    control: str = Query(max_length=64, description="A zone the change did not touch"),
    change_at: datetime = Query(description="When the change was made (ISO 8601); its day is left out"),
    store: str | None = STORE,
    since: datetime | None = FROM,
    until: datetime | None = TO,
    confidence: float = Query(0.95, ge=0.5, le=0.999),
    format: Format = Query("json"),
) -> LayoutChangeOut | Response:
    """Zone visits per store day before and after ``change_at``, against the control zone:
    effect = (zone - control after) - (zone - control before), Welch interval over the days."""
    _store(view, store)
    known = {z.id for z in deps.store.zones}
    for name, z in (("zone", zone), ("control", control)):
        if z not in known:
            raise HTTPException(422, f"{name} {z!r} is not a zone of this store")
    if zone == control:
        raise HTTPException(422, "zone and control must be different zones")
    if change_at.tzinfo is None:
        raise HTTPException(422, "change_at needs a timezone (e.g. 2025-03-10T08:00:00Z)")
    s, u = _range(since, until, timedelta(days=400), timedelta(days=56))
    if not s < change_at < u:
        raise HTTPException(422, "change_at must lie inside [from, to)")
    tz = store_timezone(deps.store.timezone)
    starts = bucket_starts(s, u, tz, "day")
    ev_f, _ = _filters(view)
    counts = kx.load_zone_days(deps.db, deps.store, [zone, control], starts, u, ev_f)
    change_day = floor_local(change_at, tz, "day")
    after_start = next_start(change_day, tz, "day")
    # the day of the change is partly before and partly after: left out
    days = [(d, c[0], c[1]) for d, c in zip(starts, counts, strict=True) if d != change_day]
    r = kx.layout_change(zone, control, after_start, days, confidence)
    out = LayoutChangeOut(
        store_id=deps.store.store_id,
        confidence=confidence,
        days=[LayoutDayOut(start=d, zone_visits=a, control_visits=b, after=d >= after_start) for d, a, b in days],
        **{k: v for k, v in asdict(r).items() if k != "change_at"},
        change_at=change_at,
    )
    if format in TABLE:
        return _csv([d.model_dump(mode="json") for d in out.days], f"{deps.store.store_id}-layout-change.csv", format)
    return out


# ----------------------------------------------------------------------------------- buying units

GRANULARITY = Query("day", description="Store-local hours, days or weeks")


@router.get("/buying-units", response_model=UnitsOut, responses=CSV_RESPONSE, summary="Conversion per buying unit")
def buying_units(
    deps: Deps,
    view: ScopeView,
    store: str | None = STORE,
    since: datetime | None = FROM,
    until: datetime | None = TO,
    granularity: Literal["hour", "day", "week"] = GRANULARITY,
    entry_window_s: float = Query(10.0, ge=0, le=600, description="Entered within this of each other"),
    max_distance_m: float = Query(1.5, gt=0, le=20, description="Together = closer than this (floor metres)"),
    max_distance_px: float = Query(80.0, gt=0, le=5000, description="Same, on uncalibrated cameras (pixels)"),
    min_together_s: float = Query(30.0, ge=0, le=3600, description="Paths overlap at least this long"),
    min_together_share: float = Query(0.6, ge=0, le=1, description="Share of the overlap spent together"),
    child_max_height_m: float = Query(1.3, gt=0, le=2.5, description="Shorter than this = a child"),
    exclude_children: bool = Query(True, description="Children are not visitors for conversion"),
    format: Format = Query("json"),
) -> UnitsOut | Response:
    """People (raw visits), children, visitors and buying units per bucket, with conversion per
    person, per visitor and per unit side by side, so the effect of each correction is visible."""
    _store(view, store)
    s, u = _range(since, until, MAX_RANGE[granularity], timedelta(days=7))
    cfg = GroupingConfig(
        entry_window_s=entry_window_s,
        max_distance=max_distance_m,
        max_distance_px=max_distance_px,
        min_together_s=min_together_s,
        min_together_share=min_together_share,
        child_max_height_m=child_max_height_m,
        exclude_children=exclude_children,
    )
    ev_f, vi_f = _filters(view)
    people, sales = load_people(deps.db, deps.store, s, u, event_filter=ev_f, visit_filter=vi_f)
    rows, total = compute_units(people, sales, s, u, store_timezone(deps.store.timezone), granularity, cfg)

    settings: dict[str, float | bool] = {k: v for k, v in asdict(cfg).items() if k != "sample_s"}
    out = UnitsOut(
        store_id=deps.store.store_id,
        timezone=deps.store.timezone,
        granularity=granularity,
        settings=settings,
        rows=[_bucket_out(UnitsRowOut, r) for r in rows],
        totals=_bucket_out(UnitsRowOut, total),
    )
    if format in TABLE:
        return _csv([_flat(r) for r in out.rows], f"{deps.store.store_id}-buying-units.csv", format)
    return out


# ----------------------------------------------------------------------------------- queues


@router.get("/queues", response_model=QueuesOut, responses=CSV_RESPONSE, summary="Queue service levels")
def queues(
    deps: Deps,
    view: ScopeView,
    store: str | None = STORE,
    since: datetime | None = FROM,
    until: datetime | None = TO,
    granularity: Literal["hour", "day", "week"] = GRANULARITY,
    sla_wait_s: float | None = Query(None, gt=0, le=14400, description="Target wait (default: config, else 180)"),
    sla_share: float | None = Query(None, gt=0, le=1, description="Within target (default: config, else 0.9)"),
    format: Format = Query("json"),
) -> QueuesOut | Response:
    """Per queue (queue zone -> checkout zone): joins, served, abandoned, waits and the service
    level against the target, per bucket and in total, and its "open a register" alerts."""
    _store(view, store)
    s, u = _range(since, until, MAX_RANGE[granularity], timedelta(days=7))
    tz = store_timezone(deps.store.timezone)
    pairs = queue_pairs(deps.store.zones, deps.store.behaviour.queues)
    ev_f, _ = _filters(view)
    stored = load_queue_moves(deps.db, deps.store, pairs, s, u, event_filter=ev_f)
    items: list[QueueOut] = []
    for q in pairs:
        target = sla_wait_s if sla_wait_s is not None else (q.sla_wait_s or DEFAULT_SLA_WAIT_S)
        share = sla_share if sla_share is not None else q.sla_share
        source = "query" if sla_wait_s is not None else ("config" if q.sla_wait_s is not None else "default")
        joins = queue_joins(stored.moves, q.queue_zone, q.checkout_zone, q.max_wait_s, stored.data_end)
        rows, total = queue_rows(joins, s, u, tz, granularity, target, share)

        items.append(
            QueueOut(
                queue_zone=q.queue_zone,
                checkout_zone=q.checkout_zone,
                sla_wait_s=target,
                sla_share=share,
                target_source=source,
                alerts=stored.alerts.get(q.queue_zone, {}),
                rows=[_bucket_out(QueueRowOut, r) for r in rows],
                totals=_bucket_out(QueueRowOut, total),
            )
        )
    out = QueuesOut(store_id=deps.store.store_id, timezone=deps.store.timezone, granularity=granularity, queues=items)
    if not pairs:
        out.notes["queues"] = "not measured: no queue zone with a checkout zone configured"
    if format in TABLE:
        flat = [
            {"queue_zone": it.queue_zone, "checkout_zone": it.checkout_zone, **_flat(r)}
            for it in items
            for r in it.rows
        ]
        return _csv(flat, f"{deps.store.store_id}-queues.csv", format)
    return out
