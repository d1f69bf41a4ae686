// SPDX-License-Identifier: AGPL-3.0-or-later
// Small SVG charts and canvas heat maps, written here so the dashboard needs no library and no CDN.
// Every chart is plain SVG with a <title> per bar (hover shows the value), axis labels with units,
// and data-* attributes that tests and screen readers can read.

import { fmtDuration, h } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";

export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

/** Colours of up to 8 series, distinguishable and readable on white. */
export const PALETTE = ["#1f4e79", "#d9822b", "#2e8b57", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#b7950b"];

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const hourFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFmt = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

function tickLabel(d, bucketS, timeZone) {
  try {
    const opts = bucketS >= 86400 ? { month: "short", day: "numeric" } : { hour: "2-digit", minute: "2-digit" };
    return new Intl.DateTimeFormat(undefined, { ...opts, timeZone }).format(d);
  } catch {
    return bucketS >= 86400 ? dayFmt.format(d) : hourFmt.format(d);
  }
}

/**
 * A grouped bar chart over time buckets.
 * buckets: [Date]; series: [{ name, values: [number|null] }]; format(v) -> text with unit;
 * yLabel: axis title with unit. Returns a <figure> with the SVG and a legend.
 */
export function barChart({
  id,
  title,
  buckets,
  series,
  format = String,
  yLabel = "",
  bucketS = 3600,
  timeZone,
  integer = false,
}) {
  const W = 420;
  const H = 190;
  const left = 46;
  const right = 8;
  const top = 10;
  const bottom = 26;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const all = series.flatMap((x) => x.values).filter((v) => Number.isFinite(v));
  const peak = niceMax(Math.max(integer ? 4 : 0, ...all));
  const max = integer ? Math.ceil(peak / 4) * 4 : peak; // counts: four ticks at whole numbers
  if (!all.some((v) => v > 0)) {
    return h(
      "figure",
      { class: "chart-figure", dataset: { chart: id } },
      h("figcaption", { class: "chart-title" }, title),
      h("p", { class: "empty", dataset: { chart: id, bars: "0" } }, "No data for this period."),
    );
  }
  const n = Math.max(1, buckets.length);
  const slot = plotW / n;
  const barW = Math.max(1, (slot * 0.8) / Math.max(1, series.length));
  const svg = s("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "chart",
    role: "img",
    "aria-label": `${title}: ${series.map((x) => x.name).join(", ")}`,
    "data-chart": id,
    "data-bars": String(all.filter((v) => v > 0).length),
  });
  for (let i = 0; i <= 4; i++) {
    const y = top + plotH - (plotH * i) / 4;
    svg.append(s("line", { x1: left, x2: W - right, y1: y, y2: y, class: "grid" }));
    svg.append(s("text", { x: left - 4, y: y + 4, class: "tick", "text-anchor": "end" }, format((max * i) / 4)));
  }
  const every = Math.max(1, Math.ceil(n / 8));
  buckets.forEach((b, i) => {
    if (i % every === 0) {
      svg.append(
        s(
          "text",
          { x: left + slot * i + slot / 2, y: H - 8, class: "tick", "text-anchor": "middle" },
          tickLabel(b, bucketS, timeZone),
        ),
      );
    }
    series.forEach((ser, j) => {
      const v = ser.values[i];
      if (!Number.isFinite(v) || v <= 0) return;
      const bh = (plotH * v) / max;
      const x = left + slot * i + slot * 0.1 + barW * j;
      svg.append(
        s(
          "rect",
          {
            x,
            y: top + plotH - bh,
            width: barW,
            height: bh,
            fill: ser.colour || PALETTE[j % PALETTE.length],
            "data-value": v,
          },
          s("title", {}, `${ser.name}, ${tickLabel(b, bucketS, timeZone)}: ${format(v)}`),
        ),
      );
    });
  });
  svg.append(s("line", { x1: left, x2: W - right, y1: top + plotH, y2: top + plotH, class: "axis" }));
  const legend = h(
    "ul",
    { class: "legend" },
    series.map((ser, j) => {
      const sw = h("span", { class: "swatch" });
      sw.style.background = ser.colour || PALETTE[j % PALETTE.length];
      return h("li", {}, sw, ser.name);
    }),
  );
  return h(
    "figure",
    { class: "chart-figure", dataset: { chart: id } },
    h(
      "figcaption",
      { class: "chart-title" },
      title,
      yLabel ? h("span", { class: "muted small" }, ` · ${yLabel}`) : null,
    ),
    svg,
    series.length > 1 || series[0]?.name ? legend : null,
  );
}

/** Seconds on a chart axis: "45 s", "2 m 05 s". */
export function fmtSeconds(v) {
  return v === 0 ? "0" : fmtDuration(v, 0);
}

// ------------------------------------------------------------------------------ heat maps

/** Inferno-like colour ramp: dark (little) to bright yellow (most). */
const RAMP = [
  [0, [20, 11, 52]],
  [0.25, [101, 21, 110]],
  [0.5, [188, 55, 84]],
  [0.75, [249, 142, 9]],
  [1, [252, 255, 164]],
];

export function rampColour(t) {
  const x = Math.min(1, Math.max(0, t));
  for (let i = 1; i < RAMP.length; i++) {
    const [t1, c1] = RAMP[i];
    const [t0, c0] = RAMP[i - 1];
    if (x <= t1) {
      const f = (x - t0) / (t1 - t0);
      return c0.map((v, k) => Math.round(v + (c1[k] - v) * f));
    }
  }
  return RAMP[RAMP.length - 1][1];
}

/** A "nice" length for a scale bar of about a fifth of the width (1, 2, 5 × 10^n). */
function scaleLength(width) {
  const target = width / 5;
  const p = 10 ** Math.floor(Math.log10(target));
  return [5, 2, 1].map((m) => m * p).find((v) => v <= target) ?? p;
}

/**
 * A heat map drawn from the API's JSON grid on a canvas, with the zones outlined and named, a
 * colour scale, and a scale bar in metres when the grid is on the calibrated floor.
 * map: the /heatmaps/{camera} JSON; zones: [{ id, name, points }] in the grid's space.
 */
export function heatCanvas(map, zones, { label, background = null, backgroundScale = 1 }) {
  const { grid, values } = map;
  const worldW = grid.nx * grid.cell;
  const worldH = grid.ny * grid.cell;
  const px = Math.max(4, Math.floor(960 / grid.nx));
  const canvas = h("canvas", {
    class: "heat-canvas",
    width: grid.nx * px,
    height: grid.ny * px,
    role: "img",
    "aria-label": label,
    dataset: { camera: map.camera_id, metric: map.metric, zones: String(zones.length), unit: grid.unit },
  });
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#140b34";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const kk = (grid.nx * px) / (grid.nx * grid.cell);
  if (background) {
    // the camera's redacted still (image-space maps: native pixels) or the floor plan's image
    // (floor maps: backgroundScale metres per plan pixel), placed where the grid is
    ctx.drawImage(
      background,
      -grid.x0 * kk,
      -grid.y0 * kk,
      background.naturalWidth * backgroundScale * kk,
      background.naturalHeight * backgroundScale * kk,
    );
    ctx.globalAlpha = 0.7;
    canvas.dataset.background = grid.unit === "m" ? "plan" : "still";
  }
  const max = map.max > 0 ? map.max : 1;
  for (let j = 0; j < grid.ny; j++) {
    for (let i = 0; i < grid.nx; i++) {
      const v = values[j]?.[i] ?? 0;
      if (!(v > 0)) continue;
      const [r, g, b] = rampColour(Math.sqrt(v / max)); // square root: faint paths stay visible
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fillRect(i * px, j * px, px, px);
    }
  }
  ctx.globalAlpha = 1;
  const k = (grid.nx * px) / worldW; // canvas pixels per grid unit
  const toCanvas = ([x, y]) => [(x - grid.x0) * k, (y - grid.y0) * k];
  ctx.lineWidth = 2;
  ctx.font = "bold 14px system-ui, sans-serif";
  for (const z of zones) {
    if (!z.points || z.points.length < 3) continue;
    ctx.strokeStyle = "rgba(255,255,255,0.9)";
    ctx.setLineDash([6, 4]);
    ctx.beginPath();
    z.points.map(toCanvas).forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath();
    ctx.stroke();
    ctx.setLineDash([]);
    const [lx, ly] = toCanvas(z.points[0]);
    const text = z.name || z.id;
    const tw = ctx.measureText(text).width;
    const x = Math.min(Math.max(2, lx + 4), canvas.width - tw - 8);
    const y = Math.min(Math.max(18, ly + 18), canvas.height - 6);
    ctx.fillStyle = "rgba(0,0,0,0.6)";
    ctx.fillRect(x - 3, y - 14, tw + 6, 18);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x, y);
  }
  if (grid.unit === "m") {
    const len = scaleLength(worldW);
    const barPx = len * k;
    const x = 12;
    const y = canvas.height - 14;
    ctx.fillStyle = "rgba(0,0,0,0.6)";
    ctx.fillRect(x - 6, y - 22, barPx + 12, 30);
    ctx.fillStyle = "#fff";
    ctx.fillRect(x, y, barPx, 4);
    ctx.fillText(`${len} m`, x, y - 6);
    canvas.dataset.scale = `${len} m`;
  }
  return canvas;
}

/** The colour scale under a heat map: 0 … max with the unit. */
export function heatLegend(max, unit) {
  const bar = h("span", { class: "heat-ramp" });
  const stops = [0, 0.25, 0.5, 0.75, 1].map((t) => `rgb(${rampColour(Math.sqrt(t)).join(",")}) ${t * 100}%`);
  bar.style.background = `linear-gradient(to right, ${stops.join(", ")})`;
  return h("div", { class: "heat-legend small" }, h("span", {}, "0"), bar, h("span", {}, `${unit(max)}`));
}
