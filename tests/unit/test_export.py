"""Exports on a real SQLite database: every row once, in order, page by page (streamed), for CSV and
Parquet, events/visits/aggregates; the file writer and the `storelens export` command."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from storelens.cli.main import app as cli
from storelens.events.models import Event
from storelens.output.export import ExportQuery, export_to_file, iter_pages, stream_export
from storelens.storage import Database, open_database, store_events

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def ev(t: str, sec: float, **kw: object) -> Event:
    payload = kw.pop("payload", {})
    return Event(type=t, store_id="s1", ts=T0 + timedelta(seconds=sec), payload=payload, **kw)  # type: ignore[arg-type]


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = open_database(tmp_path / "x.db")
    events = [
        ev("zone.exited", i * 7, zone_id=f"z{i % 3}", subject=f"v{i % 40}", payload={"dwell_s": i % 9})
        for i in range(2500)
    ]
    events += [ev("visit.started", i * 20, subject=f"v{i}") for i in range(40)]
    events += [ev("visit.ended", 900 + i * 20, subject=f"v{i}", payload={"is_staff": i == 3}) for i in range(40)]
    events.append(ev("zone.entered", 0, zone_id="z0", subject="q", payload={"note": 'comma, "quote"\nnewline'}))
    events.append(Event(type="zone.entered", store_id="other", ts=T0, zone_id="z0"))  # another store: never exported
    with database.begin() as conn:
        store_events(conn, events, buckets_s=(300, 3600))
    return database


def _events(db: Database) -> list[tuple[datetime, str]]:
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT ts, id FROM events WHERE store_id='s1' ORDER BY ts, id").all()
    return [(datetime.fromisoformat(str(ts)).replace(tzinfo=UTC), i) for ts, i in rows]


def test_event_pages_cover_the_range_once_in_order(db: Database) -> None:
    since, until = T0 + timedelta(minutes=10), T0 + timedelta(hours=3)
    pages = list(iter_pages(db, ExportQuery("s1", "events", since, until, page=333)))
    ids = [r["id"] for p in pages for r in p]
    assert ids == [i for ts, i in _events(db) if since <= ts < until]
    assert len(pages) == -(-len(ids) // 333) and all(len(p) <= 333 for p in pages)


def test_csv_is_streamed_in_chunks_and_round_trips(db: Database) -> None:
    chunks = list(stream_export(db, ExportQuery("s1", "events", page=500), "csv"))
    assert len(chunks) >= 6  # header + one chunk per page: nothing buffered whole
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert [r["id"] for r in rows] == [i for _, i in _events(db)]
    odd = next(r for r in rows if r["subject"] == "q")
    assert json.loads(odd["payload"]) == {"note": 'comma, "quote"\nnewline'}
    assert odd["camera_id"] == "" and datetime.fromisoformat(odd["ts"]) == T0


def test_parquet_has_one_row_group_per_page_and_typed_columns(db: Database) -> None:
    q = ExportQuery("s1", "events", until=T0 + timedelta(hours=1), page=200)
    data = b"".join(stream_export(db, q, "parquet"))
    f = pq.ParquetFile(io.BytesIO(data))
    table = f.read()
    expected = [(ts, i) for ts, i in _events(db) if ts < T0 + timedelta(hours=1)]
    assert table.column("id").to_pylist() == [i for _, i in expected]
    assert table.column("ts").to_pylist() == [ts for ts, _ in expected]
    assert f.num_row_groups == -(-len(expected) // 200)
    assert str(table.schema.field("ts").type) == "timestamp[us, tz=UTC]"


def test_visits_and_aggregates_export(db: Database) -> None:
    visits = pq.read_table(io.BytesIO(b"".join(stream_export(db, ExportQuery("s1", "visits", page=7), "parquet"))))
    assert visits.num_rows == 40
    assert visits.column("id").to_pylist() == [f"v{i}" for i in range(40)]
    assert visits.column("is_staff").to_pylist()[3] is True
    assert visits.column("duration_s").to_pylist()[0] == 900.0
    assert json.loads(visits.column("dwell_by_zone").to_pylist()[0])  # dwell accumulated from zone.exited
    text = b"".join(stream_export(db, ExportQuery("s1", "aggregates", bucket_s=300, page=5), "csv")).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sum(int(r["events"]) for r in rows if r["zone_id"] == "") == 2500 + 80 + 1
    keys = [(r["bucket_start"], r["zone_id"]) for r in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    dwell = [r for r in rows if r["dwell_count"] not in ("", "0")]
    assert all(abs(float(r["dwell_mean_s"]) - float(r["dwell_total_s"]) / int(r["dwell_count"])) < 1e-9 for r in dwell)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataset": "people"}, "unknown dataset"),
        ({"dataset": "events", "since": T0, "until": T0}, "until must be after since"),
        ({"dataset": "events", "page": 0}, "page must be"),
    ],
)
def test_bad_queries_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ExportQuery(store_id="s1", **kwargs)  # type: ignore[arg-type]


def test_file_export_and_cli(db: Database, tmp_path: Path) -> None:
    out = tmp_path / "e.csv"
    size = export_to_file(db, ExportQuery("s1", "events"), "csv", out)
    assert out.stat().st_size == size and not (tmp_path / "e.csv.part").exists()
    url = db.url
    result = CliRunner().invoke(
        cli,
        [
            "export",
            "events",
            "--db",
            url,
            "--store",
            "s1",
            "--since",
            "2025-03-01T10:00:00Z",
            "-f",
            "parquet",
            "-o",
            str(tmp_path / "e.parquet"),
        ],
    )
    assert result.exit_code == 0, result.output
    table = pq.read_table(tmp_path / "e.parquet")
    assert table.num_rows == sum(1 for ts, _ in _events(db) if ts >= T0 + timedelta(hours=1))
    bad = CliRunner().invoke(cli, ["export", "events", "--db", url, "--store", "s1", "--since", "noon", "-o", str(out)])
    assert bad.exit_code != 0 and "ISO 8601" in bad.output
