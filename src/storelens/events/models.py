"""Typed events: the one thing every analytics stage produces and every sink consumes.

An event is small, JSON-serialisable and carries no image or biometric data. ``id`` is a random
UUID made at creation, so a sink that sees the same event twice (at-least-once delivery after a
broker or database outage) can drop the duplicate. ``subject`` is a short-lived random visit or
track id, never a person's identity.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class EventType(StrEnum):
    """Known event types. Sinks route on the string value; new analytics add members here."""

    VISIT_STARTED = "visit.started"
    VISIT_ENDED = "visit.ended"
    ZONE_ENTERED = "zone.entered"
    ZONE_EXITED = "zone.exited"
    ZONE_DWELL_EXCEEDED = "zone.dwell_exceeded"
    ZONE_REVISITED = "zone.revisited"
    ZONE_LINGERING = "zone.lingering"
    LINE_CROSSED = "line.crossed"
    OCCUPANCY_CHANGED = "occupancy.changed"
    QUEUE_UPDATED = "queue.updated"
    SHELF_REACH = "shelf.reach"
    PRODUCT_PICKED = "product.picked"
    PRODUCT_RETURNED = "product.returned"
    SHELF_STATE = "shelf.state"
    ATTENTION_STARTED = "attention.started"
    ATTENTION_ENDED = "attention.ended"
    EXPRESSION_SUMMARY = "expression.summary"
    INTENT_CHANGED = "intent.changed"
    INTENT_ENDED = "intent.ended"
    ALERT_RAISED = "alert.raised"
    ALERT_ACKNOWLEDGED = "alert.acknowledged"
    ALERT_ESCALATED = "alert.escalated"
    ALERT_CLOSED = "alert.closed"
    PROMOTION_TRIGGERED = "promotion.triggered"
    INVENTORY_ALERT = "inventory.alert"
    CAMERA_OFFLINE = "camera.offline"
    CAMERA_ONLINE = "camera.online"
    CAMERA_TAMPERED = "camera.tampered"
    CAMERA_DEGRADED = "camera.degraded"
    FRAME_CORRUPT = "camera.frame_corrupt"


if TYPE_CHECKING:
    from storelens.events.payloads import EventPayload

_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def new_event_id() -> str:
    return uuid.uuid4().hex


class Event(BaseModel):
    """One thing that happened in a store, at a time, about a (random, short-lived) subject."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(description="Dotted event type, e.g. 'zone.exited' (see EventType)")
    store_id: str = Field(min_length=1, max_length=64)
    ts: datetime = Field(description="When it happened (UTC)")
    camera_id: str | None = Field(default=None, max_length=64)
    zone_id: str | None = Field(default=None, max_length=64)
    subject: str | None = Field(default=None, max_length=64, description="Random visit/track id")
    payload: dict[str, Any] = Field(default_factory=dict)
    id: str = Field(default_factory=new_event_id, min_length=8, max_length=64)
    pts: float | None = Field(
        default=None, description="Media time (s) in the camera's source when it happened: a file's own clock"
    )
    frame: int | None = Field(default=None, ge=0, description="Index of the source frame it happened on")

    @field_validator("type")
    @classmethod
    def _dotted(cls, v: str) -> str:
        if not _TYPE_RE.match(v):
            raise ValueError(f"event type must be dotted lowercase words, got {v!r}")
        return v

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            return v.replace(tzinfo=UTC)
        return v.astimezone(UTC)

    @classmethod
    def at(
        cls,
        type: str | EventType,
        store_id: str,
        wall_time: float,
        *,
        camera_id: str | None = None,
        zone_id: str | None = None,
        subject: str | int | None = None,
        **payload: Any,
    ) -> Event:
        """Convenience constructor from a UNIX timestamp, the form frames carry."""
        return cls(
            type=str(type),
            store_id=store_id,
            ts=datetime.fromtimestamp(wall_time, tz=UTC),
            camera_id=camera_id,
            zone_id=zone_id,
            subject=None if subject is None else format_subject(subject),
            payload=payload,
        )

    @classmethod
    def of(
        cls,
        payload: EventPayload,
        store_id: str,
        wall_time: float,
        *,
        camera_id: str | None = None,
        zone_id: str | None = None,
        subject: str | int | None = None,
    ) -> Event:
        """The typed constructor: the event type comes from the payload model
        (:mod:`storelens.events.payloads`), the payload's fields are checked where they are made."""
        return cls.at(
            payload.TYPE, store_id, wall_time, camera_id=camera_id, zone_id=zone_id, subject=subject, **payload.wire()
        )

    def typed_payload(self) -> EventPayload:
        """The payload as its type's model (lenient: older stored events read too)."""
        from storelens.events.payloads import parse_payload

        return parse_payload(self.type, self.payload)

    @property
    def subject_id(self) -> int | None:
        """The subject as the visit/track id the stages key on (:func:`parse_subject`), so a stage
        that meets an event's subject never parses the wire string itself."""
        return None if self.subject is None else parse_subject(self.subject)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# Subjects: inside the process a visit/track id is an int (``Tracks.subject_id``); on the wire
# (stored events, the API, the schema) it is the short hex string below. These two functions are
# the only conversions: ``format_subject`` when an event is made (``Event.at``/``Event.of`` take
# the int), ``parse_subject`` (``Event.subject_id``) when a stage reads one back.
_SUBJECT_BITS = 0xFFFFFFFFFFFF


def format_subject(subject: str | int) -> str:
    """Visit/track ids print as short hex: readable on an overlay, meaningless outside one run."""
    if isinstance(subject, str):
        return subject
    return f"{int(subject) & _SUBJECT_BITS:x}"


def parse_subject(subject: str) -> int | None:
    """The id :func:`format_subject` printed (ids are 47-bit, so the 48-bit mask loses nothing);
    None for a subject that is no such id (``queue-<zone>``, ``forecast-<metric>``, a simulator label)."""
    try:
        return int(subject, 16)
    except ValueError:
        return None
