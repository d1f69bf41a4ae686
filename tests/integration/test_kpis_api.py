"""``/api/v1/kpis/*`` on SQLite and PostgreSQL: funnel against hand counts, "not measured" instead
of 0, forecast and staffing from stored entries, experiments, CSV and validation (issue 20)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient

from storelens.config import load_config
from storelens.events.models import Event
from storelens.kpis import forecast as kf
from storelens.kpis.synthetic import WEEK, history
from storelens.service import ServiceDeps, ServiceSettings, create_app
from storelens.storage import store_events
from storelens.storage.records import PosTransaction, insert_pos_transactions
from testdata import DEMO_COUNTER_CLIP

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # a Monday; the store runs on UTC here
API = "/api/v1/kpis"
TRI = [[0, 0], [100, 0], [100, 100]]

pytestmark = pytest.mark.timeout(300)


def client_for(
    tmp_path: Path, db_url: str, *, storefront: bool = True, entrance: bool = True, queue: bool = False
) -> tuple[TestClient, ServiceDeps]:
    lines: list[dict[str, Any]] = []
    if storefront:
        lines.append({"id": "street", "camera": "cam1", "a": [0, 10], "b": [100, 10], "role": "storefront"})
    if entrance:
        lines.append({"id": "door", "camera": "cam1", "a": [0, 50], "b": [100, 50], "role": "entrance"})
    lines.append({"id": "aisle-count", "camera": "cam1", "a": [0, 90], "b": [100, 90]})
    data = {
        "store_id": "s1",
        "timezone": "UTC",
        "cameras": [{"id": "cam1", "source": str(DEMO_COUNTER_CLIP)}],
        "zones": [
            {"id": "coffee", "kind": "shelf", "camera": "cam1", "category": "Coffee", "points": TRI},
            {"id": "till", "kind": "checkout", "camera": "cam1", "points": TRI},
        ],
        "lines": lines,
    }
    if queue:
        data["zones"].append({"id": "q", "kind": "queue", "camera": "cam1", "points": TRI})
        data["behaviour"] = {"queues": [{"queue_zone": "q", "checkout_zone": "till", "sla_wait_s": 120}]}
    path = tmp_path / "store.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    st = ServiceSettings(store=load_config(path), config_path=path, database_url=db_url, run_pipelines=False)
    deps = ServiceDeps.build(st)
    return TestClient(create_app(st, deps)), deps


def ev(t: str, sec: float, **kw: Any) -> Event:
    payload = kw.pop("payload", {})
    return Event(type=t, store_id="s1", ts=T0 + timedelta(seconds=sec), payload=payload, camera_id="cam1", **kw)


def cross(sec: float, line: str, direction: str = "in", **p: Any) -> Event:
    return ev("line.crossed", sec, subject=f"x{sec}", payload={"line_id": line, "direction": direction, **p})


def funnel_events() -> list[Event]:
    out = [cross(60 * i, "street", "in" if i % 2 else "out") for i in range(10)]  # 10 passers-by, 9:00
    out += [cross(30, "street", staff=True)]  # staff: not a passer-by
    out += [cross(100 + i, "door", "in") for i in range(4)] + [cross(200, "door", "out"), cross(210, "aisle-count")]
    out += [
        ev("zone.entered", 300, subject="s1", zone_id="coffee"),
        ev("zone.exited", 330, subject="s1", zone_id="coffee", payload={"dwell_s": 30.0}),  # engaged
        ev("zone.exited", 340, subject="s2", zone_id="coffee", payload={"dwell_s": 5.0}),  # too short
        ev("product.picked", 350, subject="s3", zone_id="coffee"),  # engaged by interaction
        ev("zone.exited", 400, subject="s4", zone_id="till", payload={"dwell_s": 100.0}),  # not a product zone
    ]
    out += [cross(3600 + 60 * i, "street") for i in range(5)]  # 10:00: 5 passers-by, nobody enters
    return out


def pos(sec: float, value: float) -> PosTransaction:
    return PosTransaction(f"t{sec}", "s1", "r1", T0 + timedelta(seconds=sec), value)


def test_funnel_matches_hand_counts_and_says_not_measured(tmp_path: Path, db_url: str) -> None:
    client, deps = client_for(tmp_path, db_url)
    with deps.db.begin() as conn:
        store_events(conn, funnel_events(), buckets_s=[3600])
        insert_pos_transactions(conn, [pos(500, 10.0), pos(900, 20.0)])
    q = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=2)).isoformat(), "granularity": "hour"}
    with client:
        body = client.get(f"{API}/funnel", params=q).json()
        assert body["entries_source"] == "entrance_line"
        h9, h10 = body["rows"]
        assert (h9["passers_by"], h9["entries"], h9["engaged"], h9["buyers"], h9["sales"]) == (10, 4, 2, 2, 30.0)
        assert h9["capture_rate"] == pytest.approx(4 / 10) and h9["engagement_rate"] == pytest.approx(2 / 4)
        assert h9["conversion"] == pytest.approx(2 / 4) and h9["sales_per_visitor"] == pytest.approx(30 / 4)
        assert (h10["passers_by"], h10["entries"], h10["buyers"]) == (5, 0, 0)  # measured zeros
        assert h10["conversion"] is None and h10["notes"]["conversion"] == "no entries in this period"
        tot = body["totals"]
        assert (tot["passers_by"], tot["entries"], tot["buyers"]) == (15, 4, 2)
        assert tot["capture_rate"] == pytest.approx(4 / 15)  # ratio of sums, not mean of rates
        zones = {z["zone_id"]: z for z in body["zones"]}
        assert (zones["coffee"]["visits"], zones["coffee"]["engaged"]) == (3, 2)
        assert zones["coffee"]["attraction"] == pytest.approx(3 / 4) and zones["coffee"]["holding"] == pytest.approx(
            2 / 3
        )
        assert zones["coffee"]["conversion"] is None
        assert "lists its categories" in zones["coffee"]["notes"]["conversion"]  # POS without categories
        csv = client.get(f"{API}/funnel", params={**q, "format": "csv"})
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        lines = csv.text.strip().splitlines()
        assert lines[0].startswith("start,passers_by,entries") and len(lines) == 3
        # validation: one clear 422 / 404 line each
        assert client.get(f"{API}/funnel", params={**q, "granularity": "minute"}).status_code == 422
        bad = client.get(f"{API}/funnel", params={"from": q["to"], "to": q["from"]})
        assert bad.status_code == 422 and "after" in bad.json()["detail"]
        assert client.get(f"{API}/funnel", params={**q, "store": "other"}).status_code == 404
        assert client.get(f"{API}/funnel", params={**q, "store": "s1"}).status_code == 200
    deps.close()


def test_zone_conversion_from_pos_categories_matches_a_hand_count(tmp_path: Path, db_url: str) -> None:
    """Engaged at the coffee shelf, then paid at the till for a basket listing Coffee: a zone buyer.
    s1: 30 s at coffee, till 400-460, sale at 450 with "coffee" (case ignored)     -> buyer
    s3: picked at coffee, till 500-560, sale at 570 with Tea only                   -> engaged, no buyer
    s5: 40 s at coffee, never at the till                                           -> engaged, no buyer
    s6: 25 s at coffee, till 600-650, sale at 640 without categories                -> left out (unknown)
    s2: 5 s at coffee (not engaged), till 700-720, sale at 715 with Coffee          -> not counted
    Hand count: engaged with a known basket = {s1, s3, s5}, buyers = {s1}: 1 / 3."""
    client, deps = client_for(tmp_path, db_url)

    def till(subject: str, start: float, end: float) -> Event:
        return ev("zone.exited", end, subject=subject, zone_id="till", payload={"dwell_s": end - start})

    def stay(subject: str, sec: float, dwell: float) -> Event:
        return ev("zone.exited", sec, subject=subject, zone_id="coffee", payload={"dwell_s": dwell})

    events = [
        *(cross(100 + i, "door", "in") for i in range(5)),
        stay("s1", 330, 30.0),
        till("s1", 400, 460),
        ev("product.picked", 350, subject="s3", zone_id="coffee"),
        till("s3", 500, 560),
        stay("s5", 380, 40.0),
        stay("s6", 390, 25.0),
        till("s6", 600, 650),
        stay("s2", 340, 5.0),
        till("s2", 700, 720),
    ]
    sales = [
        PosTransaction("a", "s1", "r1", T0 + timedelta(seconds=450), 5.0, categories=("coffee",)),
        PosTransaction("b", "s1", "r1", T0 + timedelta(seconds=570), 3.0, categories=("Tea",)),
        PosTransaction("c", "s1", "r1", T0 + timedelta(seconds=640), 4.0),
        PosTransaction("d", "s1", "r1", T0 + timedelta(seconds=715), 6.0, categories=("Coffee", "Tea")),
    ]
    with deps.db.begin() as conn:
        store_events(conn, events, buckets_s=[3600])
        insert_pos_transactions(conn, sales)
    q = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=1)).isoformat(), "granularity": "hour"}
    with client:
        body = client.get(f"{API}/funnel", params=q).json()
    zones = {z["zone_id"]: z for z in body["zones"]}
    coffee, till_zone = zones["coffee"], zones["till"]
    assert (coffee["visits"], coffee["engaged"]) == (5, 4)  # s2 is a visit, not engaged
    assert coffee["buyers"] == 1 and coffee["conversion"] == pytest.approx(1 / 3)
    assert "conversion" not in coffee["notes"]
    assert till_zone["conversion"] is None and "no category" in till_zone["notes"]["conversion"]
    deps.close()


def test_missing_inputs_are_not_measured_never_zero(tmp_path: Path, db_url: str) -> None:
    client, deps = client_for(tmp_path, db_url, storefront=False, entrance=False)
    with deps.db.begin() as conn:
        store_events(conn, [*funnel_events(), ev("visit.started", 100, subject="v1")], buckets_s=[3600])
    q = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=1)).isoformat(), "granularity": "hour"}
    with client:
        body = client.get(f"{API}/funnel", params=q).json()
    row = body["rows"][0]
    assert body["entries_source"] == "visits" and row["entries"] == 1
    assert row["passers_by"] is None and row["capture_rate"] is None and "storefront" in row["notes"]["passers_by"]
    assert row["buyers"] is None and row["conversion"] is None and "no POS" in row["notes"]["conversion"]
    deps.close()


def test_forecast_and_staffing_from_stored_entries(tmp_path: Path, db_url: str) -> None:
    weeks = 4
    y, _ = history(weeks, base=6.0, seed=21)
    start = datetime(2025, 3, 3, tzinfo=UTC)  # Monday 00:00
    events = [
        Event(
            type="line.crossed",
            store_id="s1",
            ts=start + timedelta(hours=h, seconds=int(3599 * (j + 0.5) / y[h])),
            camera_id="cam1",
            subject=f"p{h}-{j}",
            payload={"line_id": "door", "direction": "in"},
        )
        for h in range(len(y))
        for j in range(int(y[h]))
    ]
    client, deps = client_for(tmp_path, db_url)
    with deps.db.begin() as conn:
        store_events(conn, events, buckets_s=[3600])
    end = start + timedelta(weeks=weeks)
    q = {"from": start.isoformat(), "to": end.isoformat()}
    with client:
        fc = client.get(f"{API}/forecast", params=q).json()
        st = client.get(f"{API}/staffing", params={**q, "shoppers_per_staff": 5, "mean_visit_s": 1800}).json()
        short = client.get(
            f"{API}/forecast", params={"from": start.isoformat(), "to": (start + timedelta(days=3)).isoformat()}
        )
        nostaff = client.get(f"{API}/staffing", params=q)
    assert fc["history_hours"] == weeks * WEEK
    want = kf.forecast_week(y, fc["method"])
    assert [h["forecast"] for h in fc["hours"]] == pytest.approx(list(np.round(want, 3)))
    assert fc["hours"][0]["start"].startswith(end.isoformat()[:19].replace("+00:00", ""))
    assert {b["method"] for b in fc["backtest"]} == {"seasonal_naive", "seasonal_mean"}
    assert all(h["low"] is not None and h["low"] <= h["forecast"] <= h["high"] for h in fc["hours"])
    assert [h["staff"] for h in st["hours"]] == kf.staff_needed([h["forecast"] for h in fc["hours"]], 1800, 5)
    assert st["staff_hours"] == sum(h["staff"] for h in st["hours"]) > 0
    assert st["hours"][12]["staff"] == (0 if want[12] < 0.5 else max(1, math.ceil(want[12] * 0.5 / 5 - 1e-9)))
    assert (
        short.status_code == 200
        and short.json()["hours"] == []
        and "one full week" in short.json()["notes"]["forecast"]
    )
    assert nostaff.status_code == 422  # shoppers_per_staff is required
    deps.close()


def test_experiments_from_stored_triggers(tmp_path: Path, db_url: str) -> None:
    events: list[Event] = []
    for i in range(12):
        held = i % 3 == 0
        payload = {
            "rule": "coffee-endcap",
            "category": "Coffee",
            "holdout": held,
            "arm": "holdout" if held else "treated",
        }
        events.append(
            Event(type="promotion.triggered", store_id="s1", ts=T0 + timedelta(minutes=20 * i), payload=payload)
        )
        if not held and i % 2:
            events.append(ev("product.picked", 1200 * i + 60, subject=f"b{i}", zone_id="coffee"))
    client, deps = client_for(tmp_path, db_url)
    with deps.db.begin() as conn:
        store_events(conn, events, buckets_s=[3600])
    q = {"from": T0.isoformat(), "to": (T0 + timedelta(days=1)).isoformat()}
    with client:
        body = client.get(f"{API}/experiments", params=q).json()
        csv = client.get(f"{API}/experiments", params={**q, "format": "csv"})
    (item,) = body["items"]
    assert (item["treated"]["n"], item["holdout"]["n"]) == (8, 4)
    assert (item["treated"]["converted"], item["holdout"]["converted"]) == (4, 0)
    assert item["conversion_uplift"] == pytest.approx(0.5)
    # 4/8 vs 0/4: the Newcombe interval still spans 0 (-0.07 .. 0.79)
    assert item["conversion_verdict"] == "not significant yet" and item["conversion_low"] < 0
    assert item["conversion_n_per_arm_needed"] == 152  # 0 % -> 5 %: (1.96*sqrt(2*.025*.975)+0.84*sqrt(.0475))^2/.05^2
    assert csv.status_code == 200 and "treated_n" in csv.text.splitlines()[0]
    deps.close()


def test_buying_units_from_stored_visits(tmp_path: Path, db_url: str) -> None:
    """A couple with a child and a single shopper: 4 people, 1 child, 3 visitors, 2 units; 2 sales."""

    def visit(sid: str, sec: float, dx: float, vy: float, height: float | None) -> list[Event]:
        # cam1 is uncalibrated: pixels, grouped within max_distance_px (80) on the same camera
        path = [[float(t), 100 * (dx + 0.5 * t), 100 * vy * t] for t in range(0, 121, 5)]
        ended: dict[str, Any] = {"path": path} if height is None else {"path": path, "height_m": height}
        return [ev("visit.started", sec, subject=sid), ev("visit.ended", sec + 120, subject=sid, payload=ended)]

    events = visit("mum", 0, 0.0, 0.0, 1.66) + visit("dad", 2, 0.5, 0.0, 1.82) + visit("kid", 3, 0.3, 0.0, 1.12)
    events += visit("solo", 4, 0.0, 0.6, None)
    client, deps = client_for(tmp_path, db_url)
    with deps.db.begin() as conn:
        store_events(conn, events, buckets_s=[3600])
        insert_pos_transactions(conn, [pos(600, 20.0), pos(700, 8.5)])
    q = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=2)).isoformat(), "granularity": "hour"}
    with client:
        body = client.get(f"{API}/buying-units", params=q).json()
        kept = client.get(f"{API}/buying-units", params={**q, "exclude_children": "false"}).json()
        pq_resp = client.get(f"{API}/buying-units", params={**q, "format": "parquet"})
    t = body["totals"]
    assert (t["people"], t["children"], t["height_unknown"], t["visitors"], t["units"]) == (4, 1, 1, 3, 2)
    assert t["unit_sizes"] == {"1": 1, "2": 1} and t["buyers"] == 2
    assert t["raw_conversion"] == pytest.approx(0.5) and t["unit_conversion"] == pytest.approx(1.0)
    assert t["visitor_conversion"] == pytest.approx(2 / 3)
    assert [r["units"] for r in body["rows"]] == [2, 0]
    assert kept["totals"]["visitors"] == 4 and kept["totals"]["units"] == 2
    import io

    import pyarrow.parquet as parquet

    assert pq_resp.status_code == 200 and pq_resp.headers["content-type"] == "application/vnd.apache.parquet"
    table = parquet.read_table(io.BytesIO(pq_resp.content))
    assert table.num_rows == 2 and table.column("units").to_pylist() == [2, 0]
    deps.close()


def test_queue_service_levels_from_stored_zone_events(tmp_path: Path, db_url: str) -> None:
    """Waits 60, 100, 150 s and one shopper leaving the queue: SLA 2/3 within 120 s, 1 abandoned."""
    events: list[Event] = []
    for i, wait in enumerate([60, 100, 150]):
        sid, t = f"w{i}", 200 * i
        events += [
            ev("zone.entered", t, subject=sid, zone_id="q"),
            ev("zone.exited", t + wait - 1, subject=sid, zone_id="q", payload={"dwell_s": wait - 1}),
            ev("zone.entered", t + wait, subject=sid, zone_id="till"),
        ]
    events += [
        ev("zone.entered", 700, subject="gone", zone_id="q"),
        ev("zone.exited", 790, subject="gone", zone_id="q", payload={"dwell_s": 90}),
    ]
    events += [ev("zone.entered", 800, subject="staffer", zone_id="q", payload={"staff": True})]
    events += [
        Event(
            type="alert.raised",
            store_id="s1",
            ts=T0 + timedelta(seconds=500),
            zone_id="q",
            subject="queue-q",
            payload={"rule": "queue_sla", "alert_id": "a1"},
        ),
    ]
    client, deps = client_for(tmp_path, db_url, queue=True)
    with deps.db.begin() as conn:
        store_events(conn, events, buckets_s=[3600])
    q = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=1)).isoformat(), "granularity": "hour"}
    with client:
        body = client.get(f"{API}/queues", params=q).json()
        loose = client.get(f"{API}/queues", params={**q, "sla_wait_s": 200}).json()
        csv = client.get(f"{API}/queues", params={**q, "format": "csv"})
    (queue,) = body["queues"]
    assert (queue["queue_zone"], queue["sla_wait_s"], queue["target_source"]) == ("q", 120, "config")
    t = queue["totals"]
    assert (t["joined"], t["served"], t["abandoned"], t["waiting"]) == (4, 3, 1, 0)
    assert t["service_level"] == pytest.approx(2 / 3) and t["target_met"] is False
    assert t["abandonment_rate"] == pytest.approx(0.25) and t["median_wait_s"] == pytest.approx(100.0)
    assert queue["alerts"]["raised"] == 1
    assert loose["queues"][0]["totals"]["service_level"] == pytest.approx(1.0)
    assert loose["queues"][0]["target_source"] == "query"
    assert csv.status_code == 200 and csv.text.splitlines()[0].startswith("queue_zone,checkout_zone,start")
    deps.close()


def test_layout_change_route_against_stored_zone_entries(tmp_path: Path, db_url: str) -> None:
    coffee = [3, 4, 3, 0, 9, 8, 10]  # per day; the change is on day 3 (left out)
    till = [5, 6, 5, 0, 6, 5, 6]
    events = [
        Event(
            type="zone.entered",
            store_id="s1",
            ts=T0 + timedelta(days=d, minutes=j),
            camera_id="cam1",
            zone_id=zone,
            subject=f"{zone}-{d}-{j}",
            payload={},
        )
        for zone, counts in (("coffee", coffee), ("till", till))
        for d, n in enumerate(counts)
        for j in range(n)
    ]
    client, deps = client_for(tmp_path, db_url)
    with deps.db.begin() as conn:
        store_events(conn, events, buckets_s=[3600])
    day0 = T0.replace(hour=0)
    q = {"from": day0.isoformat(), "to": (day0 + timedelta(days=7)).isoformat(), "zone": "coffee", "control": "till"}
    with client:
        r = client.get(f"{API}/layout-change", params={**q, "change_at": (T0 + timedelta(days=3, hours=5)).isoformat()})
        csv_r = client.get(
            f"{API}/layout-change", params={**q, "change_at": (T0 + timedelta(days=3)).isoformat(), "format": "csv"}
        )
        bad = client.get(f"{API}/layout-change", params={**q, "control": "nope", "change_at": T0.isoformat()})
    body = r.json()
    gap_before = np.mean([c - t for c, t in zip(coffee[:3], till[:3], strict=True)])
    gap_after = np.mean([c - t for c, t in zip(coffee[4:], till[4:], strict=True)])
    assert body["days_before"] == 3 and body["days_after"] == 3
    assert body["effect"] == pytest.approx(gap_after - gap_before)
    assert body["verdict"] == "significant: treated higher"
    assert csv_r.status_code == 200 and csv_r.text.splitlines()[0].startswith("start,zone_visits,control_visits")
    assert bad.status_code == 422 and "not a zone" in bad.text
