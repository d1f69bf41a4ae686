"""The durable broker outbox (sinks/outbox.py) on a real SQLite journal: what survives a restart.

A "restart" is a second MessageOutbox over the same folder after the first was abandoned without
``close`` (as a killed process leaves it); SQLite's WAL recovery sees only committed rows.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from storelens.sinks.buffer import DiskSpool
from storelens.sinks.outbox import MessageOutbox, OutboxError


def _recs(start: int, n: int) -> list[dict[str, str]]:
    return [
        {"id": f"e{i:05d}", "subject": "p.s1.cam1.zone.entered", "payload": f'{{"n":{i}}}'}
        for i in range(start, start + n)
    ]


def _ids(recs: list[dict[str, object]]) -> list[object]:
    return [r["id"] for r in recs]


def test_unacknowledged_messages_come_back_after_a_crash_oldest_first(tmp_path: Path) -> None:
    ob = MessageOutbox(tmp_path, name="nats")
    assert ob.put(_recs(0, 10)) == 10
    first = ob.take(4)
    ob.ack(first[:3])  # the broker acknowledged e0..e2; e3 was in flight when the process died
    ob.persist()  # the acknowledged rows' delete is committed (it is batched otherwise)
    again = MessageOutbox(tmp_path, name="nats")  # no close(): a kill -9
    assert len(again) == 7
    assert _ids(again.take(100)) == [f"e{i:05d}" for i in range(3, 10)]


def test_a_failed_send_is_requeued_in_order_and_acks_are_never_resent(tmp_path: Path) -> None:
    ob = MessageOutbox(tmp_path, name="nats")
    ob.put(_recs(0, 6))
    batch = ob.take(4)
    ob.ack([batch[0], batch[2]])
    ob.requeue([batch[3], batch[1]])
    assert _ids(ob.take(10)) == ["e00001", "e00003", "e00004", "e00005"]
    assert ob.take(10) == [] and len(ob) == 4


def test_bound_drops_the_oldest_waiting_and_the_count_survives_a_restart(tmp_path: Path) -> None:
    ob = MessageOutbox(tmp_path, name="nats", max_total=100)
    ob.put(_recs(0, 90))
    inflight = ob.take(5)  # e0..e4 are being sent: never dropped under the sender
    ob.put(_recs(90, 30))  # 120 > 100: the 20 oldest waiting (e5..e24) go
    assert (len(ob), ob.dropped) == (100, 20)
    ob.ack(inflight)
    ob.persist()
    again = MessageOutbox(tmp_path, name="nats", max_total=100)
    assert again.dropped == 20
    assert _ids(again.take(1000)) == [f"e{i:05d}" for i in range(25, 120)]


def test_former_spool_files_are_imported_once(tmp_path: Path) -> None:
    old = DiskSpool(tmp_path, name="nats", segment_records=3)
    old.append(_recs(0, 7))  # three segment files nats-<seq>.jsonl, as the old sink left them
    assert len(list(tmp_path.glob("nats-*.jsonl"))) == 3
    ob = MessageOutbox(tmp_path, name="nats")
    assert not list(tmp_path.glob("nats-*.jsonl"))
    assert _ids(ob.take(100)) == [f"e{i:05d}" for i in range(7)]
    assert len(MessageOutbox(tmp_path, name="nats")) == 7  # not imported a second time


def test_journal_rows_are_committed_when_put_returns(tmp_path: Path) -> None:
    ob = MessageOutbox(tmp_path, name="mqtt")
    ob.put(_recs(0, 3))
    with sqlite3.connect(ob.path) as other:  # another connection (another process) sees them
        rows = other.execute("SELECT rec FROM outbox ORDER BY seq").fetchall()
        mode = other.execute("PRAGMA journal_mode").fetchone()[0]
    assert [json.loads(r)["id"] for (r,) in rows] == ["e00000", "e00001", "e00002"] and mode == "wal"


def test_a_journal_that_cannot_be_opened_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(OutboxError, match=r"^nats outbox: cannot open journal .*not-a-dir"):
        MessageOutbox(blocker / "spool", name="nats")
