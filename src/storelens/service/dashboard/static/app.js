// SPDX-License-Identifier: AGPL-3.0-or-later
// storelens dashboard: one page for a store manager, built only on the public API.
//
// Panels refresh on their own clocks (cameras every few seconds, alerts and range data less often,
// and soon after the live stream reports something that changes them). The live stream
// (/api/v1/stream) carries events for the feed and per-camera overlay metadata (boxes and random
// short-lived ids, never an image), and reconnects with jittered exponential backoff. Any text
// that comes from the API is inserted as text (see dom.js), never as markup.

import { api, ApiError, csrfToken, query, streamUrl } from "./api.js";
import { EVENT_TYPES } from "./events.js";
import { describeEvent } from "./words.js";
import { barChart, fmtSeconds, heatCanvas, heatLegend } from "./charts.js";
import {
  byId,
  colourFor,
  fmtAgo,
  fmtDuration,
  fmtInt,
  fmtNumber,
  fmtTime,
  h,
  parseTime,
  percentile,
  replace,
} from "./dom.js";

const CAMERA_REFRESH_MS = 5_000;
const ALERT_REFRESH_MS = 15_000;
const RANGE_REFRESH_MS = 60_000;
const LIVE_REFRESH_DELAY_MS = 3_000; // after a zone/alert event: the database sink writes in batches
const OVERLAY_STALE_MS = 3_000;
const FEED_MAX = 200;
const EVENT_PAGE = 1000;
const EVENT_PAGES_MAX = 10; // zone statistics read at most 10,000 stays per refresh
const RECONNECT_MAX_S = 30;

/** Event categories offered as filter chips (the families of EVENT_TYPES, in the order EventType
 * declares them; others are added when seen). */
const CATEGORIES = [...new Set(Object.values(EVENT_TYPES).map(categoryOf))];

/** Why per-visit panels are empty for a viewer (the server's role table: events, visits and the
 * live stream need analyst). */
const NEEDS_ANALYST = "needs the analyst role";

const RANGES = {
  hour: "the last hour",
  today: "today",
  week: "the last 7 days",
  all: "all stored data",
};
const CHART_BARS_MAX = 72; // at most 72 time buckets per chart (3 days of hours)

const state = {
  store: null,
  cameras: [],
  zones: [],
  range: "today",
  feed: [], // newest first
  hiddenCategories: new Set(),
  categoryCounts: new Map(),
  intents: new Map(), // subject -> { state, ts }
  intentSince: null,
  overlays: new Map(), // camera id -> { msg, at }
  canvases: new Map(), // camera id -> { canvas, caption }
  heatMetric: "traffic",
  rangeToken: 0,
  apiDown: false,
  user: null, // { username, role } when signed in with a session; null without authentication
};

/** Whether this user may read per-visit data (events, visits, the live stream). Unknown (no
 * authentication on this server) means yes; a refused request still shows its own message. */
function perVisitAllowed() {
  return !state.user || state.user.role !== "viewer";
}

// ------------------------------------------------------------------------------- banners

const banners = new Map();

function setBanner(key, level, text) {
  banners.set(key, { level, text });
  renderBanners();
}

function clearBanner(key) {
  if (banners.delete(key)) renderBanners();
}

function renderBanners() {
  const nodes = [];
  for (const [key, { level, text }] of banners) {
    nodes.push(
      h(
        "div",
        { class: `banner banner-${level}`, role: level === "error" ? "alert" : "status", dataset: { key } },
        text,
      ),
    );
  }
  replace(byId("banners"), nodes);
}

function setPill(id, level, text) {
  const pill = byId(id);
  pill.className = `pill pill-${level}`;
  pill.textContent = text;
}

/** Record the outcome of a refresh: any outage shows the API banner, any success clears it. */
function apiOk() {
  if (state.apiDown) {
    state.apiDown = false;
    clearBanner("api");
    recoverSoon(); // panels that failed during the outage reload now, not on their next tick
  }
  setPill("api-pill", "ok", "API");
}

function apiFailed(err, what) {
  if (err instanceof ApiError && err.status === 401) return; // redirecting to /login
  if (err instanceof ApiError && err.outage) {
    state.apiDown = true;
    const why = err.status === 0 ? "the server does not answer" : err.detail;
    setBanner("api", "error", `storelens API unavailable (${why}). Showing the last data received; retrying…`);
    setPill("api-pill", "bad", "API down");
  } else if (!(err instanceof ApiError)) {
    console.warn(`dashboard: ${what} failed`, err);
  }
}

/** A panel's message for an error it cannot show data through. */
function errorText(err, what) {
  if (err instanceof ApiError) {
    if (err.status === 403) return `Your role cannot see ${what}.`;
    if (err.outage) return `Cannot load ${what}: the API is unavailable.`;
    return `Cannot load ${what}: ${err.detail}`;
  }
  return `Cannot load ${what}.`;
}

/** Run a refresher unless the previous run is still going (slow API: don't pile up requests). */
function guarded(fn) {
  let running = false;
  return async (...args) => {
    if (running) return;
    running = true;
    try {
      await fn(...args);
    } finally {
      running = false;
    }
  };
}

/** Call `fn` once, `delay` ms after the first of a burst of requests: a steady stream of live
 * events gives one refresh per `delay`, never none (a debounce would starve in a busy store). */
function coalesced(fn, delay) {
  let timer = null;
  return () => {
    if (timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      fn();
    }, delay);
  };
}

/** Call `fn` once, `delay` ms after the last request (window resizes). */
function debounced(fn, delay) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, delay);
  };
}

// --------------------------------------------------------------------------------- range

function bucketSizes() {
  const sizes = state.store?.aggregate_buckets_s?.length ? [...state.store.aggregate_buckets_s] : [300, 3600];
  return sizes.sort((a, b) => a - b);
}

/** Midnight of today in the store's time zone (the browser's when the zone is unknown). */
function startOfToday(timeZone, now = new Date()) {
  try {
    const fmt = new Intl.DateTimeFormat("en-CA", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    const part = Object.fromEntries(fmt.formatToParts(now).map((p) => [p.type, Number(p.value)]));
    const wallAsUtc = Date.UTC(part.year, part.month - 1, part.day, part.hour, part.minute, part.second);
    const offsetMs = wallAsUtc - Math.floor(now.getTime() / 1000) * 1000;
    // on a daylight-saving day the offset at midnight differs by an hour: one bucket's error at most
    return new Date(Date.UTC(part.year, part.month - 1, part.day) - offsetMs);
  } catch {
    const d = new Date(now);
    d.setHours(0, 0, 0, 0);
    return d;
  }
}

/** since (Date|null), aggregate bucket size and a label for the selected range. */
function rangeWindow() {
  const sizes = bucketSizes();
  const now = Date.now();
  if (state.range === "hour") {
    const b = sizes[0] * 1000;
    return { since: new Date(Math.floor((now - 3600_000) / b) * b), bucket: sizes[0], label: RANGES.hour };
  }
  if (state.range === "today") {
    const since = startOfToday(state.store?.timezone);
    // the coarsest bucket up to an hour that starts exactly at midnight (fewer rows to add up)
    const aligned = sizes.filter((s) => s <= 3600 && since.getTime() % (s * 1000) === 0);
    return { since, bucket: aligned.length ? aligned[aligned.length - 1] : sizes[0], label: RANGES.today };
  }
  if (state.range === "week") {
    const hour = sizes.filter((x) => x <= 3600);
    const b = (hour.length ? hour[hour.length - 1] : sizes[0]) * 1000;
    return { since: new Date(Math.floor((now - 7 * 86400_000) / b) * b), bucket: b / 1000, label: RANGES.week };
  }
  return { since: null, bucket: sizes[sizes.length - 1], label: RANGES.all };
}

function setRange(range, { push = true } = {}) {
  if (!(range in RANGES)) range = "today";
  state.range = range;
  for (const btn of byId("range").querySelectorAll("button[data-range]")) {
    btn.setAttribute("aria-checked", String(btn.dataset.range === range));
  }
  if (push) {
    const url = new URL(location.href);
    url.searchParams.set("range", range);
    history.replaceState(null, "", url);
  }
}

// ------------------------------------------------------------------------------- store

async function loadStore() {
  const stores = await api("/stores");
  state.store = stores[0] ?? null;
  if (!state.store) {
    replace(byId("store-meta"), "This service serves no store.");
    return;
  }
  const s = state.store;
  byId("store-name").textContent = s.name || s.id;
  document.title = `${s.name || s.id} · storelens`;
  replace(
    byId("store-meta"),
    `${s.id} · ${s.timezone} · ${s.cameras.length} camera${s.cameras.length === 1 ? "" : "s"} · ` +
      `${s.zones.length} zone${s.zones.length === 1 ? "" : "s"}`,
  );
}

async function loadZones() {
  state.zones = await api("/zones");
}

// ----------------------------------------------------------------------------- cameras

/** Health words from the API (service/camera_health.py) as a manager reads them. */
const HEALTH = {
  online: { label: "Online", level: "ok" },
  lagging: { label: "Lagging", level: "warn" },
  behind: { label: "Behind real time", level: "warn" },
  stalled: { label: "Stalled", level: "bad" },
  offline: { label: "Offline", level: "bad" },
  starting: { label: "Starting", level: "wait" },
  finished: { label: "Finished", level: "wait" },
  disabled: { label: "Disabled", level: "wait" },
};

function cameraBadge(cam) {
  const st = cam.status;
  if (!st)
    return { level: "wait", health: "none", label: "No pipeline", detail: "this service serves stored data only" };
  const known = HEALTH[st.health] ?? { label: st.health || st.state, level: st.online ? "ok" : "bad" };
  return {
    level: known.level,
    health: st.health || st.state,
    label: known.label,
    detail: st.health_detail || st.state,
  };
}

function cameraTile(cam) {
  const st = cam.status;
  const badge = cameraBadge(cam);
  const fpsText = st ? `${fmtNumber(st.fps, 1)} of ${fmtNumber(cam.fps_target, cam.fps_target % 1 ? 1 : 0)}` : null;
  const stats =
    st && st.state !== "disabled"
      ? [
          ["Analysed fps", fpsText, "frames analysed per second over the last 5 s, against the configured target"],
          [
            "Behind real time",
            st.lag_s === null ? "—" : fmtDuration(st.lag_s, 1),
            "now minus the capture time of the newest analysed frame",
          ],
          ["Last frame", fmtAgo(st.last_frame_time), st.last_frame_time ? fmtTime(st.last_frame_time) : null],
          ["Frames analysed", fmtInt(st.frames)],
          ["Dropped frames", fmtInt(st.dropped_frames), "frames the source delivered that were not analysed"],
        ]
      : [["Source", cam.source.includes("://") ? cam.source : cam.source.split("/").pop()]];
  return h(
    "article",
    {
      class: `tile tile-${badge.level}`,
      dataset: {
        camera: cam.id,
        state: st ? st.state : "none",
        health: badge.health,
        online: String(badge.level === "ok"),
      },
    },
    h(
      "div",
      { class: "tile-head" },
      h("h3", { title: cam.id }, cam.name || cam.id),
      h("span", { class: `status status-${badge.level}`, dataset: { role: "health" } }, badge.label),
    ),
    h("p", { class: "tile-detail small", dataset: { role: "health-detail" } }, badge.detail),
    h(
      "dl",
      { class: "stats" },
      stats.map(([k, v, title]) => h("div", { title: title ?? null }, h("dt", {}, k), h("dd", {}, v))),
    ),
    st && st.last_error && badge.level !== "bad"
      ? h("p", { class: "tile-error", title: st.last_error }, st.last_error)
      : null,
  );
}

const refreshCameras = guarded(async () => {
  try {
    state.cameras = await api("/cameras");
    apiOk();
  } catch (err) {
    apiFailed(err, "cameras");
    if (!state.cameras.length) replace(byId("cameras"), h("p", { class: "empty error" }, errorText(err, "cameras")));
    return;
  }
  const tiles = state.cameras.map(cameraTile);
  replace(byId("cameras"), tiles.length ? tiles : h("p", { class: "empty" }, "No cameras are configured."));
  byId("cameras-updated").textContent = `updated ${fmtTime(new Date())}`;
  ensureOverlayCanvases();
});

// ------------------------------------------------------------------------- live overlay

function ensureOverlayCanvases() {
  if (!perVisitAllowed()) return;
  const ids = state.cameras.filter((c) => c.enabled).map((c) => c.id);
  const same = ids.length === state.canvases.size && ids.every((id) => state.canvases.has(id));
  if (same) {
    for (const id of ids) if (!state.overlays.has(id)) drawOverlay(id); // status text may have changed
    return;
  }
  state.canvases.clear();
  if (state.cameras.length && state.cameras.every((c) => !c.status)) {
    replace(
      byId("overlays"),
      h("p", { class: "empty" }, "This service runs no camera pipelines: there is no live view."),
    );
    return;
  }
  const figures = ids.map((id) => {
    const cam = state.cameras.find((c) => c.id === id);
    const canvas = h("canvas", {
      class: "overlay",
      width: 640,
      height: 360,
      dataset: { camera: id, frame: "", objects: "0" },
      "aria-label": `Live positions seen by ${cam.name || id}`,
      role: "img",
    });
    const caption = h("figcaption", { class: "muted small" }, waitingText(id));
    state.canvases.set(id, { canvas, caption });
    return h(
      "figure",
      { class: "overlay-figure" },
      h("div", { class: "overlay-title" }, cam.name || id),
      canvas,
      caption,
    );
  });
  replace(byId("overlays"), figures.length ? figures : h("p", { class: "empty" }, "No enabled cameras."));
  for (const id of ids) drawOverlay(id);
}

function drawOverlay(cameraId) {
  const entry = state.canvases.get(cameraId);
  if (!entry) return;
  const { canvas, caption } = entry;
  const live = state.overlays.get(cameraId);
  const msg = live?.msg;
  const width = msg?.width || 16;
  const height = msg?.height || 9;
  const cssWidth = canvas.clientWidth || 480;
  const dpr = window.devicePixelRatio || 1;
  const pxW = Math.round(cssWidth * dpr);
  const pxH = Math.round((cssWidth * height * dpr) / width);
  if (canvas.width !== pxW || canvas.height !== pxH) {
    canvas.width = pxW;
    canvas.height = pxH;
  }
  canvas.style.aspectRatio = `${width} / ${height}`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = "#101820";
  ctx.fillRect(0, 0, pxW, pxH);
  if (!msg) {
    const text = waitingText(cameraId);
    caption.textContent = "";
    canvas.setAttribute("aria-label", text);
    ctx.fillStyle = "rgba(255,255,255,0.55)";
    ctx.font = `${Math.round(14 * dpr)}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    ctx.fillText(text, pxW / 2, pxH / 2, pxW - 20 * dpr);
    ctx.textAlign = "start";
    return;
  }
  const scale = pxW / width;
  ctx.setTransform(scale, 0, 0, scale, 0, 0);
  const stale = Date.now() - live.at > OVERLAY_STALE_MS;
  ctx.globalAlpha = stale ? 0.35 : 1;
  // the camera's zones, for orientation (image-space polygons are in the frame's pixels)
  ctx.lineWidth = 1.5 / scale;
  ctx.font = `${12 / scale}px system-ui, sans-serif`;
  for (const zone of state.zones) {
    if (zone.space !== "image" || zone.camera !== cameraId || zone.points.length < 3) continue;
    ctx.strokeStyle = "rgba(255,255,255,0.45)";
    ctx.fillStyle = "rgba(255,255,255,0.06)";
    ctx.beginPath();
    zone.points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath();
    ctx.fill();
    ctx.stroke();
    ctx.fillStyle = "rgba(255,255,255,0.7)";
    ctx.fillText(zone.name || zone.id, zone.points[0][0] + 4 / scale, zone.points[0][1] + 14 / scale);
  }
  for (const obj of msg.objects) {
    const [x1, y1, x2, y2] = obj.box;
    const colour = colourFor(obj.id);
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2.5 / scale;
    ctx.setLineDash(obj.coasting ? [6 / scale, 4 / scale] : []);
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    ctx.setLineDash([]);
    const label = String(obj.id).slice(0, 12); // the same short id as in the event feed
    const tw = ctx.measureText(label).width + 8 / scale;
    const th = 16 / scale;
    ctx.fillStyle = colour;
    ctx.fillRect(x1, Math.max(0, y1 - th), tw, th);
    ctx.fillStyle = "#fff";
    ctx.fillText(label, x1 + 4 / scale, Math.max(0, y1 - th) + 12 / scale);
  }
  ctx.globalAlpha = 1;
  canvas.setAttribute("aria-label", `Live positions seen by camera ${cameraId}`);
  canvas.dataset.frame = String(msg.frame);
  canvas.dataset.objects = String(msg.objects.length);
  const people = `${msg.objects.length} ${msg.objects.length === 1 ? "person" : "people"}`;
  caption.textContent = stale
    ? `No live frames for ${fmtDuration((Date.now() - live.at) / 1000, 0)} (last: frame ${msg.frame}, ${people})`
    : `Frame ${msg.frame} · ${fmtTime(msg.ts)} · ${people}`;
}

/** What the live view says before any overlay arrived, from the camera's last known status. */
function waitingText(cameraId) {
  const st = state.cameras.find((c) => c.id === cameraId)?.status;
  if (!st) return "This service runs no camera pipelines: there is no live view.";
  if (st.online) return "Waiting for live frames…";
  return `Camera offline (${st.state}): no live frames.`;
}

function handleOverlay(msg) {
  if (!msg || typeof msg.camera_id !== "string" || !Array.isArray(msg.objects)) return;
  state.overlays.set(msg.camera_id, { msg, at: Date.now() });
  if (!state.canvases.has(msg.camera_id)) return;
  requestAnimationFrame(() => drawOverlay(msg.camera_id));
}

// ------------------------------------------------------------------------------- zones

/** @typedef {import("./events.js").EventEnvelope} EventEnvelope */
/** @typedef {import("./events.js").IntentChangedEvent} IntentChangedEvent */
/** @typedef {import("./events.js").LineCrossedEvent} LineCrossedEvent */
/** @typedef {import("./events.js").ZoneExitedEvent} ZoneExitedEvent */
/** @typedef {import("./events.js").ZoneRevisitedEvent} ZoneRevisitedEvent */

/**
 * Every event of `types` since `since`, following the cursor, at most EVENT_PAGES_MAX pages.
 * @param {string[]} types event types (EVENT_TYPES values)
 * @param {Date | null} since
 * @returns {Promise<{items: EventEnvelope[], truncated: boolean}>}
 */
async function fetchEvents(types, since) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < EVENT_PAGES_MAX; page++) {
    const res = await api(`/events${query({ type: types, since, limit: EVENT_PAGE, cursor })}`);
    items.push(...res.items);
    cursor = res.next_cursor;
    if (!cursor) return { items, truncated: false };
  }
  return { items, truncated: true };
}

/** Most stays overlapping at one instant, from zone.exited events (entered_at .. ts). */
function peakOverlap(stays) {
  const edges = [];
  for (const [start, end] of stays) {
    edges.push([start, 1], [end, -1]);
  }
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]); // an exit before an entry at the same instant
  let now = 0;
  let peak = 0;
  for (const [, d] of edges) {
    now += d;
    peak = Math.max(peak, now);
  }
  return peak;
}

/**
 * Per-zone figures from the zone aggregates and, for the analyst role, the individual stays.
 * @param {Array<{zone_id: string | null, entries: number, occupancy_max: number}>} aggRows
 * @param {Array<ZoneExitedEvent | ZoneRevisitedEvent> | null} stayEvents
 */
function zoneStats(aggRows, stayEvents) {
  const stats = new Map();
  const get = (id) => {
    if (!stats.has(id)) stats.set(id, { entries: 0, dwell: [], stays: [], revisits: 0, occupancyMax: 0 });
    return stats.get(id);
  };
  for (const zone of state.zones) get(zone.id);
  for (const row of aggRows) {
    if (!row.zone_id) continue;
    const z = get(row.zone_id);
    z.entries += row.entries;
    z.occupancyMax = Math.max(z.occupancyMax, row.occupancy_max);
  }
  for (const e of stayEvents ?? []) {
    if (!e.zone_id) continue;
    const z = get(e.zone_id);
    if (e.type === EVENT_TYPES.ZONE_REVISITED) {
      z.revisits += 1;
      continue;
    }
    const dwell = Number(e.payload?.dwell_s ?? e.payload?.dwell_seconds);
    if (Number.isFinite(dwell)) z.dwell.push(dwell);
    const end = parseTime(e.ts);
    const start =
      parseTime(e.payload?.entered_at) ?? (end && Number.isFinite(dwell) ? new Date(end - dwell * 1000) : null);
    if (start && end) z.stays.push([start.getTime(), end.getTime()]);
  }
  for (const z of stats.values()) {
    z.dwell.sort((a, b) => a - b);
    z.occupancyMax = Math.max(z.occupancyMax, peakOverlap(z.stays));
  }
  return stats;
}

function renderZones(stats, detailed, note) {
  const names = new Map(state.zones.map((z) => [z.id, z]));
  const ids = [...stats.keys()].sort((a, b) => {
    const za = names.get(a);
    const zb = names.get(b);
    return (za ? 0 : 1) - (zb ? 0 : 1) || (za?.name || a).localeCompare(zb?.name || b);
  });
  if (!ids.length) {
    replace(byId("zones-body"), h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No zones are configured.")));
  } else {
    replace(
      byId("zones-body"),
      ids.map((id) => {
        const z = stats.get(id);
        const zone = names.get(id);
        const dash = "—";
        return h(
          "tr",
          { dataset: { zone: id } },
          h(
            "th",
            { scope: "row" },
            h("span", { class: "zone-name" }, zone?.name || id),
            h("span", { class: "muted small" }, zone ? ` ${id} · ${zone.kind}` : ` ${id} · removed`),
          ),
          h("td", { class: "num", dataset: { col: "visits" } }, fmtInt(z.entries)),
          h("td", { class: "num" }, detailed ? fmtDuration(percentile(z.dwell, 50)) : dash),
          h("td", { class: "num" }, detailed ? fmtDuration(percentile(z.dwell, 90)) : dash),
          h("td", { class: "num" }, detailed ? fmtInt(z.revisits) : dash),
          h("td", { class: "num" }, fmtInt(z.occupancyMax)),
        );
      }),
    );
  }
  byId("zones-note").textContent = note;
}

/**
 * The range's zone aggregates, asked for once per refresh: the zone table and the charts read the
 * same rows, so a full refresh hands one request's promise to both.
 */
function zoneAggregates(win) {
  return api(`/aggregates${query({ level: "zones", bucket_s: win.bucket, since: win.since, limit: 10000 })}`);
}

/**
 * One panel's wait for the shared zone aggregates: the rows, or null when the request failed, after
 * the panel has shown its own error (only while its refresh is still the latest one).
 */
async function panelAggregates(aggregates, token, what, showError) {
  try {
    return await aggregates;
  } catch (err) {
    apiFailed(err, `${what} aggregates`);
    if (token === state.rangeToken) showError(err);
    return null;
  }
}

async function refreshZones(win, token, aggregates) {
  const agg = await panelAggregates(aggregates, token, "zone", (err) =>
    replace(
      byId("zones-body"),
      h("tr", {}, h("td", { colspan: 6, class: "empty error" }, errorText(err, "zone statistics"))),
    ),
  );
  if (!agg) return;
  // median/p90 dwell, revisits and overlapping stays need the individual stays (analyst role)
  let stays = null;
  let detailNote = "";
  if (!perVisitAllowed()) {
    detailNote = ` Dwell percentiles and revisits: your role ${NEEDS_ANALYST}.`;
  } else {
    try {
      const res = await fetchEvents([EVENT_TYPES.ZONE_EXITED, EVENT_TYPES.ZONE_REVISITED], win.since);
      stays = /** @type {Array<ZoneExitedEvent | ZoneRevisitedEvent>} */ (res.items);
      if (res.truncated) detailNote = ` Dwell percentiles from the first ${fmtInt(stays.length)} stays.`;
    } catch (err) {
      apiFailed(err, "zone stays");
      detailNote =
        err instanceof ApiError && err.status === 403
          ? ` Dwell percentiles and revisits: your role ${NEEDS_ANALYST}.`
          : ` ${errorText(err, "stays")}`;
    }
  }
  if (token !== state.rangeToken) return;
  const partial = agg.truncated ? " Too many rows: totals are partial." : "";
  const note = `${win.label[0].toUpperCase()}${win.label.slice(1)}.${partial}${detailNote}`;
  renderZones(zoneStats(agg.items, stays), stays !== null, note);
}

// ---------------------------------------------------------------------------- charts

/** The chart's time buckets: every bucket of the range up to now (at most CHART_BARS_MAX). */
function chartBuckets(win, rows) {
  const b = win.bucket * 1000;
  const now = Date.now();
  // from the first bucket with data (a long range with a few busy hours stays readable)
  const seen = rows.map((r) => parseTime(r.bucket_start ?? r.ts)?.getTime()).filter(Number.isFinite);
  const first = Math.max(win.since ? win.since.getTime() : 0, seen.length ? Math.min(...seen) : now);
  const start = Math.max(Math.floor(first / b) * b, Math.floor(now / b) * b - (CHART_BARS_MAX - 1) * b);
  const out = [];
  for (let t = start; t <= now; t += b) out.push(new Date(t));
  return out;
}

function bucketIndex(buckets, when, bucketS) {
  const t = parseTime(when)?.getTime();
  if (t === undefined || !buckets.length) return -1;
  const i = Math.floor((t - buckets[0].getTime()) / (bucketS * 1000));
  return i >= 0 && i < buckets.length ? i : -1;
}

function perBucketText(bucketS) {
  return bucketS === 3600 ? "per hour" : bucketS >= 86400 ? "per day" : `per ${Math.round(bucketS / 60)} min`;
}

function zoneLabel(id) {
  return state.zones.find((z) => z.id === id)?.name || id;
}

async function footfallChart(win, buckets) {
  if (!perVisitAllowed()) return h("p", { class: "empty" }, `Footfall in and out: your role ${NEEDS_ANALYST}.`);
  const res = await fetchEvents([EVENT_TYPES.LINE_CROSSED], win.since);
  const inn = buckets.map(() => 0);
  const out = buckets.map(() => 0);
  for (const e of /** @type {LineCrossedEvent[]} */ (res.items)) {
    const i = bucketIndex(buckets, e.ts, win.bucket);
    if (i < 0) continue;
    if (e.payload?.direction === "in") inn[i] += 1;
    else if (e.payload?.direction === "out") out[i] += 1;
  }
  return barChart({
    id: "footfall",
    title: `Footfall ${perBucketText(win.bucket)}`,
    yLabel: "people crossing the counting lines",
    buckets,
    bucketS: win.bucket,
    timeZone: state.store?.timezone,
    series: [
      { name: "in", values: inn, colour: "#1f4e79" },
      { name: "out", values: out, colour: "#d9822b" },
    ],
    format: (v) => fmtInt(v),
    integer: true,
  });
}

async function refreshCharts(win, token, aggregates) {
  const agg = await panelAggregates(aggregates, token, "chart", (err) =>
    replace(byId("charts"), h("p", { class: "empty error" }, errorText(err, "charts"))),
  );
  if (!agg) return;
  const buckets = chartBuckets(win, agg.items);
  const zoneIds = [...new Set([...state.zones.map((z) => z.id), ...agg.items.map((r) => r.zone_id).filter(Boolean)])];
  const shown = zoneIds.filter((id) => state.zones.find((z) => z.id === id)?.kind !== "queue");
  const visits = new Map(shown.map((id) => [id, buckets.map(() => 0)]));
  const dwellSum = new Map(shown.map((id) => [id, buckets.map(() => 0)]));
  const dwellN = new Map(shown.map((id) => [id, buckets.map(() => 0)]));
  const queueIds = state.zones.filter((z) => z.kind === "queue").map((z) => z.id);
  const queue = new Map(queueIds.map((id) => [id, buckets.map(() => null)]));
  for (const r of agg.items) {
    const i = bucketIndex(buckets, r.bucket_start, win.bucket);
    if (i < 0 || !r.zone_id) continue;
    if (visits.has(r.zone_id)) {
      visits.get(r.zone_id)[i] += r.entries;
      dwellSum.get(r.zone_id)[i] += r.dwell_total_s;
      dwellN.get(r.zone_id)[i] += r.dwell_count;
    }
    if (queue.has(r.zone_id)) queue.get(r.zone_id)[i] = Math.max(queue.get(r.zone_id)[i] ?? 0, r.queue_max);
  }
  const tz = state.store?.timezone;
  const per = perBucketText(win.bucket);
  const figures = [];
  try {
    figures.push(await footfallChart(win, buckets));
  } catch (err) {
    apiFailed(err, "footfall");
    figures.push(h("p", { class: "empty error" }, errorText(err, "footfall")));
  }
  const series = (m, f = (v) => v) => shown.map((id) => ({ name: zoneLabel(id), values: m.get(id).map(f) }));
  figures.push(
    barChart({
      id: "zone-visits",
      title: `Visits per zone, ${per}`,
      yLabel: "zone entries",
      buckets,
      bucketS: win.bucket,
      timeZone: tz,
      series: series(visits),
      format: (v) => fmtInt(v),
      integer: true,
    }),
  );
  const meanDwell = shown.map((id) => ({
    name: zoneLabel(id),
    values: dwellSum.get(id).map((sum, i) => (dwellN.get(id)[i] ? sum / dwellN.get(id)[i] : null)),
  }));
  figures.push(
    barChart({
      id: "zone-dwell",
      title: `Mean dwell per zone, ${per}`,
      yLabel: "time per stay",
      buckets,
      bucketS: win.bucket,
      timeZone: tz,
      series: meanDwell,
      format: fmtSeconds,
    }),
  );
  if (queueIds.length) {
    figures.push(
      barChart({
        id: "queue",
        title: `Longest queue, ${per}`,
        yLabel: "people waiting",
        buckets,
        bucketS: win.bucket,
        timeZone: tz,
        series: queueIds.map((id) => ({ name: zoneLabel(id), values: queue.get(id) })),
        format: (v) => fmtInt(v),
        integer: true,
      }),
    );
  }
  const wait = queueIds.length ? await queueWaitChart(win, buckets) : null;
  if (wait) figures.push(wait);
  const conv = await conversionChart(win, buckets);
  if (conv) figures.push(conv);
  if (token !== state.rangeToken) return;
  replace(byId("charts"), figures);
  const partial = agg.truncated ? " Too many rows: the charts are partial." : "";
  byId("charts-note").textContent = `${win.label[0].toUpperCase()}${win.label.slice(1)}, ${per}.${partial}`;
}

/** The hourly rows of `path` for the window, or null: only hourly views ask, and a role that may
 * not read them (403) or a range the route refuses (422) leaves the chart out without a message;
 * any other failure is reported as `what`. One helper for every optional hourly chart. */
async function hourlyRows(win, buckets, path, what) {
  if (win.bucket !== 3600 || !buckets.length) return null;
  try {
    const since = win.since ?? buckets[0];
    return await api(`${path}${query({ since, until: new Date(), granularity: "hour" })}`);
  } catch (err) {
    if (!(err instanceof ApiError && (err.status === 403 || err.status === 422))) apiFailed(err, what);
    return null;
  }
}

/** One value per bucket from hourly rows (`value(row)`, null = no bar), for an optional hourly chart. */
function hourlySeries(win, buckets, rows, value) {
  const values = buckets.map(() => null);
  for (const r of rows) {
    const i = bucketIndex(buckets, r.start, win.bucket);
    const v = value(r);
    if (i >= 0 && v !== null) values[i] = v;
  }
  return values;
}

/** An optional hourly chart: a bar chart on the window's buckets in the store's time zone. */
function hourlyChart(win, buckets, chart) {
  return barChart({ ...chart, buckets, bucketS: win.bucket, timeZone: state.store?.timezone });
}

/** Mean wait per queue per hour (GET /kpis/queues: joins that reached the till), only in hourly
 * views and for roles that may read the KPIs (a viewer's 403 leaves it out). */
async function queueWaitChart(win, buckets) {
  const res = await hourlyRows(win, buckets, "/kpis/queues", "queue waits");
  if (!res) return null;
  const served = res.queues.filter((q) => q.totals.served > 0);
  if (!served.length) return null;
  return hourlyChart(win, buckets, {
    id: "queue-wait",
    title: "Mean queue wait, per hour",
    yLabel: "wait until the till",
    series: served.map((q) => ({
      name: zoneLabel(q.queue_zone),
      values: hourlySeries(win, buckets, q.rows, (r) => r.mean_wait_s),
    })),
    format: fmtSeconds,
  });
}

/** Conversion (sales / shopper visits) per hour, only when the store imports POS data. */
async function conversionChart(win, buckets) {
  const res = await hourlyRows(win, buckets, "/pos/conversion", "conversion");
  if (!res || !res.totals.transactions) return null;
  const rate = (r) => (r.conversion_rate === null ? null : r.conversion_rate * 100);
  return hourlyChart(win, buckets, {
    id: "conversion",
    title: "Conversion per hour",
    yLabel: "sales per 100 shopper visits (%)",
    series: [{ name: "conversion", values: hourlySeries(win, buckets, res.rows, rate), colour: "#2e8b57" }],
    format: (v) => `${fmtNumber(v, 0)} %`,
  });
}

// ---------------------------------------------------------------------------- heat maps

/** Camera id -> { stored, live } from the heat-map index: the maps of the window that exist.
 * Asking first keeps the page from fetching maps that would 404 (a console error each). */
async function heatIndex(win) {
  const rows = await api(`/heatmaps${query({ since: win.since })}`);
  return new Map(rows.map((r) => [r.camera_id, r]));
}

function heatNote(title, text, cls = "empty") {
  return h("figure", { class: "heat" }, title, h("p", { class: cls }, text));
}

/** A fetched image as a decoded <img>; its object URL is let go at once (the decoded image stays
 * drawable), so a refresh every minute does not keep every still it ever fetched. */
async function decodedImage(blob) {
  const img = new Image();
  const url = URL.createObjectURL(blob);
  img.src = url;
  try {
    await img.decode();
  } finally {
    URL.revokeObjectURL(url);
  }
  return img;
}

/** The camera's redacted still as an <img>, or null (no still yet, not permitted). Asked only
 * when the camera says it has one (`snapshot` in GET /cameras), so no request 404s. */
async function cameraStill(cameraId) {
  const cam = state.cameras.find((c) => c.id === cameraId);
  if (!cam?.snapshot) return null;
  try {
    return await decodedImage(await api(`/cameras/${encodeURIComponent(cameraId)}/snapshot`, { as: "blob" }));
  } catch {
    return null;
  }
}

/** The zones drawn on a camera's heat map: its own image-space zones, or floor zones. */
function heatZones(cameraId, space) {
  return state.zones.filter((z) =>
    space === "floor" ? z.space === "floor" : z.space === "image" && z.camera === cameraId,
  );
}

/** The floor plan's image as an <img> with its extent in metres, or null (no plan, no image). */
async function floorPlanImage() {
  if (!state.store?.floor_plan_image) return null; // asking would 404 (a console error)
  try {
    const plan = await api("/floor-plan");
    if (!plan.image) return null;
    const img = await decodedImage(await api("/floor-plan/image", { as: "blob" }));
    return { img, metresPerPixel: plan.width_m / img.naturalWidth };
  } catch {
    return null;
  }
}

/** The store-level map of a multi-camera store (fused shoppers, floor metres, over the plan). */
async function storeHeatFigure(win, metric) {
  const title = h("div", { class: "overlay-title" }, "Whole store (all calibrated cameras)");
  try {
    const id = encodeURIComponent(state.store.id);
    const map = await api(`/heatmaps/store/${id}${query({ metric, since: win.since })}`);
    const plan = await floorPlanImage();
    const unit = metric === "traffic" ? (v) => `${fmtInt(v)} store visits` : (v) => fmtDuration(v, 0);
    return h(
      "figure",
      { class: "heat", dataset: { camera: map.camera_id, metric } },
      title,
      heatCanvas(map, heatZones(null, "floor"), {
        label: `${metric} heat map of the whole store for ${win.label}`,
        background: plan?.img ?? null,
        backgroundScale: plan?.metresPerPixel ?? 1,
      }),
      h(
        "figcaption",
        { class: "muted small" },
        heatLegend(map.max, unit),
        `${metric === "traffic" ? "Store visits" : "Seconds"} per cell (floor plan, metres); each shopper ` +
          `counted once however many cameras saw them; dashed: floor zones. Total ${unit(map.total)}.`,
      ),
    );
  } catch (err) {
    apiFailed(err, "store heat map");
    return heatNote(title, errorText(err, "the store heat map"), "empty error");
  }
}

async function refreshHeatmaps(win, token) {
  const cams = state.cameras.filter((c) => c.enabled);
  if (!cams.length) {
    replace(byId("heatmaps"), h("p", { class: "empty" }, "No enabled cameras."));
    return;
  }
  let index;
  try {
    index = await heatIndex(win);
  } catch (err) {
    apiFailed(err, "heat-map index");
    if (token === state.rangeToken) {
      replace(byId("heatmaps"), h("p", { class: "empty error" }, errorText(err, "heat maps")));
    }
    return;
  }
  const metric = state.heatMetric;
  const storeEntry = index.get("*store"); // listed only to whole-store access, when stored or live
  const storeFigure = storeEntry && state.store ? storeHeatFigure(win, metric) : null;
  const figures = await Promise.all(
    cams.map(async (cam) => {
      const title = h("div", { class: "overlay-title" }, cam.name || cam.id);
      const entry = index.get(cam.id);
      if (!entry || !(entry.stored || entry.live)) {
        // running here but not one frame analysed yet: say so rather than "no data"
        const waiting = cam.status && !cam.status.frames;
        return heatNote(title, waiting ? "No frames analysed yet." : "No heat-map data for this period.");
      }
      try {
        const map = await api(`/heatmaps/${encodeURIComponent(cam.id)}${query({ metric, since: win.since })}`);
        const zones = heatZones(cam.id, map.grid.space);
        const label = `${metric} heat map of ${cam.name || cam.id} for ${win.label}`;
        const still = map.grid.space === "image" ? await cameraStill(cam.id) : null;
        const unit = metric === "traffic" ? (v) => `${fmtInt(v)} visits` : (v) => fmtDuration(v, 0);
        const space = map.grid.space === "floor" ? "floor plan, metres" : "camera image";
        return h(
          "figure",
          { class: "heat", dataset: { camera: cam.id, metric } },
          title,
          heatCanvas(map, zones, { label, background: still }),
          h(
            "figcaption",
            { class: "muted small" },
            heatLegend(map.max, unit),
            `${metric === "traffic" ? "Visits" : "Seconds"} per cell (${space}); dashed: zones. Total ${unit(map.total)}.`,
            map.grid.space === "image" && !still
              ? " The camera's redacted still will show beneath the map once this server provides it."
              : null,
          ),
        );
      } catch (err) {
        apiFailed(err, "heat maps");
        return heatNote(title, errorText(err, "this heat map"), "empty error");
      }
    }),
  );
  if (storeFigure) figures.unshift(await storeFigure);
  if (token !== state.rangeToken) return;
  replace(byId("heatmaps"), figures);
}

// ------------------------------------------------------------------------------- intent

function barFill(percent) {
  const fill = h("span", { class: "bar-fill" });
  fill.style.width = `${Math.max(4, percent)}%`;
  return fill;
}

function renderIntents(note) {
  const counts = new Map();
  for (const { state: s } of state.intents.values()) counts.set(s, (counts.get(s) ?? 0) + 1);
  const el = byId("intents");
  if (note) {
    replace(el, h("p", { class: "empty" }, note));
    return;
  }
  if (!counts.size) {
    replace(el, h("p", { class: "empty" }, `No intent changes for ${rangeWindow().label}.`));
    return;
  }
  const max = Math.max(...counts.values());
  const rows = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  replace(
    el,
    h(
      "ul",
      { class: "bars" },
      rows.map(([name, n]) =>
        h(
          "li",
          { dataset: { intent: name } },
          h("span", { class: "bar-label" }, name),
          h("span", { class: "bar" }, barFill((100 * n) / max)),
          h("span", { class: "bar-value" }, fmtInt(n)),
        ),
      ),
    ),
  );
}

/**
 * Remember the newest intent state of the event's subject (per-visit: analyst role only).
 * @param {IntentChangedEvent} event
 */
function noteIntent(event) {
  if (!event.subject || typeof event.payload?.state !== "string") return;
  const ts = parseTime(event.ts);
  if (state.intentSince && ts && ts < state.intentSince) return;
  const prev = state.intents.get(event.subject);
  if (prev && ts && prev.ts && prev.ts > ts) return;
  state.intents.set(event.subject, { state: event.payload.state, ts });
}

async function refreshIntents(win, token) {
  if (!perVisitAllowed()) {
    renderIntents(`Intent states: your role ${NEEDS_ANALYST}.`);
    return;
  }
  try {
    const res = await fetchEvents([EVENT_TYPES.INTENT_CHANGED], win.since);
    if (token !== state.rangeToken) return;
    state.intents = new Map();
    state.intentSince = win.since;
    for (const e of /** @type {IntentChangedEvent[]} */ (res.items)) noteIntent(e);
    renderIntents(null);
  } catch (err) {
    apiFailed(err, "intent events");
    if (token === state.rangeToken) renderIntents(errorText(err, "intent states"));
  }
}

// ------------------------------------------------------------------------------- alerts

function alertItem(a) {
  const open = a.state === "open" || a.state === "escalated";
  const where = [a.camera_id, a.zone_id].filter(Boolean).join(" · ");
  const ackInfo =
    a.state === "acknowledged"
      ? `Acknowledged ${a.acknowledged_by ? `by ${a.acknowledged_by} ` : ""}at ${fmtTime(a.acknowledged_at)}`
      : null;
  const button = open
    ? h(
        "button",
        { type: "button", class: "ack", dataset: { alert: a.id }, onclick: (e) => acknowledge(a.id, e.currentTarget) },
        "Acknowledge",
      )
    : null;
  return h(
    "li",
    {
      class: `alert sev-${String(a.severity).toLowerCase()} state-${a.state}`,
      dataset: { alert: a.id, state: a.state },
    },
    h(
      "div",
      { class: "alert-head" },
      h("span", { class: "alert-kind" }, a.kind),
      h("span", { class: `state-badge state-${a.state}` }, a.state),
    ),
    a.message ? h("p", { class: "alert-msg" }, a.message) : null,
    h(
      "p",
      { class: "muted small" },
      [
        a.severity,
        `raised ${fmtTime(a.raised_at)}`,
        where || null,
        a.escalations ? `escalated ×${a.escalations}` : null,
      ]
        .filter(Boolean)
        .join(" · "),
    ),
    ackInfo ? h("p", { class: "small ack-info" }, ackInfo) : null,
    h("p", { class: "alert-error small", hidden: true }),
    button,
  );
}

function renderAlerts(alerts) {
  const order = { escalated: 0, open: 1, acknowledged: 2 };
  alerts.sort((a, b) => (order[a.state] ?? 3) - (order[b.state] ?? 3) || b.raised_at.localeCompare(a.raised_at));
  const pending = alerts.filter((a) => a.state === "open" || a.state === "escalated").length;
  byId("alerts-count").textContent = pending ? `${pending} open` : "";
  byId("alerts-count").className = pending ? "badge badge-alert" : "badge";
  replace(
    byId("alerts"),
    alerts.length ? alerts.map(alertItem) : h("li", { class: "empty" }, "No open alerts. All quiet."),
  );
}

const refreshAlerts = guarded(async () => {
  const win = rangeWindow();
  try {
    const active = await api(`/alerts${query({ state: ["open", "escalated"], limit: 100 })}`);
    // acknowledged ones stay visible for the selected range so a colleague sees who took it
    const acked = await api(`/alerts${query({ state: "acknowledged", since: win.since, limit: 20 })}`);
    apiOk();
    renderAlerts([...active, ...acked]);
  } catch (err) {
    apiFailed(err, "alerts");
    replace(byId("alerts"), h("li", { class: "empty error" }, errorText(err, "alerts")));
  }
});

async function acknowledge(alertId, button) {
  const item = button.closest("li");
  const errorEl = item?.querySelector(".alert-error");
  button.disabled = true;
  button.textContent = "Acknowledging…";
  try {
    const updated = await api(`/alerts/${encodeURIComponent(alertId)}/ack`, { method: "POST", body: {} });
    item?.replaceWith(alertItem(updated));
    const pending = byId("alerts").querySelectorAll('li[data-state="open"], li[data-state="escalated"]').length;
    byId("alerts-count").textContent = pending ? `${pending} open` : "";
  } catch (err) {
    apiFailed(err, "acknowledge");
    button.disabled = false;
    button.textContent = "Acknowledge";
    if (errorEl) {
      errorEl.hidden = false;
      errorEl.textContent =
        err instanceof ApiError && err.status === 409
          ? "This alert was closed meanwhile."
          : errorText(err, "the acknowledgement");
    }
  }
}

// --------------------------------------------------------------------------- event feed

function categoryOf(type) {
  return String(type).split(".", 1)[0];
}

function shortValue(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(2);
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}

/**
 * One line about what the event says, in words with units (words.js).
 * @param {EventEnvelope} e
 */
function summary(e) {
  return describeEvent(e, (id) => state.zones.find((z) => z.id === id)?.name || id);
}

/** @param {EventEnvelope} e */
function feedItem(e) {
  const where = [e.camera_id, e.zone_id].filter(Boolean).join(" · ");
  return h(
    "li",
    { class: `event cat-${categoryOf(e.type)}`, dataset: { type: e.type, id: e.id } },
    h("time", { datetime: e.ts, title: e.ts }, fmtTime(e.ts)),
    h("span", { class: "etype" }, e.type),
    where ? h("span", { class: "where" }, where) : null,
    e.subject ? h("span", { class: "subject", title: "random, short-lived visit id" }, `#${e.subject}`) : null,
    h("span", { class: "summary" }, summary(e)),
  );
}

function chip(category, label, pressed, onclick, count) {
  return h(
    "button",
    { type: "button", class: `chip cat-${category}`, "aria-pressed": String(pressed), dataset: { category }, onclick },
    label,
    count === undefined ? null : h("span", { class: "chip-count" }, fmtInt(count)),
  );
}

/** Filter chips: "All" plus one per event category seen (the order of CATEGORIES first). */
function renderChips() {
  const seen = [...state.categoryCounts.keys()];
  const cats = [
    ...CATEGORIES.filter((c) => state.categoryCounts.has(c)),
    ...seen.filter((c) => !CATEGORIES.includes(c)).sort(),
  ];
  const all = chip("all", "All", state.hiddenCategories.size === 0, () => {
    state.hiddenCategories.clear();
    renderFeed();
  });
  const chips = cats.map((c) =>
    chip(
      c,
      c,
      !state.hiddenCategories.has(c),
      () => {
        if (state.hiddenCategories.has(c)) state.hiddenCategories.delete(c);
        else state.hiddenCategories.add(c);
        renderFeed();
      },
      state.categoryCounts.get(c),
    ),
  );
  replace(byId("chips"), all, chips);
}

let feedScheduled = false;

function renderFeed() {
  feedScheduled = false;
  renderChips();
  const shown = state.feed.filter((e) => !state.hiddenCategories.has(categoryOf(e.type)));
  const el = byId("feed");
  if (!shown.length) {
    const text = state.feed.length
      ? "No events of the selected types yet."
      : "No events yet. Live events appear here as they happen.";
    replace(el, h("li", { class: "empty" }, text));
  } else {
    replace(el, shown.map(feedItem));
  }
  byId("feed-count").textContent = state.feed.length ? `${shown.length} of ${state.feed.length} shown` : "";
}

function scheduleFeed() {
  if (feedScheduled) return;
  feedScheduled = true;
  requestAnimationFrame(renderFeed);
}

/** Newest first by event time (then id), so backfilled and live events interleave correctly. */
function newerFirst(a, b) {
  return (parseTime(b.ts)?.getTime() ?? 0) - (parseTime(a.ts)?.getTime() ?? 0) || (a.id < b.id ? 1 : -1);
}

/** @param {EventEnvelope} event */
function addToFeed(event) {
  if (state.feed.some((e) => e.id === event.id)) return;
  let i = 0; // live events are nearly always the newest: the scan stops at once
  while (i < state.feed.length && newerFirst(state.feed[i], event) < 0) i++;
  state.feed.splice(i, 0, event);
  if (state.feed.length > FEED_MAX) state.feed.length = FEED_MAX;
  const cat = categoryOf(event.type);
  state.categoryCounts.set(cat, (state.categoryCounts.get(cat) ?? 0) + 1);
  scheduleFeed();
}

async function backfillFeed() {
  try {
    const res = await api(`/events${query({ order: "desc", limit: 50 })}`);
    for (const e of res.items) addToFeed(e);
  } catch (err) {
    // a viewer may not read stored events (403): the feed then shows live events only
    apiFailed(err, "recent events");
  }
}

// ------------------------------------------------------------------------------ stream

const stream = { socket: null, attempt: 0, timer: null, countdown: null, everOpen: false };
// live zone events refresh the zone table only: heat maps are re-rendered on their own clock
const refreshSoonZones = coalesced(() => refreshZoneTable(), LIVE_REFRESH_DELAY_MS);
const refreshSoonAlerts = coalesced(() => refreshAlerts(), LIVE_REFRESH_DELAY_MS);

/**
 * One event from the live stream (any type, one this page does not know included).
 * @param {EventEnvelope} event
 */
function handleEvent(event) {
  if (!event || typeof event.type !== "string") return;
  addToFeed(event);
  if (event.type === EVENT_TYPES.INTENT_CHANGED) {
    noteIntent(/** @type {IntentChangedEvent} */ (event));
    renderIntents(null);
  }
  if (event.type.startsWith("alert.")) refreshSoonAlerts();
  const t = event.type;
  if (t === EVENT_TYPES.ZONE_EXITED || t === EVENT_TYPES.ZONE_ENTERED || t === EVENT_TYPES.ZONE_REVISITED)
    refreshSoonZones();
}

function onStreamMessage(text) {
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    return;
  }
  switch (msg.kind) {
    case "hello": {
      const reconnected = stream.everOpen;
      stream.attempt = 0;
      stream.everOpen = true;
      clearInterval(stream.countdown);
      clearBanner("stream");
      setPill("live-pill", "ok", "Live");
      document.body.dataset.stream = "open";
      if (reconnected) refreshAll(); // catch up on what happened while disconnected
      break;
    }
    case "event":
      handleEvent(msg.event);
      break;
    case "overlay":
      handleOverlay(msg);
      break;
    case "dropped":
      setBanner(
        "dropped",
        "warn",
        `${fmtInt(msg.count)} live messages were skipped (slow connection); panels catch up on their next refresh.`,
      );
      setTimeout(() => clearBanner("dropped"), 15_000);
      break;
    case "error":
      setBanner("stream-error", "error", `Live stream refused: ${[].concat(msg.detail).map(shortValue).join("; ")}`);
      break;
    default:
      break;
  }
}

function connectStream() {
  clearTimeout(stream.timer);
  let socket;
  try {
    socket = new WebSocket(streamUrl({ overlay: "true" }));
  } catch {
    scheduleReconnect("could not be opened");
    return;
  }
  stream.socket = socket;
  socket.addEventListener("message", (m) => onStreamMessage(m.data));
  socket.addEventListener("close", (e) => {
    if (stream.socket !== socket) return;
    stream.socket = null;
    document.body.dataset.stream = "closed";
    scheduleReconnect(e.code === 1008 ? `was refused (${e.reason || "policy"})` : "is disconnected");
  });
}

function scheduleReconnect(why) {
  stream.attempt += 1;
  const base = Math.min(RECONNECT_MAX_S, 2 ** Math.min(stream.attempt - 1, 5));
  const delayS = base * (0.75 + Math.random() * 0.5); // jitter: many dashboards don't reconnect in step
  const at = Date.now() + delayS * 1000;
  setPill("live-pill", "bad", "Live: reconnecting");
  const show = () => {
    const left = Math.max(0, Math.ceil((at - Date.now()) / 1000));
    setBanner("stream", "warn", `Live stream ${why}; reconnecting in ${left} s (attempt ${stream.attempt}).`);
  };
  show();
  clearInterval(stream.countdown);
  stream.countdown = setInterval(show, 1000);
  stream.timer = setTimeout(() => {
    clearInterval(stream.countdown);
    setBanner("stream", "warn", `Live stream ${why}; reconnecting now (attempt ${stream.attempt})…`);
    connectStream();
  }, delayS * 1000);
}

// ------------------------------------------------------------------------------- driver

const refreshRange = guarded(async () => {
  const token = ++state.rangeToken;
  const win = rangeWindow();
  const aggregates = zoneAggregates(win);
  await Promise.all([
    refreshZones(win, token, aggregates),
    refreshCharts(win, token, aggregates),
    refreshHeatmaps(win, token),
    refreshIntents(win, token),
  ]);
});

const recoverSoon = coalesced(() => refreshAll(), 0);

const refreshZoneTable = guarded(async () => {
  const win = rangeWindow();
  await refreshZones(win, state.rangeToken, zoneAggregates(win)); // a newer full refresh discards this one
});

async function refreshAll() {
  try {
    if (!state.store) await loadStore();
    await loadZones();
    apiOk();
  } catch (err) {
    apiFailed(err, "store");
  }
  await refreshCameras();
  await Promise.all([refreshRange(), refreshAlerts()]);
}

function wireControls() {
  for (const btn of byId("range").querySelectorAll("button[data-range]")) {
    btn.addEventListener("click", () => {
      if (btn.dataset.range === state.range) return;
      setRange(btn.dataset.range);
      refreshRange();
      refreshAlerts();
    });
  }
  byId("refresh").addEventListener("click", () => refreshAll());
  for (const btn of byId("heat-metric").querySelectorAll("button[data-metric]")) {
    btn.addEventListener("click", () => {
      state.heatMetric = btn.dataset.metric;
      for (const b of byId("heat-metric").querySelectorAll("button")) {
        b.setAttribute("aria-checked", String(b === btn));
      }
      refreshHeatmaps(rangeWindow(), state.rangeToken);
    });
  }
  window.addEventListener(
    "resize",
    debounced(() => state.canvases.forEach((_, id) => drawOverlay(id)), 150),
  );
}

/** Who is signed in. Only asked when a session's CSRF cookie exists: a server without
 * authentication has no /auth/me, and asking would only log a 404. */
async function loadIdentity() {
  if (!csrfToken()) return;
  try {
    state.user = await api("/auth/me");
  } catch (err) {
    apiFailed(err, "identity");
    return;
  }
  byId("user").hidden = false;
  byId("user-name").textContent = `${state.user.username} · ${state.user.role}`;
  byId("logout").addEventListener("click", async () => {
    try {
      await api("/auth/logout", { method: "POST" });
    } catch (err) {
      apiFailed(err, "sign-out");
    }
    location.assign("/login");
  });
}

function showLiveForbidden() {
  const text = `Live events and the live view: your role ${NEEDS_ANALYST}.`;
  setPill("live-pill", "wait", "Live: not permitted");
  replace(byId("feed"), h("li", { class: "empty" }, text));
  replace(byId("overlays"), h("p", { class: "empty" }, text));
  document.body.dataset.stream = "forbidden";
}

async function main() {
  setRange(new URLSearchParams(location.search).get("range") || "today", { push: false });
  wireControls();
  renderFeed();
  await loadIdentity();
  const live = perVisitAllowed();
  if (live) connectStream();
  await refreshAll();
  if (live) await backfillFeed();
  else showLiveForbidden();
  document.body.dataset.ready = "1";
  setInterval(refreshCameras, CAMERA_REFRESH_MS);
  setInterval(refreshAlerts, ALERT_REFRESH_MS);
  setInterval(refreshRange, RANGE_REFRESH_MS);
  setInterval(() => state.canvases.forEach((_, id) => drawOverlay(id)), 1000);
}

main();
