/**
 * Job task parameters checked against the pipeline package's own argument parsers: the wheel the
 * stack uploads is installed into a temp dir and `pipelines/tools/check_job_params.py` parses
 * every task's parameters with the entry point's `build_parser()`.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { expect } from "chai";
import { ROOT } from "../scripts/plan/harness";

export const PYTHON = path.join(ROOT, ".venv", "bin", "python");
const CHECKER = path.join(ROOT, "pipelines", "tools", "check_job_params.py");

/** A python_wheel_task task as the stack declares it. */
export interface WheelTask {
  taskKey: string;
  dependsOns?: { taskKey: string }[];
  pythonWheelTask: { packageName: string; entryPoint: string; parameters: string[] };
  environmentKey?: string;
  jobClusterKey?: string;
  libraries?: { whl: string }[];
}
/** What the package's checker says about each task. */
export interface CheckReport {
  results: { taskKey: string; ok: boolean; error: string | null; target: string }[];
  entities: Record<string, string[]>;
  distribution: { version: string; path: string };
  /** The wheel's `manifest.json`, and the manifest its package builds from its own modules. */
  manifest: { shipped: unknown; package: unknown };
}

function requirePython(): void {
  if (!fs.existsSync(PYTHON)) {
    throw new Error(
      `${PYTHON} is missing: run scripts/bootstrap to create the pipeline venv (job parameters are checked with the package's own parsers)`,
    );
  }
}

/** Installs the wheel as uploaded into a temp dir and runs the checker against it. */
export function checkWithWheel(wheel: Buffer, fileName: string, tasks: WheelTask[]): CheckReport {
  requirePython();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oms-wheel-"));
  try {
    fs.writeFileSync(path.join(dir, fileName), wheel);
    const target = path.join(dir, "site");
    const pip = spawnSync(
      PYTHON,
      ["-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", target, fileName],
      { cwd: dir, encoding: "utf8" },
    );
    expect(pip.status, `pip install of ${fileName}: ${pip.stderr}`).to.equal(0);
    const request = path.join(dir, "tasks.json");
    fs.writeFileSync(
      request,
      JSON.stringify({
        tasks: tasks.map((t) => ({
          taskKey: t.taskKey,
          entryPoint: t.pythonWheelTask.entryPoint,
          parameters: t.pythonWheelTask.parameters,
        })),
      }),
    );
    const run = spawnSync(PYTHON, [CHECKER, request], {
      encoding: "utf8",
      env: { ...process.env, PYTHONPATH: target },
    });
    expect(run.status, run.stderr).to.equal(0);
    return JSON.parse(run.stdout) as CheckReport;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Where and how an ingest task reads, as a stack or a unit test sets it. */
export interface IngestSettings {
  catalog: string;
  volumes: Readonly<Record<string, string>>;
  /** The processing-time interval of a continuous job; undefined for availableNow runs. */
  processingTime?: string;
  maxFilesPerTrigger: string | number;
}

/** The parameters of the `ingest` task up to its Kafka flags: landing, checkpoints, trigger. */
export function ingestParameters(s: IngestSettings): string[] {
  return [
    "--catalog",
    s.catalog,
    "--landing-root",
    s.volumes.landing,
    "--checkpoint-root",
    s.volumes.checkpoints,
    "--autoloader",
    "on",
    ...(s.processingTime === undefined
      ? ["--trigger", "availableNow"]
      : ["--trigger", "processingTime", "--processing-time", s.processingTime]),
    "--max-files-per-trigger",
    String(s.maxFilesPerTrigger),
  ];
}

/**
 * The `ingest` task of an ingestion job's tasks, after checking that the job has exactly one
 * ingest query, the landing-file report and, when continuous, the Gold loop (sorted by key), and
 * that the query runs `entryPoint`.
 */
export function ingestTaskOf(tasks: WheelTask[], continuous: boolean, entryPoint: string) {
  expect(tasks.map((t) => t.taskKey)).to.deep.equal([
    ...(continuous ? ["gold_refresh"] : []),
    "ingest",
    "landing_files",
  ]);
  const ingest = tasks.find((t) => t.taskKey === "ingest") as WheelTask;
  expect(ingest.pythonWheelTask.entryPoint).to.equal(entryPoint);
  return ingest;
}
