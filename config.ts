/**
 * The one typed, validated view of the stack's configuration.
 *
 * Every key of the project namespace is read here, parsed from its string form and checked
 * against one zod schema before any resource is registered, so a typo or an impossible value
 * fails `pulumi preview` with a message naming the key, the bad value and what is allowed —
 * instead of failing half-way through `pulumi up` against Azure or Databricks.
 *
 * Pulumi.yaml declares the same keys (with the same defaults); a test keeps the two in step.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { intervalSeconds } from "./policy/freshness";

/** Storage redundancy options that support hierarchical namespace (ADLS Gen2). */
export const STORAGE_SKUS = [
  "Standard_LRS",
  "Standard_ZRS",
  "Standard_GRS",
  "Standard_RAGRS",
  "Standard_GZRS",
  "Standard_RAGZRS",
] as const;

/** T-shirt sizes accepted by the Databricks SQL warehouse API. */
export const WAREHOUSE_CLUSTER_SIZES = [
  "2X-Small",
  "X-Small",
  "Small",
  "Medium",
  "Large",
  "X-Large",
  "2X-Large",
  "3X-Large",
  "4X-Large",
] as const;

export const ENVIRONMENTS = ["dev", "test", "prod"] as const;

/** When the ingestion job runs: always (processing-time streams) or when files land (availableNow). */
export const JOB_TRIGGERS = ["continuous", "fileArrival"] as const;

/** Where the job tasks run: serverless jobs compute, or job clusters under the stack's policy. */
export const JOB_COMPUTES = ["serverless", "cluster"] as const;

/**
 * Shortest `minTimeBetweenTriggersSeconds` of a table-update trigger, seconds ("Trigger jobs when
 * source tables are updated").
 */
export const GOLD_MIN_SECONDS_BETWEEN_RUNS = 60;

/**
 * Trigger combinations Databricks does not run, and triggers that cannot meet the stack's
 * freshness objective (landing -> Gold, p95, seconds), checked once every key is valid alone.
 *
 * - `jobTrigger: continuous` keeps processing-time streams running; serverless jobs compute
 *   supports only incremental batch (`availableNow`) streaming, with "no support for default or
 *   time-based trigger intervals" ("Serverless compute limitations", Streaming limitations).
 * - A trigger interval longer than the objective already misses it with an idle pipeline: a
 *   file landing just after a micro-batch starts waits a whole interval for the next one
 *   ("Configure Structured Streaming trigger intervals"), and a table-update trigger starts at
 *   most one run per `minTimeBetweenTriggersSeconds` ("Trigger jobs when source tables are
 *   updated"). The full worst-case bound, interval by interval, is the plan's job (it reads the
 *   declared jobs); this rule rejects the configurations no job design could rescue.
 */
function freshnessProblems(c: {
  readonly freshnessObjectiveSeconds: number;
  readonly jobTrigger: (typeof JOB_TRIGGERS)[number];
  readonly jobCompute: (typeof JOB_COMPUTES)[number];
  readonly jobProcessingTime: string;
  readonly jobGoldMinSecondsBetweenRuns: number;
}): { path: string[]; message: string }[] {
  const out: { path: string[]; message: string }[] = [];
  const objective = c.freshnessObjectiveSeconds;
  if (c.jobTrigger === "continuous") {
    if (c.jobCompute === "serverless") {
      out.push({
        path: ["jobCompute"],
        message:
          'serverless cannot run jobTrigger continuous: serverless jobs compute supports only availableNow streaming, not processing-time triggers ("Serverless compute limitations"); allowed: jobCompute cluster with jobTrigger continuous, or jobTrigger fileArrival with jobCompute serverless',
      });
    }
    // The key's own pattern has admitted it, so it parses; the plan's bound reads it the same way.
    const interval = intervalSeconds(c.jobProcessingTime) ?? Infinity;
    if (interval > objective) {
      out.push({
        path: ["jobProcessingTime"],
        message: `an interval of ${interval} s is longer than freshnessObjectiveSeconds (${objective}): a file landing just after a micro-batch starts waits a whole interval; allowed: at most ${objective} seconds`,
      });
    }
  } else if (objective < GOLD_MIN_SECONDS_BETWEEN_RUNS) {
    out.push({
      path: ["freshnessObjectiveSeconds"],
      message: `an objective of ${objective} s is below the ${GOLD_MIN_SECONDS_BETWEEN_RUNS} s Databricks requires between table-update-triggered Gold runs ("Trigger jobs when source tables are updated"), so jobTrigger fileArrival cannot meet it; allowed: at least ${GOLD_MIN_SECONDS_BETWEEN_RUNS} seconds with jobTrigger fileArrival, or jobTrigger continuous with jobCompute cluster`,
    });
  } else if (c.jobGoldMinSecondsBetweenRuns > objective) {
    out.push({
      path: ["jobGoldMinSecondsBetweenRuns"],
      message: `${c.jobGoldMinSecondsBetweenRuns} s between Gold runs is longer than freshnessObjectiveSeconds (${objective}): the table-update trigger starts at most one run per interval; allowed: ${GOLD_MIN_SECONDS_BETWEEN_RUNS} (the Databricks minimum) to ${objective}`,
    });
  }
  return out;
}

/**
 * Automatic page refresh of the report pages that show DirectQuery tables ("Automatic page
 * refresh in Power BI"): a fixed interval, or change detection (a measure polled on an interval,
 * which needs a Premium or Fabric capacity).
 */
export const PAGE_REFRESH_TYPES = ["interval", "changeDetection"] as const;
export type PageRefreshType = (typeof PAGE_REFRESH_TYPES)[number];

/**
 * Shortest fixed page refresh interval a workspace on shared capacity gets: 30 minutes
 * ("Automatic page refresh in Power BI"). On a capacity the capacity admin's minimum applies.
 */
export const SHARED_CAPACITY_MIN_PAGE_REFRESH_SECONDS = 1800;

/**
 * Page refresh settings the stack's workspace cannot honour. Shared capacity means no
 * `powerbiCapacityId`: it allows neither change detection nor a fixed interval under 30 minutes
 * ("Automatic page refresh in Power BI"). On a capacity, change detection polls the model's
 * change-detection measure every `powerbiPageRefreshSeconds`.
 */
function pageRefreshProblems(c: {
  readonly powerbiCapacityId?: string;
  readonly powerbiPageRefresh: PageRefreshType;
  readonly powerbiPageRefreshSeconds: number;
}): { path: string[]; message: string }[] {
  const shared = c.powerbiCapacityId === undefined;
  const minimum = SHARED_CAPACITY_MIN_PAGE_REFRESH_SECONDS;
  if (shared && c.powerbiPageRefresh === "changeDetection") {
    return [
      {
        path: ["powerbiPageRefresh"],
        message: `changeDetection needs a Premium or Fabric capacity (powerbiCapacityId is empty: the workspace is on shared capacity, "Automatic page refresh in Power BI"); allowed: interval with powerbiPageRefreshSeconds of at least ${minimum}, or set powerbiCapacityId`,
      },
    ];
  }
  if (shared && c.powerbiPageRefreshSeconds < minimum) {
    return [
      {
        path: ["powerbiPageRefreshSeconds"],
        message: `below the ${minimum} s (30-minute) minimum page refresh interval on shared capacity (powerbiCapacityId is empty; "Automatic page refresh in Power BI"); allowed: ${minimum} to 86400, or set powerbiCapacityId for a shorter interval`,
      },
    ];
  }
  return [];
}

/**
 * How the storage firewall admits Databricks serverless compute (the SQL warehouse, serverless
 * jobs), through the workspace's network connectivity configuration (NCC): `serviceEndpoints`
 * adds the NCC's stable service-endpoint subnets to the account's virtual network rules
 * ("Configure a firewall for serverless compute access"); `privateEndpoints` creates NCC private
 * endpoint rules to the account's `dfs` and `blob` endpoints and approves them ("Configure
 * private connectivity from serverless compute"), which also works with public access disabled.
 */
export const SERVERLESS_STORAGE_ACCESS = ["serviceEndpoints", "privateEndpoints"] as const;

/**
 * Event Hubs tiers with the Apache Kafka endpoint: Standard and above; the Basic tier has none
 * ("Apache Kafka for Azure Event Hubs", "Compare Azure Event Hubs tiers"). Dedicated clusters are
 * out of scope of this stack.
 */
export const EVENT_HUBS_SKUS = ["Standard", "Premium"] as const;

/**
 * Longest message retention per tier, days ("Azure Event Hubs quotas and limits"): 7 on
 * Standard, 90 on Premium.
 */
export const EVENT_HUBS_MAX_RETENTION_DAYS = { Standard: 7, Premium: 90 } as const;

/** Processing units a Premium namespace can have ("Overview of Event Hubs Premium"). */
export const EVENT_HUBS_PREMIUM_UNITS = [1, 2, 4, 8, 16] as const;

/**
 * Azure regions where Azure Databricks is available, as ARM location names ("Azure Databricks
 * regions", Azure Databricks documentation, supported regions list). The page writes the two
 * US Government regions as usgovaz and usgovva; ARM names them usgovarizona and usgovvirginia.
 * Features with limited regional availability (serverless compute among them) are narrower:
 * see "Features with limited regional availability".
 */
export const DATABRICKS_REGIONS = [
  "australiacentral",
  "australiacentral2",
  "australiaeast",
  "australiasoutheast",
  "brazilsouth",
  "canadacentral",
  "canadaeast",
  "centralindia",
  "centralus",
  "chinaeast2",
  "chinaeast3",
  "chinanorth2",
  "chinanorth3",
  "eastasia",
  "eastus",
  "eastus2",
  "eastus2euap",
  "francecentral",
  "germanywestcentral",
  "japaneast",
  "japanwest",
  "koreacentral",
  "mexicocentral",
  "northcentralus",
  "northeurope",
  "norwayeast",
  "qatarcentral",
  "southafricanorth",
  "southcentralus",
  "southeastasia",
  "southindia",
  "swedencentral",
  "switzerlandnorth",
  "switzerlandwest",
  "uaenorth",
  "uksouth",
  "ukwest",
  "usgovarizona",
  "usgovvirginia",
  "westcentralus",
  "westeurope",
  "westindia",
  "westus",
  "westus2",
  "westus3",
] as const;

/** Edit distance between two strings (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

/** An Azure Databricks region; a near miss names the region it probably meant. */
const region = () =>
  z
    .string({ invalid_type_error: "expected a string: an Azure region name" })
    .superRefine((v, ctx) => {
      if ((DATABRICKS_REGIONS as readonly string[]).includes(v)) return;
      const normalised = v.toLowerCase().replace(/[\s_-]/g, "");
      const closest = [...DATABRICKS_REGIONS].sort(
        (a, b) => editDistance(normalised, a) - editDistance(normalised, b),
      )[0];
      const hint = editDistance(normalised, closest) <= 3 ? `did you mean ${closest}? ` : "";
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `not an Azure region where Azure Databricks is available; ${hint}expected an ARM location name from the "Azure Databricks regions" list: ${DATABRICKS_REGIONS.join(", ")}`,
      });
    });

/** Account console hosts of Azure Databricks (public cloud, US Government, China). */
export const ACCOUNT_HOSTS = [
  "https://accounts.azuredatabricks.net",
  "https://accounts.azuredatabricks.us",
  "https://accounts.databricks.azure.cn",
] as const;

/**
 * Prefix lengths Azure Databricks accepts for a VNet-injected workspace ("Deploy Azure
 * Databricks in your Azure virtual network (VNet injection)"): the virtual network between /16
 * and /24, the host and container subnets /26 or larger. The private endpoint subnet only holds
 * private endpoints (one address each): /28 or larger leaves room for dfs, blob and more.
 */
export const VNET_PREFIX = { min: 16, max: 24 } as const;
export const DATABRICKS_SUBNET_MAX_PREFIX = 26;
export const PRIVATE_ENDPOINT_SUBNET_MAX_PREFIX = 28;

// Parsers from Pulumi's string-typed config to the typed value. Anything that does not parse is
// passed through unchanged so that zod reports it with the expected type.
const asBoolean = (v: unknown): unknown => (v === "true" ? true : v === "false" ? false : v);
const asInteger = (v: unknown): unknown =>
  typeof v === "string" && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
const asList = (v: unknown): unknown => {
  if (typeof v !== "string") return v;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return v;
  }
};

const bool = () =>
  z.preprocess(asBoolean, z.boolean({ invalid_type_error: "expected true or false" }));
const int = (min: number, max: number) =>
  z.preprocess(
    asInteger,
    z
      .number({ invalid_type_error: `expected an integer between ${min} and ${max}` })
      .int(`expected an integer between ${min} and ${max}`)
      .min(min, `expected an integer between ${min} and ${max}`)
      .max(max, `expected an integer between ${min} and ${max}`),
  );
const oneOf = <T extends readonly [string, ...string[]]>(values: T, why = "") =>
  z.enum(values as unknown as [T[number], ...T[number][]], {
    errorMap: () => ({ message: `expected one of ${values.join(", ")}${why}` }),
  });
const text = (pattern: RegExp, allowed: string) =>
  z.string({ invalid_type_error: `expected a string: ${allowed}` }).regex(pattern, allowed);

/** Databricks group names are free text, but empty or padded names never match a real group. */
/** Entra object ids and Fabric capacity ids are GUIDs (any case). */
const entraId = (allowed: string) =>
  text(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, allowed);

const groupName = text(/^\S(.*\S)?$/, "a non-empty account group name without surrounding spaces");

// An IPv4 address or CIDR range. Azure Storage rejects /31 and /32 ranges (use the address); the
// Event Hubs firewall takes the same rule, so one list is valid for both. Private ranges are
// meaningless on a public endpoint firewall, but that is left to review.
const IPV4 = String.raw`(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}`;
const ipRange = text(
  new RegExp(`^${IPV4}(/([0-9]|[12][0-9]|30))?$`),
  "an IPv4 address or CIDR range with prefix /0–/30 (write a /31 or /32 as its addresses: the storage firewall rejects them, and both firewalls take one rule)",
);

/** An IPv4 CIDR block as numbers: first address, prefix length, size. */
export interface Cidr {
  readonly text: string;
  readonly start: number;
  readonly prefix: number;
  readonly size: number;
}

/** A block whose address is its network address (no host bits set). */
const isNetworkAddress = (c: Cidr) => c.start % c.size === 0;

/** Parses `a.b.c.d/n`; undefined when it is not IPv4 CIDR syntax. */
export function parseCidr(value: string): Cidr | undefined {
  const m = new RegExp(`^(${IPV4})/([0-9]|[12][0-9]|3[0-2])$`).exec(value);
  if (!m) return undefined;
  const start = m[1].split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
  const prefix = Number(m[m.length - 1]);
  return { text: value, start, prefix, size: 2 ** (32 - prefix) };
}

const dotted = (n: number) =>
  [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
const overlaps = (a: Cidr, b: Cidr) => a.start < b.start + b.size && b.start < a.start + a.size;
const contains = (outer: Cidr, inner: Cidr) =>
  inner.start >= outer.start && inner.start + inner.size <= outer.start + outer.size;

/**
 * A CIDR block with a prefix length in [min, max], written as its network address (Azure
 * refuses address prefixes with host bits set).
 */
const cidrBlock = (min: number, max: number, what: string) =>
  z.string({ invalid_type_error: `expected a string: ${what}` }).superRefine((v, ctx) => {
    const allowed = `${what}: an IPv4 CIDR block from /${min} to /${max}`;
    const c = parseCidr(v);
    if (!c) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `not IPv4 CIDR syntax; ${allowed}` });
    } else if (c.prefix < min || c.prefix > max) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `prefix /${c.prefix} is outside ${allowed}`,
      });
    } else if (!isNetworkAddress(c)) {
      const network = `${dotted(c.start - (c.start % c.size))}/${c.prefix}`;
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `host bits are set (the network address is ${network}); ${allowed}`,
      });
    }
  });

const schema = z
  .object({
    environment: oneOf(ENVIRONMENTS),
    location: region().default("westeurope"),
    owner: text(/^[\w.@ -]{1,256}$/, "1–256 letters, digits, spaces or . _ @ -").default(
      "data-platform",
    ),
    storageAccountName: text(
      /^[a-z0-9]{3,24}$/,
      "3–24 lowercase letters and digits (Azure storage account naming rule)",
    ),
    storageSku: oneOf(STORAGE_SKUS).default("Standard_ZRS"),
    storageAllowedIpRanges: z
      .preprocess(
        asList,
        z.array(ipRange, { invalid_type_error: "expected a list of IPv4 addresses or ranges" }),
      )
      .default([]),
    softDeleteRetentionDays: int(1, 365).default(7),
    protectData: bool().default(false),
    forceDestroy: bool().default(false),
    // Empty means unset: Pulumi.yaml needs a default for an optional key.
    metastoreId: z.preprocess(
      (v) => (v === "" ? undefined : v),
      text(
        /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
        "a Unity Catalog metastore id (lowercase UUID)",
      ).optional(),
    ),
    catalogName: text(
      /^[a-z][a-z0-9_]{0,254}$/,
      "a lowercase letter followed by up to 254 lowercase letters, digits or underscores (Unity Catalog stores names lowercase; no spaces, dots, slashes or hyphens so it needs no quoting in SQL)",
    ),
    enableFileEvents: bool().default(true),
    dataEngineersGroup: groupName.default("oms-data-engineers"),
    analystsGroup: groupName.default("oms-analysts"),
    biReadersGroup: groupName.default("oms-bi-readers"),
    warehouseClusterSize: oneOf(WAREHOUSE_CLUSTER_SIZES).default("2X-Small"),
    warehouseMinClusters: int(1, 40).default(1),
    warehouseMaxClusters: int(1, 40).default(1),
    warehouseAutoStopMins: int(5, 1440).default(10),
    databricksAccountId: text(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
      "a Databricks account id: the lowercase UUID shown in the account console (accounts.azuredatabricks.net, user menu); the NCC and its binding are created in this account",
    ),
    jobsDeployerPrincipal: text(
      /^(users\/[^\s/]+@[^\s/]+|servicePrincipals\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|groups\/\S(.*\S)?)$/,
      "users/<e-mail>, servicePrincipals/<application id> or groups/<name>: the identity that runs pulumi up",
    ),
    jobTrigger: oneOf(JOB_TRIGGERS).default("fileArrival"),
    jobProcessingTime: text(
      /^[1-9]\d* (seconds|minutes)$/,
      "a Spark processing-time interval such as '30 seconds' or '2 minutes'",
    ).default("30 seconds"),
    jobCompute: oneOf(JOB_COMPUTES).default("serverless"),
    jobNodeType: text(
      /^Standard_[A-Za-z0-9_]+$/,
      "an Azure VM size as Databricks names it, such as Standard_D4ds_v5",
    ).default("Standard_D4ds_v5"),
    jobMaxWorkers: int(1, 50).default(2),
    jobMaxFilesPerTrigger: int(1, 100000).default(1000),
    jobMaxRetries: int(0, 10).default(3),
    jobTimeoutSeconds: int(300, 86400).default(3600),
    jobRunDurationWarningSeconds: int(60, 86400).default(1800),
    jobBacklogSecondsThreshold: int(10, 86400).default(600),
    jobBacklogFilesThreshold: int(1, 1000000).default(1000),
    jobGoldMinSecondsBetweenRuns: int(GOLD_MIN_SECONDS_BETWEEN_RUNS, 86400).default(300),
    // Landing -> Gold p95 the stack promises; the jobs, the plan and the alert are sized to it.
    freshnessObjectiveSeconds: int(10, 86400).default(900),
    jobNotificationEmails: z
      .preprocess(
        asList,
        z.array(text(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, "an e-mail address"), {
          invalid_type_error: "expected a list of e-mail addresses",
        }),
      )
      .default([]),
    jobWebhookIds: z
      .preprocess(
        asList,
        z.array(
          text(
            /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
            "a notification destination id (lowercase UUID)",
          ),
          { invalid_type_error: "expected a list of notification destination ids" },
        ),
      )
      .default([]),
    // Power BI: publish the Gold model and report to a Fabric workspace of this stack.
    powerbiEnabled: bool().default(true),
    // Empty means the default name, "OMS Lakehouse (<environment>)".
    powerbiWorkspaceName: z.preprocess(
      (v) => (v === "" ? undefined : v),
      text(
        /^\S(.{0,254}\S)?$/,
        "a Fabric workspace name: 1–256 characters without surrounding spaces",
      ).optional(),
    ),
    // Empty means no capacity: the workspace stays on shared capacity (Pro licences).
    powerbiCapacityId: z.preprocess(
      (v) => (v === "" ? undefined : v),
      entraId("a Fabric capacity id (GUID)").optional(),
    ),
    powerbiAdoptExistingWorkspace: bool().default(false),
    powerbiViewerGroupIds: z
      .preprocess(
        asList,
        z.array(entraId("an Entra security group object id (GUID)"), {
          invalid_type_error: "expected a list of Entra security group object ids (GUIDs)",
        }),
      )
      .default([]),
    powerbiCredentialVersion: int(1, 1000000).default(1),
    // Automatic page refresh of the pages that show DirectQuery tables (see pageRefreshProblems).
    powerbiPageRefresh: oneOf(PAGE_REFRESH_TYPES).default("interval"),
    powerbiPageRefreshSeconds: int(1, 86400).default(SHARED_CAPACITY_MIN_PAGE_REFRESH_SECONDS),
    // Network: serverless egress through the NCC, VNet injection and private endpoints.
    databricksAccountHost: oneOf(ACCOUNT_HOSTS).default("https://accounts.azuredatabricks.net"),
    serverlessStorageAccess: oneOf(SERVERLESS_STORAGE_ACCESS).default("serviceEndpoints"),
    storagePublicNetworkAccess: bool().default(true),
    vnetInjection: bool().default(false),
    vnetAddressSpace: cidrBlock(VNET_PREFIX.min, VNET_PREFIX.max, "the workspace VNet").default(
      "10.20.0.0/22",
    ),
    vnetHostSubnet: cidrBlock(
      VNET_PREFIX.min,
      DATABRICKS_SUBNET_MAX_PREFIX,
      "the Databricks host (public) subnet",
    ).default("10.20.0.0/24"),
    vnetContainerSubnet: cidrBlock(
      VNET_PREFIX.min,
      DATABRICKS_SUBNET_MAX_PREFIX,
      "the Databricks container (private) subnet",
    ).default("10.20.1.0/24"),
    vnetPrivateEndpointSubnet: cidrBlock(
      VNET_PREFIX.min,
      PRIVATE_ENDPOINT_SUBNET_MAX_PREFIX,
      "the private endpoint subnet",
    ).default("10.20.2.0/26"),
    workspaceFrontEndPrivateLink: bool().default(false),
    // Real-time OMS events: an Event Hubs namespace read through its Kafka endpoint.
    eventsSource: bool().default(false),
    // Empty means unset (required when eventsSource is true).
    eventHubsNamespaceName: z.preprocess(
      (v) => (v === "" ? undefined : v),
      text(
        /^[a-zA-Z][a-zA-Z0-9-]{4,48}[a-zA-Z0-9]$/,
        "a globally unique Event Hubs namespace name: 6–50 letters, digits or hyphens, starting with a letter and ending with a letter or digit",
      ).optional(),
    ),
    eventHubsSku: oneOf(
      EVENT_HUBS_SKUS,
      " (Basic has no Kafka endpoint; Dedicated clusters are not provisioned by this stack)",
    ).default("Standard"),
    eventHubsCapacity: int(1, 20).default(1),
    eventHubsPartitions: int(1, 32).default(4),
    eventHubsRetentionDays: int(1, 90).default(1),
    eventHubsPublicNetworkAccess: bool().default(true),
    eventHubsAllowedIpRanges: z
      .preprocess(
        asList,
        z.array(ipRange, { invalid_type_error: "expected a list of IPv4 addresses or ranges" }),
      )
      .default([]),
    // Empty means unset (required when eventsSource is true).
    eventHubsProducerPrincipalId: z.preprocess(
      (v) => (v === "" ? undefined : v),
      entraId(
        "the Entra object id (GUID) of the OMS producer's service principal or managed identity",
      ).optional(),
    ),
    eventsPollMinutes: int(1, 59).default(5),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.warehouseMinClusters > c.warehouseMaxClusters) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["warehouseMinClusters"],
        message: `must not exceed warehouseMaxClusters (${c.warehouseMaxClusters})`,
      });
    }
    if (c.forceDestroy && c.protectData) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["forceDestroy"],
        message:
          "must be false when protectData is true (a protected stack must not cascade-delete its data)",
      });
    }
    if (c.jobRunDurationWarningSeconds >= c.jobTimeoutSeconds) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["jobRunDurationWarningSeconds"],
        message: `must be below jobTimeoutSeconds (${c.jobTimeoutSeconds}): a warning after the timeout never fires`,
      });
    }
    const viewers = c.powerbiViewerGroupIds.map((g) => g.toLowerCase());
    if (new Set(viewers).size !== viewers.length) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["powerbiViewerGroupIds"],
        message: "lists a group more than once (each group gets one Viewer role assignment)",
      });
    }
    freshnessProblems(c).forEach((problem) =>
      ctx.addIssue({ code: z.ZodIssueCode.custom, ...problem }),
    );
    pageRefreshProblems(c).forEach((problem) =>
      ctx.addIssue({ code: z.ZodIssueCode.custom, ...problem }),
    );
    networkProblems(c).forEach((problem) =>
      ctx.addIssue({ code: z.ZodIssueCode.custom, ...problem }),
    );
    eventsProblems(c).forEach((problem) =>
      ctx.addIssue({ code: z.ZodIssueCode.custom, ...problem }),
    );
    const groups = [c.dataEngineersGroup, c.analystsGroup, c.biReadersGroup];
    if (new Set(groups).size !== groups.length) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["analystsGroup"],
        message:
          "dataEngineersGroup, analystsGroup and biReadersGroup must be three different groups (merged grants would give readers write access)",
      });
    }
  });

/** The network keys checked together once each one is valid on its own. */
interface NetworkKeys {
  readonly serverlessStorageAccess: (typeof SERVERLESS_STORAGE_ACCESS)[number];
  readonly storagePublicNetworkAccess: boolean;
  readonly vnetInjection: boolean;
  readonly vnetAddressSpace: string;
  readonly vnetHostSubnet: string;
  readonly vnetContainerSubnet: string;
  readonly vnetPrivateEndpointSubnet: string;
  readonly workspaceFrontEndPrivateLink: boolean;
}

/** The VNet's subnets, by config key. */
export const SUBNET_KEYS = [
  "vnetHostSubnet",
  "vnetContainerSubnet",
  "vnetPrivateEndpointSubnet",
] as const;

/**
 * Cross-key rules of the network configuration: subnets inside the VNet and apart from each
 * other, and the combinations that would leave a compute plane without a path to storage.
 */
function networkProblems(c: NetworkKeys): { path: string[]; message: string }[] {
  const out: { path: string[]; message: string }[] = [];
  if (!c.storagePublicNetworkAccess) {
    // With public network access disabled the account ignores its IP and virtual network rules
    // and resource instance rules: only private endpoints reach it.
    if (c.serverlessStorageAccess !== "privateEndpoints") {
      out.push({
        path: ["storagePublicNetworkAccess"],
        message:
          "false needs serverlessStorageAccess privateEndpoints: with public network access disabled the account ignores the NCC's service-endpoint subnets, and serverless compute could not reach it",
      });
    }
    if (!c.vnetInjection) {
      out.push({
        path: ["storagePublicNetworkAccess"],
        message:
          "false needs vnetInjection true: classic compute reaches a storage account without public access only through the VNet's private endpoints",
      });
    }
  }
  if (c.workspaceFrontEndPrivateLink && !c.vnetInjection) {
    out.push({
      path: ["workspaceFrontEndPrivateLink"],
      message: "true needs vnetInjection true: the front-end private endpoint lives in the VNet",
    });
  }
  if (!c.vnetInjection) return out;
  // A block with host bits set is already reported on its own key; judging it here as well
  // would add overlap or containment errors that vanish once it is written correctly.
  const block = (v: string) => {
    const cidr = parseCidr(v);
    return cidr && isNetworkAddress(cidr) ? cidr : undefined;
  };
  const vnet = block(c.vnetAddressSpace);
  const subnets = SUBNET_KEYS.map((key) => ({ key, cidr: block(c[key]) }));
  subnets.forEach(({ key, cidr }, i) => {
    if (!vnet || !cidr) return;
    if (!contains(vnet, cidr)) {
      out.push({
        path: [key],
        message: `lies outside vnetAddressSpace ${vnet.text}; every subnet must be inside the VNet`,
      });
    }
    for (const other of subnets.slice(0, i)) {
      if (other.cidr && overlaps(other.cidr, cidr)) {
        out.push({
          path: [key],
          message: `overlaps ${other.key} ${other.cidr.text}; the host, container and private endpoint subnets must not overlap (Databricks subnets cannot be shared)`,
        });
      }
    }
  });
  return out;
}

/** The event keys checked together once each one is valid on its own. */
interface EventKeys {
  readonly eventsSource: boolean;
  readonly eventHubsNamespaceName?: string;
  readonly eventHubsSku: (typeof EVENT_HUBS_SKUS)[number];
  readonly eventHubsCapacity: number;
  readonly eventHubsRetentionDays: number;
  readonly eventHubsProducerPrincipalId?: string;
  readonly jobCompute: (typeof JOB_COMPUTES)[number];
  readonly vnetInjection: boolean;
  readonly eventHubsPublicNetworkAccess: boolean;
  readonly eventHubsAllowedIpRanges: readonly string[];
  readonly storagePublicNetworkAccess: boolean;
}

/**
 * Cross-key rules of the events source. The pipeline reaches the namespace only through the
 * private endpoint the stack puts in the workspace VNet: the namespace's firewall denies
 * everything else, and neither serverless compute nor a workspace outside a stack-owned VNet has
 * an address the firewall could admit. Tier limits: "Azure Event Hubs quotas and limits",
 * "Overview of Event Hubs Premium".
 */
function eventsProblems(c: EventKeys): { path: string[]; message: string }[] {
  const out: { path: string[]; message: string }[] = [];
  const maxDays = EVENT_HUBS_MAX_RETENTION_DAYS[c.eventHubsSku];
  if (c.eventHubsRetentionDays > maxDays) {
    out.push({
      path: ["eventHubsRetentionDays"],
      message: `${c.eventHubsRetentionDays} days is beyond the ${c.eventHubsSku} tier's retention limit ("Azure Event Hubs quotas and limits"); allowed: 1 to ${maxDays}${c.eventHubsSku === "Standard" ? ", or eventHubsSku Premium for up to 90" : ""}`,
    });
  }
  if (
    c.eventHubsSku === "Premium" &&
    !(EVENT_HUBS_PREMIUM_UNITS as readonly number[]).includes(c.eventHubsCapacity)
  ) {
    out.push({
      path: ["eventHubsCapacity"],
      message: `a Premium namespace has ${EVENT_HUBS_PREMIUM_UNITS.join(", ")} processing units ("Overview of Event Hubs Premium")`,
    });
  }
  if (!c.eventHubsPublicNetworkAccess && c.eventHubsAllowedIpRanges.length > 0) {
    out.push({
      path: ["eventHubsAllowedIpRanges"],
      message:
        "lists producer addresses while eventHubsPublicNetworkAccess is false: IP rules only admit public traffic, which is off, so they would admit nothing; allowed: an empty list, or eventHubsPublicNetworkAccess true",
    });
  }
  if (!c.eventsSource) return out;
  if (!c.storagePublicNetworkAccess && c.eventHubsPublicNetworkAccess) {
    out.push({
      path: ["eventHubsPublicNetworkAccess"],
      message:
        "must be false when eventsSource is true and storagePublicNetworkAccess is false: the events namespace must be as closed as the lake it feeds (producers publish through private endpoints); allowed: false",
    });
  }
  if (c.eventHubsNamespaceName === undefined) {
    out.push({
      path: ["eventHubsNamespaceName"],
      message: "is required when eventsSource is true: the namespace the OMS publishes to",
    });
  }
  if (c.eventHubsProducerPrincipalId === undefined) {
    out.push({
      path: ["eventHubsProducerPrincipalId"],
      message:
        "is required when eventsSource is true: the OMS producer's Entra object id, granted Azure Event Hubs Data Sender on the hubs (local SAS keys are disabled)",
    });
  }
  if (!c.vnetInjection) {
    out.push({
      path: ["vnetInjection"],
      message:
        "must be true when eventsSource is true: the jobs reach the Event Hubs namespace through a private endpoint in the workspace VNet, its firewall admits nothing else",
    });
  }
  if (c.jobCompute !== "cluster") {
    out.push({
      path: ["jobCompute"],
      message:
        "must be cluster when eventsSource is true: serverless compute does not run in the workspace VNet, so it has no path through the namespace's private endpoint; allowed: cluster",
    });
  }
  return out;
}

/** The validated configuration of one stack. */
export type LakehouseConfig = z.infer<typeof schema>;

/** Every key the project namespace accepts. */
const shape: Record<string, z.ZodTypeAny | undefined> = schema._def.schema.shape;
export const CONFIG_KEYS: readonly string[] = Object.keys(shape).sort();

/** What a key accepts, as its own validation says when given an empty string. */
function allowedFor(key: string): string {
  const result = shape[key]?.safeParse("");
  return result && !result.success ? result.error.issues[0].message : "a value";
}

/** Thrown when the stack configuration is invalid; the message lists every problem. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid stack configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

/**
 * Validates raw configuration values (keys without namespace, values as Pulumi stores them:
 * strings, with lists as JSON) and returns the typed configuration.
 */
export function parseConfig(
  raw: Readonly<Record<string, string>>,
  namespace = "oms-lakehouse",
): LakehouseConfig {
  // Cross-key rules judge keys that are each valid alone: a key outside its own range is
  // reported once, not again through every rule that reads it.
  const alone = schema._def.schema.safeParse(raw);
  const result = alone.success ? schema.safeParse(raw) : alone;
  if (result.success) return result.data;
  const problems = result.error.issues.flatMap((issue) => {
    if (issue.code === z.ZodIssueCode.unrecognized_keys) {
      return issue.keys.map(
        (k) =>
          `${namespace}:${k} = ${JSON.stringify(raw[k])}: unknown key; allowed keys are ${CONFIG_KEYS.join(", ")}`,
      );
    }
    const key = String(issue.path[0]);
    const value = raw[key];
    if (value === undefined) {
      // A cross-key rule can name a key left at its default: show the default it judged.
      const fallback = shape[key]?.safeParse(undefined);
      return fallback?.success && fallback.data !== undefined
        ? [
            `${namespace}:${key} (unset, default ${JSON.stringify(fallback.data)}): ${issue.message}`,
          ]
        : issue.code === z.ZodIssueCode.custom
          ? // A cross-key rule requiring an optional key: its own message says when and why.
            [`${namespace}:${key} is unset: ${issue.message}`]
          : [`${namespace}:${key} is required and has no default; expected ${allowedFor(key)}`];
    }
    if (issue.path.length > 1) {
      // A list item: show that item, not the whole list.
      const at = issue.path.slice(1);
      const shown = at.reduce<unknown>(
        (v, k) => (v !== null && typeof v === "object" ? (v as Record<string, unknown>)[k] : v),
        asList(value),
      );
      return [`${namespace}:${key}[${at.join("][")}] = ${JSON.stringify(shown)}: ${issue.message}`];
    }
    return [`${namespace}:${key} = ${JSON.stringify(value)}: ${issue.message}`];
  });
  throw new ConfigError(problems);
}

/**
 * Reads every key of the project's namespace from the running stack and validates it. Keys of
 * other namespaces (provider settings such as `azure-native:location`) are left to their owners.
 */
export function loadConfig(): LakehouseConfig {
  const namespace = pulumi.getProject();
  const prefix = `${namespace}:`;
  const raw: Record<string, string> = {};
  for (const [key, value] of Object.entries(pulumi.runtime.allConfig())) {
    if (key.startsWith(prefix)) raw[key.slice(prefix.length)] = value;
  }
  return parseConfig(raw, namespace);
}
