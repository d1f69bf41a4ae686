// SPDX-License-Identifier: AGPL-3.0-or-later
// DOM building and formatting. Text from the API only ever becomes text nodes or attribute values
// (never markup): `h()` appends strings as text, and nothing in the dashboard uses innerHTML.

/**
 * h("td", { class: "num", title: "…" }, "text", childNode, [more]) -> HTMLElement.
 * Props: class, text, dataset {…}, on<event> handlers (functions only), other attributes by name.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset") for (const [k, v] of Object.entries(value)) el.dataset[k] = String(v);
    else if (key.startsWith("on")) {
      // handlers are functions only: an on* attribute would be inline script (and blocked by the CSP)
      if (typeof value !== "function") throw new TypeError(`h(): ${key} must be a function`);
      el.addEventListener(key.slice(2), value);
    } else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace an element's children (nodes or strings). */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

const SVG = "http://www.w3.org/2000/svg";

/**
 * svg("circle", { class: "handle", cx: 3, dataset: {…}, text: "…" }, child) -> SVGElement: the editor's
 * and calibration's drawings (null/undefined/false attributes and falsy children are left out).
 */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "dataset") for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv);
    else if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c) el.append(c);
  return el;
}

/** The point under a mouse event in the viewBox units of the SVG element ``el`` (null: not laid out). */
export function svgPoint(el, evt) {
  const pt = el.createSVGPoint();
  pt.x = evt.clientX;
  pt.y = evt.clientY;
  const m = el.getScreenCTM();
  if (!m) return null;
  return pt.matrixTransform(m.inverse());
}

export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`dashboard markup lacks #${id}`);
  return el;
}

// ------------------------------------------------------------------------------ formatting

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

export function parseTime(value) {
  if (!value) return null;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Clock time for today's times, date and time otherwise. */
export function fmtTime(value) {
  const d = parseTime(value);
  if (!d) return "—";
  const now = new Date();
  return d.toDateString() === now.toDateString() ? timeFmt.format(d) : dateTimeFmt.format(d);
}

/** "12 s ago", "in 3 s" (file sources replayed faster than real time stamp frames ahead). */
export function fmtAgo(value, now = Date.now()) {
  const d = parseTime(value);
  if (!d) return "never";
  const s = Math.round((now - d.getTime()) / 1000);
  if (Math.abs(s) < 2) return "just now";
  const text = fmtDuration(Math.abs(s), 0);
  return s > 0 ? `${text} ago` : `in ${text}`;
}

/** Seconds as "8.4 s", "3 m 05 s", "2 h 10 m". */
export function fmtDuration(seconds, digits = 1) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? digits : 0)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} m ${String(Math.round(seconds % 60)).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} m`;
}

export function fmtInt(n) {
  return Number.isFinite(n) ? Math.round(n).toLocaleString() : "—";
}

export function fmtNumber(n, digits = 1) {
  return Number.isFinite(n) ? n.toFixed(digits) : "—";
}

/** Linear-interpolated percentile (numpy's default) of a sorted array; null when empty. */
export function percentile(sorted, p) {
  if (!sorted.length) return null;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

/** A stable colour per id, so a shopper keeps their colour from frame to frame. */
export function colourFor(id) {
  let hash = 2166136261;
  for (const ch of String(id)) hash = Math.imul(hash ^ ch.charCodeAt(0), 16777619);
  return `hsl(${(hash >>> 0) % 360} 75% 45%)`;
}
