"""Retention purge per data class with a fake clock, deletion by window/camera/zone (audited),
aggregate-only anonymisation, privacy masks and the privacy report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from storelens.config.privacy import RetentionConfig
from storelens.config.store import StoreConfig
from storelens.events import payloads
from storelens.events.aggregate_only import anonymise_event, anonymise_events
from storelens.events.models import Event, EventType
from storelens.events.payloads import VisitEnded, ZoneExited, per_visit, retention_fields, typed
from storelens.lifecycle.deletion import DeletionError, DeletionRequest, delete_data
from storelens.lifecycle.report import build_report, render_report
from storelens.lifecycle.retention import PurgeScheduler, purge
from storelens.privacy.masks import masks_for
from storelens.security.audit import list_audit, verify_audit
from storelens.security.crypto import EncryptedFileStore, KeyRing, new_key_line
from storelens.storage import Database, open_database, query_events, store_events
from storelens.storage.aggregates import compute_deltas
from storelens.storage.models import AGGREGATES, ALERTS, EVENTS, VISITS
from storelens.storage.visits import VISIT_ENDED_COLUMNS, Visit, _apply

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    d = open_database(tmp_path / "p.db")
    yield d
    d.close()


def visit(subject: str, at: datetime, cam: str = "cam1", zone: str = "z1") -> list[Event]:
    def ev(t: str, sec: float, **kw: Any) -> Event:
        return Event(type=t, store_id="s1", ts=at + timedelta(seconds=sec), camera_id=cam, subject=subject, **kw)

    return [
        ev("visit.started", 0),
        ev("zone.entered", 5, zone_id=zone),
        ev("zone.exited", 40, zone_id=zone, payload={"dwell_s": 35.0}),
        ev("alert.raised", 20, zone_id=zone, payload={"alert_id": f"al-{at.timestamp():.0f}-{cam}"}),
        ev("visit.ended", 60, payload={"path": [[0, 1.0, 2.0], [5, 1.5, 2.5]], "fragments": 1}),
    ]


def seed(db: Database, visits: list[tuple[str, datetime, str, str]]) -> None:
    events = [e for s, at, cam, zone in visits for e in visit(s, at, cam, zone)]
    with db.begin() as conn:
        store_events(conn, events, buckets_s=[3600])


def count(db: Database, table: sa.Table) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_purge_per_data_class_with_a_fake_clock(db: Database, tmp_path: Path) -> None:
    seed(
        db,
        [
            ("old", NOW - timedelta(days=40), "cam1", "z1"),
            ("mid", NOW - timedelta(days=10), "cam1", "z1"),
            ("new", NOW - timedelta(hours=1), "cam1", "z1"),
        ],
    )
    snaps = EncryptedFileStore(tmp_path / "snaps", KeyRing.parse(new_key_line("k"), "t"))
    for days in (20, 8, 1):
        snaps.put("cam1", NOW - timedelta(days=days), b"\x00redacted")
    policy = RetentionConfig(events_days=30, visits_days=30, paths_days=7, aggregates_days=400, snapshots_days=7)
    # a year ago nothing was old enough: purge with a clock set back deletes nothing
    early = purge(db, policy, NOW - timedelta(days=365), snapshots=snaps)
    assert early.total == 0
    report = purge(db, policy, NOW, snapshots=snaps)
    assert report.deleted["events"] == 5 and report.deleted["visits"] == 1 and report.deleted["alerts"] == 1
    assert report.deleted["aggregates"] == 0  # aggregates outlive raw data
    assert report.snapshots == 2 and len(list(snaps.entries())) == 1
    with db.engine.connect() as conn:
        paths = dict(conn.execute(sa.select(VISITS.c.id, VISITS.c.path)).all())
        ended = {
            r.subject: r.payload
            for r in conn.execute(sa.select(EVENTS.c.subject, EVENTS.c.payload).where(EVENTS.c.type == "visit.ended"))
        }
    assert set(paths) == {"mid", "new"}
    assert paths["mid"] == [] and paths["new"] != []  # paths go after 7 days, the visit after 30
    assert "path" not in ended["mid"] and ended["mid"]["fragments"] == 1 and "path" in ended["new"]
    assert report.paths_cleared == 2  # the visit row and its visit.ended event
    assert count(db, AGGREGATES) > 0
    # the purge is audited, and a second run finds nothing more
    with db.engine.connect() as conn:
        assert [r.action for r in list_audit(conn)] == ["retention.purge", "retention.purge"]
    assert purge(db, policy, NOW, snapshots=snaps).total == 0
    assert verify_audit(db).ok


def test_the_paths_class_is_what_the_marks_say() -> None:
    """Movement trace and body height go with the paths; the zone-level journey stays with its visit."""
    assert retention_fields("paths") == {str(EventType.VISIT_ENDED): frozenset({"path", "height_m"})}
    assert retention_fields("no-such-class") == {}


def test_a_new_field_with_the_mark_is_purged_and_old_events_still_read(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone adds a movement field with the paths mark: the purge empties it with no change to
    the purge; unmarked fields, extras and mistyped values of older producers are left as they were."""

    class ZoneExitedNext(ZoneExited):
        TYPE = EventType.ZONE_EXITED
        entry_xy: list[float] | None = per_visit("Where the zone was entered", retention="paths")

    monkeypatch.setitem(payloads.PAYLOADS, str(EventType.ZONE_EXITED), ZoneExitedNext)
    assert retention_fields("paths")[str(EventType.ZONE_EXITED)] == {"entry_xy"}
    old, new = NOW - timedelta(days=10), NOW - timedelta(hours=1)

    def ended(at: datetime, subject: str) -> Event:
        legacy = {"path": [[0, 1.0, 2.0]], "height_m": 1.71, "journey": ["entrance", "z1"], "fragments": "two"}
        return Event(type="visit.ended", store_id="s1", ts=at, subject=subject, payload={**legacy, "legacy": 1})

    def exited(at: datetime, subject: str) -> Event:
        payload = {"dwell_s": 4.0, "entry_xy": [1.0, 2.0], "gaze": "shelf"}
        return Event(type="zone.exited", store_id="s1", ts=at, zone_id="z1", subject=subject, payload=payload)

    with db.begin() as conn:
        store_events(conn, [ended(old, "o"), exited(old, "o"), ended(new, "n"), exited(new, "n")], buckets_s=[3600])
    report = purge(db, RetentionConfig(paths_days=7), NOW)
    # the old visit row (path), its visit.ended (path, height_m) and its zone.exited (entry_xy)
    assert report.paths_cleared == 3
    with db.engine.connect() as conn:
        events = {(e.type, e.subject): e for e in query_events(conn, store_id="s1", limit=10).items}
        rows = {r.id: r for r in conn.execute(sa.select(VISITS))}
    assert events["visit.ended", "o"].payload == {"journey": ["entrance", "z1"], "fragments": "two", "legacy": 1}
    assert events["zone.exited", "o"].payload == {"dwell_s": 4.0, "gaze": "shelf"}
    assert events["visit.ended", "n"].payload["height_m"] == 1.71 and "entry_xy" in events["zone.exited", "n"].payload
    assert rows["o"].path == [] and rows["o"].journey == ["entrance", "z1"] and rows["n"].path == [[0, 1.0, 2.0]]
    # what is left still reads, typed: the cleared fields as absent, the mistyped one as absent
    p = typed(events["visit.ended", "o"], VisitEnded)
    assert p is not None and p.path is None and p.height_m is None and p.fragments is None
    assert p.journey == ["entrance", "z1"] and p.wire()["legacy"] == 1
    assert typed(events["zone.exited", "o"], ZoneExitedNext) == ZoneExitedNext(dwell_s=4.0, gaze="shelf")
    assert purge(db, RetentionConfig(paths_days=7), NOW).paths_cleared == 0


VISIT_ENDED_SAMPLES: dict[str, Any] = {
    "staff": True,
    "duration_s": 12.0,
    "fragments": 3,
    "confidence": 0.5,
    "started_at": "2025-06-01T11:00:00+00:00",
    "path": [[0, 1.0, 2.0]],
    "height_m": 1.7,
    "dwell_by_zone": {"z1": 3.0},
    "intent_timeline": [{"state": "browsing"}],
    "is_staff": True,
    "fused": True,
    "journey": ["z1"],
    "cameras": 2,
}


@pytest.mark.parametrize("name", sorted(VisitEnded.model_fields))
def test_the_visit_column_map_is_what_the_projection_copies(name: str) -> None:
    """The purge empties a marked field's visit column through VISIT_ENDED_COLUMNS: it must name
    exactly the column the projection copies each visit.ended field into (a new projected field
    without an entry would survive the purge in the visit row)."""
    assert name in VISIT_ENDED_SAMPLES, f"add a sample value for visit.ended's {name!r}"
    blank = Visit(store_id="s1", id="v", started_at=NOW)
    v = Visit(store_id="s1", id="v", started_at=NOW)
    _apply(v, Event(type="visit.ended", store_id="s1", ts=NOW, subject="v", payload={name: VISIT_ENDED_SAMPLES[name]}))
    changed = {c for c in blank.as_row() if c != "ended_at" and getattr(v, c) != getattr(blank, c)}
    expected = {VISIT_ENDED_COLUMNS[name]} if name in VISIT_ENDED_COLUMNS else set()
    if name == "started_at":
        expected = {"started_at"}  # not a copy: it only moves the start earlier, never emptied
    assert changed == expected


def test_aggregates_and_audit_have_their_own_horizon(db: Database) -> None:
    seed(db, [("a", NOW - timedelta(days=500), "cam1", "z1")])
    report = purge(db, RetentionConfig(audit_days=1), NOW)
    assert report.deleted["aggregates"] > 0 and count(db, AGGREGATES) == 0
    keep = purge(db, RetentionConfig(aggregates_days=None, audit_days=None), NOW + timedelta(days=3000))
    assert "aggregates" not in keep.deleted and keep.audit == 0


def test_retention_config_rules() -> None:
    with pytest.raises(ValueError, match="paths_days must be <= visits_days"):
        RetentionConfig(paths_days=40, visits_days=30)


def test_scheduler_runs_and_stops(db: Database) -> None:
    seed(db, [("old", NOW - timedelta(days=40), "cam1", "z1")])
    sched = PurgeScheduler(db, RetentionConfig(purge_interval_s=3600), clock=lambda: NOW)
    sched.start()
    for _ in range(200):
        if sched.runs:
            break
        import time

        time.sleep(0.05)
    sched.stop()
    assert sched.runs == 1 and sched.last_report is not None and sched.last_report.deleted["events"] == 5


# ------------------------------------------------------------------------------ deletion


def test_delete_by_window_camera_and_zone_is_audited(db: Database) -> None:
    t = NOW - timedelta(days=1)
    seed(
        db,
        [
            ("a", t, "cam1", "z1"),
            ("b", t + timedelta(minutes=5), "cam2", "z2"),
            ("c", t + timedelta(hours=5), "cam1", "z1"),
        ],
    )
    req = DeletionRequest(t - timedelta(minutes=1), t + timedelta(hours=1), camera_id="cam1", reason="request 7")
    report = delete_data(db, req, actor="dpo", now=NOW)
    assert report.deleted["events"] == 5 and report.deleted["visits"] == 1 and report.deleted["alerts"] == 1
    with db.engine.connect() as conn:
        subjects = {r[0] for r in conn.execute(sa.select(EVENTS.c.subject).distinct())}
        rec = list_audit(conn, limit=1)[0]
    assert subjects == {"b", "c"}
    assert rec.action == "privacy.delete" and rec.actor == "dpo" and rec.details["deleted"]["visits"] == 1
    assert rec.details["request"]["reason"] == "request 7" and rec.seq == report.audit_seq
    # by zone: visit b passed through z2; aggregates of that zone in the window go too
    zr = delete_data(db, DeletionRequest(t, t + timedelta(hours=1), zone_id="z2"), actor="dpo", now=NOW)
    assert zr.deleted["visits"] == 1 and zr.deleted["aggregates"] >= 1
    with db.engine.connect() as conn:
        assert {r[0] for r in conn.execute(sa.select(VISITS.c.id))} == {"c"}
        assert conn.execute(sa.select(sa.func.count()).where(AGGREGATES.c.zone_id == "z2")).scalar_one() == 0
    assert count(db, ALERTS) == 1 and verify_audit(db).ok


def test_bad_deletion_request_deletes_nothing() -> None:
    with pytest.raises(DeletionError, match="end must be after start"):
        DeletionRequest(NOW, NOW)


# ------------------------------------------------------------------------------ aggregate-only


def test_aggregate_only_keeps_aggregates_and_drops_per_visit_data() -> None:
    events = [
        *visit("v1", NOW),
        Event(
            type="intent.changed", store_id="s1", ts=NOW, subject="v1", payload={"state": "browsing", "reasons": ["x"]}
        ),
        Event(type="occupancy.changed", store_id="s1", ts=NOW, zone_id="z1", payload={"count": 3}),
    ]
    anon = anonymise_events(events)
    assert all(e.subject is None for e in anon)
    assert not any(e.type.startswith("intent.") for e in anon)
    ended = next(e for e in anon if e.type == "visit.ended")
    assert "path" not in ended.payload and "fragments" not in ended.payload
    assert "v1" not in json.dumps([e.to_json_dict() for e in anon])
    full, reduced = compute_deltas(events, [3600]), compute_deltas(anon, [3600])
    assert {k: (d.entries, d.exits, d.dwell_total_s, d.visits_started) for k, d in full.items()} == {
        k: (d.entries, d.exits, d.dwell_total_s, d.visits_started) for k, d in reduced.items()
    }
    assert anonymise_event(Event(type="expression.summary", store_id="s1", ts=NOW, subject="v1")) is None


# ------------------------------------------------------------------------------ masks + report


def store_cfg(**privacy: Any) -> StoreConfig:
    return StoreConfig(
        store_id="s1",
        cameras=[{"id": "cam1", "source": "a.mp4"}, {"id": "cam2", "source": "b.mp4"}],
        privacy=privacy,
        emotion={"enabled": True},  # explicit: in the (default) EU it is off otherwise
    )


def test_masks_are_per_camera_and_scaled() -> None:
    cfg = store_cfg(masks=[{"camera": "cam1", "name": "PIN pad", "points": [[10, 10], [20, 10], [20, 30]]}])
    assert masks_for(cfg, "cam1", 0.5) == [[(5, 5), (10, 5), (10, 15)]]
    assert masks_for(cfg, "cam2") == []


def test_privacy_report_reflects_the_config(db: Database) -> None:
    cfg = store_cfg(controller="ACME Retail", retention={"events_days": 14, "visits_days": 14, "paths_days": 3})
    text = render_report(build_report(cfg, db), "text")
    assert "ACME Retail" in text and "events: 14 days" in text and "paths: 3 days" in text
    assert "Emotion recognition: ON" in text and "facial expression" in text
    off = StoreConfig.model_validate({**cfg.model_dump(exclude={"base_dir"}), "emotion": {"enabled": False}})
    report = build_report(off)
    assert not report.emotion_recognition and not any("expression" in c["what"] for c in report.collected)
    assert "Emotion recognition: OFF" in render_report(report, "markdown")
    agg = build_report(store_cfg(aggregate_only=True))
    assert all("aggregate-only" in c["linked_to"] or "aggregate" in c["linked_to"] for c in agg.collected)
    assert json.loads(render_report(agg, "json"))["aggregate_only"] is True
