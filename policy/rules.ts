/**
 * The stack's policy rules, drawn from the Databricks security reference architecture (SRA) and
 * the Azure security baseline for Storage and Azure Databricks.
 *
 * Each rule is a plain function of a resource's type, its inputs and a little context, returning
 * violation messages — no Pulumi runtime involved. The same functions run in two places: the
 * policy pack (`index.ts`, for `pulumi preview --policy-pack policy`) and over the offline plan
 * of every stack in the test suite and in CI (`npm run policy`).
 *
 * Values that only exist after deploy are skipped, never judged: in the offline plan they read
 * "(known after deploy…)", in the policy pack reading one aborts the check as not applicable.
 */

import { freshnessBound, OBJECTIVE_TAG, STAGES } from "./freshness";

/** Resource inputs as the rules see them: plain JSON. */
export type Props = Readonly<Record<string, unknown>>;

/** What a rule knows besides the inputs. */
export interface RuleContext {
  /** Stack name (`dev`, `prod`…). */
  readonly stack?: string;
  /** The `protect` resource option. */
  readonly protect?: boolean;
  /** Logical name of the resource. */
  readonly name?: string;
}

export interface ResourceRule {
  /** Stable id, used as the policy name in the pack. */
  readonly id: string;
  /** One sentence: what must hold, and why. */
  readonly description: string;
  /**
   * `advisory` when the policy pack cannot judge the rule reliably (it sees secrets unwrapped);
   * the offline plan always enforces every rule.
   */
  readonly packEnforcement?: "advisory";
  readonly validate: (type: string, props: Props, context?: RuleContext) => string[];
}

/** One resource of a stack, for rules that look at several resources at once. */
export interface StackResource {
  readonly type: string;
  readonly name: string;
  readonly props: Props;
  readonly protect?: boolean;
}

export interface StackViolation {
  readonly message: string;
  /** Logical name of the offending resource, when there is one. */
  readonly name?: string;
}

export interface StackRule {
  readonly id: string;
  readonly description: string;
  readonly validate: (
    resources: readonly StackResource[],
    context?: RuleContext,
  ) => StackViolation[];
}

export const TYPES = {
  resourceGroup: "azure-native:resources:ResourceGroup",
  storageAccount: "azure-native:storage:StorageAccount",
  blobService: "azure-native:storage:BlobServiceProperties",
  container: "azure-native:storage:BlobContainer",
  accessConnector: "azure-native:databricks:AccessConnector",
  workspace: "azure-native:databricks:Workspace",
  catalog: "databricks:index/catalog:Catalog",
  schema: "databricks:index/schema:Schema",
  volume: "databricks:index/volume:Volume",
  externalLocation: "databricks:index/externalLocation:ExternalLocation",
  storageCredential: "databricks:index/storageCredential:StorageCredential",
  grants: "databricks:index/grants:Grants",
  grant: "databricks:index/grant:Grant",
  job: "databricks:index/job:Job",
  warehouse: "databricks:index/sqlEndpoint:SqlEndpoint",
  permissions: "databricks:index/permissions:Permissions",
  secret: "databricks:index/secret:Secret",
  ncc: "databricks:index/mwsNetworkConnectivityConfig:MwsNetworkConnectivityConfig",
  nccBinding: "databricks:index/mwsNccBinding:MwsNccBinding",
  nccPrivateEndpointRule: "databricks:index/mwsNccPrivateEndpointRule:MwsNccPrivateEndpointRule",
  privateEndpointConnection: "azure-native:storage:PrivateEndpointConnection",
  privateEndpoint: "azure-native:network:PrivateEndpoint",
  privateDnsZoneGroup: "azure-native:network:PrivateDnsZoneGroup",
  privateZone: "azure-native:privatedns:PrivateZone",
  virtualNetworkLink: "azure-native:privatedns:VirtualNetworkLink",
  networkSecurityGroup: "azure-native:network:NetworkSecurityGroup",
  securityRule: "azure-native:network:SecurityRule",
  eventHubsNamespace: "azure-native:eventhub:Namespace",
  eventHubsNetworkRuleSet: "azure-native:eventhub:NamespaceNetworkRuleSet",
  eventHubsNamespaceAuthorizationRule: "azure-native:eventhub:NamespaceAuthorizationRule",
  eventHubAuthorizationRule: "azure-native:eventhub:EventHubAuthorizationRule",
  credential: "databricks:index/credential:Credential",
} as const;

/**
 * Resources that hold or mint Event Hubs SAS keys: authorization rules (the namespace's default
 * one is `RootManageSharedAccessKey`). With local auth disabled they are useless, and declaring
 * one is a step towards turning SAS back on.
 */
const EVENT_HUBS_SAS_TYPES: readonly string[] = [
  TYPES.eventHubsNamespaceAuthorizationRule,
  TYPES.eventHubAuthorizationRule,
];
/** Name of the authorization rule every Event Hubs namespace is created with. */
export const EVENT_HUBS_ROOT_KEY = "RootManageSharedAccessKey";

/** Source prefixes that mean "anyone on the internet" in an NSG rule. */
const OPEN_SOURCES = ["*", "internet", "any", "0.0.0.0/0", "::/0"];

/**
 * Storage sub-resources serverless compute needs a private endpoint to, when it reaches the lake
 * privately ("Configure private connectivity from serverless compute").
 */
export const SERVERLESS_PRIVATE_GROUPS = ["dfs", "blob"] as const;

/** Marker of a value that only exists after deploy, as written in the offline plan. */
const UNKNOWN_PREFIX = "(known after deploy";
/** Marker of a redacted secret in the offline plan. */
const SECRET = "[secret]";

/** Groups every user of the account or workspace is in: never the target of data privileges. */
export const BROAD_GROUPS: readonly string[] = ["account users", "users", "all users"];
const isBroad = (principal: unknown) =>
  typeof principal === "string" && BROAD_GROUPS.includes(principal.trim().toLowerCase());

/** Types holding data (or the only path to it); protected in prod. */
export const STATEFUL_TYPES: readonly string[] = [TYPES.storageAccount, TYPES.catalog];

const isUnknown = (v: unknown) => typeof v === "string" && v.startsWith(UNKNOWN_PREFIX);

/** Reads a dotted path; `undefined` when absent. */
function at(props: Props, path: string): unknown {
  return path.split(".").reduce<unknown>((v, k) => {
    if (v === null || typeof v !== "object") return undefined;
    return (v as Record<string, unknown>)[k];
  }, props);
}

const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const asRecord = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/**
 * A rule on one property of one type: `ok` sees the value (undefined when absent); unknown
 * values pass.
 */
function property(
  id: string,
  type: string,
  path: string,
  ok: (value: unknown) => boolean,
  message: (value: unknown) => string,
  description: string,
): ResourceRule {
  return {
    id,
    description,
    validate: (t, props) => {
      if (t !== type) return [];
      const value = at(props, path);
      return isUnknown(value) || ok(value) ? [] : [message(value)];
    },
  };
}

/** A value as text: strings as they are, anything else as JSON. */
const text = (v: unknown): string => (typeof v === "string" ? v : (JSON.stringify(v) ?? ""));
const show = (v: unknown) => (v === undefined ? "unset" : JSON.stringify(v));

/** Privileges that hand out every current and future privilege, or the right to re-grant. */
const ADMIN_PRIVILEGES = ["ALL_PRIVILEGES", "MANAGE"];
/** Privileges that change data or create objects. */
const WRITE_PRIVILEGES = /^(MODIFY|WRITE_FILES|WRITE_VOLUME|CREATE_.*|APPLY_TAG|REFRESH)$/;
/** Privileges that bypass tables and volumes and read or write storage paths directly. */
const PATH_PRIVILEGES = ["READ_FILES", "WRITE_FILES", "CREATE_EXTERNAL_TABLE"];

/** Principal → privileges of a `databricks.Grants` (or a single `databricks.Grant`). */
function grantsOf(type: string, props: Props): { principal: unknown; privileges: string[] }[] {
  if (type === TYPES.grants) {
    return asList(props.grants).map((g) => ({
      principal: asRecord(g).principal,
      privileges: asList(asRecord(g).privileges).map(String),
    }));
  }
  if (type === TYPES.grant) {
    return [{ principal: props.principal, privileges: asList(props.privileges).map(String) }];
  }
  return [];
}

/** The securable a Grants resource addresses, as `field=name` (undefined when unknown). */
const SECURABLE_FIELDS = [
  "catalog",
  "schema",
  "table",
  "volume",
  "function",
  "model",
  "externalLocation",
  "storageCredential",
  "credential",
  "metastore",
  "share",
  "foreignConnection",
];
function securableOf(props: Props): string | undefined {
  for (const field of SECURABLE_FIELDS) {
    const v = props[field];
    if (v !== undefined && v !== null) return isUnknown(v) ? undefined : `${field}=${text(v)}`;
  }
  return undefined;
}

const SECRET_NAME =
  /(secret|password|passwd|token|apikey|accesskey|accountkey|privatekey|sharedkey|connectionstring|sastoken|stringvalue)$/i;

/** Paths of string values held under secret-sounding property names, not marked secret. */
function plainSecrets(value: unknown, path = ""): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => plainSecrets(v, `${path}[${i}]`));
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, v]) => {
    const here = path ? `${path}.${key}` : key;
    if (
      SECRET_NAME.test(key) &&
      typeof v === "string" &&
      v !== "" &&
      v !== SECRET &&
      !isUnknown(v)
    ) {
      return [here];
    }
    return plainSecrets(v, here);
  });
}

const isProd = (context?: RuleContext) => /^prod/.test(context?.stack ?? "");

/** Messages for firewall IP rules wider than a /16 (`field` holds the address or range). */
function broadIpRules(rules: unknown, field: string): string[] {
  return asList(rules).flatMap((rule) => {
    const range = text(asRecord(rule)[field] ?? "");
    const prefix = range.includes("/") ? Number(range.split("/")[1]) : 32;
    return prefix < 16 ? [`IP rule ${range} opens the firewall to more than a /16`] : [];
  });
}

export const RESOURCE_RULES: readonly ResourceRule[] = [
  // --- Storage (Azure security baseline for Storage; SRA data protection) ---------------------
  property(
    "storage-hns-enabled",
    TYPES.storageAccount,
    "isHnsEnabled",
    (v) => v === true,
    (v) => `isHnsEnabled is ${show(v)}; the lake needs hierarchical namespace (ADLS Gen2)`,
    "The storage account is ADLS Gen2 (hierarchical namespace): atomic renames for Delta, ACLs.",
  ),
  property(
    "storage-min-tls-1-2",
    TYPES.storageAccount,
    "minimumTlsVersion",
    (v) => v === "TLS1_2" || v === "TLS1_3",
    (v) => `minimumTlsVersion is ${show(v)}; require TLS1_2 or later`,
    "Clients must use TLS 1.2 or later.",
  ),
  property(
    "storage-https-only",
    TYPES.storageAccount,
    "enableHttpsTrafficOnly",
    (v) => v !== false,
    () => "enableHttpsTrafficOnly is false; plain HTTP must be refused",
    "The storage account refuses plain HTTP.",
  ),
  property(
    "storage-shared-key-disabled",
    TYPES.storageAccount,
    "allowSharedKeyAccess",
    (v) => v === false,
    (v) =>
      `allowSharedKeyAccess is ${show(v)}; account keys and SAS bypass Entra ID and Unity Catalog`,
    "Shared key (account key and SAS) authorisation is disabled: Entra ID only.",
  ),
  property(
    "storage-no-public-blob-access",
    TYPES.storageAccount,
    "allowBlobPublicAccess",
    (v) => v === false,
    (v) => `allowBlobPublicAccess is ${show(v)}; anonymous reads must be impossible`,
    "Anonymous (public) blob access is disallowed on the account.",
  ),
  property(
    "storage-network-default-deny",
    TYPES.storageAccount,
    "networkRuleSet.defaultAction",
    (v) => v === "Deny",
    (v) => `networkRuleSet.defaultAction is ${show(v)}; the firewall must deny by default`,
    "The storage firewall denies by default; only named networks and instances get through.",
  ),
  {
    id: "storage-no-broad-ip-rules",
    description:
      "Firewall IP rules name addresses or small ranges (/16 or narrower), never 0.0.0.0/0.",
    validate: (type, props) =>
      type === TYPES.storageAccount
        ? broadIpRules(at(props, "networkRuleSet.ipRules"), "iPAddressOrRange")
        : [],
  },
  property(
    "storage-no-cross-tenant-replication",
    TYPES.storageAccount,
    "allowCrossTenantReplication",
    (v) => v === false,
    (v) => `allowCrossTenantReplication is ${show(v)}; data must not replicate to other tenants`,
    "Object replication into another tenant is disallowed.",
  ),
  {
    id: "storage-soft-delete",
    description: "Blob and container soft delete are on with at least 7 days' retention.",
    validate: (type, props) => {
      if (type !== TYPES.blobService) return [];
      return ["deleteRetentionPolicy", "containerDeleteRetentionPolicy"].flatMap((policy) => {
        const enabled = at(props, `${policy}.enabled`);
        const days = at(props, `${policy}.days`);
        if (isUnknown(enabled) || isUnknown(days)) return [];
        return enabled === true && typeof days === "number" && days >= 7
          ? []
          : [`${policy} is ${show(props[policy])}; enable it with days >= 7`];
      });
    },
  },
  property(
    "storage-container-private",
    TYPES.container,
    "publicAccess",
    (v) => v === undefined || v === "None",
    (v) => `publicAccess is ${show(v)}; containers are private`,
    "Containers allow no anonymous access.",
  ),
  // --- Event Hubs (Azure security baseline for Event Hubs) -----------------------------------
  property(
    "eventhubs-local-auth-disabled",
    TYPES.eventHubsNamespace,
    "disableLocalAuth",
    (v) => v === true,
    (v) =>
      `disableLocalAuth is ${show(v)}; SAS keys (${EVENT_HUBS_ROOT_KEY} and every authorization rule) bypass Entra ID and Azure RBAC`,
    "The Event Hubs namespace refuses SAS authentication: Entra ID only.",
  ),
  property(
    "eventhubs-min-tls-1-2",
    TYPES.eventHubsNamespace,
    "minimumTlsVersion",
    (v) => v === "1.2" || v === "1.3",
    (v) => `minimumTlsVersion is ${show(v)}; require 1.2 or later`,
    "Event Hubs clients must use TLS 1.2 or later.",
  ),
  {
    id: "eventhubs-no-sas-keys",
    description: `No Event Hubs authorization rule (SAS key) is declared, and nothing names ${EVENT_HUBS_ROOT_KEY}: producers and the pipeline authenticate with Entra ID.`,
    validate: (type, props) => {
      if (EVENT_HUBS_SAS_TYPES.includes(type)) {
        return [
          `${type.split(":").pop()} declares a SAS key; grant an Azure Event Hubs Data Sender or Receiver role instead`,
        ];
      }
      return JSON.stringify(props).includes(EVENT_HUBS_ROOT_KEY)
        ? [`names ${EVENT_HUBS_ROOT_KEY}: a namespace-wide SAS key; use Entra ID and Azure roles`]
        : [];
    },
  },
  property(
    "eventhubs-network-default-deny",
    TYPES.eventHubsNetworkRuleSet,
    "defaultAction",
    (v) => v === "Deny",
    (v) => `defaultAction is ${show(v)}; the namespace firewall must deny by default`,
    "The Event Hubs firewall denies by default; only named producer addresses and private endpoints get through.",
  ),
  {
    id: "eventhubs-no-broad-ip-rules",
    description:
      "Event Hubs firewall IP rules name addresses or small ranges (/16 or narrower), never 0.0.0.0/0.",
    validate: (type, props) =>
      type === TYPES.eventHubsNetworkRuleSet ? broadIpRules(props.ipRules, "ipMask") : [],
  },
  // --- Workspace (SRA: secure cluster connectivity, premium tier) -----------------------------
  property(
    "workspace-no-public-ip",
    TYPES.workspace,
    "parameters.enableNoPublicIp.value",
    (v) => v === true,
    (v) => `enableNoPublicIp is ${show(v)}; cluster nodes must not get public IPs`,
    "Secure cluster connectivity: cluster nodes get no public IP.",
  ),
  property(
    "workspace-premium",
    TYPES.workspace,
    "sku.name",
    (v) => v === "premium",
    (v) => `sku is ${show(v)}; Unity Catalog, table ACLs and serverless SQL need premium`,
    "The workspace is on the premium tier.",
  ),
  // --- Unity Catalog (SRA: least privilege, isolation) ----------------------------------------
  {
    id: "uc-no-admin-privileges-to-broad-groups",
    description: `No ${ADMIN_PRIVILEGES.join(" or ")} for groups everyone is in (${BROAD_GROUPS.join(", ")}).`,
    validate: (type, props) =>
      grantsOf(type, props)
        .filter((g) => isBroad(g.principal))
        .flatMap((g) =>
          g.privileges
            .filter((p) => ADMIN_PRIVILEGES.includes(p))
            .map((p) => `${p} granted to broad group ${String(g.principal)}`),
        ),
  },
  {
    id: "uc-no-write-privileges-to-broad-groups",
    description: "Groups everyone is in get no privilege that changes data or creates objects.",
    validate: (type, props) =>
      grantsOf(type, props)
        .filter((g) => isBroad(g.principal))
        .flatMap((g) =>
          g.privileges
            .filter((p) => WRITE_PRIVILEGES.test(p))
            .map((p) => `${p} granted to broad group ${String(g.principal)}`),
        ),
  },
  {
    id: "uc-grants-to-groups",
    description:
      "Privileges go to groups or service principals, never to individual users (e-mail principals).",
    validate: (type, props) =>
      grantsOf(type, props)
        .filter((g) => typeof g.principal === "string" && g.principal.includes("@"))
        .map((g) => `privileges granted to the user ${String(g.principal)}; grant a group instead`),
  },
  {
    id: "uc-no-path-privileges",
    description:
      "Nobody reads or writes storage paths directly through external locations or credentials: data is reached through tables and volumes.",
    validate: (type, props) => {
      if (type !== TYPES.grants && type !== TYPES.grant) return [];
      if (props.externalLocation === undefined && props.storageCredential === undefined) return [];
      return grantsOf(type, props).flatMap((g) =>
        g.privileges
          .filter((p) => PATH_PRIVILEGES.includes(p) || ADMIN_PRIVILEGES.includes(p))
          .map((p) => `${p} on a storage path granted to ${String(g.principal)}`),
      );
    },
  },
  property(
    "uc-catalog-isolated",
    TYPES.catalog,
    "isolationMode",
    (v) => v === "ISOLATED",
    (v) => `isolationMode is ${show(v)}; bind the catalog to its workspace (ISOLATED)`,
    "Each catalog is bound to its stack's workspace only.",
  ),
  property(
    "uc-catalog-own-storage",
    TYPES.catalog,
    "storageRoot",
    (v) => typeof v === "string" && v !== "",
    () => "storageRoot is unset; managed tables would land in the metastore's shared root",
    "Each catalog keeps managed tables in its own storage root, not the metastore's.",
  ),
  {
    id: "uc-credential-managed-identity",
    description:
      "Storage and service credentials use the access connector's managed identity, never a service principal secret.",
    validate: (type, props) => {
      if (type !== TYPES.storageCredential && type !== TYPES.credential) return [];
      if (props.azureServicePrincipal !== undefined) {
        return ["azureServicePrincipal is set; use azureManagedIdentity (no secret to rotate)"];
      }
      return props.azureManagedIdentity === undefined ? ["azureManagedIdentity is unset"] : [];
    },
  },
  // --- Network ---------------------------------------------------------------------------------
  {
    id: "ncc-connection-approved",
    description:
      'Private endpoint connections the stack manages on the lake are Approved: a rule whose connection stays Pending, Rejected or Disconnected admits no serverless traffic ("Ncc Private Endpoint Rule": effective only once ESTABLISHED).',
    validate: (type, props) => {
      if (type !== TYPES.privateEndpointConnection) return [];
      const status = at(props, "privateLinkServiceConnectionState.status");
      return isUnknown(status) || status === "Approved"
        ? []
        : [
            `privateLinkServiceConnectionState.status is ${show(status)}; the stack approves the connections its NCC requested (status Approved)`,
          ];
    },
  },
  {
    id: "nsg-no-inbound-from-internet",
    description:
      "The stack declares no NSG rule that allows inbound traffic from the internet or any source: secure cluster connectivity needs no open port, and Databricks adds the rules it requires itself.",
    validate: (type, props) => {
      const rules =
        type === TYPES.networkSecurityGroup
          ? asList(props.securityRules).map(asRecord)
          : type === TYPES.securityRule
            ? [asRecord(props)]
            : [];
      return rules
        .filter((r) => {
          const inbound = r.direction === undefined || text(r.direction) === "Inbound";
          const allow = text(r.access).toLowerCase() === "allow";
          const sources = [r.sourceAddressPrefix, ...asList(r.sourceAddressPrefixes)].map((v) =>
            text(v).toLowerCase(),
          );
          return inbound && allow && sources.some((src) => OPEN_SOURCES.includes(src));
        })
        .map(
          (r) =>
            `security rule ${show(r.name ?? r.securityRuleName)} allows inbound traffic from ${show(r.sourceAddressPrefix ?? r.sourceAddressPrefixes)}; allow only named sources (the workspace's own rules come from Databricks)`,
        );
    },
  },
  // --- Jobs (written against databricks.JobArgs) -----------------------------------------------
  {
    id: "job-run-as-service-principal",
    description: "Jobs run as a service principal, not as the user who deployed them.",
    validate: (type, props) => {
      if (type !== TYPES.job) return [];
      const sp = at(props, "runAs.servicePrincipalName");
      return isUnknown(sp) || (typeof sp === "string" && sp !== "")
        ? []
        : [`runAs is ${show(props.runAs)}; set runAs.servicePrincipalName`];
    },
  },
  {
    id: "job-trigger-cannot-starve",
    description:
      "Job triggers fire under any steady arrival rate: no quiet period (waitAfterLastChangeSeconds), which every file or table update restarts.",
    // "Trigger jobs when new files arrive" / "Trigger jobs when source tables are updated": a run
    // starts only after no activity for waitAfterLastChangeSeconds (60 s at least), so a feed
    // landing a file, or a stream committing, more often than that never starts the run.
    // minTimeBetweenTriggersSeconds spaces runs out without that failure.
    validate: (type, props) => {
      if (type !== TYPES.job) return [];
      return (["fileArrival", "tableUpdate", "model"] as const)
        .map((kind) => ({ kind, wait: at(props, `trigger.${kind}.waitAfterLastChangeSeconds`) }))
        .filter(({ wait }) => wait !== undefined && wait !== null && !isUnknown(wait))
        .map(
          ({ kind, wait }) =>
            `trigger.${kind}.waitAfterLastChangeSeconds is ${show(wait)}: every arrival restarts that wait, so a steady feed arriving more often never starts a run; remove it and space runs with minTimeBetweenTriggersSeconds`,
        );
    },
  },
  {
    id: "job-health-rules",
    description: "Jobs declare health rules (duration or streaming backlog thresholds).",
    validate: (type, props) =>
      type === TYPES.job && asList(at(props, "health.rules")).length === 0
        ? ["health.rules is empty; declare at least one health threshold"]
        : [],
  },
  {
    id: "job-failure-notifications",
    description: "Someone hears about a failed job: e-mail or webhook notifications on failure.",
    validate: (type, props) =>
      type === TYPES.job &&
      asList(at(props, "emailNotifications.onFailures")).length === 0 &&
      asList(at(props, "webhookNotifications.onFailures")).length === 0
        ? ["no emailNotifications.onFailures or webhookNotifications.onFailures"]
        : [],
  },
  {
    id: "job-single-concurrent-run",
    description:
      "A job runs at most once at a time: two runs of a streaming job would share one checkpoint.",
    validate: (type, props) => {
      if (type !== TYPES.job) return [];
      const runs = props.maxConcurrentRuns;
      return runs === undefined || runs === 1 || isUnknown(runs)
        ? []
        : [`maxConcurrentRuns is ${show(runs)}; must be 1 (or unset)`];
    },
  },
  // --- SQL warehouses ---------------------------------------------------------------------------
  {
    id: "warehouse-auto-stop",
    description: "Warehouses stop when idle (autoStopMins set, not 0).",
    validate: (type, props) => {
      if (type !== TYPES.warehouse) return [];
      const mins = props.autoStopMins;
      return isUnknown(mins) || (typeof mins === "number" && mins > 0)
        ? []
        : [`autoStopMins is ${show(mins)}; set a positive idle timeout`];
    },
  },
  {
    id: "warehouse-serverless-pro",
    description: "Warehouses are serverless PRO: no compute in our subscription, UC features on.",
    validate: (type, props) => {
      if (type !== TYPES.warehouse) return [];
      const out: string[] = [];
      if (props.enableServerlessCompute !== true) out.push("enableServerlessCompute is not true");
      if (props.warehouseType !== "PRO") out.push(`warehouseType is ${show(props.warehouseType)}`);
      return out;
    },
  },
  {
    id: "permissions-no-broad-groups",
    description:
      "Groups everyone is in get at most CAN_VIEW on warehouses, jobs and other workspace objects.",
    validate: (type, props) => {
      if (type !== TYPES.permissions) return [];
      return asList(props.accessControls)
        .map(asRecord)
        .filter((c) => isBroad(c.groupName) && c.permissionLevel !== "CAN_VIEW")
        .map((c) => `${String(c.permissionLevel)} given to broad group ${String(c.groupName)}`);
    },
  },
  // --- Secrets -------------------------------------------------------------------------------
  {
    id: "no-plain-secrets",
    description:
      "Secret-sounding inputs (secret, password, token, key, connection string) hold secrets, never plain strings.",
    packEnforcement: "advisory",
    validate: (_type, props) =>
      plainSecrets(props).map((p) => `${p} holds a plain string; pass it as a Pulumi secret`),
  },
  // --- Governance and prod protection ---------------------------------------------------------
  {
    id: "azure-required-tags",
    description: "Azure resources carry project, environment and owner tags (cost and ownership).",
    validate: (type, props) => {
      const tagged: string[] = [
        TYPES.resourceGroup,
        TYPES.storageAccount,
        TYPES.accessConnector,
        TYPES.workspace,
      ];
      if (!tagged.includes(type) || isUnknown(props.tags)) return [];
      const tags = asRecord(props.tags);
      return ["project", "environment", "owner"]
        .filter((t) => typeof tags[t] !== "string" || tags[t] === "")
        .map((t) => `tag ${t} is missing`);
    },
  },
  {
    id: "prod-protect-stateful",
    description: `In prod, resources holding data (${STATEFUL_TYPES.join(", ")}) are protected.`,
    validate: (type, _props, context) =>
      isProd(context) && STATEFUL_TYPES.includes(type) && context?.protect !== true
        ? ["not protected in prod; set protect (protectData: true)"]
        : [],
  },
  {
    id: "prod-storage-no-public-network-access",
    description:
      "In prod, the storage account accepts no traffic on its public endpoint: private endpoints only.",
    validate: (type, props, context) => {
      if (!isProd(context) || type !== TYPES.storageAccount) return [];
      const v = props.publicNetworkAccess;
      return isUnknown(v) || v === "Disabled"
        ? []
        : [
            `publicNetworkAccess is ${show(v)} in prod; set storagePublicNetworkAccess: false (the lake is reached through private endpoints only)`,
          ];
    },
  },
  {
    id: "prod-no-force-destroy",
    description: "In prod, catalogs and schemas cannot be dropped together with their tables.",
    validate: (type, props, context) =>
      isProd(context) &&
      (type === TYPES.catalog || type === TYPES.schema) &&
      props.forceDestroy === true
        ? ["forceDestroy is true in prod"]
        : [],
  },
];

/** Serverless compute the stack declares: serverless warehouses and jobs on serverless environments. */
function serverlessCompute(resources: readonly StackResource[]): StackResource[] {
  return resources.filter(
    (r) =>
      (r.type === TYPES.warehouse && r.props.enableServerlessCompute === true) ||
      (r.type === TYPES.job && asList(r.props.environments).length > 0),
  );
}

/** How the stack's storage firewall admits an NCC, or why it does not. */
function serverlessAdmission(resources: readonly StackResource[]): string | undefined {
  if (!resources.some((r) => r.type === TYPES.nccBinding)) {
    return "no network connectivity configuration is bound to the workspace (databricks.MwsNccBinding)";
  }
  const accounts = resources.filter((r) => r.type === TYPES.storageAccount);
  const rules = resources.filter((r) => r.type === TYPES.nccPrivateEndpointRule);
  const approvals = resources.filter((r) => r.type === TYPES.privateEndpointConnection);
  const problems = accounts.flatMap((account) => {
    const publicAccess = account.props.publicNetworkAccess;
    const subnets = at(account.props, "networkRuleSet.virtualNetworkRules");
    const bySubnet =
      publicAccess !== "Disabled" && (isUnknown(subnets) || asList(subnets).length > 0);
    // Private endpoint rules to the lake's dfs and blob endpoints, each connection approved.
    const groups = new Set(rules.map((r) => r.props.groupId));
    const missing = SERVERLESS_PRIVATE_GROUPS.filter((g) => !groups.has(g));
    const privately = missing.length === 0 && approvals.length >= rules.length;
    if (bySubnet || privately) return [];
    return [
      `storage account ${account.name} admits neither the NCC's stable subnets (virtual network rules${publicAccess === "Disabled" ? ", ignored with public network access disabled" : ""}) nor approved NCC private endpoints to ${missing.length > 0 ? missing.join(" and ") : "it"}`,
    ];
  });
  return problems.length > 0 ? problems.join("; ") : undefined;
}

/** The placeholder the offline plan writes for an NCC's stable subnets before deploy. */
const nccSubnetsMarker = (nccName: string) => `${UNKNOWN_PREFIX}: stable subnets of ${nccName})`;

/** Why a storage virtual network rule is not one of the stack's NCC stable subnets, if it is not. */
function foreignSubnet(subnetId: unknown, nccs: readonly StackResource[]): string | undefined {
  const known = nccs.flatMap((n) =>
    asList(at(n.props, "egressConfig.defaultRules.azureServiceEndpointRule.subnets")),
  );
  if (typeof subnetId !== "string")
    return `virtual network rule ${show(subnetId)} has no subnet id`;
  if (isUnknown(subnetId)) {
    // Before deploy, only the NCC's own output may fill the rule (the plan names its source).
    return nccs.some((n) => subnetId === nccSubnetsMarker(n.name)) ||
      subnetId === UNKNOWN_PREFIX + ")"
      ? undefined
      : `virtual network rule ${subnetId} does not come from the NCC's stable subnets`;
  }
  return known.some((k) => typeof k === "string" && k.toLowerCase() === subnetId.toLowerCase())
    ? undefined
    : `virtual network rule ${subnetId} is not one of the NCC's stable subnets${known.length === 0 ? " (the NCC's subnets are known only after deploy, so a fixed subnet id cannot be one of them)" : ""}`;
}

/** The storage account an NCC private endpoint rule's target id names, if it is one of the stack's. */
function lakeTarget(resourceId: unknown, accounts: readonly StackResource[]): boolean {
  if (typeof resourceId !== "string") return false;
  if (resourceId === UNKNOWN_PREFIX + ")") return true;
  if (isUnknown(resourceId)) {
    return accounts.some((a) => resourceId === `${UNKNOWN_PREFIX}: id of ${a.name})`);
  }
  return accounts.some((a) => {
    const name = a.props.accountName;
    return (
      typeof name === "string" &&
      resourceId
        .toLowerCase()
        .endsWith(`/providers/microsoft.storage/storageaccounts/${name.toLowerCase()}`)
    );
  });
}

export const STACK_RULES: readonly StackRule[] = [
  {
    id: "prod-eventhubs-as-tight-as-storage",
    description:
      "In prod, the Event Hubs namespace is no more reachable than the lake: no public network access where the storage account has none, and no firewall address the storage firewall does not also admit.",
    validate: (resources, context) => {
      if (!isProd(context)) return [];
      const accounts = resources.filter((r) => r.type === TYPES.storageAccount);
      const lakeClosed = accounts.some((a) => a.props.publicNetworkAccess === "Disabled");
      const lakeRanges = new Set(
        accounts.flatMap((a) =>
          asList(at(a.props, "networkRuleSet.ipRules")).map((r) =>
            text(asRecord(r).iPAddressOrRange),
          ),
        ),
      );
      const out: StackViolation[] = [];
      const namespaces = resources.filter(
        (r) => r.type === TYPES.eventHubsNamespace || r.type === TYPES.eventHubsNetworkRuleSet,
      );
      for (const r of namespaces) {
        const access = r.props.publicNetworkAccess;
        if (lakeClosed && !isUnknown(access) && access !== "Disabled") {
          out.push({
            name: r.name,
            message: `publicNetworkAccess is ${show(access)} while the storage account has none; set eventHubsPublicNetworkAccess: false (producers reach the namespace through private endpoints, like the lake)`,
          });
        }
        if (r.type !== TYPES.eventHubsNetworkRuleSet) continue;
        for (const rule of asList(r.props.ipRules)) {
          const mask = text(asRecord(rule).ipMask);
          if (!isUnknown(mask) && !lakeRanges.has(mask)) {
            out.push({
              name: r.name,
              message: `IP rule ${mask} is not admitted by the storage firewall; the namespace admits no address the lake refuses`,
            });
          }
        }
      }
      return out;
    },
  },
  {
    id: "storage-vnet-rules-ncc-subnets-only",
    description:
      "The lake's virtual network rules list the bound NCC's stable subnets and nothing else: another subnet would admit compute the stack does not own (\"Configure a firewall for serverless compute access\").",
    validate: (resources) => {
      const nccs = resources.filter((r) => r.type === TYPES.ncc);
      return resources
        .filter((r) => r.type === TYPES.storageAccount)
        .flatMap((account) => {
          const rules = at(account.props, "networkRuleSet.virtualNetworkRules");
          return asList(rules).flatMap((rule) => {
            const problem = foreignSubnet(asRecord(rule).virtualNetworkResourceId, nccs);
            return problem
              ? [{ name: account.name, message: `storage account ${account.name}: ${problem}` }]
              : [];
          });
        });
    },
  },
  {
    id: "ncc-private-endpoints-to-lake-only",
    description:
      "NCC private endpoint rules target the stack's own storage account (the lake), and together its dfs and blob endpoints, nothing else: serverless compute gets no private path to other resources.",
    validate: (resources) => {
      const accounts = resources.filter((r) => r.type === TYPES.storageAccount);
      const rules = resources.filter((r) => r.type === TYPES.nccPrivateEndpointRule);
      const out: StackViolation[] = [];
      for (const rule of rules) {
        const { resourceId, groupId } = rule.props;
        if (!lakeTarget(resourceId, accounts)) {
          out.push({
            name: rule.name,
            message: `NCC private endpoint rule ${rule.name} targets ${show(resourceId)}, not the stack's storage account`,
          });
        }
        if (
          !isUnknown(groupId) &&
          !(SERVERLESS_PRIVATE_GROUPS as readonly unknown[]).includes(groupId)
        ) {
          out.push({
            name: rule.name,
            message: `NCC private endpoint rule ${rule.name} has group id ${show(groupId)}; allowed: ${SERVERLESS_PRIVATE_GROUPS.join(", ")}`,
          });
        }
      }
      const groups = new Set(rules.map((r) => r.props.groupId));
      const missing = SERVERLESS_PRIVATE_GROUPS.filter((g) => !groups.has(g));
      if (
        rules.length > 0 &&
        missing.length > 0 &&
        !rules.some((r) => isUnknown(r.props.groupId))
      ) {
        out.push({
          name: rules[0].name,
          message: `NCC private endpoint rules lack group id ${missing.join(" and ")}: serverless compute needs both dfs and blob of the lake`,
        });
      }
      return out;
    },
  },
  {
    id: "serverless-egress-admitted",
    description:
      "Where serverless compute exists (SQL warehouse, serverless jobs), a network connectivity configuration is bound to the workspace and the storage firewall admits it (its stable subnets, or approved private endpoints to dfs and blob).",
    validate: (resources) => {
      const serverless = serverlessCompute(resources);
      if (serverless.length === 0) return [];
      const problem = serverlessAdmission(resources);
      return problem
        ? [
            {
              name: serverless[0].name,
              message: `serverless compute (${serverless.map((r) => r.name).join(", ")}) cannot reach the lake: ${problem}`,
            },
          ]
        : [];
    },
  },
  {
    id: "private-endpoint-dns-zone-link",
    description:
      "Every private endpoint has a DNS zone group, and every private DNS zone is linked to a VNet: otherwise clients resolve the public endpoint.",
    validate: (resources) => {
      const out: StackViolation[] = [];
      const groups = resources.filter((r) => r.type === TYPES.privateDnsZoneGroup);
      const links = resources.filter((r) => r.type === TYPES.virtualNetworkLink);
      for (const endpoint of resources.filter((r) => r.type === TYPES.privateEndpoint)) {
        const endpointName = endpoint.props.privateEndpointName;
        if (isUnknown(endpointName)) continue;
        const group = groups.find((g) => g.props.privateEndpointName === endpointName);
        if (!group || asList(group.props.privateDnsZoneConfigs).length === 0) {
          out.push({
            name: endpoint.name,
            message: `private endpoint ${text(endpointName ?? endpoint.name)} has no DNS zone group: its name resolves to the public endpoint`,
          });
        }
      }
      for (const zone of resources.filter((r) => r.type === TYPES.privateZone)) {
        const zoneName = zone.props.privateZoneName;
        if (isUnknown(zoneName)) continue;
        const linked = links.some(
          (l) =>
            l.props.privateZoneName === zoneName && at(l.props, "virtualNetwork.id") !== undefined,
        );
        if (!linked) {
          out.push({
            name: zone.name,
            message: `private DNS zone ${text(zoneName ?? zone.name)} is linked to no VNet: nothing resolves through it`,
          });
        }
      }
      return out;
    },
  },
  {
    id: "uc-one-grants-per-securable",
    description:
      "Each securable has one authoritative databricks.Grants; two would revoke each other's privileges on every update.",
    validate: (resources) => {
      const seen = new Map<string, string>();
      const out: StackViolation[] = [];
      for (const r of resources.filter((x) => x.type === TYPES.grants)) {
        const securable = securableOf(r.props);
        if (!securable) continue;
        const first = seen.get(securable);
        if (first) {
          out.push({ name: r.name, message: `${securable} already has Grants ${first}` });
        } else {
          seen.set(securable, r.name);
        }
      }
      return out;
    },
  },
  {
    id: "freshness-bound-within-objective",
    description:
      "The worst-case landing -> Gold bound computed from the declared jobs stays within the objective they declare (tag freshness_objective_seconds).",
    validate: (resources) => {
      const jobs = resources.filter((r) => r.type === TYPES.job);
      // Only stacks with the medallion pipeline: a stack without a Gold stage has no objective.
      if (!jobs.some((j) => JSON.stringify(j.props.tasks ?? []).includes(`"${STAGES.gold}"`)))
        return [];
      const bound = freshnessBound(jobs);
      const show = (n: number) => (Number.isFinite(n) ? `${n} s` : "unbounded");
      if (bound.objectiveSeconds === undefined) {
        return [
          { message: `no job declares the tag ${OBJECTIVE_TAG}; the bound cannot be judged` },
        ];
      }
      if (bound.boundSeconds <= bound.objectiveSeconds) return [];
      const worst = [...bound.terms].sort((a, b) => b.seconds - a.seconds)[0];
      return [
        {
          message: `worst-case landing -> Gold is ${show(bound.boundSeconds)}, over the objective of ${bound.objectiveSeconds} s${bound.problems.length ? ` (${bound.problems.join("; ")})` : ""}; largest term: ${worst.term} (${show(worst.seconds)})`,
        },
      ];
    },
  },
];

export interface Violation {
  readonly rule: string;
  /** Logical name of the resource ("" for the stack as a whole). */
  readonly resource: string;
  readonly type: string;
  readonly message: string;
}

/** Runs every rule over a stack's resources; violations sorted by rule, resource and message. */
export function checkResources(resources: readonly StackResource[], stack: string): Violation[] {
  const out: Violation[] = [];
  for (const r of resources) {
    for (const rule of RESOURCE_RULES) {
      for (const message of rule.validate(r.type, r.props, {
        stack,
        protect: r.protect,
        name: r.name,
      })) {
        out.push({ rule: rule.id, resource: r.name, type: r.type, message });
      }
    }
  }
  for (const rule of STACK_RULES) {
    for (const v of rule.validate(resources, { stack })) {
      const type = resources.find((r) => r.name === v.name)?.type ?? "";
      out.push({ rule: rule.id, resource: v.name ?? "", type, message: v.message });
    }
  }
  const key = (v: Violation) => `${v.rule}\u0000${v.resource}\u0000${v.message}`;
  return out.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** The stack name inside a URN (`urn:pulumi:<stack>::<project>::…`). */
export const stackOfUrn = (urn: string): string => urn.split("::")[0].split(":").pop() ?? "";
