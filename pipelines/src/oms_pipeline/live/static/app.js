// The local OMS dashboard: the Power BI report's pages and visuals (read from its PBIR source by
// the server, /api/dashboard) drawn with Chart.js, plus the run's status and Gold freshness log.
// Every value is a measure of the Power BI model, formatted by the measure's TMDL formatString.
"use strict";

/* global Chart */
const PALETTE = ["#2456d6", "#14a38b", "#f2a93b", "#8e5bd8", "#d9534f", "#3aa0e0", "#6b7587"];
let measures = {};
let lastVersion = -1;
const charts = new Map(); // visual name -> Chart instance, updated in place on each new version

const fmt = {
  int: (v) => (v == null ? "–" : Math.round(v).toLocaleString("en-US")),
};

// A value in a measure's TMDL formatString: "#,0", "#,0.00", "0.0", "0.0%", "General Date".
function formatValue(measure, v) {
  if (v == null) return "–";
  const f = (measures[measure] && measures[measure].format) || "#,0.##";
  if (typeof v === "string") return f === "General Date" ? new Date(v).toLocaleString() : v;
  const pct = f.endsWith("%");
  const decimals = f.includes(".") ? f.split(".")[1].replace(/[^0#]/g, "").length : 0;
  const min = f.includes(".") ? f.split(".")[1].replace(/[^0]/g, "").length : 0;
  return (
    (pct ? v * 100 : v).toLocaleString("en-US", {
      minimumFractionDigits: min,
      maximumFractionDigits: decimals,
      useGrouping: f.includes(","),
    }) + (pct ? "%" : "")
  );
}

// Chart.js type and options per PBIR visualType (cards and tables are drawn as HTML).
const CHART_TYPES = {
  lineChart: { type: "line" },
  areaChart: { type: "line", fill: true },
  columnChart: { type: "bar" },
  clusteredColumnChart: { type: "bar" },
  barChart: { type: "bar", horizontal: true },
  clusteredBarChart: { type: "bar", horizontal: true },
  donutChart: { type: "doughnut" },
  pieChart: { type: "pie" },
};

function categoryLabel(row, columns) {
  return columns.map((c) => (row[c.ref] == null ? "(Blank)" : String(row[c.ref]))).join(" · ");
}

function drawChart(fig, visual) {
  const spec = CHART_TYPES[visual.type];
  const labels = visual.rows.map((r) => categoryLabel(r, visual.columns));
  const round = spec.type === "doughnut" || spec.type === "pie";
  const datasets = visual.measures.map((m, i) => ({
    label: m.name,
    data: visual.rows.map((r) => r[m.name]),
    backgroundColor: round ? labels.map((_, k) => PALETTE[k % PALETTE.length]) : PALETTE[i % PALETTE.length],
    borderColor: round ? "#fff" : PALETTE[i % PALETTE.length],
    fill: Boolean(spec.fill),
    tension: 0.25,
  }));
  const existing = charts.get(visual.name);
  if (existing) {
    existing.data.labels = labels;
    existing.data.datasets = datasets;
    existing.update();
    return;
  }
  // Chart.js sizes a responsive chart from a positioned container holding only its canvas.
  const box = document.createElement("div");
  box.className = "canvas-box";
  const canvas = document.createElement("canvas");
  box.appendChild(canvas);
  fig.appendChild(box);
  const axisTitle = visual.columns.map((c) => c.ref).join(", ");
  const first = visual.measures[0].name;
  const whole = !((measures[first] && measures[first].format) || "").includes(".");
  // Whole-number formats get whole-number ticks (no "1, 1, 2" from rounded 0.5 steps).
  const valueAxis = {
    beginAtZero: true,
    ticks: { precision: whole ? 0 : undefined, callback: (v) => formatValue(first, v) },
  };
  const categoryAxis = { title: { display: true, text: axisTitle } };
  charts.set(
    visual.name,
    new Chart(canvas, {
      type: spec.type,
      data: { labels, datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        indexAxis: spec.horizontal ? "y" : "x",
        plugins: {
          legend: { display: true, position: "bottom" },
          tooltip: {
            callbacks: {
              label: (ctx) => `${ctx.dataset.label}: ${formatValue(ctx.dataset.label, ctx.raw)}`,
            },
          },
        },
        scales: round ? {} : spec.horizontal ? { x: valueAxis, y: categoryAxis } : { x: categoryAxis, y: valueAxis },
      },
    }),
  );
}

function drawCard(fig, visual) {
  const row = visual.rows[0] || {};
  fig.querySelectorAll(".kpi").forEach((e) => e.remove());
  for (const m of visual.measures) {
    const div = document.createElement("div");
    div.className = "kpi";
    div.dataset.measure = m.name;
    div.title = measures[m.name] ? `${m.name} = ${measures[m.name].dax}` : m.name;
    div.innerHTML = `<div class="value"></div>`;
    div.querySelector(".value").textContent = formatValue(m.name, row[m.name]);
    fig.appendChild(div);
  }
}

function drawTable(fig, visual) {
  fig.querySelectorAll("table").forEach((e) => e.remove());
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const c of visual.columns) head.appendChild(document.createElement("th")).textContent = c.name;
  for (const m of visual.measures) head.appendChild(document.createElement("th")).textContent = m.name;
  const body = table.createTBody();
  for (const r of visual.rows) {
    const tr = body.insertRow();
    for (const c of visual.columns) tr.insertCell().textContent = r[c.ref] == null ? "(Blank)" : String(r[c.ref]);
    for (const m of visual.measures) tr.insertCell().textContent = formatValue(m.name, r[m.name]);
  }
  fig.appendChild(table);
}

function visualFigure(section, visual) {
  let fig = section.querySelector(`figure[data-visual="${visual.name}"]`);
  if (!fig) {
    fig = document.createElement("figure");
    fig.dataset.visual = visual.name;
    fig.dataset.type = visual.type;
    const kind = visual.type === "card" ? "card" : CHART_TYPES[visual.type] ? "chart" : "table";
    fig.className = `visual ${kind}`;
    const cap = document.createElement("figcaption");
    cap.textContent = visual.title;
    fig.appendChild(cap);
    section.querySelector(`.visuals.${kind === "card" ? "cards" : "charts"}`).appendChild(fig);
  }
  return fig;
}

function pageSection(page) {
  let section = document.querySelector(`section.page[data-page="${page.name}"]`);
  if (!section) {
    section = document.createElement("section");
    section.className = "card page";
    section.dataset.page = page.name;
    section.innerHTML = `<header><h2></h2></header><div class="visuals cards"></div><div class="visuals charts"></div>`;
    section.querySelector("h2").textContent = page.displayName;
    document.getElementById("report").appendChild(section);
  }
  return section;
}

function render(data) {
  measures = data.measures || {};
  for (const page of data.pages || []) {
    const section = pageSection(page);
    for (const visual of page.visuals) {
      const fig = visualFigure(section, visual);
      fig.dataset.rows = String(visual.rows.length);
      fig.classList.toggle("no-data", visual.rows.length === 0);
      if (visual.type === "card") drawCard(fig, visual);
      else if (CHART_TYPES[visual.type]) drawChart(fig, visual);
      else drawTable(fig, visual);
    }
    section.dataset.version = String(data.version);
  }
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

poll();
setInterval(poll, 2000);
