// SPDX-License-Identifier: AGPL-3.0-or-later
// The KPI panel (issue 20): funnel, buying units, queue service levels and promotion experiments of
// the last 7 store days, and the footfall forecast with its staffing plan for the next 7, read from
// /api/v1/kpis/*. Kept in its own module so the main dashboard (app.js) only needs the
// panel's <section> and this script tag; it loads on start and again on the Refresh button.
// A number the store does not measure (no storefront line, no POS) shows as "not measured" with
// the server's reason as a tooltip, never as 0. The layout-change view compares a zone's visits a
// day before and after a change against a control zone, for the zones and day the user picks.

import { api, csrfToken, query } from "./api.js";
import { byId, h, replace } from "./dom.js";

const DAYS = 7;

function pct(v) {
  return v === null || v === undefined ? null : `${(v * 100).toFixed(1)} %`;
}

function cell(value, note) {
  if (value === null || value === undefined) {
    return h("td", { class: "muted", title: note || "not measured" }, "not measured");
  }
  return h("td", {}, String(value));
}

function row(label, value, note) {
  return h("tr", {}, h("th", { scope: "row" }, label), cell(value, note));
}

function table(caption, rows) {
  return h("table", { class: "kpi-table" }, h("caption", {}, caption), h("tbody", {}, ...rows));
}

function funnelTable(f) {
  const t = f.totals;
  const n = t.notes || {};
  return table("Funnel", [
    row("Passers-by", t.passers_by, n.passers_by),
    row("Entries", t.entries),
    row("Capture rate", pct(t.capture_rate), n.capture_rate),
    row("Engaged", t.engaged),
    row("Buyers", t.buyers, n.buyers),
    row("Conversion", pct(t.conversion), n.conversion),
    row("Sales per visitor", t.sales_per_visitor === null ? null : t.sales_per_visitor.toFixed(2), n.sales_per_visitor),
  ]);
}

function unitsTable(u) {
  const t = u.totals;
  const n = t.notes || {};
  return table("Buying units", [
    row("People (raw)", t.people),
    row("Children", t.children, n.children),
    row("Buying units", t.units, n.units),
    row("People per unit", t.people_per_unit === null ? null : t.people_per_unit.toFixed(2)),
    row("Conversion per person", pct(t.raw_conversion), n.raw_conversion),
    row("Conversion per unit", pct(t.unit_conversion), n.unit_conversion),
  ]);
}

function queuesTable(q) {
  if (!q.queues.length) {
    return h("p", { class: "empty" }, q.notes?.queues || "No queue configured.");
  }
  return table(
    "Queues",
    q.queues.map((it) => {
      const t = it.totals;
      const target = `${Math.round(it.sla_share * 100)} % within ${Math.round(it.sla_wait_s / 60)} min`;
      const level = pct(t.service_level);
      const verdict = t.target_met === null ? "" : t.target_met ? " (met)" : " (missed)";
      return h(
        "tr",
        {},
        h("th", { scope: "row" }, `${it.queue_zone} → ${it.checkout_zone}`),
        cell(level === null ? null : `${level}${verdict} of ${target}`, t.notes?.service_level),
        cell(t.median_wait_s === null ? null : `median wait ${Math.round(t.median_wait_s)} s`, "nobody served"),
        cell(`${t.abandoned} abandoned, ${it.alerts.raised || 0} register alerts`),
      );
    }),
  );
}

const DAY_FMT = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short" });

/** Forecast entries and staff-hours per day (local days of the browser) for the next 7 days. */
function forecastTable(fc, st, target, onTarget) {
  const n = fc.notes || {};
  if (!fc.hours.length) {
    return h("p", { class: "empty" }, `Forecast: ${n.forecast || "not measured"}`);
  }
  const naive = fc.backtest.find((b) => b.method === "seasonal_naive");
  const used = fc.backtest.find((b) => b.method === fc.method);
  const vs =
    used && naive && used.mase !== null
      ? `${fc.method}, MAE ${used.mae.toFixed(2)} vs seasonal-naive ${naive.mae.toFixed(2)} (MASE ${used.mase.toFixed(2)})`
      : `${fc.method} (${n.backtest || "no backtest"})`;
  const days = new Map();
  for (const [i, hr] of fc.hours.entries()) {
    const key = DAY_FMT.format(new Date(hr.start));
    const d = days.get(key) || { entries: 0, staff: 0 };
    d.entries += hr.forecast;
    d.staff += st && st.hours[i] ? st.hours[i].staff : 0;
    days.set(key, d);
  }
  const input = h("input", {
    type: "number",
    min: "1",
    max: "1000",
    step: "1",
    value: String(target),
    "aria-label": "Shoppers per staff member",
    onchange: (e) => onTarget(Number(e.target.value)),
  });
  return h(
    "table",
    { class: "kpi-table" },
    h("caption", {}, "Forecast, next 7 days"),
    h(
      "tbody",
      {},
      h("tr", {}, h("th", { scope: "row" }, "Method"), h("td", { colspan: "2" }, vs)),
      h("tr", {}, h("th", { scope: "row" }, "Shoppers per staff"), h("td", { colspan: "2" }, input)),
      h("tr", {}, h("th", {}, "Day"), h("th", {}, "Entries"), h("th", {}, "Staff-hours")),
      [...days].map(([day, d]) =>
        h("tr", {}, h("th", { scope: "row" }, day), h("td", {}, d.entries.toFixed(0)), cell(st && st.hours.length ? d.staff : null, st?.notes?.staff)),
      ),
      h("tr", {}, h("th", { scope: "row" }, "Anomalous hours last week"), cell(fc.anomalies ? fc.anomalies.length : null, n.anomalies)),
    ),
  );
}

function signed(v, digits, unit) {
  return v === null || v === undefined ? null : `${v >= 0 ? "+" : ""}${v.toFixed(digits)}${unit}`;
}

/** Promotion uplift against the randomised hold-out, with the interval and the verdict. */
function experimentsTable(ex) {
  if (!ex.items.length) {
    return h(
      "p",
      { class: "empty" },
      "Experiments: not measured: no promotion triggers in these 7 days (a hold-out needs actions.promotions.holdout_share).",
    );
  }
  return table(
    "Experiments (treated vs hold-out)",
    ex.items.map((it) => {
      const ci =
        it.conversion_low === null ? "" : ` [${signed(it.conversion_low * 100, 1, "")}, ${signed(it.conversion_high * 100, 1, "")}] pp`;
      const up = it.conversion_uplift === null ? null : `${signed(it.conversion_uplift * 100, 1, " pp")}${ci}, ${it.conversion_verdict}`;
      return h(
        "tr",
        {},
        h("th", { scope: "row" }, it.rule),
        cell(up, it.notes?.conversion_uplift),
        cell(`${it.treated.n} treated / ${it.holdout.n} hold-out`),
      );
    }),
  );
}

// days compared on each side of the change by default (the route allows 400 days in all)
const layoutInput = { zone: "", control: "", day: "", days: 28 }; // kept across refreshes

function fixed(v, digits = 1) {
  return v === null || v === undefined ? null : v.toFixed(digits);
}

/** The /kpis/layout-change answer: before/after per day, the effect with its interval, the verdict. */
function layoutResult(r) {
  const n = r.notes || {};
  const ci = r.effect_low === null ? "" : ` [${signed(r.effect_low, 1, "")}, ${signed(r.effect_high, 1, "")}]`;
  const effect = r.effect === null ? null : `${signed(r.effect, 1, " visits/day")}${ci}, ${r.verdict}`;
  const beforeAfter = (a, b) => (a === null || b === null ? null : `${fixed(a)} → ${fixed(b)}`);
  return table(`Layout change: ${r.zone} against ${r.control}`, [
    row("Days before / after", `${r.days_before} / ${r.days_after}`),
    row(`${r.zone} visits a day`, beforeAfter(r.zone_before, r.zone_after), n.zone_before || r.verdict),
    row(`${r.control} visits a day (control)`, beforeAfter(r.control_before, r.control_after), n.control_before || r.verdict),
    row("Effect of the change", effect, n.effect || r.verdict),
    row("Relative to before", r.relative === null ? null : signed(r.relative * 100, 1, " %"), n.relative || r.verdict),
  ]);
}

/** Zone, control zone and day inputs; "not measured" until all three are chosen. */
function layoutView(zones, until) {
  const result = h("div", { class: "kpi-layout-result" });
  const ids = zones.map((z) => z.zone_id);
  const select = (key, label) =>
    h(
      "select",
      { "aria-label": label, onchange: (e) => (layoutInput[key] = e.target.value) },
      h("option", { value: "" }, `${label}…`),
      ids.map((id) => h("option", { value: id, selected: layoutInput[key] === id }, id)),
    );
  const day = h("input", {
    type: "date",
    value: layoutInput.day,
    "aria-label": "Day of the change",
    onchange: (e) => (layoutInput.day = e.target.value),
  });
  const span = h("input", {
    type: "number",
    min: "2",
    max: "180",
    step: "1",
    value: String(layoutInput.days),
    "aria-label": "Days compared on each side",
    onchange: (e) => (layoutInput.days = Math.min(180, Math.max(2, Math.round(Number(e.target.value)) || 28))),
  });
  const show = async () => {
    const { zone, control } = layoutInput;
    if (!zone || !control || !layoutInput.day) {
      replace(
        result,
        h("p", { class: "empty" }, "Layout change: not measured: choose the changed zone, a control zone and the day of the change."),
      );
      return;
    }
    const changeAt = new Date(`${layoutInput.day}T12:00:00`); // midday: the store day of the change
    if (Number.isNaN(changeAt.getTime())) {
      replace(result, h("p", { class: "empty" }, "Layout change: not measured: the day is not a date."));
      return;
    }
    const from = new Date(changeAt.getTime() - layoutInput.days * 86400_000);
    from.setHours(0, 0, 0, 0);
    const to = new Date(Math.min(until.getTime(), changeAt.getTime() + (layoutInput.days + 1) * 86400_000));
    try {
      const q = query({ zone, control, change_at: changeAt.toISOString(), from: from.toISOString(), to: to.toISOString() });
      replace(result, layoutResult(await api(`/kpis/layout-change${q}`)));
    } catch (err) {
      replace(result, h("p", { class: "empty" }, `Layout change: not measured: ${err.detail || String(err)}`));
    }
  };
  const form = h(
    "form",
    {
      class: "kpi-layout-form",
      "aria-label": "Layout change",
      onsubmit: (e) => {
        e.preventDefault();
        show();
      },
    },
    h("span", {}, "Layout change:"),
    select("zone", "Changed zone"),
    select("control", "Control zone"),
    day,
    span,
    h("span", {}, "days each side"),
    h("button", { type: "submit" }, "Compare"),
  );
  show();
  return h("div", { class: "kpi-layout" }, form, result);
}

let staffTarget = 10;

/** Why this user may not read the store-wide KPIs (asking anyway would put a 403 in the console). */
async function notPermitted() {
  if (!csrfToken()) return null; // no session: the service runs without login
  const me = await api("/auth/me");
  if (me.role === "viewer") return "KPIs need the analyst role.";
  if (me.cameras && me.cameras.length) return "KPIs mix every camera: they need access to the whole store.";
  return null;
}

export async function refreshKpis() {
  const box = byId("kpis");
  if (!box) return;
  let why = null;
  try {
    why = await notPermitted();
  } catch (err) {
    why = String(err);
  }
  if (why) {
    replace(box, h("p", { class: "empty" }, why));
    return;
  }
  const to = new Date();
  to.setMinutes(0, 0, 0);
  to.setHours(to.getHours() + 1);
  const from = new Date(to.getTime() - DAYS * 86400_000);
  const q = query({ from: from.toISOString(), to: to.toISOString(), granularity: "day" });
  const hist = query({ to: to.toISOString() }); // 8 weeks of history up to this hour
  try {
    const [f, u, qs, ex, fc] = await Promise.all([
      api(`/kpis/funnel${q}`),
      api(`/kpis/buying-units${q}`),
      api(`/kpis/queues${q}`),
      api(`/kpis/experiments${query({ from: from.toISOString(), to: to.toISOString() })}`),
      api(`/kpis/forecast${hist}`),
    ]);
    const staffing = (target) =>
      fc.hours.length ? api(`/kpis/staffing${query({ to: to.toISOString(), shoppers_per_staff: target })}`).catch(() => null) : null;
    const render = async (target) => {
      staffTarget = target > 0 ? target : staffTarget;
      const st = await staffing(staffTarget);
      replace(
        box,
        funnelTable(f),
        unitsTable(u),
        queuesTable(qs),
        forecastTable(fc, st, staffTarget, render),
        experimentsTable(ex),
        layoutView(f.zones, to),
      );
    };
    await render(staffTarget);
  } catch (err) {
    // a principal limited to some cameras may not see store-wide KPIs (403): say so, quietly
    replace(box, h("p", { class: "empty" }, err.status === 403 ? "KPIs need access to the whole store." : String(err)));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  refreshKpis();
  byId("refresh")?.addEventListener("click", () => refreshKpis());
});
