"""``/stores``: the store this service serves."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path

from storelens.config.schema import StoreConfig
from storelens.service.deps import Deps
from storelens.service.schemas.common import ERROR_RESPONSES
from storelens.service.schemas.stores import StoreOut

router = APIRouter(prefix="/stores", tags=["stores"], responses=ERROR_RESPONSES)


def store_out(s: StoreConfig) -> StoreOut:
    return StoreOut(
        id=s.store_id,
        name=s.name,
        timezone=s.timezone,
        cameras=[c.id for c in s.cameras],
        zones=[z.id for z in s.zones],
        lines=[ln.id for ln in s.lines],
        aggregate_buckets_s=list(s.storage.aggregate_buckets_s),
    )


@router.get("", response_model=list[StoreOut], summary="List stores")
def list_stores(deps: Deps) -> list[StoreOut]:
    return [store_out(deps.store)]


@router.get("/{store_id}", response_model=StoreOut, summary="One store")
def get_store(deps: Deps, store_id: str = Path(max_length=64)) -> StoreOut:
    if store_id != deps.store.store_id:
        raise HTTPException(404, detail=f"unknown store {store_id!r} (this service serves {deps.store.store_id!r})")
    return store_out(deps.store)
