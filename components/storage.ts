/**
 * Lakehouse storage: the ADLS Gen2 account that holds raw OMS drops and every Delta table, the
 * Databricks access connector whose managed identity Unity Catalog uses to reach it, and the
 * narrowest Azure role assignments that identity needs.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as databricks from "@pulumi/azure-native/databricks";
import * as resources from "@pulumi/azure-native/resources";
import * as storage from "@pulumi/azure-native/storage";
import { SERVERLESS_PRIVATE_GROUPS } from "../policy/rules";
import { assignBuiltInRole } from "./roles";

/** Built-in Azure role definition ids (identical in every tenant). */
export const ROLE_DEFINITIONS = {
  storageBlobDataContributor: "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
  storageQueueDataContributor: "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
  eventGridEventSubscriptionContributor: "428e0ff0-5e57-4d9c-a221-2c70d0e0a443",
} as const;

/** The containers of the lake; the names are part of every abfss URL, so they never change. */
export const CONTAINERS = {
  /** Raw OMS extracts as delivered; read by Autoloader through the `ops.landing` volume. */
  landing: "landing",
  /** Storage root of the Unity Catalog catalog: managed Delta tables, volumes, checkpoints. */
  lakehouse: "lakehouse",
} as const;

/**
 * The account's endpoints a private path to the lake needs: `dfs` for ADLS Gen2 (abfss://) and
 * `blob` for the blob API Delta and Autoloader also call. Each needs its own private endpoint
 * ("Configure private connectivity from serverless compute"); the policy pack checks the same
 * list.
 */
export const LAKE_ENDPOINT_GROUPS = SERVERLESS_PRIVATE_GROUPS;

export interface LakehouseStorageArgs {
  /** Azure region of the resource group, account and connector. */
  readonly location: pulumi.Input<string>;
  /** Globally unique storage account name (3–24 lowercase letters and digits). */
  readonly accountName: pulumi.Input<string>;
  /** Redundancy SKU of the account, e.g. Standard_ZRS. */
  readonly skuName: pulumi.Input<string>;
  /** Days a deleted blob or container can be restored. */
  readonly softDeleteRetentionDays: pulumi.Input<number>;
  /** Public IPv4 addresses or CIDR ranges allowed through the storage firewall. */
  readonly allowedIpRanges?: pulumi.Input<readonly string[]>;
  /**
   * Subnet ids admitted by the firewall's virtual network rules: the stable service-endpoint
   * subnets of the workspace's network connectivity configuration, through which Databricks
   * serverless compute reaches the account ("Configure a firewall for serverless compute
   * access"). Nothing else is admitted by subnet.
   */
  readonly serverlessSubnetIds?: pulumi.Input<readonly string[]>;
  /**
   * Whether the account accepts traffic on its public endpoint at all (default true). When
   * false, only private endpoints reach it and the firewall's IP, virtual network and resource
   * instance rules no longer apply.
   */
  readonly publicNetworkAccess?: boolean;
  /** Protect the account (and so the data) against `pulumi destroy` and replacement. */
  readonly protect?: boolean;
  /** Azure AD tenant the connector's identity lives in (used by the firewall's instance rule). */
  readonly tenantId: pulumi.Input<string>;
  /** Subscription the stack deploys into (used to build role definition ids). */
  readonly subscriptionId: pulumi.Input<string>;
  /** Tags applied to every Azure resource. */
  readonly tags: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

export class LakehouseStorage extends pulumi.ComponentResource {
  /** Name of the resource group holding the lake (and the workspace). */
  public readonly resourceGroupName: pulumi.Output<string>;
  /** ARM id of that resource group. */
  public readonly resourceGroupId: pulumi.Output<string>;
  /** Storage account name. */
  public readonly accountName: pulumi.Output<string>;
  /** Storage account ARM id. */
  public readonly accountId: pulumi.Output<string>;
  /** ARM id of the Databricks access connector (the Unity Catalog storage credential). */
  public readonly accessConnectorId: pulumi.Output<string>;
  /** Object id of the connector's system-assigned managed identity. */
  public readonly accessConnectorPrincipalId: pulumi.Output<string>;
  /** `abfss://landing@<account>.dfs.core.windows.net/` */
  public readonly landingUrl: pulumi.Output<string>;
  /** `abfss://lakehouse@<account>.dfs.core.windows.net/` */
  public readonly lakehouseUrl: pulumi.Output<string>;
  /**
   * Every role assignment the connector needs. Unity Catalog validates a storage credential and
   * its external locations against storage on creation, so those must depend on these.
   */
  public readonly roleAssignments: readonly authorization.RoleAssignment[];

  constructor(name: string, args: LakehouseStorageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("oms:storage:LakehouseStorage", name, {}, opts);

    const resourceGroup = new resources.ResourceGroup(
      `${name}-rg`,
      { location: args.location, tags: args.tags },
      { parent: this },
    );

    // The connector comes first: the account's firewall names it as a trusted resource instance.
    const connector = new databricks.AccessConnector(
      `${name}-connector`,
      {
        resourceGroupName: resourceGroup.name,
        location: args.location,
        identity: { type: "SystemAssigned" },
        tags: args.tags,
      },
      { parent: this },
    );
    const principalId = connector.identity.apply((identity) => {
      if (!identity?.principalId) {
        throw new Error(`access connector ${name}-connector has no system-assigned identity`);
      }
      return identity.principalId;
    });

    const ipRules = pulumi.output(args.allowedIpRanges ?? []).apply((ranges) =>
      // Sorted: Azure returns the rules in its own order, an unsorted list would diff forever.
      [...new Set(ranges)]
        .sort()
        .map((range) => ({ iPAddressOrRange: range, action: "Allow" as const })),
    );

    const virtualNetworkRules = pulumi
      .output(args.serverlessSubnetIds ?? [])
      .apply((ids) =>
        [...new Set(ids)]
          .sort()
          .map((id) => ({ virtualNetworkResourceId: id, action: "Allow" as const })),
      );

    const account = new storage.StorageAccount(
      `${name}-account`,
      {
        accountName: args.accountName,
        resourceGroupName: resourceGroup.name,
        location: args.location,
        kind: "StorageV2",
        sku: { name: args.skuName },
        accessTier: "Hot",
        // Hierarchical namespace is what makes this ADLS Gen2: atomic directory renames for
        // Delta commits and POSIX ACLs. It cannot be switched on after creation.
        isHnsEnabled: true,
        minimumTlsVersion: "TLS1_2",
        enableHttpsTrafficOnly: true,
        allowBlobPublicAccess: false,
        // Entra ID only: account keys and SAS tokens bypass Unity Catalog's audit and grants.
        allowSharedKeyAccess: false,
        defaultToOAuthAuthentication: true,
        // Order data must not be replicated into an account of another tenant.
        allowCrossTenantReplication: false,
        publicNetworkAccess: args.publicNetworkAccess === false ? "Disabled" : "Enabled",
        networkRuleSet: {
          defaultAction: "Deny",
          // Lets Azure Monitor and other trusted services log and back up the account.
          bypass: "AzureServices",
          ipRules,
          virtualNetworkRules,
          // Unity Catalog reaches the lake as the access connector's managed identity; this
          // resource instance rule lets exactly that connector through the firewall.
          resourceAccessRules: [{ tenantId: args.tenantId, resourceId: connector.id }],
        },
        tags: args.tags,
      },
      { parent: this, protect: args.protect ?? false },
    );

    // Soft delete is the only undo for a mistaken `rm -r` on the lake: hierarchical-namespace
    // accounts do not support blob versioning, so both blob and container retention are on.
    new storage.BlobServiceProperties(
      `${name}-blob-service`,
      {
        accountName: account.name,
        resourceGroupName: resourceGroup.name,
        blobServicesName: "default",
        deleteRetentionPolicy: { enabled: true, days: args.softDeleteRetentionDays },
        containerDeleteRetentionPolicy: { enabled: true, days: args.softDeleteRetentionDays },
      },
      { parent: this },
    );

    const containers = Object.fromEntries(
      Object.entries(CONTAINERS).map(([key, containerName]) => [
        key,
        new storage.BlobContainer(
          `${name}-${containerName}`,
          {
            accountName: account.name,
            resourceGroupName: resourceGroup.name,
            containerName,
            publicAccess: "None",
          },
          { parent: this },
        ),
      ]),
    ) as Record<keyof typeof CONTAINERS, storage.BlobContainer>;

    const assign = (suffix: string, roleGuid: string, scope: pulumi.Input<string>) =>
      assignBuiltInRole(
        `${name}-${suffix}`,
        { subscriptionId: args.subscriptionId, roleGuid, principalId, scope },
        { parent: this },
      );

    this.roleAssignments = [
      // Read and write Delta files, scoped to the two containers rather than the whole account.
      assign(
        "landing-blob-contributor",
        ROLE_DEFINITIONS.storageBlobDataContributor,
        containers.landing.id,
      ),
      assign(
        "lakehouse-blob-contributor",
        ROLE_DEFINITIONS.storageBlobDataContributor,
        containers.lakehouse.id,
      ),
      // Unity Catalog file events (used by Autoloader) deliver blob-created notifications through
      // an Azure Storage queue that Databricks creates in this account; its name is not known in
      // advance, so the account is the narrowest scope.
      assign("queue-contributor", ROLE_DEFINITIONS.storageQueueDataContributor, account.id),
      // ...and subscribe that queue to the account's Event Grid system topic, which Azure creates
      // in the account's resource group. The group holds only this stack's lake, connector and
      // workspace, and the role manages event subscriptions only — no data access.
      assign(
        "eventgrid-subscription-contributor",
        ROLE_DEFINITIONS.eventGridEventSubscriptionContributor,
        resourceGroup.id,
      ),
    ];

    // Built from the container resources (not just their names) so that consumers of a URL wait
    // for its container to exist.
    const url = (container: storage.BlobContainer) =>
      pulumi.interpolate`abfss://${container.name}@${account.name}.dfs.core.windows.net/`;

    this.resourceGroupName = resourceGroup.name;
    this.resourceGroupId = resourceGroup.id;
    this.accountName = account.name;
    this.accountId = account.id;
    this.accessConnectorId = connector.id;
    this.accessConnectorPrincipalId = principalId;
    this.landingUrl = url(containers.landing);
    this.lakehouseUrl = url(containers.lakehouse);

    this.registerOutputs({
      resourceGroupName: this.resourceGroupName,
      accountName: this.accountName,
      accessConnectorId: this.accessConnectorId,
      landingUrl: this.landingUrl,
      lakehouseUrl: this.lakehouseUrl,
    });
  }
}
