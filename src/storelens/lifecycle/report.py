"""The privacy report (``storelens privacy-report``): what this store's storelens collects, how
long it keeps it, who can see it, where it goes, and whether emotion recognition is on.

It is generated from the store's configuration (and, when given, the database's user list), so
it describes what the system actually does, not what someone remembered to write down; the store
can paste it into its notice to customers and use it as the starting point of a DPIA.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from storelens.config.store import StoreConfig
from storelens.storage.database import Database

ROLE_ACCESS: dict[str, list[str]] = {
    "viewer": ["dashboards", "aggregates (counts, dwell statistics, heat maps)", "alerts", "camera status"],
    "analyst": ["everything a viewer sees", "events and visits (random ids)", "exports", "POS conversion"],
    "admin": [
        "everything an analyst sees",
        "configuration and zones",
        "users and API tokens",
        "audit log",
        "redacted live view and snapshots",
        "deletion of data",
    ],
}

NOT_COLLECTED = [
    "no face images or crops are stored, sent or logged; every outgoing frame has heads and faces blurred",
    "no face embeddings, identity templates or other biometric identifiers exist anywhere",
    "no names, loyalty ids, payment data or device (Wi-Fi/Bluetooth) identifiers",
    "visit ids are random, per visit, and cannot be linked to a person or across visits",
    "the appearance cue used for tracking lives in memory only and is dropped when the visit ends",
]


def _days(v: float | None) -> str:
    return "kept until deleted" if v is None else f"{v:g} days"


@dataclass(slots=True)
class PrivacyReport:
    store_id: str
    store_name: str | None
    controller: str | None
    contact: str | None
    cameras: int
    masks: int
    emotion_recognition: bool
    aggregate_only: bool
    collected: list[dict[str, str]] = field(default_factory=list)
    not_collected: list[str] = field(default_factory=list)
    retention: dict[str, str] = field(default_factory=dict)
    access: dict[str, list[str]] = field(default_factory=dict)
    users_by_role: dict[str, int] | None = None
    destinations: list[str] = field(default_factory=list)
    security: dict[str, str] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "store_id": self.store_id,
            "store_name": self.store_name,
            "controller": self.controller,
            "contact": self.contact,
            "cameras": self.cameras,
            "privacy_masks": self.masks,
            "emotion_recognition": self.emotion_recognition,
            "aggregate_only": self.aggregate_only,
            "collected": self.collected,
            "not_collected": self.not_collected,
            "retention": self.retention,
            "access": self.access,
            "users_by_role": self.users_by_role,
            "destinations": self.destinations,
            "security": self.security,
        }


def build_report(cfg: StoreConfig, db: Database | None = None) -> PrivacyReport:
    p = cfg.privacy
    r = p.retention
    collected = [
        {"what": "zone entries, exits and dwell times", "linked_to": "random visit id"},
        {"what": "counts: occupancy, line crossings, queue length and waits", "linked_to": "nothing (aggregate)"},
        {"what": "shelf reaches and pick-ups (from body keypoints)", "linked_to": "random visit id"},
        {"what": "movement path on the floor plan, standing body height", "linked_to": "random visit id"},
        {"what": "inferred shopping intent (explainable score)", "linked_to": "random visit id"},
        {"what": "time-bucketed aggregates per zone", "linked_to": "nothing (aggregate)"},
    ]
    if cfg.emotion.enabled:
        collected.append(
            {
                "what": "facial expression category (read from a face crop held in memory only)",
                "linked_to": "random visit id",
            }
        )
    if p.aggregate_only:
        collected = [
            {"what": c["what"], "linked_to": "nothing: aggregate-only mode removes visit ids before storage"}
            for c in collected
            if "intent" not in c["what"] and "expression" not in c["what"]
        ]
    destinations = [f"database: {_host_of(cfg.output.database_url) or 'SQLite file on this machine'}"]
    if cfg.mqtt.enabled:
        tls = "on" if cfg.mqtt.tls.enabled else "off"
        destinations.append(f"MQTT broker {cfg.mqtt.host}:{cfg.mqtt.port} (TLS {tls})")
    if cfg.nats.enabled:
        hosts = ", ".join(_host_of(s) or s for s in cfg.nats.servers)
        destinations.append(f"NATS JetStream {hosts} (TLS {'on' if cfg.nats.tls.enabled else 'off'})")
    for sub in cfg.webhooks.subscriptions:
        if sub.enabled:
            destinations.append(f"webhook {sub.id}: {_host_of(sub.url)} (HMAC-signed)")
    users: dict[str, int] | None = None
    if db is not None:
        from storelens.security.users import list_users  # storage + security tables

        with db.engine.connect() as conn:
            users = dict(Counter(u.role.label for u in list_users(conn) if not u.disabled))
    security = {
        "authentication": "required on every API route except health checks and sign-in",
        "passwords": "argon2id hashes; accounts lock after repeated failures",
        "tls": "on" if cfg.security.tls.enabled else "off (configure security.tls before exposing the API)",
        "imagery_at_rest": "AES-256-GCM (snapshots and clips are redacted before encryption)",
        "audit_log": "hash-chained; covers logins, exports, live view, configuration, users, deletions",
    }
    return PrivacyReport(
        store_id=cfg.store_id,
        store_name=cfg.name,
        controller=p.controller,
        contact=p.contact,
        cameras=len(cfg.cameras),
        masks=len(p.masks),
        emotion_recognition=cfg.emotion.enabled,
        aggregate_only=p.aggregate_only,
        collected=collected,
        not_collected=list(NOT_COLLECTED),
        retention={
            "events": _days(r.events_days),
            "visits": _days(r.visits_days),
            "paths": _days(r.paths_days),
            "aggregates": _days(r.aggregates_days),
            "snapshots": _days(r.snapshots_days),
            "audit": _days(r.audit_days),
        },
        access=ROLE_ACCESS,
        users_by_role=users,
        destinations=destinations,
        security=security,
    )


def _host_of(url: str | None) -> str | None:
    if not url or "://" not in url:
        return None
    parts = urlsplit(url)
    return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else parts.scheme


def render_report(report: PrivacyReport, fmt: str = "text") -> str:
    """``text`` (terminal), ``markdown`` (for a notice/DPIA draft) or ``json``."""
    if fmt == "json":
        return json.dumps(report.to_json_dict(), indent=2)
    if fmt not in ("text", "markdown"):
        raise ValueError(f"unknown format {fmt!r} (text, markdown, json)")
    md = fmt == "markdown"
    h = (lambda s: f"## {s}") if md else (lambda s: f"{s}\n{'-' * len(s)}")
    b = "- " if md else "  * "
    lines = [
        ("# " if md else "") + f"Privacy report: store {report.store_name or report.store_id}",
        "",
        f"{b}Data controller: {report.controller or '(set privacy.controller)'}",
        f"{b}Privacy contact: {report.contact or '(set privacy.contact)'}",
        f"{b}Cameras: {report.cameras}; privacy masks: {report.masks}",
        f"{b}Emotion recognition: {'ON (emotion.enabled: true)' if report.emotion_recognition else 'OFF'}",
        f"{b}Aggregate-only mode: {'ON' if report.aggregate_only else 'off'}",
        "",
        h("What is collected"),
        *[f"{b}{c['what']} (linked to: {c['linked_to']})" for c in report.collected],
        "",
        h("What is never collected"),
        *[f"{b}{c}" for c in report.not_collected],
        "",
        h("How long it is kept"),
        *[f"{b}{k}: {v}" for k, v in report.retention.items()],
        "",
        h("Who can see it"),
        *[f"{b}{role}: {', '.join(items)}" for role, items in report.access.items()],
    ]
    if report.users_by_role is not None:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(report.users_by_role.items())) or "no users yet"
        lines.append(f"{b}active accounts: {counts}")
    lines += ["", h("Where it goes"), *[f"{b}{d}" for d in report.destinations], "", h("How it is protected")]
    lines += [f"{b}{k}: {v}" for k, v in report.security.items()]
    return "\n".join(lines) + "\n"
