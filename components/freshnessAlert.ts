/**
 * Production watches the freshness objective: two Databricks SQL alerts on the pipeline's Gold
 * freshness log (`ops.gold_freshness`, one row per Gold refresh with the landing -> Gold lag of
 * what it published), run on the stack's serverless SQL warehouse on a schedule derived from the
 * objective (see `freshnessAlertSchedule`).
 *
 * The query is the package's template `pipelines/src/oms_pipeline/contracts/freshness_alert.sql`,
 * rendered here and by `oms_pipeline.contracts.ops.freshness_alert_sql` alike: the pipeline tests
 * run that same text on embedded Spark against a fresh and a stale log, and the stack tests check
 * that the text deployed equals the package's rendering. It returns one row with two verdicts:
 * - `p95_over_objective`: a refresh of the p95 window (15 minutes) published with p95 > the objective;
 * - `refresh_overdue`: no refresh recorded for 3 x the objective (or none ever).
 * Each alert evaluates one verdict ("Databricks SQL alerts": a condition on a result column
 * compared with a value) and notifies the jobs' recipients, also when it returns to OK.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import { PIPELINE_MANIFEST, PipelineManifest } from "./pipelineManifest";

/** The pipeline package's contracts folder: the one home of the ops tables and the alert SQL. */
export const CONTRACTS = path.join(
  __dirname,
  "..",
  "pipelines",
  "src",
  "oms_pipeline",
  "contracts",
);
/** The query template, in the pipeline package (the one home of the alert's SQL). */
export const FRESHNESS_ALERT_TEMPLATE = path.join(CONTRACTS, "freshness_alert.sql");

/** A column of an ops table, as the contract declares it. */
export interface OpsColumn {
  readonly name: string;
  /** Spark SQL type, e.g. `bigint`, `map<string,bigint>`. */
  readonly type: string;
  readonly comment: string;
  readonly nullable: boolean;
}

/** The freshness log's contract: table, comment, properties, columns, p95 look-back. */
export interface FreshnessLogContract {
  /** The ops schema's name (`ops`). */
  readonly schema: string;
  readonly name: string;
  readonly comment: string;
  readonly properties: Readonly<Record<string, string>>;
  readonly columns: readonly OpsColumn[];
  /** The p95 verdict looks back this many minutes (`{window_minutes}` in the template). */
  readonly p95WindowMinutes: number;
}

/**
 * The freshness log's contract as the package manifest publishes it (`contracts/ops.toml`, read
 * and checked by `oms_pipeline.contracts.ops`; see pipelineManifest.ts).
 */
export function freshnessLogContract(manifest: PipelineManifest): FreshnessLogContract {
  const { p95_window_minutes: p95WindowMinutes, ...log } = manifest.freshness_log;
  return { ...log, p95WindowMinutes };
}

/** The freshness log's contract of this repository's package. */
export const FRESHNESS_LOG = freshnessLogContract(PIPELINE_MANIFEST);

/**
 * How often the alerts run, in minutes: once per objective (at least every minute), and never
 * less often than the p95 look-back window, so no slow refresh ages out unseen.
 *
 * Every run is a query on the SQL warehouse, and a warehouse queried more often than its
 * auto-stop never stops ("Choose a SQL warehouse for an alert", cost impact). A schedule tied to
 * the objective keeps a stack with a long objective (dev, 900 s: every 15 minutes, the warehouse
 * stops in between) from paying for a warehouse that runs all day; a stack with a one-minute
 * objective (prod) keeps it running, as its report pages' one-minute refresh does anyway.
 */
export function freshnessAlertMinutes(objectiveSeconds: number): number {
  return Math.min(FRESHNESS_LOG.p95WindowMinutes, Math.max(1, Math.floor(objectiveSeconds / 60)));
}

/** The alerts' Quartz cron schedule (seconds, minutes, hours, day of month, month, weekday; UTC). */
export function freshnessAlertSchedule(objectiveSeconds: number): string {
  return `0 0/${freshnessAlertMinutes(objectiveSeconds)} * * * ?`;
}

/** The verdict columns of the query, one alert each. */
export const FRESHNESS_VERDICTS = {
  p95: "p95_over_objective",
  overdue: "refresh_overdue",
} as const;

/**
 * The alert query for a table and an objective: the template with `{table}` and
 * `{objective_seconds}` and `{window_minutes}` replaced (as `freshness_alert_sql` does). Throws on a non-positive or
 * non-integer objective.
 */
export function freshnessAlertSql(table: string, objectiveSeconds: number): string {
  if (!Number.isInteger(objectiveSeconds) || objectiveSeconds <= 0) {
    throw new Error(`objectiveSeconds must be a positive integer, not ${objectiveSeconds}`);
  }
  const values: Record<string, string> = {
    "{table}": table,
    "{objective_seconds}": String(objectiveSeconds),
    "{window_minutes}": String(FRESHNESS_LOG.p95WindowMinutes),
  };
  return Object.entries(values).reduce(
    (sql, [placeholder, value]) => sql.split(placeholder).join(value),
    fs.readFileSync(FRESHNESS_ALERT_TEMPLATE, "utf8"),
  );
}

export interface FreshnessAlertsArgs {
  /** Environment name, in the alerts' display names. */
  readonly environment: string;
  /**
   * Full name of the ops schema (`catalog.ops`) holding the freshness log; its schema part must
   * be the contract's (`ops.toml`).
   */
  readonly opsSchema: pulumi.Input<string>;
  /** Landing -> Gold p95 objective, seconds (`freshnessObjectiveSeconds`). */
  readonly objectiveSeconds: number;
  /** The stack's serverless SQL warehouse the alerts run on. */
  readonly warehouseId: pulumi.Input<string>;
  /** E-mail recipients (the jobs' `jobNotificationEmails`). */
  readonly emails: readonly string[];
  /** Notification destination ids (the jobs' `jobWebhookIds`). */
  readonly destinationIds: readonly string[];
  /** The workspace's Databricks provider. */
  readonly provider: databricks.Provider;
}

/**
 * The freshness log's table and the two freshness alerts of a stack. The table is declared here,
 * from the contract, so the alerts have a table to query before the first Gold refresh (with an
 * empty log, `refresh_overdue` holds: no refresh yet); the pipeline then only appends to it.
 */
export class FreshnessAlerts extends pulumi.ComponentResource {
  /** Full name of the freshness log table (`catalog.ops.gold_freshness`). */
  public readonly tableName: pulumi.Output<string>;
  /** Alert ids by verdict. */
  public readonly alertIds: Readonly<
    Record<keyof typeof FRESHNESS_VERDICTS, pulumi.Output<string>>
  >;

  constructor(name: string, args: FreshnessAlertsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("oms:ops:FreshnessAlerts", name, {}, opts);
    const child = { parent: this, provider: args.provider };
    const objective = args.objectiveSeconds;
    const names = pulumi.output(args.opsSchema).apply((full) => {
      const [catalogName, schemaName, ...rest] = full.split(".");
      if (rest.length > 0 || schemaName !== FRESHNESS_LOG.schema) {
        throw new Error(
          `opsSchema must be <catalog>.${FRESHNESS_LOG.schema} (the ops tables' contract), not ${full}`,
        );
      }
      return { catalogName, schemaName, table: `${full}.${FRESHNESS_LOG.name}` };
    });
    const table = new databricks.SqlTable(
      `${name}-log`,
      {
        catalogName: names.catalogName,
        schemaName: names.schemaName,
        name: FRESHNESS_LOG.name,
        tableType: "MANAGED",
        comment: FRESHNESS_LOG.comment,
        properties: { ...FRESHNESS_LOG.properties },
        columns: FRESHNESS_LOG.columns.map((c) => ({ ...c })),
        warehouseId: args.warehouseId,
      },
      child,
    );
    this.tableName = names.table;
    const queryText = names.table.apply((t) => freshnessAlertSql(t, objective));
    // Sorted, so the subscription list never diffs on order alone.
    const subscriptions = [
      ...[...args.emails].sort().map((userEmail) => ({ userEmail })),
      ...[...args.destinationIds].sort().map((destinationId) => ({ destinationId })),
    ];
    const alert = (key: keyof typeof FRESHNESS_VERDICTS, title: string, summary: string) =>
      new databricks.AlertV2(
        `${name}-${key}`,
        {
          displayName: `OMS freshness (${args.environment}): ${title}`,
          customSummary: summary,
          queryText,
          warehouseId: args.warehouseId,
          evaluation: {
            source: { name: FRESHNESS_VERDICTS[key] },
            comparisonOperator: "EQUAL",
            threshold: { value: { boolValue: true } },
            notification: { notifyOnOk: true, subscriptions },
          },
          schedule: {
            quartzCronSchedule: freshnessAlertSchedule(objective),
            timezoneId: "UTC",
            pauseStatus: "UNPAUSED",
          },
        },
        { ...child, dependsOn: [table] },
      );
    const window = FRESHNESS_LOG.p95WindowMinutes;
    const p95 = alert(
      "p95",
      `p95 landing -> Gold over ${objective} s`,
      `A Gold refresh in the last ${window} minutes published with a p95 landing -> Gold lag above the ${objective} s objective (${FRESHNESS_LOG.schema}.${FRESHNESS_LOG.name}).`,
    );
    const overdue = alert(
      "overdue",
      `no Gold refresh for ${3 * objective} s`,
      `No Gold refresh recorded in ${FRESHNESS_LOG.schema}.${FRESHNESS_LOG.name} for 3 x the ${objective} s objective: the Gold refresh is not running.`,
    );
    this.alertIds = { p95: p95.id, overdue: overdue.id };
    this.registerOutputs({ tableName: this.tableName, alertIds: this.alertIds });
  }
}
