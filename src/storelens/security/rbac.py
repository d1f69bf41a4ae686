"""Roles, scopes, the authenticated principal, and the route → role table every request is checked
against.

Roles are ordered: viewer (dashboards, aggregates) < analyst (+ events, visits, exports, POS) <
admin (+ configuration, zones, users, tokens, audit log, live view, deletion). A token carries
*scopes* on top (read, write, export, admin), so an integration that only reads aggregates can be
given a token that cannot export or change anything even though its owner could; a browser session
has every scope of its user's role.

The table below is matched against the route *template* that served the request (``/api/v1/
visits/{visit_id}``), first match wins, and a route no rule matches needs admin: a route added
later without a rule fails closed. ``tests/integration/test_auth_matrix.py`` walks every route of
the app through it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from fastapi import HTTPException
from starlette.requests import HTTPConnection

from storelens.security import access


class Role(StrEnum):
    """The one role model of storelens (the service's routers and the security gate both use it).

    A role *is* its label (``Role.VIEWER == "viewer"``, the value stored in the users table and
    passed to an authorisation hook), and roles are ordered by rank, not alphabetically:
    viewer < analyst < admin."""

    VIEWER = "viewer"
    ANALYST = "analyst"
    ADMIN = "admin"

    @classmethod
    def parse(cls, value: str | Role) -> Role:
        if isinstance(value, Role):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise ValueError(f"unknown role {value!r} (known: viewer, analyst, admin)") from None

    @property
    def label(self) -> str:
        return self.value

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __lt__(self, other: str) -> bool:
        return self.rank < Role.parse(other).rank

    def __le__(self, other: str) -> bool:
        return self.rank <= Role.parse(other).rank

    def __gt__(self, other: str) -> bool:
        return self.rank > Role.parse(other).rank

    def __ge__(self, other: str) -> bool:
        return self.rank >= Role.parse(other).rank


_RANK: dict[str, int] = {"viewer": 1, "analyst": 2, "admin": 3}


Scope = Literal["read", "write", "export", "admin"]
ALL_SCOPES: tuple[Scope, ...] = ("read", "write", "export", "admin")

ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.VIEWER: frozenset({"read", "write"}),  # write: acknowledging an alert from the dashboard
    Role.ANALYST: frozenset({"read", "write", "export"}),
    Role.ADMIN: frozenset(ALL_SCOPES),
}
"""The scopes a role can hold at all; a token's scopes are cut down to its role's."""


def parse_scopes(value: str | list[str] | tuple[str, ...] | None, role: Role) -> frozenset[str]:
    """Scopes from 'read export' / ['read', 'export'] (None: everything the role allows)."""
    if value is None:
        return ROLE_SCOPES[role]
    items = value.split() if isinstance(value, str) else list(value)
    unknown = [s for s in items if s not in ALL_SCOPES]
    if unknown:
        raise ValueError(f"unknown scope(s) {unknown} (known: {', '.join(ALL_SCOPES)})")
    if not items:
        raise ValueError("a token needs at least one scope")
    beyond = [s for s in items if s not in ROLE_SCOPES[role]]
    if beyond:
        raise ValueError(f"role {role.label} cannot hold scope(s) {beyond}")
    return frozenset(items)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is making a request: the user, the effective role, the scopes, and how they signed in."""

    user_id: int
    username: str
    role: Role
    scopes: frozenset[str]
    via: Literal["session", "token"]
    session_id: str | None = None
    token_id: str | None = None
    expires_at: datetime | None = None
    """When the credential stops working (a token's expiry; None for a session)."""
    stores: frozenset[str] | None = None
    """Stores this request may see (None: all); see :mod:`storelens.security.access`."""
    cameras: frozenset[str] | None = None
    """Cameras (``cam`` or ``store/cam``) this request may see (None: all)."""

    def allows(self, role: Role, scope: str) -> bool:
        return self.role >= role and scope in self.scopes

    @property
    def restricted(self) -> bool:
        """Limited to some stores or cameras (then global routes are closed to it)."""
        return self.stores is not None or self.cameras is not None

    def allows_store(self, store_id: str) -> bool:
        return access.allows_store(self.stores, store_id)

    def allows_camera(self, store_id: str, camera_id: str) -> bool:
        return access.allows_camera(self.stores, self.cameras, store_id, camera_id)


@dataclass(frozen=True, slots=True)
class RouteRule:
    """Requests whose method is in ``methods`` ('*' = any) and whose route template matches
    ``pattern`` need ``role`` (None = public) and ``scope``. ``audit`` names the audit action
    recorded for each such request (None: not audited here), ``per_visit`` marks routes that serve
    per-visit data (closed in aggregate-only mode)."""

    methods: frozenset[str]
    pattern: re.Pattern[str]
    role: Role | None
    scope: Scope = "read"
    audit: str | None = None
    per_visit: bool = False

    def matches(self, method: str, template: str) -> bool:
        return ("*" in self.methods or method in self.methods) and self.pattern.fullmatch(template) is not None


def rule(
    methods: str,
    pattern: str,
    role: Role | None,
    scope: Scope = "read",
    *,
    audit: str | None = None,
    per_visit: bool = False,
) -> RouteRule:
    return RouteRule(frozenset(methods.split()), re.compile(pattern), role, scope, audit, per_visit)


V, A, ADM = Role.VIEWER, Role.ANALYST, Role.ADMIN
P = "/api/v1"
READ = "GET HEAD"
WRITE = "POST PUT PATCH DELETE"

ROUTE_RULES: tuple[RouteRule, ...] = (
    # public: liveness/readiness, the API description, signing in
    rule(READ, rf"{P}/(health|ready|readiness)", None),
    rule(READ, rf"({P})?/(openapi\.json|docs|docs/oauth2-redirect|docs/assets/\{{name\}}|redoc)", None),
    rule("POST", rf"{P}/auth/login", None, "write"),
    # the privacy notice and its sign: for the people filmed, who have no account (GDPR Art. 13)
    rule(READ, r"/privacy(/sign\.png)?", None),
    # any signed-in user
    rule("POST", rf"{P}/auth/logout", V, "read"),
    rule(READ, rf"{P}/auth/me", V),
    rule(READ, rf"{P}/privacy/report", V),
    # viewer: dashboards and aggregates
    rule(READ, rf"{P}/stores(/.*)?", V),
    rule(READ, rf"{P}/cameras", V),
    rule(READ, rf"{P}/cameras/\{{[a-z_]+\}}", V),
    rule(READ, rf"{P}/cameras/\{{[a-z_]+\}}/geometry", V),  # the zones and lines drawn on it
    rule(READ, rf"{P}/cameras/\{{[a-z_]+\}}/calibration", V),  # its image <-> floor point pairs
    rule(READ, rf"{P}/floor-plan(/image)?", V),  # the heat maps' backdrop, no store data
    rule(READ, rf"{P}/floor-plan/zones", V),  # the zones drawn on it, as GET /zones lists them
    rule(READ, rf"{P}/zones(/.*)?", V),
    rule(READ, rf"{P}/aggregates(/.*)?", V),
    rule(READ, rf"{P}/heatmaps(/.*)?", V),
    rule(READ, rf"{P}/alerts(/.*)?", V),
    rule("POST", rf"{P}/alerts/\{{[a-z_]+\}}/(ack|acknowledge)", V, "write", audit="alert.acknowledge"),
    rule(READ, rf"{P}/promotions(/.*)?", V),
    rule(READ, rf"{P}/journeys/flows", V),  # store-level common paths: counts over many visits
    rule(READ, r"/metrics", V),
    # analyst: per-visit data, exports, POS
    rule(READ, rf"{P}/events(/.*)?", A, per_visit=True),
    rule(READ, rf"{P}/visits(/.*)?", A, per_visit=True),
    rule(READ, rf"{P}/journeys", A, per_visit=True),  # each store visit's zones in order
    rule("*", rf"{P}/stream", A, per_visit=True),
    rule(READ, rf"{P}/exports(/.*)?", A, "export", audit="export", per_visit=True),
    rule(READ, rf"{P}/pos(/.*)?", A),
    rule(READ, rf"{P}/kpis(/.*)?", A),  # sales and conversion, like /pos (issue 20)
    rule("POST", rf"{P}/pos(/.*)?", A, "write", audit="pos.import"),
    # own API tokens (admin may see and revoke everyone's)
    rule(READ, rf"{P}/tokens", V),
    rule("POST", rf"{P}/tokens", V, "write"),
    rule("DELETE", rf"{P}/tokens/\{{[a-z_]+\}}", V, "write"),
    # admin: configuration, zones, users, audit, live view, deletion
    rule(WRITE, rf"{P}/zones(/.*)?", ADM, "admin", audit="zone.change"),
    rule("PUT", rf"{P}/cameras/\{{[a-z_]+\}}/geometry", ADM, "admin", audit="zone.change"),
    rule("PUT", rf"{P}/floor-plan/zones", ADM, "admin", audit="zone.change"),
    rule("PUT DELETE", rf"{P}/cameras/\{{[a-z_]+\}}/calibration", ADM, "admin", audit="calibration.change"),
    rule("*", rf"{P}/(config|settings)(/.*)?", ADM, "admin", audit="config.change"),
    rule("*", rf"{P}/users(/.*)?", ADM, "admin"),
    rule(READ, rf"{P}/audit(/.*)?", ADM, "admin"),
    rule("*", rf"{P}/privacy/deletions(/.*)?", ADM, "admin"),
    # the redacted still (people removed, masks filled) is the heat maps' backdrop: read like them
    rule(READ, rf"{P}/cameras/\{{[a-z_]+\}}/snapshot", V),
    rule("*", rf"{P}/cameras/\{{[a-z_]+\}}/(live|snapshot|frame|clip)(/.*)?", ADM, "admin", audit="live_view"),
    rule(READ, rf"{P}/webhooks(/.*)?", ADM, "admin"),
    rule("*", rf"{P}/webhooks(/.*)?", ADM, "admin", audit="webhook.change"),
)

DEFAULT_RULE = RouteRule(frozenset({"*"}), re.compile(".*"), Role.ADMIN, "admin")
"""Routes no rule covers: admin only (fail closed)."""


def rule_for(method: str, template: str, rules: tuple[RouteRule, ...] = ROUTE_RULES) -> RouteRule:
    method = method.upper()
    for r in rules:
        if r.matches(method, template):
            return r
    return DEFAULT_RULE


def is_explicit(method: str, template: str, rules: tuple[RouteRule, ...] = ROUTE_RULES) -> bool:
    """Whether some rule names this route (as opposed to the fail-closed default)."""
    return rule_for(method, template, rules) is not DEFAULT_RULE


def principal_of(conn: HTTPConnection) -> Principal | None:
    """The authenticated principal of a request (set by the security middleware), if any."""
    state = conn.scope.get("state") or {}
    p = state.get("principal")
    return p if isinstance(p, Principal) else None


def check(conn: HTTPConnection, role: Role | str, scope: str | None = "read") -> Principal:
    """Raise 401 when nobody is signed in, 403 when the principal's role or scope is too small
    (``scope=None``: the role alone, as the service's per-router hook asks)."""
    need = Role.parse(role)
    p = principal_of(conn)
    if p is None:
        raise HTTPException(401, detail="authentication required", headers={"WWW-Authenticate": "Bearer"})
    if p.role < need:
        raise HTTPException(403, detail=f"needs role {need.label}")
    if scope is not None and scope not in p.scopes:
        raise HTTPException(403, detail=f"token lacks scope {scope!r}")
    return p
