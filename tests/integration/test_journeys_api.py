"""``/api/v1/journeys`` on SQLite and PostgreSQL (issue 18): fused store visits keep their journey
(zone sequence) from ``visit.ended``, and the flow table, first zone after entry and last zone
before the till are counted from them; CSV/Parquet, validation and the route's roles."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from fastapi.testclient import TestClient

from storelens.config import load_config
from storelens.events.models import Event
from storelens.security.rbac import Role, rule_for
from storelens.service import ServiceDeps, ServiceSettings, create_app
from storelens.storage import store_events
from storelens.storage.visits import get_visit

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
API = "/api/v1/journeys"

pytestmark = pytest.mark.timeout(120)


def _zone(zid: str, kind: str, x0: float) -> dict[str, Any]:
    return {"id": zid, "kind": kind, "space": "floor", "points": [[x0, 0], [x0 + 2, 0], [x0 + 2, 2], [x0, 2]]}


def client_for(tmp_path: Path, db_url: str) -> tuple[TestClient, ServiceDeps]:
    cal = {
        "image_points": [[0, 0], [100, 0], [100, 100], [0, 100]],
        "floor_points": [[0, 0], [10, 0], [10, 10], [0, 10]],
    }
    data = {
        "store_id": "s1",
        "timezone": "UTC",
        "floor_plan": {"width_m": 12, "height_m": 4},
        "cameras": [
            {"id": "cam1", "source": "a.mp4", "calibration": cal},
            {"id": "cam2", "source": "b.mp4", "calibration": cal},
        ],
        "zones": [
            _zone("door", "entrance", 0),
            _zone("fruit", "aisle", 2),
            _zone("bakery", "aisle", 4),
            _zone("line", "queue", 6),
            _zone("till", "checkout", 8),
        ],
    }
    path = tmp_path / "store.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    st = ServiceSettings(store=load_config(path), config_path=path, database_url=db_url, run_pipelines=False)
    deps = ServiceDeps.build(st)
    return TestClient(create_app(st, deps)), deps


def visit(subject: str, sec: float, journey: list[str], camera: str | None = None) -> list[Event]:
    fused: dict[str, Any] = {} if camera else {"fused": True}
    end = {**fused, "duration_s": 60.0} if camera else {**fused, "duration_s": 60.0, "journey": journey, "cameras": 2}
    return [
        Event(
            type="visit.started",
            store_id="s1",
            ts=T0 + timedelta(seconds=sec),
            subject=subject,
            camera_id=camera,
            payload=fused,
        ),
        Event(
            type="visit.ended",
            store_id="s1",
            ts=T0 + timedelta(seconds=sec + 60),
            subject=subject,
            camera_id=camera,
            payload=end,
        ),
    ]


JOURNEYS = {
    "v1": ["door", "fruit", "bakery", "line", "till"],
    "v2": ["door", "fruit", "bakery", "line", "till"],
    "v3": ["door", "bakery", "fruit", "bakery", "door"],  # no till; bakery > fruit > bakery: two flows
    "v4": ["door", "till"],  # straight to the till: no zone before it
    "v5": ["door"],  # never went in
}


def test_journeys_stored_and_flows_counted(tmp_path: Path, db_url: str) -> None:
    client, deps = client_for(tmp_path, db_url)
    events = [e for i, (s, j) in enumerate(JOURNEYS.items()) for e in visit(s, 100 * i, j)]
    events += visit("cam-visit", 30, [], camera="cam1")  # a camera visit has no journey
    with deps.db.begin() as conn:
        store_events(conn, events, buckets_s=[3600])
    with deps.db.begin() as conn:
        stored = get_visit(conn, "s1", "v3")
        assert stored is not None and stored.journey == JOURNEYS["v3"] and stored.camera_id is None
        cam_visit = get_visit(conn, "s1", "cam-visit")
        assert cam_visit is not None and cam_visit.journey is None
    q = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=1)).isoformat()}
    with client:
        body = client.get(API, params=q).json()
        assert [i["visit_id"] for i in body["items"]] == list(JOURNEYS) and body["truncated"] is False
        assert body["items"][0]["journey"] == JOURNEYS["v1"] and body["items"][0]["duration_s"] == 60.0
        assert client.get(API, params={**q, "limit": 2}).json()["truncated"] is True
        assert client.get("/api/v1/visits/v1").json()["journey"] == JOURNEYS["v1"]

        f = client.get(f"{API}/flows", params=q).json()
        assert (f["visits"], f["reached_till"], f["truncated"]) == (5, 3, False)
        flows = {(r["from_zone"], r["to_zone"]): r["count"] for r in f["flows"]}
        assert flows == {
            ("door", "fruit"): 2,
            ("fruit", "bakery"): 3,  # v1, v2, and v3's second step
            ("bakery", "line"): 2,
            ("line", "till"): 2,
            ("door", "bakery"): 1,
            ("bakery", "fruit"): 1,
            ("bakery", "door"): 1,
            ("door", "till"): 1,
        }
        assert f["flows"][0] == {"from_zone": "fruit", "to_zone": "bakery", "count": 3}
        assert {z["zone_id"]: z["count"] for z in f["first_zone"]} == {"fruit": 2, "bakery": 1, "till": 1}
        assert f["last_before_till"] == [{"zone_id": "bakery", "count": 2}]  # the queue is not a choice
        assert f["paths"][0] == {"path": JOURNEYS["v1"], "count": 2}
        assert len(client.get(f"{API}/flows", params={**q, "top": 1}).json()["flows"]) == 1

        csv = client.get(f"{API}/flows", params={**q, "format": "csv"})
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        lines = csv.text.strip().splitlines()
        assert lines[0] == "from_zone,to_zone,count" and lines[1] == "fruit,bakery,3" and len(lines) == 9
        pq_resp = client.get(API, params={**q, "format": "parquet"})
        table = pq.read_table(io.BytesIO(pq_resp.content))
        assert table.column("journey").to_pylist()[0] == "door > fruit > bakery > line > till"

        # a range with no store visit: empty, not an error
        empty = client.get(f"{API}/flows", params={"from": "2024-01-01T00:00:00Z", "to": "2024-01-02T00:00:00Z"})
        assert empty.status_code == 200 and empty.json()["visits"] == 0 and empty.json()["flows"] == []
        # validation: one clear error each
        assert client.get(API, params={"from": q["to"], "to": q["from"]}).status_code == 422
        assert client.get(f"{API}/flows", params={**q, "top": 0}).status_code == 422
        assert client.get(API, params={**q, "format": "xml"}).status_code == 422
        assert client.get(API, params={**q, "store": "other"}).status_code == 404
        long = client.get(API, params={"from": "2020-01-01T00:00:00Z", "to": "2024-01-01T00:00:00Z"})
        assert long.status_code == 422 and "range too long" in long.json()["detail"]


def test_journeys_of_the_current_hour_are_listed_by_default(tmp_path: Path, db_url: str) -> None:
    """No range given: the last 7 days up to now (journeys are not hourly buckets), so a visit that
    ended a minute ago is there, as a store manager checking the page expects."""
    client, deps = client_for(tmp_path, db_url)
    now = datetime.now(UTC).replace(microsecond=0)
    events = [
        Event(
            type="visit.started",
            store_id="s1",
            ts=now - timedelta(seconds=120),
            subject="recent",
            payload={"fused": True},
        ),
        Event(
            type="visit.ended",
            store_id="s1",
            ts=now - timedelta(seconds=60),
            subject="recent",
            payload={"fused": True, "duration_s": 60.0, "journey": ["door", "fruit"], "cameras": 2},
        ),
    ]
    with deps.db.begin() as conn:
        store_events(conn, events, buckets_s=[3600])
    with client:
        assert [i["visit_id"] for i in client.get(API).json()["items"]] == ["recent"]
        assert client.get(f"{API}/flows").json()["visits"] == 1


def test_journey_route_roles() -> None:
    """The flow table is counts over many visits (viewer); each visit's zones are per-visit data."""
    flows = rule_for("GET", "/api/v1/journeys/flows")
    per_visit = rule_for("GET", "/api/v1/journeys")
    assert flows.role == Role.VIEWER and not flows.per_visit
    assert per_visit.role == Role.ANALYST and per_visit.per_visit
