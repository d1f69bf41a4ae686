"""Per-store and per-camera access: who may see which stores and cameras, and what each route does
about it (issue 14, the class of bug in Frigate's CVE-2026-33470).

A user and each of their tokens may carry an *allowed stores* and an *allowed cameras* list (None:
all). A camera entry is ``camera_id`` (that camera in any allowed store) or ``store_id/camera_id``
(camera ids are only unique within a store). The effective restriction of a request is the
intersection of the credential's and its owner's *current* one, the same way a token's role is
the smaller of the two: narrowing a user narrows their tokens at once.

Route level (the authentication gate, one decision per route in :data:`ROUTE_ACCESS`):

* ``neutral``: no store data (health, docs, sign-in, own tokens, the dashboard's static files);
* ``scoped``: store data; the route filters lists and answers 404 for objects outside the
  principal's stores/cameras through :mod:`storelens.service.scope` (never 403: a 403 would say
  the object exists). A principal that may not see the served store gets 404 from the gate;
* ``store_list``: the store index, which lists only the principal's stores;
* ``whole_store``: store-wide data that mixes every camera (POS, conversion): a principal limited
  to some cameras gets 403; one that may not see the store, 404;
* ``unrestricted``: global administration and data across stores or cameras (users, audit log,
  webhook outbox, Prometheus metrics, data deletion): only a principal without any restriction.

A route not in the table is refused to every restricted principal (fail closed), and
``tests/integration/test_scope_matrix.py`` fails for it, so a new route needs a decision.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

import sqlalchemy as sa

if TYPE_CHECKING:
    from storelens.security.rbac import Principal

Restriction = frozenset[str] | None
"""Allowed ids, or None for "all"."""

RouteAccess = Literal["neutral", "scoped", "store_list", "whole_store", "unrestricted"]

_ID = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}"
_STORE_RE = re.compile(rf"^{_ID}$")
_CAMERA_RE = re.compile(rf"^({_ID}/)?{_ID}$")
MAX_ENTRIES = 256


class AccessError(ValueError):
    """A restriction cannot be parsed or exceeds the one of the credential granting it."""


def parse_restriction(value: str | Iterable[str] | None, kind: Literal["stores", "cameras"]) -> Restriction:
    """``'a,b'`` / ``['a', 'b']`` -> frozenset; None -> None (all). An empty list is an error: a
    credential that may see nothing is a disabled one, and "" must not silently mean "all"."""
    if value is None:
        return None
    items = value.replace(",", " ").split() if isinstance(value, str) else [str(v).strip() for v in value]
    items = [i for i in items if i]
    if not items:
        raise AccessError(f"--{kind} needs at least one id (leave it out for all {kind})")
    if len(items) > MAX_ENTRIES:
        raise AccessError(f"at most {MAX_ENTRIES} {kind}, got {len(items)}")
    pattern = _STORE_RE if kind == "stores" else _CAMERA_RE
    bad = [i for i in items if not pattern.fullmatch(i)]
    if bad:
        form = "store ids" if kind == "stores" else "camera ids or store_id/camera_id"
        raise AccessError(f"invalid {kind} {bad[:5]} (expected {form}: letters, digits, '_', '.', '-')")
    return frozenset(items)


def to_column(r: Restriction) -> str | None:
    """Stored form: space-separated ids (ids cannot contain spaces), NULL for all."""
    return None if r is None else " ".join(sorted(r))


def from_column(value: str | None) -> Restriction:
    return None if value is None else frozenset(value.split())


def to_json(r: Restriction) -> list[str] | None:
    return None if r is None else sorted(r)


def _covered(item: str, allowed: frozenset[str]) -> bool:
    """Whether camera entry ``item`` is within ``allowed`` (``s/c`` is within ``c``)."""
    if item in allowed:
        return True
    _, sep, cam = item.partition("/")
    return bool(sep) and cam in allowed


def intersect_stores(a: Restriction, b: Restriction) -> Restriction:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def intersect_cameras(a: Restriction, b: Restriction) -> Restriction:
    """Entries allowed by both (``cam`` ∩ ``s/cam`` = ``s/cam``)."""
    if a is None:
        return b
    if b is None:
        return a
    return frozenset({x for x in a if _covered(x, b)} | {y for y in b if _covered(y, a)})


def within(asked: Restriction, ceiling: Restriction, kind: Literal["stores", "cameras"]) -> Restriction:
    """What a new credential may hold under ``ceiling``: None (asked for all) becomes the ceiling;
    anything beyond it is an error (never a silent cut, like roles and scopes)."""
    if ceiling is None:
        return asked
    if asked is None:
        return ceiling
    beyond = sorted(x for x in asked if not (x in ceiling if kind == "stores" else _covered(x, ceiling)))
    if beyond:
        raise AccessError(f"{kind} {beyond} are outside the granting credential's {kind}")
    return asked


def allows_store(stores: Restriction, store_id: str) -> bool:
    return stores is None or store_id in stores


def allows_camera(stores: Restriction, cameras: Restriction, store_id: str, camera_id: str) -> bool:
    if not allows_store(stores, store_id):
        return False
    return cameras is None or camera_id in cameras or f"{store_id}/{camera_id}" in cameras


def access_terms(
    cameras: frozenset[str] | None,
    zones: frozenset[str] | None,
    camera_col: sa.ColumnElement[str] | None,
    zone_col: sa.ColumnElement[str] | None,
) -> list[sa.ColumnElement[bool]]:
    """SQL WHERE terms selecting rows of the visible ``cameras`` or, for a row without a camera, of
    the visible ``zones`` (``cameras`` None: no restriction, no term). A table with only a zone
    column (aggregates) keeps the visible zones' rows, never the store-wide ones. The one SQL form
    of the per-camera check, used by the API's lists and by exports."""
    if cameras is None:
        return []
    terms: list[sa.ColumnElement[bool]] = []
    if camera_col is not None and cameras:
        terms.append(camera_col.in_(sorted(cameras)))
    if zone_col is not None and zones:
        zone_in = zone_col.in_(sorted(zones))
        terms.append(zone_in if camera_col is None else sa.and_(camera_col.is_(None), zone_in))
    return [sa.or_(*terms)] if terms else [sa.false()]


# ------------------------------------------------------------------------------ route decisions

P = "/api/v1"
ROUTE_ACCESS: dict[str, RouteAccess] = {
    # public / about the caller only
    f"GET {P}/health": "neutral",
    f"GET {P}/ready": "neutral",
    f"GET {P}/openapi.json": "neutral",
    f"GET {P}/docs": "neutral",
    "GET /privacy": "neutral",  # the public notice and sign: what the config says, no store data
    "GET /privacy/sign.png": "neutral",
    "GET /docs": "neutral",  # redirect to the bundled docs
    f"GET {P}/docs/assets/{{name}}": "neutral",
    f"POST {P}/auth/login": "neutral",
    f"POST {P}/auth/logout": "neutral",
    f"GET {P}/auth/me": "neutral",
    f"GET {P}/tokens": "neutral",  # own tokens; ?all=true is refused to restricted principals
    f"POST {P}/tokens": "neutral",  # bounded by the caller's restriction (tokens.create_token)
    f"DELETE {P}/tokens/{{token_id}}": "neutral",  # own tokens; others' only unrestricted
    "GET /": "neutral",
    "GET /dashboard": "neutral",
    "GET /dashboard/": "neutral",
    "GET /login": "neutral",
    "GET /editor": "neutral",
    "GET /dashboard/{name}": "neutral",
    # store data, filtered per object
    f"GET {P}/stores": "store_list",
    f"GET {P}/stores/{{store_id}}": "scoped",
    f"GET {P}/cameras": "scoped",
    f"GET {P}/cameras/{{camera_id}}": "scoped",
    f"GET {P}/cameras/{{camera_id}}/snapshot": "scoped",
    f"GET {P}/cameras/{{camera_id}}/geometry": "scoped",
    f"PUT {P}/cameras/{{camera_id}}/geometry": "scoped",
    f"GET {P}/cameras/{{camera_id}}/calibration": "scoped",
    f"PUT {P}/cameras/{{camera_id}}/calibration": "scoped",
    f"DELETE {P}/cameras/{{camera_id}}/calibration": "scoped",
    f"GET {P}/floor-plan": "scoped",  # the store's plan: anyone who may see the store
    f"GET {P}/floor-plan/image": "scoped",
    f"GET {P}/floor-plan/zones": "scoped",  # every camera needed (routers/floor_zones.py)
    f"PUT {P}/floor-plan/zones": "scoped",
    f"GET {P}/zones": "scoped",
    f"GET {P}/zones/{{zone_id}}": "scoped",
    f"POST {P}/zones": "scoped",
    f"PUT {P}/zones/{{zone_id}}": "scoped",
    f"DELETE {P}/zones/{{zone_id}}": "scoped",
    f"GET {P}/events": "scoped",
    f"GET {P}/events/{{event_id}}": "scoped",
    f"GET {P}/visits": "scoped",
    f"GET {P}/visits/{{visit_id}}": "scoped",
    f"GET {P}/aggregates": "scoped",
    f"GET {P}/heatmaps": "scoped",
    f"GET {P}/heatmaps/{{camera_id}}": "scoped",
    f"GET {P}/alerts": "scoped",
    f"GET {P}/alerts/{{alert_id}}": "scoped",
    f"POST {P}/alerts/{{alert_id}}/ack": "scoped",
    f"GET {P}/promotions": "scoped",
    f"GET {P}/exports/{{dataset}}": "scoped",
    f"GET {P}/stream": "scoped",
    f"GET {P}/privacy/report": "scoped",
    # store-wide data (every camera mixed)
    f"POST {P}/pos/transactions": "whole_store",
    f"POST {P}/pos/import": "whole_store",
    f"GET {P}/pos/transactions": "whole_store",
    f"GET {P}/pos/conversion": "whole_store",
    f"GET {P}/pos/matches": "whole_store",
    f"GET {P}/kpis/funnel": "whole_store",  # entries, POS and store-wide rates (issue 20)
    f"GET {P}/kpis/forecast": "whole_store",
    f"GET {P}/kpis/staffing": "whole_store",
    f"GET {P}/kpis/experiments": "whole_store",
    f"GET {P}/kpis/buying-units": "whole_store",  # POS against units
    f"GET {P}/kpis/queues": "whole_store",  # service levels and the store's register alerts
    f"GET {P}/kpis/layout-change": "whole_store",  # a zone against a control zone, before and after
    f"GET {P}/journeys": "whole_store",  # store-level visits fuse every calibrated camera (issue 18)
    f"GET {P}/journeys/flows": "whole_store",
    f"GET {P}/heatmaps/store/{{store_id}}": "whole_store",  # fused shoppers of every camera
    # global administration / data across stores and cameras
    f"GET {P}/users": "unrestricted",
    f"POST {P}/users": "unrestricted",
    f"GET {P}/users/{{username}}": "unrestricted",
    f"PATCH {P}/users/{{username}}": "unrestricted",
    f"DELETE {P}/users/{{username}}": "unrestricted",
    f"GET {P}/audit": "unrestricted",
    f"GET {P}/audit/verify": "unrestricted",
    f"POST {P}/privacy/deletions": "unrestricted",
    f"GET {P}/webhooks/deliveries": "unrestricted",
    f"GET {P}/webhooks/deliveries/counts": "unrestricted",
    f"POST {P}/webhooks/deliveries/requeue": "unrestricted",
    "GET /metrics": "unrestricted",  # per-camera series of every camera
}


def route_access(method: str, template: str) -> RouteAccess | None:
    """The decision for a route (HEAD as GET), None when the table has none."""
    m = "GET" if method.upper() == "HEAD" else method.upper()
    return ROUTE_ACCESS.get(f"{m} {template}")


def gate_decision(method: str, template: str, principal: Principal, store_id: str | None) -> tuple[int, str] | None:
    """(status, detail) when the gate must refuse a restricted principal, else None.

    ``store_id`` is the store the app serves (None: an app without a store)."""
    if not principal.restricted:
        return None
    access = route_access(method, template)
    if access is None:
        return 403, "this route is not available to a credential restricted to some stores or cameras"
    if access in ("neutral", "store_list"):
        return None
    if access == "unrestricted":
        return 403, "needs a credential without store or camera restriction"
    if store_id is not None and not principal.allows_store(store_id):
        return 404, "not found"
    if access == "whole_store" and principal.cameras is not None:
        return 403, "needs access to every camera of the store (store-wide data)"
    return None
