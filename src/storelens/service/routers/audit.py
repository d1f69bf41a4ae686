"""``/audit`` and ``/audit/verify``: the append-only, hash-chained audit log (admin)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request

from storelens.security.audit import list_audit, verify_audit
from storelens.service.routers._security import runtime
from storelens.service.schemas.security import AuditOut, AuditVerifyOut

router = APIRouter(prefix="/api/v1")


@router.get("/audit", response_model=list[AuditOut], tags=["audit"], summary="Audit records, newest first")
def audit_list(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_seq: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    action: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> list[AuditOut]:
    with runtime(request).db.engine.connect() as conn:
        records = list_audit(conn, limit=limit, before_seq=before_seq, action=action)
    return [AuditOut(**r.to_json_dict()) for r in records]


@router.get("/audit/verify", response_model=AuditVerifyOut, tags=["audit"], summary="Verify the hash chain")
def audit_verify(request: Request) -> AuditVerifyOut:
    rt = runtime(request)
    days = rt.store.privacy.retention.audit_days
    v = verify_audit(rt.db, retention=None if days is None else timedelta(days=days), now=rt.clock())
    return AuditVerifyOut(
        ok=v.ok,
        checked=v.checked,
        first_bad_seq=v.first_bad_seq,
        reason=v.reason,
        head_seq=v.head_seq,
        head_hash=v.head_hash,
        note=v.note,
    )
