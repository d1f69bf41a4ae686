"""One pydantic model per :class:`~storelens.events.models.EventType`: what each event's payload holds.

Why typed payloads: the payload used to be a free ``dict`` whose fields were documented only in
docstrings, so producers and consumers agreed by convention and aggregate-only privacy was a
hand-kept deny-list of keys (a new per-visit field leaked until someone remembered it). Each model
here names its fields, their types, and - the privacy contract - whether a field describes one
visit (``per_visit``) or may feed store aggregates (``aggregate``).

Fail closed: a field declared without either mark, and any key a model does not declare (an extra
from an older or newer version), counts as per-visit, so aggregate-only mode withholds it.

Wire compatibility: every field is optional and :meth:`EventPayload.wire` dumps only the fields a
producer set, so the JSON an event carries is exactly what the untyped producers wrote before
(golden tests pin that). Reading is lenient (:func:`read_payload`): old stored events with missing
keys, extra keys or a value of the wrong type still parse; a bad value reads as absent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from storelens.events.models import Event, EventType

PER_VISIT_MARK = "per_visit"
"""The ``json_schema_extra`` key carrying a field's privacy mark (also visible in the JSON schema)."""

RETENTION_MARK = "retention"
"""The ``json_schema_extra`` key naming the retention class of a per-visit field that must go
before the rest of its event (``privacy.retention.<class>_days``; also visible in the JSON schema)."""

FieldRetention = Literal["paths"]
"""Retention classes that apply to single payload fields rather than whole rows: ``paths`` covers
movement traces and body measures, the most identifying part of a visit, kept shortest."""


def per_visit(description: str = "", *, retention: FieldRetention | None = None) -> Any:
    """A field that describes one shopper's visit: withheld in aggregate-only mode.

    ``retention`` puts the field in a shorter-lived retention class than its event: the purge
    empties it (in stored events and in the visit column it is projected into) after that class's
    days while the rest of the event stays. Without it the field lives as long as its event."""
    extra: dict[str, Any] = {PER_VISIT_MARK: True}
    if retention is not None:
        extra[RETENTION_MARK] = retention
    return Field(default=None, description=description or None, json_schema_extra=extra)


def aggregate(description: str = "") -> Any:
    """A field that carries nothing about one visit once the subject is gone: kept in aggregate-only mode."""
    return Field(default=None, description=description or None, json_schema_extra={PER_VISIT_MARK: False})


class EventPayload(BaseModel):
    """Base of every payload model. ``TYPE`` ties a model to its event type (the union's tag)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    TYPE: ClassVar[EventType]
    PER_VISIT_TYPE: ClassVar[bool] = False
    """True for types that only describe one shopper over time: dropped whole in aggregate-only mode."""

    staff: bool | None = aggregate("Set on events of a subject judged to be staff, so aggregates leave them out")

    @model_validator(mode="wrap")
    @classmethod
    def _keep_key_order(cls, data: Any, handler: ModelWrapValidatorHandler[EventPayload]) -> EventPayload:
        # the wire keeps the producer's key order, so the JSON is byte-for-byte what it was untyped
        model = handler(data)
        if isinstance(data, Mapping) and model.__pydantic_private__ is not None:
            model.__pydantic_private__["_order"] = tuple(data)
        return model

    _order: tuple[str, ...] = PrivateAttr(default=())

    def wire(self) -> dict[str, Any]:
        """The payload dict as it goes on the wire: only the fields that were set (and extras), in
        the order the producer gave them."""
        d = self.model_dump(mode="python", exclude_unset=True)
        out = {k: d.pop(k) for k in self._order if k in d}
        out.update(d)
        return out

    @classmethod
    def field_is_aggregate(cls, name: str) -> bool:
        """Whether ``name`` may leave the edge in aggregate-only mode (fail closed: unknown -> no)."""
        info = cls.model_fields.get(name)
        if info is None:
            return False
        extra = info.json_schema_extra
        return isinstance(extra, dict) and extra.get(PER_VISIT_MARK) is False

    @classmethod
    def field_retention(cls, name: str) -> str | None:
        """The retention class ``name`` is marked with (``per_visit(..., retention=...)``), if any."""
        info = cls.model_fields.get(name)
        extra = None if info is None else info.json_schema_extra
        value = extra.get(RETENTION_MARK) if isinstance(extra, dict) else None
        return value if isinstance(value, str) else None


# ------------------------------------------------------------------------------------ visits


class VisitStarted(EventPayload):
    TYPE = EventType.VISIT_STARTED
    fused: bool | None = aggregate("A store-level visit fused from several cameras (camera_id is None)")


class VisitEnded(EventPayload):
    TYPE = EventType.VISIT_ENDED
    duration_s: float | None = aggregate("How long the visit lasted")
    fragments: int | None = per_visit("Track fragments stitched into this visit")
    confidence: float | None = per_visit("Stitching confidence of the visit")
    started_at: str | None = aggregate("ISO time the visit started (older producers)")
    path: list[Any] | None = per_visit(
        "The visit's route as [t, x, y] points (t: seconds on the source clock; floor metres on a "
        "calibrated camera, else image feet pixels), thinned to at most 200 points",
        retention="paths",
    )
    height_m: float | None = per_visit(
        "Median standing body height over the visit (calibrated cameras only)", retention="paths"
    )
    dwell_by_zone: dict[str, float] | None = per_visit("Seconds per zone (older producers)")
    intent_timeline: list[Any] | None = per_visit("Intent states over the visit (older producers)")
    is_staff: bool | None = aggregate("Staff flag (older producers)")
    fused: bool | None = aggregate("A store-level visit fused from several cameras (camera_id is None)")
    journey: list[str] | None = per_visit("Store-level visits: the floor zones entered, in order")
    cameras: int | None = aggregate("Store-level visits: how many cameras saw the shopper")


# ------------------------------------------------------------------------------------- zones


class _ZonePayload(EventPayload):
    zone_name: str | None = aggregate("The zone's label")
    zone_kind: str | None = aggregate("shelf, aisle, display, queue, checkout, staff_only, ...")
    category: str | None = aggregate("Product category of the zone")
    kind: str | None = aggregate("zone_kind under the name simulated producers use")
    name: str | None = aggregate("zone_name under the name simulated producers use")


class ZoneEntered(_ZonePayload):
    TYPE = EventType.ZONE_ENTERED


class ZoneExited(_ZonePayload):
    TYPE = EventType.ZONE_EXITED
    dwell_s: float | None = aggregate("Seconds spent in the zone")
    entered_at: str | None = aggregate("ISO time of the entry")
    dwell_seconds: float | None = aggregate("dwell_s under its older name")

    def dwell(self) -> float | None:
        """The finite, non-negative dwell, whichever name an older producer used."""
        for v in (self.dwell_s, self.dwell_seconds):
            if v is not None and math.isfinite(v):
                return v
        return None


class ZoneDwellExceeded(_ZonePayload):
    TYPE = EventType.ZONE_DWELL_EXCEEDED
    dwell_s: float | None = aggregate("Seconds in the zone so far")
    threshold_s: float | None = aggregate("The configured dwell alert")


class ZoneRevisited(EventPayload):
    TYPE = EventType.ZONE_REVISITED
    zone_name: str | None = aggregate("The zone's label")
    gap_s: float | None = aggregate("Seconds since the subject last left the zone")
    visit_number: int | None = aggregate("How many times this subject has now entered the zone")
    zone_kind: str | None = aggregate()
    category: str | None = aggregate()
    count: int | None = aggregate("visit_number under the name simulated producers use")


class ZoneLingering(EventPayload):
    TYPE = EventType.ZONE_LINGERING
    zone_name: str | None = aggregate("The zone's label")
    duration_s: float | None = aggregate("Seconds of slow movement")
    mean_speed: float | None = aggregate("Mean speed while lingering")
    speed_unit: str | None = aggregate("m/s on a calibrated floor, px/s in image space")
    zone_kind: str | None = aggregate()
    category: str | None = aggregate()


class LineCrossed(EventPayload):
    TYPE = EventType.LINE_CROSSED
    line_id: str | None = aggregate()
    line_name: str | None = aggregate()
    direction: str | None = aggregate("in or out")
    count_in: int | None = aggregate("Running count of crossings in")
    count_out: int | None = aggregate("Running count of crossings out")


class OccupancyChanged(EventPayload):
    TYPE = EventType.OCCUPANCY_CHANGED
    occupancy: int | None = aggregate("People inside now")
    source: str | None = aggregate("What counted them (lines, ...)")
    count: int | None = aggregate("occupancy under its older name")

    def people(self) -> int | None:
        return self.occupancy if self.occupancy is not None else self.count


class QueueUpdated(EventPayload):
    TYPE = EventType.QUEUE_UPDATED
    queue_zone: str | None = aggregate()
    checkout_zone: str | None = aggregate()
    length: int | None = aggregate("People in the queue")
    arrival_rate_per_min: float | None = aggregate()
    service_rate_per_min: float | None = aggregate()
    measured_wait_s: float | None = aggregate()
    last_wait_s: float | None = aggregate()
    predicted_wait_s: float | None = aggregate()
    served: int | None = aggregate()
    abandoned: int | None = aggregate()
    queue_length: int | None = aggregate("length under its older name")

    def people(self) -> int | None:
        return self.length if self.length is not None else self.queue_length


# --------------------------------------------------------------------------------- shelves


class _ShelfPayload(EventPayload):
    shelf: str | None = aggregate("Shelf zone id")
    kind: str | None = aggregate("Zone kind of the shelf")
    category: str | None = aggregate("Product category of the shelf")


class ShelfReach(_ShelfPayload):
    TYPE = EventType.SHELF_REACH
    side: str | None = aggregate("Which hand")
    duration_s: float | None = aggregate()
    max_depth: float | None = aggregate("Deepest reach into the shelf (px)")
    max_depth_rel: float | None = aggregate("Deepest reach relative to the body")
    hand_source: str | None = aggregate("What located the hand")
    start_offset_s: float | None = aggregate("Start of the reach relative to the event time")


class _ProductPayload(_ShelfPayload):
    side: str | None = aggregate("Which hand")
    confidence: float | None = per_visit("How sure the pick/return decision is")
    reach_duration_s: float | None = aggregate()
    evidence: dict[str, Any] | None = aggregate("Measured figures behind the decision")


class ProductPicked(_ProductPayload):
    TYPE = EventType.PRODUCT_PICKED


class ProductReturned(_ProductPayload):
    TYPE = EventType.PRODUCT_RETURNED


class ShelfState(_ShelfPayload):
    TYPE = EventType.SHELF_STATE
    empty_fraction: float | None = aggregate()
    judged_cells: int | None = aggregate()
    empty_cells: int | None = aggregate()
    occluded_fraction: float | None = aggregate()
    reference_coverage: float | None = aggregate()


class InventoryAlert(_ShelfPayload):
    TYPE = EventType.INVENTORY_ALERT
    reason: str | None = aggregate("empty_shelf, demand_exceeds_replenishment, ...")
    evidence: dict[str, Any] | None = aggregate()
    source: str | None = aggregate()
    endpoint: str | None = aggregate()
    target: str | None = aggregate()
    dry_run: bool | None = aggregate()
    demand: int | None = aggregate()
    expected: float | None = aggregate()
    window_s: float | None = aggregate()
    empty_fraction: float | None = aggregate()
    threshold: float | None = aggregate()


# ------------------------------------------------------------------- one shopper over time


class _AttentionPayload(EventPayload):
    PER_VISIT_TYPE = True
    target: str | None = per_visit("Zone looked at")
    kind: str | None = per_visit()
    category: str | None = per_visit()
    yaw_deg: float | None = per_visit()


class AttentionStarted(_AttentionPayload):
    TYPE = EventType.ATTENTION_STARTED


class AttentionEnded(_AttentionPayload):
    TYPE = EventType.ATTENTION_ENDED
    duration_s: float | None = per_visit()
    mean_offset_deg: float | None = per_visit()
    reached: bool | None = per_visit()
    engaged: bool | None = per_visit()


class ExpressionSummary(EventPayload):
    TYPE = EventType.EXPRESSION_SUMMARY
    PER_VISIT_TYPE = True
    dwell_s: float | None = per_visit()
    label: str | None = per_visit("7-class expression")
    affect: str | None = per_visit("Retail affect reading")
    affect_scores: dict[str, float] | None = per_visit()
    confidence: float | None = per_visit("Affect confidence")
    label_confidence: float | None = per_visit()
    n_readings: int | None = per_visit()
    n_unknown: int | None = per_visit()
    scores: dict[str, float] | None = per_visit("affect_scores under the name simulated producers use")


class IntentChanged(EventPayload):
    TYPE = EventType.INTENT_CHANGED
    PER_VISIT_TYPE = True
    state: str | None = per_visit("The intent state entered")
    previous: str | None = per_visit()
    category: str | None = per_visit()
    score: float | None = per_visit()
    reasons: list[str] | None = per_visit()
    category_change: bool | None = per_visit()
    scores: dict[str, float] | None = per_visit()


class IntentEnded(EventPayload):
    TYPE = EventType.INTENT_ENDED
    PER_VISIT_TYPE = True
    state: str | None = per_visit()
    category: str | None = per_visit()
    duration_s: float | None = per_visit()
    states: list[str] | None = per_visit()
    reason: str | None = per_visit()


# ------------------------------------------------------------------------------------ actions


class AlertPayload(EventPayload):
    """Fields every alert.* event carries (the alerts projection reads ``alert_id`` of any of them)."""

    alert_id: str | None = aggregate()
    rule: str | None = aggregate()
    category: str | None = aggregate()
    endpoint: str | None = aggregate()
    target: str | None = aggregate()
    dry_run: bool | None = aggregate()


class AlertRaised(AlertPayload):
    TYPE = EventType.ALERT_RAISED
    reasons: list[str] | None = per_visit("Intent reasons behind the alert")
    severity: str | None = aggregate()
    state: str | None = aggregate("Intent state that raised it")
    kind: str | None = aggregate("rule under its older name")
    message: str | None = aggregate("Older producers' alert text")
    action: str | None = aggregate("What staff should do (open_register for a queue alert)")
    queue_zone: str | None = aggregate("Queue alerts: the queue zone")
    checkout_zone: str | None = aggregate("Queue alerts: the till zone it leads to")
    predicted_wait_s: float | None = aggregate("Queue alerts: a newcomer's predicted wait")
    sla_wait_s: float | None = aggregate("Queue alerts: the service-level wait target")
    length: int | None = aggregate("Queue alerts: people in the queue")
    metric: str | None = aggregate("Forecast alerts: entries or conversion")
    hour_start: str | None = aggregate("Forecast alerts: ISO start of the hour that left the band")
    observed: float | None = aggregate("Forecast alerts: the hour's entries, or its conversion")
    expected: float | None = aggregate("Forecast alerts: the forecast for that hour")
    band_low: float | None = aggregate("Forecast alerts: lower edge of the band")
    band_high: float | None = aggregate("Forecast alerts: upper edge of the band")


class AlertAcknowledged(AlertPayload):
    TYPE = EventType.ALERT_ACKNOWLEDGED
    by: str | None = aggregate("Who acknowledged it (staff user)")
    time_to_ack_s: float | None = aggregate()
    note: str | None = aggregate()
    acknowledged_by: str | None = aggregate("by under its older name")

    def who(self) -> str | None:
        return self.by or self.acknowledged_by


class AlertEscalated(AlertPayload):
    TYPE = EventType.ALERT_ESCALATED
    minutes_open: float | None = aggregate()


class AlertClosed(AlertPayload):
    TYPE = EventType.ALERT_CLOSED
    reason: str | None = aggregate()
    open_s: float | None = aggregate()
    acknowledged: bool | None = aggregate()
    time_to_ack_s: float | None = aggregate()


class PromotionTriggered(EventPayload):
    TYPE = EventType.PROMOTION_TRIGGERED
    rule: str | None = aggregate()
    display: str | None = aggregate()
    category: str | None = aggregate()
    state: str | None = aggregate("Intent state that triggered it")
    content: str | None = aggregate()
    endpoint: str | None = aggregate()
    target: str | None = aggregate()
    dry_run: bool | None = aggregate()
    holdout: bool | None = aggregate("Drawn into the hold-out arm: recorded, never shown")
    arm: str | None = aggregate("holdout or treated")
    holdout_share: float | None = aggregate()
    promotion_id: str | None = aggregate("Promotion id (older producers)")


# ------------------------------------------------------------------------------------ cameras


class _CameraPayload(EventPayload):
    reason: str | None = aggregate()
    source: str | None = aggregate("Who reported it (runner, ...)")
    error: str | None = aggregate()


class CameraOffline(_CameraPayload):
    TYPE = EventType.CAMERA_OFFLINE
    retry_in_s: float | None = aggregate()
    frames: int | None = aggregate("Frames read before a file ended early")
    expected_frames: int | None = aggregate()
    restarts: int | None = aggregate("Times the runner had restarted this camera's worker before")
    stalled_s: float | None = aggregate("Seconds without an analysed frame before the worker was found hung")


class CameraOnline(_CameraPayload):
    TYPE = EventType.CAMERA_ONLINE
    reconnects: int | None = aggregate()


class CameraTampered(_CameraPayload):
    TYPE = EventType.CAMERA_TAMPERED
    message: str | None = aggregate()


class CameraDegraded(_CameraPayload):
    TYPE = EventType.CAMERA_DEGRADED
    message: str | None = aggregate()
    motion_share: float | None = aggregate()
    people_per_frame: float | None = aggregate()
    motion_height_px: float | None = aggregate()
    person_height_px: float | None = aggregate()
    input_height_px: float | None = aggregate()
    suggested_input_size: float | None = aggregate()


class FrameCorrupt(_CameraPayload):
    TYPE = EventType.FRAME_CORRUPT
    corrupt: int | None = aggregate("Corrupt frames so far")


class UnknownPayload(EventPayload):
    """Payload of an event type this version does not know: everything in it counts as per-visit."""


# ----------------------------------------------------------------------------------- registry


def _leaf_models(base: type[EventPayload]) -> list[type[EventPayload]]:
    out: list[type[EventPayload]] = []
    for sub in base.__subclasses__():
        if "TYPE" in sub.__dict__:
            out.append(sub)
        out.extend(_leaf_models(sub))
    return out


PAYLOADS: dict[str, type[EventPayload]] = {str(m.TYPE): m for m in _leaf_models(EventPayload)}
"""Event type string -> its payload model."""

P = TypeVar("P", bound=EventPayload)


def payload_model(type_: str) -> type[EventPayload]:
    return PAYLOADS.get(type_, UnknownPayload)


def parse_payload(type_: str, payload: Mapping[str, Any]) -> EventPayload:
    """The typed payload of an event of ``type_``; lenient, for stored events of older versions.

    A value of the wrong type (an older producer's) reads as absent rather than failing the read:
    the offending keys are dropped and the rest validated again.
    """
    model = payload_model(type_)
    data = dict(payload)
    for _ in range(len(data) + 1):
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
            if not bad & data.keys():
                raise
            for k in bad:
                data.pop(k, None)
    return model.model_validate({})


def typed(event: Event, model: type[P]) -> P | None:
    """``event``'s payload as ``model`` when the event is of that type, else None (typed reads)."""
    if event.type != str(model.TYPE):
        return None
    parsed = parse_payload(event.type, event.payload)
    assert isinstance(parsed, model)
    return parsed


def intent_of(event: Event) -> IntentChanged:
    """The typed payload of an ``intent.changed`` (what actions follow); an empty one for any other type."""
    return typed(event, IntentChanged) or IntentChanged()


def aggregate_fields(type_: str) -> frozenset[str]:
    """Payload keys of ``type_`` marked aggregate: all that aggregate-only mode lets through."""
    model = payload_model(type_)
    if model.PER_VISIT_TYPE:
        return frozenset()
    return frozenset(n for n in model.model_fields if model.field_is_aggregate(n))


def per_visit_field_names() -> frozenset[str]:
    """Every field name marked (or left) per-visit in some model: stripped from nested dicts too."""
    return frozenset(
        n for m in PAYLOADS.values() if not m.PER_VISIT_TYPE for n in m.model_fields if not m.field_is_aggregate(n)
    )


def retention_fields(data_class: str) -> dict[str, frozenset[str]]:
    """Event type -> its payload fields marked with retention class ``data_class`` (types without
    any are left out): what the retention purge empties once that class's days are over, so a
    field added later with the mark is purged without touching the purge."""
    out: dict[str, frozenset[str]] = {}
    for type_, model in PAYLOADS.items():
        names = frozenset(n for n in model.model_fields if model.field_retention(n) == data_class)
        if names:
            out[type_] = names
    return out
