"""``/exports/{dataset}``: CSV or Parquet of events, visits or aggregates, streamed in pages."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import StreamingResponse

from storelens.output.export import ExportQuery, media_type, stream_export
from storelens.service.deps import Deps, time_range
from storelens.service.schemas.common import ERROR_RESPONSES
from storelens.service.scope import ScopeView

router = APIRouter(prefix="/exports", tags=["exports"], responses=ERROR_RESPONSES)


@router.get(
    "/{dataset}",
    summary="Export a dataset for a time range (streamed)",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {}, "application/vnd.apache.parquet": {}},
            "description": "The file, sent in chunks as it is read",
        }
    },
)
def export(
    deps: Deps,
    view: ScopeView,
    dataset: Literal["events", "visits", "aggregates"] = Path(),
    format: Literal["csv", "parquet"] = Query("csv"),
    since: datetime | None = Query(None, description="Inclusive (ISO 8601)"),
    until: datetime | None = Query(None, description="Exclusive (ISO 8601)"),
    bucket_s: int = Query(3600, ge=60, le=2_678_400, description="Aggregate bucket size (aggregates only)"),
) -> StreamingResponse:
    s, u = time_range(since, until)
    sizes = list(deps.store.storage.aggregate_buckets_s)
    if dataset == "aggregates" and bucket_s not in sizes:
        raise HTTPException(422, detail=f"bucket_s must be one of {sizes} (the sizes this store keeps)")
    q = ExportQuery(
        store_id=deps.store.store_id,
        dataset=dataset,
        since=s,
        until=u,
        bucket_s=bucket_s,
        cameras=view.camera_ids(),
        zones=view.zone_ids(),
    )
    ext = "csv" if format == "csv" else "parquet"
    name = f"{deps.store.store_id}-{dataset}.{ext}"
    return StreamingResponse(
        stream_export(deps.db, q, format),
        media_type=media_type(format),
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
