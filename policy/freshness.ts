/**
 * The worst-case landing -> Gold bound of a stack, computed from the jobs it declares (their
 * triggers, compute and task parameters) — never from the configuration that produced them — so
 * the plan and the policy pack judge what would actually be deployed.
 *
 * The path: a file (or Kafka record) lands; the next micro-batch of the ingest query appends it
 * to bronze and merges it into Silver in the same batch; the Gold refresh publishes it. Each stage
 * adds the time until it next starts (a processing-time interval, or a job trigger: detection,
 * minimum time between triggers, a run already in flight, compute start-up) plus the time it
 * takes (a budget). A quiet period (`waitAfterLastChangeSeconds`) makes the bound infinite: under
 * a steady arrival rate the run never starts ("Trigger jobs when new files arrive", "Trigger jobs
 * when source tables are updated").
 *
 * Figures that are not declared by the stack are named constants with their source; the README's
 * Jobs section lists them and which rest on documentation rather than a run.
 */
import { ENTRY_POINTS } from "../components/pipelineManifest";

/** Seconds, and where each figure of the bound comes from. */
export const ASSUMPTIONS = {
  /** A micro-batch or Gold refresh of a continuous task: a budget, not a measurement. */
  continuousBatchSeconds: 10,
  /** A triggered run of one job (all its tasks): a budget, not a measurement. */
  triggeredRunSeconds: 60,
  /** File-arrival detection delay after a file lands: assumed, not stated as a limit in the docs. */
  fileArrivalDetectionSeconds: 60,
  /** Serverless jobs compute start-up: assumed, not measured here. */
  serverlessStartSeconds: 60,
  /** A new classic job cluster (VMs, runtime, libraries): assumed, not measured here. */
  jobClusterStartSeconds: 300,
} as const;

/** Job inputs as plain JSON (databricks.JobArgs, as recorded in the plan). */
export type JobProps = Readonly<Record<string, unknown>>;

/** One term of the bound. */
export interface BoundTerm {
  /** What the time is spent on, naming the job, task or trigger property. */
  readonly term: string;
  /** Seconds; Infinity when the term can grow without limit. */
  readonly seconds: number;
  /** `declared` (read from the job), `budget` or `assumed` (an ASSUMPTIONS figure). */
  readonly source: "declared" | "budget" | "assumed";
}

/** The bound of one stack. */
export interface FreshnessBound {
  /** The objective the jobs declare (tag `freshness_objective_seconds`); undefined when none. */
  readonly objectiveSeconds?: number;
  /** Sum of the terms, seconds (Infinity when a trigger can starve). */
  readonly boundSeconds: number;
  readonly terms: readonly BoundTerm[];
  /** Why no bound could be computed (a stage missing); empty when it was. */
  readonly problems: readonly string[];
}

/** The tag carrying the stack's objective on each pipeline job. */
export const OBJECTIVE_TAG = "freshness_objective_seconds";

/**
 * The entry points of the two stages (the pipeline package's manifest). Ingest is bronze and
 * Silver in one micro-batch: one trigger interval and one batch budget, no Silver interval of its
 * own.
 */
export const STAGES = {
  ingest: ENTRY_POINTS.ingest,
  gold: ENTRY_POINTS.gold,
} as const;

interface TaskProps {
  readonly taskKey?: string;
  readonly jobClusterKey?: string;
  readonly environmentKey?: string;
  readonly pythonWheelTask?: { entryPoint?: string; parameters?: unknown[] };
}

const record = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const seconds = (v: unknown): number | undefined =>
  typeof v === "number" ? v : typeof v === "string" && /^\d+$/.test(v) ? Number(v) : undefined;

/** Seconds of a Spark interval ("10 seconds", "1 minute"); undefined when not one. */
export function intervalSeconds(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(second|minute)s?\s*$/.exec(text);
  return m ? Number(m[1]) * (m[2] === "minute" ? 60 : 1) : undefined;
}

function param(task: TaskProps, flag: string): string | undefined {
  const p = (task.pythonWheelTask?.parameters ?? []).map(String);
  const i = p.indexOf(flag);
  return i >= 0 ? p[i + 1] : undefined;
}

/** A task of the stage (the landing-file report shares the ingest entry point, not the path). */
const isStage = (task: TaskProps, entryPoint: string) =>
  task.pythonWheelTask?.entryPoint === entryPoint &&
  !(task.pythonWheelTask?.parameters ?? []).includes("--files-report-only");

/** Time until a continuous task's next micro-batch or refresh, plus its budget. */
function continuousStage(job: string, task: TaskProps): BoundTerm[] {
  const name = `${job} / ${task.taskKey ?? "?"}`;
  const interval =
    param(task, "--trigger") === "processingTime"
      ? intervalSeconds(param(task, "--processing-time") ?? "")
      : undefined;
  return [
    {
      term: `${name}: next processing-time boundary`,
      seconds: interval ?? Infinity,
      source: "declared",
    },
    {
      term: `${name}: micro-batch / refresh`,
      seconds: ASSUMPTIONS.continuousBatchSeconds,
      source: "budget",
    },
  ];
}

/** Time until a triggered job's next run has started and finished. */
function triggeredJob(job: string, props: JobProps, tasks: readonly TaskProps[]): BoundTerm[] {
  const trigger = record(props.trigger);
  const terms: BoundTerm[] = [];
  const kind = ["fileArrival", "tableUpdate", "model"].find((k) => trigger[k] !== undefined);
  if (!kind) {
    terms.push({
      term: `${job}: no trigger (manual or schedule)`,
      seconds: Infinity,
      source: "declared",
    });
    return terms;
  }
  const t = record(trigger[kind]);
  if (kind === "fileArrival") {
    terms.push({
      term: `${job}: file-arrival detection`,
      seconds: ASSUMPTIONS.fileArrivalDetectionSeconds,
      source: "assumed",
    });
  }
  const wait = seconds(t.waitAfterLastChangeSeconds);
  if (wait !== undefined) {
    terms.push({
      term: `${job}: trigger.${kind}.waitAfterLastChangeSeconds ${wait} (restarts on every arrival)`,
      seconds: Infinity,
      source: "declared",
    });
  }
  terms.push({
    term: `${job}: trigger.${kind}.minTimeBetweenTriggersSeconds`,
    seconds: seconds(t.minTimeBetweenTriggersSeconds) ?? 0,
    source: "declared",
  });
  // One run at a time: a change just after a run read its input waits for that run to end.
  terms.push({
    term: `${job}: run in flight`,
    seconds: ASSUMPTIONS.triggeredRunSeconds,
    source: "budget",
  });
  const serverless = tasks.every((x) => x.environmentKey !== undefined && !x.jobClusterKey);
  terms.push(
    serverless
      ? {
          term: `${job}: serverless start-up`,
          seconds: ASSUMPTIONS.serverlessStartSeconds,
          source: "assumed",
        }
      : {
          term: `${job}: new job cluster start-up`,
          seconds: ASSUMPTIONS.jobClusterStartSeconds,
          source: "assumed",
        },
  );
  terms.push({ term: `${job}: run`, seconds: ASSUMPTIONS.triggeredRunSeconds, source: "budget" });
  return terms;
}

/**
 * The worst-case landing -> Gold bound of the given jobs (name and inputs of every
 * `databricks.Job` of one stack). Stages are found by entry point; a stage missing from every
 * job is a problem and makes the bound infinite.
 */
export function freshnessBound(jobs: readonly { name: string; props: JobProps }[]): FreshnessBound {
  const withTasks = jobs.map((j) => ({
    ...j,
    tasks: (Array.isArray(j.props.tasks) ? j.props.tasks : []) as TaskProps[],
  }));
  const problems: string[] = [];
  const terms: BoundTerm[] = [];
  let previousJob: string | undefined;
  for (const [stage, entryPoint] of Object.entries(STAGES)) {
    const holder = withTasks.find((j) => j.tasks.some((t) => isStage(t, entryPoint)));

    if (!holder) {
      problems.push(`no job runs the ${stage} stage (${entryPoint})`);
      terms.push({ term: `${stage}: not declared`, seconds: Infinity, source: "declared" });
      continue;
    }
    if (holder.props.continuous !== undefined && holder.props.continuous !== null) {
      // Several tasks may run a stage: the slowest one bounds it.
      const total = (ts: BoundTerm[]) => ts.reduce((sum, t) => sum + t.seconds, 0);
      const slowest = holder.tasks
        .filter((t) => isStage(t, entryPoint))
        .map((t) => continuousStage(holder.name, t))
        .reduce((a, b) => (total(b) > total(a) ? b : a));
      terms.push(...slowest);
    } else if (holder.name !== previousJob) {
      // A triggered job runs its stages in one run: the trigger and start-up count once.
      terms.push(...triggeredJob(holder.name, holder.props, holder.tasks));
    }
    previousJob = holder.name;
  }
  const objectives = withTasks
    .map((j) => seconds(record(j.props.tags)[OBJECTIVE_TAG]))
    .filter((v): v is number => v !== undefined);
  return {
    objectiveSeconds: objectives.length ? Math.min(...objectives) : undefined,
    boundSeconds: terms.reduce((sum, t) => sum + t.seconds, 0),
    terms,
    problems,
  };
}

/** The bound as a Markdown section: objective, bound, and each term with its source. */
export function freshnessMarkdown(stack: string, bound: FreshnessBound): string {
  const s = (n: number) => (Number.isFinite(n) ? `${n} s` : "unbounded");
  const lines = [
    `### Freshness — \`${stack}\``,
    "",
    `Worst-case landing → Gold **${s(bound.boundSeconds)}**, objective ${
      bound.objectiveSeconds === undefined ? "not declared" : `${bound.objectiveSeconds} s`
    } (from the declared jobs; *budget* and *assumed* figures: README, Jobs).`,
    "",
    "| Term | Seconds | Source |",
    "| --- | --- | --- |",
    ...bound.terms.map((t) => `| ${t.term} | ${s(t.seconds)} | ${t.source} |`),
  ];
  return `${lines.join("\n")}\n`;
}
