"""Heat maps in the database: one row per (store, camera, time bucket, grid), added to as frames come.

Format. A row holds the non-empty cells of one bucket as three packed little-endian arrays: flat
cell index (int32), unique visits (uint32), dwell seconds (float32), i.e. 12 bytes per non-empty
cell, the layout of :class:`~storelens.analytics.heatmap.HeatBucket`. A JSON ``{index: value}`` map
would be about three times larger, slower to turn into numpy arrays, and no easier to merge: neither
format can be added to another inside SQL portably (SQLite has no array types), so the merge is a
read-modify-write in Python, in one transaction, with the row locked (``INSERT .. ON CONFLICT DO
NOTHING`` creates it, then ``SELECT .. FOR UPDATE`` on PostgreSQL; on SQLite that first insert takes
the database's write lock). One row per bucket keeps the table small: a camera with 15-minute
buckets writes 2,880 rows a month, and a range query reads and sums exactly the rows in the range.

Additive writes. The pipeline flushes what its accumulator gained since its previous flush
(:meth:`HeatmapAccumulator.drain`), and :func:`add_heatmap_buckets` adds it to the stored row. So a
bucket may be written many times while it is open, and a process that restarts in the middle of a
bucket neither loses the dwell recorded before the restart nor counts it twice. One imprecision is
accepted: *traffic* counts unique visits per cell and bucket, and the set of visits already counted
lives in memory, so a visit that stays in a cell across a restart counts twice in that bucket.

Grids. Rows of different grids are never added together (the grid is part of the key). A query
sums the rows on one grid: the one asked for, or by default the grid of the camera's newest row
before the end of the range (its current geometry); rows on other grids (the camera's resolution,
cell size or calibration changed) are left out and counted in ``StoredHeatmap.skipped``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from storelens.analytics.heatmap import HeatBucket, HeatmapGrid
from storelens.storage.events import Executor, dialect_insert, dialect_name
from storelens.storage.models import HEATMAP_BUCKETS

__all__ = ["StoredHeatmap", "StoredSpan", "add_heatmap_buckets", "grid_key", "read_heatmap", "stored_heatmap_spans"]

_CELLS = np.dtype("<i4")
_TRAFFIC = np.dtype("<u4")
_DWELL = np.dtype("<f4")


@dataclass(frozen=True, slots=True)
class StoredHeatmap:
    """Stored buckets of one camera summed over a range, on one grid."""

    grid: HeatmapGrid
    traffic: npt.NDArray[np.float64]  # (ny, nx) unique visits per cell
    dwell: npt.NDArray[np.float64]  # (ny, nx) seconds per cell
    buckets: int  # rows summed
    bucket_s: int | None  # bucket size of the newest row summed (None when none was)
    skipped: int  # rows in the range on another grid, left out


@dataclass(frozen=True, slots=True)
class StoredSpan:
    """The first and last stored bucket starts of one camera within a range (any grid)."""

    first_bucket: datetime
    last_bucket: datetime


def grid_key(grid: HeatmapGrid) -> str:
    """A stable, readable name of a grid (``repr`` keeps every float exact)."""
    return f"{grid.space}:{grid.x0!r},{grid.y0!r}:{grid.cell!r}:{grid.nx}x{grid.ny}"


_Sparse = tuple[npt.NDArray[np.int32], npt.NDArray[np.uint32], npt.NDArray[np.float32]]


def _merge(parts: Iterable[HeatBucket]) -> _Sparse:
    """Sparse sum of several sparse cell sets (sorted cell indices out)."""
    items = list(parts)
    cells = np.concatenate([p.cells.astype(np.int64) for p in items])
    uniq, inv = np.unique(cells, return_inverse=True)
    traffic = np.zeros(len(uniq), dtype=np.uint64)
    np.add.at(traffic, inv, np.concatenate([p.traffic.astype(np.uint64) for p in items]))
    dwell = np.bincount(inv, weights=np.concatenate([p.dwell.astype(np.float64) for p in items]), minlength=len(uniq))
    traffic = np.minimum(traffic, np.iinfo(np.uint32).max)
    return uniq.astype(np.int32), traffic.astype(np.uint32), dwell.astype(np.float32)


def _unpack(row: Any, start: float, bucket_s: int) -> HeatBucket:
    return HeatBucket(
        start,
        bucket_s,
        np.frombuffer(row.cells, dtype=_CELLS).astype(np.int32),
        np.frombuffer(row.traffic, dtype=_TRAFFIC).astype(np.uint32),
        np.frombuffer(row.dwell, dtype=_DWELL).astype(np.float32),
    )


def _check(grid: HeatmapGrid, bucket: HeatBucket) -> None:
    if not (len(bucket.cells) == len(bucket.traffic) == len(bucket.dwell)):
        raise ValueError("heat bucket arrays differ in length")
    if len(bucket.cells) and (int(bucket.cells.min()) < 0 or int(bucket.cells.max()) >= grid.size):
        raise ValueError(f"heat bucket cell index outside the {grid.nx}x{grid.ny} grid")
    if bucket.bucket_s <= 0:
        raise ValueError(f"bucket size must be positive, got {bucket.bucket_s}")


def add_heatmap_buckets(
    conn: Executor, *, store_id: str, camera_id: str, grid: HeatmapGrid, buckets: Iterable[HeatBucket]
) -> int:
    """Add sparse increments to the stored buckets (creating rows as needed), in the caller's
    transaction; returns the number of rows written. Increments of the same bucket are merged first."""
    groups: dict[tuple[float, int], list[HeatBucket]] = {}
    for b in buckets:
        _check(grid, b)
        if len(b.cells):
            groups.setdefault((b.start, b.bucket_s), []).append(b)
    if not groups:
        return 0
    t = HEATMAP_BUCKETS
    c = t.c
    key = grid_key(grid)
    lock = dialect_name(conn) == "postgresql"
    for (start, bucket_s), parts in sorted(groups.items()):  # one lock order for every writer
        when = datetime.fromtimestamp(start, tz=UTC)
        ident = {"store_id": store_id, "camera_id": camera_id, "bucket_start": when, "bucket_s": bucket_s}
        ins = dialect_insert(conn, t).values(
            **ident,
            grid_key=key,
            space=grid.space,
            x0=grid.x0,
            y0=grid.y0,
            cell=grid.cell,
            nx=grid.nx,
            ny=grid.ny,
            n_cells=0,
            cells=b"",
            traffic=b"",
            dwell=b"",
            traffic_total=0,
            dwell_total_s=0.0,
        )
        conn.execute(ins.on_conflict_do_nothing())
        where = [c[k] == v for k, v in ident.items()] + [c.grid_key == key]
        sel = sa.select(c.cells, c.traffic, c.dwell).where(*where)
        row = conn.execute(sel.with_for_update() if lock else sel).one()
        stored = _unpack(row, start, bucket_s)
        cells, traffic, dwell = _merge([stored, *parts])
        conn.execute(
            sa.update(t)
            .where(*where)
            .values(
                n_cells=len(cells),
                cells=cells.astype(_CELLS).tobytes(),
                traffic=traffic.astype(_TRAFFIC).tobytes(),
                dwell=dwell.astype(_DWELL).tobytes(),
                traffic_total=int(traffic.sum(dtype=np.int64)),
                dwell_total_s=float(dwell.sum(dtype=np.float64)),
                updated_at=sa.func.now(),
            )
        )
    return len(groups)


def read_heatmap(
    conn: Executor,
    *,
    store_id: str,
    camera_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
    grid: HeatmapGrid | None = None,
) -> StoredHeatmap | None:
    """Sum of the stored buckets starting in [since, until) on one grid (module docstring).

    ``grid=None`` picks the grid of the camera's newest row before ``until``; None is returned when
    there is no such row. With a ``grid`` the result is never None (zeros when nothing is stored)."""
    c = HEATMAP_BUCKETS.c
    camera = [c.store_id == store_id, c.camera_id == camera_id]
    in_range = list(camera)
    if since is not None:
        in_range.append(c.bucket_start >= since)
    if until is not None:
        in_range.append(c.bucket_start < until)
    if grid is None:
        before = camera + ([c.bucket_start < until] if until is not None else [])
        newest = conn.execute(
            sa.select(c.space, c.x0, c.y0, c.cell, c.nx, c.ny)
            .where(*before)
            .order_by(c.bucket_start.desc(), c.updated_at.desc())
            .limit(1)
        ).first()
        if newest is None:
            return None
        grid = HeatmapGrid(newest.space, newest.x0, newest.y0, newest.cell, newest.nx, newest.ny)
    key = grid_key(grid)
    traffic = np.zeros(grid.size, dtype=np.float64)
    dwell = np.zeros(grid.size, dtype=np.float64)
    n = 0
    bucket_s: int | None = None
    rows = conn.execute(
        sa.select(c.cells, c.traffic, c.dwell, c.bucket_s).where(*in_range, c.grid_key == key).order_by(c.bucket_start)
    )
    for row in rows:
        cells = np.frombuffer(row.cells, dtype=_CELLS)
        traffic[cells] += np.frombuffer(row.traffic, dtype=_TRAFFIC)
        dwell[cells] += np.frombuffer(row.dwell, dtype=_DWELL)
        n += 1
        bucket_s = int(row.bucket_s)
    skipped = conn.execute(sa.select(sa.func.count()).where(*in_range, c.grid_key != key)).scalar_one()
    shape = (grid.ny, grid.nx)
    return StoredHeatmap(grid, traffic.reshape(shape), dwell.reshape(shape), n, bucket_s, int(skipped))


def stored_heatmap_spans(
    conn: Executor, *, store_id: str, since: datetime | None = None, until: datetime | None = None
) -> dict[str, StoredSpan]:
    """Cameras of the store with stored buckets starting in [since, until), and the first and last
    of those starts. One grouped SELECT over the primary key's leading columns, no cell data read:
    cheap enough to ask before every heat-map fetch (the dashboard does, to skip cameras with
    nothing to show instead of drawing 404s). Rows of every grid count, as any of them is data."""
    c = HEATMAP_BUCKETS.c
    where = [c.store_id == store_id]
    if since is not None:
        where.append(c.bucket_start >= since)
    if until is not None:
        where.append(c.bucket_start < until)
    rows = conn.execute(
        sa.select(c.camera_id, sa.func.min(c.bucket_start).label("first"), sa.func.max(c.bucket_start).label("last"))
        .where(*where)
        .group_by(c.camera_id)
    )
    return {str(r.camera_id): StoredSpan(r.first, r.last) for r in rows}
