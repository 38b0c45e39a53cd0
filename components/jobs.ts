/**
 * The pipeline on Databricks: the package shipped as a content-addressed wheel into the artifacts
 * volume, a service principal the jobs run as, the ingestion job (one streaming query over every
 * entity's landing folder and, when configured, Kafka topic: each micro-batch appends bronze, then
 * runs Silver on the same rows), the Gold refresh (a task of the always-on ingestion job in continuous mode, a job
 * triggered by Silver table updates otherwise) and the periodic Power BI dimension refresh.
 *
 * Two components, because Unity Catalog grants are authoritative per securable and owned by the
 * catalog component: the identity must exist before the catalog (its grants go through
 * `additionalGrants`), the jobs after it (they name the catalog's schemas and volumes).
 */
import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import { LakehouseGrant, SCHEMAS, SchemaName, VolumeName, volumeSecurable } from "./catalog";
import { buildPipelinePackage, PACKAGE_NAME } from "./pipelinePackage";
import {
  ENTRY_POINTS,
  entitySilverTables,
  jobEntryPoints,
  manifestFile,
  PIPELINE_MANIFEST,
  PIPELINES_DIR,
} from "./pipelineManifest";
import { OBJECTIVE_TAG } from "../policy/freshness";

/** Databricks Runtime the package is pinned to (Spark 4.0.0, Delta 4.0.0; see pipelines/). */
export const RUNTIME_VERSION = "17.3.x-scala2.13";
/** Serverless environment version whose Spark / Databricks Connect matches DBR 17. */
export const SERVERLESS_ENVIRONMENT_VERSION = "4";

/**
 * The pipeline's entities and the Silver tables each one writes, in write order, as the package's
 * manifest publishes them (from its Silver layout, `contracts/silver.toml`).
 */
export const ENTITY_SILVER_TABLES: Readonly<Record<string, readonly string[]>> =
  entitySilverTables(PIPELINE_MANIFEST);

/**
 * Hours between refreshes of the Power BI model's imported (Dual) dimensions. A model on shared
 * capacity accepts 8 scheduled refreshes a day, API calls included ("Data refresh in Power BI",
 * Refresh limits): every 3 hours is 8 a day. The facts are DirectQuery, so the dimension refresh
 * is not on the landing -> report path; a Dual table joined to a DirectQuery fact is itself
 * queried in DirectQuery ("Manage storage mode in Power BI Desktop").
 */
export const POWERBI_REFRESH_HOURS = 3;

/** Console-script entry points of this repository's package the tasks call, by kind of task. */
export { ENTRY_POINTS };

/**
 * Unity Catalog privileges of the pipeline principal: exactly what the jobs do. Read the landing
 * files and the shipped code; create and write tables in every layer (quarantine tables live in
 * ops); read and write stream checkpoints. No ownership, no MANAGE, no access to the storage
 * credential or external locations beyond the volumes.
 */
export function pipelineGrants(principal: pulumi.Input<string>): LakehouseGrant[] {
  const writeSchema = ["USE_SCHEMA", "SELECT", "MODIFY", "CREATE_TABLE"] as const;
  return [
    { securable: "catalog", principal, privileges: ["USE_CATALOG"] },
    ...SCHEMAS.map(
      (schema): LakehouseGrant => ({
        securable: `schema:${schema}`,
        principal,
        privileges: [...writeSchema],
      }),
    ),
    { securable: volumeSecurable("landing"), principal, privileges: ["READ_VOLUME"] },
    {
      securable: volumeSecurable("checkpoints"),
      principal,
      privileges: ["READ_VOLUME", "WRITE_VOLUME"],
    },
    { securable: volumeSecurable("artifacts"), principal, privileges: ["READ_VOLUME"] },
  ];
}

export interface PipelineIdentityArgs {
  /** Display name of the service principal in the workspace. */
  readonly displayName: pulumi.Input<string>;
  /** Databricks account id (names the principal's rule set). */
  readonly accountId: pulumi.Input<string>;
  /** `users/…`, `servicePrincipals/…` or `groups/…`: who deploys and so sets the run-as. */
  readonly deployerPrincipal: pulumi.Input<string>;
  /** The workspace's Databricks provider. */
  readonly provider: databricks.Provider;
}

/** The service principal every pipeline job runs as. */
export class PipelineIdentity extends pulumi.ComponentResource {
  /** Application id: the principal's name in grants, run-as and permissions. */
  public readonly applicationId: pulumi.Output<string>;
  /** The rule set letting the deployer use the principal as run-as. */
  public readonly ruleSet: databricks.AccessControlRuleSet;

  constructor(name: string, args: PipelineIdentityArgs, opts?: pulumi.ComponentResourceOptions) {
    super("oms:jobs:PipelineIdentity", name, {}, opts);
    const child = { parent: this, provider: args.provider };

    // A machine identity, so no job ever runs as (and breaks with) a person. It needs no
    // workspace UI, SQL or cluster-creation entitlements: jobs create their own compute.
    const principal = new databricks.ServicePrincipal(
      `${name}-sp`,
      {
        displayName: args.displayName,
        allowClusterCreate: false,
        allowInstancePoolCreate: false,
        databricksSqlAccess: false,
        workspaceAccess: false,
      },
      child,
    );

    // Setting a service principal as a job's run-as needs roles/servicePrincipal.user on it. The
    // rule set is authoritative, so the deployer also keeps the manager role it had as creator:
    // without it the next `pulumi up` could not update this very rule set.
    this.ruleSet = new databricks.AccessControlRuleSet(
      `${name}-sp-rules`,
      {
        name: pulumi.interpolate`accounts/${args.accountId}/servicePrincipals/${principal.applicationId}/ruleSets/default`,
        grantRules: [
          { principals: [args.deployerPrincipal], role: "roles/servicePrincipal.manager" },
          { principals: [args.deployerPrincipal], role: "roles/servicePrincipal.user" },
        ],
      },
      child,
    );

    this.applicationId = principal.applicationId;
    this.registerOutputs({ applicationId: this.applicationId });
  }
}

/** The Power BI model the Gold job refreshes once Gold has landed, and the identity it uses. */
export interface PowerBiRefreshArgs {
  /** Fabric / Power BI workspace id. */
  readonly workspaceId: pulumi.Input<string>;
  /** Semantic model (dataset) id. */
  readonly datasetId: pulumi.Input<string>;
  /** Entra tenant of the publisher application. */
  readonly tenantId: pulumi.Input<string>;
  /** Application (client) id of the publisher application. */
  readonly clientId: pulumi.Input<string>;
  /** Databricks secret scope holding the publisher's client secret (the run-as may READ it). */
  readonly secretScope: pulumi.Input<string>;
  /** Key of the client secret in that scope. */
  readonly secretKey: pulumi.Input<string>;
}

/**
 * The Kafka endpoint the ingest task reads beside the landing folders (the Event Hubs namespace
 * of the stack), passed as the ingest entry point's `--kafka-*` flags.
 */
export interface EventSourceArgs {
  /** `<namespace>.servicebus.windows.net:9093` */
  readonly bootstrapServers: pulumi.Input<string>;
  /** Topic (event hub) by entity; every entity of {@link ENTITY_SILVER_TABLES} needs one. */
  readonly topics: Readonly<Record<string, pulumi.Input<string>>>;
  /** Unity Catalog service credential the Kafka source authenticates with. */
  readonly serviceCredential: pulumi.Input<string>;
  /**
   * Minutes between ingestion runs started for events when the job is triggered by file arrival
   * (events do not land as files, so they need a clock of their own). Continuous jobs ignore it.
   */
  readonly pollMinutes: number;
}

/** Subset of the config the jobs read (see config.ts for meaning and ranges). */
export interface PipelineJobsSettings {
  readonly trigger: "continuous" | "fileArrival";
  readonly processingTime: string;
  readonly compute: "serverless" | "cluster";
  readonly nodeType: string;
  readonly maxWorkers: number;
  readonly maxFilesPerTrigger: number;
  readonly maxRetries: number;
  readonly timeoutSeconds: number;
  readonly runDurationWarningSeconds: number;
  readonly backlogSecondsThreshold: number;
  readonly backlogFilesThreshold: number;
  readonly goldMinSecondsBetweenRuns: number;
  /** Landing -> Gold p95 objective, seconds; tagged on every job for the plan and the policy. */
  readonly freshnessObjectiveSeconds: number;
  readonly notificationEmails: readonly string[];
  readonly webhookIds: readonly string[];
}

export interface PipelineJobsArgs {
  /** Environment name, used in job names and tags. */
  readonly environment: string;
  /** Application id of the run-as service principal. */
  readonly runAs: pulumi.Input<string>;
  /** Catalog of the stack. */
  readonly catalogName: pulumi.Input<string>;
  /** Full schema names from the catalog component (`catalog.schema`). */
  readonly schemas: Readonly<Record<SchemaName, pulumi.Input<string>>>;
  /** Volume paths from the catalog component (`/Volumes/catalog/ops/…`). */
  readonly volumePaths: Readonly<Record<VolumeName, pulumi.Input<string>>>;
  /** Workspace URL (`https://adb-….azuredatabricks.net`), for the job URLs. */
  readonly workspaceUrl: pulumi.Input<string>;
  /** Account group allowed to watch and re-run the jobs. */
  readonly dataEngineersGroup: pulumi.Input<string>;
  /** Trigger, compute, health and notification settings. */
  readonly settings: PipelineJobsSettings;
  /** The `pipelines/` folder (pyproject.toml and src/). */
  readonly pipelinesDir?: string;
  /** Read OMS events from Kafka beside the landing files; omit for files only. */
  readonly events?: EventSourceArgs;
  /** Refresh this Power BI model in a task after the Gold refresh; omit for no refresh task. */
  readonly powerBiRefresh?: PowerBiRefreshArgs;
  /** Resources the first run needs (the principal's grants and rule set). */
  readonly dependsOn?: readonly pulumi.Resource[];
  /** Tags for jobs and their compute. */
  readonly tags: Readonly<Record<string, string>>;
  /** The workspace's Databricks provider. */
  readonly provider: databricks.Provider;
}

/**
 * Seconds between file-arrival triggers of the ingestion job: the Databricks minimum ("The
 * minimum allowed value is 60 seconds", Jobs API, FileArrivalTriggerConfiguration).
 */
export const FILE_ARRIVAL_MIN_SECONDS = 60;

/** A job task whose key is a plain string, so tasks can be sorted before registration. */
type Task = databricks.types.input.JobTask & { taskKey: string };
const ENV_KEY = "oms_pipeline";
const CLUSTER_KEY = "pipeline";
const byTaskKey = (a: { taskKey: string }, b: { taskKey: string }) =>
  a.taskKey < b.taskKey ? -1 : a.taskKey > b.taskKey ? 1 : 0;

/**
 * The stack's jobs: ingestion always; gold for triggered runs; powerbi with a model to refresh;
 * events (a clock starting ingestion runs) for triggered runs with an events source.
 */
export type JobName = "ingestion" | "gold" | "powerbi" | "events";

export class PipelineJobs extends pulumi.ComponentResource {
  /** Job ids by job (only the jobs the stack declares). */
  public readonly jobIds: Readonly<Partial<Record<JobName, pulumi.Output<string>>>>;
  /** Job URLs in the workspace UI, by job. */
  public readonly jobUrls: Readonly<Partial<Record<JobName, pulumi.Output<string>>>>;
  /** Volume path of the wheel the jobs run. */
  public readonly wheelPath: pulumi.Output<string>;
  /** Version of the shipped package, `<version>+<content hash>`. */
  public readonly packageVersion: string;

  constructor(name: string, args: PipelineJobsArgs, opts?: pulumi.ComponentResourceOptions) {
    // --- Code: the wheel, content-addressed. Same sources → same path and bytes → no diff.
    // What the tasks name (scripts, entities, tables) is what the shipped wheel's manifest says;
    // read before anything is registered, so a stale or incomplete package fails the preview.
    const pipelinesDir = args.pipelinesDir ?? PIPELINES_DIR;
    const pkg = buildPipelinePackage(pipelinesDir);
    const entryPoints = jobEntryPoints(pkg.manifest, manifestFile(pipelinesDir));
    super("oms:jobs:PipelineJobs", name, {}, opts);
    const child = { parent: this, provider: args.provider };
    const s = args.settings;
    const continuous = s.trigger === "continuous";

    const artifact = new databricks.File(
      `${name}-wheel`,
      {
        path: pulumi.interpolate`${args.volumePaths.artifacts}/${pkg.fileName}`,
        contentBase64: pkg.wheel.toString("base64"),
      },
      child,
    );
    const wheelPath = artifact.path;

    // --- Compute: serverless environment, or job clusters under a policy the stack owns. ------
    let policy: databricks.ClusterPolicy | undefined;
    if (s.compute === "cluster") {
      const fixed = (value: unknown) => ({ type: "fixed", value });
      policy = new databricks.ClusterPolicy(
        `${name}-policy`,
        {
          name: `OMS pipeline jobs (${args.environment})`,
          description: "Job clusters of the OMS pipeline: pinned runtime, node type and size",
          // Pinned runtime and node type: the package is tested against exactly this Spark.
          // Dedicated (single-user) access mode: Unity Catalog with the run-as principal.
          definition: pulumi.output(args.runAs).apply((runAs) =>
            JSON.stringify({
              cluster_type: fixed("job"),
              spark_version: fixed(RUNTIME_VERSION),
              node_type_id: fixed(s.nodeType),
              driver_node_type_id: fixed(s.nodeType),
              "autoscale.min_workers": { type: "range", minValue: 1, maxValue: s.maxWorkers },
              "autoscale.max_workers": { type: "range", minValue: 1, maxValue: s.maxWorkers },
              data_security_mode: fixed("SINGLE_USER"),
              single_user_name: fixed(runAs),
              ...Object.fromEntries(
                Object.keys(args.tags)
                  .sort()
                  .map((k) => [`custom_tags.${k}`, fixed(args.tags[k])]),
              ),
            }),
          ),
        },
        child,
      );
      new databricks.Permissions(
        `${name}-policy-permissions`,
        {
          clusterPolicyId: policy.id,
          accessControls: [{ servicePrincipalName: args.runAs, permissionLevel: "CAN_USE" }],
        },
        child,
      );
    }
    const compute = (label: string) =>
      policy
        ? {
            jobClusters: [
              {
                jobClusterKey: CLUSTER_KEY,
                newCluster: {
                  sparkVersion: RUNTIME_VERSION,
                  nodeTypeId: s.nodeType,
                  policyId: policy.id,
                  applyPolicyDefaultValues: true,
                  autoscale: { minWorkers: 1, maxWorkers: s.maxWorkers },
                  dataSecurityMode: "SINGLE_USER",
                  singleUserName: args.runAs,
                  customTags: { ...args.tags, job: label },
                },
              },
            ],
          }
        : {
            environments: [
              {
                environmentKey: ENV_KEY,
                spec: {
                  environmentVersion: SERVERLESS_ENVIRONMENT_VERSION,
                  dependencies: [wheelPath],
                },
              },
            ],
          };
    const onCompute = (): Partial<Omit<databricks.types.input.JobTask, "taskKey">> =>
      policy
        ? { jobClusterKey: CLUSTER_KEY, libraries: [{ whl: wheelPath }] }
        : { environmentKey: ENV_KEY };
    // A continuous run never ends, so it has no timeout, and the job's task retry mode restarts a
    // failed stream (per-task retries are for triggered runs).
    const retries = (): Partial<Omit<databricks.types.input.JobTask, "taskKey">> =>
      continuous
        ? {}
        : {
            maxRetries: s.maxRetries,
            minRetryIntervalMillis: 60_000,
            retryOnTimeout: false,
            timeoutSeconds: s.timeoutSeconds,
          };
    const wheelTask = (entryPoint: string, parameters: pulumi.Input<string>[]) => ({
      packageName: PACKAGE_NAME,
      entryPoint,
      parameters: pulumi.all(parameters),
    });

    // --- Notifications: the same recipients for failures, backlog and long runs. -------------
    const emails = [...s.notificationEmails].sort();
    const hooks = [...s.webhookIds].sort().map((id) => ({ id }));
    const notifications = {
      emailNotifications: emails.length
        ? {
            onFailures: emails,
            onStreamingBacklogExceededs: emails,
            onDurationWarningThresholdExceededs: emails,
            noAlertForSkippedRuns: true,
          }
        : undefined,
      webhookNotifications: hooks.length
        ? {
            onFailures: hooks,
            onStreamingBacklogExceededs: hooks,
            onDurationWarningThresholdExceededs: hooks,
          }
        : undefined,
    };
    const rule = (metric: string, value: number) => ({ metric, op: "GREATER_THAN", value });
    const common = {
      runAs: { servicePrincipalName: args.runAs },
      // One run at a time: two runs on the same checkpoints would fight; triggers queue instead.
      maxConcurrentRuns: 1,
      queue: { enabled: true },
      // The objective travels with the jobs, so the plan judges the declared jobs against it.
      tags: { ...args.tags, [OBJECTIVE_TAG]: String(s.freshnessObjectiveSeconds) },
      ...notifications,
    };

    // --- Ingestion: one streaming query over every entity. Each micro-batch appends bronze per
    // entity and runs Silver (validate, quarantine, merge) on the same rows, so a landed record
    // reaches Silver in one trigger interval instead of waiting for a second stream to poll the
    // bronze table.
    const triggerArgs = continuous
      ? ["--trigger", "processingTime", "--processing-time", s.processingTime]
      : ["--trigger", "availableNow"];
    const streamArgs = [...triggerArgs, "--max-files-per-trigger", String(s.maxFilesPerTrigger)];
    const entities = Object.keys(pkg.manifest.entities).sort();
    // Where the ingest query and the landing-file report find landing files and checkpoints.
    const landingArgs = [
      "--catalog",
      args.catalogName,
      "--landing-root",
      args.volumePaths.landing,
      "--checkpoint-root",
      args.volumePaths.checkpoints,
    ];
    // Gold: silver's change feed -> facts, dimensions, aggregates. In continuous mode a
    // processing-time loop on the ingestion job's cluster, side by side with the ingest query:
    // no trigger to wait for, no cluster to start per refresh. Triggered runs refresh once.
    const goldTask = (): Task => ({
      taskKey: "gold_refresh",
      description: "silver change feed -> gold facts, dimensions and aggregates",
      pythonWheelTask: wheelTask(entryPoints.gold, ["--catalog", args.catalogName, ...triggerArgs]),
      ...onCompute(),
      ...retries(),
    });
    // Events: every entity's Kafka topic is read by the same query as the landing folders, into
    // the same bronze table and through the same Silver step. Every entity needs a topic: the
    // query reads all of them or none.
    const events = args.events;
    const eventArgs: pulumi.Input<string>[] = [];
    if (events) {
      const missing = entities.filter((e) => events.topics[e] === undefined);
      if (missing.length > 0) {
        throw new Error(
          `events.topics has no topic for ${missing.join(", ")}; every entity (${entities.join(", ")}) needs one`,
        );
      }
      eventArgs.push(
        "--kafka-bootstrap-servers",
        events.bootstrapServers,
        ...entities.flatMap((e) => ["--kafka-topic", pulumi.interpolate`${e}=${events.topics[e]}`]),
        "--kafka-service-credential",
        events.serviceCredential,
      );
    }
    const ingestionTasks: Task[] = [
      {
        taskKey: "ingest",
        description: events
          ? "landing files and Kafka topics -> bronze, then silver (validate, quarantine, merge) in each micro-batch"
          : "Autoloader: landing files -> bronze, then silver (validate, quarantine, merge) in each micro-batch",
        pythonWheelTask: wheelTask(entryPoints.ingest, [
          ...landingArgs,
          "--autoloader",
          "on",
          ...streamArgs,
          ...eventArgs,
        ]),
        ...onCompute(),
        ...retries(),
      },
      {
        // Every file under the landing root is ingested or reported (ops.landing_files); a
        // file skipped for the first time (outside an entity folder, changed after it was
        // ingested) fails this task, so the failure notifications above raise the alarm once.
        // Job health rules only take run-duration and streaming-backlog metrics.
        taskKey: "landing_files",
        description: "Account for every landing file: ingested, pending or reported as skipped",
        // Triggered runs: after the ingest query, so what it read is not reported as pending.
        // Continuous runs: the query never finishes, so the report runs beside it periodically.
        dependsOns: continuous ? undefined : [{ taskKey: "ingest" }],
        pythonWheelTask: wheelTask(entryPoints.ingest, [
          ...landingArgs,
          "--autoloader",
          "on",
          "--files-report-only",
          "--fail-on-skipped",
          ...triggerArgs,
        ]),
        ...onCompute(),
        ...retries(),
      },
      ...(continuous ? [goldTask()] : []),
    ].sort(byTaskKey);

    const ingestion = new databricks.Job(
      `${name}-ingestion`,
      {
        name: `OMS ingestion (${args.environment})`,
        description:
          "One ingest query for every OMS entity: landing -> bronze, then silver in each micro-batch; run as the pipeline service principal",
        ...common,
        ...compute("ingestion"),
        tasks: ingestionTasks,
        // Continuous: always on, low latency. File arrival: a run when files land in the landing
        // volume, the ingest query processes what is there (availableNow) and the compute goes
        // away.
        // No quiet period (waitAfterLastChangeSeconds): every arrival inside it restarts the
        // wait, so a feed landing a file more often than that never starts a run ("Trigger jobs
        // when new files arrive"). The minimum time between triggers only spaces runs out.
        continuous: continuous ? { taskRetryMode: "ON_FAILURE" } : undefined,
        trigger: continuous
          ? undefined
          : {
              fileArrival: {
                url: pulumi.interpolate`${args.volumePaths.landing}/`,
                minTimeBetweenTriggersSeconds: FILE_ARRIVAL_MIN_SECONDS,
              },
            },
        timeoutSeconds: continuous ? undefined : s.timeoutSeconds,
        health: {
          rules: [
            rule("STREAMING_BACKLOG_FILES", s.backlogFilesThreshold),
            rule("STREAMING_BACKLOG_SECONDS", s.backlogSecondsThreshold),
            ...(continuous ? [] : [rule("RUN_DURATION_SECONDS", s.runDurationWarningSeconds)]),
          ],
        },
      },
      { ...child, dependsOn: [...(args.dependsOn ?? [])] },
    );

    // --- Gold (triggered runs): after Silver changes. A table-update trigger rather than a task
    // chained after silver, so a refresh covers every entity's commits. No quiet period: silver
    // commits after every ingestion run, and a wait that restarts on every update would starve
    // Gold under steady traffic ("Trigger jobs when source tables are updated"); the minimum
    // time between triggers throttles refreshes instead.
    const silverTables = entities
      .flatMap((e) => {
        const silver = pkg.manifest.entities[e].silver;
        const schema = args.schemas[silver.schema];
        if (schema === undefined)
          throw new Error(
            `${manifestFile(pipelinesDir)}: entities.${e}.silver.schema ${silver.schema} is not a schema of the catalog (${Object.keys(args.schemas).join(", ")})`,
          );
        return silver.tables.map((t) => [`${silver.schema}.${t}`, schema, t] as const);
      })
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, schema, t]) => pulumi.interpolate`${schema}.${t}`);
    const gold = continuous
      ? undefined
      : new databricks.Job(
          `${name}-gold`,
          {
            name: `OMS gold refresh (${args.environment})`,
            description:
              "Incremental Gold refresh from Silver's change data feed; run as the pipeline service principal",
            ...common,
            ...compute("gold"),
            tasks: [goldTask()],
            trigger: {
              tableUpdate: {
                tableNames: pulumi.all(silverTables),
                condition: "ANY_UPDATED",
                minTimeBetweenTriggersSeconds: s.goldMinSecondsBetweenRuns,
              },
            },
            timeoutSeconds: s.timeoutSeconds,
            health: { rules: [rule("RUN_DURATION_SECONDS", s.runDurationWarningSeconds)] },
          },
          { ...child, dependsOn: [...(args.dependsOn ?? [])] },
        );

    // --- Power BI: the imported (Dual) dimensions, on a fixed period within the shared-capacity
    // budget. Its own job in both modes: in continuous mode Gold never ends, so a task after it
    // would never start, and after every triggered Gold run it would exceed the daily budget.
    const pbi = args.powerBiRefresh;
    const powerbi = pbi
      ? new databricks.Job(
          `${name}-powerbi`,
          {
            name: `OMS Power BI refresh (${args.environment})`,
            description:
              "Refresh of the Power BI model's imported dimensions; run as the pipeline service principal",
            ...common,
            ...compute("powerbi"),
            tasks: [
              {
                taskKey: "powerbi_refresh",
                description: "refresh the Power BI model's Dual dimensions when Gold changed them",
                pythonWheelTask: wheelTask(entryPoints.powerBiRefresh, [
                  // Gold dimensions are compared with ops.powerbi_dimension_watermark.
                  "--catalog",
                  args.catalogName,
                  "--workspace-id",
                  pbi.workspaceId,
                  "--dataset-id",
                  pbi.datasetId,
                  "--tenant-id",
                  pbi.tenantId,
                  "--client-id",
                  pbi.clientId,
                  "--secret-scope",
                  pbi.secretScope,
                  "--secret-key",
                  pbi.secretKey,
                ]),
                ...onCompute(),
                maxRetries: s.maxRetries,
                minRetryIntervalMillis: 60_000,
                retryOnTimeout: false,
                timeoutSeconds: 600,
              },
            ],
            trigger: { periodic: { interval: POWERBI_REFRESH_HOURS, unit: "HOURS" } },
            timeoutSeconds: 600,
            // Warn at half the timeout: a refresh that slow is near failing.
            health: { rules: [rule("RUN_DURATION_SECONDS", 300)] },
          },
          { ...child, dependsOn: [...(args.dependsOn ?? [])] },
        )
      : undefined;

    // --- Events (triggered runs): a file-arrival trigger never fires for events, so a schedule
    // starts an ingestion run every pollMinutes; its availableNow ingest query drains the topics
    // (and any files), bronze then silver in each micro-batch as for files. The ingestion job
    // queues the run when one is in flight; a poll that finds its own previous run still waiting
    // is skipped, not stacked.
    const poll =
      events && !continuous
        ? new databricks.Job(
            `${name}-events`,
            {
              name: `OMS events poll (${args.environment})`,
              description:
                "Starts an ingestion run on a schedule so events are read without a file landing; run as the pipeline service principal",
              ...common,
              queue: { enabled: false },
              tasks: [
                {
                  taskKey: "ingestion",
                  description:
                    "run the ingestion job (one ingest query: files and events -> bronze, then silver)",
                  runJobTask: { jobId: ingestion.id.apply(Number) },
                },
              ],
              schedule: {
                quartzCronExpression: `0 0/${events.pollMinutes} * * * ?`,
                timezoneId: "UTC",
              },
              timeoutSeconds: s.timeoutSeconds,
              health: { rules: [rule("RUN_DURATION_SECONDS", s.runDurationWarningSeconds)] },
            },
            { ...child, dependsOn: [...(args.dependsOn ?? [])] },
          )
        : undefined;

    // Engineers watch, re-run and cancel; only the deployer (owner) changes the definitions.
    const declared = Object.entries({ ingestion, gold, powerbi, events: poll }).filter(
      (e): e is [JobName, databricks.Job] => e[1] !== undefined,
    );
    for (const [key, job] of declared) {
      new databricks.Permissions(
        `${name}-${key}-permissions`,
        {
          jobId: job.id,
          accessControls: [
            { groupName: args.dataEngineersGroup, permissionLevel: "CAN_MANAGE_RUN" },
            // The events poll runs as the pipeline principal and starts ingestion runs.
            ...(key === "ingestion" && poll
              ? [{ servicePrincipalName: args.runAs, permissionLevel: "CAN_MANAGE_RUN" }]
              : []),
          ],
        },
        child,
      );
    }

    const url = (job: databricks.Job) => pulumi.interpolate`${args.workspaceUrl}/jobs/${job.id}`;
    this.jobIds = Object.fromEntries(declared.map(([key, job]) => [key, job.id]));
    this.jobUrls = Object.fromEntries(declared.map(([key, job]) => [key, url(job)]));
    this.wheelPath = wheelPath;
    this.packageVersion = pkg.fullVersion;
    this.registerOutputs({
      jobIds: this.jobIds,
      jobUrls: this.jobUrls,
      wheelPath: this.wheelPath,
      packageVersion: this.packageVersion,
    });
  }
}
