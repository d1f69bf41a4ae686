"""Inventory alerts from interaction signals: what shoppers' hands say about a shelf.

Three patterns per shelf, counted over a sliding window (``window_min``):

* ``high_demand``: many picks (``picks_alert``): the shelf empties faster than usual, replenish.
* ``frequent_returns``: many put-backs (``returns_alert``): wrong price label, damaged or misplaced
  stock, or a confusing product: worth a look.
* ``reaches_without_pick``: reach after reach with no pick (``reaches_without_pick`` in a row):
  the product people reach for may be gone or out of reach.

Each alert names the shelf, reason and evidence (the counts) and repeats at most once per
``cooldown_min`` per shelf and reason. ``inventory.alert`` events from the interaction stage (empty
shelf from appearance) are not re-emitted; :meth:`InventoryMonitor.should_deliver` applies the same
cooldown to them so a flickering empty-shelf signal does not page staff every few seconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from storelens.config.actions import InventoryActionsConfig
from storelens.events.models import Event, EventType
from storelens.events.payloads import InventoryAlert, typed
from storelens.intent.signals import ZoneInfo, parse_interaction

__all__ = ["InventoryMonitor"]

SOURCE = "actions"


@dataclass(slots=True)
class _Shelf:
    category: str | None = None
    picks: deque[float] = field(default_factory=deque)
    returns: deque[float] = field(default_factory=deque)
    reaches_since_pick: int = 0


class InventoryMonitor:
    def __init__(
        self,
        store_id: str,
        config: InventoryActionsConfig,
        zones: Mapping[str, ZoneInfo] | None = None,
        dry_run: bool = False,
    ) -> None:
        self.store_id = store_id
        self.config = config
        self.zones = dict(zones or {})
        self.dry_run = dry_run
        self._shelves: dict[str, _Shelf] = {}
        self._last: dict[tuple[str, str], float] = {}

    def on_event(self, event: Event) -> list[Event]:
        """Feed shelf.reach / product.picked / product.returned; returns new inventory alerts."""
        if not self.config.enabled or event.type not in (
            EventType.SHELF_REACH,
            EventType.PRODUCT_PICKED,
            EventType.PRODUCT_RETURNED,
        ):
            return []
        sig = parse_interaction(event, self.zones)
        if sig is None:
            return []
        t = event.ts.timestamp()
        shelf = self._shelves.setdefault(sig.target, _Shelf())
        shelf.category = sig.category or shelf.category
        window = self.config.window_min * 60.0
        for q in (shelf.picks, shelf.returns):
            while q and t - q[0] > window:
                q.popleft()
        out: list[Event] = []
        if event.type == EventType.SHELF_REACH:
            shelf.reaches_since_pick += 1
            if shelf.reaches_since_pick >= self.config.reaches_without_pick:
                ev = self._alert(sig.target, shelf, t, "reaches_without_pick", reaches=shelf.reaches_since_pick)
                if ev is not None:
                    out.append(ev)
                    shelf.reaches_since_pick = 0
        elif event.type == EventType.PRODUCT_PICKED:
            shelf.reaches_since_pick = 0
            shelf.picks.append(t)
            if len(shelf.picks) >= self.config.picks_alert:
                ev = self._alert(
                    sig.target, shelf, t, "high_demand", picks=len(shelf.picks), window_min=self.config.window_min
                )
                if ev is not None:
                    out.append(ev)
        else:
            shelf.returns.append(t)
            if len(shelf.returns) >= self.config.returns_alert:
                ev = self._alert(
                    sig.target,
                    shelf,
                    t,
                    "frequent_returns",
                    returns=len(shelf.returns),
                    picks=len(shelf.picks),
                    window_min=self.config.window_min,
                )
                if ev is not None:
                    out.append(ev)
        return out

    def should_deliver(self, event: Event) -> bool:
        """For an ``inventory.alert`` from another stage: deliver unless the same shelf and reason
        was delivered within the cooldown."""
        if not self.config.enabled or not self.config.forward_interaction_alerts:
            return False
        p = typed(event, InventoryAlert) or InventoryAlert()
        shelf = p.shelf or event.zone_id or ""
        reason = p.reason or "unspecified"
        t = event.ts.timestamp()
        key = (shelf, reason)
        last = self._last.get(key)
        if last is not None and t - last < self.config.cooldown_min * 60.0:
            return False
        self._last[key] = t
        return True

    def _alert(self, shelf_id: str, shelf: _Shelf, t: float, reason: str, **evidence: object) -> Event | None:
        key = (shelf_id, reason)
        last = self._last.get(key)
        if last is not None and t - last < self.config.cooldown_min * 60.0:
            return None
        self._last[key] = t
        return Event.of(
            InventoryAlert(
                shelf=shelf_id,
                category=shelf.category,
                reason=reason,
                evidence=evidence,
                source=SOURCE,
                endpoint=self.config.endpoint,
                target=self.config.target,
                dry_run=self.dry_run,
            ),
            self.store_id,
            t,
            zone_id=shelf_id if len(shelf_id) <= 64 else None,
        )
