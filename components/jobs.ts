/**
 * The pipeline on Databricks: the package shipped as a content-addressed wheel into the artifacts
 * volume, a service principal the jobs run as, the Autoloader ingestion job (bronze then silver,
 * per entity) and the Gold refresh job triggered by Silver table updates.
 *
 * Two components, because Unity Catalog grants are authoritative per securable and owned by the
 * catalog component: the identity must exist before the catalog (its grants go through
 * `additionalGrants`), the jobs after it (they name the catalog's schemas and volumes).
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import { LakehouseGrant, SchemaName, VolumeName } from "./catalog";
import { buildPipelinePackage, PACKAGE_NAME } from "./pipelinePackage";

/** Databricks Runtime the package is pinned to (Spark 4.0.0, Delta 4.0.0; see pipelines/). */
export const RUNTIME_VERSION = "17.3.x-scala2.13";
/** Serverless environment version whose Spark / Databricks Connect matches DBR 17. */
export const SERVERLESS_ENVIRONMENT_VERSION = "4";

/**
 * The pipeline's entities and the Silver tables each one writes. Mirrors the Python contracts
 * (`oms_pipeline.contracts.entities`); the stack tests compare the two through the package itself.
 */
export const ENTITY_SILVER_TABLES: Readonly<Record<string, readonly string[]>> = {
  orders: ["order_lines"],
  shipments: ["shipment_events", "shipments"],
  inventory: ["inventory_events", "inventory_stock"],
  customers: ["customers"],
};

/** Console-script entry points of the package the tasks call (pyproject [project.scripts]). */
export const ENTRY_POINTS = {
  bronze: "oms-bronze-ingest",
  silver: "oms-silver",
  gold: "oms-gold-refresh",
  powerBiRefresh: "oms-powerbi-refresh",
} as const;

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
    ...(["bronze", "silver", "gold", "ops"] as const).map(
      (schema): LakehouseGrant => ({
        securable: `schema:${schema}`,
        principal,
        privileges: [...writeSchema],
      }),
    ),
    { securable: "volume:ops.landing", principal, privileges: ["READ_VOLUME"] },
    { securable: "volume:ops.checkpoints", principal, privileges: ["READ_VOLUME", "WRITE_VOLUME"] },
    { securable: "volume:ops.artifacts", principal, privileges: ["READ_VOLUME"] },
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
  /** Refresh this Power BI model in a task after the Gold refresh; omit for no refresh task. */
  readonly powerBiRefresh?: PowerBiRefreshArgs;
  /** Resources the first run needs (the principal's grants and rule set). */
  readonly dependsOn?: readonly pulumi.Resource[];
  /** Tags for jobs and their compute. */
  readonly tags: Readonly<Record<string, string>>;
  /** The workspace's Databricks provider. */
  readonly provider: databricks.Provider;
}

/** A job task whose key is a plain string, so tasks can be sorted before registration. */
type Task = databricks.types.input.JobTask & { taskKey: string };
const ENV_KEY = "oms_pipeline";
const CLUSTER_KEY = "pipeline";
const byTaskKey = (a: { taskKey: string }, b: { taskKey: string }) =>
  a.taskKey < b.taskKey ? -1 : a.taskKey > b.taskKey ? 1 : 0;

export class PipelineJobs extends pulumi.ComponentResource {
  /** Job ids by job. */
  public readonly jobIds: Readonly<Record<"ingestion" | "gold", pulumi.Output<string>>>;
  /** Job URLs in the workspace UI. */
  public readonly jobUrls: Readonly<Record<"ingestion" | "gold", pulumi.Output<string>>>;
  /** Volume path of the wheel the jobs run. */
  public readonly wheelPath: pulumi.Output<string>;
  /** Version of the shipped package, `<version>+<content hash>`. */
  public readonly packageVersion: string;

  constructor(name: string, args: PipelineJobsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("oms:jobs:PipelineJobs", name, {}, opts);
    const child = { parent: this, provider: args.provider };
    const s = args.settings;
    const continuous = s.trigger === "continuous";

    // --- Code: the wheel, content-addressed. Same sources → same path and bytes → no diff. ---
    const pkg = buildPipelinePackage(args.pipelinesDir ?? path.join(__dirname, "..", "pipelines"));
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
      tags: { ...args.tags },
      ...notifications,
    };

    // --- Ingestion: per entity, bronze (Autoloader) then silver. ------------------------------
    const triggerArgs = continuous
      ? ["--trigger", "processingTime", "--processing-time", s.processingTime]
      : ["--trigger", "availableNow"];
    const streamArgs = [...triggerArgs, "--max-files-per-trigger", String(s.maxFilesPerTrigger)];
    const entities = Object.keys(ENTITY_SILVER_TABLES).sort();
    // Where the bronze reader and the landing-file report find landing files and checkpoints.
    const landingArgs = [
      "--catalog",
      args.catalogName,
      "--landing-root",
      args.volumePaths.landing,
      "--checkpoint-root",
      args.volumePaths.checkpoints,
    ];
    const ingestionTasks: Task[] = entities
      .flatMap((entity): Task[] => [
        {
          taskKey: `bronze_${entity}`,
          description: `Autoloader: landing/${entity} -> bronze.${entity}`,
          pythonWheelTask: wheelTask(ENTRY_POINTS.bronze, [
            ...landingArgs,
            "--entity",
            entity,
            "--autoloader",
            "on",
            ...streamArgs,
          ]),
          ...onCompute(),
          ...retries(),
        },
        {
          taskKey: `silver_${entity}`,
          description: `bronze.${entity} -> silver (validate, quarantine, merge)`,
          // Triggered runs: silver reads what bronze just committed. Continuous runs: both are
          // endless streams, so silver cannot wait for bronze to finish; it streams from the
          // bronze table side by side (and the retry mode restarts it until that table exists).
          dependsOns: continuous ? undefined : [{ taskKey: `bronze_${entity}` }],
          pythonWheelTask: wheelTask(ENTRY_POINTS.silver, [
            "--catalog",
            args.catalogName,
            "--checkpoint-root",
            args.volumePaths.checkpoints,
            "--entity",
            entity,
            ...streamArgs,
          ]),
          ...onCompute(),
          ...retries(),
        },
      ])
      .concat([
        {
          // Every file under the landing root is ingested or reported (ops.landing_files); a
          // file skipped for the first time (outside an entity folder, changed after it was
          // ingested) fails this task, so the failure notifications above raise the alarm once.
          // Job health rules only take run-duration and streaming-backlog metrics.
          taskKey: "landing_files",
          description: "Account for every landing file: ingested, pending or reported as skipped",
          dependsOns: continuous
            ? undefined
            : entities.map((entity) => ({ taskKey: `bronze_${entity}` })),
          pythonWheelTask: wheelTask(ENTRY_POINTS.bronze, [
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
      ])
      .sort(byTaskKey);

    const ingestion = new databricks.Job(
      `${name}-ingestion`,
      {
        name: `OMS ingestion (${args.environment})`,
        description:
          "Autoloader streams landing -> bronze -> silver for every OMS entity; run as the pipeline service principal",
        ...common,
        ...compute("ingestion"),
        tasks: ingestionTasks,
        // Continuous: always on, low latency. File arrival: a run when files land in the landing
        // volume, each stream processes what is there (availableNow) and the compute goes away.
        continuous: continuous ? { taskRetryMode: "ON_FAILURE" } : undefined,
        trigger: continuous
          ? undefined
          : {
              fileArrival: {
                url: pulumi.interpolate`${args.volumePaths.landing}/`,
                minTimeBetweenTriggersSeconds: 60,
                waitAfterLastChangeSeconds: 60,
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

    // --- Gold: after Silver changes. A table-update trigger rather than a chained task: in
    // continuous mode silver never finishes, so a task after it would never start; the trigger
    // works the same in both modes and throttles refreshes to one per interval.
    const silverTables = entities
      .flatMap((e) => ENTITY_SILVER_TABLES[e])
      .sort()
      .map((t) => pulumi.interpolate`${args.schemas.silver}.${t}`);
    const pbi = args.powerBiRefresh;
    const gold = new databricks.Job(
      `${name}-gold`,
      {
        name: `OMS gold refresh (${args.environment})`,
        description:
          "Incremental Gold refresh from Silver's change data feed; run as the pipeline service principal",
        ...common,
        ...compute("gold"),
        tasks: [
          {
            taskKey: "gold_refresh",
            description: "silver change feed -> gold facts, dimensions and aggregates",
            pythonWheelTask: wheelTask(ENTRY_POINTS.gold, ["--catalog", args.catalogName]),
            ...onCompute(),
            maxRetries: s.maxRetries,
            minRetryIntervalMillis: 60_000,
            retryOnTimeout: false,
            timeoutSeconds: s.timeoutSeconds,
          },
          // Dual-mode dimensions keep an imported copy: refresh it once Gold has landed. Only
          // after a successful Gold refresh, so a failed run never publishes half a refresh.
          ...(pbi
            ? [
                {
                  taskKey: "powerbi_refresh",
                  description: "request a refresh of the Power BI semantic model",
                  dependsOns: [{ taskKey: "gold_refresh" }],
                  pythonWheelTask: wheelTask(ENTRY_POINTS.powerBiRefresh, [
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
              ]
            : []),
        ],
        trigger: {
          tableUpdate: {
            tableNames: pulumi.all(silverTables),
            condition: "ANY_UPDATED",
            minTimeBetweenTriggersSeconds: s.goldMinSecondsBetweenRuns,
            waitAfterLastChangeSeconds: 60,
          },
        },
        timeoutSeconds: s.timeoutSeconds,
        health: { rules: [rule("RUN_DURATION_SECONDS", s.runDurationWarningSeconds)] },
      },
      { ...child, dependsOn: [...(args.dependsOn ?? [])] },
    );

    // Engineers watch, re-run and cancel; only the deployer (owner) changes the definitions.
    for (const [key, job] of [
      ["ingestion", ingestion],
      ["gold", gold],
    ] as const) {
      new databricks.Permissions(
        `${name}-${key}-permissions`,
        {
          jobId: job.id,
          accessControls: [
            { groupName: args.dataEngineersGroup, permissionLevel: "CAN_MANAGE_RUN" },
          ],
        },
        child,
      );
    }

    const url = (job: databricks.Job) => pulumi.interpolate`${args.workspaceUrl}/jobs/${job.id}`;
    this.jobIds = { ingestion: ingestion.id, gold: gold.id };
    this.jobUrls = { ingestion: url(ingestion), gold: url(gold) };
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
