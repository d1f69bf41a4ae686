"""examples/two-cameras end to end through `storelens run`: one store from two recorded cameras.

The example places the demo's two clips on one floor plan, with the demo's throughput settings
(INT8, one thread a camera, motion gating, the counter camera at 5 analysed fps). Run as a user
runs it, it must give store-level visits, occupancy, journeys and the store heat map, and the
entrance camera's three people must stay store visits for their whole 3.3 s clip: with motion
gating the counter camera (calm, mostly skipped) analyses its clip several times faster than the
entrance camera, and before the store feed kept recorded cameras in step the store clock followed
the fast one and cut those visits to 0.7 s.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from storelens.config import load_config
from storelens.pipeline.run import run_store
from testdata import REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

EXAMPLE = REPO / "examples" / "two-cameras" / "store.yaml"


def test_two_recorded_cameras_make_one_store(tmp_path: Path) -> None:
    cfg = load_config(EXAMPLE)
    out = run_store(cfg, tmp_path, annotate=False)
    store = out.summary["store_level"]
    assert store["cameras"] == ["entrance-cam", "counter-cam"] and store["not_fused"] == {}
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    ended = [e for e in events if e["camera_id"] is None and e["type"] == "visit.ended"]
    assert len(ended) == store["visits"] >= 6
    # the three people walking in at the entrance, seen for the whole clip (3.3 s), not cut short
    entrance = [e for e in ended if e["payload"]["duration_s"] >= 3.0 and e["payload"]["duration_s"] <= 6.0]
    assert len(entrance) >= 3
    assert store["journeys"]["first_zone"].get("walkway", 0) >= 3  # the counter clip's shoppers
    store_events = [e for e in events if e["camera_id"] is None]
    occupancy = [e["payload"]["occupancy"] for e in store_events if e["type"] == "occupancy.changed"]
    assert max(occupancy) >= 3 and occupancy[-1] == 0
    with sqlite3.connect(tmp_path / "storelens.db") as db:
        journeys = db.execute("SELECT journey FROM visits WHERE camera_id IS NULL").fetchall()
        heat = db.execute("SELECT SUM(traffic_total) FROM heatmap_buckets WHERE camera_id = '*store'").fetchone()
    assert len(journeys) == store["visits"] and any(j[0] and "walkway" in j[0] for j in journeys)
    assert heat[0] and heat[0] >= 10
    assert (tmp_path / "store_heatmap_traffic.png").exists()
