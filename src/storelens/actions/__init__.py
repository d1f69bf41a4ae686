"""What storelens does with intent: promotions, staff alerts and inventory alerts, all as events.

Entry point: :class:`storelens.actions.dispatcher.ActionEngine` (rules from ``actions`` in the store
config; see docs/INTENT.md).
"""

from storelens.actions.alerts import Alert, AlertError, AlertManager
from storelens.actions.dispatcher import (
    ActionDispatcher,
    ActionEngine,
    CallbackEndpoint,
    Endpoint,
    LogEndpoint,
    WebhookEndpoint,
)
from storelens.actions.inventory import InventoryMonitor
from storelens.actions.promotions import PromotionManager

__all__ = [
    "ActionDispatcher",
    "ActionEngine",
    "Alert",
    "AlertError",
    "AlertManager",
    "CallbackEndpoint",
    "Endpoint",
    "InventoryMonitor",
    "LogEndpoint",
    "PromotionManager",
    "WebhookEndpoint",
]
