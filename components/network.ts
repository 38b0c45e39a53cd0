/**
 * Private networking of a stack: the virtual network the workspace is injected into (host and
 * container subnets delegated to Databricks, each with a network security group) and a subnet
 * for private endpoints, plus the one pattern every private endpoint of the stack follows —
 * {@link PrivateLinkEndpoint}: endpoint, private DNS zone, the zone's link to the VNet and the
 * endpoint's DNS zone group.
 */
import * as pulumi from "@pulumi/pulumi";
import * as network from "@pulumi/azure-native/network";
import * as privatedns from "@pulumi/azure-native/privatedns";

/**
 * Private DNS zone of each private-link sub-resource the stack connects to ("Azure Private
 * Endpoint private DNS zone values"). A private endpoint resolves only when its zone holds the
 * endpoint's A record and is linked to the VNet the clients resolve from.
 */
export const PRIVATE_DNS_ZONES = {
  /** ADLS Gen2 (abfss://) endpoint of a storage account. */
  dfs: "privatelink.dfs.core.windows.net",
  /** Blob endpoint of a storage account (Delta log reads, file events, some connectors). */
  blob: "privatelink.blob.core.windows.net",
  /** Azure Databricks front end: web application and REST API. */
  databricks_ui_api: "privatelink.azuredatabricks.net",
  /** Event Hubs namespace (AMQP, Kafka and HTTPS endpoints of `<namespace>.servicebus.windows.net`). */
  namespace: "privatelink.servicebus.windows.net",
} as const;

/** A private-link sub-resource (group id) the stack knows the DNS zone of. */
export type PrivateLinkGroup = keyof typeof PRIVATE_DNS_ZONES;

/**
 * Delegation Azure Databricks requires on both workspace subnets ("Deploy Azure Databricks in
 * your Azure virtual network (VNet injection)"): it lets the workspace attach its network intent
 * policy and the NSG rules it needs to the subnets.
 */
export const DATABRICKS_DELEGATION = "Microsoft.Databricks/workspaces";

export interface PrivateLinkEndpointArgs {
  /** Resource group of the endpoint, its DNS zone and the zone's VNet link. */
  readonly resourceGroupName: pulumi.Input<string>;
  /** Azure region of the endpoint (the zone is global). */
  readonly location: pulumi.Input<string>;
  /** Subnet the endpoint's network interface is placed in. */
  readonly subnetId: pulumi.Input<string>;
  /** VNet the DNS zone is linked to (where clients resolve the endpoint). */
  readonly virtualNetworkId: pulumi.Input<string>;
  /** ARM id of the resource the endpoint connects to. */
  readonly targetResourceId: pulumi.Input<string>;
  /** Sub-resource (group id) of the target, e.g. `dfs`; picks the DNS zone. */
  readonly groupId: PrivateLinkGroup;
  /** Name of the Azure private endpoint resource (known before deploy, so reviewable). */
  readonly endpointName: string;
  /** Tags applied to the endpoint and the zone. */
  readonly tags: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/**
 * One private endpoint and the DNS that makes it resolve: the private DNS zone of its group id,
 * the zone's link to the VNet and the endpoint's DNS zone group, which writes the endpoint's A
 * record into the zone and keeps it current. Reused for every private-link target of the stack.
 */
export class PrivateLinkEndpoint extends pulumi.ComponentResource {
  /** ARM id of the private endpoint. */
  public readonly endpointId: pulumi.Output<string>;
  /** ARM id of the private DNS zone. */
  public readonly zoneId: pulumi.Output<string>;
  /** The zone's name, e.g. `privatelink.dfs.core.windows.net`. */
  public readonly zoneName: string;

  constructor(name: string, args: PrivateLinkEndpointArgs, opts?: pulumi.ComponentResourceOptions) {
    super("oms:network:PrivateLinkEndpoint", name, {}, opts);
    this.zoneName = PRIVATE_DNS_ZONES[args.groupId];

    const zone = new privatedns.PrivateZone(
      `${name}-zone`,
      {
        resourceGroupName: args.resourceGroupName,
        privateZoneName: this.zoneName,
        location: "global",
        tags: args.tags,
      },
      { parent: this },
    );
    // Without the link, clients in the VNet resolve the public name to the public endpoint,
    // which a storage account without public access refuses.
    new privatedns.VirtualNetworkLink(
      `${name}-zone-link`,
      {
        resourceGroupName: args.resourceGroupName,
        privateZoneName: this.zoneName,
        virtualNetwork: { id: args.virtualNetworkId },
        registrationEnabled: false,
        location: "global",
        tags: args.tags,
      },
      { parent: this, dependsOn: [zone] },
    );
    const endpoint = new network.PrivateEndpoint(
      `${name}-endpoint`,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        privateEndpointName: args.endpointName,
        subnet: { id: args.subnetId },
        // Automatic approval: the deployer owns the target, so the connection is approved on
        // creation (manual connections are for targets in other tenants).
        privateLinkServiceConnections: [
          {
            name: args.endpointName,
            privateLinkServiceId: args.targetResourceId,
            groupIds: [args.groupId],
          },
        ],
        tags: args.tags,
      },
      { parent: this },
    );
    new network.PrivateDnsZoneGroup(
      `${name}-dns`,
      {
        resourceGroupName: args.resourceGroupName,
        privateEndpointName: args.endpointName,
        privateDnsZoneGroupName: "default",
        privateDnsZoneConfigs: [{ name: args.groupId, privateDnsZoneId: zone.id }],
      },
      { parent: this, dependsOn: [endpoint] },
    );

    this.endpointId = endpoint.id;
    this.zoneId = zone.id;
    this.registerOutputs({ endpointId: this.endpointId, zoneId: this.zoneId });
  }
}

export interface WorkspaceNetworkArgs {
  /** Resource group of the VNet, its NSG and subnets. */
  readonly resourceGroupName: pulumi.Input<string>;
  /** Azure region (the workspace's). */
  readonly location: pulumi.Input<string>;
  /** Address space of the VNet (CIDR, /16–/24). */
  readonly addressSpace: string;
  /** Host ("public") subnet of the workspace (CIDR, /26 or larger). */
  readonly hostSubnet: string;
  /** Container ("private") subnet of the workspace (CIDR, /26 or larger). */
  readonly containerSubnet: string;
  /** Subnet for private endpoints (CIDR). */
  readonly privateEndpointSubnet: string;
  /** Tags applied to the VNet and the NSG. */
  readonly tags: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/**
 * The VNet a workspace is injected into ("Deploy Azure Databricks in your Azure virtual network
 * (VNet injection)"): host and container subnets delegated to `Microsoft.Databricks/workspaces`
 * sharing one network security group and one NAT gateway (their egress), and a third subnet for private endpoints (a delegated
 * subnet cannot hold them).
 */
export class WorkspaceNetwork extends pulumi.ComponentResource {
  /** ARM id of the VNet (the workspace's `customVirtualNetworkId`). */
  public readonly virtualNetworkId: pulumi.Output<string>;
  /** Name of the host subnet (`customPublicSubnetName`). */
  public readonly hostSubnetName: pulumi.Output<string>;
  /** Name of the container subnet (`customPrivateSubnetName`). */
  public readonly containerSubnetName: pulumi.Output<string>;
  /** ARM id of the private endpoint subnet. */
  public readonly privateEndpointSubnetId: pulumi.Output<string>;
  /** ARM id of the NSG on both workspace subnets. */
  public readonly networkSecurityGroupId: pulumi.Output<string>;
  /** ARM id of the NAT gateway both workspace subnets egress through. */
  public readonly natGatewayId: pulumi.Output<string>;

  private readonly args: WorkspaceNetworkArgs;
  private readonly baseName: string;

  constructor(name: string, args: WorkspaceNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("oms:network:WorkspaceNetwork", name, {}, opts);
    this.args = args;
    this.baseName = name;

    const vnet = new network.VirtualNetwork(
      `${name}-vnet`,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        addressSpace: { addressPrefixes: [args.addressSpace] },
        // Subnets are separate resources below: an inline list would fight them on every update.
        tags: args.tags,
      },
      { parent: this },
    );
    // No rules declared here: the workspace adds the inbound and outbound rules it requires
    // (worker-to-worker, control plane, SQL, storage, Event Hubs service tags) through the
    // subnets' network intent policy, and rules declared inline would remove them on update.
    const nsg = new network.NetworkSecurityGroup(
      `${name}-nsg`,
      { resourceGroupName: args.resourceGroupName, location: args.location, tags: args.tags },
      { parent: this },
    );

    // Classic compute (job clusters) opens its secure cluster connectivity tunnel to the control
    // plane outbound, and also reaches the metastore, artifact storage and PyPI outbound. With
    // no public IPs on the nodes, and Azure retiring default outbound access for new VNets
    // ("Default outbound access in Azure"), the subnets need an explicit egress: a NAT gateway
    // with a Standard static public IP, as "Enable secure cluster connectivity" (egress from
    // workspace subnets) recommends for VNet-injected workspaces. It admits nothing inbound.
    const egressIp = new network.PublicIPAddress(
      `${name}-nat-ip`,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        sku: { name: "Standard", tier: "Regional" },
        publicIPAllocationMethod: "Static",
        publicIPAddressVersion: "IPv4",
        tags: args.tags,
      },
      { parent: this },
    );
    const nat = new network.NatGateway(
      `${name}-nat`,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        sku: { name: "Standard" },
        publicIpAddresses: [{ id: egressIp.id }],
        idleTimeoutInMinutes: 10,
        tags: args.tags,
      },
      { parent: this },
    );

    // The subnet's name, read through its id so the workspace waits for the subnet (with its
    // NSG and delegation) to exist.
    const workspaceSubnet = (suffix: string, prefix: string, after?: pulumi.Resource) => {
      const subnetName = `${name}-${suffix}`;
      const subnet = new network.Subnet(
        subnetName,
        {
          resourceGroupName: args.resourceGroupName,
          virtualNetworkName: vnet.name,
          subnetName,
          addressPrefix: prefix,
          networkSecurityGroup: { id: nsg.id },
          natGateway: { id: nat.id },
          delegations: [{ name: "databricks", serviceName: DATABRICKS_DELEGATION }],
        },
        // One subnet operation at a time per VNet: concurrent ones fail with
        // AnotherOperationInProgress.
        { parent: this, dependsOn: after ? [after] : [] },
      );
      return { subnet, name: subnet.id.apply(() => subnetName) };
    };
    const host = workspaceSubnet("host", args.hostSubnet);
    const container = workspaceSubnet("container", args.containerSubnet, host.subnet);
    const endpoints = new network.Subnet(
      `${name}-endpoints`,
      {
        resourceGroupName: args.resourceGroupName,
        virtualNetworkName: vnet.name,
        subnetName: `${name}-endpoints`,
        addressPrefix: args.privateEndpointSubnet,
        // Network policies stay off so the endpoints' routes are not overridden.
        privateEndpointNetworkPolicies: "Disabled",
      },
      { parent: this, dependsOn: [container.subnet] },
    );

    this.virtualNetworkId = vnet.id;
    this.hostSubnetName = host.name;
    this.containerSubnetName = container.name;
    this.privateEndpointSubnetId = endpoints.id;
    this.networkSecurityGroupId = nsg.id;
    this.natGatewayId = nat.id;
    this.registerOutputs({
      virtualNetworkId: this.virtualNetworkId,
      hostSubnetName: this.hostSubnetName,
      containerSubnetName: this.containerSubnetName,
      privateEndpointSubnetId: this.privateEndpointSubnetId,
    });
  }

  /**
   * A private endpoint from this VNet's endpoint subnet to `targetResourceId`'s `groupId`
   * sub-resource, with its DNS zone linked to this VNet.
   */
  privateEndpoint(
    suffix: string,
    target: { readonly targetResourceId: pulumi.Input<string>; readonly groupId: PrivateLinkGroup },
  ): PrivateLinkEndpoint {
    const name = `${this.baseName}-${suffix}`;
    return new PrivateLinkEndpoint(
      name,
      {
        resourceGroupName: this.args.resourceGroupName,
        location: this.args.location,
        subnetId: this.privateEndpointSubnetId,
        virtualNetworkId: this.virtualNetworkId,
        targetResourceId: target.targetResourceId,
        groupId: target.groupId,
        endpointName: `${name}-pe`,
        tags: this.args.tags,
      },
      { parent: this },
    );
  }
}
