"""``/webhooks/deliveries``: the persisted webhook outbox (pending, delivered, dead-lettered)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query
from pydantic import Field

from storelens.service.deps import Conn, Deps
from storelens.service.schemas.common import ERROR_RESPONSES, ApiModel
from storelens.storage.outbox import list_outbox, outbox_counts, requeue_dead

router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=ERROR_RESPONSES)


class DeliveryOut(ApiModel):
    id: int
    subscription_id: str
    event_id: str
    event_type: str
    status: Literal["pending", "delivered", "dead"] | str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    last_status_code: int | None
    created_at: datetime
    delivered_at: datetime | None


class RequeueIn(ApiModel):
    # ids are 64-bit database keys: larger values are rejected here (422), not in the database (500)
    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] | None = Field(
        default=None, max_length=10_000, description="Dead deliveries; null = all"
    )


class RequeueOut(ApiModel):
    requeued: int


@router.get("/deliveries", response_model=list[DeliveryOut], summary="Webhook deliveries, newest first")
def deliveries(
    conn: Conn,
    status: Literal["pending", "delivered", "dead"] | None = Query(None),
    subscription_id: str | None = Query(None, max_length=64),
    limit: int = Query(100, ge=1, le=1000),
) -> list[DeliveryOut]:
    return [
        DeliveryOut.of_record(d) for d in list_outbox(conn, status=status, subscription_id=subscription_id, limit=limit)
    ]


@router.get("/deliveries/counts", response_model=dict[str, int], summary="Deliveries per status")
def counts(conn: Conn) -> dict[str, int]:
    return outbox_counts(conn)


@router.post("/deliveries/requeue", response_model=RequeueOut, summary="Retry dead-lettered deliveries")
def requeue(deps: Deps, body: RequeueIn | None = Body(None)) -> RequeueOut:
    ids = body.ids if body is not None else None
    with deps.db.begin() as conn:
        return RequeueOut(requeued=requeue_dead(conn, now=datetime.now(UTC), ids=ids))
