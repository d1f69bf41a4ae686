"""``/users``: accounts and their roles and store/camera restrictions (admin; the last unrestricted
admin cannot be removed or demoted)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from storelens.security.access import AccessError, parse_restriction, to_json
from storelens.security.users import UserError, create_user, delete_user, get_user, list_users, update_user
from storelens.service.routers._security import record_audit, restriction_change, runtime
from storelens.service.schemas.security import UserIn, UserOut, UserPatch

router = APIRouter(prefix="/api/v1")


@router.get("/users", response_model=list[UserOut], tags=["users"], summary="List users")
def users_list(request: Request) -> list[UserOut]:
    with runtime(request).db.engine.connect() as conn:
        return [UserOut(**u.to_json_dict()) for u in list_users(conn)]


@router.post("/users", response_model=UserOut, status_code=201, tags=["users"], summary="Create a user")
def users_create(request: Request, body: UserIn) -> UserOut:
    rt = runtime(request)
    try:
        stores = parse_restriction(body.stores, "stores")
        cameras = parse_restriction(body.cameras, "cameras")
    except AccessError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    try:
        user = create_user(
            rt.db,
            body.username,
            body.password,
            body.role,
            min_length=rt.cfg.password_min_length,
            hasher=rt.hasher,
            now=rt.clock(),
            stores=stores,
            cameras=cameras,
        )
    except UserError as exc:
        status = 409 if "already exists" in str(exc) else 422
        raise HTTPException(status, detail=str(exc)) from None
    record_audit(
        request,
        "user.create",
        target=user.username,
        role=user.role.label,
        stores=to_json(user.stores),
        cameras=to_json(user.cameras),
    )
    return UserOut(**user.to_json_dict())


@router.get("/users/{username}", response_model=UserOut, tags=["users"], summary="One user")
def users_get(request: Request, username: str) -> UserOut:
    with runtime(request).db.engine.connect() as conn:
        user = get_user(conn, username)
    if user is None:
        raise HTTPException(404, detail=f"no user {username!r}")
    return UserOut(**user.to_json_dict())


@router.patch("/users/{username}", response_model=UserOut, tags=["users"], summary="Change a user")
def users_patch(request: Request, username: str, body: UserPatch) -> UserOut:
    rt = runtime(request)
    try:
        user = update_user(
            rt.db,
            username,
            role=body.role,
            disabled=body.disabled,
            password=body.password,
            unlock=body.unlock,
            min_length=rt.cfg.password_min_length,
            hasher=rt.hasher,
            now=rt.clock(),
            stores=restriction_change(body.stores),
            cameras=restriction_change(body.cameras),
        )
    except UserError as exc:
        raise HTTPException(404 if str(exc).startswith("no user") else 422, detail=str(exc)) from None
    changed = body.model_dump(exclude_none=True, exclude={"password"})
    record_audit(request, "user.update", target=username, password_changed=body.password is not None, **changed)
    return UserOut(**user.to_json_dict())


@router.delete("/users/{username}", status_code=204, tags=["users"], summary="Delete a user")
def users_delete(request: Request, username: str) -> Response:
    rt = runtime(request)
    try:
        found = delete_user(rt.db, username)
    except UserError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    if not found:
        raise HTTPException(404, detail=f"no user {username!r}")
    record_audit(request, "user.delete", target=username)
    return Response(status_code=204)
