"""Request and response bodies of the security routes (sign-in, users, tokens, audit, deletions)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    id: int
    username: str
    role: str
    disabled: bool
    created_at: str
    last_login_at: str | None
    locked_until: str | None
    stores: list[str] | None = Field(default=None, description="Stores the user may see; null: all")
    cameras: list[str] | None = Field(default=None, description="Cameras (id or store/id) the user may see; null: all")


_ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"  # the config's Identifier: no paths, no markup
_IdList = list[Annotated[str, Field(min_length=1, max_length=129)]]


class LoginOut(BaseModel):
    user: UserOut
    csrf_token: str = Field(description="Send back in the X-CSRF-Token header of state-changing requests")
    expires_at: str


class MeOut(BaseModel):
    username: str
    role: str
    scopes: list[str]
    via: str
    stores: list[str] | None = None
    cameras: list[str] | None = None


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
    password: str = Field(min_length=8, max_length=1024)
    role: str = Field(pattern=r"^(viewer|analyst|admin)$")
    stores: _IdList | None = Field(default=None, max_length=256, description="Restrict to these stores (null: all)")
    cameras: _IdList | None = Field(default=None, max_length=256, description="Restrict to these cameras (null: all)")


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str | None = Field(default=None, pattern=r"^(viewer|analyst|admin)$")
    disabled: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1024)
    unlock: bool = False
    stores: _IdList | Literal["all"] | None = Field(default=None, description="New restriction; 'all' lifts it")
    cameras: _IdList | Literal["all"] | None = Field(default=None, description="New restriction; 'all' lifts it")


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    role: str | None = Field(default=None, pattern=r"^(viewer|analyst|admin)$")
    scopes: list[str] | None = Field(default=None, max_length=4)
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)
    stores: _IdList | None = Field(default=None, max_length=256, description="Within the caller's (null: the same)")
    cameras: _IdList | None = Field(default=None, max_length=256, description="Within the caller's (null: the same)")


class TokenOut(BaseModel):
    id: str
    user_id: int
    name: str
    role: str
    scopes: list[str]
    created_at: str
    expires_at: str
    last_used_at: str | None
    revoked: bool
    stores: list[str] | None = None
    cameras: list[str] | None = None


class NewTokenOut(TokenOut):
    token: str = Field(description="The token; shown only now, store it safely")


class AuditOut(BaseModel):
    seq: int
    ts: str
    actor: str
    action: str
    target: str | None
    outcome: str
    ip: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditVerifyOut(BaseModel):
    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str | None
    head_seq: int | None
    head_hash: str | None
    note: str | None = Field(default=None, description="What could not be checked (e.g. no audit key)")


class DeletionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: datetime
    end: datetime
    camera_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=_ID_PATTERN)
    zone_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=_ID_PATTERN)
    reason: str = Field(default="", max_length=500)


class DeletionOut(BaseModel):
    request: dict[str, Any]
    deleted: dict[str, int]
    audit_seq: int | None
