"""``/stores``: the store this service serves."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path

from storelens.config.store import StoreConfig
from storelens.service.deps import Deps
from storelens.service.schemas.common import ERROR_RESPONSES
from storelens.service.schemas.stores import StoreOut
from storelens.service.scope import ScopeView, View

router = APIRouter(prefix="/stores", tags=["stores"], responses=ERROR_RESPONSES)


def store_out(s: StoreConfig, view: View | None = None) -> StoreOut:
    """The store as ``view`` sees it: only its cameras, their zones and lines."""
    v = view or View(s, None)
    return StoreOut(
        id=s.store_id,
        name=s.name,
        timezone=s.timezone,
        cameras=[c.id for c in v.cameras()],
        zones=[z.id for z in v.zones()],
        lines=[ln.id for ln in s.lines if v.all_cameras or (ln.camera is not None and v.camera_ok(ln.camera))],
        aggregate_buckets_s=list(s.storage.aggregate_buckets_s),
        floor_plan_image=s.floor_plan is not None and s.floor_plan.image is not None,
    )


@router.get("", response_model=list[StoreOut], summary="List stores")
def list_stores(deps: Deps, view: ScopeView) -> list[StoreOut]:
    return [store_out(deps.store, view)] if view.store_ok else []


@router.get("/{store_id}", response_model=StoreOut, summary="One store")
def get_store(deps: Deps, view: ScopeView, store_id: str = Path(max_length=64)) -> StoreOut:
    if store_id != deps.store.store_id or not view.store_ok:
        served = f" (this service serves {deps.store.store_id!r})" if view.store_ok else ""
        raise HTTPException(404, detail=f"unknown store {store_id!r}{served}")
    return store_out(deps.store, view)
