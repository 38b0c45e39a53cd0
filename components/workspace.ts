/**
 * The Azure Databricks workspace and the one Databricks provider every Unity Catalog, job and
 * warehouse resource of the stack is created through.
 */
import * as pulumi from "@pulumi/pulumi";
import * as azureDatabricks from "@pulumi/azure-native/databricks";
import * as databricks from "@pulumi/databricks";

export interface DatabricksWorkspaceArgs {
  /** Azure region of the workspace. */
  readonly location: pulumi.Input<string>;
  /** Resource group the workspace resource is created in. */
  readonly resourceGroupName: pulumi.Input<string>;
  /** Subscription the stack deploys into (the managed resource group id is built from it). */
  readonly subscriptionId: pulumi.Input<string>;
  /** Name of the Databricks-managed resource group (must not exist yet). */
  readonly managedResourceGroupName: pulumi.Input<string>;
  /**
   * VNet injection: the workspace's clusters run in this VNet's host and container subnets
   * (delegated to Databricks, with an NSG) instead of a Databricks-managed VNet. Unset: managed
   * VNet.
   */
  readonly vnet?: {
    /** ARM id of the VNet. */
    readonly virtualNetworkId: pulumi.Input<string>;
    /** Host ("public") subnet name. */
    readonly hostSubnetName: pulumi.Input<string>;
    /** Container ("private") subnet name. */
    readonly containerSubnetName: pulumi.Input<string>;
  };
  /** Tags applied to the workspace (Azure copies them onto its managed resources). */
  readonly tags: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

export class DatabricksWorkspace extends pulumi.ComponentResource {
  /** ARM id of the workspace. */
  public readonly workspaceResourceId: pulumi.Output<string>;
  /** Numeric Databricks workspace id (used for metastore assignment). */
  public readonly workspaceId: pulumi.Output<string>;
  /** Host name of the workspace, `adb-<id>.<n>.azuredatabricks.net`. */
  public readonly workspaceUrl: pulumi.Output<string>;
  /** `https://<workspaceUrl>` */
  public readonly host: pulumi.Output<string>;
  /** The workspace-level Databricks provider; pass it to every databricks resource. */
  public readonly provider: databricks.Provider;

  constructor(name: string, args: DatabricksWorkspaceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("oms:workspace:DatabricksWorkspace", name, {}, opts);

    const workspace = new azureDatabricks.Workspace(
      `${name}-workspace`,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        // Premium is the tier that includes Unity Catalog, table ACLs and serverless SQL.
        sku: { name: "premium" },
        managedResourceGroupId: pulumi.interpolate`/subscriptions/${args.subscriptionId}/resourceGroups/${args.managedResourceGroupName}`,
        parameters: {
          // Secure cluster connectivity: cluster nodes get no public IP and reach the control
          // plane through a relay, so nothing on the data plane is exposed to the internet.
          enableNoPublicIp: { value: true },
          // "Deploy Azure Databricks in your Azure virtual network (VNet injection)": the VNet
          // and the names of its two delegated subnets; fixed at creation.
          ...(args.vnet
            ? {
                customVirtualNetworkId: { value: args.vnet.virtualNetworkId },
                customPublicSubnetName: { value: args.vnet.hostSubnetName },
                customPrivateSubnetName: { value: args.vnet.containerSubnetName },
              }
            : {}),
        },
        // The workspace keeps its public front end (the deployer, Power BI and the account
        // console reach it); with VNet injection and no back-end private link, Databricks
        // manages every NSG rule the clusters need.
        ...(args.vnet ? { publicNetworkAccess: "Enabled", requiredNsgRules: "AllRules" } : {}),
        tags: args.tags,
      },
      { parent: this },
    );

    this.workspaceResourceId = workspace.id;
    this.workspaceId = workspace.workspaceId;
    this.workspaceUrl = workspace.workspaceUrl;
    this.host = pulumi.interpolate`https://${workspace.workspaceUrl}`;

    // Built from the workspace's outputs, so the first `pulumi up` creates the workspace and then
    // everything inside it. No credentials here: the provider authenticates from the environment
    // (Azure CLI login, OIDC or ARM_* / DATABRICKS_* variables, or a managed identity), and the
    // Azure resource id lets it exchange an Entra ID token for workspace access.
    this.provider = new databricks.Provider(
      `${name}-provider`,
      {
        host: this.host,
        azureWorkspaceResourceId: workspace.id,
      },
      { parent: this },
    );

    this.registerOutputs({
      workspaceResourceId: this.workspaceResourceId,
      workspaceId: this.workspaceId,
      workspaceUrl: this.workspaceUrl,
      host: this.host,
    });
  }
}
