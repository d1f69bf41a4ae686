"""``/tokens``: API tokens, each within its owner's role, scopes and restrictions (own tokens; an
unrestricted admin sees and revokes everyone's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response

from storelens.security.access import to_json
from storelens.security.rbac import Role
from storelens.security.tokens import TokenError, create_token, get_token, list_tokens, revoke_token
from storelens.service.routers._security import actor, record_audit, runtime
from storelens.service.schemas.security import NewTokenOut, TokenIn, TokenOut

router = APIRouter(prefix="/api/v1")


@router.get("/tokens", response_model=list[TokenOut], tags=["tokens"], summary="API tokens (own; admin: all)")
def tokens_list(request: Request, all: Annotated[bool, Query()] = False) -> list[TokenOut]:
    p = actor(request)
    if all and p.role < Role.ADMIN:
        raise HTTPException(403, detail="needs role admin to list every user's tokens")
    if all and p.restricted:
        raise HTTPException(403, detail="needs a credential without store or camera restriction")
    with runtime(request).db.engine.connect() as conn:
        items = list_tokens(conn, None if all else p.user_id)
    return [TokenOut(**t.to_json_dict()) for t in items]


@router.post("/tokens", response_model=NewTokenOut, status_code=201, tags=["tokens"], summary="Create a token")
def tokens_create(request: Request, body: TokenIn) -> NewTokenOut:
    rt = runtime(request)
    p = actor(request)
    try:
        plain, tok = create_token(
            rt.db,
            p.user_id,
            body.name,
            role=body.role,
            scopes=body.scopes,
            expires_in_days=body.expires_in_days,
            default_days=rt.cfg.token_default_days,
            max_days=rt.cfg.token_max_days,
            now=rt.clock(),
            ceiling=p,
            stores=body.stores,
            cameras=body.cameras,
        )
    except TokenError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    record_audit(
        request,
        "token.create",
        target=tok.id,
        name=tok.name,
        role=tok.role.label,
        scopes=sorted(tok.scopes),
        stores=to_json(tok.stores),
        cameras=to_json(tok.cameras),
    )
    return NewTokenOut(token=plain, **tok.to_json_dict())


@router.delete("/tokens/{token_id}", status_code=204, tags=["tokens"], summary="Revoke a token")
def tokens_revoke(request: Request, token_id: str) -> Response:
    rt = runtime(request)
    p = actor(request)
    with rt.db.engine.connect() as conn:
        tok = get_token(conn, token_id)
    if tok is None or (tok.user_id != p.user_id and (p.role < Role.ADMIN or p.restricted)):
        raise HTTPException(404, detail="no such token")
    if not revoke_token(rt.db, token_id, now=rt.clock()):
        raise HTTPException(404, detail="token already revoked")
    record_audit(request, "token.revoke", target=token_id)
    return Response(status_code=204)
