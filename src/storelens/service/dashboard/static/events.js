// SPDX-License-Identifier: AGPL-3.0-or-later
// GENERATED FILE: do not edit. Regenerate with
//   storelens schema events -o docs/events.schema.json --js src/storelens/service/dashboard/static/events.js
// from the payload models (src/storelens/events/payloads.py, storelens.events.jsdoc);
// event schema version 1. A test fails when this file is stale.
//
// The events the dashboard reads from /api/v1/stream and /api/v1/events, as JSDoc types, and
// EVENT_TYPES: the dashboard names event types only through it.

/** Every event type string, by its EventType member name (frozen). */
export const EVENT_TYPES = Object.freeze({
  VISIT_STARTED: "visit.started",
  VISIT_ENDED: "visit.ended",
  ZONE_ENTERED: "zone.entered",
  ZONE_EXITED: "zone.exited",
  ZONE_DWELL_EXCEEDED: "zone.dwell_exceeded",
  ZONE_REVISITED: "zone.revisited",
  ZONE_LINGERING: "zone.lingering",
  LINE_CROSSED: "line.crossed",
  OCCUPANCY_CHANGED: "occupancy.changed",
  QUEUE_UPDATED: "queue.updated",
  SHELF_REACH: "shelf.reach",
  PRODUCT_PICKED: "product.picked",
  PRODUCT_RETURNED: "product.returned",
  SHELF_STATE: "shelf.state",
  ATTENTION_STARTED: "attention.started",
  ATTENTION_ENDED: "attention.ended",
  EXPRESSION_SUMMARY: "expression.summary",
  INTENT_CHANGED: "intent.changed",
  INTENT_ENDED: "intent.ended",
  ALERT_RAISED: "alert.raised",
  ALERT_ACKNOWLEDGED: "alert.acknowledged",
  ALERT_ESCALATED: "alert.escalated",
  ALERT_CLOSED: "alert.closed",
  PROMOTION_TRIGGERED: "promotion.triggered",
  INVENTORY_ALERT: "inventory.alert",
  CAMERA_OFFLINE: "camera.offline",
  CAMERA_ONLINE: "camera.online",
  CAMERA_TAMPERED: "camera.tampered",
  CAMERA_DEGRADED: "camera.degraded",
  FRAME_CORRUPT: "camera.frame_corrupt",
});

/**
 * Any event as the API and the live stream send it, of any type (one this page does not know
 * included). Every key is present; those without a value are null.
 * @typedef {Object} EventEnvelope
 * @property {string} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {Object<string, *>} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `visit.started`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} VisitStartedPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(boolean|null)} [fused] (aggregate) A store-level visit fused from several cameras (camera_id is None)
 */

/**
 * A `visit.started` event (EVENT_TYPES.VISIT_STARTED).
 * @typedef {Object} VisitStartedEvent
 * @property {"visit.started"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {VisitStartedPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `visit.ended`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} VisitEndedPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(number|null)} [duration_s] (aggregate) How long the visit lasted
 * @property {(number|null)} [fragments] (per-visit) Track fragments stitched into this visit
 * @property {(number|null)} [confidence] (per-visit) Stitching confidence of the visit
 * @property {(string|null)} [started_at] (aggregate) ISO time the visit started (older producers)
 * @property {(Array<*>|null)} [path] (per-visit) The visit's route as [t, x, y] points (t: seconds on the source clock; floor metres on a calibrated camera, else image feet pixels), thinned to at most 200 points
 * @property {(number|null)} [height_m] (per-visit) Median standing body height over the visit (calibrated cameras only)
 * @property {(Object<string, number>|null)} [dwell_by_zone] (per-visit) Seconds per zone (older producers)
 * @property {(Array<*>|null)} [intent_timeline] (per-visit) Intent states over the visit (older producers)
 * @property {(boolean|null)} [is_staff] (aggregate) Staff flag (older producers)
 * @property {(boolean|null)} [fused] (aggregate) A store-level visit fused from several cameras (camera_id is None)
 * @property {(Array<string>|null)} [journey] (per-visit) Store-level visits: the floor zones entered, in order
 * @property {(number|null)} [cameras] (aggregate) Store-level visits: how many cameras saw the shopper
 */

/**
 * A `visit.ended` event (EVENT_TYPES.VISIT_ENDED).
 * @typedef {Object} VisitEndedEvent
 * @property {"visit.ended"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {VisitEndedPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `zone.entered`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} ZoneEnteredPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [zone_name] (aggregate) The zone's label
 * @property {(string|null)} [zone_kind] (aggregate) shelf, aisle, display, queue, checkout, staff_only, ...
 * @property {(string|null)} [category] (aggregate) Product category of the zone
 * @property {(string|null)} [kind] (aggregate) zone_kind under the name simulated producers use
 * @property {(string|null)} [name] (aggregate) zone_name under the name simulated producers use
 */

/**
 * A `zone.entered` event (EVENT_TYPES.ZONE_ENTERED).
 * @typedef {Object} ZoneEnteredEvent
 * @property {"zone.entered"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {ZoneEnteredPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `zone.exited`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} ZoneExitedPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [zone_name] (aggregate) The zone's label
 * @property {(string|null)} [zone_kind] (aggregate) shelf, aisle, display, queue, checkout, staff_only, ...
 * @property {(string|null)} [category] (aggregate) Product category of the zone
 * @property {(string|null)} [kind] (aggregate) zone_kind under the name simulated producers use
 * @property {(string|null)} [name] (aggregate) zone_name under the name simulated producers use
 * @property {(number|null)} [dwell_s] (aggregate) Seconds spent in the zone
 * @property {(string|null)} [entered_at] (aggregate) ISO time of the entry
 * @property {(number|null)} [dwell_seconds] (aggregate) dwell_s under its older name
 */

/**
 * A `zone.exited` event (EVENT_TYPES.ZONE_EXITED).
 * @typedef {Object} ZoneExitedEvent
 * @property {"zone.exited"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {ZoneExitedPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `zone.dwell_exceeded`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} ZoneDwellExceededPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [zone_name] (aggregate) The zone's label
 * @property {(string|null)} [zone_kind] (aggregate) shelf, aisle, display, queue, checkout, staff_only, ...
 * @property {(string|null)} [category] (aggregate) Product category of the zone
 * @property {(string|null)} [kind] (aggregate) zone_kind under the name simulated producers use
 * @property {(string|null)} [name] (aggregate) zone_name under the name simulated producers use
 * @property {(number|null)} [dwell_s] (aggregate) Seconds in the zone so far
 * @property {(number|null)} [threshold_s] (aggregate) The configured dwell alert
 */

/**
 * A `zone.dwell_exceeded` event (EVENT_TYPES.ZONE_DWELL_EXCEEDED).
 * @typedef {Object} ZoneDwellExceededEvent
 * @property {"zone.dwell_exceeded"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {ZoneDwellExceededPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `zone.revisited`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} ZoneRevisitedPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [zone_name] (aggregate) The zone's label
 * @property {(number|null)} [gap_s] (aggregate) Seconds since the subject last left the zone
 * @property {(number|null)} [visit_number] (aggregate) How many times this subject has now entered the zone
 * @property {(string|null)} [zone_kind] (aggregate)
 * @property {(string|null)} [category] (aggregate)
 * @property {(number|null)} [count] (aggregate) visit_number under the name simulated producers use
 */

/**
 * A `zone.revisited` event (EVENT_TYPES.ZONE_REVISITED).
 * @typedef {Object} ZoneRevisitedEvent
 * @property {"zone.revisited"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {ZoneRevisitedPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `zone.lingering`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} ZoneLingeringPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [zone_name] (aggregate) The zone's label
 * @property {(number|null)} [duration_s] (aggregate) Seconds of slow movement
 * @property {(number|null)} [mean_speed] (aggregate) Mean speed while lingering
 * @property {(string|null)} [speed_unit] (aggregate) m/s on a calibrated floor, px/s in image space
 * @property {(string|null)} [zone_kind] (aggregate)
 * @property {(string|null)} [category] (aggregate)
 */

/**
 * A `zone.lingering` event (EVENT_TYPES.ZONE_LINGERING).
 * @typedef {Object} ZoneLingeringEvent
 * @property {"zone.lingering"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {ZoneLingeringPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `line.crossed`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} LineCrossedPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [line_id] (aggregate)
 * @property {(string|null)} [line_name] (aggregate)
 * @property {(string|null)} [direction] (aggregate) in or out
 * @property {(number|null)} [count_in] (aggregate) Running count of crossings in
 * @property {(number|null)} [count_out] (aggregate) Running count of crossings out
 */

/**
 * A `line.crossed` event (EVENT_TYPES.LINE_CROSSED).
 * @typedef {Object} LineCrossedEvent
 * @property {"line.crossed"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {LineCrossedPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `occupancy.changed`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} OccupancyChangedPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(number|null)} [occupancy] (aggregate) People inside now
 * @property {(string|null)} [source] (aggregate) What counted them (lines, ...)
 * @property {(number|null)} [count] (aggregate) occupancy under its older name
 */

/**
 * A `occupancy.changed` event (EVENT_TYPES.OCCUPANCY_CHANGED).
 * @typedef {Object} OccupancyChangedEvent
 * @property {"occupancy.changed"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {OccupancyChangedPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `queue.updated`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} QueueUpdatedPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [queue_zone] (aggregate)
 * @property {(string|null)} [checkout_zone] (aggregate)
 * @property {(number|null)} [length] (aggregate) People in the queue
 * @property {(number|null)} [arrival_rate_per_min] (aggregate)
 * @property {(number|null)} [service_rate_per_min] (aggregate)
 * @property {(number|null)} [measured_wait_s] (aggregate)
 * @property {(number|null)} [last_wait_s] (aggregate)
 * @property {(number|null)} [predicted_wait_s] (aggregate)
 * @property {(number|null)} [served] (aggregate)
 * @property {(number|null)} [abandoned] (aggregate)
 * @property {(number|null)} [queue_length] (aggregate) length under its older name
 */

/**
 * A `queue.updated` event (EVENT_TYPES.QUEUE_UPDATED).
 * @typedef {Object} QueueUpdatedEvent
 * @property {"queue.updated"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {QueueUpdatedPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `shelf.reach`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} ShelfReachPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [shelf] (aggregate) Shelf zone id
 * @property {(string|null)} [kind] (aggregate) Zone kind of the shelf
 * @property {(string|null)} [category] (aggregate) Product category of the shelf
 * @property {(string|null)} [side] (aggregate) Which hand
 * @property {(number|null)} [duration_s] (aggregate)
 * @property {(number|null)} [max_depth] (aggregate) Deepest reach into the shelf (px)
 * @property {(number|null)} [max_depth_rel] (aggregate) Deepest reach relative to the body
 * @property {(string|null)} [hand_source] (aggregate) What located the hand
 * @property {(number|null)} [start_offset_s] (aggregate) Start of the reach relative to the event time
 */

/**
 * A `shelf.reach` event (EVENT_TYPES.SHELF_REACH).
 * @typedef {Object} ShelfReachEvent
 * @property {"shelf.reach"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {ShelfReachPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `product.picked`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} ProductPickedPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [shelf] (aggregate) Shelf zone id
 * @property {(string|null)} [kind] (aggregate) Zone kind of the shelf
 * @property {(string|null)} [category] (aggregate) Product category of the shelf
 * @property {(string|null)} [side] (aggregate) Which hand
 * @property {(number|null)} [confidence] (per-visit) How sure the pick/return decision is
 * @property {(number|null)} [reach_duration_s] (aggregate)
 * @property {(Object<string, *>|null)} [evidence] (aggregate) Measured figures behind the decision
 */

/**
 * A `product.picked` event (EVENT_TYPES.PRODUCT_PICKED).
 * @typedef {Object} ProductPickedEvent
 * @property {"product.picked"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {ProductPickedPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `product.returned`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} ProductReturnedPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [shelf] (aggregate) Shelf zone id
 * @property {(string|null)} [kind] (aggregate) Zone kind of the shelf
 * @property {(string|null)} [category] (aggregate) Product category of the shelf
 * @property {(string|null)} [side] (aggregate) Which hand
 * @property {(number|null)} [confidence] (per-visit) How sure the pick/return decision is
 * @property {(number|null)} [reach_duration_s] (aggregate)
 * @property {(Object<string, *>|null)} [evidence] (aggregate) Measured figures behind the decision
 */

/**
 * A `product.returned` event (EVENT_TYPES.PRODUCT_RETURNED).
 * @typedef {Object} ProductReturnedEvent
 * @property {"product.returned"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {ProductReturnedPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `shelf.state`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} ShelfStatePayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [shelf] (aggregate) Shelf zone id
 * @property {(string|null)} [kind] (aggregate) Zone kind of the shelf
 * @property {(string|null)} [category] (aggregate) Product category of the shelf
 * @property {(number|null)} [empty_fraction] (aggregate)
 * @property {(number|null)} [judged_cells] (aggregate)
 * @property {(number|null)} [empty_cells] (aggregate)
 * @property {(number|null)} [occluded_fraction] (aggregate)
 * @property {(number|null)} [reference_coverage] (aggregate)
 */

/**
 * A `shelf.state` event (EVENT_TYPES.SHELF_STATE).
 * @typedef {Object} ShelfStateEvent
 * @property {"shelf.state"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {ShelfStatePayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `attention.started`.
 * Per-visit type: dropped whole in aggregate-only mode.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} AttentionStartedPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [target] (per-visit) Zone looked at
 * @property {(string|null)} [kind] (per-visit)
 * @property {(string|null)} [category] (per-visit)
 * @property {(number|null)} [yaw_deg] (per-visit)
 */

/**
 * A `attention.started` event (EVENT_TYPES.ATTENTION_STARTED).
 * @typedef {Object} AttentionStartedEvent
 * @property {"attention.started"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {AttentionStartedPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `attention.ended`.
 * Per-visit type: dropped whole in aggregate-only mode.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} AttentionEndedPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [target] (per-visit) Zone looked at
 * @property {(string|null)} [kind] (per-visit)
 * @property {(string|null)} [category] (per-visit)
 * @property {(number|null)} [yaw_deg] (per-visit)
 * @property {(number|null)} [duration_s] (per-visit)
 * @property {(number|null)} [mean_offset_deg] (per-visit)
 * @property {(boolean|null)} [reached] (per-visit)
 * @property {(boolean|null)} [engaged] (per-visit)
 */

/**
 * A `attention.ended` event (EVENT_TYPES.ATTENTION_ENDED).
 * @typedef {Object} AttentionEndedEvent
 * @property {"attention.ended"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {AttentionEndedPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `expression.summary`.
 * Per-visit type: dropped whole in aggregate-only mode.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} ExpressionSummaryPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(number|null)} [dwell_s] (per-visit)
 * @property {(string|null)} [label] (per-visit) 7-class expression
 * @property {(string|null)} [affect] (per-visit) Retail affect reading
 * @property {(Object<string, number>|null)} [affect_scores] (per-visit)
 * @property {(number|null)} [confidence] (per-visit) Affect confidence
 * @property {(number|null)} [label_confidence] (per-visit)
 * @property {(number|null)} [n_readings] (per-visit)
 * @property {(number|null)} [n_unknown] (per-visit)
 * @property {(Object<string, number>|null)} [scores] (per-visit) affect_scores under the name simulated producers use
 */

/**
 * A `expression.summary` event (EVENT_TYPES.EXPRESSION_SUMMARY).
 * @typedef {Object} ExpressionSummaryEvent
 * @property {"expression.summary"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {ExpressionSummaryPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `intent.changed`.
 * Per-visit type: dropped whole in aggregate-only mode.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} IntentChangedPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [state] (per-visit) The intent state entered
 * @property {(string|null)} [previous] (per-visit)
 * @property {(string|null)} [category] (per-visit)
 * @property {(number|null)} [score] (per-visit)
 * @property {(Array<string>|null)} [reasons] (per-visit)
 * @property {(boolean|null)} [category_change] (per-visit)
 * @property {(Object<string, number>|null)} [scores] (per-visit)
 */

/**
 * A `intent.changed` event (EVENT_TYPES.INTENT_CHANGED).
 * @typedef {Object} IntentChangedEvent
 * @property {"intent.changed"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {IntentChangedPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `intent.ended`.
 * Per-visit type: dropped whole in aggregate-only mode.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} IntentEndedPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [state] (per-visit)
 * @property {(string|null)} [category] (per-visit)
 * @property {(number|null)} [duration_s] (per-visit)
 * @property {(Array<string>|null)} [states] (per-visit)
 * @property {(string|null)} [reason] (per-visit)
 */

/**
 * A `intent.ended` event (EVENT_TYPES.INTENT_ENDED).
 * @typedef {Object} IntentEndedEvent
 * @property {"intent.ended"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {IntentEndedPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `alert.raised`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} AlertRaisedPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [alert_id] (aggregate)
 * @property {(string|null)} [rule] (aggregate)
 * @property {(string|null)} [category] (aggregate)
 * @property {(string|null)} [endpoint] (aggregate)
 * @property {(string|null)} [target] (aggregate)
 * @property {(boolean|null)} [dry_run] (aggregate)
 * @property {(Array<string>|null)} [reasons] (per-visit) Intent reasons behind the alert
 * @property {(string|null)} [severity] (aggregate)
 * @property {(string|null)} [state] (aggregate) Intent state that raised it
 * @property {(string|null)} [kind] (aggregate) rule under its older name
 * @property {(string|null)} [message] (aggregate) Older producers' alert text
 * @property {(string|null)} [action] (aggregate) What staff should do (open_register for a queue alert)
 * @property {(string|null)} [queue_zone] (aggregate) Queue alerts: the queue zone
 * @property {(string|null)} [checkout_zone] (aggregate) Queue alerts: the till zone it leads to
 * @property {(number|null)} [predicted_wait_s] (aggregate) Queue alerts: a newcomer's predicted wait
 * @property {(number|null)} [sla_wait_s] (aggregate) Queue alerts: the service-level wait target
 * @property {(number|null)} [length] (aggregate) Queue alerts: people in the queue
 * @property {(string|null)} [metric] (aggregate) Forecast alerts: entries or conversion
 * @property {(string|null)} [hour_start] (aggregate) Forecast alerts: ISO start of the hour that left the band
 * @property {(number|null)} [observed] (aggregate) Forecast alerts: the hour's entries, or its conversion
 * @property {(number|null)} [expected] (aggregate) Forecast alerts: the forecast for that hour
 * @property {(number|null)} [band_low] (aggregate) Forecast alerts: lower edge of the band
 * @property {(number|null)} [band_high] (aggregate) Forecast alerts: upper edge of the band
 */

/**
 * A `alert.raised` event (EVENT_TYPES.ALERT_RAISED).
 * @typedef {Object} AlertRaisedEvent
 * @property {"alert.raised"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {AlertRaisedPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `alert.acknowledged`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} AlertAcknowledgedPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [alert_id] (aggregate)
 * @property {(string|null)} [rule] (aggregate)
 * @property {(string|null)} [category] (aggregate)
 * @property {(string|null)} [endpoint] (aggregate)
 * @property {(string|null)} [target] (aggregate)
 * @property {(boolean|null)} [dry_run] (aggregate)
 * @property {(string|null)} [by] (aggregate) Who acknowledged it (staff user)
 * @property {(number|null)} [time_to_ack_s] (aggregate)
 * @property {(string|null)} [note] (aggregate)
 * @property {(string|null)} [acknowledged_by] (aggregate) by under its older name
 */

/**
 * A `alert.acknowledged` event (EVENT_TYPES.ALERT_ACKNOWLEDGED).
 * @typedef {Object} AlertAcknowledgedEvent
 * @property {"alert.acknowledged"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {AlertAcknowledgedPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `alert.escalated`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} AlertEscalatedPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [alert_id] (aggregate)
 * @property {(string|null)} [rule] (aggregate)
 * @property {(string|null)} [category] (aggregate)
 * @property {(string|null)} [endpoint] (aggregate)
 * @property {(string|null)} [target] (aggregate)
 * @property {(boolean|null)} [dry_run] (aggregate)
 * @property {(number|null)} [minutes_open] (aggregate)
 */

/**
 * A `alert.escalated` event (EVENT_TYPES.ALERT_ESCALATED).
 * @typedef {Object} AlertEscalatedEvent
 * @property {"alert.escalated"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {AlertEscalatedPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `alert.closed`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} AlertClosedPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [alert_id] (aggregate)
 * @property {(string|null)} [rule] (aggregate)
 * @property {(string|null)} [category] (aggregate)
 * @property {(string|null)} [endpoint] (aggregate)
 * @property {(string|null)} [target] (aggregate)
 * @property {(boolean|null)} [dry_run] (aggregate)
 * @property {(string|null)} [reason] (aggregate)
 * @property {(number|null)} [open_s] (aggregate)
 * @property {(boolean|null)} [acknowledged] (aggregate)
 * @property {(number|null)} [time_to_ack_s] (aggregate)
 */

/**
 * A `alert.closed` event (EVENT_TYPES.ALERT_CLOSED).
 * @typedef {Object} AlertClosedEvent
 * @property {"alert.closed"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {AlertClosedPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `promotion.triggered`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} PromotionTriggeredPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [rule] (aggregate)
 * @property {(string|null)} [display] (aggregate)
 * @property {(string|null)} [category] (aggregate)
 * @property {(string|null)} [state] (aggregate) Intent state that triggered it
 * @property {(string|null)} [content] (aggregate)
 * @property {(string|null)} [endpoint] (aggregate)
 * @property {(string|null)} [target] (aggregate)
 * @property {(boolean|null)} [dry_run] (aggregate)
 * @property {(boolean|null)} [holdout] (aggregate) Drawn into the hold-out arm: recorded, never shown
 * @property {(string|null)} [arm] (aggregate) holdout or treated
 * @property {(number|null)} [holdout_share] (aggregate)
 * @property {(string|null)} [promotion_id] (aggregate) Promotion id (older producers)
 */

/**
 * A `promotion.triggered` event (EVENT_TYPES.PROMOTION_TRIGGERED).
 * @typedef {Object} PromotionTriggeredEvent
 * @property {"promotion.triggered"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {PromotionTriggeredPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `inventory.alert`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} InventoryAlertPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [shelf] (aggregate) Shelf zone id
 * @property {(string|null)} [kind] (aggregate) Zone kind of the shelf
 * @property {(string|null)} [category] (aggregate) Product category of the shelf
 * @property {(string|null)} [reason] (aggregate) empty_shelf, demand_exceeds_replenishment, ...
 * @property {(Object<string, *>|null)} [evidence] (aggregate)
 * @property {(string|null)} [source] (aggregate)
 * @property {(string|null)} [endpoint] (aggregate)
 * @property {(string|null)} [target] (aggregate)
 * @property {(boolean|null)} [dry_run] (aggregate)
 * @property {(number|null)} [demand] (aggregate)
 * @property {(number|null)} [expected] (aggregate)
 * @property {(number|null)} [window_s] (aggregate)
 * @property {(number|null)} [empty_fraction] (aggregate)
 * @property {(number|null)} [threshold] (aggregate)
 */

/**
 * A `inventory.alert` event (EVENT_TYPES.INVENTORY_ALERT).
 * @typedef {Object} InventoryAlertEvent
 * @property {"inventory.alert"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {InventoryAlertPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `camera.offline`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} CameraOfflinePayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [reason] (aggregate)
 * @property {(string|null)} [source] (aggregate) Who reported it (runner, ...)
 * @property {(string|null)} [error] (aggregate)
 * @property {(number|null)} [retry_in_s] (aggregate)
 * @property {(number|null)} [frames] (aggregate) Frames read before a file ended early
 * @property {(number|null)} [expected_frames] (aggregate)
 * @property {(number|null)} [restarts] (aggregate) Times the runner had restarted this camera's worker before
 * @property {(number|null)} [stalled_s] (aggregate) Seconds without an analysed frame before the worker was found hung
 */

/**
 * A `camera.offline` event (EVENT_TYPES.CAMERA_OFFLINE).
 * @typedef {Object} CameraOfflineEvent
 * @property {"camera.offline"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {CameraOfflinePayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `camera.online`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} CameraOnlinePayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [reason] (aggregate)
 * @property {(string|null)} [source] (aggregate) Who reported it (runner, ...)
 * @property {(string|null)} [error] (aggregate)
 * @property {(number|null)} [reconnects] (aggregate)
 */

/**
 * A `camera.online` event (EVENT_TYPES.CAMERA_ONLINE).
 * @typedef {Object} CameraOnlineEvent
 * @property {"camera.online"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {CameraOnlinePayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `camera.tampered`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} CameraTamperedPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [reason] (aggregate)
 * @property {(string|null)} [source] (aggregate) Who reported it (runner, ...)
 * @property {(string|null)} [error] (aggregate)
 * @property {(string|null)} [message] (aggregate)
 */

/**
 * A `camera.tampered` event (EVENT_TYPES.CAMERA_TAMPERED).
 * @typedef {Object} CameraTamperedEvent
 * @property {"camera.tampered"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {CameraTamperedPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `camera.degraded`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} CameraDegradedPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [reason] (aggregate)
 * @property {(string|null)} [source] (aggregate) Who reported it (runner, ...)
 * @property {(string|null)} [error] (aggregate)
 * @property {(string|null)} [message] (aggregate)
 * @property {(number|null)} [motion_share] (aggregate)
 * @property {(number|null)} [people_per_frame] (aggregate)
 * @property {(number|null)} [motion_height_px] (aggregate)
 * @property {(number|null)} [person_height_px] (aggregate)
 * @property {(number|null)} [input_height_px] (aggregate)
 * @property {(number|null)} [suggested_input_size] (aggregate)
 */

/**
 * A `camera.degraded` event (EVENT_TYPES.CAMERA_DEGRADED).
 * @typedef {Object} CameraDegradedEvent
 * @property {"camera.degraded"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {CameraDegradedPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * Payload of `camera.frame_corrupt`.
 * Keys are present only when the producer set them; unknown extra keys may appear.
 * @typedef {Object} FrameCorruptPayload
 * @property {(boolean|null)} [staff] (aggregate) Set on events of a subject judged to be staff, so aggregates leave them out
 * @property {(string|null)} [reason] (aggregate)
 * @property {(string|null)} [source] (aggregate) Who reported it (runner, ...)
 * @property {(string|null)} [error] (aggregate)
 * @property {(number|null)} [corrupt] (aggregate) Corrupt frames so far
 */

/**
 * A `camera.frame_corrupt` event (EVENT_TYPES.FRAME_CORRUPT).
 * @typedef {Object} FrameCorruptEvent
 * @property {"camera.frame_corrupt"} type Dotted event type (see EVENT_TYPES)
 * @property {string} store_id
 * @property {string} ts When it happened: ISO 8601, UTC
 * @property {(string|null)} camera_id
 * @property {(string|null)} zone_id
 * @property {(string|null)} subject Random visit/track id
 * @property {FrameCorruptPayload} payload What the event says (fields per type)
 * @property {string} id
 * @property {(number|null)} pts Media time (s) in the camera's source when it happened: a file's own clock
 * @property {(number|null)} frame Index of the source frame it happened on
 */

/**
 * An event of a type this version knows (narrow on `type`).
 * @typedef {VisitStartedEvent|VisitEndedEvent|ZoneEnteredEvent|ZoneExitedEvent|ZoneDwellExceededEvent|ZoneRevisitedEvent|ZoneLingeringEvent|LineCrossedEvent|OccupancyChangedEvent|QueueUpdatedEvent|ShelfReachEvent|ProductPickedEvent|ProductReturnedEvent|ShelfStateEvent|AttentionStartedEvent|AttentionEndedEvent|ExpressionSummaryEvent|IntentChangedEvent|IntentEndedEvent|AlertRaisedEvent|AlertAcknowledgedEvent|AlertEscalatedEvent|AlertClosedEvent|PromotionTriggeredEvent|InventoryAlertEvent|CameraOfflineEvent|CameraOnlineEvent|CameraTamperedEvent|CameraDegradedEvent|FrameCorruptEvent} StoreEvent
 */
