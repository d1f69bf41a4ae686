"""Heat maps in the database (real SQLite files): migration, additive writes, range queries, grid
changes, and the recorder that flushes the pipeline's accumulators without counting twice."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from factories import boxes_on_feet, make_tracks
from storelens.analytics.heatmap import HeatBucket, HeatmapAccumulator, HeatmapGrid
from storelens.analytics.stage import BehaviourStage
from storelens.config.store import StoreConfig
from storelens.core.results import FrameResult
from storelens.core.types import Detections, Frame
from storelens.pipeline.heatmaps import HeatmapRecorder
from storelens.service.heatmaps import heatmap_view
from storelens.storage import open_database
from storelens.storage.database import Database, create_engine
from storelens.storage.heatmaps import (
    StoredHeatmap,
    StoredSpan,
    add_heatmap_buckets,
    grid_key,
    read_heatmap,
    stored_heatmap_spans,
)
from storelens.storage.migrate import alembic_config, head_revision
from storelens.storage.models import HEATMAP_BUCKETS, load_all_models
from storelens.storage.retention import RetentionPolicy, purge_older_than

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
GRID = HeatmapGrid.covering("image", 64, 48, 16.0)  # 4 x 3 cells
BUCKET_S = 900


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    d = open_database(tmp_path / "heat.db")
    yield d
    d.close()


def bucket(
    start: datetime, cells: list[int], traffic: list[int], dwell: list[float], size: int = BUCKET_S
) -> HeatBucket:
    return HeatBucket(
        start.timestamp(),
        size,
        np.asarray(cells, np.int32),
        np.asarray(traffic, np.uint32),
        np.asarray(dwell, np.float32),
    )


def add(db: Database, *buckets: HeatBucket, grid: HeatmapGrid = GRID, camera: str = "cam1") -> int:
    with db.begin() as conn:
        return add_heatmap_buckets(conn, store_id="s1", camera_id=camera, grid=grid, buckets=buckets)


def read(
    db: Database,
    since: datetime | None = None,
    until: datetime | None = None,
    grid: HeatmapGrid | None = None,
    camera: str = "cam1",
) -> StoredHeatmap | None:
    with db.begin() as conn:
        return read_heatmap(conn, store_id="s1", camera_id=camera, since=since, until=until, grid=grid)


def got(db: Database, **kw: datetime | HeatmapGrid | None) -> StoredHeatmap:
    out = read(db, **kw)  # type: ignore[arg-type]
    assert out is not None
    return out


# ----------------------------------------------------------------------------- accumulator


def test_drained_increments_add_up_to_what_an_undrained_accumulator_holds() -> None:
    """Random sightings over three buckets; one accumulator is drained at random frames, the other
    never: per bucket, the increments sum to the same traffic (exactly) and dwell."""
    rng = np.random.default_rng(3)
    whole = HeatmapAccumulator(GRID, bucket_s=60, max_step_s=1.0)
    drained = HeatmapAccumulator(GRID, bucket_s=60, max_step_s=1.0)
    parts: list[HeatBucket] = []
    t0 = T0.timestamp()
    for i in range(1800):  # 180 s at 10 fps
        n = int(rng.integers(0, 5))
        subjects = rng.integers(0, 6, n).astype(np.int64)
        subjects = np.unique(subjects)
        xy = rng.uniform(0, [64, 48], size=(len(subjects), 2))
        for acc in (whole, drained):
            acc.update(subjects, xy, i / 10, t0 + i / 10)
        if rng.random() < 0.02:
            parts += drained.drain()
    whole.flush()
    parts += drained.drain()
    assert drained.undrained()[1].sum() == 0  # nothing left to hand out after a drain...
    np.testing.assert_allclose(drained.maps()[1], whole.maps()[1], rtol=1e-5)  # ...and nothing forgotten
    np.testing.assert_array_equal(drained.maps()[0], whole.maps()[0])
    assert len(parts) > 3  # the open buckets were drained several times
    for b in whole.buckets:
        mine = [p for p in parts if p.start == b.start]
        traffic = np.zeros(GRID.size)
        dwell = np.zeros(GRID.size)
        for p in mine:
            traffic[p.cells] += p.traffic
            dwell[p.cells] += p.dwell
        ref_t = np.zeros(GRID.size)
        ref_d = np.zeros(GRID.size)
        ref_t[b.cells] = b.traffic
        ref_d[b.cells] = b.dwell
        np.testing.assert_array_equal(traffic, ref_t)
        np.testing.assert_allclose(dwell, ref_d, rtol=1e-5)
    assert {p.start for p in parts} == {b.start for b in whole.buckets}


# ------------------------------------------------------------------------------- migration


def test_upgrade_from_0004_keeps_the_data_and_adds_the_table(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = create_engine(path)
    cfg = alembic_config()
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004_events_filter_idx")
        conn.execute(
            sa.text(
                "INSERT INTO events (id, type, store_id, ts, payload) "
                "VALUES ('e1', 'zone.entered', 's1', '2025-03-01 09:00:00', '{}')"
            )
        )
        conn.commit()
    engine.dispose()
    assert "heatmap_buckets" not in sa.inspect(create_engine(path)).get_table_names()
    with open_database(path) as db:
        assert db.schema_revision() == head_revision()  # 0005 or a later revision
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT id FROM events")).scalars().all() == ["e1"]
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), load_all_models())
        assert diff == []
        add(db, bucket(T0, [1], [1], [2.0]))
        assert got(db).dwell.sum() == pytest.approx(2.0)


# --------------------------------------------------------------------------- writes, reads


def test_writes_add_to_the_stored_bucket(db: Database) -> None:
    """Two flushes of one bucket (and two increments in one call) equal the summed bucket."""
    assert add(db, bucket(T0, [0, 5], [1, 2], [1.5, 3.0])) == 1
    assert add(db, bucket(T0, [5, 11], [1, 4], [0.5, 2.0]), bucket(T0, [0], [1], [0.25])) == 1
    traffic = got(db).traffic.ravel()
    dwell = got(db).dwell.ravel()
    assert traffic.tolist() == [2, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 4]
    np.testing.assert_allclose(dwell[[0, 5, 11]], [1.75, 3.5, 2.0])
    assert dwell.sum() == pytest.approx(7.25)
    with db.begin() as conn:
        row = conn.execute(sa.select(HEATMAP_BUCKETS)).one()
    assert (row.n_cells, row.traffic_total, row.dwell_total_s) == (3, 9, pytest.approx(7.25))
    assert row.grid_key == grid_key(GRID) == "image:0.0,0.0:16.0:4x3"
    assert len(row.cells) == len(row.traffic) == len(row.dwell) == 12  # 4 bytes per value per cell


def test_bad_increments_are_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="outside the 4x3 grid"):
        add(db, bucket(T0, [12], [1], [1.0]))
    assert add(db, bucket(T0, [], [], [])) == 0
    assert read(db) is None


def test_range_is_half_open_on_bucket_starts(db: Database) -> None:
    q = timedelta(minutes=15)
    add(db, bucket(T0, [0], [1], [1.0]), bucket(T0 + q, [1], [1], [2.0]), bucket(T0 + 2 * q, [2], [1], [4.0]))
    add(db, bucket(T0, [0], [7], [100.0]), camera="cam2")  # another camera is not mixed in

    def total(since: datetime | None, until: datetime | None) -> float:
        out = read(db, since=since, until=until)
        return -1.0 if out is None else float(out.dwell.sum())

    assert total(None, None) == 7.0
    assert total(T0 + q, T0 + 2 * q) == 2.0
    assert total(T0 + q, None) == 6.0
    assert total(T0 + timedelta(seconds=1), T0 + q) == 0.0  # no bucket starts in it: zeros
    assert total(None, T0) == -1.0  # nothing before: no grid to show
    two = got(db, since=T0, until=T0 + 2 * q)
    assert two.buckets == 2 and two.bucket_s == BUCKET_S and two.skipped == 0


def test_spans_name_the_cameras_with_buckets_in_a_range(db: Database) -> None:
    """The index behind ``GET /heatmaps``: per camera of the store, the first and last bucket start
    in [since, until), on any grid; cameras (and stores) with nothing in the range are absent."""
    q = timedelta(minutes=15)
    big = HeatmapGrid.covering("image", 128, 96, 16.0)
    add(db, bucket(T0, [0], [1], [1.0]), bucket(T0 + 2 * q, [1], [1], [2.0]))
    add(db, bucket(T0 + 3 * q, [0], [1], [1.0]), grid=big)  # a grid change still counts as data
    add(db, bucket(T0 + q, [0], [1], [1.0]), camera="cam2")
    with db.begin() as conn:
        add_heatmap_buckets(conn, store_id="other", camera_id="cam3", grid=GRID, buckets=[bucket(T0, [0], [1], [1.0])])

    def spans(since: datetime | None = None, until: datetime | None = None) -> dict[str, StoredSpan]:
        with db.begin() as conn:
            return stored_heatmap_spans(conn, store_id="s1", since=since, until=until)

    assert spans() == {"cam1": StoredSpan(T0, T0 + 3 * q), "cam2": StoredSpan(T0 + q, T0 + q)}
    assert spans(since=T0 + q, until=T0 + 3 * q) == {
        "cam1": StoredSpan(T0 + 2 * q, T0 + 2 * q),
        "cam2": StoredSpan(T0 + q, T0 + q),
    }
    assert spans(since=T0 + 2 * q) == {"cam1": StoredSpan(T0 + 2 * q, T0 + 3 * q)}
    assert spans(until=T0) == {}  # half open: a bucket starting at `until` is out
    assert spans(since=T0 + 4 * q) == {}
    first = spans()["cam1"].first_bucket
    assert first.tzinfo is not None and first.utcoffset() == timedelta(0)


def test_a_grid_change_keeps_rows_apart_and_shows_the_newest_grid(db: Database) -> None:
    """The camera's resolution grew at 09:15: older rows are on the small grid, newer on the big one.
    They are never added together; a query shows the grid in effect at the end of its range."""
    big = HeatmapGrid.covering("image", 128, 96, 16.0)  # 8 x 6
    q = timedelta(minutes=15)
    add(db, bucket(T0, [0], [1], [1.0]))
    add(db, bucket(T0 + q, [0], [1], [10.0]), grid=big)
    add(db, bucket(T0 + q, [3], [1], [2.0]))  # a late flush of the old grid, same bucket: own row
    newest = got(db)
    assert newest.grid == big and newest.dwell.sum() == 10.0 and newest.skipped == 2
    older = got(db, until=T0 + q)
    assert older.grid == GRID and older.dwell.sum() == 1.0 and older.skipped == 0
    small = got(db, grid=GRID)
    assert small.dwell.sum() == 3.0 and small.buckets == 2 and small.skipped == 1
    other = got(db, grid=HeatmapGrid.covering("floor", 10, 10, 0.5))
    assert other.buckets == 0 and other.dwell.sum() == 0 and other.skipped == 3


def test_retention_drops_old_heatmap_buckets_with_the_aggregates_horizon(db: Database) -> None:
    add(db, bucket(T0 - timedelta(days=40), [0], [1], [1.0]), bucket(T0, [1], [1], [2.0]))
    deleted = purge_older_than(db, RetentionPolicy(heatmaps_days=30), now=T0)
    assert deleted["heatmap_buckets"] == 1
    assert got(db).dwell.sum() == 2.0 and got(db).buckets == 1


# -------------------------------------------------------------------------------- recorder


def store_config(bucket_s: int = 60) -> StoreConfig:
    return StoreConfig.model_validate(
        {
            "store_id": "s1",
            "cameras": [{"id": "cam1", "source": "x.mp4"}],
            "behaviour": {"heatmap": {"cell_px": 16, "bucket_s": bucket_s, "max_step_s": 1.0}},
        }
    )


def frame_result(
    n: int, subjects: list[int], xy: list[tuple[float, float]], size: tuple[int, int] = (64, 48)
) -> FrameResult:
    """Frame ``n`` at 10 fps from T0; each subject's box has its feet at the given point."""
    image = np.zeros((size[1], size[0], 3), np.uint8)
    frame = Frame(camera_id="cam1", index=n, pts=n / 10, wall_time=T0.timestamp() + n / 10, image=image)
    feet = np.asarray(xy, np.float32).reshape(-1, 2)
    tracks = make_tracks(boxes_on_feet(feet, width=4, height=10), np.arange(len(subjects)), visit_id=subjects)
    return FrameResult(frame, Detections.empty(), tracks, [], {})


class Camera:
    """One camera's behaviour stage (the real one, uncalibrated: its map is in frame pixels) in
    front of the recorder, as in the pipeline: the stage counts each frame, the recorder is handed
    the stage's accumulator with the frame (:attr:`FrameResult.heat`)."""

    def __init__(self, rec: HeatmapRecorder, cfg: StoreConfig | None = None) -> None:
        self.rec = rec
        self.stage = BehaviourStage(cfg or store_config(), "cam1")

    def __call__(self, r: FrameResult) -> None:
        frame = r.frame
        self.stage.update(r.tracks, frame.pts, frame.wall_time, frame_size=(frame.width, frame.height))
        self.rec.observe("cam1", dataclasses.replace(r, heat=self.stage.heatmap))


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def totals(db: Database, rec: HeatmapRecorder, **kw: datetime | None) -> tuple[float, float]:
    with db.engine.connect() as conn:
        view = heatmap_view(conn, rec, "s1", "cam1", kw.get("since"), kw.get("until"))
    assert view is not None
    return float(view.traffic.sum()), float(view.dwell.sum())


def stored(db: Database) -> tuple[float, float]:
    out = read(db)
    if out is None:
        return 0.0, 0.0
    return float(out.traffic.sum()), float(out.dwell.sum())


def reference(frames: list[FrameResult], bucket_s: int = 60, since: datetime | None = None) -> tuple[float, float]:
    """Totals of one never-drained accumulator over the same frames (buckets from ``since`` on)."""
    acc = HeatmapAccumulator(GRID, bucket_s, 1.0)
    for r in frames:
        acc.update(
            np.asarray(r.tracks.subject_id, np.int64),
            np.asarray(r.tracks.bottom_center, np.float64),
            r.frame.pts,
            r.frame.wall_time,
        )
    traffic, dwell = acc.maps(None if since is None else since.timestamp())
    return float(traffic.sum()), float(dwell.sum())


def walk(n0: int, n1: int) -> list[FrameResult]:
    """Two shoppers: one stands in cell 5, one walks across the frame."""
    return [frame_result(n, [7, 8], [(20.0, 20.0), (float(n % 64), 40.0)]) for n in range(n0, n1)]


def test_recorder_flushes_periodically_off_the_camera_thread_and_views_never_double_count(db: Database) -> None:
    clock = FakeClock()
    rec = HeatmapRecorder(store_config(), db, flush_every_s=60.0, clock=clock)
    cam = Camera(rec)
    frames = walk(0, 900)  # 90 s: two buckets of 60 s
    for i, r in enumerate(frames):
        cam(r)
        if i % 100 == 99:
            clock.t += 30.0  # a flush is due every other 100 frames
            with rec.reading("cam1"):  # waits for a flush thread in progress
                pass
            assert totals(db, rec) == pytest.approx(reference(frames[: i + 1]), rel=1e-5)
    with rec.reading("cam1"):
        pass
    assert 0 < stored(db)[1] < reference(frames)[1]  # flushed periodically, the rest still in memory
    written = rec.rows_written
    assert written >= 3
    assert totals(db, rec) == pytest.approx(reference(frames), rel=1e-5)
    rec.flush()
    assert stored(db) == pytest.approx(reference(frames), rel=1e-5)
    assert totals(db, rec) == pytest.approx(reference(frames), rel=1e-5)  # memory now holds nothing new
    since = T0 + timedelta(seconds=60)
    assert totals(db, rec, since=since) == pytest.approx(reference(frames, since=since), rel=1e-5)
    assert totals(db, rec, until=since) == pytest.approx(reference(frames[:600]), rel=1e-5)
    # the stage's own map (summary, PNGs) still holds everything it saw: drains take nothing from it
    heat = cam.stage.summary()["heatmaps"]
    assert np.sum(heat["dwell_s"]) == pytest.approx(reference(frames)[1], abs=0.01 * GRID.size)


def test_a_restart_mid_bucket_keeps_dwell_and_counts_a_spanning_visit_twice(db: Database) -> None:
    before, after = walk(0, 200), walk(200, 400)  # one 60 s bucket... and the next
    first = HeatmapRecorder(store_config(bucket_s=3600), db)
    cam = Camera(first, store_config(bucket_s=3600))
    for r in before:
        cam(r)
    first.flush()  # the process stops here
    second = HeatmapRecorder(store_config(bucket_s=3600), db)
    cam = Camera(second, store_config(bucket_s=3600))
    for r in after:
        cam(r)
    second.flush()
    with db.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(HEATMAP_BUCKETS)).scalar_one() == 1
    ref_before, ref_after = reference(before, 3600), reference(after, 3600)
    # dwell: neither lost nor doubled (the restart's first frame credits no time, as a fresh start)
    assert stored(db)[1] == pytest.approx(ref_before[1] + ref_after[1], rel=1e-5)
    # traffic: the shopper standing in cell 5 across the restart is one visit counted twice there
    cell5 = GRID.cell_index(np.array([[20.0, 20.0]]))[0]
    assert cell5 == 5 and got(db).traffic.ravel()[cell5] == 2
    assert stored(db)[0] == ref_before[0] + ref_after[0]


def test_a_failed_flush_keeps_the_increment_for_the_next(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    rec = HeatmapRecorder(store_config(), db)
    cam = Camera(rec)
    frames = walk(0, 150)
    for r in frames[:100]:
        cam(r)
    with db.begin() as conn:
        HEATMAP_BUCKETS.drop(conn)
    with caplog.at_level(logging.WARNING, logger="storelens.pipeline.heatmaps"):
        assert rec.flush() == 0
    assert "could not store heat maps of camera cam1" in caplog.text
    with db.begin() as conn:
        HEATMAP_BUCKETS.create(conn)
    for r in frames[100:]:
        cam(r)
    assert rec.flush() == 1  # both increments of the one bucket, merged
    assert stored(db) == pytest.approx(reference(frames), rel=1e-5)


def test_a_rebuilt_camera_with_a_larger_frame_keeps_the_old_grid_stored(db: Database) -> None:
    """A camera rebuilt with a larger frame (a new stage, a new grid): the old accumulator's
    increment is stored on its own grid, the view shows the new one."""
    rec = HeatmapRecorder(store_config(), db)
    cam = Camera(rec)
    for n in range(20):
        cam(frame_result(n, [1], [(20.0, 20.0)]))
    cam = Camera(rec)
    for n in range(20, 40):
        cam(frame_result(n, [1], [(100.0, 80.0)], size=(128, 96)))
    rec.flush()
    with db.begin() as conn:
        keys = sorted(conn.execute(sa.select(HEATMAP_BUCKETS.c.grid_key)).scalars())
    assert keys == ["image:0.0,0.0:16.0:4x3", "image:0.0,0.0:16.0:8x6"]
    # the view shows the current (larger) grid only: the 20 frames since the change, 19 steps of 0.1 s
    assert totals(db, rec) == (1.0, pytest.approx(1.9, rel=1e-5))
    assert got(db, grid=GRID).dwell.sum() == pytest.approx(1.9, rel=1e-5)  # the old grid's, kept


def test_recorder_without_a_database_only_keeps_memory() -> None:
    rec = HeatmapRecorder(store_config(), None, flush_every_s=0.0)
    cam = Camera(rec)
    for r in walk(0, 50):
        cam(r)
    assert rec.flush() == 0 and rec.rows_written == 0
    live = rec.live("cam1", None, None)
    assert live is not None and live.dwell.sum() == pytest.approx(reference(walk(0, 50))[1], rel=1e-5)


def test_sqlite_file_is_readable_by_plain_sqlite(db: Database) -> None:
    """The packed arrays are plain little-endian bytes: any client can decode them."""
    add(db, bucket(T0, [2, 7], [3, 1], [1.25, 0.5]))
    path = db.engine.url.database
    assert path is not None
    with sqlite3.connect(path) as con:
        cells, traffic, dwell = con.execute("SELECT cells, traffic, dwell FROM heatmap_buckets").fetchone()
    decoded: list[npt.NDArray[np.generic]] = [
        np.frombuffer(cells, "<i4"),
        np.frombuffer(traffic, "<u4"),
        np.frombuffer(dwell, "<f4"),
    ]
    assert [a.tolist() for a in decoded] == [[2, 7], [3, 1], [1.25, 0.5]]


def test_a_frame_without_a_heat_map_records_nothing() -> None:
    """The recorder counts nothing itself: a frame of a pipeline without a behaviour stage adds no
    camera (and no map) to it."""
    rec = HeatmapRecorder(store_config(), None)
    rec.observe("cam1", frame_result(0, [1], [(20.0, 20.0)]))
    assert rec.cameras() == [] and rec.live("cam1", None, None) is None


def test_a_database_that_cannot_be_opened_at_first_is_retried_and_loses_nothing(tmp_path: Path) -> None:
    """Given a URL, the recorder opens the database at its first flush; while that fails the maps
    stay in memory, and the next flush after the database appears stores all of them."""
    blocker = tmp_path / "later"
    blocker.write_text("a file where the database folder should be: the database cannot be opened")
    target = blocker / "heat.db"
    rec = HeatmapRecorder(store_config(), f"sqlite:///{target}")
    cam = Camera(rec)
    frames = walk(0, 300)
    for r in frames[:150]:
        cam(r)
    assert rec.flush() == 0  # cannot open: kept
    blocker.unlink()
    blocker.mkdir()
    for r in frames[150:]:
        cam(r)
    assert rec.flush() >= 1
    rec.close()
    with open_database(target) as db:
        assert stored(db) == pytest.approx(reference(frames), rel=1e-5)
