"""Action engine end to end: dry run sends nothing, endpoints, webhook to localhost, inventory."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from storelens.actions.dispatcher import ActionDispatcher, ActionEngine, CallbackEndpoint, WebhookEndpoint
from storelens.actions.inventory import InventoryMonitor
from storelens.config.actions import ActionsConfig, InventoryActionsConfig
from storelens.events.models import Event, EventType

T = 1_741_082_400.0


def intent(t: float, subject: str, state: str, category: str = "Coffee") -> Event:
    return Event.at(
        EventType.INTENT_CHANGED,
        "s",
        t,
        subject=subject,
        zone_id="coffee",
        state=state,
        category=category,
        reasons=["r"],
    )


def _cfg(dry_run: bool, endpoint: str = "mqtt", target: str = "store/s/signage") -> ActionsConfig:
    return ActionsConfig.model_validate(
        {
            "dry_run": dry_run,
            "promotions": {
                "rules": [
                    {
                        "id": "p",
                        "state": "considering",
                        "min_state_s": 5,
                        "display": "d1",
                        "endpoint": endpoint,
                        "target": target,
                    }
                ]
            },
            "alerts": {"rules": [{"id": "a", "state": "needs_assistance", "endpoint": endpoint, "target": target}]},
        }
    )


def _drive(engine: ActionEngine) -> list[Event]:
    out = engine.process(T, [intent(T, "v1", "considering"), intent(T, "v2", "needs_assistance")])
    out += engine.process(T + 6)
    out += engine.process(T + 7, [Event.at(EventType.INTENT_ENDED, "s", T + 7, subject="v2")])
    return out


def test_dry_run_records_every_action_and_sends_nothing() -> None:
    sent: list[tuple[str, str | None]] = []
    ep = CallbackEndpoint("mqtt", lambda e, target: sent.append((e.type, target)))
    eng = ActionEngine("s", _cfg(dry_run=True), dispatcher=ActionDispatcher([ep]))
    out = _drive(eng)
    assert [e.type for e in out] == [EventType.ALERT_RAISED, EventType.PROMOTION_TRIGGERED, EventType.ALERT_CLOSED]
    assert all(e.payload["dry_run"] is True for e in out)
    assert sent == []
    assert eng.dispatcher.counts["dry_run"] == 3


def test_live_delivers_to_the_named_endpoint_and_survives_a_broken_one() -> None:
    sent: list[tuple[str, str | None]] = []
    ep = CallbackEndpoint("mqtt", lambda e, target: sent.append((e.type, target)))
    eng = ActionEngine("s", _cfg(dry_run=False), dispatcher=ActionDispatcher([ep]))
    out = _drive(eng)
    assert [t for t, _ in sent] == [e.type for e in out]
    assert {target for _, target in sent} == {"store/s/signage"}
    assert all(e.payload["dry_run"] is False for e in out)

    def boom(e: Event, target: str | None) -> None:
        raise RuntimeError("display offline")

    eng2 = ActionEngine("s", _cfg(dry_run=False), dispatcher=ActionDispatcher([CallbackEndpoint("mqtt", boom)]))
    assert len(_drive(eng2)) == 3  # actions still recorded as events
    assert eng2.dispatcher.counts["failed"] == 3
    eng3 = ActionEngine("s", _cfg(dry_run=False))  # no mqtt endpoint wired: counted, not raised
    _drive(eng3)
    assert eng3.dispatcher.counts["no_endpoint"] == 3


def test_acknowledge_through_the_engine() -> None:
    sent: list[str] = []
    eng = ActionEngine(
        "s",
        _cfg(dry_run=False),
        dispatcher=ActionDispatcher([CallbackEndpoint("mqtt", lambda e, t: sent.append(e.type))]),
    )
    raised = eng.process(T, [intent(T, "v2", "needs_assistance")])
    ack = eng.acknowledge(raised[0].payload["alert_id"], "anna", now=T + 12)
    assert ack.payload["time_to_ack_s"] == 12.0 and sent[-1] == EventType.ALERT_ACKNOWLEDGED


def test_bad_timezone_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown store timezone"):
        ActionEngine("s", timezone="Mars/Olympus")


def test_endpoint_targets_are_validated() -> None:
    with pytest.raises(ValueError, match="needs a target"):
        _cfg(dry_run=False, endpoint="webhook", target="")
    with pytest.raises(ValueError, match="http"):
        _cfg(dry_run=False, endpoint="webhook", target="ftp://x")
    with pytest.raises(ValueError, match="duplicate"):
        ActionsConfig.model_validate({"alerts": {"rules": [{"id": "a"}, {"id": "a"}]}})


@pytest.fixture
def http_sink() -> Iterator[tuple[str, list[dict[str, object]]]]:
    got: list[dict[str, object]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            n = int(self.headers["Content-Length"])
            got.append(json.loads(self.rfile.read(n)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/signage", got
    srv.shutdown()
    srv.server_close()


def test_webhook_posts_json_to_localhost(http_sink: tuple[str, list[dict[str, object]]]) -> None:
    url, got = http_sink
    hook = WebhookEndpoint(timeout_s=2.0, retries=0)
    eng = ActionEngine("s", _cfg(dry_run=False, endpoint="webhook", target=url), dispatcher=ActionDispatcher([hook]))
    out = _drive(eng)
    assert hook.flush(5.0)
    hook.close()
    assert hook.sent == 3 and hook.failed == 0
    assert [g["type"] for g in got] == [e.type for e in out]
    promo = next(g for g in got if g["type"] == "promotion.triggered")
    assert promo["subject"] is None and promo["payload"]["display"] == "d1"  # type: ignore[index]


def test_webhook_failure_is_counted(tmp_path: object) -> None:
    hook = WebhookEndpoint(timeout_s=0.5, retries=0)
    hook.send(intent(T, "v", "considering"), "http://127.0.0.1:9/nothing-listens-here")
    assert hook.flush(5.0)
    hook.close()
    assert hook.failed == 1 and hook.sent == 0


def _interaction(t: float, etype: EventType, shelf: str = "coffee-l", **p: object) -> Event:
    return Event.at(etype, "s", t, subject="v", zone_id=shelf, shelf=shelf, category="Coffee", **p)


@pytest.mark.parametrize(
    ("etype", "n", "reason", "evidence_key"),
    [
        (EventType.PRODUCT_PICKED, 3, "high_demand", "picks"),
        (EventType.PRODUCT_RETURNED, 3, "frequent_returns", "returns"),
        (EventType.SHELF_REACH, 3, "reaches_without_pick", "reaches"),
    ],
)
def test_inventory_alerts(etype: EventType, n: int, reason: str, evidence_key: str) -> None:
    cfg = InventoryActionsConfig(picks_alert=3, returns_alert=3, reaches_without_pick=3, cooldown_min=30)
    mon = InventoryMonitor("s", cfg)
    out = []
    for k in range(n + 3):
        out += mon.on_event(_interaction(T + k * 10, etype))
    assert len(out) == 1  # cooldown: the same shelf and reason once per 30 min
    e = out[0]
    assert e.type == EventType.INVENTORY_ALERT and e.payload["reason"] == reason
    assert e.payload["shelf"] == "coffee-l" and e.payload["evidence"][evidence_key] == n
    assert e.ts.timestamp() == T + (n - 1) * 10


def test_inventory_window_and_forwarding() -> None:
    cfg = InventoryActionsConfig(picks_alert=3, window_min=1)
    mon = InventoryMonitor("s", cfg)
    out = []
    for k in range(6):  # one pick every 40 s: never 3 within a minute
        out += mon.on_event(_interaction(T + 40 * k, EventType.PRODUCT_PICKED))
    assert out == []
    alert = Event.at(
        EventType.INVENTORY_ALERT, "s", T, zone_id="coffee-l", shelf="coffee-l", reason="empty", source="interaction"
    )
    assert mon.should_deliver(alert)
    assert not mon.should_deliver(alert.model_copy(update={"ts": alert.ts}))
    sent: list[str] = []
    eng = ActionEngine(
        "s", ActionsConfig(), dispatcher=ActionDispatcher([CallbackEndpoint("log", lambda e, t: sent.append(e.type))])
    )
    assert eng.process(T, [alert]) == []  # not re-emitted ...
    assert sent == [EventType.INVENTORY_ALERT]  # ... but delivered
