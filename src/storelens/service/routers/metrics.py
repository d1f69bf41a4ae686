"""``/metrics``: Prometheus text format (see :mod:`storelens.service.metrics` for the names)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from storelens.service.deps import Deps
from storelens.service.metrics import CONTENT_TYPE

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response, summary="Prometheus metrics", include_in_schema=False)
def metrics(deps: Deps) -> Response:
    return Response(deps.metrics.render(), media_type=CONTENT_TYPE)
