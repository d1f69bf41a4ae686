"""Bodies of ``/kpis``: funnel, forecast, staffing and experiments (issue 20; docs/KPIS.md)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from storelens.service.schemas.common import ApiModel

NOTES_DOC = "metric -> why it is null ('not measured: ...')"


class FunnelRowOut(ApiModel):
    start: datetime = Field(description="Bucket start (UTC) of a store-local hour/day/week")
    passers_by: int | None
    entries: int
    engaged: int
    buyers: int | None
    sales: float | None
    capture_rate: float | None = Field(description="entries / passers_by")
    engagement_rate: float | None = Field(description="engaged / entries")
    conversion: float | None = Field(description="buyers / entries")
    sales_per_visitor: float | None = Field(description="sales / entries")
    notes: dict[str, str] = Field(default_factory=dict, description=NOTES_DOC)


class ZoneFunnelOut(ApiModel):
    zone_id: str
    kind: str
    visits: int = Field(description="Distinct shoppers who entered the zone")
    engaged: int = Field(description="Of them, stayed >= engaged_dwell_s or reached/picked")
    attraction: float | None = Field(description="visits / store entries")
    holding: float | None = Field(description="engaged / visits")
    buyers: int | None = Field(
        default=None, description="Engaged shoppers whose sale (till join) lists the zone's category"
    )
    conversion: float | None = Field(
        description="buyers / engaged (shoppers matched to a sale without categories left out); null without "
        "POS categories, a zone category or a checkout zone"
    )
    notes: dict[str, str] = Field(default_factory=dict, description=NOTES_DOC)


class FunnelOut(ApiModel):
    store_id: str
    timezone: str
    granularity: str
    engaged_dwell_s: float
    entries_source: str = Field(description="'entrance_line' (role: entrance lines) or 'visits' (visits started)")
    rows: list[FunnelRowOut]
    totals: FunnelRowOut
    zones: list[ZoneFunnelOut]


class BacktestOut(ApiModel):
    method: str
    weeks: int
    mae: float
    rmse: float
    mase: float | None = Field(description="MAE / seasonal-naive MAE on the same weeks; below 1 beats it")


class ForecastHourOut(ApiModel):
    start: datetime
    forecast: float
    low: float | None
    high: float | None


class AnomalyHourOut(ApiModel):
    start: datetime
    observed: int
    forecast: float
    low: float
    high: float


class ForecastOut(ApiModel):
    store_id: str
    history_from: datetime
    history_to: datetime
    history_hours: int
    method: str | None
    alpha: float
    backtest: list[BacktestOut]
    hours: list[ForecastHourOut]
    anomalies: list[AnomalyHourOut] = Field(description="Hours of the last history week outside the band")
    notes: dict[str, str] = Field(default_factory=dict, description=NOTES_DOC)


class StaffHourOut(ApiModel):
    start: datetime
    forecast_entries: float
    shoppers_present: float
    staff: int


class StaffingOut(ApiModel):
    store_id: str
    method: str | None
    shoppers_per_staff: float
    mean_visit_s: float | None
    mean_visit_source: str | None
    hours: list[StaffHourOut]
    staff_hours: int
    notes: dict[str, str] = Field(default_factory=dict, description=NOTES_DOC)


class ArmOut(ApiModel):
    n: int
    converted: int
    conversion: float | None
    conversion_low: float | None
    conversion_high: float | None
    mean_dwell_s: float | None


class ExperimentOut(ApiModel):
    rule: str
    treated: ArmOut
    holdout: ArmOut
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
    notes: dict[str, str] = Field(default_factory=dict, description=NOTES_DOC)


class ExperimentsOut(ApiModel):
    store_id: str
    window_s: float
    confidence: float
    skipped_no_category_zone: int
    items: list[ExperimentOut]


class UnitsRowOut(ApiModel):
    start: datetime = Field(description="Bucket start (UTC); a unit counts in the bucket of its first entry")
    people: int = Field(description="Non-staff visits that started (everyone, raw)")
    children: int | None = Field(description="Of them, below child_max_height_m; null: no heights stored")
    height_unknown: int = Field(description="Visits without a stored height (counted as adults)")
    visitors: int = Field(description="People counted for conversion (children out when excluded)")
    units: int = Field(description="Buying units: groups that entered and moved together")
    unit_sizes: dict[int, int] = Field(description="Visitors in a unit -> number of such units")
    buyers: int | None = Field(description="POS transactions")
    raw_conversion: float | None = Field(description="buyers / people")
    visitor_conversion: float | None = Field(description="buyers / visitors")
    unit_conversion: float | None = Field(description="buyers / units")
    people_per_unit: float | None = Field(description="visitors / units")
    notes: dict[str, str] = Field(default_factory=dict, description=NOTES_DOC)


class UnitsOut(ApiModel):
    store_id: str
    timezone: str
    granularity: str
    settings: dict[str, float | bool] = Field(description="The grouping and child-banding rule used")
    rows: list[UnitsRowOut]
    totals: UnitsRowOut


class QueueRowOut(ApiModel):
    start: datetime = Field(description="Bucket start (UTC); a join counts in the bucket it started in")
    joined: int
    served: int
    abandoned: int = Field(description="Left the queue zone before reaching the till")
    waiting: int = Field(description="Still queuing at the end of the stored data")
    served_within_target: int
    service_level: float | None = Field(description="served_within_target / served")
    target_met: bool | None = Field(description="service_level >= sla_share")
    abandonment_rate: float | None = Field(description="abandoned / (served + abandoned)")
    mean_wait_s: float | None
    median_wait_s: float | None
    p90_wait_s: float | None
    max_wait_s: float | None
    notes: dict[str, str] = Field(default_factory=dict, description=NOTES_DOC)


class QueueOut(ApiModel):
    queue_zone: str
    checkout_zone: str
    sla_wait_s: float = Field(description="Target wait")
    sla_share: float = Field(description="Share to serve within the target")
    target_source: str = Field(description="'config' (behaviour.queues) or 'query' / 'default'")
    alerts: dict[str, int] = Field(description="'open a register' alerts raised/acknowledged/escalated")
    rows: list[QueueRowOut]
    totals: QueueRowOut


class QueuesOut(ApiModel):
    store_id: str
    timezone: str
    granularity: str
    queues: list[QueueOut]
    notes: dict[str, str] = Field(default_factory=dict, description=NOTES_DOC)


class LayoutDayOut(ApiModel):
    start: datetime = Field(description="Store-local day start (UTC)")
    zone_visits: int
    control_visits: int
    after: bool = Field(description="On or after the change")


class LayoutChangeOut(ApiModel):
    store_id: str
    zone: str
    control: str
    change_at: datetime
    confidence: float
    days_before: int
    days_after: int
    zone_before: float | None = Field(description="Zone visits per day before the change")
    zone_after: float | None
    control_before: float | None
    control_after: float | None
    effect: float | None = Field(description="Visits/day added to the zone beyond the control's change (DiD)")
    effect_low: float | None
    effect_high: float | None
    relative: float | None = Field(description="effect / zone visits per day before")
    verdict: str
    days: list[LayoutDayOut]
    notes: dict[str, str] = Field(default_factory=dict, description=NOTES_DOC)
