"""Queue length, measured waits, arrival/service rates and a predicted wait for a newcomer.

A queue is a ``queue`` zone served by a ``checkout`` zone. The *measured* wait of a shopper is
the time from entering the queue zone to entering the checkout zone (stay start to stay start, in
media time), which is what the shopper experiences, not a guess from the queue length. Rates are
counted over a sliding window: arrivals = queue entries, services = checkout entries of queued
shoppers. A newcomer's predicted wait is the number of people ahead divided by the service rate
(Little's law for the queue as a whole); with no service observed yet it falls back to the median
of the recent measured waits, and to nothing when there is no evidence at all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from storelens.analytics.zones import ZoneStay, ZoneTransition
from storelens.config.behaviour import QueueConfig
from storelens.config.cameras import ZoneConfig, ZoneKind
from storelens.events.models import Event
from storelens.events.payloads import QueueUpdated

__all__ = ["QueueMonitor", "QueueState", "measured_waits", "predicted_wait", "queue_pairs"]


def queue_pairs(zones: Sequence[ZoneConfig], configured: Sequence[QueueConfig]) -> list[QueueConfig]:
    """The configured pairs, or every queue zone paired with the checkout zones in the same list
    (one pair per queue zone when there is exactly one checkout; otherwise per checkout)."""
    if configured:
        ids = {z.id for z in zones}
        return [q for q in configured if q.queue_zone in ids and q.checkout_zone in ids]
    queues = [z for z in zones if z.kind == ZoneKind.QUEUE]
    tills = [z for z in zones if z.kind == ZoneKind.CHECKOUT]
    return [QueueConfig(queue_zone=q.id, checkout_zone=c.id) for q in queues for c in tills]


def measured_waits(stays: Iterable[ZoneStay], queue_zone: str, checkout_zone: str, max_wait_s: float) -> list[float]:
    """Reference form: for each checkout stay, the wait since the same subject's latest queue
    entry before it (at most ``max_wait_s``); each queue entry serves one checkout entry."""
    q: dict[int, list[float]] = {}
    c: list[ZoneStay] = []
    for s in stays:
        if s.zone_id == queue_zone:
            q.setdefault(s.subject, []).append(s.enter_pts)
        elif s.zone_id == checkout_zone:
            c.append(s)
    out: list[float] = []
    for s in sorted(c, key=lambda s: s.enter_pts):
        entries = sorted(t for t in q.get(s.subject, []) if t <= s.enter_pts)
        if entries and s.enter_pts - entries[-1] <= max_wait_s:
            out.append(s.enter_pts - entries[-1])
            q[s.subject].remove(entries[-1])
    return out


def predicted_wait(length: int, service_rate_per_s: float, recent_waits: Sequence[float]) -> float | None:
    if length == 0:
        return 0.0
    if service_rate_per_s > 0:
        return length / service_rate_per_s
    if recent_waits:
        return float(np.median(recent_waits))
    return None


@dataclass(frozen=True, slots=True)
class QueueState:
    queue_zone: str
    checkout_zone: str
    length: int
    arrival_rate_per_min: float
    service_rate_per_min: float
    measured_wait_s: float | None  # median over the window
    last_wait_s: float | None
    predicted_wait_s: float | None
    served: int
    abandoned: int

    def payload(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 2)

        return {
            "queue_zone": self.queue_zone,
            "checkout_zone": self.checkout_zone,
            "length": self.length,
            "arrival_rate_per_min": round(self.arrival_rate_per_min, 3),
            "service_rate_per_min": round(self.service_rate_per_min, 3),
            "measured_wait_s": r(self.measured_wait_s),
            "last_wait_s": r(self.last_wait_s),
            "predicted_wait_s": r(self.predicted_wait_s),
            "served": self.served,
            "abandoned": self.abandoned,
        }


class QueueMonitor:
    """One queue/checkout pair. Feed it each frame's zone transitions and the queue zone's current
    occupancy; emits ``queue.updated`` when the state changes (at most every ``update_interval_s``
    unless the length changed)."""

    def __init__(self, store_id: str, camera_id: str | None, cfg: QueueConfig) -> None:
        self.store_id = store_id
        self.camera_id = camera_id
        self.cfg = cfg
        self._pending: dict[int, float] = {}  # subject -> queue entry pts
        self._arrivals: deque[float] = deque()
        self._services: deque[float] = deque()
        self._waits: deque[tuple[float, float]] = deque()  # (checkout entry pts, wait)
        self.waits: list[float] = []
        self.served = 0
        self.abandoned = 0
        self._start_pts: float | None = None
        self._last_emit_pts: float | None = None
        self._last_emitted: tuple[object, ...] | None = None
        self._length = 0
        self._pts: float | None = None

    @property
    def state(self) -> QueueState | None:
        """The queue now (as of the last update); None before the first update."""
        if self._pts is None or self._start_pts is None:
            return None
        cfg = self.cfg
        span = max(min(cfg.window_s, self._pts - self._start_pts), 1e-9)
        svc = len(self._services) / span
        recent = [w for _, w in self._waits]
        return QueueState(
            queue_zone=cfg.queue_zone,
            checkout_zone=cfg.checkout_zone,
            length=self._length,
            arrival_rate_per_min=len(self._arrivals) / span * 60,
            service_rate_per_min=svc * 60,
            measured_wait_s=float(np.median(recent)) if recent else None,
            last_wait_s=self.waits[-1] if self.waits else None,
            predicted_wait_s=predicted_wait(self._length, svc, recent),
            served=self.served,
            abandoned=self.abandoned,
        )

    def update(self, transitions: Iterable[ZoneTransition], length: int, pts: float, wall_time: float) -> list[Event]:
        cfg = self.cfg
        if self._start_pts is None or pts < self._start_pts:
            self._start_pts = pts
        for tr in transitions:
            if tr.kind != "enter":
                continue
            if tr.zone_id == cfg.queue_zone:
                self._pending[tr.subject] = tr.pts
                self._arrivals.append(tr.pts)
            elif tr.zone_id == cfg.checkout_zone:
                q = self._pending.pop(tr.subject, None)
                if q is not None and 0 <= tr.pts - q <= cfg.max_wait_s:
                    wait = tr.pts - q
                    self._services.append(tr.pts)
                    self._waits.append((tr.pts, wait))
                    self.waits.append(wait)
                    self.served += 1
        for subj in [s for s, t in self._pending.items() if pts - t > cfg.max_wait_s]:
            del self._pending[subj]
            self.abandoned += 1
        horizon = pts - cfg.window_s
        for dq in (self._arrivals, self._services):
            while dq and dq[0] < horizon:
                dq.popleft()
        while self._waits and self._waits[0][0] < horizon:
            self._waits.popleft()
        self._length, self._pts = length, pts
        # The event says what changed for a person watching the queue: its length, a service, an
        # abandonment or an arrival. Rates drift every frame and are recomputed only when emitting.
        key = (length, self.served, self.abandoned, len(self._arrivals))
        due = self._last_emit_pts is None or pts - self._last_emit_pts >= cfg.update_interval_s
        length_changed = self._last_emitted is None or self._last_emitted[0] != length
        if key != self._last_emitted and (due or length_changed):
            state = self.state
            assert state is not None
            self._last_emitted = key
            self._last_emit_pts = pts
            return [
                Event.of(
                    QueueUpdated(**state.payload()),
                    self.store_id,
                    wall_time,
                    camera_id=self.camera_id,
                    zone_id=cfg.queue_zone,
                )
            ]
        return []
