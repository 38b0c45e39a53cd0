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
 * - `p95_over_objective`: a refresh of the last 15 minutes published with p95 > the objective;
 * - `refresh_overdue`: no refresh recorded for 3 x the objective (or none ever).
 * Each alert evaluates one verdict ("Databricks SQL alerts": a condition on a result column
 * compared with a value) and notifies the jobs' recipients, also when it returns to OK.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";

/** The freshness log's table in the ops schema (`oms_pipeline.contracts.ops.FRESHNESS_TABLE`). */
export const FRESHNESS_TABLE = "gold_freshness";
/** The query template, in the pipeline package (the one home of the alert's SQL). */
export const FRESHNESS_ALERT_TEMPLATE = path.join(
  __dirname,
  "..",
  "pipelines",
  "src",
  "oms_pipeline",
  "contracts",
  "freshness_alert.sql",
);
/** The p95 verdict looks back this far (the template's `INTERVAL 15 MINUTES`). */
export const FRESHNESS_P95_WINDOW_MINUTES = 15;

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
  return Math.min(FRESHNESS_P95_WINDOW_MINUTES, Math.max(1, Math.floor(objectiveSeconds / 60)));
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
 * `{objective_seconds}` replaced (as `freshness_alert_sql` does). Throws on a non-positive or
 * non-integer objective.
 */
export function freshnessAlertSql(table: string, objectiveSeconds: number): string {
  if (!Number.isInteger(objectiveSeconds) || objectiveSeconds <= 0) {
    throw new Error(`objectiveSeconds must be a positive integer, not ${objectiveSeconds}`);
  }
  return fs
    .readFileSync(FRESHNESS_ALERT_TEMPLATE, "utf8")
    .split("{table}")
    .join(table)
    .split("{objective_seconds}")
    .join(String(objectiveSeconds));
}

export interface FreshnessAlertsArgs {
  /** Environment name, in the alerts' display names. */
  readonly environment: string;
  /** Full name of the ops schema (`catalog.ops`) holding the freshness log. */
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

/** The two freshness alerts of a stack. */
export class FreshnessAlerts extends pulumi.ComponentResource {
  /** Alert ids by verdict. */
  public readonly alertIds: Readonly<
    Record<keyof typeof FRESHNESS_VERDICTS, pulumi.Output<string>>
  >;

  constructor(name: string, args: FreshnessAlertsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("oms:ops:FreshnessAlerts", name, {}, opts);
    const child = { parent: this, provider: args.provider };
    const objective = args.objectiveSeconds;
    const queryText = pulumi
      .output(args.opsSchema)
      .apply((schema) => freshnessAlertSql(`${schema}.${FRESHNESS_TABLE}`, objective));
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
        child,
      );
    const p95 = alert(
      "p95",
      `p95 landing -> Gold over ${objective} s`,
      `A Gold refresh in the last 15 minutes published with a p95 landing -> Gold lag above the ${objective} s objective (ops.${FRESHNESS_TABLE}).`,
    );
    const overdue = alert(
      "overdue",
      `no Gold refresh for ${3 * objective} s`,
      `No Gold refresh recorded in ops.${FRESHNESS_TABLE} for 3 x the ${objective} s objective: the Gold refresh is not running.`,
    );
    this.alertIds = { p95: p95.id, overdue: overdue.id };
    this.registerOutputs({ alertIds: this.alertIds });
  }
}
