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
import { parse as parseToml } from "smol-toml";

/** The pipeline package's contracts folder: the one home of the ops tables and the alert SQL. */
export const CONTRACTS = path.join(
  __dirname,
  "..",
  "pipelines",
  "src",
  "oms_pipeline",
  "contracts",
);
/** The ops tables' contract (`ops.toml`), read by the pipeline as `oms_pipeline.contracts.ops`. */
export const OPS_CONTRACT = path.join(CONTRACTS, "ops.toml");
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
 * Reads the freshness log's contract from `ops.toml`. Throws, naming the file and the key, when a
 * key is missing or has the wrong type.
 */
export function readFreshnessLogContract(file: string = OPS_CONTRACT): FreshnessLogContract {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${file}: not valid TOML: ${(e as Error).message}`);
  }
  const fail = (key: string, expected: string): never => {
    throw new Error(`${file}: ${key} must be ${expected}`);
  };
  const text = (v: unknown, key: string): string =>
    typeof v === "string" && v !== "" ? v : fail(key, "a non-empty string");
  const ident = (v: unknown, key: string): string =>
    typeof v === "string" && /^[a-z_][a-z0-9_]*$/.test(v)
      ? v
      : fail(key, "a lowercase identifier (letters, digits, _)");
  const log = (doc.freshness_log ?? fail("freshness_log", "a table")) as Record<string, unknown>;
  const window = log.p95_window_minutes;
  const properties = (log.properties ?? {}) as Record<string, unknown>;
  const columns =
    Array.isArray(log.columns) && log.columns.length > 0
      ? (log.columns as Record<string, unknown>[])
      : fail("freshness_log.columns", "a non-empty list");
  const seen = new Set<string>();
  return {
    schema: ident(doc.schema, "schema"),
    name: ident(log.name, "freshness_log.name"),
    comment: text(log.comment, "freshness_log.comment"),
    properties: Object.fromEntries(
      Object.entries(properties).map(([k, v]) => [k, text(v, `freshness_log.properties.${k}`)]),
    ),
    columns: columns.map((c, i) => {
      const at = `freshness_log.columns[${i}]`;
      const unknown = Object.keys(c)
        .filter((k) => !COLUMN_KEYS.includes(k))
        .sort();
      if (unknown.length > 0)
        fail(`${at}.${unknown[0]}`, `absent (allowed keys: ${[...COLUMN_KEYS].sort().join(", ")})`);
      const name = ident(c.name, `${at}.name`);
      if (seen.has(name)) fail(`${at}.name`, `unique (${name} is declared twice)`);
      seen.add(name);
      const type = typeof c.type === "string" && isSparkType(c.type) ? c.type : undefined;
      return {
        name,
        type:
          type ??
          fail(`${at}.type`, "a Spark SQL type such as bigint, timestamp, map<string,bigint>"),
        comment: text(c.comment, `${at}.comment`),
        nullable:
          c.nullable === undefined || typeof c.nullable === "boolean"
            ? c.nullable !== false
            : fail(`${at}.nullable`, "true or false"),
      };
    }),
    p95WindowMinutes:
      Number.isInteger(window) && (window as number) > 0
        ? (window as number)
        : fail("freshness_log.p95_window_minutes", "a positive integer"),
  };
}

/** The keys a column of the contract may have. */
const COLUMN_KEYS: readonly string[] = ["name", "type", "comment", "nullable"];
const SIMPLE_TYPES = new Set(
  "string boolean binary date timestamp timestamp_ntz tinyint smallint int bigint float double".split(
    " ",
  ),
);

/**
 * True for a Spark SQL type the contract may use: a simple type, `decimal(p,s)`, `array<T>` or
 * `map<K,V>` without spaces (as Unity Catalog's column specs want them; the pipeline's
 * `is_spark_type` accepts the same).
 */
export function isSparkType(type: string): boolean {
  if (SIMPLE_TYPES.has(type) || /^decimal\(\d+,\d+\)$/.test(type)) return true;
  const inner = /^(array|map)<(.+)>$/.exec(type);
  if (!inner) return false;
  const [, kind, args] = inner;
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  [...args].forEach((ch, i) => {
    depth += ch === "<" || ch === "(" ? 1 : ch === ">" || ch === ")" ? -1 : 0;
    if (ch === "," && depth === 0) {
      parts.push(args.slice(start, i));
      start = i + 1;
    }
  });
  parts.push(args.slice(start));
  return parts.length === (kind === "array" ? 1 : 2) && parts.every(isSparkType);
}

/** The freshness log's contract, read once. */
export const FRESHNESS_LOG = readFreshnessLogContract();

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
