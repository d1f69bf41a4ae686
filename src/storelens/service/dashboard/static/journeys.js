// SPDX-License-Identifier: AGPL-3.0-or-later
// The journeys panel (issue 18): where shoppers walk from zone to zone across the whole store, drawn
// as a flow picture (Sankey-style: zones as bars in columns, one band per zone-to-zone flow, as wide
// as its count) from /api/v1/journeys/flows, with the first zone after the entrance and the last zone
// before the till. Plain SVG built here (no library, no CDN); text from the API only becomes text
// nodes. A store with fewer than two calibrated cameras has no store-level journeys: the panel says so.

import { api, csrfToken, query } from "./api.js";
import { PALETTE, s } from "./charts.js";
import { byId, h, replace } from "./dom.js";

const DAYS = 7;
const W = 640;
const H = 240;
const BACK = 36; // room below the columns for the arcs of back-flows
const NODE_W = 12;
const PAD = 8;

/** Column of each zone: how far into a journey it usually comes (mean step index, by flow count). */
function columns(flows) {
  const zones = new Set(flows.flatMap((f) => [f.from_zone, f.to_zone]));
  const incoming = new Map([...zones].map((z) => [z, 0]));
  for (const f of flows) incoming.set(f.to_zone, incoming.get(f.to_zone) + f.count);
  // longest forward path from the zones nobody walks into (the entrances), ignoring back-flows
  const col = new Map();
  const starts = [...zones].filter((z) => incoming.get(z) === 0);
  const frontier = starts.length ? starts : [flows[0].from_zone];
  for (const z of frontier) col.set(z, 0);
  for (let round = 0; round < zones.size; round += 1) {
    for (const f of flows) {
      if (!col.has(f.from_zone)) continue;
      const next = col.get(f.from_zone) + 1;
      if (!col.has(f.to_zone) || (col.get(f.to_zone) < next && next < zones.size)) {
        // a cycle would push columns for ever: a zone moves right only while a bigger flow leads there
        const forward = flows.find((g) => g.from_zone === f.to_zone && g.to_zone === f.from_zone);
        if (!col.has(f.to_zone) || !forward || f.count >= forward.count) col.set(f.to_zone, next);
      }
    }
  }
  for (const z of zones) if (!col.has(z)) col.set(z, 0);
  return col;
}

/** The flow picture: an <svg> with one <path class="flow"> per flow (data-from/-to/-count). */
export function flowChart(flows) {
  const col = columns(flows);
  const nCols = Math.max(...col.values()) + 1;
  const through = new Map();
  for (const f of flows) {
    for (const [z, side] of [
      [f.from_zone, "out"],
      [f.to_zone, "in"],
    ]) {
      const t = through.get(z) || { in: 0, out: 0 };
      t[side] += f.count;
      through.set(z, t);
    }
  }
  const size = (z) => Math.max(through.get(z).in, through.get(z).out);
  const byCol = [...Array(nCols)].map(() => []);
  for (const [z, c] of col) byCol[c].push(z);
  for (const list of byCol) list.sort((a, b) => size(b) - size(a) || a.localeCompare(b));
  const biggest = Math.max(...byCol.map((list) => list.reduce((n, z) => n + size(z), 0)));
  const maxZones = Math.max(...byCol.map((list) => list.length));
  const scale = (H - 40 - PAD * maxZones) / Math.max(biggest, 1);
  const x = (c) => 10 + (c * (W - 120 - NODE_W)) / Math.max(nCols - 1, 1);
  const pos = new Map();
  for (const [c, list] of byCol.entries()) {
    let y = 20;
    for (const z of list) {
      const hgt = Math.max(size(z) * scale, 2);
      pos.set(z, { x: x(c), y, h: hgt, outY: y, inY: y });
      y += hgt + PAD;
    }
  }
  const colour = new Map([...col.keys()].sort().map((z, i) => [z, PALETTE[i % PALETTE.length]]));
  const svg = s("svg", {
    class: "flow-chart",
    viewBox: `0 0 ${W} ${H + BACK}`,
    role: "img",
    "aria-label": "Zone-to-zone flows of store visits",
  });
  const sorted = [...flows].sort((a, b) => col.get(a.from_zone) - col.get(b.from_zone) || b.count - a.count);
  for (const f of sorted) {
    const a = pos.get(f.from_zone);
    const b = pos.get(f.to_zone);
    const w = Math.max(f.count * scale, 1);
    const y0 = a.outY + w / 2;
    const y1 = b.inY + w / 2;
    a.outY += w;
    b.inY += w;
    const x0 = a.x + NODE_W;
    const x1 = b.x;
    const back = x1 <= x0; // a flow back to an earlier column: a fainter arc below the columns
    const d = back
      ? `M${x0},${y0} C${x0 + 40},${H + BACK} ${x1 - 40},${H + BACK} ${x1},${y1}`
      : `M${x0},${y0} C${(x0 + x1) / 2},${y0} ${(x0 + x1) / 2},${y1} ${x1},${y1}`;
    svg.append(
      s(
        "path",
        {
          class: back ? "flow back" : "flow",
          d,
          fill: "none",
          stroke: colour.get(f.from_zone),
          "stroke-opacity": back ? 0.25 : 0.45,
          "stroke-width": w,
          "data-from": f.from_zone,
          "data-to": f.to_zone,
          "data-count": f.count,
        },
        s("title", {}, `${f.from_zone} → ${f.to_zone}: ${f.count}`),
      ),
    );
  }
  for (const [z, p] of pos) {
    svg.append(
      s(
        "rect",
        { class: "zone", x: p.x, y: p.y, width: NODE_W, height: p.h, fill: colour.get(z), "data-zone": z },
        s("title", {}, `${z}: ${size(z)}`),
      ),
      s("text", { x: p.x + NODE_W + 4, y: p.y + Math.min(p.h / 2, 12) + 4, class: "zone-label" }, z),
    );
  }
  return svg;
}

function counts(caption, rows) {
  const body = rows.length
    ? rows.slice(0, 5).map((r) => h("tr", {}, h("th", { scope: "row" }, r.zone_id), h("td", {}, String(r.count))))
    : [h("tr", {}, h("td", { class: "muted", colspan: 2 }, "none"))];
  return h("table", { class: "kpi-table" }, h("caption", {}, caption), h("tbody", {}, ...body));
}

export async function refreshJourneys() {
  const box = byId("journeys");
  if (csrfToken()) {
    const me = await api("/auth/me").catch(() => null);
    if (me?.cameras?.length) {
      replace(box, h("p", { class: "empty" }, "Journeys mix every camera: they need access to the whole store."));
      return;
    }
  }
  const to = new Date();
  to.setMinutes(0, 0, 0);
  to.setHours(to.getHours() + 1);
  const from = new Date(to.getTime() - DAYS * 86400_000);
  try {
    const f = await api(`/journeys/flows${query({ from: from.toISOString(), to: to.toISOString(), top: 40 })}`);
    if (!f.flows.length) {
      const why = f.visits
        ? "No store visit went from one zone to another in this period."
        : "No store-level journeys: they need two or more calibrated cameras and floor zones.";
      replace(box, h("p", { class: "empty" }, why));
      return;
    }
    replace(
      box,
      h("p", { class: "muted small" }, `${f.visits} store visits, ${f.reached_till} reached a till`),
      flowChart(f.flows),
      h(
        "div",
        { class: "journey-counts" },
        counts("First zone after entry", f.first_zone),
        counts("Last zone before the till", f.last_before_till),
      ),
    );
  } catch (err) {
    const why = err.status === 403 ? "Journeys need access to the whole store." : String(err);
    replace(box, h("p", { class: "empty" }, why));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  refreshJourneys();
  byId("refresh")?.addEventListener("click", () => refreshJourneys());
});
