// SPDX-License-Identifier: AGPL-3.0-or-later
// Calibration point pairs in the editor: a spot on the camera's still and the same spot on the
// floor plan, numbered alike on both drawings.
//
// With the "Calibrate" tool a click on either drawing places that half of a new pair and a click on
// the other drawing completes it (so the order does not matter); markers of either half can be
// dragged. The store's floor zones are drawn on the plan (floorzones.js edits them). The floor
// drawing's viewBox is the plan in metres (the plan's image stretched over it,
// or a one-metre grid when the store has no plan image), so a click is a floor position in metres
// with no further scaling. The API checks the pairs as a whole (at least 4, inside the frame and the
// plan, a homography that is not degenerate) and answers each problem at its point
// (loc ["body", "image_points", 2]) or for the set; both are shown in place and nothing is saved.

import { api, ApiError } from "./api.js";
import { byId, h, replace, svg, svgPoint } from "./dom.js";

const DEFAULT_FLOOR = { width_m: 20, height_m: 12 }; // the grid drawn when the store has no plan

export const cal = {
  camera: null,
  pairs: [], // [{ image: [x, y] | null, floor: [x, y] | null }]
  errorsM: [], // the saved fit's error per pair (metres)
  rms: null,
  plan: null, // { width_m, height_m, image } from the API, null: none configured
  planUrl: null,
  floorZones: [], // the store's floor-space zones (metres): floorzones.js loads and edits them
  floorDraft: [], // corners of the floor zone being drawn
  floorPointer: null, // where the mouse is on the plan, for the rubber band
  floorErrors: new Map(), // floor zone index -> [{ field, msg, point }]
  errors: new Map(), // "image:2" / "floor:2" -> message
  general: [],
  dirty: false,
  drag: null, // { half, index }
};

/** The floor extent drawn: the plan's, else the default grid grown to hold every floor point. */
export function floorBox() {
  if (cal.plan) return { width: cal.plan.width_m, height: cal.plan.height_m };
  let { width_m: w, height_m: hgt } = DEFAULT_FLOOR;
  for (const p of cal.pairs) {
    if (p.floor) {
      w = Math.max(w, Math.ceil(p.floor[0] + 1));
      hgt = Math.max(hgt, Math.ceil(p.floor[1] + 1));
    }
  }
  return { width: w, height: hgt };
}

function floorUnit() {
  const el = byId("floor");
  const w = el.getBoundingClientRect().width || 1;
  return floorBox().width / w;
}

/** Metres under a mouse event on the floor drawing (to the centimetre). */
export function toFloor(evt) {
  const p = svgPoint(byId("floor"), evt);
  return p && [Math.round(p.x * 100) / 100, Math.round(p.y * 100) / 100];
}

function marker(half, p, i, u) {
  const bad = cal.errors.has(`${half}:${i}`);
  return svg(
    "g",
    { class: bad ? "pair bad" : "pair", dataset: { half, index: i } },
    svg("circle", { class: "pair-handle", cx: p[0], cy: p[1], r: 9 * u, "stroke-width": 2 * u, dataset: { half, index: i } }),
    svg("text", { x: p[0], y: p[1], "font-size": 11 * u, text: i + 1 }),
  );
}

/** The image halves, drawn over the still by the editor (``u``: frame pixels per screen pixel). */
export function drawOnStill(u) {
  const g = svg("g", { class: "pairs" });
  cal.pairs.forEach((p, i) => p.image && g.append(marker("image", p.image, i, u)));
  return g;
}

export function renderFloor() {
  const el = byId("floor");
  const { width, height } = floorBox();
  el.setAttribute("viewBox", `0 0 ${width} ${height}`);
  el.dataset.width = width;
  el.dataset.height = height;
  const u = floorUnit();
  const layers = [];
  if (cal.planUrl) {
    layers.push(svg("image", { href: cal.planUrl, x: 0, y: 0, width, height, preserveAspectRatio: "none" }));
  } else {
    layers.push(svg("rect", { class: "floor-bg", x: 0, y: 0, width, height }));
  }
  const grid = svg("g", { class: "floor-grid" });
  for (let x = 1; x < width; x++) grid.append(svg("line", { x1: x, y1: 0, x2: x, y2: height, "stroke-width": u }));
  for (let y = 1; y < height; y++) grid.append(svg("line", { x1: 0, y1: y, x2: width, y2: y, "stroke-width": u }));
  layers.push(grid);
  cal.floorZones.forEach((z, i) => {
    const [cx, cy] = [
      z.points.reduce((a, p) => a + p[0], 0) / z.points.length,
      z.points.reduce((a, p) => a + p[1], 0) / z.points.length,
    ];
    const errs = cal.floorErrors.get(i) || [];
    const g = svg(
      "g",
      { class: errs.length ? "floor-zone invalid" : "floor-zone", dataset: { zone: z.id, index: i } },
      svg("polygon", { points: z.points.map((p) => p.join(",")).join(" "), "stroke-width": 2 * u }),
      svg("text", { x: cx, y: cy, "font-size": 12 * u, "stroke-width": 3 * u, text: z.name || z.id }),
    );
    errs.forEach((e) => {
      const p = Number.isInteger(e.point) ? z.points[e.point] : null;
      if (p) g.append(svg("circle", { class: "handle bad", cx: p[0], cy: p[1], r: 7 * u, "stroke-width": 1.5 * u }));
    });
    layers.push(g);
  });
  if (cal.floorDraft.length) {
    const pts = cal.floorPointer ? [...cal.floorDraft, cal.floorPointer] : cal.floorDraft;
    const g = svg("g", { class: "draft" });
    g.append(svg("polyline", { points: pts.map((p) => p.join(",")).join(" "), "stroke-width": 2 * u }));
    cal.floorDraft.forEach((p, j) =>
      g.append(svg("circle", { cx: p[0], cy: p[1], r: (j === 0 ? 7 : 4) * u, "stroke-width": 1.5 * u })),
    );
    layers.push(g);
  }
  // a 1 m (or larger round) scale bar, bottom left
  const bar = width > 40 ? 10 : width > 8 ? 2 : 1;
  const y0 = height - 18 * u;
  layers.push(
    svg(
      "g",
      { class: "floor-scale" },
      svg("line", { x1: 10 * u, y1: y0, x2: 10 * u + bar, y2: y0, "stroke-width": 4 * u }),
      svg("text", { x: 10 * u + bar / 2, y: y0 - 10 * u, "font-size": 12 * u, "stroke-width": 3 * u, text: `${bar} m` }),
    ),
  );
  cal.pairs.forEach((p, i) => p.floor && layers.push(marker("floor", p.floor, i, u)));
  el.replaceChildren(...layers);
  el.dataset.pairs = cal.pairs.filter((p) => p.image && p.floor).length;
  el.dataset.zones = cal.floorZones.length;
}

function fmtPoint(p, digits) {
  return p ? `(${p[0].toFixed(digits)}, ${p[1].toFixed(digits)})` : "click to place";
}

export function renderPairs() {
  const list = byId("pairs");
  const items = cal.pairs.map((p, i) => {
    const errs = [cal.errors.get(`image:${i}`), cal.errors.get(`floor:${i}`)].filter(Boolean);
    const err = cal.errorsM[i];
    return h(
      "li",
      { class: errs.length ? "pair-item invalid" : "pair-item", dataset: { index: i } },
      h("strong", {}, String(i + 1)),
      h("span", {}, `image ${fmtPoint(p.image, 0)} px`),
      h("span", {}, `floor ${fmtPoint(p.floor, 2)} m`),
      !cal.dirty && err !== undefined ? h("span", { class: "muted small" }, `fit off by ${err.toFixed(2)} m`) : null,
      h(
        "button",
        {
          type: "button",
          class: "ghost small danger",
          "aria-label": `Delete pair ${i + 1}`,
          onclick: () => {
            cal.pairs.splice(i, 1);
            changed();
          },
        },
        "Delete",
      ),
      errs.length ? h("ul", { class: "shape-errors", role: "alert" }, errs.map((m) => h("li", {}, m))) : null,
    );
  });
  if (!items.length) items.push(h("li", { class: "empty" }, "Not calibrated: add 4 or more pairs."));
  replace(list, items);
  const fit = byId("cal-fit");
  fit.textContent =
    cal.rms !== null && !cal.dirty ? `Saved fit: ${cal.pairs.length} pairs, RMS error ${cal.rms.toFixed(2)} m` : "";
  const box = byId("cal-errors");
  box.hidden = !cal.general.length;
  replace(box, cal.general.length ? h("ul", {}, cal.general.map((m) => h("li", {}, m))) : null);
}

let redrawStill = () => {};

function changed() {
  cal.dirty = true;
  cal.errors.clear();
  cal.general = [];
  byId("cal-result").hidden = true;
  renderAll();
}

function renderAll() {
  renderFloor();
  renderPairs();
  redrawStill();
}

/** A click on either drawing with the Calibrate tool: complete the open pair, else start one. */
export function place(half, p) {
  const other = half === "image" ? "floor" : "image";
  const open = cal.pairs.find((q) => q[half] === null && q[other] !== null);
  if (open) open[half] = p;
  else cal.pairs.push({ image: null, floor: null, [half]: p });
  changed();
}

function startDrag(evt) {
  const t = evt.target;
  if (!(t instanceof SVGElement) || !t.classList.contains("pair-handle")) return false;
  cal.drag = { half: t.dataset.half, index: Number(t.dataset.index), moved: false };
  evt.currentTarget.setPointerCapture(evt.pointerId);
  evt.preventDefault();
  return true;
}

/** Pointer handling shared by both drawings; ``toPoint`` maps an event to that drawing's units. */
export function pointerDown(evt) {
  return startDrag(evt);
}

export function pointerMove(evt, toPoint) {
  if (!cal.drag) return false;
  const p = toPoint(evt);
  if (p) {
    cal.pairs[cal.drag.index][cal.drag.half] = p;
    cal.drag.moved = true;
    cal.dirty = true;
    if (cal.drag.half === "floor") renderFloor();
    else redrawStill();
  }
  return true;
}

export function pointerUp() {
  if (!cal.drag) return false;
  const moved = cal.drag.moved;
  cal.drag = null;
  if (moved) changed();
  return true;
}

/** A click that ended a drag is not a new point. */
let swallowClick = false;

function onFloorClick(evt, tool) {
  if (swallowClick) {
    swallowClick = false;
    return;
  }
  if (tool() !== "calibrate") return;
  const p = toFloor(evt);
  if (p) place("floor", p);
}

function placeErrors(detail) {
  cal.errors.clear();
  cal.general = [];
  for (const d of Array.isArray(detail) ? detail : [{ msg: String(detail) }]) {
    const loc = Array.isArray(d.loc) ? d.loc.filter((x) => x !== "body") : [];
    const [name, index] = loc;
    const msg = String(d.msg).replace(/^Value error, /, "");
    if ((name === "image_points" || name === "floor_points") && Number.isInteger(index)) {
      cal.errors.set(`${name === "image_points" ? "image" : "floor"}:${index}`, msg);
    } else {
      cal.general.push(msg);
    }
  }
}

function adopt(body) {
  cal.pairs = body.image_points.map((p, i) => ({ image: [...p], floor: [...body.floor_points[i]] }));
  cal.errorsM = body.errors_m || [];
  cal.rms = body.rms_m ?? null;
  cal.errors.clear();
  cal.general = [];
  cal.dirty = false;
}

async function send(method) {
  const button = byId(method === "PUT" ? "cal-save" : "cal-clear");
  button.disabled = true;
  document.body.dataset.calSaved = "pending";
  byId("cal-result").hidden = true;
  const url = `/cameras/${encodeURIComponent(cal.camera)}/calibration`;
  try {
    const complete = cal.pairs.filter((p) => p.image || p.floor);
    const body = {
      image_points: complete.filter((p) => p.image).map((p) => p.image),
      floor_points: complete.filter((p) => p.floor).map((p) => p.floor),
    };
    const saved = await api(url, method === "PUT" ? { method, body } : { method });
    adopt(saved);
    const result = byId("cal-result");
    result.textContent = saved.message || "Saved.";
    result.hidden = false;
    document.body.dataset.calSaved = "ok";
  } catch (err) {
    if (err instanceof ApiError && err.status === 422) {
      placeErrors(err.body && err.body.detail !== undefined ? err.body.detail : err.detail);
    } else {
      cal.general = [`Not saved: ${err.message}`];
    }
    document.body.dataset.calSaved = "error";
  } finally {
    button.disabled = false;
    renderAll();
  }
}

export async function loadCalibration(cameraId) {
  cal.camera = cameraId;
  byId("cal-result").hidden = true;
  try {
    adopt(await api(`/cameras/${encodeURIComponent(cameraId)}/calibration`));
  } catch (err) {
    cal.pairs = [];
    cal.general = [`Cannot load the calibration: ${err.message}`];
  }
  renderAll();
}

async function loadPlan() {
  try {
    cal.plan = await api("/floor-plan");
  } catch {
    cal.plan = null; // no plan configured: a metre grid
  }
  byId("floor-note").textContent = cal.plan
    ? `${cal.plan.width_m} × ${cal.plan.height_m} m floor plan`
    : "no floor plan in the store file: a 1 m grid (x right, y down from the top-left corner)";
  if (cal.plan && cal.plan.image) {
    try {
      cal.planUrl = URL.createObjectURL(await api("/floor-plan/image", { as: "blob" }));
    } catch {
      cal.planUrl = null;
    }
  }
}

/** Wire the floor drawing and the pair list; ``redraw`` re-renders the still (its markers). */
export async function initCalibration({ redraw, tool, canSave }) {
  redrawStill = redraw;
  const floor = byId("floor");
  floor.addEventListener("click", (e) => onFloorClick(e, tool));
  floor.addEventListener("pointerdown", (e) => pointerDown(e));
  floor.addEventListener("pointermove", (e) => pointerMove(e, toFloor));
  floor.addEventListener("pointerup", () => {
    if (pointerUp()) swallowClick = true;
  });
  byId("cal-save").addEventListener("click", () => send("PUT"));
  byId("cal-clear").addEventListener("click", () => send("DELETE"));
  byId("cal-save").disabled = !canSave;
  byId("cal-clear").disabled = !canSave;
  window.addEventListener("resize", () => renderFloor());
  await loadPlan();
}
