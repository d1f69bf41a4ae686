"""Queues: measured waits, rates and predicted waits, on transitions and on a simulated till."""

from __future__ import annotations

import numpy as np
import pytest

from factories import boxes_on_feet, make_tracks
from storelens.analytics.queues import QueueMonitor, measured_waits, predicted_wait, queue_pairs
from storelens.analytics.zones import ZoneAnalytics, ZoneTransition
from storelens.config.behaviour import QueueConfig
from storelens.config.cameras import ZoneConfig
from storelens.config.store import StoreConfig

Q = QueueConfig(queue_zone="q", checkout_zone="till", window_s=600, max_wait_s=120, update_interval_s=0)


def tr(kind: str, zone: str, subj: int, t: float) -> ZoneTransition:
    return ZoneTransition(kind, zone, subj, t, 1e9 + t)


CASES = [
    ("empty", [], 0, [], 0),
    ("one_served", [tr("enter", "q", 1, 0), tr("enter", "till", 1, 40)], 0, [40.0], 0),
    ("checkout_without_queue_is_not_a_wait", [tr("enter", "till", 1, 10)], 0, [], 0),
    ("abandoned_after_max_wait", [tr("enter", "q", 1, 0), tr("enter", "till", 1, 200)], 0, [], 1),
    (
        "two_in_order",
        [tr("enter", "q", 1, 0), tr("enter", "q", 2, 5), tr("enter", "till", 1, 30), tr("enter", "till", 2, 70)],
        0,
        [30.0, 65.0],
        0,
    ),
    (
        "re_queue_uses_latest_entry",
        [tr("enter", "q", 1, 0), tr("enter", "q", 1, 50), tr("enter", "till", 1, 60)],
        0,
        [10.0],
        0,
    ),
]


@pytest.mark.parametrize(("name", "transitions", "length", "waits", "abandoned"), CASES, ids=[c[0] for c in CASES])
def test_waits(name: str, transitions: list[ZoneTransition], length: int, waits: list[float], abandoned: int) -> None:
    mon = QueueMonitor("s1", None, Q)
    t_end = max((x.pts for x in transitions), default=0.0)
    for t in np.arange(0, t_end + 1.0, 0.5):
        now = [x for x in transitions if t - 0.5 < x.pts <= t or (t == 0 and x.pts == 0)]
        mon.update(now, length, float(t), 1e9 + float(t))
    assert mon.waits == pytest.approx(waits)
    assert mon.abandoned == abandoned
    assert mon.served == len(waits)


def test_predicted_wait() -> None:
    assert predicted_wait(0, 0.0, []) == 0.0
    assert predicted_wait(3, 0.1, []) == pytest.approx(30.0)  # 3 ahead, one served every 10 s
    assert predicted_wait(2, 0.0, [20.0, 40.0, 90.0]) == 40.0  # no service seen in window: median wait
    assert predicted_wait(2, 0.0, []) is None


def test_queue_pairs_auto_and_configured() -> None:
    sq = [[0, 0], [1, 0], [1, 1]]
    zones = [
        ZoneConfig(id="q1", kind="queue", camera="c", points=sq),
        ZoneConfig(id="t1", kind="checkout", camera="c", points=sq),
        ZoneConfig(id="a", kind="aisle", camera="c", points=sq),
    ]
    assert [(p.queue_zone, p.checkout_zone) for p in queue_pairs(zones, [])] == [("q1", "t1")]
    assert queue_pairs(zones, [QueueConfig(queue_zone="q9", checkout_zone="t1")]) == []


def test_config_rejects_wrong_kinds() -> None:
    base = {
        "store_id": "s",
        "cameras": [{"id": "c", "source": "x"}],
        "zones": [{"id": "a", "kind": "aisle", "camera": "c", "points": [[0, 0], [1, 0], [1, 1]]}],
    }
    with pytest.raises(ValueError, match="unknown zone"):
        StoreConfig.model_validate({**base, "behaviour": {"queues": [{"queue_zone": "x", "checkout_zone": "a"}]}})
    with pytest.raises(ValueError, match="expected queue"):
        StoreConfig.model_validate({**base, "behaviour": {"queues": [{"queue_zone": "a", "checkout_zone": "a"}]}})


def test_simulated_till_through_zone_analytics() -> None:
    """FIFO till: a customer every 20 s, 30 s service, so the queue grows; walk them through a
    queue polygon and a till polygon as feet points and compare with the simulation's own waits."""
    store = StoreConfig.model_validate(
        {
            "store_id": "s1",
            "cameras": [{"id": "cam", "source": "x"}],
            "zones": [
                {"id": "q", "kind": "queue", "camera": "cam", "points": [[0, 0], [400, 0], [400, 100], [0, 100]]},
                {
                    "id": "till",
                    "kind": "checkout",
                    "camera": "cam",
                    "points": [[0, 200], [100, 200], [100, 300], [0, 300]],
                },
            ],
            "zone_analytics": {"enter_grace_s": 0.3, "exit_grace_s": 1.0, "min_dwell_s": 1.0},
            "behaviour": {"queues": [{"queue_zone": "q", "checkout_zone": "till", "update_interval_s": 0}]},
        }
    )
    arrivals = [20.0 * k for k in range(8)]
    service = 30.0
    starts: list[float] = []
    for a in arrivals:  # FIFO single server
        starts.append(max(a, (starts[-1] + service) if starts else a))
    ends = [s + service for s in starts]
    za = ZoneAnalytics(store, "cam")
    mon = QueueMonitor("s1", "cam", store.behaviour.queues[0])
    events = []
    lengths_ok = []
    for i in range(int((ends[-1] + 5) * 10)):
        t = i / 10
        rows = []
        for k, a in enumerate(arrivals):
            if a <= t < starts[k]:
                rows.append((k + 1, (350.0 - 40 * (k % 8), 50.0)))  # in the queue polygon
            elif starts[k] <= t < ends[k]:
                rows.append((k + 1, (50.0, 250.0)))  # at the till
        xy = np.array([r[1] for r in rows], np.float32).reshape(-1, 2)
        tracks = make_tracks(boxes_on_feet(xy, width=10, height=60), [r[0] for r in rows])
        za.update(tracks, t, 1e9 + t)
        length = za.occupancy()["q"]
        events += mon.update(za.transitions, length, t, 1e9 + t)
        true_len = sum(1 for k, a in enumerate(arrivals) if a + 1.0 <= t < starts[k])  # after min_dwell
        lengths_ok.append(abs(length - true_len) <= 1)
    expected = [s - a for a, s in zip(arrivals, starts, strict=True) if s - a >= 1.0]  # zero waits never queue
    assert mon.waits == pytest.approx(expected, abs=0.11)
    assert np.mean(lengths_ok) > 0.95
    assert events and all(e.type == "queue.updated" for e in events)
    last = mon.state
    assert last is not None and last.served == len(expected)
    # service rate over the run ~ one per 30 s while busy; predicted = length / rate
    assert last.service_rate_per_min == pytest.approx(len(expected) / (ends[-1] + 5 - 0.1) * 60, rel=0.05)
    mid = [e for e in events if e.payload["length"] >= 2 and e.payload["predicted_wait_s"] is not None]
    assert mid, "a queue of 2+ with a known service rate must predict a wait"
    for e in mid:
        rate = e.payload["service_rate_per_min"] / 60
        if rate > 0:
            assert e.payload["predicted_wait_s"] == pytest.approx(e.payload["length"] / rate, rel=0.02)
    stays = za.stays()
    assert measured_waits(stays, "q", "till", 1800) == pytest.approx(mon.waits)
