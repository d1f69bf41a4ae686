"""JSONL sink on real files: one object per line, appends across runs, flush/close semantics."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from storelens.events.models import Event
from storelens.sinks.base import EventSink
from storelens.sinks.jsonl import JsonlSink, read_jsonl


def _events(n: int, start: int = 0) -> list[Event]:
    t = datetime(2025, 3, 1, tzinfo=UTC).timestamp()
    return [
        Event.at("zone.exited", "s1", t + i, camera_id="c1", zone_id="z1", subject=i, dwell_s=1.5)
        for i in range(start, start + n)
    ]


def test_is_an_event_sink(tmp_path: Path) -> None:
    with JsonlSink(tmp_path / "e.jsonl") as sink:
        assert isinstance(sink, EventSink)


def test_lines_round_trip_and_runs_append(tmp_path: Path) -> None:
    path = tmp_path / "out" / "events.jsonl"  # parent created on demand
    first, second = _events(3), _events(2, start=3)
    with JsonlSink(path) as sink:
        sink.write(first)
    with JsonlSink(path) as sink:
        sink.write(second)
    lines = path.read_text().splitlines()
    assert len(lines) == 5 and all(json.loads(line)["type"] == "zone.exited" for line in lines)
    assert [e.id for e in read_jsonl(path)] == [e.id for e in first + second]
    assert list(read_jsonl(path)) == first + second


def test_nothing_visible_before_flush_everything_after(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    sink = JsonlSink(path)
    sink.write(_events(2))
    assert path.read_text() == ""  # buffered: the frame loop did not pay for a syscall
    sink.flush()
    assert len(path.read_text().splitlines()) == 2
    sink.close()
    sink.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        sink.write(_events(1))


def test_flush_every(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    sink = JsonlSink(path, flush_every=3, fsync_on_flush=True)
    sink.write(_events(2))
    assert path.read_text() == ""
    sink.write(_events(1, start=2))
    assert len(path.read_text().splitlines()) == 3
    sink.close()


def test_numpy_payload_is_plain_json_and_bad_payload_fails_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    ok = Event.at("queue.updated", "s1", 0.0, zone_id="q", length=np.int64(4), waits=np.array([1.5, 2.0]))
    bad = Event.at("queue.updated", "s1", 1.0, zone_id="q", lock=threading.Lock())
    with JsonlSink(path) as sink:
        sink.write([ok])
        with pytest.raises(TypeError, match="not JSON serializable"):
            sink.write([ok, bad])  # the whole batch is refused: no partial line reaches the file
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["payload"] == {"length": 4, "waits": [1.5, 2.0]}


def test_concurrent_writers_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    sink = JsonlSink(path)
    batches = [_events(50, start=k * 50) for k in range(8)]
    threads = [threading.Thread(target=sink.write, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.close()
    got = {e.id for e in read_jsonl(path)}
    assert got == {e.id for b in batches for e in b}


def test_read_jsonl_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    with JsonlSink(path) as sink:
        sink.write(_events(1))
    with path.open("a") as fh:
        fh.write("{not json\n")
    with pytest.raises(ValueError, match=r"e\.jsonl:2: not a valid event"):
        list(read_jsonl(path))
