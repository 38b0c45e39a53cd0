// The local OMS dashboards: polls /api/dashboard and /api/status, draws SVG charts by hand
// (no libraries, works offline). Every KPI and series is a Power BI measure by name.
"use strict";

const NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#2456d6", "#14a38b", "#f2a93b", "#8e5bd8", "#d9534f", "#3aa0e0"];
let measures = {};
let lastVersion = -1;

const fmt = {
  int: (v) => (v == null ? "–" : Math.round(v).toLocaleString("en-US")),
  money: (v) =>
    v == null
      ? "–"
      : Math.abs(v) >= 1e6
        ? "$" + (v / 1e6).toFixed(2) + "M"
        : Math.abs(v) >= 1e4
          ? "$" + (v / 1e3).toFixed(1) + "k"
          : "$" + v.toLocaleString("en-US", { maximumFractionDigits: 2 }),
  pct: (v) => (v == null ? "–" : (v * 100).toFixed(1) + "%"),
  dec: (v) => (v == null ? "–" : v.toFixed(2)),
  short: (v) =>
    v == null
      ? "–"
      : Math.abs(v) >= 1e6
        ? (v / 1e6).toFixed(1) + "M"
        : Math.abs(v) >= 1e3
          ? (v / 1e3).toFixed(1) + "k"
          : String(Math.round(v * 100) / 100),
};
const KPI_FORMAT = {
  Revenue: fmt.money,
  Profit: fmt.money,
  "Average Order Value": fmt.money,
  "On-time % (SLA)": fmt.pct,
  "On-time % (promise)": fmt.pct,
  "Average Lead Time (days)": fmt.dec,
  "P90 Lead Time (days)": fmt.dec,
  "Days of Cover": (v) => (v == null ? "–" : v.toFixed(1)),
};

function el(tag, attrs, parent) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function periodLabel(iso, bucket) {
  if (!iso) return "";
  const d = new Date(iso.endsWith("Z") ? iso : iso + "Z");
  const mon = d.toLocaleString("en-US", { month: "short", timeZone: "UTC" });
  if (bucket === "hour") return `${mon} ${d.getUTCDate()} ${String(d.getUTCHours()).padStart(2, "0")}h`;
  if (bucket === "month") return `${mon} ${d.getUTCFullYear()}`;
  return `${mon} ${d.getUTCDate()}`;
}

function frame(fig, caption) {
  fig.innerHTML = "";
  const cap = document.createElement("figcaption");
  cap.textContent = caption;
  fig.appendChild(cap);
}

function empty(fig, caption) {
  frame(fig, caption);
  const d = document.createElement("div");
  d.className = "empty";
  d.textContent = "No data in Gold yet";
  fig.appendChild(d);
}

// Vertical series chart: columns (kind "bar") or an area line (kind "line").
function seriesChart(fig, caption, points, opts) {
  if (!points || !points.length) return empty(fig, caption);
  frame(fig, caption);
  const W = Math.max(280, fig.clientWidth || 460),
    H = 200,
    L = 44,
    R = 20,
    T = 8,
    B = 26;
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img" }, fig);
  svg.dataset.points = String(points.length);
  const ys = points.map((p) => p.y ?? 0);
  const max = opts.max ?? niceMax(Math.max(...ys));
  const pw = W - L - R,
    ph = H - T - B;
  const x = (i) => L + (points.length === 1 ? pw / 2 : (i * pw) / (points.length - 1));
  const y = (v) => T + ph - (ph * (v ?? 0)) / max;
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    el("line", { class: "grid-line", x1: L, x2: W - R, y1: y(v), y2: y(v) }, svg);
    el("text", { x: L - 6, y: y(v) + 3, "text-anchor": "end" }, svg).textContent = opts.tick(v);
  }
  const labels = Math.max(2, Math.floor((W - 64) / 80));
  const step = Math.max(1, Math.ceil(points.length / labels));
  points.forEach((p, i) => {
    if (i % step === 0) {
      const t = el("text", { x: x(i), y: H - 8, "text-anchor": "middle" }, svg);
      t.textContent = p.label;
    }
  });
  const color = opts.color || PALETTE[0];
  if (opts.kind === "bar") {
    const bw = Math.max(2, Math.min(26, (pw / points.length) * 0.7));
    const xb = (i) => L + ((i + 0.5) * pw) / points.length;
    points.forEach((p, i) => {
      const r = el(
        "rect",
        { class: "bar", x: xb(i) - bw / 2, y: y(p.y), width: bw, height: Math.max(0, y(0) - y(p.y)), rx: 2, fill: color },
        svg,
      );
      el("title", {}, r).textContent = `${p.label}: ${opts.tick(p.y)}`;
    });
    return;
  }
  const d = points.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p.y).toFixed(1)}`).join("");
  const grad = `g${Math.random().toString(36).slice(2, 8)}`;
  const defs = el("defs", {}, svg);
  const lg = el("linearGradient", { id: grad, x1: 0, x2: 0, y1: 0, y2: 1 }, defs);
  el("stop", { offset: "0%", "stop-color": color, "stop-opacity": 0.28 }, lg);
  el("stop", { offset: "100%", "stop-color": color, "stop-opacity": 0.02 }, lg);
  el("path", { d: `${d}L${x(points.length - 1)},${y(0)}L${x(0)},${y(0)}Z`, fill: `url(#${grad})` }, svg);
  el("path", { class: "line", d, fill: "none", stroke: color, "stroke-width": 2.2, "stroke-linejoin": "round" }, svg);
  const last = points.length - 1;
  el("circle", { cx: x(last), cy: y(points[last].y), r: 3.5, fill: color }, svg);
}

// Horizontal bars with value labels.
function barChart(fig, caption, items, opts) {
  if (!items || !items.length) return empty(fig, caption);
  frame(fig, caption);
  const W = Math.max(240, fig.clientWidth || 300),
    rowH = 30,
    L = 92,
    R = 52,
    H = items.length * rowH + 8;
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img" }, fig);
  svg.dataset.points = String(items.length);
  const max = opts.max ?? niceMax(Math.max(...items.map((i) => i.value ?? 0)));
  items.forEach((it, k) => {
    const y0 = 4 + k * rowH;
    el("text", { x: L - 8, y: y0 + rowH / 2 + 3, "text-anchor": "end" }, svg).textContent = it.label;
    el("rect", { x: L, y: y0 + 6, width: W - L - R, height: rowH - 12, rx: 3, fill: "#eef1f6" }, svg);
    const w = Math.max(0, ((W - L - R) * (it.value ?? 0)) / max);
    const r = el("rect", { class: "bar", x: L, y: y0 + 6, width: w, height: rowH - 12, rx: 3, fill: PALETTE[k % PALETTE.length] }, svg);
    el("title", {}, r).textContent = `${it.label}: ${opts.tick(it.value)}`;
    el("text", { class: "bar-label", x: L + w + 5, y: y0 + rowH / 2 + 3 }, svg).textContent = opts.tick(it.value);
  });
}

function kpis(section, values) {
  const box = section.querySelector(".kpis");
  box.innerHTML = "";
  for (const name of box.dataset.kpis.split(",")) {
    const f = KPI_FORMAT[name] || fmt.int;
    const div = document.createElement("div");
    div.className = "kpi";
    div.dataset.measure = name;
    div.title = measures[name] ? `${name} = ${measures[name].dax}` : name;
    div.innerHTML = `<div class="label"></div><div class="value"></div>`;
    div.querySelector(".label").textContent = name;
    div.querySelector(".value").textContent = f(values ? values[name] : null);
    box.appendChild(div);
  }
}

function chart(section, key) {
  return section.querySelector(`[data-chart="${key}"]`);
}

function render(data) {
  measures = data.measures || {};
  const v = data.views || {};
  const b = data.bucket || "day";
  document.querySelectorAll(".bucket").forEach((e) => (e.textContent = `by ${b} of order time`));

  const o = document.getElementById("view-orders");
  kpis(o, v.orders && v.orders.kpis);
  const ot = (v.orders && v.orders.trend) || [];
  seriesChart(chart(o, "orders-trend"), `Orders by ${b}`, ot.map((r) => ({ label: periodLabel(r.period, b), y: r.Orders })), { kind: "bar", tick: fmt.short });
  barChart(chart(o, "orders-segment"), "Orders by segment", ((v.orders && v.orders.by_segment) || []).map((r) => ({ label: r.segment, value: r.Orders })), { tick: fmt.int });

  const s = document.getElementById("view-sla");
  kpis(s, v.sla && v.sla.kpis);
  const st = (v.sla && v.sla.trend) || [];
  seriesChart(chart(s, "sla-trend"), `On-time % (SLA) by ${b}`, st.map((r) => ({ label: periodLabel(r.period, b), y: r["On-time % (SLA)"] })), { kind: "line", max: 1, tick: fmt.pct, color: PALETTE[1] });
  barChart(chart(s, "sla-level"), "On-time % (SLA) by service level", ((v.sla && v.sla.by_service_level) || []).map((r) => ({ label: r.service_level, value: r["On-time % (SLA)"] })), { max: 1, tick: fmt.pct });

  const i = document.getElementById("view-inventory");
  kpis(i, v.inventory && v.inventory.kpis);
  barChart(chart(i, "inv-location"), "Stock On Hand by location", ((v.inventory && v.inventory.by_location) || []).map((r) => ({ label: r.location_id, value: r["Stock On Hand"] })), { tick: fmt.short });
  barChart(chart(i, "inv-category"), "Stock On Hand by category", ((v.inventory && v.inventory.by_category) || []).map((r) => ({ label: r.category, value: r["Stock On Hand"] })), { tick: fmt.short });

  const r = document.getElementById("view-revenue");
  kpis(r, v.revenue && v.revenue.kpis);
  const rt = (v.revenue && v.revenue.trend) || [];
  seriesChart(chart(r, "rev-trend"), `Revenue by ${b}`, rt.map((x) => ({ label: periodLabel(x.period, b), y: x.Revenue })), { kind: "line", tick: fmt.money });
  barChart(chart(r, "rev-category"), "Revenue by category", ((v.revenue && v.revenue.by_category) || []).map((x) => ({ label: x.category, value: x.Revenue })), { tick: fmt.money });

  for (const sec of [o, s, i, r]) sec.dataset.version = String(data.version);
  renderFreshnessLog(data.freshness_log || []);
}

// One row per Gold refresh: the landing -> Gold lag of what it published (ops.gold_freshness).
function renderFreshnessLog(rows) {
  const secs = (v) => (v == null ? "–" : `${v.toFixed(1)} s`);
  document.getElementById("freshness-rows").replaceChildren(
    ...rows.map((r) => {
      const tr = document.createElement("tr");
      const cells = [
        new Date(r.refreshed_at).toLocaleTimeString(),
        fmt.int(r.files),
        fmt.int(r.rows),
        secs(r.min_lag_seconds),
        secs(r.p50_lag_seconds),
        secs(r.p95_lag_seconds),
        secs(r.max_lag_seconds),
      ];
      for (const text of cells) tr.appendChild(document.createElement("td")).textContent = text;
      return tr;
    }),
  );
}

function setText(id, text) {
  document.getElementById(id).textContent = text;
}

function renderStatus(st) {
  const pill = document.getElementById("pill-state");
  pill.classList.toggle("live", st.state === "running");
  pill.querySelector("b").textContent = st.state || "waiting";
  setText("st-rate", st.rate ? `${st.rate} ev/s` : "off");
  const f = st.freshness || {};
  setText("st-p50", f.p50_s == null ? "–" : `${f.p50_s.toFixed(1)} s`);
  setText("st-p95", f.p95_s == null ? "–" : `${f.p95_s.toFixed(1)} s`);
  const c = st.counts || {};
  setText("st-bronze", fmt.int(c.bronze_rows));
  setText("st-gold", fmt.int(c.gold && c.gold.Orders));
  setText("st-quar", fmt.int(c.quarantined_rows));
  renderLandingFiles(st.landing_files);
}

// Every landing file is ingested, pending, skipped (with a reason) or ignored (hidden name).
function renderLandingFiles(lf) {
  // No landing files when events come from Kafka: no file pill either.
  document.getElementById("pill-skipped").hidden = !lf;
  const c = (lf && lf.counts) || {};
  setText("st-skipped", fmt.int(c.skipped));
  const box = document.getElementById("skipped-files");
  const skipped = (lf && lf.skipped) || [];
  box.hidden = skipped.length === 0;
  setText(
    "skipped-summary",
    `${c.landed} landed = ${c.ingested} ingested + ${c.pending} pending + ` +
      `${c.skipped} skipped + ${c.ignored} ignored`,
  );
  const list = document.getElementById("skipped-list");
  list.replaceChildren(
    ...skipped.map((f) => {
      const li = document.createElement("li");
      const code = document.createElement("code");
      code.textContent = f.path;
      li.append(code, ` — ${f.reason}: ${f.detail}`);
      return li;
    }),
  );
}

async function poll() {
  try {
    const [d, s] = await Promise.all([fetch("/api/dashboard"), fetch("/api/status")]);
    const data = await d.json();
    renderStatus(await s.json());
    if (data.version != null && data.version !== lastVersion) {
      render(data);
      lastVersion = data.version;
      setText("st-updated", new Date().toLocaleTimeString());
    }
  } catch (e) {
    const pill = document.getElementById("pill-state");
    pill.classList.remove("live");
    pill.querySelector("b").textContent = "disconnected";
  }
}

render({ views: {}, version: 0 });
poll();
setInterval(poll, 2000);
