/**
 * The one recording mock of the test suite.
 *
 * `pulumi.runtime.setMocks` answers resource registrations and invokes without a cloud. The mock
 * monitor only tells the mocks a resource's type, name, inputs and provider, so the recorder also
 * wraps the monitor's `registerResource` to keep what reviewers check next: parent, explicit and
 * implicit dependencies, and `protect` — all straight from the registration request, without the
 * `transforms` option (unsupported under mocks).
 */
import * as pulumi from "@pulumi/pulumi";

/** Fixed identity the `getClientConfig` invoke answers with. */
export const CLIENT = {
  clientId: "11111111-1111-1111-1111-111111111111",
  objectId: "22222222-2222-2222-2222-222222222222",
  subscriptionId: "33333333-3333-3333-3333-333333333333",
  tenantId: "44444444-4444-4444-4444-444444444444",
};
export const WORKSPACE_ID = "1234567890123456";
export const WORKSPACE_HOST = `adb-${WORKSPACE_ID}.7.azuredatabricks.net`;
/**
 * Stable service-endpoint subnets the mock NCC reports: Databricks-owned subnets in a
 * subscription of its own, as in the account console.
 */
export const NCC_STABLE_SUBNETS = [1, 2].map(
  (n) =>
    `/subscriptions/99999999-9999-9999-9999-999999999999/resourceGroups/prod-westeurope-snp-1-compute-${n}/providers/Microsoft.Network/virtualNetworks/kaas-vnet/subnets/worker-subnet`,
);
/** Name of the Azure private endpoint Databricks creates for an NCC private endpoint rule. */
export const nccEndpointName = (ruleName: string) => `databricks-pe-of-${ruleName}`;
/** Suffix Azure appends to a private endpoint's name for its connection on a storage account. */
export const CONNECTION_SUFFIX = ".0b7c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3";

/** Application id the mock gives every Databricks service principal the stack creates. */
export const SERVICE_PRINCIPAL_APP_ID = "55555555-5555-5555-5555-555555555555";

/** One registered resource, as the engine would have seen it. */
export interface RecordedResource {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly custom: boolean;
  /** Inputs as sent to the engine (Outputs resolved). */
  readonly inputs: Record<string, unknown>;
  /** Provider reference `<provider urn>::<id>`, or "" for the default provider. */
  readonly provider: string;
  /** URN of the parent resource ("" for the stack). */
  readonly parent: string;
  /** URNs of every resource this one depends on (explicit `dependsOn` and through inputs). */
  readonly dependencies: readonly string[];
  readonly protect: boolean;
}

/** One provider function call. */
export interface RecordedCall {
  readonly token: string;
  readonly inputs: Record<string, unknown>;
}

export class Recorder {
  readonly resources: RecordedResource[] = [];
  readonly calls: RecordedCall[] = [];
  /**
   * What registrations answer with. `plausible`: the made-up computed outputs below (ids, URLs,
   * identities), so tests can follow wiring. `unknown`: inputs only, as a preview of a create —
   * run with the SDK in dry-run mode, every computed output (and whatever is derived from it)
   * is then unknown instead of invented. The offline plan uses `unknown`.
   */
  computedOutputs: "plausible" | "unknown" = "plausible";
  /**
   * Storage account look-ups still to answer without the NCC's connections, as Azure does while
   * Databricks is creating the endpoints (rule state CREATING).
   */
  connectionsPendingFor = 0;

  reset(): void {
    this.resources.length = 0;
    this.calls.length = 0;
    this.connectionsPendingFor = 0;
  }

  /** Resources of one type token, e.g. `azure-native:storage:StorageAccount`. */
  ofType(type: string): RecordedResource[] {
    return this.resources.filter((r) => r.type === type);
  }

  /** The single resource of a type; fails when there are none or several. */
  one(type: string): RecordedResource {
    const found = this.ofType(type);
    if (found.length !== 1) {
      throw new Error(
        `expected exactly one ${type}, found ${found.length}: ${found.map((r) => r.name).join(", ")}`,
      );
    }
    return found[0];
  }

  /** Resource by logical name and (optionally) type. */
  named(name: string, type?: string): RecordedResource {
    const found = this.resources.filter((r) => r.name === name && (!type || r.type === type));
    if (found.length !== 1)
      throw new Error(`expected one resource named ${name}, found ${found.length}`);
    return found[0];
  }

  byUrn(urn: string): RecordedResource | undefined {
    return this.resources.find((r) => r.urn === urn);
  }

  /** The provider resource a resource was registered with (undefined: default provider). */
  providerOf(resource: RecordedResource): RecordedResource | undefined {
    if (!resource.provider) return undefined;
    const urn = resource.provider.split("::").slice(0, -1).join("::");
    return this.byUrn(urn);
  }
}

export const recorder = new Recorder();

const arm = (rg: unknown, provider: string, name: unknown) =>
  `/subscriptions/${CLIENT.subscriptionId}/resourceGroups/${String(rg)}/providers/${provider}/${String(name)}`;

/**
 * A create as a preview reports it: the inputs, with every computed output left unknown (absent
 * top-level outputs are unknown in preview mode). Ids and the connector's identity are the
 * exception: they come back as marked placeholders, "(known after deploy: …)", because azure-native
 * folds whole input objects into one Output (its defaults), and one unknown id inside
 * `networkRuleSet` would otherwise hide the firewall rules from review.
 */
function previewOfCreate(
  type: string,
  name: string,
  i: Record<string, unknown>,
): pulumi.runtime.MockResourceResult {
  const later = (what: string) => `(known after deploy: ${what} of ${name})`;
  if (type === "azure-native:databricks:AccessConnector") {
    const identity = {
      ...(i.identity as object),
      principalId: later("principal id"),
      tenantId: later("tenant id"),
    };
    return { id: later("id"), state: { ...i, identity } };
  }
  if (type === "databricks:index/mwsNetworkConnectivityConfig:MwsNetworkConnectivityConfig") {
    // Like the connector's identity: the subnets land in the storage firewall, which would
    // otherwise become one unknown object in review.
    const rule = { subnets: [later("stable subnets")], targetRegion: i.region };
    return {
      id: later("id"),
      state: { ...i, egressConfig: { defaultRules: { azureServiceEndpointRule: rule } } },
    };
  }
  return { id: later("id"), state: { ...i } };
}

/** Plausible computed outputs for the types the stack uses; everything else echoes its inputs. */
function newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
  const i = args.inputs as Record<string, unknown>;
  if (recorder.computedOutputs === "unknown") return previewOfCreate(args.type, args.name, i);
  switch (args.type) {
    case "azure-native:resources:ResourceGroup": {
      const name =
        typeof i.resourceGroupName === "string" ? i.resourceGroupName : `${args.name}-000000`;
      return {
        id: `/subscriptions/${CLIENT.subscriptionId}/resourceGroups/${name}`,
        state: { ...i, name },
      };
    }
    case "azure-native:storage:StorageAccount":
      return {
        id: arm(i.resourceGroupName, "Microsoft.Storage/storageAccounts", i.accountName),
        state: { ...i, name: i.accountName },
      };
    case "azure-native:eventhub:Namespace":
      return {
        id: arm(i.resourceGroupName, "Microsoft.EventHub/namespaces", i.namespaceName),
        state: { ...i, name: i.namespaceName },
      };
    case "azure-native:eventhub:EventHub":
      return {
        id: `${arm(i.resourceGroupName, "Microsoft.EventHub/namespaces", i.namespaceName)}/eventhubs/${String(i.eventHubName)}`,
        state: { ...i, name: i.eventHubName },
      };
    case "azure-native:storage:BlobContainer":
      return {
        id: `${arm(i.resourceGroupName, "Microsoft.Storage/storageAccounts", i.accountName)}/blobServices/default/containers/${String(i.containerName)}`,
        state: { ...i, name: i.containerName },
      };
    case "azure-native:databricks:AccessConnector":
      return {
        id: arm(i.resourceGroupName, "Microsoft.Databricks/accessConnectors", args.name),
        state: {
          ...i,
          name: args.name,
          identity: {
            type: "SystemAssigned",
            principalId: `principal-of-${args.name}`,
            tenantId: CLIENT.tenantId,
          },
        },
      };
    case "azure-native:databricks:Workspace":
      return {
        id: arm(i.resourceGroupName, "Microsoft.Databricks/workspaces", args.name),
        state: { ...i, name: args.name, workspaceId: WORKSPACE_ID, workspaceUrl: WORKSPACE_HOST },
      };
    case "databricks:index/sqlEndpoint:SqlEndpoint": {
      const id = `wh${args.name.replace(/[^a-z0-9]/g, "")}`;
      return {
        id,
        state: {
          ...i,
          odbcParams: {
            hostname: WORKSPACE_HOST,
            path: `/sql/1.0/warehouses/${id}`,
            port: 443,
            protocol: "https",
          },
          jdbcUrl: `jdbc:databricks://${WORKSPACE_HOST}:443/default;httpPath=/sql/1.0/warehouses/${id}`,
        },
      };
    }
    case "azuread:index/application:Application":
      return {
        id: `/applications/object-of-${args.name}`,
        state: { ...i, clientId: `client-of-${args.name}`, objectId: `object-of-${args.name}` },
      };
    case "azuread:index/servicePrincipal:ServicePrincipal":
      return {
        id: `sp-object-of-${args.name}`,
        state: { ...i, objectId: `sp-object-of-${args.name}` },
      };
    case "azuread:index/applicationPassword:ApplicationPassword":
      return {
        id: `${String(i.applicationId)}/password/${args.name}`,
        state: { ...i, keyId: `key-of-${args.name}`, value: `password-of-${args.name}` },
      };
    case "databricks:index/servicePrincipal:ServicePrincipal": {
      // An Entra-backed principal keeps the application id it was registered with.
      const appId =
        typeof i.applicationId === "string" ? i.applicationId : SERVICE_PRINCIPAL_APP_ID;
      return {
        id: `${args.name}-id`,
        state: { ...i, applicationId: appId, aclPrincipalId: `servicePrincipals/${appId}` },
      };
    }
    case "databricks:index/job:Job": {
      // Numeric like the Jobs API's ids, stable per logical name.
      const id = String([...args.name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 1e9, 7));
      return { id, state: { ...i, url: `https://${WORKSPACE_HOST}/jobs/${id}` } };
    }
    case "databricks:index/mwsNetworkConnectivityConfig:MwsNetworkConnectivityConfig":
      return {
        id: `ncc-id-of-${args.name}`,
        state: {
          ...i,
          networkConnectivityConfigId: `ncc-id-of-${args.name}`,
          egressConfig: {
            defaultRules: {
              azureServiceEndpointRule: {
                subnets: NCC_STABLE_SUBNETS,
                targetRegion: i.region,
                targetServices: ["Microsoft.Storage"],
              },
            },
          },
        },
      };
    case "databricks:index/mwsNccPrivateEndpointRule:MwsNccPrivateEndpointRule":
      return {
        id: `rule-id-of-${args.name}`,
        state: {
          ...i,
          ruleId: `rule-id-of-${args.name}`,
          endpointName: nccEndpointName(args.name),
          connectionState: "PENDING",
        },
      };
    default:
      if (args.type.startsWith("pulumi-nodejs:dynamic/powerbi:")) return powerBi(args, i);
      return { id: `${args.name}-id`, state: { name: args.name, ...i } };
  }
}

/**
 * Power BI dynamic resources: the ids and hashes their providers would report. The serialised
 * provider (`__provider`) is not echoed back: state never needs it and it is large.
 */
function powerBi(
  args: pulumi.runtime.MockResourceArgs,
  inputs: Record<string, unknown>,
): pulumi.runtime.MockResourceResult {
  // The real connection provider never writes its secret to state.
  const { __provider: _provider, clientSecret: _secret, ...i } = inputs;
  void _provider;
  void _secret;
  const id = `${args.name}-id`;
  const kind = args.type.split(":").pop();
  const extra: Record<string, unknown> =
    kind === "FabricWorkspace"
      ? { workspaceId: id, adopted: false }
      : kind === "WorkspaceRoleAssignment"
        ? { roleAssignmentId: id }
        : kind === "DatabricksConnection"
          ? {
              connectionId: id,
              connectionType: "Databricks",
              connectionPath: `${String(i.host)};${String(i.httpPath)}`,
            }
          : kind === "SemanticModel"
            ? { semanticModelId: id, itemId: id, partsHash: `hash-of-${args.name}`, partHashes: {} }
            : kind === "Report"
              ? { reportId: id, itemId: id, partsHash: `hash-of-${args.name}` }
              : {};
  return { id, state: { ...i, ...extra } };
}

/**
 * A storage account as ARM reads it after NCC private endpoint rules target it: one pending
 * connection per rule, named after the rule's Azure private endpoint.
 */
function storageAccountRead(inputs: Record<string, unknown>): pulumi.runtime.MockCallResult {
  const id = arm(inputs.resourceGroupName, "Microsoft.Storage/storageAccounts", inputs.accountName);
  if (recorder.connectionsPendingFor > 0) {
    recorder.connectionsPendingFor -= 1;
    return { id, name: inputs.accountName, privateEndpointConnections: [] };
  }
  const privateEndpointConnections = recorder
    .ofType("databricks:index/mwsNccPrivateEndpointRule:MwsNccPrivateEndpointRule")
    .filter((rule) => rule.inputs.resourceId === id)
    .map((rule) => ({
      name: `${nccEndpointName(rule.name)}${CONNECTION_SUFFIX}`,
      privateEndpoint: {
        id: `/subscriptions/99999999-9999-9999-9999-999999999999/resourceGroups/databricks-serverless/providers/Microsoft.Network/privateEndpoints/${nccEndpointName(rule.name)}`,
      },
      privateLinkServiceConnectionState: { status: "Pending" },
    }));
  return { id, name: inputs.accountName, privateEndpointConnections };
}

function call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
  recorder.calls.push({ token: args.token, inputs: args.inputs as Record<string, unknown> });
  if (args.token === "azure-native:authorization:getClientConfig") return { ...CLIENT };
  if (args.token === "azure-native:storage:getStorageAccount")
    return storageAccountRead(args.inputs as Record<string, unknown>);
  // Anything else (a Databricks data source, say) would need a live workspace at first preview.
  throw new Error(`unexpected invoke ${args.token}: the stack must deploy from empty without it`);
}

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getProvider(): string;
  getProtect(): boolean;
  getDependenciesList(): string[];
  getObject(): unknown;
}
interface MockMonitorLike {
  newUrn(parent: string, type: string, name: string): string;
  registerResource(
    req: RegisterRequest,
    callback: (err: unknown, resp: unknown) => void,
  ): Promise<void>;
}

/** Installs the mocks and the recorder. Call once per process (a second setMocks replaces the first). */
export function installMocks(project: string, stack: string): void {
  void pulumi.runtime.setMocks({ newResource, call }, project, stack, false);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const settings = require("@pulumi/pulumi/runtime/settings") as { getMonitor(): MockMonitorLike };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const rpc = require("@pulumi/pulumi/runtime/rpc") as {
    deserializeProperties(o: unknown): Record<string, unknown>;
  };
  const monitor = settings.getMonitor();
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    recorder.resources.push({
      urn: monitor.newUrn(req.getParent(), req.getType(), req.getName()),
      type: req.getType(),
      name: req.getName(),
      custom: req.getCustom(),
      inputs: rpc.deserializeProperties(req.getObject()),
      provider: req.getProvider(),
      parent: req.getParent(),
      dependencies: req.getDependenciesList(),
      protect: req.getProtect(),
    });
    return original(req, callback);
  };
}
