"""The sink factory: what a store config turns into, and aggregate-only mode on the way out."""

from __future__ import annotations

import json
from pathlib import Path

from storelens.config import parse_config
from storelens.events.models import Event
from storelens.sinks.factory import build_sinks, sink_handler

BASE = """\
store_id: s1
cameras:
  - id: c1
    source: clip.mp4
"""


def test_default_sinks_are_database_and_jsonl(tmp_path: Path) -> None:
    sinks = build_sinks(parse_config(BASE), tmp_path)
    try:
        assert [type(s).__name__ for s in sinks.sinks] == ["DatabaseSink", "JsonlSink"]
        assert sinks.database_url.endswith("storelens.db") and sinks.jsonl_path == tmp_path / "events.jsonl"
    finally:
        sinks.close()


def test_aggregate_only_mode_strips_subjects_before_any_sink(tmp_path: Path) -> None:
    cfg = parse_config(BASE + "privacy:\n  aggregate_only: true\noutput:\n  jsonl: true\n")
    sinks = build_sinks(cfg, tmp_path)
    jsonl = next(s for s in sinks.sinks if type(s).__name__ == "JsonlSink")
    handler = sink_handler(jsonl, cfg)
    handler(Event.at("zone.exited", "s1", 100.0, camera_id="c1", zone_id="z", subject=0xBEEF, dwell_s=4.0))
    handler(Event.at("visit.ended", "s1", 101.0, camera_id="c1", subject=0xBEEF, duration_s=9.0))
    sinks.close()
    rows = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert rows, "the zone exit (an aggregate input) must still be written"
    assert all(r["subject"] is None for r in rows)
    assert "beef" not in (tmp_path / "events.jsonl").read_text()


def test_normal_mode_keeps_subjects(tmp_path: Path) -> None:
    cfg = parse_config(BASE)
    sinks = build_sinks(cfg, tmp_path)
    handler = sink_handler(sinks.sinks[1], cfg)
    handler(Event.at("zone.exited", "s1", 100.0, subject=0xBEEF, dwell_s=4.0))
    sinks.close()
    assert json.loads((tmp_path / "events.jsonl").read_text())["subject"] == "beef"
