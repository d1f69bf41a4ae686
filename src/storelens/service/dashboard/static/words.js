// SPDX-License-Identifier: AGPL-3.0-or-later
// Events in words, with units: "Lingered in Counter for 12 s, moving at 9.2 px/s", not
// "mean_speed 9.16". Known event types get a sentence; anything else is shown as its fields in
// words, each with the unit its name says (_s seconds, _m metres, _deg degrees, _per_min per
// minute, shares as percentages).

import { fmtDuration, fmtNumber } from "./dom.js";
import { EVENT_TYPES } from "./events.js";

function num(v) {
  const n = Number(v);
  return v === null || v === undefined || v === "" || !Number.isFinite(n) ? null : n;
}

function duration(v) {
  const n = num(v);
  return n === null ? "—" : fmtDuration(n);
}

/** A payload value in words, with the unit its key implies. */
export function valueWithUnit(key, value, payload = {}) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "boolean") return value ? "yes" : "no";
  const n = num(value);
  if (n === null) {
    const s = typeof value === "string" ? value : JSON.stringify(value);
    return s.length > 60 ? `${s.slice(0, 57)}…` : s;
  }
  if (key.endsWith("_s")) return fmtDuration(n);
  if (key.endsWith("_m")) return `${fmtNumber(n, 1)} m`;
  if (key.endsWith("_px")) return `${Math.round(n)} px`;
  if (key.endsWith("_deg")) return `${Math.round(n)}°`;
  if (key.endsWith("_per_min")) return `${fmtNumber(n, 1)} per minute`;
  if (key.endsWith("_per_hour")) return `${fmtNumber(n, 1)} per hour`;
  if (key.includes("speed")) return `${fmtNumber(n, 1)} ${payload.speed_unit || ""}`.trim();
  if (/(confidence|score|share|fraction|ratio|probability)$/.test(key) && n >= 0 && n <= 1)
    return `${Math.round(n * 100)} %`;
  return Number.isInteger(n) ? String(n) : fmtNumber(n, 2);
}

const WORDS = {
  count_in: "in",
  count_out: "out",
  n_readings: "readings",
  yaw_deg: "head turned",
  mean_offset_deg: "off-centre",
};

/** "mean_speed" -> "mean speed", "dwell_s" -> "dwell" (the unit goes with the value). */
export function keyInWords(key) {
  if (WORDS[key]) return WORDS[key];
  return key
    .replace(/_(s|m|px|deg|per_min|per_hour)$/, "")
    .replace(/_/g, " ")
    .trim();
}

const SKIP = new Set(["zone_name", "line_name", "speed_unit", "space", "points", "camera_id", "zone_id", "source"]);

/** The fields of a payload in words (at most `max`), for types without a sentence of their own. */
export function fieldsInWords(payload, max = 3) {
  return Object.entries(payload || {})
    .filter(([k, v]) => !SKIP.has(k) && (v === null || typeof v !== "object"))
    .slice(0, max)
    .map(([k, v]) => `${keyInWords(k)} ${valueWithUnit(k, v, payload)}`)
    .join(" · ");
}

/**
 * One sentence about an event; `zoneName(id)` gives a zone's name (its id when unknown).
 * @param {import("./events.js").EventEnvelope} e any event, one of a type this page does not know included
 * @param {(id: string) => string} [zoneName]
 * @returns {string}
 */
export function describeEvent(e, zoneName = (id) => id) {
  const p = e.payload || {};
  const zone = p.zone_name || (e.zone_id ? zoneName(e.zone_id) : "the zone");
  const speed = num(p.mean_speed) !== null ? `, moving at ${valueWithUnit("mean_speed", p.mean_speed, p)}` : "";
  switch (e.type) {
    case EVENT_TYPES.VISIT_STARTED:
      return "A visit started";
    case EVENT_TYPES.VISIT_ENDED:
      return `A visit ended after ${duration(p.duration_s)}${p.is_staff ? " (staff)" : ""}`;
    case EVENT_TYPES.ZONE_ENTERED:
      return `Entered ${zone}`;
    case EVENT_TYPES.ZONE_EXITED:
      return `Left ${zone} after ${duration(p.dwell_s ?? p.dwell_seconds)}`;
    case EVENT_TYPES.ZONE_REVISITED:
      return `Came back to ${zone}`;
    case EVENT_TYPES.ZONE_DWELL_EXCEEDED:
      return `In ${zone} for ${duration(p.dwell_s)} (alert after ${duration(p.threshold_s)})`;
    case EVENT_TYPES.ZONE_LINGERING:
      return `Lingered in ${zone} for ${duration(p.duration_s)}${speed}`;
    case EVENT_TYPES.LINE_CROSSED:
      return `Crossed ${p.line_name || p.line_id || "a line"} going ${p.direction || "?"} (${p.count_in ?? 0} in, ${p.count_out ?? 0} out so far)`;
    case EVENT_TYPES.OCCUPANCY_CHANGED: {
      const n = num(p.occupancy ?? p.count);
      return `${n ?? "?"} ${n === 1 ? "person" : "people"} in ${zone}`;
    }
    case EVENT_TYPES.QUEUE_UPDATED: {
      const wait = num(p.predicted_wait_s) !== null ? `, predicted wait ${duration(p.predicted_wait_s)}` : "";
      return `Queue at ${zone}: ${p.length ?? "?"} waiting${wait}`;
    }
    case EVENT_TYPES.SHELF_REACH:
      return `Reached into ${zone}`;
    case EVENT_TYPES.PRODUCT_PICKED:
      return `Picked up a product at ${zone}`;
    case EVENT_TYPES.PRODUCT_RETURNED:
      return `Put a product back at ${zone}`;
    case EVENT_TYPES.ATTENTION_STARTED:
      return `Started looking at ${zone}`;
    case EVENT_TYPES.ATTENTION_ENDED:
      return `Looked at ${zone} for ${duration(p.duration_s)}`;
    case EVENT_TYPES.EXPRESSION_SUMMARY: {
      const c = num(p.confidence);
      return `Expression ${p.label || "unknown"}${c === null ? "" : ` (${Math.round(c * 100)} % sure)`}`;
    }
    case EVENT_TYPES.INTENT_CHANGED:
      return `${p.previous ?? "—"} → ${p.state}${num(p.score) !== null ? ` (score ${Number(p.score).toFixed(2)})` : ""}`;
    case EVENT_TYPES.PROMOTION_TRIGGERED:
      return `Promotion ${p.content || p.rule || ""} shown on ${p.display || "a display"}`.replace("  ", " ");
    case EVENT_TYPES.CAMERA_OFFLINE:
      return `Camera offline${p.reason || p.error ? `: ${[p.reason, p.error].filter(Boolean).join(": ")}` : ""}`;
    case EVENT_TYPES.CAMERA_ONLINE:
      return `Camera online${p.reason ? ` (${p.reason})` : ""}`;
    default:
      if (e.type.startsWith("alert.")) return [p.severity, p.message || p.kind || p.rule].filter(Boolean).join(": ");
  }
  return fieldsInWords(p);
}
