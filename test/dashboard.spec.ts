// The local dashboard in headless Chromium: the page served by the live run (scripts/run-local,
// here `python -m oms_pipeline --no-feed` on a temporary folder) shows every page and every
// visual of the Power BI report (read here from its PBIR source, by name) with data, and redraws
// with new figures after the real pipeline has processed new events.
//
// The test lands a fixed amount of data itself (feed batches written by the project's own feed)
// instead of letting a paced feed run: the pipeline's work is then bounded, and each wait is for
// a condition (Gold caught up, the page redrawn) whose ceiling is only a safety net for a machine
// under load, never a figure the test relies on.
import { expect } from "chai";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { ProcessGroup } from "./process-group";

const repo = path.resolve(__dirname, "..");
const python = path.join(repo, ".venv", "bin", "python");
const chromiumPath = "/usr/bin/chromium";
const artifacts = path.join(repo, "test-artifacts");
const reportPages = path.join(repo, "powerbi", "OmsLakehouse.Report", "definition", "pages");
// The Spark defaults every test's Spark runs with (interpreted expressions; see the file).
const sparkConf = path.join(repo, "pipelines", "tests", "spark-conf");

// Safety nets, not expectations: the waits end as soon as their condition holds.
const CEILING_MS = 20 * 60 * 1000;

interface RunStatus {
  state?: string;
  port?: number;
  dashboard_version?: number;
  pending_in_silver?: number;
  gold_running?: boolean;
  landing_files?: { counts?: { pending?: number } };
}

/** Writes feed batches until `batches` exist in `landing` (the feed resumes from its state file). */
function landFeedBatches(landing: string, batches: number): void {
  const script = [
    "import sys",
    "from oms_pipeline.sources.factory import FeedConfig",
    "from oms_pipeline.live.feeder import Feeder",
    "f = Feeder(sys.argv[1], FeedConfig(seed=7), rate=10, tick_s=3, batches=int(sys.argv[2]),",
    "           until=None, paced=False)",
    "f.run()",
    "if f.error is not None:",
    "    raise f.error",
  ].join("\n");
  const out = spawnSync(python, ["-c", script, landing, String(batches)], {
    cwd: repo,
    encoding: "utf8",
  });
  if (out.status !== 0) throw new Error(`feed failed: ${out.stderr}`);
}

function readStatus(root: string): RunStatus {
  try {
    return JSON.parse(
      fs.readFileSync(path.join(root, "lakehouse", "_run", "status.json"), "utf8"),
    ) as RunStatus;
  } catch {
    return {};
  }
}

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

interface ReportPage {
  name: string;
  displayName: string;
  visuals: { name: string; title: string }[];
}

const readJson = (file: string): unknown => JSON.parse(fs.readFileSync(file, "utf8"));

/** The report's pages and visual titles, straight from the PBIR files (pages.json order). */
function pbirPages(): ReportPage[] {
  const { pageOrder } = readJson(path.join(reportPages, "pages.json")) as { pageOrder: string[] };
  return pageOrder.map((name) => {
    const page = readJson(path.join(reportPages, name, "page.json")) as { displayName: string };
    const dir = path.join(reportPages, name, "visuals");
    const visuals = fs.readdirSync(dir).map((v) => {
      const doc = readJson(path.join(dir, v, "visual.json")) as {
        visual: {
          visualContainerObjects?: {
            title?: { properties: { text?: { expr: { Literal: { Value: string } } } } }[];
          };
        };
      };
      const literal = doc.visual.visualContainerObjects?.title?.[0]?.properties.text?.expr.Literal;
      return { name: v, title: literal ? literal.Value.slice(1, -1) : v };
    });
    return { name, displayName: page.displayName, visuals };
  });
}

interface ShownPage {
  heading: string;
  version: number;
  visuals: Record<string, { title: string; rows: number; drawn: number }>;
}

// Browser-side code is passed as text: this project compiles without the DOM library.
async function shownPages(page: Page): Promise<ShownPage[]> {
  return page.evaluate<ShownPage[]>(`Array.from(document.querySelectorAll("section.page")).map(
    (section) => ({
      heading: section.querySelector("h2").textContent,
      version: Number(section.dataset.version),
      visuals: Object.fromEntries(
        Array.from(section.querySelectorAll("figure[data-visual]")).map((f) => [
          f.dataset.visual,
          {
            title: f.querySelector("figcaption").textContent,
            rows: Number(f.dataset.rows),
            // Drawn marks: a Chart.js canvas with its chart, card values, table rows.
            drawn:
              (f.querySelector("canvas") && Chart.getChart(f.querySelector("canvas")) ? 1 : 0) +
              f.querySelectorAll(".kpi .value").length +
              f.querySelectorAll("tbody tr").length,
          },
        ]),
      ),
    }),
  )`);
}

async function ordersCard(page: Page): Promise<string> {
  return page
    .locator('figure[data-visual="ordersCard"] .kpi[data-measure="Orders"] .value')
    .innerText();
}

describe("local dashboards (headless Chromium)", function () {
  this.timeout(3 * CEILING_MS);
  // The live run is Python with a Spark JVM under it: it runs as its own process group, which
  // is stopped as a whole in `after` and, should mocha be interrupted or exit first, by the
  // group's own exit and signal listeners.
  let run: ProcessGroup | undefined;
  let context: BrowserContext | undefined;
  let root = "";

  before(function () {
    if (!fs.existsSync(python) || !fs.existsSync(chromiumPath)) {
      console.warn("    skipped: run scripts/bootstrap for .venv and /usr/bin/chromium");
      this.skip();
    }
    root = fs.mkdtempSync(path.join(os.tmpdir(), "oms-dashboard-"));
    landFeedBatches(path.join(root, "landing"), 2);
    const log = fs.openSync(path.join(root, "run.log"), "a");
    run = new ProcessGroup(
      python,
      ["-m", "oms_pipeline", "--root", root, "--port", "0", "--no-feed"].concat([
        "--status-every",
        "1",
      ]),
      {
        cwd: repo,
        stdio: ["ignore", log, log],
        env: { ...process.env, TZ: "UTC", SPARK_CONF_DIR: sparkConf },
      },
    );
    fs.closeSync(log); // the child holds its own copy
  });

  after(async function () {
    try {
      await context?.close();
    } finally {
      // SIGINT is the live run's graceful stop; whatever still runs after the grace is killed.
      await run?.stop("SIGINT", 60_000);
    }
  });

  it("shows every page and visual of the PBIR report with data, and updates as events arrive", async function () {
    const caughtUp = (st: RunStatus) =>
      st.port &&
      (st.dashboard_version ?? 0) >= 1 &&
      st.landing_files?.counts?.pending === 0 &&
      st.pending_in_silver === 0 &&
      !st.gold_running;
    const port = await until("the first dashboard data", CEILING_MS, () => {
      const exited = run?.child.exitCode ?? null;
      if (exited !== null) throw new Error(`the live run exited (${exited}); see ${root}/run.log`);
      const st = readStatus(root);
      return caughtUp(st) ? st.port : undefined;
    });
    // A fresh profile directory per run (playwright takes it as the persistent context's dir).
    context = await chromium.launchPersistentContext(
      fs.mkdtempSync(path.join(os.tmpdir(), "oms-chromium-")),
      {
        executablePath: chromiumPath,
        viewport: { width: 1440, height: 1000 },
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
        ],
      },
    );
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    const report = pbirPages();
    expect(report).to.have.length.greaterThan(0);
    await page.waitForFunction(
      `document.querySelectorAll("section.page").length === ${report.length} &&
       Array.from(document.querySelectorAll("section.page")).every((s) => Number(s.dataset.version) >= 1)`,
      undefined,
      { timeout: CEILING_MS, polling: 1000 },
    );

    const shown = await shownPages(page);
    expect(shown.map((p) => p.heading)).to.deep.equal(report.map((p) => p.displayName));
    report.forEach((want, i) => {
      const got = shown[i].visuals;
      expect(Object.keys(got).sort(), `${want.displayName} visuals`).to.deep.equal(
        want.visuals.map((v) => v.name).sort(),
      );
      for (const v of want.visuals) {
        expect(got[v.name].title, `${v.name} title`).to.equal(v.title);
        expect(got[v.name].rows, `${v.name} has data`).to.be.greaterThan(0);
        expect(got[v.name].drawn, `${v.name} is drawn`).to.be.greaterThan(0);
      }
    });
    const orders = await ordersCard(page);
    expect(orders).to.match(/^[\d,]+$/);

    // New events land (two more feed batches, with new orders); the page must redraw with a
    // higher order count.
    landFeedBatches(path.join(root, "landing"), 4);
    await page.waitForFunction(
      `(() => {
        const section = document.querySelector('section.page[data-page="orderTrends"]');
        const value = section.querySelector('figure[data-visual="ordersCard"] .kpi[data-measure="Orders"] .value').textContent;
        return Number(section.dataset.version) > ${shown[0].version} && value !== ${JSON.stringify(orders)};
      })()`,
      undefined,
      { timeout: CEILING_MS, polling: 1000 },
    );
    const updated = Number((await ordersCard(page)).replace(/,/g, ""));
    expect(updated).to.be.greaterThan(Number(orders.replace(/,/g, "")));

    fs.mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, "dashboard.png"), fullPage: true });
  });
});
