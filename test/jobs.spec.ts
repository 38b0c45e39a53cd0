/**
 * The pipeline jobs, per stack, checked against the Python package they run: entry points and
 * parameters go through the package's own argument parsers (from the wheel the stack uploads),
 * and the parameters are written to committed fixtures the pipeline's end-to-end test replays.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as databricks from "@pulumi/databricks";
import { expect } from "chai";
import {
  recorder,
  RecordedResource,
  SERVICE_PRINCIPAL_APP_ID,
  WORKSPACE_HOST,
} from "../scripts/plan/recorder";
import {
  loadStackConfig,
  ProgramExports,
  promiseOf,
  ROOT,
  runProgram,
  settle,
} from "../scripts/plan/harness";
import {
  ENTITY_SILVER_TABLES,
  ENTRY_POINTS,
  PipelineJobs,
  PipelineJobsArgs,
  POWERBI_REFRESH_HOURS,
  RUNTIME_VERSION,
} from "../components/jobs";
import { buildPipelinePackage, contentHash } from "../components/pipelinePackage";
import {
  manifestFile,
  PIPELINE_MANIFEST,
  readPipelineManifest,
} from "../components/pipelineManifest";
import {
  CheckReport,
  checkWithWheel,
  ingestParameters,
  ingestTaskOf,
  PYTHON,
  WheelTask,
} from "./wheel-check";

const fixtureFile = (stack: string) =>
  path.join(ROOT, "test", "fixtures", `job-params.${stack}.json`);

type Inputs = Record<string, unknown>;

const EXPECTED = {
  dev: { trigger: "fileArrival", compute: "serverless", jobs: ["gold", "ingestion", "powerbi"] },
  prod: { trigger: "continuous", compute: "cluster", jobs: ["ingestion", "powerbi"] },
} as const;

for (const [stack, expected] of Object.entries(EXPECTED)) {
  describe(`pipeline jobs in stack ${stack}`, () => {
    let out: ProgramExports;
    let jobs: RecordedResource[];
    let tasks: WheelTask[];
    let volumes: Record<string, string>;
    const continuous = expected.trigger === "continuous";
    const job = (kind: "ingestion" | "gold" | "powerbi") => {
      const found = jobs.find((j) => j.name.endsWith(`-${kind}`));
      if (!found) throw new Error(`no ${kind} job`);
      return found.inputs;
    };
    const tasksOf = (j: Inputs) => j.tasks as WheelTask[];
    /** Tasks running the medallion entry points (ingest: bronze and silver; gold). */
    const PIPELINE_ENTRY_POINTS: string[] = [ENTRY_POINTS.ingest, ENTRY_POINTS.gold];
    const pipelineTasks = (list: WheelTask[] = tasks) =>
      list.filter((t) => PIPELINE_ENTRY_POINTS.includes(t.pythonWheelTask?.entryPoint));
    /** The uploaded wheel, installed and asked by the package's checker (once per stack). */
    let checked: CheckReport | undefined;
    const wheelReport = (): CheckReport => {
      const file = recorder.one("databricks:index/file:File").inputs;
      const wheel = Buffer.from(String(file.contentBase64), "base64");
      checked ??= checkWithWheel(wheel, path.basename(String(file.path)), tasks);
      return checked;
    };

    before(async () => {
      out = await runProgram(stack);
      jobs = recorder.ofType("databricks:index/job:Job");
      tasks = jobs.flatMap((j) => tasksOf(j.inputs));
      volumes = await promiseOf(out.volumePaths as Record<string, string>);
    });

    it(`has the jobs ${expected.jobs.join(", ")}, tasks sorted by key`, () => {
      expect(jobs.map((j) => j.name).sort()).to.deep.equal(
        expected.jobs.map((k) => `oms-${stack}-pipeline-${k}`),
      );
      for (const j of jobs) {
        const keys = tasksOf(j.inputs).map((t) => t.taskKey);
        expect(keys, j.name).to.deep.equal([...keys].sort());
      }
      // One ingest query for every entity, bronze and silver in each micro-batch. Continuous:
      // Gold runs on the ingestion job's always-on cluster; triggered: its own job.
      ingestTaskOf(tasksOf(job("ingestion")), continuous, ENTRY_POINTS.ingest);
    });

    it("runs one ingest query over every entity's landing folder, bronze then silver per micro-batch", () => {
      const ingest = ingestTaskOf(tasksOf(job("ingestion")), continuous, ENTRY_POINTS.ingest);
      const cfg = loadStackConfig(stack).values;
      // No --entity: the query reads every entity; no Kafka flags: the stack has no events source.
      expect(ingest.pythonWheelTask.parameters).to.deep.equal(
        ingestParameters({
          catalog: `oms_${stack}`,
          volumes,
          processingTime: continuous ? cfg["oms-lakehouse:jobProcessingTime"] : undefined,
          maxFilesPerTrigger: cfg["oms-lakehouse:jobMaxFilesPerTrigger"],
        }),
      );
      // The first task of the run: nothing to wait for, in either mode.
      expect(ingest.dependsOns).to.equal(undefined);
    });

    it("refreshes Gold without a cold start (continuous) or with a trigger that cannot starve", () => {
      const gold = tasks.filter((t) => t.taskKey === "gold_refresh");
      expect(gold).to.have.length(1);
      const params = gold[0].pythonWheelTask.parameters.join(" ");
      expect(gold[0].pythonWheelTask.entryPoint).to.equal(ENTRY_POINTS.gold);
      if (expected.trigger === "continuous") {
        // A processing-time loop at the streams' interval, side by side with them.
        const interval = loadStackConfig(stack).values["oms-lakehouse:jobProcessingTime"];
        expect(params).to.contain(`--trigger processingTime --processing-time ${interval}`);
        expect(gold[0].dependsOns).to.equal(undefined);
        expect(tasksOf(job("ingestion"))).to.deep.include(gold[0]);
      } else {
        expect(params).to.contain("--trigger availableNow");
        const trigger = (job("gold").trigger as Inputs).tableUpdate as Inputs;
        const minSeconds = Number(
          loadStackConfig(stack).values["oms-lakehouse:jobGoldMinSecondsBetweenRuns"],
        );
        expect(trigger).to.include({
          condition: "ANY_UPDATED",
          minTimeBetweenTriggersSeconds: minSeconds,
        });
        // A quiet period restarts on every Silver commit: under steady traffic Gold never runs.
        expect(trigger).not.to.have.property("waitAfterLastChangeSeconds");
      }
    });

    it("refreshes the Power BI dimensions on a period within the shared-capacity budget", () => {
      const powerbi = job("powerbi");
      expect(tasksOf(powerbi).map((t) => t.taskKey)).to.deep.equal(["powerbi_refresh"]);
      expect(powerbi.trigger).to.deep.equal({
        periodic: { interval: POWERBI_REFRESH_HOURS, unit: "HOURS" },
      });
      // 8 refreshes a day on shared capacity ("Data refresh in Power BI").
      expect(24 / POWERBI_REFRESH_HOURS).to.be.at.most(8);
    });

    it("accounts for every landing file and fails the run on a newly skipped one", () => {
      const t = tasksOf(job("ingestion")).find((x) => x.taskKey === "landing_files");
      expect(t, "landing_files task").to.not.equal(undefined);
      const p = (t as WheelTask).pythonWheelTask;
      expect(p.entryPoint).to.equal(ENTRY_POINTS.ingest);
      expect(p.parameters).to.include.members(["--files-report-only", "--fail-on-skipped"]);
      expect(p.parameters).to.not.include("--entity");
      if (expected.trigger === "continuous") {
        expect(p.parameters.join(" ")).to.contain("--trigger processingTime");
        expect((t as WheelTask).dependsOns).to.equal(undefined);
      } else {
        // After the ingest query, so what it ingested is not reported as pending.
        expect(p.parameters.join(" ")).to.contain("--trigger availableNow");
        expect((t as WheelTask).dependsOns).to.deep.equal([{ taskKey: "ingest" }]);
      }
    });

    it("runs every job as the stack's service principal, never a person", () => {
      for (const j of jobs) {
        expect(j.inputs.runAs, j.name).to.deep.equal({
          servicePrincipalName: SERVICE_PRINCIPAL_APP_ID,
        });
      }
      const rules = recorder.one("databricks:index/accessControlRuleSet:AccessControlRuleSet");
      const cfg = loadStackConfig(stack).values;
      expect(rules.inputs.name).to.equal(
        `accounts/${cfg["oms-lakehouse:databricksAccountId"]}/servicePrincipals/${SERVICE_PRINCIPAL_APP_ID}/ruleSets/default`,
      );
      expect(rules.inputs.grantRules).to.deep.include({
        principals: [cfg["oms-lakehouse:jobsDeployerPrincipal"]],
        role: "roles/servicePrincipal.user",
      });
    });

    it("grants the principal exactly the pipeline's privileges", () => {
      const bySecurable = (field: string, value: string) =>
        (
          recorder.ofType("databricks:index/grants:Grants").find((g) => g.inputs[field] === value)
            ?.inputs.grants as { principal: string; privileges: string[] }[]
        ).find((g) => g.principal === SERVICE_PRINCIPAL_APP_ID)?.privileges;
      const c = `oms_${stack}`;
      expect(bySecurable("catalog", c)).to.deep.equal(["USE_CATALOG"]);
      for (const s of ["bronze", "silver", "gold", "ops"]) {
        expect(bySecurable("schema", `${c}.${s}`), s).to.deep.equal([
          "CREATE_TABLE",
          "MODIFY",
          "SELECT",
          "USE_SCHEMA",
        ]);
      }
      expect(bySecurable("volume", `${c}.ops.landing`)).to.deep.equal(["READ_VOLUME"]);
      expect(bySecurable("volume", `${c}.ops.checkpoints`)).to.deep.equal([
        "READ_VOLUME",
        "WRITE_VOLUME",
      ]);
      expect(bySecurable("volume", `${c}.ops.artifacts`)).to.deep.equal(["READ_VOLUME"]);
    });

    it("ships the package as a content-addressed wheel in the artifacts volume", () => {
      const file = recorder.one("databricks:index/file:File").inputs;
      const pkg = buildPipelinePackage(path.join(ROOT, "pipelines"));
      expect(file.path).to.equal(`${volumes.artifacts}/${pkg.fileName}`);
      expect(file.contentBase64).to.equal(pkg.wheel.toString("base64"));
      for (const t of tasks) expect(t.pythonWheelTask.packageName).to.equal("oms_pipeline");
    });

    it("names only entry points the package declares, and only parameters their parsers accept", () => {
      const report = wheelReport();
      expect(report.distribution.version).to.contain("+");
      expect(report.results).to.have.length(tasks.length);
      for (const r of report.results) expect(r.ok, `${r.taskKey}: ${r.error}`).to.equal(true);
      // The entity list of the stack is the package's contract, table for table.
      expect(report.entities).to.deep.equal(ENTITY_SILVER_TABLES);
    });

    it("runs exactly the job entry points of the manifest the uploaded wheel ships", () => {
      const declared = [...new Set(tasks.map((t) => t.pythonWheelTask.entryPoint))].sort();
      expect(declared).to.deep.equal(Object.values(PIPELINE_MANIFEST.jobs).sort());
      const report = wheelReport();
      // The manifest in the wheel is the one the stack read, and the one the installed package
      // builds from its own modules and entry points.
      const read = JSON.parse(fs.readFileSync(manifestFile(), "utf8")) as unknown;
      expect(report.manifest.shipped).to.deep.equal(read);
      expect(report.manifest.package).to.deep.equal(read);
    });

    it("names only the catalog, volumes and tables the stack declares", async () => {
      const catalog = await promiseOf(out.catalogName as string);
      const schemas = await promiseOf(out.schemas as Record<string, string>);
      for (const t of pipelineTasks()) {
        const p = t.pythonWheelTask.parameters;
        const value = (flag: string) => (p.includes(flag) ? p[p.indexOf(flag) + 1] : undefined);
        expect(value("--catalog"), t.taskKey).to.equal(catalog);
        if (value("--landing-root")) expect(value("--landing-root")).to.equal(volumes.landing);
        if (value("--checkpoint-root"))
          expect(value("--checkpoint-root")).to.equal(volumes.checkpoints);
      }
      if (expected.trigger === "continuous") return; // no Gold job to trigger
      const tables = (job("gold").trigger as Inputs).tableUpdate as { tableNames: string[] };
      expect(tables.tableNames).to.deep.equal(
        Object.values(ENTITY_SILVER_TABLES)
          .flat()
          .sort()
          .map((t) => `${schemas.silver}.${t}`),
      );
    });

    it(`runs ingestion on ${expected.trigger} and computes on ${expected.compute}`, () => {
      const ingestion = job("ingestion");
      const params = pipelineTasks(tasksOf(ingestion)).map((t) =>
        t.pythonWheelTask.parameters.join(" "),
      );
      // ingest and landing_files, and gold_refresh on the always-on cluster.
      expect(params).to.have.length(expected.trigger === "continuous" ? 3 : 2);
      if (expected.trigger === "continuous") {
        expect(ingestion.continuous).to.deep.equal({ taskRetryMode: "ON_FAILURE" });
        expect(ingestion.trigger).to.equal(undefined);
        params.forEach((p) => expect(p).to.contain("--trigger processingTime"));
      } else {
        expect(ingestion.continuous).to.equal(undefined);
        // No quiet period: it restarts on every arrival, so a steady feed never starts a run.
        expect(ingestion.trigger).to.deep.equal({
          fileArrival: { url: `${volumes.landing}/`, minTimeBetweenTriggersSeconds: 60 },
        });
        params.forEach((p) => expect(p).to.contain("--trigger availableNow"));
      }
      const wheel = String(recorder.one("databricks:index/file:File").inputs.path);
      const policies = recorder.ofType("databricks:index/clusterPolicy:ClusterPolicy");
      for (const j of jobs) {
        if (expected.compute === "cluster") {
          expect(policies).to.have.length(1);
          const cluster = (j.inputs.jobClusters as Inputs[])[0].newCluster as Inputs;
          expect(cluster).to.include({
            sparkVersion: RUNTIME_VERSION,
            policyId: `${policies[0].name}-id`,
          });
          const definition = JSON.parse(String(policies[0].inputs.definition)) as Inputs;
          expect(definition.spark_version).to.deep.equal({ type: "fixed", value: RUNTIME_VERSION });
          tasksOf(j.inputs).forEach((t) => expect(t.libraries).to.deep.equal([{ whl: wheel }]));
        } else {
          expect(policies).to.have.length(0);
          const env = (j.inputs.environments as Inputs[])[0];
          expect((env.spec as Inputs).dependencies).to.deep.equal([wheel]);
          tasksOf(j.inputs).forEach((t) => expect(t.environmentKey).to.equal(env.environmentKey));
        }
      }
    });

    it("has health rules, notifications, one run at a time and a queue", () => {
      const metrics = (j: Inputs) =>
        ((j.health as Inputs).rules as Inputs[]).map((r) => r.metric).sort();
      expect(metrics(job("ingestion"))).to.include.members([
        "STREAMING_BACKLOG_FILES",
        "STREAMING_BACKLOG_SECONDS",
      ]);
      if (expected.trigger === "fileArrival")
        expect(metrics(job("gold"))).to.deep.equal(["RUN_DURATION_SECONDS"]);
      expect(metrics(job("powerbi"))).to.deep.equal(["RUN_DURATION_SECONDS"]);
      if (expected.trigger === "fileArrival")
        expect(metrics(job("ingestion"))).to.include("RUN_DURATION_SECONDS");
      for (const j of jobs) {
        expect(j.inputs).to.include({ maxConcurrentRuns: 1 });
        expect(j.inputs.queue).to.deep.equal({ enabled: true });
        const email = j.inputs.emailNotifications as Inputs;
        expect(email.onFailures).to.have.length.greaterThan(0);
        expect(email.onStreamingBacklogExceededs).to.deep.equal(email.onFailures);
      }
    });

    it("exports job ids and URLs", async () => {
      const ids = await promiseOf(out.jobIds as Record<string, string>);
      const urls = await promiseOf(out.jobUrls as Record<string, string>);
      expect(Object.keys(ids).sort()).to.deep.equal([...expected.jobs]);
      for (const k of expected.jobs)
        expect(urls[k]).to.equal(`https://${WORKSPACE_HOST}/jobs/${ids[k]}`);
    });

    it(`matches the committed parameters fixture (test/fixtures/job-params.${stack}.json)`, () => {
      const fixture = {
        stack,
        catalog: `oms_${stack}`,
        volumePaths: volumes,
        jobs: Object.fromEntries(
          jobs
            .map((j): [string, unknown] => [
              j.name.split("-").pop() ?? j.name,
              pipelineTasks(tasksOf(j.inputs)).map((t) => ({
                taskKey: t.taskKey,
                entryPoint: t.pythonWheelTask.entryPoint,
                parameters: t.pythonWheelTask.parameters,
                dependsOn: (t.dependsOns ?? []).map((d) => d.taskKey),
              })),
            ])
            .sort(),
        ),
      };
      const text = `${JSON.stringify(fixture, null, 2)}\n`;
      if (process.env.UPDATE_FIXTURES === "1") fs.writeFileSync(fixtureFile(stack), text);
      // Compared as data, so the committed file may be formatted by prettier.
      expect(
        fs.existsSync(fixtureFile(stack))
          ? (JSON.parse(fs.readFileSync(fixtureFile(stack), "utf8")) as unknown)
          : undefined,
        "stale fixture: run UPDATE_FIXTURES=1 npx mocha test/jobs.spec.ts, then prettier, and commit it",
      ).to.deep.equal(JSON.parse(text));
    });
  });
}

/** A workspace provider for PipelineJobs built outside a stack. */
const provider = () =>
  new databricks.Provider("manifest-unit-provider", {
    host: "https://adb-1.1.azuredatabricks.net",
  });
/** PipelineJobs arguments of a unit stack (file arrival, serverless) on the package in `pipelinesDir`. */
const jobsArgs = (pipelinesDir: string = path.join(ROOT, "pipelines")): PipelineJobsArgs => ({
  environment: "unit",
  runAs: "sp",
  catalogName: "unit",
  schemas: Object.fromEntries(PIPELINE_MANIFEST.layers.map((l) => [l.name, `unit.${l.name}`])),
  volumePaths: {
    landing: "/Volumes/unit/ops/landing",
    checkpoints: "/Volumes/unit/ops/checkpoints",
    artifacts: "/Volumes/unit/ops/artifacts",
  },
  workspaceUrl: "https://adb-1.1.azuredatabricks.net",
  dataEngineersGroup: "engineers",
  settings: {
    trigger: "fileArrival",
    processingTime: "10 seconds",
    compute: "serverless",
    nodeType: "Standard_D4ds_v5",
    maxWorkers: 2,
    maxFilesPerTrigger: 100,
    maxRetries: 1,
    timeoutSeconds: 3600,
    runDurationWarningSeconds: 1800,
    backlogSecondsThreshold: 600,
    backlogFilesThreshold: 1000,
    goldMinSecondsBetweenRuns: 60,
    freshnessObjectiveSeconds: 3600,
    notificationEmails: ["ops@example.com"],
    webhookIds: [],
  },
  pipelinesDir,
  tags: {},
  provider: provider(),
});

describe("pipeline package", () => {
  const copy = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oms-pkg-"));
    fs.cpSync(path.join(ROOT, "pipelines", "src"), path.join(dir, "src"), {
      recursive: true,
      filter: (p) => !p.includes("__pycache__"),
    });
    fs.copyFileSync(
      path.join(ROOT, "pipelines", "pyproject.toml"),
      path.join(dir, "pyproject.toml"),
    );
    return dir;
  };

  it("is byte-identical when nothing changed (no diff on pulumi up)", () => {
    const dir = copy();
    const a = buildPipelinePackage(dir);
    fs.utimesSync(path.join(dir, "src", "oms_pipeline", "__init__.py"), new Date(), new Date(0));
    const b = buildPipelinePackage(dir);
    expect(b.fileName).to.equal(a.fileName);
    expect(b.wheel.equals(a.wheel)).to.equal(true);
    expect(contentHash(dir)).to.equal(contentHash(path.join(ROOT, "pipelines")));
    fs.rmSync(dir, { recursive: true });
  });

  it("gets a new hash, file name and bytes when a source file changes", () => {
    const dir = copy();
    const a = buildPipelinePackage(dir);
    fs.appendFileSync(path.join(dir, "src", "oms_pipeline", "jobs", "ingest.py"), "\n# changed\n");
    const b = buildPipelinePackage(dir);
    expect(b.sha256).not.to.equal(a.sha256);
    expect(b.fileName).not.to.equal(a.fileName);
    fs.writeFileSync(path.join(dir, "src", "oms_pipeline", "new_module.py"), "X = 1\n");
    expect(buildPipelinePackage(dir).sha256).not.to.equal(b.sha256);
    fs.rmSync(dir, { recursive: true });
  });
});

describe("package manifest read by the stack", () => {
  const tmp: string[] = [];
  /** A copy of the package with pyproject edited by `edit`, its manifest regenerated by it. */
  const packageWith = (edit: (pyproject: string) => string, regenerate = true) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oms-manifest-"));
    tmp.push(dir);
    fs.cpSync(path.join(ROOT, "pipelines", "src"), path.join(dir, "src"), {
      recursive: true,
      filter: (p) => !p.includes("__pycache__"),
    });
    const pyproject = path.join(dir, "pyproject.toml");
    const text = fs.readFileSync(path.join(ROOT, "pipelines", "pyproject.toml"), "utf8");
    fs.writeFileSync(pyproject, edit(text));
    if (regenerate) {
      const run = spawnSync(PYTHON, ["-m", "oms_pipeline.manifest", "--write"], {
        encoding: "utf8",
        env: { ...process.env, PYTHONPATH: path.join(dir, "src") },
      });
      expect(run.status, run.stderr).to.equal(0);
    }
    return dir;
  };
  const declaredEntryPoints = () =>
    recorder
      .ofType("databricks:index/job:Job")
      .flatMap((j) => j.inputs.tasks as WheelTask[])
      .map((t) => t.pythonWheelTask.entryPoint);

  beforeEach(() => recorder.reset());
  after(() => tmp.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it("is the package's manifest: entry points of pyproject, the Silver layout's tables", () => {
    const pkg = buildPipelinePackage(path.join(ROOT, "pipelines"));
    expect(pkg.manifest).to.deep.equal(PIPELINE_MANIFEST);
    expect(PIPELINE_MANIFEST.entry_points).to.deep.equal(pkg.entryPoints);
    expect(ENTRY_POINTS).to.deep.equal({
      ingest: PIPELINE_MANIFEST.jobs.ingest,
      gold: PIPELINE_MANIFEST.jobs.gold_refresh,
      powerBiRefresh: PIPELINE_MANIFEST.jobs.powerbi_refresh,
    });
    expect(ENTITY_SILVER_TABLES.shipments).to.deep.equal(["shipment_events", "shipments"]);
  });

  it("follows a console script renamed in pyproject, and refuses a manifest left stale", async () => {
    const rename = (t: string) => t.replace(/^oms-ingest = /m, "oms-ingest-stream = ");
    const stale = packageWith(rename, false);
    expect(() => buildPipelinePackage(stale)).to.throw(manifestFile(stale));
    expect(() => buildPipelinePackage(stale)).to.throw(/stale: .*oms-ingest-stream/);

    new PipelineJobs("renamed", { ...jobsArgs(packageWith(rename)), provider: provider() });
    await settle();
    const declared = declaredEntryPoints();
    expect(declared).to.include("oms-ingest-stream");
    expect(declared).not.to.include("oms-ingest");
  });

  it("fails, naming the manifest, when pyproject no longer has a script the jobs run", () => {
    const dir = packageWith((t) => t.replace(/^oms-gold-refresh = .*\n/m, ""));
    expect(() => new PipelineJobs("removed", jobsArgs(dir))).to.throw(
      `${manifestFile(dir)}: jobs has no entry point for oms_pipeline.jobs.gold_refresh`,
    );
  });

  it("names the file and the key when the manifest is missing or malformed", () => {
    const missing = path.join(os.tmpdir(), "no-such-dir", "manifest.json");
    expect(() => readPipelineManifest(missing)).to.throw(missing);
    const good = JSON.parse(fs.readFileSync(manifestFile(), "utf8")) as Record<string, unknown>;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oms-manifest-bad-"));
    tmp.push(dir);
    const cases: [string, RegExp][] = [
      ["{ not json", /cannot read the pipeline package manifest/],
      [JSON.stringify({ ...good, format: 2 }), /format: /],
      [
        JSON.stringify({ ...good, jobs: { ingest: "oms-nope" } }),
        /jobs\.ingest: must be one of entry_points/,
      ],
      [
        JSON.stringify({ ...good, volume_path: "/Volumes/{catalog}/{volume}" }),
        /volume_path: must contain \{catalog\}, \{schema\} and \{volume\}/,
      ],
      [
        JSON.stringify({ ...good, entities: { orders: { contract_version: 1 } } }),
        /entities\.orders\.bronze: Required/,
      ],
    ];
    cases.forEach(([text, message], i) => {
      const file = path.join(dir, `manifest-${i}.json`);
      fs.writeFileSync(file, text);
      expect(() => readPipelineManifest(file)).to.throw(message);
      expect(() => readPipelineManifest(file)).to.throw(file);
    });
  });
});

describe("ingest task with an events source", () => {
  // Topics not named after their entities, given out of order: the task names each by entity.
  const topics = { shipments: "oms-shipments", orders: "oms-orders" } as Record<string, string>;
  const entities = Object.keys(ENTITY_SILVER_TABLES).sort();
  const events = (t: Record<string, string>) => ({
    bootstrapServers: "ns.servicebus.windows.net:9093",
    topics: t,
    serviceCredential: "unit_events",
    pollMinutes: 2,
  });
  const allTopics = Object.fromEntries(
    [...entities].reverse().map((e) => [e, topics[e] ?? `oms-${e}`]),
  );
  const ingestionTasks = () =>
    recorder.ofType("databricks:index/job:Job").find((j) => j.name.endsWith("-ingestion"))?.inputs
      .tasks as WheelTask[];

  beforeEach(() => recorder.reset());

  for (const trigger of ["fileArrival", "continuous"] as const) {
    it(`reads every entity's topic in the same ingest query (${trigger})`, async () => {
      const args = jobsArgs();
      new PipelineJobs(`events-${trigger}`, {
        ...args,
        settings: { ...args.settings, trigger, compute: "cluster" },
        events: events(allTopics),
      });
      await settle();
      const tasks = ingestionTasks();
      const ingest = ingestTaskOf(tasks, trigger === "continuous", ENTRY_POINTS.ingest);
      expect(ingest.pythonWheelTask.parameters).to.deep.equal([
        ...ingestParameters({
          catalog: "unit",
          volumes: args.volumePaths as Record<string, string>,
          processingTime: trigger === "continuous" ? "10 seconds" : undefined,
          maxFilesPerTrigger: 100,
        }),
        "--kafka-bootstrap-servers",
        "ns.servicebus.windows.net:9093",
        // One per entity, sorted by entity, each naming its own topic.
        ...entities.flatMap((e) => ["--kafka-topic", `${e}=${allTopics[e]}`]),
        "--kafka-service-credential",
        "unit_events",
      ]);
      expect(ingest.pythonWheelTask.parameters.join(" ")).to.contain(
        "--kafka-topic orders=oms-orders",
      );
      // The landing-file report reads no topic; triggered, it runs after the ingest query.
      const report = tasks.find((t) => t.taskKey === "landing_files") as WheelTask;
      expect(report.pythonWheelTask.parameters.join(" ")).not.to.contain("--kafka");
      expect(report.dependsOns).to.deep.equal(
        trigger === "continuous" ? undefined : [{ taskKey: "ingest" }],
      );
    });
  }

  it("refuses a source with no topic for some entity, naming it", () => {
    const withoutOrders = Object.fromEntries(
      Object.entries(allTopics).filter(([e]) => e !== "orders"),
    );
    expect(
      () => new PipelineJobs("events-missing", { ...jobsArgs(), events: events(withoutOrders) }),
    ).to.throw(
      `events.topics has no topic for orders; every entity (${entities.join(", ")}) needs one`,
    );
  });
});
