"""``/pos``: point-of-sale transactions (JSON or CSV), conversion rate and the till-visit join.

The CSV schema and the metrics are documented in :mod:`storelens.kpis.pos` and docs/API.md.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from storelens.kpis.pos import (
    ConversionRow,
    PosCsvError,
    TillJoin,
    checkout_stays,
    conversion_by_bucket,
    import_transactions,
    join_transactions_to_stays,
    load_transactions,
    make_transaction,
    parse_pos_csv,
    shopper_visit_starts,
    store_timezone,
)
from storelens.service.deps import Conn, Deps, require_role, time_range
from storelens.service.schemas.common import ERROR_RESPONSES, ErrorBody
from storelens.service.schemas.pos import (
    CheckoutJoinOut,
    ConversionOut,
    ConversionRowOut,
    PosBatchIn,
    PosImportOut,
    PosTransactionOut,
    TillMatchListOut,
    TillMatchOut,
)
from storelens.storage.records import list_pos_transactions

router = APIRouter(prefix="/pos", tags=["pos"], responses=ERROR_RESPONSES)

MAX_CSV_BYTES = 20 * 1024 * 1024
MAX_RANGE = {"hour": timedelta(days=31), "day": timedelta(days=400)}
_WRITE = [Depends(require_role("analyst"))]


def _import_out(rows: int, inserted: int) -> PosImportOut:
    return PosImportOut(rows=rows, inserted=inserted, duplicates=rows - inserted)


@router.post("/transactions", response_model=PosImportOut, dependencies=_WRITE, summary="Add transactions (JSON)")
def add_transactions(deps: Deps, body: PosBatchIn) -> PosImportOut:
    """Idempotent by ``transaction_id`` (derived from register, time and value when absent)."""
    tz = store_timezone(deps.store.timezone)
    txns = []
    for i, t in enumerate(body.transactions):
        ts = t.timestamp if t.timestamp.tzinfo is not None else t.timestamp.replace(tzinfo=tz)
        try:
            txns.append(
                make_transaction(
                    deps.store.store_id,
                    timestamp=ts.astimezone(UTC),
                    register=t.register_id,
                    basket_value=t.basket_value,
                    currency=t.currency,
                    transaction_id=t.transaction_id,
                    items=t.items,
                    categories=t.categories,
                )
            )
        except (ValueError, OverflowError) as exc:
            loc = ["body", "transactions", i]
            raise HTTPException(422, detail=[{"loc": loc, "msg": str(exc), "type": "value_error"}]) from None
    ids = [t.id for t in txns]
    if len(set(ids)) != len(ids):
        raise HTTPException(
            422, detail="the batch repeats a transaction (same transaction_id, or same register/time/value)"
        )
    result = import_transactions(deps.db, txns)
    return _import_out(result.rows, result.inserted)


@router.post(
    "/import",
    response_model=PosImportOut,
    dependencies=_WRITE,
    summary="Import a POS CSV export",
    responses={413: {"model": ErrorBody, "description": "File too large"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "CSV with header timestamp,register,basket_value[,currency,transaction_id,items,categories]",
        }
    },
)
async def import_csv(request: Request, deps: Deps) -> PosImportOut:
    """All lines valid or nothing imported (422 lists every bad line); re-imports are no-ops."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_CSV_BYTES:
        raise HTTPException(413, detail=f"CSV larger than {MAX_CSV_BYTES // (1024 * 1024)} MiB; split it")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_CSV_BYTES:
            raise HTTPException(413, detail=f"CSV larger than {MAX_CSV_BYTES // (1024 * 1024)} MiB; split it")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(422, detail=f"the CSV is not UTF-8 (byte {exc.start}); re-export it as UTF-8") from None
    store = deps.store
    try:
        txns = parse_pos_csv(text, store.store_id, timezone=store.timezone)
    except PosCsvError as exc:
        detail = [{"loc": ["body"], "msg": m, "type": "value_error"} for m in exc.issues[:200]]
        raise HTTPException(422, detail=detail) from None
    result = await run_in_threadpool(import_transactions, deps.db, txns)
    return _import_out(result.rows, result.inserted)


@router.get("/transactions", response_model=list[PosTransactionOut], summary="Transactions in a time range")
def transactions(
    deps: Deps,
    conn: Conn,
    since: datetime | None = Query(None, description="At or after (ISO 8601)"),
    until: datetime | None = Query(None, description="Before (ISO 8601)"),
    limit: int = Query(100, ge=1, le=10_000),
) -> list[PosTransactionOut]:
    s, u = time_range(since, until)
    return [
        PosTransactionOut(
            transaction_id=t.id,
            register_id=t.register_id,
            timestamp=t.ts,
            basket_value=t.basket_value,
            currency=t.currency,
            items=t.items,
            categories=list(t.categories) if t.categories is not None else None,
            source=t.source,
        )
        for t in list_pos_transactions(conn, store_id=deps.store.store_id, since=s, until=u, limit=limit)
    ]


def _bounded(since: datetime, until: datetime, granularity: str) -> tuple[datetime, datetime]:
    s, u = time_range(since, until)
    assert s is not None and u is not None
    if u - s > MAX_RANGE[granularity]:
        raise HTTPException(
            422, detail=f"range too long for granularity={granularity} (max {MAX_RANGE[granularity].days} days)"
        )
    return s, u


def _join(deps: Deps, s: datetime, u: datetime, window_s: float) -> TillJoin:
    store = deps.store
    kinds = {z.id: str(z.kind) for z in store.zones}
    pad = timedelta(seconds=window_s)
    stays = checkout_stays(deps.db, store.store_id, kinds, s - pad, u + pad)
    return join_transactions_to_stays(load_transactions(deps.db, store.store_id, s, u), stays, window_s=window_s)


def _join_out(j: TillJoin, window_s: float) -> CheckoutJoinOut:
    return CheckoutJoinOut(
        window_s=window_s,
        transactions=len(j.matches),
        matched=j.matched,
        match_rate=j.match_rate,
        checkout_stays=j.checkout_stays,
        unmatched_stays=j.unmatched_stays,
        mean_queue_wait_s=j.mean_queue_wait_s,
    )


@router.get("/conversion", response_model=ConversionOut, summary="Conversion rate and average basket")
def conversion(
    deps: Deps,
    since: datetime = Query(description="Range start (ISO 8601)"),
    until: datetime = Query(description="Range end, exclusive (ISO 8601)"),
    granularity: Literal["hour", "day"] = Query("hour", description="Store-local hours or days"),
    window_s: float = Query(120.0, ge=0, le=3600, description="Sale at most this long after a checkout stay ended"),
) -> ConversionOut:
    """Transactions / shopper visits per bucket (staff excluded), with the checkout join summary."""
    s, u = _bounded(since, until, granularity)
    store = deps.store
    txns = load_transactions(deps.db, store.store_id, s, u)
    visits = shopper_visit_starts(deps.db, store.store_id, s, u)
    rows = conversion_by_bucket(txns, visits, since=s, until=u, granularity=granularity, timezone=store.timezone)
    n_t = sum(r.transactions for r in rows)
    n_v = sum(r.visits for r in rows)
    revenue = round(sum(r.revenue for r in rows), 2)
    total = ConversionRow(
        start=rows[0].start if rows else s,
        transactions=n_t,
        visits=n_v,
        revenue=revenue,
        conversion_rate=round(n_t / n_v, 4) if n_v else None,
        average_basket=round(revenue / n_t, 2) if n_t else None,
    )
    return ConversionOut(
        granularity=granularity,
        timezone=store.timezone,
        rows=[ConversionRowOut.of_record(r) for r in rows],
        totals=ConversionRowOut.of_record(total),
        checkout=_join_out(_join(deps, s, u, window_s), window_s),
    )


@router.get("/matches", response_model=TillMatchListOut, summary="Transactions joined to checkout visits")
def matches(
    deps: Deps,
    since: datetime = Query(description="Range start (ISO 8601)"),
    until: datetime = Query(description="Range end, exclusive (ISO 8601)"),
    window_s: float = Query(120.0, ge=0, le=3600, description="Sale at most this long after a checkout stay ended"),
    limit: int = Query(1000, ge=1, le=10_000),
) -> TillMatchListOut:
    s, u = _bounded(since, until, "hour")
    j = _join(deps, s, u, window_s)
    return TillMatchListOut(
        summary=_join_out(j, window_s),
        items=[
            TillMatchOut(
                transaction_id=m.transaction_id,
                register_id=m.register,
                timestamp=m.ts,
                basket_value=m.basket_value,
                visit_id=m.subject,
                zone_id=m.zone_id,
                stay_start=m.stay_start,
                stay_end=m.stay_end,
                queue_wait_s=m.queue_wait_s,
            )
            for m in j.matches[:limit]
        ],
    )
