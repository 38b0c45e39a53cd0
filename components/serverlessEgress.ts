/**
 * Serverless egress: how Databricks serverless compute (the SQL warehouse every Power BI query
 * goes through, serverless jobs) reaches the firewalled lake.
 *
 * Serverless compute runs in Databricks' serverless plane, not in the stack's VNet, so neither
 * the access connector's resource instance rule nor the VNet's private endpoints admit it. A
 * network connectivity configuration (NCC), an account-level object bound to the workspace,
 * gives it an identity the storage firewall can admit — its stable service-endpoint subnets, or
 * private endpoints Databricks creates towards the account ("Serverless compute plane
 * networking"; "Configure a firewall for serverless compute access"; "Configure private
 * connectivity from serverless compute").
 */
import * as pulumi from "@pulumi/pulumi";
import * as storage from "@pulumi/azure-native/storage";
import * as databricks from "@pulumi/databricks";
import { LAKE_ENDPOINT_GROUPS } from "./storage";

export interface NetworkConnectivityConfigArgs {
  /** Account console host, e.g. `https://accounts.azuredatabricks.net`. */
  readonly accountHost: pulumi.Input<string>;
  /** Databricks account id (UUID). */
  readonly accountId: pulumi.Input<string>;
  /** Azure region; an NCC serves only workspaces of its own region. */
  readonly region: pulumi.Input<string>;
  /** NCC name: 3–30 letters, digits, hyphens or underscores. */
  readonly nccName: pulumi.Input<string>;
}

/**
 * The account-level Databricks provider and the stack's NCC. Created before the storage account,
 * whose firewall lists the NCC's stable subnets, and before the workspace it is bound to.
 */
export class NetworkConnectivityConfig extends pulumi.ComponentResource {
  /** The account-level provider (account admin rights; used for `Mws*` resources only). */
  public readonly accountProvider: databricks.Provider;
  /** Canonical id of the NCC. */
  public readonly nccId: pulumi.Output<string>;
  /** The NCC's name. */
  public readonly nccName: pulumi.Output<string>;
  /** The NCC's egress configuration as Databricks reports it. */
  private readonly egress: pulumi.Output<databricks.types.output.MwsNetworkConnectivityConfigEgressConfig>;

  constructor(
    name: string,
    args: NetworkConnectivityConfigArgs,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("oms:network:NetworkConnectivityConfig", name, {}, opts);

    // No credentials here either: like the workspace provider, it authenticates from the
    // environment (Azure CLI, OIDC, managed identity); the identity must be an account admin.
    this.accountProvider = new databricks.Provider(
      `${name}-account-provider`,
      { host: args.accountHost, accountId: args.accountId },
      { parent: this },
    );
    const ncc = new databricks.MwsNetworkConnectivityConfig(
      `${name}-ncc`,
      { name: args.nccName, region: args.region },
      { parent: this, provider: this.accountProvider },
    );

    this.nccId = ncc.networkConnectivityConfigId;
    this.nccName = ncc.name;
    this.egress = ncc.egressConfig;
    this.registerOutputs({ nccId: this.nccId, nccName: this.nccName });
  }

  /**
   * ARM ids of the Databricks-owned subnets serverless compute of this region egresses from,
   * with the `Microsoft.Storage` service endpoint enabled, sorted. Fails when the NCC reports
   * none: the firewall would then admit nothing and serverless compute would be locked out.
   * (A method, so the check runs only for stacks that use the subnets.)
   */
  stableSubnetIds(): pulumi.Output<string[]> {
    return pulumi.all([this.egress, this.nccName]).apply(([egress, nccName]) => {
      const subnets = egress?.defaultRules?.azureServiceEndpointRule?.subnets ?? [];
      if (subnets.length === 0) {
        throw new Error(
          `network connectivity configuration ${nccName} reports no stable service-endpoint subnets; serverlessStorageAccess serviceEndpoints needs them (use privateEndpoints, or check the NCC's region)`,
        );
      }
      return [...subnets].sort();
    });
  }
}

/** The storage account serverless compute must reach privately. */
export interface PrivateStorageTarget {
  /** ARM id of the account. */
  readonly accountId: pulumi.Input<string>;
  /** Account name. */
  readonly accountName: pulumi.Input<string>;
  /** Resource group of the account. */
  readonly resourceGroupName: pulumi.Input<string>;
}

export interface ServerlessEgressArgs {
  /** The stack's NCC. */
  readonly ncc: NetworkConnectivityConfig;
  /** Numeric id of the workspace the NCC is bound to. */
  readonly workspaceId: pulumi.Input<string>;
  /**
   * When set, NCC private endpoint rules to the account's `dfs` and `blob` endpoints, with their
   * connections approved on the account. Unset: the firewall admits the NCC's stable subnets.
   */
  readonly privateStorage?: PrivateStorageTarget;
  /** How long to wait for Databricks to create each endpoint (default {@link CONNECTION_WAIT}). */
  readonly connectionWait?: Partial<ConnectionWait>;
}

/**
 * The NCC's binding to this workspace and, for private connectivity, its private endpoint rules
 * to the lake with the connections approved by the stack.
 */
export class ServerlessEgress extends pulumi.ComponentResource {
  /** The binding of the NCC to the workspace. */
  public readonly binding: databricks.MwsNccBinding;
  /** Approved private endpoint connections on the storage account, by group id. */
  public readonly approvals: Readonly<Record<string, storage.PrivateEndpointConnection>>;
  /** Name of the connection each approval updates, by group id (Azure chooses it). */
  public readonly connectionNames: Readonly<Record<string, pulumi.Output<string>>>;

  constructor(name: string, args: ServerlessEgressArgs, opts?: pulumi.ComponentResourceOptions) {
    super("oms:network:ServerlessEgress", name, {}, opts);
    const provider = args.ncc.accountProvider;
    const wait = { ...CONNECTION_WAIT, ...args.connectionWait };

    // A workspace has one NCC; binding another replaces it. Serverless compute picks the new
    // configuration up when it next starts.
    this.binding = new databricks.MwsNccBinding(
      `${name}-binding`,
      { networkConnectivityConfigId: args.ncc.nccId, workspaceId: args.workspaceId },
      { parent: this, provider },
    );

    const connectionNames: Record<string, pulumi.Output<string>> = {};
    const privateRule = (groupId: string, target: PrivateStorageTarget) => {
      // Databricks creates a private endpoint in its serverless plane and asks the account for
      // a connection, which stays Pending until the account's owner approves it.
      const rule = new databricks.MwsNccPrivateEndpointRule(
        `${name}-${groupId}`,
        { networkConnectivityConfigId: args.ncc.nccId, resourceId: target.accountId, groupId },
        { parent: this, provider },
      );
      // The connection's name is chosen by Azure; it is found by the rule's endpoint name, as
      // the Databricks security reference architecture does. Databricks creates the endpoint
      // asynchronously (rule state CREATING, then PENDING once the connection exists: "Ncc
      // Private Endpoint Rule", Databricks API reference), so the look-up waits for it. It runs
      // only once the rule exists, never in preview, so nothing on the path that creates the
      // workspace reads data.
      const connectionName = pulumi
        .all([rule.endpointName, target.accountName, target.resourceGroupName])
        .apply(
          ([endpointName, accountName, resourceGroupName]): pulumi.Output<string> =>
            pulumi.runtime.isDryRun()
              ? knownAfterDeploy()
              : pulumi.output(
                  awaitConnection(
                    async () =>
                      (
                        await storage.getStorageAccount(
                          { accountName, resourceGroupName },
                          { parent: this },
                        )
                      ).privateEndpointConnections ?? [],
                    endpointName,
                    accountName,
                    wait,
                  ),
                ),
        );
      connectionNames[groupId] = connectionName;
      // Creating this resource updates the connection Databricks requested: azure-native lets a
      // PrivateEndpointConnection "create" an existing connection instead of refusing it as
      // already existing (pulumi-azure-native issue 808, fixed).
      return new storage.PrivateEndpointConnection(
        `${name}-${groupId}-approval`,
        {
          accountName: target.accountName,
          resourceGroupName: target.resourceGroupName,
          privateEndpointConnectionName: connectionName,
          privateLinkServiceConnectionState: {
            status: "Approved",
            description: pulumi.interpolate`Databricks serverless compute (NCC ${args.ncc.nccName})`,
          },
        },
        { parent: this },
      );
    };
    const target = args.privateStorage;
    this.approvals = target
      ? Object.fromEntries(LAKE_ENDPOINT_GROUPS.map((g) => [g, privateRule(g, target)]))
      : {};
    this.connectionNames = connectionNames;
    this.registerOutputs({});
  }
}

/** A private endpoint connection as the storage account lists it. */
interface ListedConnection {
  readonly name?: string;
  readonly privateEndpoint?: { readonly id?: string };
}

/** How {@link awaitConnection} waits: exponential backoff, capped, for a bounded number of tries. */
export interface ConnectionWait {
  /** Look-ups in all, the first one immediate. */
  readonly attempts: number;
  /** Pause before the second look-up, in milliseconds; doubled after each miss. */
  readonly firstDelayMs: number;
  /** Longest pause between two look-ups, in milliseconds. */
  readonly maxDelayMs: number;
  /** Waits `ms` milliseconds (injectable so tests take no wall-clock time). */
  readonly sleep: (ms: number) => Promise<void>;
}

/**
 * Default wait for an NCC endpoint's connection: 5 s, 10 s, 20 s, then 30 s between look-ups,
 * 12 look-ups, about 5 minutes in all. Databricks moves a new rule from CREATING to PENDING (the
 * connection exists) within minutes ("Ncc Private Endpoint Rule", Databricks API reference).
 */
export const CONNECTION_WAIT: ConnectionWait = {
  attempts: 12,
  firstDelayMs: 5_000,
  maxDelayMs: 30_000,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** The pauses {@link awaitConnection} makes between its look-ups, in milliseconds. */
export function backoffDelays(wait: Omit<ConnectionWait, "sleep">): number[] {
  return Array.from({ length: Math.max(0, wait.attempts - 1) }, (_, i) =>
    Math.min(wait.maxDelayMs, wait.firstDelayMs * 2 ** i),
  );
}

/**
 * Looks the account's connections up (`lookup`) until one comes from `endpointName`, pausing as
 * `wait` says between look-ups; returns its name. Throws after the last look-up, naming the
 * endpoint, the account, how long it waited and what to check.
 */
export async function awaitConnection(
  lookup: () => Promise<readonly ListedConnection[]>,
  endpointName: string,
  accountName: string,
  wait: ConnectionWait = CONNECTION_WAIT,
): Promise<string> {
  const delays = backoffDelays(wait);
  for (let i = 0; ; i++) {
    const found = connectionOf(await lookup(), endpointName);
    if (found) return found;
    if (i >= delays.length) break;
    await wait.sleep(delays[i]);
  }
  const seconds = delays.reduce((a, b) => a + b, 0) / 1000;
  throw new Error(
    `storage account ${accountName} lists no private endpoint connection from ${endpointName} after ${wait.attempts} look-ups over ${seconds} s; Databricks creates it asynchronously — check the NCC private endpoint rule's connection state and error message in the account console (CREATE_FAILED needs the rule recreated), then run pulumi up again`,
  );
}

/**
 * The name of the connection `endpointName` (an NCC rule's Azure private endpoint) holds on the
 * account, or undefined when the account lists none yet.
 */
export function connectionOf(
  connections: readonly ListedConnection[],
  endpointName: string,
): string | undefined {
  const suffix = `/privateendpoints/${endpointName.toLowerCase()}`;
  return connections.find((c) => (c.privateEndpoint?.id ?? "").toLowerCase().endsWith(suffix))
    ?.name;
}

/** A string Output whose value is unknown, as the engine reports values known after deploy. */
function knownAfterDeploy(): pulumi.Output<string> {
  return pulumi.output(pulumi.unknown) as unknown as pulumi.Output<string>;
}
