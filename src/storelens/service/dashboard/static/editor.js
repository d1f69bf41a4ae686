// SPDX-License-Identifier: AGPL-3.0-or-later
// The zone and line editor: polygons and counting lines drawn on a camera's redacted still.
//
// Everything is drawn in an SVG whose viewBox is the camera's native frame (the pixels zones and
// lines are stored in), so a click's position is a stored coordinate with no further scaling; the
// still is stretched over that box (it may have been taken from downscaled frames). A line's arrow
// points to the side a person ends up on when the crossing counts as "in" (analytics/lines.py:
// standing at a looking at b, crossing from left to right). The API checks a save as a whole
// (PUT /cameras/{id}/geometry) and answers every problem with its place (loc ["body", "zones", 0,
// "points", 2]): each is shown on its shape, in the list and on the drawing, and nothing is saved.

import { api, ApiError, csrfToken, query } from "./api.js";
import {
  drawOnStill,
  initCalibration,
  loadCalibration,
  place,
  pointerDown as pairDown,
  pointerMove as pairMove,
  pointerUp as pairUp,
  renderFloor,
} from "./calibration.js";
import { byId, h, replace, svg, svgPoint } from "./dom.js";
import { cancelFloorZone, finishFloorZone, initFloorZones } from "./floorzones.js";

const ZONE_KINDS = ["entrance", "aisle", "shelf", "display", "checkout", "queue", "staff_only", "other"];
const LINE_ROLES = ["count", "entrance", "storefront"];
const CLOSE_PX = 12; // a click this close to the first corner closes the zone
const FALLBACK_FRAME = { width: 1280, height: 720 };

const state = {
  cameras: [],
  camera: null,
  frame: null, // { width, height, source } from the API, null when unknown
  box: FALLBACK_FRAME, // the drawing's coordinate box (frame, else the still's size)
  still: null, // object URL of the still
  zones: [],
  lines: [],
  tool: "select",
  draft: [], // corners of the zone being drawn, or the start of a line
  pointer: null, // where the mouse is, for the rubber band
  selected: null, // "zones:0" / "lines:1"
  drag: null, // { kind, index, end } while a corner or line end is dragged
  errors: new Map(), // "zones:0" -> [{ field, msg, point }]
  canSave: true,
  dirty: false,
};

function banner(text, level = "error") {
  const box = byId("banners");
  replace(box, text ? h("div", { class: `banner banner-${level}`, role: level === "error" ? "alert" : "status" }, text) : null);
}

// ------------------------------------------------------------------------------- geometry

/** Native-pixel point under a mouse event (rounded: stored coordinates are whole pixels). */
function toFrame(evt) {
  const p = svgPoint(byId("drawing"), evt);
  return p && [Math.round(p.x), Math.round(p.y)];
}

/** Native pixels per screen pixel: sizes of handles and arrows stay the same on screen. */
function unit() {
  const el = byId("drawing");
  const w = el.getBoundingClientRect().width || state.box.width;
  return state.box.width / w;
}

function centroid(points) {
  const n = points.length || 1;
  return [points.reduce((s, p) => s + p[0], 0) / n, points.reduce((s, p) => s + p[1], 0) / n];
}

/** Unit normal towards the "in" side of a line a -> b (y down: (-dy, dx)). */
function inNormal(a, b) {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len = Math.hypot(dx, dy) || 1;
  return [-dy / len, dx / len];
}

function nextId(prefix, used) {
  for (let n = 1; ; n++) if (!used.has(`${prefix}-${n}`)) return `${prefix}-${n}`;
}

function usedIds() {
  return new Set([...state.zones.map((z) => z.id), ...state.lines.map((l) => l.id)]);
}

// -------------------------------------------------------------------------------- drawing

function errorsOf(key) {
  return state.errors.get(key) || [];
}

/** A draggable corner or line end (larger and marked when a problem is reported at it). */
function handle(p, bad, u, dataset) {
  const r = (bad ? 7 : 5) * u;
  return svg("circle", { class: bad ? "handle bad" : "handle", cx: p[0], cy: p[1], r, "stroke-width": 1.5 * u, dataset });
}

function drawZone(z, i, u) {
  const key = `zones:${i}`;
  const errs = errorsOf(key);
  const cls = ["zone", errs.length ? "invalid" : "", state.selected === key ? "selected" : ""].join(" ");
  const g = svg("g", { class: cls, dataset: { zone: z.id, key } });
  g.append(svg("polygon", { points: z.points.map((p) => p.join(",")).join(" "), "stroke-width": 2 * u }));
  const [cx, cy] = centroid(z.points);
  g.append(svg("text", { x: cx, y: cy, "font-size": 13 * u, "stroke-width": 3 * u, text: z.name || z.id }));
  z.points.forEach((p, j) => {
    const bad = errs.some((e) => e.point === j);
    g.append(handle(p, bad, u, { kind: "zones", index: i, end: j }));
  });
  return g;
}

function drawLine(l, i, u) {
  const key = `lines:${i}`;
  const errs = errorsOf(key);
  const cls = ["line", errs.length ? "invalid" : "", state.selected === key ? "selected" : ""].join(" ");
  const g = svg("g", { class: cls, dataset: { line: l.id, key } });
  const [a, b] = [l.a, l.b];
  g.append(svg("line", { x1: a[0], y1: a[1], x2: b[0], y2: b[1], "stroke-width": 3 * u }));
  // the arrow: from the middle of the line towards the side "in" ends on
  const [nx, ny] = inNormal(a, b);
  const mx = (a[0] + b[0]) / 2;
  const my = (a[1] + b[1]) / 2;
  const len = 46 * u;
  const tip = [mx + nx * len, my + ny * len];
  const wing = 9 * u;
  const back = [tip[0] - nx * wing * 1.6, tip[1] - ny * wing * 1.6];
  g.append(svg("line", { class: "arrow", x1: mx, y1: my, x2: back[0], y2: back[1], "stroke-width": 3 * u }));
  g.append(
    svg("polygon", {
      class: "arrow-head",
      points: [tip, [back[0] - ny * wing, back[1] + nx * wing], [back[0] + ny * wing, back[1] - nx * wing]]
        .map((p) => p.join(","))
        .join(" "),
    }),
  );
  g.append(
    svg("text", {
      class: "arrow-label",
      x: tip[0] + nx * 14 * u,
      y: tip[1] + ny * 14 * u,
      "font-size": 14 * u,
      "stroke-width": 3 * u,
      text: "in",
    }),
  );
  // the name past end b, along the line: never on the arrow, which starts at the middle
  const len2 = Math.hypot(b[0] - a[0], b[1] - a[1]) || 1;
  const [ux, uy] = [(b[0] - a[0]) / len2, (b[1] - a[1]) / len2];
  g.append(
    svg("text", {
      x: b[0] + ux * 14 * u,
      y: b[1] + uy * 14 * u,
      "font-size": 13 * u,
      "stroke-width": 3 * u,
      text: l.name || l.id,
    }),
  );
  for (const [end, p] of [
    ["a", a],
    ["b", b],
  ]) {
    const bad = errs.some((e) => e.point === end);
    g.append(handle(p, bad, u, { kind: "lines", index: i, end }));
  }
  return g;
}

function drawDraft(u) {
  if (!state.draft.length) return null;
  const pts = state.pointer ? [...state.draft, state.pointer] : state.draft;
  const g = svg("g", { class: "draft" });
  g.append(svg("polyline", { points: pts.map((p) => p.join(",")).join(" "), "stroke-width": 2 * u }));
  state.draft.forEach((p, j) =>
    g.append(svg("circle", { cx: p[0], cy: p[1], r: (j === 0 ? 7 : 4) * u, "stroke-width": 1.5 * u })),
  );
  return g;
}

function render() {
  renderDrawing();
  renderList();
}

/** Select a shape without rebuilding the list (an input being typed in keeps its focus). */
function select(key) {
  if (state.selected === key) return;
  state.selected = key;
  renderDrawing();
  for (const li of byId("shapes").querySelectorAll("li[data-key]")) {
    li.classList.toggle("selected", li.dataset.key === key);
  }
}

function renderDrawing() {
  const el = byId("drawing");
  const { width, height } = state.box;
  el.setAttribute("viewBox", `0 0 ${width} ${height}`);
  el.dataset.width = width;
  el.dataset.height = height;
  const u = unit();
  const layers = [];
  if (state.still) {
    layers.push(svg("image", { href: state.still, x: 0, y: 0, width, height, preserveAspectRatio: "none" }));
  } else {
    layers.push(svg("rect", { class: "no-still", x: 0, y: 0, width, height }));
  }
  state.zones.forEach((z, i) => layers.push(drawZone(z, i, u)));
  state.lines.forEach((l, i) => layers.push(drawLine(l, i, u)));
  if (state.tool === "calibrate") layers.push(drawOnStill(u));
  layers.push(drawDraft(u));
  el.replaceChildren(...layers.filter(Boolean));
  el.dataset.zones = state.zones.length;
  el.dataset.lines = state.lines.length;
  el.dataset.tool = state.tool;
}

// ---------------------------------------------------------------------------- shape list

function field(label, input) {
  return h("label", { class: "field" }, h("span", { class: "small muted" }, label), input);
}

function textInput(value, onchange, attrs = {}) {
  return h("input", { value: value ?? "", ...attrs, oninput: (e) => onchange(e.target.value) });
}

function selectInput(options, value, onchange, attrs = {}) {
  const sel = h("select", { ...attrs, onchange: (e) => onchange(e.target.value) });
  for (const o of options) sel.append(h("option", { value: o, selected: o === value }, o.replace("_", " ")));
  return sel;
}

function changed() {
  state.dirty = true;
  byId("save-result").hidden = true;
  render();
}

function shapeItem(kind, item, i) {
  const key = `${kind}:${i}`;
  const errs = errorsOf(key);
  const label = kind === "zones" ? `Zone · ${item.points.length} corners` : "Line";
  const li = h("li", {
    class: ["shape", errs.length ? "invalid" : "", state.selected === key ? "selected" : ""].join(" "),
    dataset: { key, [kind === "zones" ? "zone" : "line"]: item.id },
    onclick: () => select(key),
  });
  const head = h(
    "div",
    { class: "shape-head" },
    h("strong", {}, label),
    kind === "lines"
      ? h(
          "button",
          {
            type: "button",
            class: "ghost small",
            title: "Swap the ends: what counted as in counts as out",
            onclick: () => {
              [item.a, item.b] = [item.b, item.a];
              changed();
            },
          },
          "Reverse direction",
        )
      : null,
    h(
      "button",
      {
        type: "button",
        class: "ghost small danger",
        "aria-label": `Delete ${item.id}`,
        onclick: (e) => {
          e.stopPropagation();
          state[kind].splice(i, 1);
          state.errors.clear();
          state.selected = null;
          changed();
        },
      },
      "Delete",
    ),
  );
  const fields = h(
    "div",
    { class: "shape-fields" },
    field("Id", textInput(item.id, (v) => ((item.id = v), (state.dirty = true)), { name: "id", maxlength: 64 })),
    field(
      "Name",
      textInput(item.name, (v) => ((item.name = v || null), (state.dirty = true)), { name: "name", maxlength: 128 }),
    ),
    kind === "zones"
      ? field("Kind", selectInput(ZONE_KINDS, item.kind, (v) => ((item.kind = v), changed()), { name: "kind" }))
      : field("Counts as", selectInput(LINE_ROLES, item.role, (v) => ((item.role = v), changed()), { name: "role" })),
  );
  li.append(head, fields);
  if (errs.length) {
    li.append(
      h(
        "ul",
        { class: "shape-errors", role: "alert" },
        errs.map((e) => h("li", {}, e.field ? `${e.field}: ${e.msg}` : e.msg)),
      ),
    );
  }
  return li;
}

function renderList() {
  const list = byId("shapes");
  const items = [
    ...state.zones.map((z, i) => shapeItem("zones", z, i)),
    ...state.lines.map((l, i) => shapeItem("lines", l, i)),
  ];
  if (!items.length) items.push(h("li", { class: "empty" }, "No zones or lines on this camera yet."));
  replace(list, items);
}

// ----------------------------------------------------------------------------- interaction

function setTool(tool) {
  state.tool = tool;
  state.draft = [];
  for (const b of byId("tools").querySelectorAll("button")) b.setAttribute("aria-checked", String(b.dataset.tool === tool));
  document.body.dataset.tool = tool;
  if (tool !== "floor-zone") cancelFloorZone();
  render();
  if (tool === "calibrate" || tool === "floor-zone") renderFloor(); // laid out only now: its markers' size needs its width
}

function finishZone() {
  if (state.draft.length < 3) return;
  const id = nextId("zone", usedIds());
  state.zones.push({ id, name: null, kind: "other", space: "image", camera: state.camera, points: state.draft });
  state.selected = `zones:${state.zones.length - 1}`;
  state.draft = [];
  changed();
}

/** A click that ends dragging a calibration marker is not a new point. */
let swallowClick = false;

function onClick(evt) {
  if (swallowClick) {
    swallowClick = false;
    return;
  }
  if (state.tool === "select") return;
  const p = toFrame(evt);
  if (!p) return;
  if (state.tool === "calibrate") {
    place("image", p);
  } else if (state.tool === "zone") {
    if (state.draft.length >= 3) {
      const [fx, fy] = state.draft[0];
      if (Math.hypot(p[0] - fx, p[1] - fy) <= CLOSE_PX * unit()) {
        finishZone();
        return;
      }
    }
    state.draft.push(p);
    renderDrawing();
  } else if (state.tool === "line") {
    if (!state.draft.length) {
      state.draft = [p];
      renderDrawing();
      return;
    }
    const a = state.draft[0];
    if (a[0] === p[0] && a[1] === p[1]) return;
    const id = nextId("line", usedIds());
    state.lines.push({ id, name: null, space: "image", camera: state.camera, a, b: p, role: "count" });
    state.selected = `lines:${state.lines.length - 1}`;
    state.draft = [];
    changed();
  }
}

function onPointerDown(evt) {
  if (state.tool === "calibrate" && pairDown(evt)) return;
  if (state.tool !== "select") return;
  const t = evt.target;
  if (!(t instanceof SVGElement) || !t.classList.contains("handle")) {
    const g = t instanceof SVGElement ? t.closest("g[data-key]") : null;
    if (g) select(g.dataset.key);
    return;
  }
  const { kind, index, end } = t.dataset;
  state.drag = { kind, index: Number(index), end: kind === "zones" ? Number(end) : end };
  state.selected = `${kind}:${index}`;
  byId("drawing").setPointerCapture(evt.pointerId);
  evt.preventDefault();
}

function onPointerMove(evt) {
  if (pairMove(evt, toFrame)) return;
  if (state.drag) {
    const p = toFrame(evt);
    if (!p) return;
    const { kind, index, end } = state.drag;
    const item = state[kind][index];
    if (kind === "zones") item.points[end] = p;
    else item[end] = p;
    state.dirty = true;
    renderDrawing();
  } else if (state.draft.length && state.tool !== "select") {
    state.pointer = toFrame(evt);
    renderDrawing();
  }
}

function onPointerUp() {
  if (pairUp()) {
    swallowClick = true;
    return;
  }
  if (state.drag) {
    state.drag = null;
    changed();
  }
}

function onKey(evt) {
  if (evt.target instanceof HTMLInputElement || evt.target instanceof HTMLSelectElement) return;
  if (evt.key === "Enter" && state.tool === "zone") finishZone();
  else if (evt.key === "Enter" && state.tool === "floor-zone") finishFloorZone();
  else if (evt.key === "Escape") {
    state.draft = [];
    cancelFloorZone();
    renderDrawing();
  }
}

// -------------------------------------------------------------------------------- loading

/** API messages without pydantic's "Value error, " prefix. */
function cleanMsg(msg) {
  return String(msg).replace(/^Value error, /, "");
}

/** Sort a 422's errors onto their shapes; the rest are returned for the general box. */
function placeErrors(detail) {
  state.errors.clear();
  const general = [];
  for (const d of Array.isArray(detail) ? detail : [{ msg: String(detail) }]) {
    const loc = Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body") : [];
    const [kind, index, name, sub] = loc;
    if ((kind === "zones" || kind === "lines") && Number.isInteger(index) && state[kind][index]) {
      const key = `${kind}:${index}`;
      let point = null;
      let fieldName = name ?? null;
      if (kind === "zones" && name === "points" && Number.isInteger(sub)) {
        point = sub;
        fieldName = `corner ${sub + 1}`;
      } else if (kind === "lines" && (name === "a" || name === "b")) {
        point = name;
        fieldName = name === "a" ? "start (a)" : "end (b)";
      }
      const list = state.errors.get(key) || [];
      list.push({ field: fieldName, msg: cleanMsg(d.msg), point });
      state.errors.set(key, list);
    } else {
      general.push(cleanMsg(d.msg));
    }
  }
  return general;
}

function showGeneral(msgs) {
  const box = byId("save-errors");
  box.hidden = !msgs.length;
  replace(box, msgs.length ? h("ul", {}, msgs.map((m) => h("li", {}, m))) : null);
}

async function loadStill(cameraId, available) {
  if (state.still) URL.revokeObjectURL(state.still);
  state.still = null;
  if (!available) return null;
  try {
    const blob = await api(`/cameras/${encodeURIComponent(cameraId)}/snapshot`, { as: "blob" });
    state.still = URL.createObjectURL(blob);
    const img = new Image();
    img.src = state.still;
    await img.decode();
    return { width: img.naturalWidth, height: img.naturalHeight };
  } catch (err) {
    banner(`Cannot load the still: ${err.message}`, "warn");
    return null;
  }
}

function adopt(geometry) {
  state.zones = geometry.zones.map((z) => ({ ...z, points: z.points.map((p) => [...p]) }));
  state.lines = geometry.lines.map((l) => ({ ...l, a: [...l.a], b: [...l.b] }));
  state.errors.clear();
  state.selected = null;
  state.draft = [];
  state.dirty = false;
}

async function loadCamera(cameraId) {
  state.camera = cameraId;
  document.body.dataset.ready = "0";
  banner(null);
  showGeneral([]);
  byId("save-result").hidden = true;
  let geometry;
  try {
    geometry = await api(`/cameras/${encodeURIComponent(cameraId)}/geometry`);
  } catch (err) {
    banner(`Cannot load camera ${cameraId}: ${err.message}`);
    return;
  }
  state.frame = geometry.frame;
  const still = await loadStill(cameraId, geometry.snapshot);
  state.box = state.frame || still || FALLBACK_FRAME;
  adopt(geometry);
  const note = byId("frame-note");
  if (state.frame) {
    note.textContent = `${state.frame.width}×${state.frame.height} px frame`;
  } else {
    note.textContent = "frame size unknown: points are not checked against it";
  }
  if (!geometry.snapshot) {
    banner(
      `No still for ${cameraId} yet: run \`storelens snapshot STORE.yaml ${cameraId}\` on the server, then reload.`,
      "warn",
    );
  }
  render();
  await loadCalibration(cameraId);
  document.body.dataset.ready = "1";
}

async function save() {
  if (!state.canSave || !state.camera) return;
  const button = byId("save");
  button.disabled = true;
  document.body.dataset.saved = "pending";
  showGeneral([]);
  byId("save-result").hidden = true;
  try {
    const body = { zones: state.zones, lines: state.lines };
    const saved = await api(`/cameras/${encodeURIComponent(state.camera)}/geometry`, { method: "PUT", body });
    adopt(saved);
    state.frame = saved.frame || state.frame;
    const result = byId("save-result");
    result.textContent = saved.message || "Saved.";
    result.hidden = false;
    result.dataset.applied = saved.applied || "";
    document.body.dataset.saved = "ok";
  } catch (err) {
    if (err instanceof ApiError && (err.status === 422 || err.status === 409)) {
      showGeneral(placeErrors(err.body && err.body.detail !== undefined ? err.body.detail : err.detail));
    } else {
      showGeneral([`Not saved: ${err.message}`]);
    }
    document.body.dataset.saved = "error";
  } finally {
    button.disabled = !state.canSave;
    render();
  }
  // the first refused shape's entry in view: its messages are what the user must read
  const bad = byId("shapes").querySelector("li.invalid");
  if (bad) bad.scrollIntoView({ block: "nearest" });
}

async function loadIdentity() {
  if (!csrfToken()) return; // no authentication on this server: nothing to ask
  try {
    const me = await api("/auth/me");
    state.canSave = me.role === "admin";
  } catch {
    state.canSave = false;
  }
  byId("save").disabled = !state.canSave;
  for (const note of document.querySelectorAll(".role-note")) note.hidden = state.canSave;
}

async function main() {
  setTool("select");
  byId("tools").addEventListener("click", (e) => {
    const b = e.target instanceof Element ? e.target.closest("button[data-tool]") : null;
    if (b) setTool(b.dataset.tool);
  });
  const drawing = byId("drawing");
  drawing.addEventListener("click", onClick);
  drawing.addEventListener("pointerdown", onPointerDown);
  drawing.addEventListener("pointermove", onPointerMove);
  drawing.addEventListener("pointerup", onPointerUp);
  document.addEventListener("keydown", onKey);
  window.addEventListener("resize", () => render());
  byId("save").addEventListener("click", save);
  byId("revert").addEventListener("click", () => state.camera && loadCamera(state.camera));
  await loadIdentity();
  await initCalibration({ redraw: renderDrawing, tool: () => state.tool, canSave: state.canSave });
  await initFloorZones({ tool: () => state.tool, canSave: state.canSave });
  try {
    state.cameras = await api("/cameras");
  } catch (err) {
    banner(`Cannot list the cameras: ${err.message}`);
    return;
  }
  const select = byId("camera");
  for (const c of state.cameras) select.append(h("option", { value: c.id }, c.name || c.id));
  const wanted = new URLSearchParams(location.search).get("camera");
  const first = state.cameras.find((c) => c.id === wanted) || state.cameras[0];
  if (!first) {
    banner("This store has no camera you may see.", "warn");
    return;
  }
  select.value = first.id;
  select.addEventListener("change", () => {
    history.replaceState(null, "", `/editor${query({ camera: select.value })}`);
    loadCamera(select.value);
  });
  await loadCamera(first.id);
}

main();
