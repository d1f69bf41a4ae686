// SPDX-License-Identifier: AGPL-3.0-or-later
// Floor zones in the editor: polygons in metres drawn on the floor plan (space: floor).
//
// A floor zone belongs to no camera: every calibrated camera maps feet onto the floor and tests
// them against it, so one zone spans the cameras that see it. With the "Floor zone" tool a click on
// the plan adds a corner and a click on the first corner (or Enter) closes the zone. The plan's
// drawing is calibration.js's (its viewBox is the plan in metres, so a click is a position in
// metres); this module keeps the zones in ``cal.floorZones``, lists them, and saves all of them in
// one request (PUT /floor-plan/zones). The API answers every problem at its place (loc ["body",
// "zones", 0, "points", 2]): each is shown on its zone, in the list and on the plan, and nothing
// is saved until all are fixed.

import { api, ApiError } from "./api.js";
import { cal, renderFloor, toFloor } from "./calibration.js";
import { byId, h, replace } from "./dom.js";

const ZONE_KINDS = ["entrance", "aisle", "shelf", "display", "checkout", "queue", "staff_only", "other"];
const CLOSE_M = 0.3; // a click this close (metres) to the first corner closes the zone

const fz = { general: [], canSave: true };

function nextId() {
  const used = new Set(cal.floorZones.map((z) => z.id));
  for (let n = 1; ; n++) if (!used.has(`floor-zone-${n}`)) return `floor-zone-${n}`;
}

function changed() {
  cal.floorErrors.clear();
  fz.general = [];
  byId("fz-result").hidden = true;
  render();
}

function render() {
  renderFloor();
  renderList();
}

function field(label, input) {
  return h("label", { class: "field" }, h("span", { class: "small muted" }, label), input);
}

function zoneItem(z, i) {
  const errs = cal.floorErrors.get(i) || [];
  const kind = h("select", { name: "kind", onchange: (e) => ((z.kind = e.target.value), renderFloor()) });
  for (const k of ZONE_KINDS) kind.append(h("option", { value: k, selected: k === (z.kind || "other") }, k.replace("_", " ")));
  return h(
    "li",
    { class: errs.length ? "shape invalid" : "shape", dataset: { zone: z.id, index: i } },
    h(
      "div",
      { class: "shape-head" },
      h("strong", {}, `Floor zone · ${z.points.length} corners`),
      h(
        "button",
        {
          type: "button",
          class: "ghost small danger",
          "aria-label": `Delete ${z.id}`,
          onclick: () => {
            cal.floorZones.splice(i, 1);
            changed();
          },
        },
        "Delete",
      ),
    ),
    h(
      "div",
      { class: "shape-fields" },
      field("Id", h("input", { name: "id", maxlength: 64, value: z.id, oninput: (e) => (z.id = e.target.value) })),
      field(
        "Name",
        h("input", { name: "name", maxlength: 128, value: z.name ?? "", oninput: (e) => (z.name = e.target.value || null) }),
      ),
      field("Kind", kind),
    ),
    errs.length
      ? h("ul", { class: "shape-errors", role: "alert" }, errs.map((e) => h("li", {}, e.field ? `${e.field}: ${e.msg}` : e.msg)))
      : null,
  );
}

function renderList() {
  const items = cal.floorZones.map(zoneItem);
  if (!items.length) items.push(h("li", { class: "empty" }, "No floor zones yet: click the plan to draw one."));
  replace(byId("floor-zones"), items);
  const box = byId("fz-errors");
  box.hidden = !fz.general.length;
  replace(box, fz.general.length ? h("ul", {}, fz.general.map((m) => h("li", {}, m))) : null);
}

/** Close the zone being drawn (3 corners or more). */
export function finishFloorZone() {
  if (cal.floorDraft.length < 3) return;
  cal.floorZones.push({ id: nextId(), name: null, kind: "other", space: "floor", points: cal.floorDraft });
  cal.floorDraft = [];
  cal.floorPointer = null;
  changed();
}

export function cancelFloorZone() {
  cal.floorDraft = [];
  cal.floorPointer = null;
  renderFloor();
}

function onClick(evt) {
  const p = toFloor(evt);
  if (!p) return;
  if (cal.floorDraft.length >= 3) {
    const [fx, fy] = cal.floorDraft[0];
    if (Math.hypot(p[0] - fx, p[1] - fy) <= CLOSE_M) {
      finishFloorZone();
      return;
    }
  }
  cal.floorDraft.push(p);
  renderFloor();
}

function placeErrors(detail) {
  cal.floorErrors.clear();
  fz.general = [];
  for (const d of Array.isArray(detail) ? detail : [{ msg: String(detail) }]) {
    const loc = Array.isArray(d.loc) ? d.loc.filter((x) => x !== "body") : [];
    const [kind, index, name, sub] = loc;
    const msg = String(d.msg).replace(/^Value error, /, "");
    if (kind === "zones" && Number.isInteger(index) && cal.floorZones[index]) {
      const point = name === "points" && Number.isInteger(sub) ? sub : null;
      const fieldName = point !== null ? `corner ${point + 1}` : (name ?? null);
      const list = cal.floorErrors.get(index) || [];
      list.push({ field: fieldName, msg, point });
      cal.floorErrors.set(index, list);
    } else {
      fz.general.push(msg);
    }
  }
}

function adopt(body) {
  cal.floorZones = body.zones.map((z) => ({ ...z, points: z.points.map((p) => [...p]) }));
  cal.floorErrors.clear();
  fz.general = [];
}

async function save() {
  const button = byId("fz-save");
  button.disabled = true;
  document.body.dataset.fzSaved = "pending";
  byId("fz-result").hidden = true;
  try {
    const saved = await api("/floor-plan/zones", { method: "PUT", body: { zones: cal.floorZones } });
    adopt(saved);
    const result = byId("fz-result");
    result.textContent = saved.message || "Saved.";
    result.hidden = false;
    document.body.dataset.fzSaved = "ok";
  } catch (err) {
    if (err instanceof ApiError && (err.status === 422 || err.status === 409)) {
      placeErrors(err.body && err.body.detail !== undefined ? err.body.detail : err.detail);
    } else {
      fz.general = [`Not saved: ${err.message}`];
    }
    document.body.dataset.fzSaved = "error";
  } finally {
    button.disabled = !fz.canSave;
    render();
  }
}

/** Load the floor zones and wire the tool; ``tool`` tells which tool is active. */
export async function initFloorZones({ tool, canSave }) {
  fz.canSave = canSave;
  const floor = byId("floor");
  floor.addEventListener("click", (e) => tool() === "floor-zone" && onClick(e));
  floor.addEventListener("pointermove", (e) => {
    if (tool() !== "floor-zone" || !cal.floorDraft.length) return;
    cal.floorPointer = toFloor(e);
    renderFloor();
  });
  byId("fz-save").addEventListener("click", save);
  byId("fz-save").disabled = !canSave;
  try {
    adopt(await api("/floor-plan/zones"));
  } catch (err) {
    cal.floorZones = []; // no access to every camera: floor zones are not shown
    if (!(err instanceof ApiError && err.status === 404)) fz.general = [`Cannot load the floor zones: ${err.message}`];
  }
  render();
}
