/**
 * The freshness alerts per stack: the query is the pipeline package's own rendering (the text its
 * tests run on embedded Spark), with the stack's objective, on the stack's warehouse, notifying
 * the jobs' recipients.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { expect } from "chai";
import { recorder, RecordedResource } from "../scripts/plan/recorder";
import { loadStackConfig, PROJECT, promiseOf, ROOT, runProgram } from "../scripts/plan/harness";
import {
  freshnessAlertMinutes,
  FRESHNESS_LOG,
  freshnessAlertSql,
  freshnessLogContract,
} from "../components/freshnessAlert";
import { manifestFile, readPipelineManifest } from "../components/pipelineManifest";

const FRESHNESS_TABLE = FRESHNESS_LOG.name;

const PYTHON = path.join(ROOT, ".venv", "bin", "python");
const ALERT = "databricks:index/alertV2:AlertV2";
const TABLE = "databricks:index/sqlTable:SqlTable";

/** The freshness log's columns as the pipeline package reads its contract. */
function packageColumns(): unknown[] {
  const script = [
    "import json, sys",
    "from oms_pipeline.contracts.ops import FRESHNESS_COLUMNS",
    "cols = [dict(name=c.name, type=c.type, comment=c.description, nullable=c.nullable)",
    "        for c in FRESHNESS_COLUMNS]",
    "sys.stdout.write(json.dumps(cols))",
  ].join("\n");
  const run = spawnSync(PYTHON, ["-c", script], { encoding: "utf8" });
  expect(run.status, run.stderr).to.equal(0);
  return JSON.parse(run.stdout) as unknown[];
}

/** The package's rendering of the alert query (`oms_pipeline.contracts.ops`). */
function packageSql(table: string, objective: number): string {
  if (!fs.existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: run scripts/bootstrap`);
  const script = [
    "import sys",
    "from oms_pipeline.contracts.ops import FRESHNESS_TABLE, freshness_alert_sql",
    "assert FRESHNESS_TABLE == sys.argv[3], (FRESHNESS_TABLE, sys.argv[3])",
    "sys.stdout.write(freshness_alert_sql(sys.argv[1], int(sys.argv[2])))",
  ].join("\n");
  const run = spawnSync(PYTHON, ["-c", script, table, String(objective), FRESHNESS_TABLE], {
    encoding: "utf8",
  });
  expect(run.status, run.stderr).to.equal(0);
  return run.stdout;
}

interface AlertInputs {
  displayName: string;
  queryText: string;
  warehouseId: string;
  evaluation: {
    source: { name: string };
    comparisonOperator: string;
    threshold: { value: { boolValue?: boolean } };
    notification: {
      notifyOnOk: boolean;
      subscriptions: { userEmail?: string; destinationId?: string }[];
    };
  };
  schedule: { quartzCronSchedule: string; timezoneId: string; pauseStatus: string };
}

for (const stack of ["dev", "prod"]) {
  describe(`freshness alerts in stack ${stack}`, () => {
    const config = loadStackConfig(stack).values;
    const objective = Number(config[`${PROJECT}:freshnessObjectiveSeconds`]);
    const emails = JSON.parse(config[`${PROJECT}:jobNotificationEmails`] ?? "[]") as string[];
    const hooks = JSON.parse(config[`${PROJECT}:jobWebhookIds`] ?? "[]") as string[];
    let alerts: RecordedResource[];
    let tables: RecordedResource[];
    let warehouseId: string;
    let catalog: string;
    const alert = (key: string) => {
      const found = alerts.find((a) => a.name === `oms-${stack}-freshness-${key}`);
      if (!found) throw new Error(`no ${key} alert`);
      return found.inputs as unknown as AlertInputs;
    };

    before(async () => {
      const out = await runProgram(stack);
      alerts = recorder.ofType(ALERT);
      tables = recorder.ofType(TABLE);
      warehouseId = await promiseOf(out.warehouseId as string);
      catalog = await promiseOf(out.catalogName as string);
    });

    it("declares the two alerts, on the stack's warehouse, once per objective (at most 15 min)", () => {
      expect(alerts.map((a) => a.name).sort()).to.deep.equal([
        `oms-${stack}-freshness-overdue`,
        `oms-${stack}-freshness-p95`,
      ]);
      for (const key of ["p95", "overdue"]) {
        const a = alert(key);
        expect(a.warehouseId).to.equal(warehouseId);
        expect(a.schedule).to.deep.equal({
          quartzCronSchedule: { dev: "0 0/15 * * * ?", prod: "0 0/1 * * * ?" }[stack],
          timezoneId: "UTC",
          pauseStatus: "UNPAUSED",
        });
      }
    });

    it("declares the freshness log table from the package's contract, before the alerts", () => {
      expect(tables.map((t) => t.name)).to.deep.equal([`oms-${stack}-freshness-log`]);
      const [table] = tables;
      expect(table.inputs).to.deep.include({
        catalogName: catalog,
        schemaName: "ops",
        name: FRESHNESS_TABLE,
        tableType: "MANAGED",
        warehouseId,
      });
      expect(table.inputs.columns).to.deep.equal(packageColumns());
      expect(table.inputs.properties).to.deep.equal({ "delta.autoOptimize.autoCompact": "true" });
      for (const a of alerts) expect(a.dependencies).to.include(table.urn);
    });

    it(`queries ${FRESHNESS_TABLE} with the package's own SQL and the ${objective} s objective`, () => {
      const table = `${catalog}.ops.${FRESHNESS_TABLE}`;
      const expected = packageSql(table, objective);
      for (const key of ["p95", "overdue"]) {
        expect(alert(key).queryText).to.equal(expected);
      }
      expect(expected).to.include(`FROM ${table}`);
      expect(expected).to.include(`INTERVAL ${FRESHNESS_LOG.p95WindowMinutes} MINUTES`);
      expect(expected).to.include(`> ${objective},`);
      expect(expected).to.include(`> 3 * ${objective},`);
    });

    it("fires on the verdict columns: p95 over the objective, no refresh for 3x the objective", () => {
      const cond = (key: string) => {
        const e = alert(key).evaluation;
        return [e.source.name, e.comparisonOperator, e.threshold.value.boolValue];
      };
      expect(cond("p95")).to.deep.equal(["p95_over_objective", "EQUAL", true]);
      expect(cond("overdue")).to.deep.equal(["refresh_overdue", "EQUAL", true]);
      expect(alert("p95").displayName).to.include(`${objective} s`);
      expect(alert("overdue").displayName).to.include(`${3 * objective} s`);
    });

    it("notifies the jobs' recipients (e-mails and destinations), also back to OK", () => {
      expect(emails.length + hooks.length, "the stack names recipients").to.be.greaterThan(0);
      for (const key of ["p95", "overdue"]) {
        const n = alert(key).evaluation.notification;
        expect(n.notifyOnOk).to.equal(true);
        expect(n.subscriptions).to.deep.equal([
          ...[...emails].sort().map((userEmail) => ({ userEmail })),
          ...[...hooks].sort().map((destinationId) => ({ destinationId })),
        ]);
      }
    });
  });
}

describe("freshness log contract", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ops-manifest-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("is the package's, as its manifest publishes it", () => {
    expect(FRESHNESS_LOG.columns).to.deep.equal(packageColumns());
    expect(FRESHNESS_LOG.columns.map((c) => c.name)).to.include.members(["refresh_id", "events"]);
    expect(freshnessLogContract(readPipelineManifest())).to.deep.equal(FRESHNESS_LOG);
  });

  it("is refused when the manifest's freshness log is missing or malformed, naming the key", () => {
    type Log = { p95_window_minutes: unknown; schema: unknown; columns: { nullable: unknown }[] };
    type Doc = { freshness_log?: Log };
    const good = JSON.parse(fs.readFileSync(manifestFile(), "utf8")) as Doc;
    const cases: [(log: Doc) => void, RegExp][] = [
      [(m) => delete m.freshness_log, /freshness_log: Required/],
      [(m) => (m.freshness_log!.p95_window_minutes = 0), /freshness_log\.p95_window_minutes/],
      [(m) => (m.freshness_log!.columns[0].nullable = "no"), /freshness_log\.columns\.0\.nullable/],
      [(m) => (m.freshness_log!.schema = "gold_ops"), /freshness_log\.schema: must be one of/],
    ];
    cases.forEach(([edit, message], i) => {
      const m = structuredClone(good);
      edit(m);
      const file = path.join(dir, `manifest-${i}.json`);
      fs.writeFileSync(file, JSON.stringify(m));
      expect(() => readPipelineManifest(file)).to.throw(message);
      expect(() => readPipelineManifest(file)).to.throw(file);
    });
  });
});

describe("freshness alert query", () => {
  it("rejects an objective that is not a positive integer", () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => freshnessAlertSql("t", bad)).to.throw(/objectiveSeconds must be a positive/);
    }
  });
});

describe("freshness alert schedule", () => {
  it("runs once per objective, at least every minute and at most every 15 minutes", () => {
    expect([30, 60, 119, 120, 900, 901, 3600].map(freshnessAlertMinutes)).to.deep.equal([
      1, 1, 1, 2, 15, 15, 15,
    ]);
  });
});
