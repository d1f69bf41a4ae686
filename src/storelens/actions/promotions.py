"""Promotions: when a visit has held an intent state in a category long enough, show something.

Rules come from ``actions.promotions`` in the store config ("considering in Coffee for 30 s ->
display coffee-endcap"). Every trigger is a ``promotion.triggered`` event carrying only the rule,
display, category and content: no visit id, nothing about the person, because the payload goes to
signage hardware outside the store's data boundary.

Caps, all checked at trigger time: each rule at most once per visit, at most ``max_per_visit``
promotions per visit, a quiet gap per display (``display_cooldown_s``), at most
``max_per_display_per_hour`` per display, and none inside quiet hours (store local time). A rule
blocked only by a display cap or quiet hours may still fire later in the same visit, once allowed.

Experiments (issue 20): with ``holdout_share`` > 0 each trigger is drawn at random, at trigger time,
into the hold-out arm with that probability. A held-out trigger is recorded exactly like a shown one
(same caps consumed, so both arms see the same conditions) with ``holdout: true`` and
``arm: "holdout"`` in its payload, and the action engine does not deliver it to the display; the
uplift is then measured from stored events by :mod:`storelens.kpis.experiments`.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from storelens.config.actions import PromotionRuleConfig, PromotionsConfig, QuietHoursConfig
from storelens.events.models import Event
from storelens.events.payloads import PromotionTriggered, intent_of, typed

__all__ = ["PromotionManager", "in_quiet_hours", "is_held_out"]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def in_quiet_hours(ts: float, windows: list[QuietHoursConfig], tz: ZoneInfo) -> bool:
    """Whether UNIX time ``ts`` falls in any window, in the store's local time. A window whose end
    is before its start runs past midnight and belongs to the day it starts on."""
    local = datetime.fromtimestamp(ts, tz)
    minute = local.hour * 60 + local.minute
    today = _DAYS[local.weekday()]
    yesterday = _DAYS[(local - timedelta(days=1)).weekday()]
    for w in windows:
        start, end = _minutes(w.start), _minutes(w.end)
        if start < end:
            if today in w.days and start <= minute < end:
                return True
        elif (today in w.days and minute >= start) or (yesterday in w.days and minute < end):
            return True
    return False


@dataclass(slots=True)
class _VisitState:
    state: str
    category: str | None
    since: float
    fired_rules: set[str] = field(default_factory=set)
    count: int = 0


class PromotionManager:
    """Tracks each visit's current intent state and fires promotion rules with caps."""

    def __init__(
        self,
        store_id: str,
        config: PromotionsConfig,
        tz: ZoneInfo,
        dry_run: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        self.store_id = store_id
        # the hold-out draw: an unseeded generator in production (no one can predict or steer the
        # arm), a seeded one in tests
        self._rng = rng if rng is not None else random.Random()
        self.config = config
        self.tz = tz
        self.dry_run = dry_run
        self._visits: dict[str, _VisitState] = {}
        self._display_last: dict[str, float] = {}
        self._display_hour: dict[str, deque[float]] = {}
        self.suppressed: dict[str, int] = {"quiet_hours": 0, "display_cooldown": 0, "display_hourly": 0}

    def on_intent(self, event: Event) -> None:
        """Follow an ``intent.changed``: the clock for ``min_state_s`` starts when the (state,
        category) pair starts."""
        subject = event.subject
        if subject is None:
            return
        p = intent_of(event)
        state, category = str(p.state), p.category
        t = event.ts.timestamp()
        v = self._visits.get(subject)
        if v is None:
            self._visits[subject] = _VisitState(state, category, t)
        elif (v.state, v.category) != (state, category):
            v.state, v.category, v.since = state, category, t

    def on_ended(self, subject: str) -> None:
        self._visits.pop(subject, None)

    def tick(self, now: float) -> list[Event]:
        if not self.config.enabled or not self.config.rules:
            return []
        out: list[Event] = []
        quiet: bool | None = None
        for v in self._visits.values():
            if v.count >= self.config.max_per_visit:
                continue
            for rule in self.config.rules:
                if rule.id in v.fired_rules or not self._matches(rule, v, now):
                    continue
                if quiet is None:
                    quiet = in_quiet_hours(now, self.config.quiet_hours, self.tz)
                if quiet:
                    self.suppressed["quiet_hours"] += 1
                    break
                if not self._display_free(rule.display, now):
                    continue
                v.fired_rules.add(rule.id)
                v.count += 1
                self._display_last[rule.display] = now
                self._display_hour.setdefault(rule.display, deque()).append(now)
                out.append(self._event(rule, v, now))
                if v.count >= self.config.max_per_visit:
                    break
        return out

    @staticmethod
    def _matches(rule: PromotionRuleConfig, v: _VisitState, now: float) -> bool:
        if v.state != str(rule.state):
            return False
        if rule.category is not None and (v.category or "").casefold() != rule.category.casefold():
            return False
        return now - v.since >= rule.min_state_s

    def _display_free(self, display: str, now: float) -> bool:
        last = self._display_last.get(display)
        if last is not None and now - last < self.config.display_cooldown_s:
            self.suppressed["display_cooldown"] += 1
            return False
        hour = self._display_hour.get(display)
        if hour is not None:
            while hour and now - hour[0] >= 3600:
                hour.popleft()
            if len(hour) >= self.config.max_per_display_per_hour:
                self.suppressed["display_hourly"] += 1
                return False
        return True

    def _event(self, rule: PromotionRuleConfig, v: _VisitState, now: float) -> Event:
        share = self.config.holdout_share
        holdout = share > 0 and self._rng.random() < share
        return Event.of(
            PromotionTriggered(
                rule=rule.id,
                display=rule.display,
                category=v.category,
                state=v.state,
                content=rule.content,
                endpoint=rule.endpoint,
                target=rule.target,
                dry_run=self.dry_run,
                holdout=holdout,
                arm="holdout" if holdout else "treated",
                holdout_share=share,
            ),
            self.store_id,
            now,
        )


def is_held_out(event: Event) -> bool:
    """A ``promotion.triggered`` drawn into the hold-out arm: recorded, never shown."""
    p = typed(event, PromotionTriggered)
    return p is not None and p.holdout is True
