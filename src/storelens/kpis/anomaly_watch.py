"""Forecast anomaly alerts: each finished hour's traffic and conversion against the forecast band.

The forecast route flags anomalous hours when someone asks; a store manager needs to hear about a
dead Saturday afternoon (a blocked entrance, a broken door counter, a till outage) while it
happens. :class:`ForecastWatch` reads the stored history once an hour is over, and when the hour's
entries (or its conversion, buyers against its own entries) leave the band of
:func:`storelens.kpis.forecast.anomalies` / :func:`~storelens.kpis.forecast.conversion_anomalies`
it raises a staff alert through the ordinary :class:`~storelens.actions.alerts.AlertManager`:
acknowledged by ``POST /alerts/{id}/ack``, escalated when nobody does, one open per metric, a
cooldown after each, closed when an hour is back inside the band.

The bound on false alarms is the band's per-hour rate ``alpha`` (0.001 by default), thinned
further by the one-open-alert rule and the cooldown; ``bench/kpis.py`` measures alarms per 1,000
normal hours and how fast a planted anomaly is caught (docs/KPIS.md).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from storelens.actions.alerts import AlertError, AlertManager
from storelens.config.actions import ForecastAnomalyConfig
from storelens.config.store import StoreConfig
from storelens.events.bus import EventBus
from storelens.events.models import Event, EventType
from storelens.events.payloads import AlertAcknowledged, typed
from storelens.kpis import forecast as kf
from storelens.kpis.funnel import load_funnel_inputs
from storelens.storage.database import Database
from storelens.storage.models import POS_TRANSACTIONS

__all__ = ["ForecastWatch", "HourCheck", "check_hour", "hourly_series", "replay"]

log = logging.getLogger(__name__)


def _floor_hour(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hourly_series(
    db: Database,
    store: StoreConfig,
    since: datetime,
    until: datetime,
    *,
    event_filter: Sequence[sa.ColumnElement[bool]] = (),
    visit_filter: Sequence[sa.ColumnElement[bool]] = (),
    buyers: bool = False,
) -> tuple[datetime, npt.NDArray[np.float64], npt.NDArray[np.float64] | None]:
    """Entries (and, with ``buyers``, POS transactions; None when no POS is stored) per UTC hour
    of [since, until), both floored to the hour and trimmed at the front to whole weeks so a
    backtest's weeks line up with the forecast week. Returns (first hour, entries, buyers)."""
    u0 = _floor_hour(until)
    hours = int((u0 - _floor_hour(since)).total_seconds() // 3600)
    hours -= hours % kf.WEEK
    s0 = u0 - timedelta(hours=hours)
    stored = load_funnel_inputs(
        db, store, s0, u0, engaged_dwell_s=0, event_filter=event_filter, visit_filter=visit_filter, entries_only=True
    )

    def per_hour(times: Sequence[datetime]) -> npt.NDArray[np.float64]:
        y = np.zeros(hours, dtype=np.float64)
        for t in times:
            i = int((t - s0).total_seconds() // 3600)
            if 0 <= i < hours:
                y[i] += 1
        return y

    bought: npt.NDArray[np.float64] | None = None
    if buyers:
        pt = POS_TRANSACTIONS.c
        with db.engine.connect() as conn:
            if conn.execute(sa.select(pt.id).where(pt.store_id == store.store_id).limit(1)).first() is not None:
                q = sa.select(pt.ts).where(pt.store_id == store.store_id, pt.ts >= s0, pt.ts < u0)
                bought = per_hour([r[0] for r in conn.execute(q)])
    return s0, per_hour(stored.inputs.entries), bought


@dataclass(frozen=True, slots=True)
class HourCheck:
    """The last hour of a series against its band (conversion as a share, not a count)."""

    metric: str
    observed: float
    expected: float
    low: float
    high: float
    outside: bool


def check_hour(
    entries: npt.ArrayLike,
    buyers: npt.ArrayLike | None,
    cfg: ForecastAnomalyConfig,
) -> list[HourCheck]:
    """The last hour of the series against its band, per configured metric with enough history
    (3 full weeks; conversion needs buyers and entries in that hour)."""
    e = np.asarray(entries, dtype=np.float64)
    out: list[HourCheck] = []
    if not e.any():
        return out
    # whole weeks before the first stored entry are "not installed yet", not a week of zeros
    skip = (int(np.flatnonzero(e)[0]) // kf.WEEK) * kf.WEEK
    e = e[skip:]
    if buyers is not None:
        buyers = np.asarray(buyers, dtype=np.float64)[skip:]
    if len(e) < 3 * kf.WEEK:
        return out
    if "entries" in cfg.metrics:
        flags, b = kf.anomalies(e, cfg.k, cfg.alpha)
        out.append(
            HourCheck(
                "entries", float(e[-1]), float(b.forecast[-1]), float(b.low[-1]), float(b.high[-1]), bool(flags[-1])
            )
        )
    if "conversion" in cfg.metrics and buyers is not None:
        # buyers and entries summed over the trailing window: a small store's single hour has a
        # handful of buyers, whose noise hides even a till outage
        w = np.ones(cfg.conversion_window_h)
        ew = np.convolve(e, w)[: len(e)]
        bw = np.convolve(np.asarray(buyers, dtype=np.float64), w)[: len(e)]
        if ew[-1] > 0:
            flags, b = kf.conversion_anomalies(ew, bw, cfg.k, cfg.alpha)
            n = float(ew[-1])  # conversion = buyers / entries of the window: the band divided by them
            out.append(
                HourCheck(
                    "conversion",
                    float(bw[-1]) / n,
                    float(b.forecast[-1]) / n,
                    float(b.low[-1]) / n,
                    float(b.high[-1]) / n,
                    bool(flags[-1]),
                )
            )
    return out


def replay(
    entries: npt.ArrayLike,
    buyers: npt.ArrayLike | None,
    store: StoreConfig,
    first_hour: int,
    t0: datetime,
) -> list[Event]:
    """The alerts :class:`ForecastWatch` would raise over hours ``first_hour..`` of a history that
    starts at ``t0``, checking each hour at its end exactly as the live watch does (the same
    :func:`check_hour` on the series up to it, the same alert manager; an hour's alerts are
    dated at its end). For the false-alarm measurement and the tests; no storage involved."""
    e = np.asarray(entries, dtype=np.float64)
    b = None if buyers is None else np.asarray(buyers, dtype=np.float64)
    cfg = store.actions.alerts.forecast_anomaly
    alerts = AlertManager(store.store_id, store.actions.alerts)
    weeks = cfg.history_weeks * kf.WEEK
    out: list[Event] = []
    for i in range(first_hour, len(e)):
        lo = max(0, i + 1 - weeks)
        lo += (i + 1 - lo) % kf.WEEK  # whole weeks ending at hour i, as hourly_series trims them
        end = (t0 + timedelta(hours=i + 1)).timestamp()
        hour = (t0 + timedelta(hours=i)).isoformat()
        for c in check_hour(e[lo : i + 1], None if b is None else b[lo : i + 1], cfg):
            out.extend(alerts.on_forecast(c.metric, hour, c.observed, c.expected, c.low, c.high, end, cfg.severity))
        out.extend(alerts.tick(end))
    return out


class ForecastWatch:
    """Checks each finished hour once; :meth:`check` is called periodically (the service calls it
    every minute) and returns the alert events to publish (raised, closed, escalated)."""

    def __init__(self, db: Database, store: StoreConfig, alerts: AlertManager | None = None) -> None:
        self.db = db
        self.store = store
        self.cfg = store.actions.alerts.forecast_anomaly
        self.alerts = alerts or AlertManager(store.store_id, store.actions.alerts, dry_run=store.actions.dry_run)
        self._checked: datetime | None = None  # start of the last hour checked
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, bus: EventBus, interval_s: float = 60.0) -> None:
        """Check every ``interval_s`` on a daemon thread and publish the alert events on ``bus``;
        acknowledgements published there (the API's ``alert.acknowledged``) stop escalation."""

        def on_ack(event: Event) -> None:
            ack = typed(event, AlertAcknowledged)
            if ack is not None and ack.alert_id is not None and ack.by is not None:
                with contextlib.suppress(AlertError):  # a camera's alert, or our own event coming back
                    self.alerts.acknowledge(ack.alert_id, ack.by, now=event.ts.timestamp())

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    bus.publish_all(self.check(time.time()))
                except Exception:  # a database hiccup must not end the watch: next minute again
                    log.exception("forecast anomaly check failed")
                self._stop.wait(interval_s)

        bus.subscribe(on_ack, types=[str(EventType.ALERT_ACKNOWLEDGED)])
        self._thread = threading.Thread(target=loop, name="forecast-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def check(self, now: float) -> list[Event]:
        out: list[Event] = []
        hour_end = _floor_hour(datetime.fromtimestamp(now, UTC))
        hour = hour_end - timedelta(hours=1)
        if self.cfg.enabled and self.store.actions.enabled and (self._checked is None or hour > self._checked):
            self._checked = hour
            since = hour_end - timedelta(weeks=self.cfg.history_weeks)
            _, entries, buyers = hourly_series(
                self.db, self.store, since, hour_end, buyers="conversion" in self.cfg.metrics
            )
            for c in check_hour(entries, buyers, self.cfg):
                out.extend(
                    self.alerts.on_forecast(
                        c.metric, hour.isoformat(), c.observed, c.expected, c.low, c.high, now, self.cfg.severity
                    )
                )
        out.extend(self.alerts.tick(now))
        self.alerts.prune(now)
        return out
