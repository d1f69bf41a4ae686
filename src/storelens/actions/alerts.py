"""Staff alerts: raise, acknowledge, escalate and close, with cooldowns, all as events.

Life of an alert::

    intent.changed (state matches a rule, held min_state_s)
        -> alert.raised       (zone, reasons, severity)       unless a cooldown blocks it
        -> alert.acknowledged (by, time_to_ack_s)              from the API / a staff device
        -> alert.escalated    (if still unacknowledged after escalate_after_min)
        -> alert.closed       (the shopper left; open_s, whether and how fast it was acknowledged)

    queue.updated (a queue with an SLA target: predicted wait over it)
        -> alert.raised       (rule queue_sla, action open_register), acknowledged and escalated
                              as above, closed when the predicted wait is back within the target

    a finished hour of entries or conversion outside its forecast band (storelens.kpis.anomaly_watch)
        -> alert.raised       (rule forecast_anomaly, action check_store), acknowledged and
                              escalated as above, closed when an hour is back inside the band

Cooldowns exist because a stuck shopper stays stuck for a while and a busy zone has many: once an
alert is raised for a visit, that visit raises nothing new for ``cooldown_visit_s``, and nothing
new is raised in the same zone for ``cooldown_zone_s`` (someone is already on the way there).

Time comes from the events (and an injectable clock for acknowledgements made through the API),
so the same code runs live, on replays and in the simulator faster than real time.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from storelens.config.actions import AlertRuleConfig, AlertsConfig
from storelens.config.behaviour import QueueConfig
from storelens.events.models import Event
from storelens.events.payloads import (
    AlertAcknowledged,
    AlertClosed,
    AlertEscalated,
    AlertRaised,
    EventPayload,
    QueueUpdated,
    intent_of,
    typed,
)

__all__ = ["FORECAST_RULE", "QUEUE_SLA_RULE", "Alert", "AlertError", "AlertManager"]

QUEUE_SLA_RULE = "queue_sla"
"""Rule id of the "open a register" alerts (:meth:`AlertManager.on_queue`)."""
FORECAST_RULE = "forecast_anomaly"
"""Rule id of the "traffic/conversion off forecast" alerts (:meth:`AlertManager.on_forecast`)."""


class AlertError(ValueError):
    """An acknowledgement that cannot apply (unknown, closed or already acknowledged alert)."""


@dataclass(slots=True)
class Alert:
    id: str
    rule: str
    subject: str
    zone_id: str | None
    state: str
    category: str | None
    reasons: list[str]
    severity: str
    raised_at: float
    endpoint: str
    target: str | None
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    escalated_at: float | None = None
    closed_at: float | None = None

    @property
    def open(self) -> bool:
        return self.closed_at is None


@dataclass(slots=True)
class _Pending:
    """A visit in a rule's state, waiting for ``min_state_s`` to pass."""

    rule: AlertRuleConfig
    since: float
    event: Event


@dataclass(slots=True)
class _VisitAlerts:
    state: str | None = None
    pending: list[_Pending] = field(default_factory=list)


class AlertManager:
    """Raises alerts from ``intent.changed`` events; ``zone_kinds`` maps zone id -> kind for rules
    limited to zone kinds; ``clock`` gives "now" for API acknowledgements without a time."""

    def __init__(
        self,
        store_id: str,
        config: AlertsConfig,
        *,
        zone_kinds: Mapping[str, str] | None = None,
        clock: Callable[[], float] | None = None,
        dry_run: bool = False,
    ) -> None:
        import time

        self.store_id = store_id
        self.config = config
        self.zone_kinds = dict(zone_kinds or {})
        self.clock = clock or time.time
        self.dry_run = dry_run
        self._alerts: dict[str, Alert] = {}
        self._visits: dict[str, _VisitAlerts] = {}
        self._visit_last: dict[str, float] = {}
        self._zone_last: dict[str, float] = {}
        self._lock = threading.Lock()
        self.suppressed = {"visit_cooldown": 0, "zone_cooldown": 0}

    # ---------------------------------------------------------------------------- inputs --
    def on_intent(self, event: Event) -> list[Event]:
        if not self.config.enabled or event.subject is None:
            return []
        intent = intent_of(event)
        state = str(intent.state)
        with self._lock:
            v = self._visits.setdefault(event.subject, _VisitAlerts())
            if v.state == state and intent.category_change:
                return []  # same state, new category: the pending clocks keep running
            v.state = state
            v.pending = [_Pending(r, event.ts.timestamp(), event) for r in self.config.rules if self._applies(r, event)]
            return self._fire_due(v, event.ts.timestamp())

    def tick(self, now: float) -> list[Event]:
        """Fire rules whose hold time has passed and escalate unacknowledged alerts."""
        out: list[Event] = []
        with self._lock:
            for v in self._visits.values():
                if v.pending:
                    out.extend(self._fire_due(v, now))
            after = self.config.escalate_after_min * 60.0
            if after > 0:
                for a in self._alerts.values():
                    if a.open and a.acknowledged_at is None and a.escalated_at is None and now - a.raised_at >= after:
                        a.escalated_at = now
                        out.append(self._event(AlertEscalated(minutes_open=round((now - a.raised_at) / 60, 2)), a, now))
        return out

    def on_ended(self, subject: str, now: float) -> list[Event]:
        """The shopper left: close their open alerts."""
        out: list[Event] = []
        with self._lock:
            self._visits.pop(subject, None)
            if not self.config.close_on_leave:
                return out
            for a in list(self._alerts.values()):
                if a.subject == subject and a.open:
                    out.append(self._close(a, now, "shopper_left"))
        return out

    def on_queue(self, event: Event, cfg: QueueConfig) -> list[Event]:
        """A ``queue.updated`` of a queue with an SLA target: raise "open a register" when a
        newcomer's predicted wait is over the target, close it once the prediction is back under.

        The alert is the queue's (subject ``queue-<zone>``), so it is acknowledged, escalated and
        cooled down like any other: after one is raised the same queue raises nothing new for
        ``cooldown_visit_s`` even if it recovers and breaches again (a register takes minutes to
        open), and an alert open in the queue's zone blocks a second one through the zone cooldown."""
        queue = typed(event, QueueUpdated)
        predicted = None if queue is None else queue.predicted_wait_s
        target = cfg.sla_wait_s
        if not self.config.enabled or target is None or queue is None or predicted is None:
            return []
        return self._keyed(
            subject=f"queue-{cfg.queue_zone}",
            zone=cfg.queue_zone,
            breach=predicted > target,
            now=event.ts.timestamp(),
            rule=QUEUE_SLA_RULE,
            state="queue_breach_predicted",
            severity=cfg.sla_severity,
            reasons=["open_register", f"predicted wait {float(predicted):.0f} s over the {target:.0f} s target"],
            recovered="queue_recovered",
            payload=AlertRaised(
                action="open_register",
                queue_zone=cfg.queue_zone,
                checkout_zone=cfg.checkout_zone,
                predicted_wait_s=round(float(predicted), 2),
                sla_wait_s=target,
                length=queue.length,
            ),
        )

    def on_forecast(
        self,
        metric: str,
        hour_start: str,
        observed: float,
        expected: float,
        low: float,
        high: float,
        now: float,
        severity: str = "warning",
    ) -> list[Event]:
        """One finished hour of ``metric`` (entries or conversion) against its forecast band:
        raise "traffic/conversion off forecast" when it is outside, close the open one once an
        hour is back inside. The alert is the metric's (subject ``forecast-<metric>``): while one
        is open a run of bad hours raises nothing more, and after one is raised the metric stays
        quiet for ``cooldown_visit_s`` (a slow afternoon is one alert, not one an hour)."""
        if not self.config.enabled:
            return []
        direction = "above" if observed > high else "below"
        unit = "" if metric == "entries" else " conversion"
        return self._keyed(
            subject=f"forecast-{metric}",
            zone=None,
            breach=observed < low or observed > high,
            now=now,
            rule=FORECAST_RULE,
            state=f"{metric}_{direction}_forecast",
            severity=severity,
            reasons=[
                "check_store",
                f"{metric}{unit} {observed:.3g} in the hour from {hour_start}, {direction} the band "
                f"[{low:.3g}, {high:.3g}] around the forecast {expected:.3g}",
            ],
            recovered="back_in_band",
            payload=AlertRaised(
                action="check_store",
                metric=metric,
                hour_start=hour_start,
                observed=round(observed, 4),
                expected=round(expected, 4),
                band_low=round(low, 4),
                band_high=round(high, 4),
            ),
        )

    def _keyed(
        self,
        *,
        subject: str,
        zone: str | None,
        breach: bool,
        now: float,
        rule: str,
        state: str,
        severity: str,
        reasons: list[str],
        recovered: str,
        payload: AlertRaised,
    ) -> list[Event]:
        """Raise or close the one alert of a non-shopper subject (a queue, a forecast metric):
        at most one open, cooldowns as for visits, closed with ``recovered`` when the breach ends."""
        with self._lock:
            current = next((a for a in self._alerts.values() if a.subject == subject and a.open), None)
            if not breach:
                return [self._close(current, now, recovered)] if current is not None else []
            if current is not None:
                return []
            last = self._visit_last.get(subject)
            if last is not None and now - last < self.config.cooldown_visit_s:
                self.suppressed["visit_cooldown"] += 1
                return []
            zlast = self._zone_last.get(zone) if zone is not None else None
            if zlast is not None and now - zlast < self.config.cooldown_zone_s:
                self.suppressed["zone_cooldown"] += 1
                return []
            a = Alert(
                id=secrets.token_hex(6),
                rule=rule,
                subject=subject,
                zone_id=zone,
                state=state,
                category=None,
                reasons=reasons,
                severity=severity,
                raised_at=now,
                endpoint="log",
                target=None,
            )
            self._alerts[a.id] = a
            self._visit_last[subject] = now
            if zone is not None:
                self._zone_last[zone] = now
            fields = payload.wire()
            return [self._event(AlertRaised(reasons=a.reasons, severity=a.severity, state=a.state, **fields), a, now)]

    def acknowledge(self, alert_id: str, by: str, now: float | None = None) -> Event:
        """A staff member took the alert. Raises :class:`AlertError` for an unknown, closed or
        already acknowledged alert (the caller, e.g. the API, turns that into a 404/409)."""
        if not by or len(by) > 64:
            raise AlertError("'by' must be 1-64 characters (a staff name or device id)")
        t = self.clock() if now is None else now
        with self._lock:
            a = self._alerts.get(alert_id)
            if a is None:
                raise AlertError(f"unknown alert {alert_id!r}")
            if a.acknowledged_at is not None:
                raise AlertError(f"alert {alert_id!r} was already acknowledged by {a.acknowledged_by}")
            if not a.open:
                raise AlertError(f"alert {alert_id!r} is closed")
            a.acknowledged_at = max(t, a.raised_at)
            a.acknowledged_by = by
            return self._event(
                AlertAcknowledged(by=by, time_to_ack_s=round(a.acknowledged_at - a.raised_at, 3)), a, a.acknowledged_at
            )

    # ----------------------------------------------------------------------------- views --
    def get(self, alert_id: str) -> Alert | None:
        return self._alerts.get(alert_id)

    def open_alerts(self) -> list[Alert]:
        with self._lock:
            return [a for a in self._alerts.values() if a.open]

    def all_alerts(self) -> list[Alert]:
        with self._lock:
            return list(self._alerts.values())

    # ------------------------------------------------------------------------- internals --
    def _applies(self, rule: AlertRuleConfig, event: Event) -> bool:
        if str(rule.state) != str(intent_of(event).state):
            return False
        if rule.zone_kinds:
            kind = self.zone_kinds.get(event.zone_id or "")
            return kind is not None and kind in {str(k) for k in rule.zone_kinds}
        return True

    def _fire_due(self, v: _VisitAlerts, now: float) -> list[Event]:
        out: list[Event] = []
        still: list[_Pending] = []
        for p in v.pending:
            if now - p.since < p.rule.min_state_s:
                still.append(p)
                continue
            ev = self._raise(p.rule, p.event, now)
            if ev is not None:
                out.append(ev)
        v.pending = still
        return out

    def _raise(self, rule: AlertRuleConfig, source: Event, now: float) -> Event | None:
        subject = source.subject or ""
        last = self._visit_last.get(subject)
        if last is not None and now - last < self.config.cooldown_visit_s:
            self.suppressed["visit_cooldown"] += 1
            return None
        zone = source.zone_id
        if zone is not None:
            zlast = self._zone_last.get(zone)
            if zlast is not None and now - zlast < self.config.cooldown_zone_s:
                self.suppressed["zone_cooldown"] += 1
                return None
        intent = intent_of(source)
        a = Alert(
            id=secrets.token_hex(6),
            rule=rule.id,
            subject=subject,
            zone_id=zone,
            state=str(intent.state),
            category=intent.category,
            reasons=list(intent.reasons or []),
            severity=rule.severity,
            raised_at=now,
            endpoint=rule.endpoint,
            target=rule.target,
        )
        self._alerts[a.id] = a
        self._visit_last[subject] = now
        if zone is not None:
            self._zone_last[zone] = now
        return self._event(AlertRaised(reasons=a.reasons, severity=a.severity, state=a.state), a, now)

    def _close(self, a: Alert, now: float, reason: str) -> Event:
        a.closed_at = now
        ack = a.acknowledged_at
        return self._event(
            AlertClosed(
                reason=reason,
                open_s=round(now - a.raised_at, 3),
                acknowledged=ack is not None,
                time_to_ack_s=None if ack is None else round(ack - a.raised_at, 3),
            ),
            a,
            now,
        )

    def _event(self, extra: EventPayload, a: Alert, now: float) -> Event:
        """The event of type ``extra`` with the fields every alert event carries first."""
        payload = type(extra)(
            alert_id=a.id,
            rule=a.rule,
            category=a.category,
            endpoint=a.endpoint,
            target=a.target,
            dry_run=self.dry_run,
            **extra.wire(),
        )
        return Event.of(payload, self.store_id, now, zone_id=a.zone_id, subject=a.subject)

    def prune(self, now: float, keep_closed_s: float = 3600.0) -> int:
        """Forget alerts closed more than ``keep_closed_s`` ago (they live on as stored events)."""
        with self._lock:
            old = [k for k, a in self._alerts.items() if a.closed_at is not None and now - a.closed_at > keep_closed_s]
            for k in old:
                del self._alerts[k]
            return len(old)
