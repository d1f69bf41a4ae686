"""The REST + WebSocket API against a real database: SQLite in a temporary folder, and the real
PostgreSQL at 127.0.0.1:5432 (database ``test``, a fresh schema per test, dropped afterwards).

Every database test runs on both; the PostgreSQL variants are marked ``integration``. The live
pipeline behind the API (``StoreRunner`` on the demo clip) is tests/integration/test_service_runner.py.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from fastapi import HTTPException
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from factories import make_tracks
from storelens.analytics.heatmap import HeatBucket, HeatmapAccumulator, HeatmapGrid
from storelens.config import load_config
from storelens.core.results import FrameResult
from storelens.core.types import Detections, Frame
from storelens.events.models import Event
from storelens.service import ServiceDeps, ServiceSettings, create_app
from storelens.service.ws import StreamFilter, StreamHub
from storelens.storage import open_database, store_events
from storelens.storage.heatmaps import add_heatmap_buckets
from testdata import DEMO_COUNTER_CLIP, DEMO_STORE

DEMO = DEMO_STORE
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
API = "/api/v1"

pytestmark = pytest.mark.timeout(120)


# ----------------------------------------------------------------------------------- fixtures


def write_store(tmp_path: Path, **extra: Any) -> Path:
    """A store config file: the demo camera (absolute clip path) and zones of every kind the API uses."""
    data: dict[str, Any] = {
        "store_id": "s1",
        "name": "Test store",
        "timezone": "Europe/Berlin",
        "cameras": [
            {"id": "cam1", "source": str(DEMO_COUNTER_CLIP), "fps": 10},
            {"id": "cam2", "source": "rtsp://user:secret@10.0.0.9/stream", "enabled": False},
        ],
        "zones": [
            {
                "id": "z0",
                "name": "Entrance",
                "kind": "entrance",
                "camera": "cam1",
                "points": [[0, 0], [100, 0], [100, 100]],
            },
            {"id": "z1", "kind": "aisle", "camera": "cam1", "points": [[100, 0], [200, 0], [200, 100], [100, 100]]},
            {"id": "queue", "kind": "queue", "camera": "cam1", "points": [[0, 200], [100, 200], [100, 300]]},
            {"id": "till", "kind": "checkout", "camera": "cam1", "points": [[200, 200], [300, 200], [300, 300]]},
        ],
        "behaviour": {"queues": [{"queue_zone": "queue", "checkout_zone": "till"}]},
        **extra,
    }
    path = tmp_path / "store.yaml"
    path.write_text("# test store\n" + yaml.safe_dump(data, sort_keys=False) + "# trailing comment\n")
    return path


@dataclass
class Api:
    client: TestClient
    deps: ServiceDeps
    config_path: Path

    def get(self, path: str, **params: Any) -> Any:
        r = self.client.get(API + path, params=params)
        assert r.status_code == 200, (path, params, r.status_code, r.text)
        return r.json()


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    path = write_store(tmp_path)
    settings = ServiceSettings(
        store=load_config(path), config_path=path, database_url=db_url, run_pipelines=False, max_page=1000
    )
    deps = ServiceDeps.build(settings)
    with TestClient(create_app(settings, deps)) as client:
        yield Api(client, deps, path)


def ev(etype: str, sec: float, **kw: Any) -> Event:
    payload = kw.pop("payload", {})
    return Event(type=etype, store_id="s1", ts=T0 + timedelta(seconds=sec), payload=payload, **kw)


def store(deps: ServiceDeps, events: list[Event]) -> None:
    with deps.db.begin() as conn:
        store_events(conn, events, buckets_s=deps.store.storage.aggregate_buckets_s)


TYPES = ["zone.entered", "zone.exited", "visit.started", "queue.updated", "alert.raised", "line.crossed"]


def random_events(n: int, seed: int = 7) -> list[Event]:
    """Mixed types, zones and cameras; many share a timestamp, so ties are broken by id."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        sec = rng.randrange(0, 6 * 3600, 5)  # every 5 s over 6 hours: ~1 in 7 events share a time
        out.append(
            ev(
                rng.choice(TYPES),
                sec,
                zone_id=rng.choice(["z0", "z1", "till", None]),
                camera_id=rng.choice(["cam1", "cam2"]),
                subject=f"v{rng.randrange(50)}",
                id=uuid.UUID(int=rng.getrandbits(128)).hex,
            )
        )
    return out


def page_all(api: Api, **params: Any) -> list[str]:
    ids: list[str] = []
    cursor = None
    pages = 0
    while True:
        q = dict(params, **({"cursor": cursor} if cursor else {}))
        body = api.get("/events", **q)
        ids += [e["id"] for e in body["items"]]
        pages += 1
        assert pages < 500, "pagination does not end"
        cursor = body["next_cursor"]
        if cursor is None:
            return ids


# --------------------------------------------------------------------------------- the tests


def test_openapi_is_published_under_the_versioned_prefix(api: Api) -> None:
    schema = api.client.get(f"{API}/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    paths = list(schema["paths"])
    assert paths and all(p.startswith(API + "/") for p in paths)
    for resource in ("events", "visits", "aggregates", "zones", "alerts", "promotions", "cameras", "stores"):
        assert f"{API}/{resource}" in paths
    assert f"{API}/alerts/{{alert_id}}/ack" in paths and f"{API}/pos/import" in paths
    type_param = next(p for p in schema["paths"][f"{API}/events"]["get"]["parameters"] if p["name"] == "type")
    assert "zone.exited" in json.dumps(type_param)  # the event-type enum is in the schema


FILTERS: list[dict[str, Any]] = [
    {},
    {"type": "zone.exited"},
    {"type": ["zone.", "alert.raised"]},
    {"zone_id": "till"},
    {"camera_id": "cam2", "type": "visit.started"},
    {"since": (T0 + timedelta(hours=1)).isoformat(), "until": (T0 + timedelta(hours=2, minutes=30)).isoformat()},
    {"subject": "v3", "zone_id": "z1"},
]


def _reference(events: list[Event], f: dict[str, Any], desc: bool) -> list[str]:
    types = f.get("type")
    types = [types] if isinstance(types, str) else types
    since = datetime.fromisoformat(f["since"]) if "since" in f else None
    until = datetime.fromisoformat(f["until"]) if "until" in f else None

    def ok(e: Event) -> bool:
        if types and not any(e.type == t or (t.endswith(".") and e.type.startswith(t)) for t in types):
            return False
        if "zone_id" in f and e.zone_id != f["zone_id"]:
            return False
        if "camera_id" in f and e.camera_id != f["camera_id"]:
            return False
        if "subject" in f and e.subject != f["subject"]:
            return False
        return (since is None or e.ts >= since) and (until is None or e.ts < until)

    return [e.id for e in sorted((e for e in events if ok(e)), key=lambda e: (e.ts, e.id), reverse=desc)]


def test_event_filters_and_cursor_pagination_match_a_reference(api: Api) -> None:
    events = random_events(3000)
    store(api.deps, events)
    for f in FILTERS:
        for order in ("asc", "desc"):
            expected = _reference(events, f, order == "desc")
            got = page_all(api, **f, order=order, limit=137)
            assert got == expected, (f, order, len(got), len(expected))
    # events arriving while a client pages do not shift or repeat later pages (keyset, not OFFSET)
    first = api.get("/events", limit=100)
    store(api.deps, [ev("zone.entered", -10, zone_id="z0", camera_id="cam1")])  # sorts before the page
    rest = page_all(api, limit=1000, cursor=first["next_cursor"])
    assert [e["id"] for e in first["items"]] + rest == _reference(events, {}, False)
    one = api.get(f"/events/{events[5].id}")
    assert one["id"] == events[5].id and one["type"] == events[5].type


BAD_REQUESTS: list[tuple[str, dict[str, Any], int, str]] = [
    ("/events", {"type": "zone.nonsense"}, 422, "unknown event type"),
    ("/events", {"limit": 0}, 422, "greater than or equal to 1"),
    ("/events", {"limit": 5000}, 422, "less than or equal to 1000"),
    ("/events", {"since": "yesterday"}, 422, "datetime"),
    ("/events", {"since": "2025-03-02T00:00:00Z", "until": "2025-03-01T00:00:00Z"}, 422, "'until' must be after"),
    ("/events", {"cursor": "not-a-cursor"}, 422, "invalid cursor"),
    ("/events", {"order": "sideways"}, 422, "'asc' or 'desc'"),
    ("/events", {"zone_id": "nowhere"}, 404, "unknown zone 'nowhere' (known: z0, z1, queue, till)"),
    ("/events", {"camera_id": "cam9"}, 404, "unknown camera 'cam9' (known: cam1, cam2)"),
    ("/events/0123456789abcdef", {}, 404, "unknown event"),
    ("/visits/abc", {}, 404, "unknown visit"),
    ("/cameras/cam9", {}, 404, "unknown camera"),
    ("/zones/nowhere", {}, 404, "unknown zone"),
    ("/stores/other", {}, 404, "unknown store"),
    ("/aggregates", {"bucket_s": 120}, 422, "bucket_s must be one of [300, 3600]"),
    ("/aggregates", {"zone_id": "nowhere"}, 404, "unknown zone"),
    ("/heatmaps/cam9", {}, 404, "unknown camera"),
    ("/heatmaps/cam1", {}, 404, "runs no pipelines"),
    ("/heatmaps/cam1", {"metric": "speed"}, 422, "'traffic' or 'dwell'"),
    ("/heatmaps", {"since": "2025-03-01T10:00:00Z", "until": "2025-03-01T09:00:00Z"}, 422, "'until' must be after"),
    ("/alerts", {"state": "sleeping"}, 422, "'open'"),
    ("/alerts/a-1", {}, 404, "unknown alert"),
    ("/exports/people", {}, 422, "'events', 'visits' or 'aggregates'"),
    ("/exports/events", {"format": "xlsx"}, 422, "'csv' or 'parquet'"),
    ("/pos/conversion", {"since": "2025-01-01T00:00:00Z", "until": "2025-03-01T00:00:00Z"}, 422, "range too long"),
    ("/pos/conversion", {"since": "2025-01-01T00:00:00Z"}, 422, "until"),
    ("/events", {"since": "0001-01-01T00:00:00+05:00"}, 422, "out of range"),
]


@pytest.mark.parametrize(("path", "params", "status", "message"), BAD_REQUESTS)
def test_bad_requests_get_a_clear_4xx(api: Api, path: str, params: dict[str, Any], status: int, message: str) -> None:
    r = api.client.get(API + path, params=params)
    assert r.status_code == status, r.text
    assert message in r.text, r.text


def test_heatmaps_are_served_from_the_database_without_a_pipeline(api: Api) -> None:
    """A serve process that runs no pipelines shows the heat maps a run stored (here written the way
    the recorder writes them: two flushes into the first bucket, one into the next)."""
    grid = HeatmapGrid.covering("image", 64, 48, 16.0)  # 4 x 3 cells

    def bucket(start: datetime, cells: list[int], dwell: list[float]) -> HeatBucket:
        n = len(cells)
        return HeatBucket(
            start.timestamp(), 900, np.asarray(cells, np.int32), np.ones(n, np.uint32), np.asarray(dwell, np.float32)
        )

    q = timedelta(minutes=15)
    with api.deps.db.begin() as conn:
        for b in (bucket(T0, [0, 5], [2.0, 4.0]), bucket(T0, [5], [1.5]), bucket(T0 + q, [11], [8.0])):
            add_heatmap_buckets(conn, store_id="s1", camera_id="cam1", grid=grid, buckets=[b])
    dwell = api.get("/heatmaps/cam1", metric="dwell")
    assert dwell["grid"] == {"space": "image", "unit": "px", "x0": 0.0, "y0": 0.0, "cell": 16.0, "nx": 4, "ny": 3}
    assert dwell["values"] == [[2.0, 0.0, 0.0, 0.0], [0.0, 5.5, 0.0, 0.0], [0.0, 0.0, 0.0, 8.0]]
    assert (dwell["total"], dwell["max"], dwell["bucket_s"]) == (15.5, 8.0, 900)
    traffic = api.get("/heatmaps/cam1", until=(T0 + q).isoformat())
    assert traffic["values"] == [[1.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    later = api.get("/heatmaps/cam1", metric="dwell", since=(T0 + q).isoformat())
    assert later["total"] == 8.0 and later["since"] == "2025-03-01T09:15:00Z"
    empty = api.get("/heatmaps/cam1", since=(T0 + 4 * q).isoformat())
    assert empty["total"] == 0 and empty["grid"]["nx"] == 4  # the camera's grid, nothing in the range
    r = api.client.get(f"{API}/heatmaps/cam1", params={"until": T0.isoformat()})
    assert r.status_code == 404 and "none stored before" in r.text and "runs no pipelines" in r.text
    png = api.client.get(f"{API}/heatmaps/cam1", params={"format": "png", "metric": "dwell"})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    image = cv2.imdecode(np.frombuffer(png.content, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[0] > 100


def test_heatmap_index_says_which_cameras_have_data(api: Api) -> None:
    """``GET /heatmaps`` lists every configured camera with whether stored buckets start in the range
    and whether this process's recorder holds its map; a camera listed with data gets a 200 map."""
    nothing = {"stored": False, "live": False, "first_bucket": None, "last_bucket": None}
    assert api.get("/heatmaps") == [{"camera_id": "cam1", **nothing}, {"camera_id": "cam2", **nothing}]

    grid = HeatmapGrid.covering("image", 64, 48, 16.0)
    q = timedelta(minutes=15)
    one = np.ones(1, np.uint32)
    with api.deps.db.begin() as conn:
        for start in (T0, T0 + 2 * q):
            b = HeatBucket(start.timestamp(), 900, np.asarray([3], np.int32), one, np.asarray([2.0], np.float32))
            add_heatmap_buckets(conn, store_id="s1", camera_id="cam1", grid=grid, buckets=[b])
            add_heatmap_buckets(conn, store_id="other", camera_id="cam2", grid=grid, buckets=[b])
    index = {row["camera_id"]: row for row in api.get("/heatmaps")}
    assert index["cam1"] == {
        "camera_id": "cam1",
        "stored": True,
        "live": False,
        "first_bucket": "2025-03-01T09:00:00Z",
        "last_bucket": "2025-03-01T09:30:00Z",
    }
    assert index["cam2"] == {"camera_id": "cam2", **nothing}  # another store's rows are not this store's
    later = api.get("/heatmaps", since=(T0 + q).isoformat())[0]
    assert later["first_bucket"] == later["last_bucket"] == "2025-03-01T09:30:00Z"
    assert api.get("/heatmaps", until=T0.isoformat())[0]["stored"] is False  # half open
    assert api.get("/heatmaps", since=(T0 + 3 * q).isoformat())[0]["stored"] is False
    assert api.client.get(f"{API}/heatmaps/cam1", params={"since": (T0 + q).isoformat()}).status_code == 200

    # cam2 (disabled, nothing stored) starts sending frames to this process's recorder: live, not stored
    api.deps.heatmaps.observe("cam2", _frame_result("cam2", 1))
    cam2 = api.get("/heatmaps", since=(T0 + 3 * q).isoformat())[1]
    assert (cam2["stored"], cam2["live"], cam2["first_bucket"]) == (False, True, None)
    png = api.client.get(f"{API}/heatmaps/cam2", params={"format": "png", "since": (T0 + 3 * q).isoformat()})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"


def test_visits_and_aggregates(api: Api) -> None:
    events = [
        ev("visit.started", 0, subject="a1", camera_id="cam1"),
        ev("zone.entered", 10, subject="a1", zone_id="z1", camera_id="cam1"),
        ev("zone.exited", 40, subject="a1", zone_id="z1", camera_id="cam1", payload={"dwell_s": 30.0}),
        ev("intent.changed", 35, subject="a1", camera_id="cam1", payload={"state": "browsing", "score": 0.6}),
        ev("visit.ended", 60, subject="a1", camera_id="cam1", payload={"fragments": 2, "confidence": 0.9}),
        ev("visit.started", 3700, subject="b2", camera_id="cam1"),
        ev("zone.exited", 3710, subject="b2", zone_id="z1", camera_id="cam1", payload={"dwell_s": 10.0}),
    ]
    store(api.deps, events)
    listed = api.get("/visits")
    assert [v["id"] for v in listed["items"]] == ["a1", "b2"] and listed["truncated"] is False
    assert listed["items"][0]["path"] is None
    assert api.get("/visits", limit=1)["truncated"] is True
    a1 = api.get("/visits/a1")
    assert a1["duration_s"] == 60 and a1["fragments"] == 2 and a1["dwell_by_zone"] == {"z1": 30.0}
    assert [(s["state"], s["score"]) for s in a1["intent_timeline"]] == [("browsing", 0.6)]
    rows = api.get("/aggregates", bucket_s=3600, zone_id="z1")["items"]
    assert [(r["bucket_start"][:19], r["exits"], r["dwell_total_s"], r["dwell_mean_s"]) for r in rows] == [
        ("2025-03-01T09:00:00", 1, 30.0, 30.0),
        ("2025-03-01T10:00:00", 1, 10.0, 10.0),
    ]
    store_rows = api.get("/aggregates", bucket_s=3600, level="store")["items"]
    assert [r["zone_id"] for r in store_rows] == [None, None]
    assert [r["visits_started"] for r in store_rows] == [1, 1]
    zone_rows = api.get("/aggregates", bucket_s=300, level="zones")["items"]
    assert zone_rows and all(r["zone_id"] == "z1" for r in zone_rows)


def test_alerts_list_and_acknowledge(api: Api) -> None:
    seen: list[Event] = []
    api.deps.bus.subscribe(seen.append, ["alert."])
    store(
        api.deps,
        [
            ev("alert.raised", 0, zone_id="z1", subject="a1", payload={"alert_id": "al-1", "severity": "warning"}),
            ev("alert.raised", 5, zone_id="z1", subject="b2", payload={"alert_id": "al-2"}),
            ev("alert.closed", 9, payload={"alert_id": "al-2"}),
        ],
    )
    assert [a["id"] for a in api.get("/alerts", state="open")] == ["al-1"]
    r = api.client.post(f"{API}/alerts/al-1/ack", json={"by": "sam", "note": "on my way"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "acknowledged" and r.json()["acknowledged_by"] == "sam"
    assert api.get("/alerts/al-1")["state"] == "acknowledged"
    assert [(e.type, e.payload["alert_id"], e.payload["by"]) for e in seen] == [("alert.acknowledged", "al-1", "sam")]
    assert api.client.post(f"{API}/alerts/al-1/ack").status_code == 200  # no body: anonymous, idempotent
    closed = api.client.post(f"{API}/alerts/al-2/ack", json={})
    assert closed.status_code == 409 and "closed" in closed.json()["detail"]
    assert api.client.post(f"{API}/alerts/al-9/ack", json={}).status_code == 404
    bad = api.client.post(f"{API}/alerts/al-1/ack", json={"by": "", "extra": 1})
    assert bad.status_code == 422


def test_promotions_are_listed_in_range(api: Api) -> None:
    store(
        api.deps,
        [
            ev("promotion.triggered", 10, zone_id="z1", payload={"promotion_id": "p1", "display": "d1"}),
            ev("promotion.triggered", 7300, zone_id="z1", payload={"promotion_id": "p2", "display": "d1"}),
        ],
    )
    assert [p["promotion_id"] for p in api.get("/promotions")] == ["p1", "p2"]
    later = api.get("/promotions", since=(T0 + timedelta(hours=1)).isoformat())
    assert [p["promotion_id"] for p in later] == ["p2"]


def test_zone_crud_is_validated_and_persisted_to_the_config_file(api: Api) -> None:
    c = api.client
    new = {"id": "z9", "name": "Bakery", "kind": "shelf", "camera": "cam1", "points": [[0, 0], [50, 0], [50, 40]]}
    r = c.post(f"{API}/zones", json=new)
    assert r.status_code == 201, r.text
    assert c.post(f"{API}/zones", json=new).status_code == 409
    on_disk = load_config(api.config_path)
    assert [z.id for z in on_disk.zones] == ["z0", "z1", "queue", "till", "z9"]
    text = api.config_path.read_text()
    assert text.startswith("# test store") and "# trailing comment" in text  # the rest of the file is kept
    r = c.put(f"{API}/zones/z9", json={**new, "name": "Bread", "points": [[0, 0], [60, 0], [60, 40], [0, 40]]})
    assert r.status_code == 200 and r.json()["name"] == "Bread"
    assert load_config(api.config_path).zones[-1].points == [(0, 0), (60, 0), (60, 40), (0, 40)]
    assert api.get("/zones/z9")["name"] == "Bread"
    invalid = [
        ({**new, "id": "z10", "points": [[0, 0], [1, 1], [2, 2]]}, "zero area"),
        ({**new, "id": "z10", "camera": "cam7"}, "unknown camera 'cam7'"),
        ({**new, "id": "z10", "camera": None}, "needs 'camera'"),
        ({**new, "id": "bad id!"}, "pattern"),
        ({**new, "id": "z10", "colour": "red"}, "Extra inputs are not permitted"),
    ]
    for body, message in invalid:
        r = c.post(f"{API}/zones", json=body)
        assert r.status_code == 422 and message in r.text, (body, r.text)
    assert c.put(f"{API}/zones/z9", json={**new, "id": "other"}).status_code == 422
    assert c.put(f"{API}/zones/nope", json={**new, "id": "nope"}).status_code == 404
    referenced = c.delete(f"{API}/zones/till")
    assert referenced.status_code == 409 and "behaviour.queues[0]" in referenced.json()["detail"]
    assert c.delete(f"{API}/zones/z9").status_code == 204
    assert c.delete(f"{API}/zones/z9").status_code == 404
    assert [z.id for z in load_config(api.config_path).zones] == ["z0", "z1", "queue", "till"]


POS_CSV = """timestamp,register,basket_value,currency,transaction_id
2025-03-01T10:03:00,till-1,12.50,EUR,t1
2025-03-01T10:40:00,till-1,7.50,EUR,t2
2025-03-01T11:10:00+01:00,till-2,30,EUR,t3
"""


def test_pos_import_conversion_and_checkout_join(api: Api) -> None:
    c = api.client
    bad = "timestamp,register,basket_value\n2025-03-01T10:00:00,till-1,abc\nnot-a-time,till-1,3\n"
    r = c.post(f"{API}/pos/import", content=bad, headers={"content-type": "text/csv"})
    assert r.status_code == 422, r.text
    msgs = [d["msg"] for d in r.json()["detail"]]
    assert msgs[0].startswith("line 2: basket_value 'abc'") and msgs[1].startswith("line 3: timestamp")
    assert c.get(f"{API}/pos/transactions").json() == []  # nothing imported from a bad file
    r = c.post(f"{API}/pos/import", content=POS_CSV, headers={"content-type": "text/csv"})
    assert r.json() == {"rows": 3, "inserted": 3, "duplicates": 0}
    again = c.post(f"{API}/pos/import", content=POS_CSV, headers={"content-type": "text/csv"})
    assert again.json() == {"rows": 3, "inserted": 0, "duplicates": 3}
    body = {"transactions": [{"timestamp": "2025-03-01T09:20:00Z", "register": "till-2", "basket_value": 5}]}
    assert c.post(f"{API}/pos/transactions", json=body).json()["inserted"] == 1
    bad_body = {"transactions": [{"timestamp": "2025-03-01T09:20:00Z", "register": "till 2", "basket_value": -1}]}
    assert c.post(f"{API}/pos/transactions", json=bad_body).status_code == 422
    txns = api.get("/pos/transactions")
    # naive CSV times are store-local (Europe/Berlin = UTC+1 in March)
    assert [(t["transaction_id"], t["timestamp"][:19]) for t in txns][:3] == [
        ("t1", "2025-03-01T09:03:00"),
        (txns[1]["transaction_id"], "2025-03-01T09:20:00"),
        ("t2", "2025-03-01T09:40:00"),
    ]
    # four shopper visits in the 09:00 UTC hour, one staff visit that must not count; checkout
    # stays: a1 queues then pays at 09:02:30-09:03:10 (t1 at 09:03), b2 at the till much later
    events = [ev("visit.started", s, subject=f"v{s}") for s in (60, 120, 600, 1200)]
    events += [
        ev("visit.started", 30, subject="staff1"),
        ev("visit.ended", 3000, subject="staff1", payload={"is_staff": True}),
        ev("zone.exited", 150, subject="v60", zone_id="queue", payload={"dwell_s": 60.0}),
        ev("zone.exited", 190, subject="v60", zone_id="till", payload={"dwell_s": 40.0}),
        ev("zone.exited", 2000, subject="v600", zone_id="till", payload={"dwell_s": 30.0}),
    ]
    store(api.deps, events)
    conv = api.get("/pos/conversion", since="2025-03-01T09:00:00Z", until="2025-03-01T11:00:00Z")
    assert conv["timezone"] == "Europe/Berlin"
    assert [(r["start"], r["transactions"], r["visits"]) for r in conv["rows"]] == [
        ("2025-03-01T10:00:00+01:00", 3, 4),
        ("2025-03-01T11:00:00+01:00", 1, 0),
    ]
    first = conv["rows"][0]
    assert first["conversion_rate"] == 0.75 and first["revenue"] == 25.0 and first["average_basket"] == 8.33
    assert conv["totals"]["transactions"] == 4 and conv["totals"]["visits"] == 4
    assert conv["checkout"]["matched"] == 1 and conv["checkout"]["checkout_stays"] == 2
    matches = api.get("/pos/matches", since="2025-03-01T09:00:00Z", until="2025-03-01T11:00:00Z")
    t1 = next(m for m in matches["items"] if m["transaction_id"] == "t1")
    assert t1["visit_id"] == "v60" and t1["zone_id"] == "till" and t1["queue_wait_s"] == 60.0
    daily = api.get("/pos/conversion", since="2025-02-28T23:00:00Z", until="2025-03-02T23:00:00Z", granularity="day")
    assert [(r["start"][:10], r["transactions"]) for r in daily["rows"]] == [("2025-03-01", 4), ("2025-03-02", 0)]


def test_exports_stream_csv_and_parquet(api: Api) -> None:
    events = random_events(1200, seed=3)
    events += [ev("visit.started", 5, subject="vx"), ev("visit.ended", 65, subject="vx")]
    store(api.deps, events)
    since, until = T0 + timedelta(hours=1), T0 + timedelta(hours=4)
    expected = sorted((e for e in events if since <= e.ts < until), key=lambda e: (e.ts, e.id))
    r = api.client.get(f"{API}/exports/events", params={"since": since.isoformat(), "until": until.isoformat()})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="s1-events.csv"' in r.headers["content-disposition"]
    lines = r.text.splitlines()
    assert lines[0] == "id,type,store_id,camera_id,zone_id,subject,ts,payload"
    assert [ln.split(",")[0] for ln in lines[1:]] == [e.id for e in expected]
    r = api.client.get(
        f"{API}/exports/events", params={"format": "parquet", "since": since.isoformat(), "until": until.isoformat()}
    )
    table = pq.read_table(io.BytesIO(r.content))
    assert table.column("id").to_pylist() == [e.id for e in expected]
    assert table.column("ts").to_pylist() == [e.ts for e in expected]
    visits = pq.read_table(io.BytesIO(api.client.get(f"{API}/exports/visits", params={"format": "parquet"}).content))
    assert "vx" in visits.column("id").to_pylist()
    aggs = api.client.get(f"{API}/exports/aggregates", params={"bucket_s": 3600}).text.splitlines()
    assert aggs[0].startswith("store_id,zone_id,bucket_start,bucket_s,events")
    assert sum(int(line.split(",")[4]) for line in aggs[1:] if line.split(",")[1] == "") == len(events)


def _frame_result(camera: str, n: int) -> FrameResult:
    image = np.zeros((48, 64, 3), np.uint8)
    frame = Frame(camera_id=camera, index=n, pts=n / 10, wall_time=T0.timestamp() + n / 10, image=image)
    tracks = make_tracks(
        [[1, 2, 11, 30], [20, 5, 30, 40]], [4, 5], score=[0.9, 0.8], detection_index=[0, -1], visit_id=[0xABC, 0xDEF]
    )
    # the camera's heat map as its behaviour stage leaves it in the result (the recorder stores it)
    heat = HeatmapAccumulator(HeatmapGrid.covering("image", 64, 48, 16.0))
    heat.update(np.asarray(tracks.subject_id), np.asarray(tracks.bottom_center, np.float64), frame.pts, frame.wall_time)
    return FrameResult(frame, Detections.empty(), tracks, [], {}, heat)


def test_websocket_delivers_filtered_events_and_overlays(api: Api) -> None:
    c = api.client
    hub = api.deps.hub
    with c.websocket_connect(f"{API}/stream?types=zone.,alert.raised&cameras=cam1&overlay=true") as ws:
        hello = ws.receive_json()
        assert hello["kind"] == "hello" and hello["types"] == ["zone.", "alert.raised"] and hello["overlay"]
        api.deps.bus.publish(ev("visit.started", 1, camera_id="cam1"))  # type filtered out
        api.deps.bus.publish(ev("zone.entered", 2, camera_id="cam2", zone_id="z1"))  # camera filtered out
        wanted = ev("zone.entered", 3, camera_id="cam1", zone_id="z1", subject="a1")
        api.deps.bus.publish(wanted)
        msg = ws.receive_json()
        assert msg == {"kind": "event", "event": wanted.to_json_dict()}
        hub.publish_overlay("cam2", _frame_result("cam2", 1))  # not this client's camera
        hub.publish_overlay("cam1", _frame_result("cam1", 7))
        overlay = ws.receive_json()
        assert overlay["kind"] == "overlay" and overlay["camera_id"] == "cam1" and overlay["frame"] == 7
        assert overlay["width"] == 64 and overlay["height"] == 48
        assert overlay["objects"] == [
            {"id": "abc", "track": 4, "box": [1.0, 2.0, 11.0, 30.0], "score": 0.9, "coasting": False},
            {"id": "def", "track": 5, "box": [20.0, 5.0, 30.0, 40.0], "score": 0.8, "coasting": True},
        ]
        api.deps.bus.publish(ev("alert.raised", 4, camera_id="cam1"))
        assert ws.receive_json()["event"]["type"] == "alert.raised"
    with c.websocket_connect(f"{API}/stream?types=zone.bogus&cameras=cam5") as ws:
        err = ws.receive_json()
        assert err["kind"] == "error" and "unknown event type 'zone.bogus'" in err["detail"][0]
        assert "unknown camera 'cam5'" in err["detail"][1]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1008


def test_a_slow_websocket_client_loses_its_oldest_messages_and_never_blocks_the_publisher() -> None:
    """A client whose socket is stuck (send never completes) while a camera thread publishes 2000
    events: publishing completes, the client's queue stays bounded, the oldest are dropped and
    counted, and once the socket drains the client gets a drop notice and the newest events."""
    hub = StreamHub(queue_size=50)
    loop = asyncio.new_event_loop()
    loop_thread = threading.Thread(target=loop.run_forever, daemon=True)
    loop_thread.start()

    class StuckSocket:
        def __init__(self) -> None:
            self.sent: list[dict[str, Any]] = []
            self.release = asyncio.Event()

        async def send_text(self, text: str) -> None:
            self.sent.append(json.loads(text))
            if len(self.sent) >= 2:  # the hello and one event go out, then the link stalls
                await self.release.wait()

        async def receive(self) -> dict[str, Any]:
            await asyncio.Event().wait()  # the client never sends anything
            return {}

    sock = asyncio.run_coroutine_threadsafe(_make(StuckSocket), loop).result(5)
    served = asyncio.run_coroutine_threadsafe(hub.serve(sock, StreamFilter(types=("zone.",)), {}), loop)  # type: ignore[arg-type]
    try:
        deadline = time.monotonic() + 10
        while hub.clients == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        events = [ev("zone.entered", i, camera_id="cam1", zone_id="z1") for i in range(2000)]
        for e in events:  # this thread plays the camera
            hub.publish_event(e)
        assert max(hub.queue_depths()) == 50  # bounded however far behind the client is
        assert hub.dropped_total >= 2000 - 2 * 50  # at most the queue plus one batch taken for sending
        loop.call_soon_threadsafe(sock.release.set)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sock.sent[-1].get("event", {}).get("id") != events[-1].id:
            time.sleep(0.01)
        delivered = [m["event"]["id"] for m in sock.sent if m["kind"] == "event"]
        notices = [m for m in sock.sent if m["kind"] == "dropped"]
        assert delivered[-1] == events[-1].id  # the newest are kept
        assert len(delivered) + hub.dropped_total == len(events)  # each event delivered or counted as dropped
        assert sum(n["count"] for n in notices) == hub.dropped_total
        ids = [e.id for e in events]
        assert delivered == sorted(delivered, key=ids.index)  # still in order
    finally:
        served.cancel()
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0.05), loop).result(5)  # let the cancellation run
        loop.call_soon_threadsafe(loop.stop)
        loop_thread.join(5)


async def _make(factory: Any) -> Any:
    """Build an object inside the event loop (asyncio primitives bind to the running loop)."""
    return factory()


def test_metrics_report_events_queues_and_sinks(api: Api) -> None:
    for i in range(3):
        api.deps.bus.publish(ev("zone.entered", i, camera_id="cam1", zone_id="z1"))
    api.deps.bus.publish(ev("zone.exited", 5, camera_id="cam1", zone_id="z1", payload={"dwell_s": 5}))
    api.deps.flush()
    api.get("/events")
    text = api.client.get("/metrics").text
    assert 'storelens_events_total{type="zone.entered"} 3.0' in text
    assert 'storelens_events_total{type="zone.exited"} 1.0' in text
    assert 'storelens_queue_depth{queue="database_memory"} 0.0' in text
    assert 'storelens_sink_errors_total{kind="failures",sink="database"} 0.0' in text
    assert "storelens_websocket_dropped_total 0.0" in text
    assert 'storelens_http_requests_total{method="GET",route="/events",status="200"}' in text
    # the events written through the bus reached the database via the sink
    assert len(api.get("/events", type="zone.")["items"]) == 4


def test_webhook_deliveries_are_visible_and_dead_letters_can_be_requeued(api: Api) -> None:
    from storelens.storage.outbox import enqueue, mark_failed

    now = datetime.now(UTC)
    with api.deps.db.begin() as conn:
        rows = [
            {
                "subscription_id": "crm",
                "event_id": f"e{i}",
                "event_type": "zone.entered",
                "url": "http://x/h",
                "body": "{}",
            }
            for i in range(3)
        ]
        enqueue(conn, rows, now=now)
        mark_failed(conn, 1, attempts=8, next_attempt_at=now, error="HTTP 500: boom", status_code=500, dead=True)
    assert api.get("/webhooks/deliveries/counts") == {"pending": 2, "delivered": 0, "dead": 1}
    (dead,) = api.get("/webhooks/deliveries", status="dead")
    assert (dead["event_id"], dead["attempts"], dead["last_status_code"]) == ("e0", 8, 500)
    assert "boom" in dead["last_error"]
    r = api.client.post(f"{API}/webhooks/deliveries/requeue", json={"ids": [dead["id"]]})
    assert r.json() == {"requeued": 1}
    assert api.get("/webhooks/deliveries/counts")["pending"] == 3


def test_health_and_readiness(api: Api) -> None:
    assert api.get("/health")["status"] == "ok"
    ready = api.get("/ready")
    assert ready["ready"] is True and ready["database"]["ok"] and ready["pipelines"] == "disabled"


def test_an_unreachable_database_is_a_503_not_a_server_error(tmp_path: Path) -> None:
    path = write_store(tmp_path)
    settings = ServiceSettings(
        store=load_config(path), database_url=f"sqlite:///{tmp_path / 'x.db'}", run_pipelines=False
    )
    deps = ServiceDeps.build(settings)
    good = deps.db
    deps.db = open_database("postgresql+psycopg://nobody@127.0.0.1:1/none", migrate=False)  # nothing listens on :1
    try:
        with TestClient(create_app(settings, deps)) as client:
            r = client.get(f"{API}/ready")
            assert r.status_code == 503 and r.json()["database"]["ok"] is False
            r = client.get(f"{API}/events")
            assert r.status_code == 503 and "database unavailable" in r.json()["detail"]
            assert r.headers["retry-after"] == "5"
    finally:
        good.close()


def test_the_auth_hook_is_consulted_per_role(api: Api) -> None:
    asked: list[str] = []

    def viewer_only(request: Any, role: str) -> None:
        asked.append(role)
        if role != "viewer":
            raise HTTPException(403, detail=f"role {role!r} required")

    api.deps.authorize = viewer_only
    assert api.client.get(f"{API}/zones").status_code == 200
    r = api.client.post(f"{API}/zones", json={"id": "q", "camera": "cam1", "points": [[0, 0], [1, 0], [1, 1]]})
    assert r.status_code == 403 and "admin" in r.text
    assert api.client.get(f"{API}/exports/events").status_code == 403  # exports need "analyst"
    assert "viewer" in asked and "admin" in asked and "analyst" in asked


def test_camera_snapshot_is_served_once_storelens_snapshot_wrote_it(api: Api) -> None:
    r = api.client.get(API + "/cameras/cam1/snapshot")
    assert r.status_code == 404 and "storelens snapshot" in r.json()["detail"], r.text
    assert api.client.get(API + "/cameras/nope/snapshot").status_code == 404
    from storelens.privacy.snapshot import snapshot_path

    path = snapshot_path(api.deps.store, "cam1")
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, png = cv2.imencode(".png", np.full((20, 30, 3), 128, np.uint8))
    assert ok
    path.write_bytes(png.tobytes())
    r = api.client.get(API + "/cameras/cam1/snapshot")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content == png.tobytes()
    assert "/api/v1/cameras/{camera_id}/snapshot" in api.get("/openapi.json")["paths"]
