// The local dashboards in headless Chromium: the page served by the live run (scripts/run-local,
// here `python -m oms_pipeline.live --no-feed` on a temporary folder) shows the four views with
// drawn charts, and redraws with new figures after the real pipeline has processed new events.
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
const VIEWS = ["view-orders", "view-sla", "view-inventory", "view-revenue"];
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
    "from oms_pipeline.live.feed import FeedConfig",
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

interface ViewState {
  id: string;
  version: number;
  charts: number[];
}

// Browser-side code is passed as text: this project compiles without the DOM library.
async function viewState(page: Page): Promise<ViewState[]> {
  return page.evaluate<ViewState[]>(`${JSON.stringify(VIEWS)}.map((id) => {
    const section = document.getElementById(id);
    const charts = Array.from(section.querySelectorAll("figure.chart")).map(
      (f) => f.querySelectorAll("svg .bar, svg path.line").length,
    );
    return { id, version: Number(section.dataset.version), charts };
  })`);
}

async function kpi(page: Page, measure: string): Promise<string> {
  return page.locator(`#view-orders .kpi[data-measure="${measure}"] .value`).first().innerText();
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
      ["-m", "oms_pipeline.live", "--root", root, "--port", "0", "--no-feed"].concat([
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

  it("shows the four views with charts and updates as events arrive", async function () {
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
    await page.waitForFunction(
      `${JSON.stringify(VIEWS)}.every((id) => Number(document.getElementById(id).dataset.version) >= 1)`,
      undefined,
      { timeout: CEILING_MS, polling: 1000 },
    );

    const first = await viewState(page);
    for (const view of first) {
      expect(view.charts, `${view.id} charts`).to.have.length(2);
      for (const marks of view.charts)
        expect(marks, `${view.id} has drawn marks`).to.be.greaterThan(0);
    }
    const orders = await kpi(page, "Orders");
    expect(orders).to.match(/^[\d,]+$/);

    // New events land (two more feed batches, with new orders); the page must redraw with a
    // higher order count.
    landFeedBatches(path.join(root, "landing"), 4);
    await page.waitForFunction(
      `(() => {
        const section = document.getElementById("view-orders");
        const value = section.querySelector('.kpi[data-measure="Orders"] .value').textContent;
        return Number(section.dataset.version) > ${first[0].version} && value !== ${JSON.stringify(orders)};
      })()`,
      undefined,
      { timeout: CEILING_MS, polling: 1000 },
    );
    const updated = Number((await kpi(page, "Orders")).replace(/,/g, ""));
    expect(updated).to.be.greaterThan(Number(orders.replace(/,/g, "")));

    fs.mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, "dashboard.png"), fullPage: true });
  });
});
