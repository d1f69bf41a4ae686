"""What storelens does with intent and shelf signals: promotions, staff alerts, forecast-anomaly
alerts and inventory alerts, with their endpoints (log, webhook, MQTT) and rate limits.

Action payloads carry no personal data; the rules here only say when to act and where to send.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from storelens.config.base import Identifier, StrictModel
from storelens.config.cameras import ZoneKind
from storelens.config.intent import IntentStateName

ActionEndpointKind = Literal["log", "webhook", "mqtt"]


def _needs_target(endpoint: str, target: str | None, what: str) -> None:
    if endpoint in ("webhook", "mqtt") and not target:
        raise ValueError(f"{what}: endpoint {endpoint!r} needs a target (URL or MQTT topic)")
    if endpoint == "webhook" and target and not target.startswith(("http://", "https://")):
        raise ValueError(f"{what}: webhook target must be an http(s) URL, got {target!r}")


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ALL_WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class QuietHoursConfig(StrictModel):
    """A daily window (store local time) with no promotions; ``end`` before ``start`` wraps midnight."""

    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, store local time")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, store local time")
    days: list[Weekday] = Field(
        default_factory=lambda: list(ALL_WEEKDAYS),
        min_length=1,
        description="Days the window starts on",
    )

    @model_validator(mode="after")
    def _non_empty(self) -> QuietHoursConfig:
        if self.start == self.end:
            raise ValueError("quiet hours start and end must differ")
        return self


class PromotionRuleConfig(StrictModel):
    """When a visit has been in ``state`` (in ``category``) for ``min_state_s``, show ``content`` on
    ``display``. The payload sent to the display has no personal data: rule, display, category."""

    id: Identifier
    state: IntentStateName = Field(default=IntentStateName.CONSIDERING, description="Intent state to act on")
    category: str | None = Field(default=None, max_length=128, description="Category; empty = any")
    min_state_s: float = Field(default=30.0, ge=0, le=3600, description="Seconds in the state first")
    display: Identifier = Field(description="Signage display id")
    endpoint: ActionEndpointKind = Field(default="log", description="log, webhook or mqtt")
    target: str | None = Field(default=None, max_length=512, description="Webhook URL or MQTT topic")
    content: str | None = Field(default=None, max_length=128, description="Creative / campaign id to show")

    @model_validator(mode="after")
    def _target(self) -> PromotionRuleConfig:
        _needs_target(self.endpoint, self.target, f"promotion rule {self.id!r}")
        return self


class PromotionsConfig(StrictModel):
    enabled: bool = True
    rules: list[PromotionRuleConfig] = Field(default_factory=list)
    max_per_visit: int = Field(default=1, ge=0, le=100, description="Promotions one visit can trigger")
    display_cooldown_s: float = Field(default=60.0, ge=0, le=86400, description="Quiet gap per display")
    max_per_display_per_hour: int = Field(default=30, ge=0, le=3600, description="Cap per display and hour")
    quiet_hours: list[QuietHoursConfig] = Field(default_factory=list, description="No promotions in these")
    holdout_share: float = Field(
        default=0.0,
        ge=0.0,
        le=0.9,
        description=(
            "Share of triggers held out at random (recorded, not shown) so GET /kpis/experiments can "
            "measure the uplift against them; 0 runs no experiment"
        ),
    )


class AlertRuleConfig(StrictModel):
    """Raise a staff alert when a visit enters ``state`` (and has held it ``min_state_s``)."""

    id: Identifier
    state: IntentStateName = Field(default=IntentStateName.NEEDS_ASSISTANCE)
    min_state_s: float = Field(default=0.0, ge=0, le=3600, description="Seconds in the state first")
    zone_kinds: list[ZoneKind] = Field(default_factory=list, description="Only in these zone kinds; empty = any")
    severity: Literal["info", "warning", "urgent"] = "warning"
    endpoint: ActionEndpointKind = Field(default="log", description="log, webhook or mqtt")
    target: str | None = Field(default=None, max_length=512, description="Webhook URL or MQTT topic")

    @model_validator(mode="after")
    def _target(self) -> AlertRuleConfig:
        _needs_target(self.endpoint, self.target, f"alert rule {self.id!r}")
        return self


def _default_alert_rules() -> list[AlertRuleConfig]:
    return [AlertRuleConfig(id="assist", state=IntentStateName.NEEDS_ASSISTANCE)]


ForecastMetric = Literal["entries", "conversion"]


def _all_forecast_metrics() -> list[ForecastMetric]:
    return ["entries", "conversion"]


class ForecastAnomalyConfig(StrictModel):
    """Staff alerts when an hour's traffic or conversion leaves the forecast band (issue 20)."""

    enabled: bool = True
    alpha: float = Field(
        default=0.001,
        gt=0,
        le=0.2,
        description="Per-hour false-alarm rate of the band (docs/KPIS.md: alarms per 1,000 normal hours)",
    )
    k: int = Field(default=4, ge=1, le=12, description="Weeks averaged by the seasonal-mean forecast")
    history_weeks: int = Field(default=8, ge=3, le=104, description="Stored weeks the band is fitted on")
    metrics: list[ForecastMetric] = Field(default_factory=_all_forecast_metrics)
    conversion_window_h: int = Field(
        default=3,
        ge=1,
        le=24,
        description="Conversion is judged over the last this many hours (one hour's buyers are too few to tell)",
    )
    severity: Literal["info", "warning", "urgent"] = "warning"


class AlertsConfig(StrictModel):
    enabled: bool = True
    rules: list[AlertRuleConfig] = Field(default_factory=_default_alert_rules)
    cooldown_visit_s: float = Field(default=300.0, ge=0, le=86400, description="No new alert for a visit")
    cooldown_zone_s: float = Field(default=120.0, ge=0, le=86400, description="No new alert in a zone")
    escalate_after_min: float = Field(
        default=3.0, ge=0, le=1440, description="Escalate if not acknowledged after this (0 = never)"
    )
    close_on_leave: bool = Field(default=True, description="Close the alert when the shopper leaves")
    forecast_anomaly: ForecastAnomalyConfig = Field(default_factory=ForecastAnomalyConfig)


class InventoryActionsConfig(StrictModel):
    """Shelf alerts from interaction signals (picks, returns, reaches) per shelf and time window."""

    enabled: bool = True
    window_min: float = Field(default=30.0, gt=0, le=1440, description="Counting window per shelf")
    picks_alert: int = Field(default=25, ge=1, le=100000, description="Picks in the window: replenish")
    returns_alert: int = Field(default=6, ge=1, le=100000, description="Returns in the window: check shelf")
    reaches_without_pick: int = Field(
        default=8, ge=1, le=100000, description="Reaches in a row with no pick: shelf may be empty"
    )
    cooldown_min: float = Field(default=30.0, ge=0, le=1440, description="Per shelf and reason")
    forward_interaction_alerts: bool = Field(
        default=True, description="Deliver inventory.alert events from the interaction stage too"
    )
    endpoint: ActionEndpointKind = Field(default="log", description="log, webhook or mqtt")
    target: str | None = Field(default=None, max_length=512, description="Webhook URL or MQTT topic")

    @model_validator(mode="after")
    def _target(self) -> InventoryActionsConfig:
        _needs_target(self.endpoint, self.target, "actions.inventory")
        return self


class ActionsConfig(StrictModel):
    """What storelens does with intent: promotions, staff alerts, inventory alerts."""

    enabled: bool = True
    dry_run: bool = Field(default=False, description="Record every action as an event but send nothing")
    promotions: PromotionsConfig = Field(default_factory=PromotionsConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    inventory: InventoryActionsConfig = Field(default_factory=InventoryActionsConfig)

    @model_validator(mode="after")
    def _unique_rules(self) -> ActionsConfig:
        _unique([r.id for r in self.promotions.rules], "promotion rule")
        _unique([r.id for r in self.alerts.rules], "alert rule")
        return self


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for n, i in enumerate(ids):
        if i in seen:
            raise ValueError(f"{what}[{n}].id: duplicate id {i!r}")
        seen.add(i)
