"""Object-level access for the service's routes: what the request's principal may see of the served
store (issue 14; the model is in :mod:`storelens.security.access`).

Every router asks the one :class:`View` of its request instead of writing its own check: lists are
filtered through it (in SQL where a page or a cursor depends on it), and an object outside the
principal's cameras, or a query parameter naming one, is the *same* 404 as an object that does not
exist, so existence is never revealed (the "known: ..." hints of a 404 list only visible ids).

How data maps to cameras: an event, visit, alert or promotion belongs to its ``camera_id``; one
without a camera to its zone's camera (zones are drawn on one camera); data with neither, and the
store-wide aggregate rows (every camera summed), are hidden from a principal limited to some
cameras: fail closed. Without the security layer (no principal) the view allows everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, HTTPException
from sqlalchemy.engine import Connection
from starlette.requests import HTTPConnection

from storelens.config.cameras import CameraConfig, ZoneConfig
from storelens.config.store import StoreConfig
from storelens.security.access import access_terms
from storelens.security.rbac import Principal, principal_of
from storelens.service.routers import _lookup

NOT_FOUND = "not found"


def _known(ids: list[str]) -> str:
    return ", ".join(ids[:20]) + (" ..." if len(ids) > 20 else "") if ids else "none"


@dataclass(frozen=True, slots=True)
class View:
    """The served store as one principal may see it."""

    store: StoreConfig
    principal: Principal | None

    # ------------------------------------------------------------------ predicates
    @property
    def store_ok(self) -> bool:
        return self.principal is None or self.principal.allows_store(self.store.store_id)

    @property
    def all_cameras(self) -> bool:
        """Sees the whole store (then store-wide data is fine too)."""
        return self.store_ok and (self.principal is None or self.principal.cameras is None)

    def camera_ok(self, camera_id: str | None) -> bool:
        if self.all_cameras:
            return True
        if camera_id is None or self.principal is None or not self.store_ok:
            return False
        return self.principal.allows_camera(self.store.store_id, camera_id)

    def zone_ok(self, zone_id: str | None) -> bool:
        """A zone is visible with its camera; a zone no longer configured only with every camera."""
        if self.all_cameras:
            return True
        if zone_id is None:
            return False
        zone = next((z for z in self.store.zones if z.id == zone_id), None)
        return zone is not None and self.camera_ok(zone.camera)

    def item_ok(self, camera_id: str | None, zone_id: str | None) -> bool:
        """Whether a row with this camera/zone (either may be missing) is visible."""
        if self.all_cameras:
            return True
        if camera_id is not None:
            return self.camera_ok(camera_id)
        return self.zone_ok(zone_id)

    # ------------------------------------------------------------------ lists
    def cameras(self) -> list[CameraConfig]:
        return [c for c in self.store.cameras if self.camera_ok(c.id)]

    def zones(self) -> list[ZoneConfig]:
        return [z for z in self.store.zones if self.zone_ok(z.id)]

    def camera_ids(self) -> frozenset[str] | None:
        """Visible camera ids, None for "every camera" (no filter needed): the configured ones the
        principal may see, plus cameras its restriction names that are no longer configured (their
        stored history stays visible to it, as ``item_ok`` says for single objects)."""
        if self.all_cameras:
            return None
        ids = {c.id for c in self.cameras()}
        if self.principal is not None and self.principal.cameras is not None and self.store_ok:
            prefix = f"{self.store.store_id}/"
            for entry in self.principal.cameras:
                if "/" not in entry:
                    ids.add(entry)
                elif entry.startswith(prefix):
                    ids.add(entry[len(prefix) :])
        return frozenset(ids)

    def zone_ids(self) -> frozenset[str] | None:
        return None if self.all_cameras else frozenset(z.id for z in self.zones())

    def sql_filter(
        self, camera_col: sa.ColumnElement[str] | None, zone_col: sa.ColumnElement[str] | None
    ) -> list[sa.ColumnElement[bool]]:
        """WHERE terms for a table with camera and/or zone columns (:func:`access_terms`); empty
        when everything is visible."""
        return access_terms(self.camera_ids(), self.zone_ids(), camera_col, zone_col)

    # ------------------------------------------------------------------ 404s
    def require_store(self) -> None:
        if not self.store_ok:
            raise HTTPException(404, detail=NOT_FOUND)

    def require_camera(self, camera_id: str, conn: Connection | None = None) -> None:
        """404 unless the camera is configured and visible. With ``conn``, a principal who sees
        every camera may also name a camera that only has stored history (``_lookup``)."""
        if self.all_cameras:
            _lookup.require_camera(self.store, camera_id, conn)
            return
        if camera_id in {c.id for c in self.store.cameras} and self.camera_ok(camera_id):
            return
        raise HTTPException(
            404, detail=f"unknown camera {camera_id!r} (known: {_known([c.id for c in self.cameras()])})"
        )

    def require_zone(self, zone_id: str, conn: Connection | None = None) -> None:
        if self.all_cameras:
            _lookup.require_zone(self.store, zone_id, conn)
            return
        if self.zone_ok(zone_id):
            return
        known = _known([z.id for z in self.zones()])
        raise HTTPException(404, detail=f"unknown zone {zone_id!r} (known: {known})")

    def require_item(self, camera_id: str | None, zone_id: str | None, what: str) -> None:
        if not self.item_ok(camera_id, zone_id):
            raise HTTPException(404, detail=f"unknown {what}")


def view_of(conn: HTTPConnection) -> View:
    """The request's view of the store served by the app (``app.state.deps``)."""
    store: StoreConfig = conn.app.state.deps.store
    return View(store, principal_of(conn))


ScopeView = Annotated[View, Depends(view_of)]
