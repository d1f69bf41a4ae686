"""Lookups shared by routers: unknown cameras and zones are a 404 that names what exists."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import HTTPException
from sqlalchemy.engine import Connection

from storelens.config.store import StoreConfig
from storelens.storage.models import AGGREGATES, EVENTS


def _known(ids: list[str]) -> str:
    return ", ".join(ids[:20]) + (" ..." if len(ids) > 20 else "") if ids else "none"


def require_camera(store: StoreConfig, camera_id: str, conn: Connection | None = None) -> None:
    """404 unless the camera is configured (or, with ``conn``, has stored events: a camera removed
    from the config keeps its history queryable)."""
    ids = [c.id for c in store.cameras]
    if camera_id in ids:
        return
    if conn is not None:
        c = EVENTS.c
        hit = conn.execute(sa.select(c.id).where(c.camera_id == camera_id).limit(1)).first()
        if hit is not None:
            return
    raise HTTPException(404, detail=f"unknown camera {camera_id!r} (known: {_known(ids)})")


def require_zone(store: StoreConfig, zone_id: str, conn: Connection | None = None) -> None:
    """404 unless the zone is configured (or, with ``conn``, has stored events or aggregates)."""
    ids = [z.id for z in store.zones]
    if zone_id in ids:
        return
    if conn is not None:
        e = EVENTS.c
        if conn.execute(sa.select(e.id).where(e.zone_id == zone_id).limit(1)).first() is not None:
            return
        a = AGGREGATES.c
        hit = conn.execute(sa.select(a.zone_id).where(a.store_id == store.store_id, a.zone_id == zone_id).limit(1))
        if hit.first() is not None:
            return
    raise HTTPException(404, detail=f"unknown zone {zone_id!r} (known: {_known(ids)})")
