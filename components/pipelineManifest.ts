/**
 * The pipeline package's manifest (`pipelines/src/oms_pipeline/manifest.json`): the facts the
 * stack deploys the package with, published by the package itself (`oms_pipeline.manifest`)
 * instead of restated here: console-script entry points and the job each runs, the catalog's
 * schemas, the volumes and their path template, per entity its bronze, Silver and quarantine
 * tables and contract version, and the Gold freshness log's table (`contracts/ops.toml`, checked
 * by the package when it loads it: column types, names, nullability).
 *
 * The file is package data: the wheel the stack builds ships it (see pipelinePackage.ts), so the
 * jobs run exactly the package the stack read, and `pulumi up` needs no Python. The package's
 * tests fail while it is stale against its sources; the wheel builder refuses it when its entry
 * points differ from pyproject's `[project.scripts]`.
 */
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";

/** Import name of the package, as Databricks' python_wheel_task names it. */
export const PACKAGE_NAME = "oms_pipeline";
/** The manifest's format the stack reads (`format` in the file). */
export const MANIFEST_FORMAT = 1;
/** The `pipelines/` folder of this repository (pyproject.toml and src/). */
export const PIPELINES_DIR = path.join(__dirname, "..", "pipelines");

/** Path of the manifest inside a package folder (`<pipelines>/src/oms_pipeline/manifest.json`). */
export const manifestFile = (pipelinesDir: string = PIPELINES_DIR): string =>
  path.join(pipelinesDir, "src", PACKAGE_NAME, "manifest.json");

const ident = z
  .string()
  .regex(/^[a-z_][a-z0-9_]*$/, "must be a lowercase identifier (letters, digits, _)");
const table = z.object({ schema: ident, table: ident }).strict();

const MANIFEST = z
  .object({
    format: z.literal(MANIFEST_FORMAT),
    package: z.literal(PACKAGE_NAME),
    entry_points: z.record(
      z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "must be a console-script name"),
      z.string().regex(/^[\w.]+:[\w.]+$/, "must be module:function"),
    ),
    jobs: z.record(ident, z.string()),
    layers: z
      .array(z.object({ name: ident, comment: z.string().min(1) }).strict())
      .min(1, "must name at least one schema"),
    volume_path: z
      .string()
      .refine(
        (t) => ["{catalog}", "{schema}", "{volume}"].every((p) => t.includes(p)),
        "must contain {catalog}, {schema} and {volume}",
      ),
    volumes: z.record(ident, z.object({ schema: ident, comment: z.string().min(1) }).strict()),
    entities: z.record(
      ident,
      z
        .object({
          contract_version: z.number().int().positive(),
          bronze: table,
          silver: z
            .object({ schema: ident, tables: z.array(ident).min(1, "must not be empty") })
            .strict(),
          quarantine: table,
        })
        .strict(),
    ),
    freshness_log: z
      .object({
        schema: ident,
        name: ident,
        comment: z.string().min(1),
        properties: z.record(z.string().min(1), z.string().min(1)),
        columns: z
          .array(
            z
              .object({
                name: ident,
                type: z.string().min(1),
                comment: z.string().min(1),
                nullable: z.boolean(),
              })
              .strict(),
          )
          .min(1, "must not be empty"),
        p95_window_minutes: z.number().int().positive(),
      })
      .strict(),
    contracts: z
      .object({
        gold: z.object({ schema: ident, version: z.number().int().positive() }).strict(),
        files: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/, "must be a SHA-256 hex")),
      })
      .strict(),
  })
  .strict()
  .superRefine((m, ctx) => {
    // Cross-references inside the document: each job's script is an entry point, each table
    // and volume is in one of the schemas.
    const schemas = new Set(m.layers.map((l) => l.name));
    const issue = (at: (string | number)[], message: string) =>
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: at, message });
    for (const [job, script] of Object.entries(m.jobs))
      if (!(script in m.entry_points))
        issue(
          ["jobs", job],
          `must be one of entry_points (${Object.keys(m.entry_points).join(", ")})`,
        );
    const inSchema = (at: (string | number)[], schema: string) => {
      if (!schemas.has(schema)) issue(at, `must be one of the layers (${[...schemas].join(", ")})`);
    };
    for (const [v, { schema }] of Object.entries(m.volumes)) inSchema(["volumes", v], schema);
    inSchema(["freshness_log", "schema"], m.freshness_log.schema);
    for (const [e, body] of Object.entries(m.entities))
      for (const kind of ["bronze", "silver", "quarantine"] as const)
        inSchema(["entities", e, kind, "schema"], body[kind].schema);
    if (Object.keys(m.entities).length === 0) issue(["entities"], "must name at least one entity");
  });

/** The package manifest (keys as the package writes them; see oms_pipeline/manifest.py). */
export type PipelineManifest = z.infer<typeof MANIFEST>;

/**
 * Reads and checks the manifest in `file`. Throws, naming the file, when it is missing, is not
 * JSON, or a key is missing or malformed (naming the key and what is allowed), and tells how to
 * regenerate it.
 */
export function readPipelineManifest(file: string = manifestFile()): PipelineManifest {
  const fix = "regenerate it with `python -m oms_pipeline.manifest --write` in pipelines/";
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(
      `${file}: cannot read the pipeline package manifest (${fix}): ${(e as Error).message}`,
    );
  }
  const parsed = MANIFEST.safeParse(doc);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (i) => `${i.path.join(".") || "the document"}: ${i.message}`,
    );
    throw new Error(
      `${file}: not a valid pipeline package manifest (${fix}): ${problems.join("; ")}`,
    );
  }
  return parsed.data;
}

/**
 * The console script of job module `job` (`oms_pipeline.jobs.<job>`). Throws naming the file when
 * the package has no entry point for that job.
 */
export function jobEntryPoint(manifest: PipelineManifest, job: string, file: string): string {
  const script = manifest.jobs[job];
  if (script === undefined)
    throw new Error(
      `${file}: jobs has no entry point for oms_pipeline.jobs.${job}; the stack runs it as a job task (jobs declared: ${Object.keys(manifest.jobs).join(", ") || "none"})`,
    );
  return script;
}

/** Entity -> its Silver tables in write order, as the manifest states them. */
export const entitySilverTables = (
  m: PipelineManifest,
): Readonly<Record<string, readonly string[]>> =>
  Object.fromEntries(Object.entries(m.entities).map(([e, body]) => [e, body.silver.tables]));

/** The manifest of this repository's package, read once when the stack loads. */
export const PIPELINE_MANIFEST: PipelineManifest = readPipelineManifest();

/** The job module (`oms_pipeline.jobs.<module>`) each kind of task runs. */
const JOB_MODULES = {
  ingest: "ingest",
  gold: "gold_refresh",
  powerBiRefresh: "powerbi_refresh",
} as const;
/**
 * A kind of job task: ingest (bronze then Silver in each micro-batch of one query, and the
 * landing-file report), gold or the Power BI refresh.
 */
export type TaskKind = keyof typeof JOB_MODULES;

/**
 * The console script each kind of task calls, from the package's manifest (its pyproject
 * `[project.scripts]`). Throws naming `file` when the package has no script for a job module.
 */
export function jobEntryPoints(
  manifest: PipelineManifest,
  file: string = manifestFile(),
): Readonly<Record<TaskKind, string>> {
  return Object.fromEntries(
    Object.entries(JOB_MODULES).map(([kind, job]) => [kind, jobEntryPoint(manifest, job, file)]),
  ) as Record<TaskKind, string>;
}

/** Console-script entry points of this repository's package the job tasks call, by kind of task. */
export const ENTRY_POINTS = jobEntryPoints(PIPELINE_MANIFEST);
