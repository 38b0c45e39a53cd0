/**
 * Real-time OMS events: the Event Hubs namespace the OMS publishes to, one event hub (Kafka
 * topic) per OMS entity, and the identities around it —
 * a Unity Catalog service credential on the access connector's managed identity (what the
 * bronze Kafka source authenticates with), *Azure Event Hubs Data Receiver* for that identity and
 * *Azure Event Hubs Data Sender* for the OMS producer, each on exactly the hubs. Entra ID only:
 * no shared access (SAS) keys, connection strings or authorization rules exist.
 */
import * as pulumi from "@pulumi/pulumi";
import * as eventhub from "@pulumi/azure-native/eventhub";
import * as databricks from "@pulumi/databricks";
import { authoritativeGrants } from "./grants";
import { assignBuiltInRole } from "./roles";

/** Built-in Azure role definition ids (identical in every tenant; "Azure built-in roles"). */
export const EVENT_HUBS_ROLES = {
  /** Azure Event Hubs Data Receiver: receive events (the Kafka consumer). */
  dataReceiver: "a638d3c7-ab3a-418d-83e6-5f17a39d4fde",
  /** Azure Event Hubs Data Sender: send events (the Kafka producer). */
  dataSender: "2b629674-e913-4c01-ae53-ef4638d8f975",
} as const;

/**
 * Port of the Event Hubs Kafka endpoint ("Apache Kafka for Azure Event Hubs": clients connect to
 * `<namespace>.servicebus.windows.net:9093` over SASL_SSL).
 */
export const KAFKA_PORT = 9093;

/** `<namespace>.servicebus.windows.net`, the namespace's host name in the public Azure cloud. */
export const namespaceHost = (namespaceName: string): string =>
  `${namespaceName}.servicebus.windows.net`;

export interface OmsEventHubsArgs {
  /** Resource group of the namespace (the lake's). */
  readonly resourceGroupName: pulumi.Input<string>;
  /** Azure region of the namespace. */
  readonly location: pulumi.Input<string>;
  /** Globally unique namespace name (6–50 letters, digits, hyphens). */
  readonly namespaceName: string;
  /** Tier with the Kafka endpoint: Standard or Premium. */
  readonly sku: "Standard" | "Premium";
  /** Throughput units (Standard) or processing units (Premium). */
  readonly capacity: number;
  /** Partitions per hub (1–32). */
  readonly partitionCount: number;
  /** Days an event stays readable in its hub. */
  readonly retentionDays: number;
  /**
   * The OMS entities that publish events, one hub each (topic name = entity name, the contract
   * between the OMS and the bronze Kafka source).
   */
  readonly entities: readonly string[];
  /** Whether producers may use the public endpoint (through the firewall); default true. */
  readonly publicNetworkAccess?: boolean;
  /** Producer IPv4 addresses or CIDR ranges admitted through the firewall. */
  readonly allowedIpRanges?: pulumi.Input<readonly string[]>;
  /** ARM id of the Databricks access connector (identity of the service credential). */
  readonly accessConnectorId: pulumi.Input<string>;
  /** Object id of the connector's system-assigned managed identity. */
  readonly accessConnectorPrincipalId: pulumi.Input<string>;
  /** Entra object id of the OMS producer's service principal or managed identity. */
  readonly producerPrincipalId: pulumi.Input<string>;
  /** Name of the Unity Catalog service credential (metastore-wide, so it carries the catalog). */
  readonly credentialName: string;
  /** Principal (application id) granted ACCESS on the credential: the pipeline's. */
  readonly pipelinePrincipal: pulumi.Input<string>;
  /** Subscription the stack deploys into (used to build role definition ids). */
  readonly subscriptionId: pulumi.Input<string>;
  /** Tags applied to the namespace. */
  readonly tags: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** The workspace's Databricks provider (for the credential and its grant). */
  readonly provider: databricks.Provider;
}

/**
 * One namespace per stack, one event hub per OMS entity.
 *
 * Why a hub per entity rather than one hub with the entity in each record: the bronze Kafka
 * source subscribes to one topic per entity task, so each entity gets its own offsets, checkpoint
 * and backlog (a burst of inventory events does not delay orders); the hub is the unit of
 * Azure RBAC, so grants can name exactly the entities a principal reads or writes; and each
 * payload is then the entity's contract, with no envelope to route on. The Standard tier allows
 * 10 event hubs per namespace ("Azure Event Hubs quotas and limits"); the OMS has four entities.
 */
export class OmsEventHubs extends pulumi.ComponentResource {
  /** ARM id of the namespace (the private endpoint's target). */
  public readonly namespaceId: pulumi.Output<string>;
  /** Namespace name. */
  public readonly namespaceName: pulumi.Output<string>;
  /** `<namespace>.servicebus.windows.net` */
  public readonly namespaceFqdn: pulumi.Output<string>;
  /** `<namespace>.servicebus.windows.net:9093`, the Kafka bootstrap server. */
  public readonly kafkaBootstrapServers: pulumi.Output<string>;
  /** Hub (Kafka topic) name by entity. */
  public readonly hubNames: Readonly<Record<string, pulumi.Output<string>>>;
  /** Name of the Unity Catalog service credential the Kafka source authenticates with. */
  public readonly serviceCredentialName: pulumi.Output<string>;

  constructor(name: string, args: OmsEventHubsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("oms:events:OmsEventHubs", name, {}, opts);
    const publicAccess = args.publicNetworkAccess === false ? "Disabled" : "Enabled";

    const namespace = new eventhub.Namespace(
      `${name}-namespace`,
      {
        namespaceName: args.namespaceName,
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        // Standard and above expose the Kafka endpoint; Basic does not ("Apache Kafka for Azure
        // Event Hubs"). The tier is validated in config.ts.
        sku: { name: args.sku, tier: args.sku, capacity: args.capacity },
        kafkaEnabled: true,
        // Entra ID only: SAS keys (RootManageSharedAccessKey and any other authorization rule)
        // are refused, so every client is a principal with an Azure role on a hub.
        disableLocalAuth: true,
        minimumTlsVersion: "1.2",
        publicNetworkAccess: publicAccess,
        tags: args.tags,
      },
      { parent: this },
    );

    // The firewall, like the lake's: deny by default, admit only the producers' addresses. The
    // pipeline's job clusters come in through the private endpoint in the workspace VNet, which
    // the firewall does not filter. Trusted Microsoft services are not admitted: none reads the
    // hubs.
    const ipRules = pulumi.output(args.allowedIpRanges ?? []).apply((ranges) =>
      // Sorted: Azure returns the rules in its own order, an unsorted list would diff forever.
      [...new Set(ranges)].sort().map((ipMask) => ({ ipMask, action: "Allow" as const })),
    );
    new eventhub.NamespaceNetworkRuleSet(
      `${name}-network`,
      {
        namespaceName: namespace.name,
        resourceGroupName: args.resourceGroupName,
        defaultAction: "Deny",
        publicNetworkAccess: publicAccess,
        trustedServiceAccessEnabled: false,
        ipRules,
        virtualNetworkRules: [],
      },
      { parent: this },
    );

    const entities = [...args.entities].sort();
    const hubs = entities.map((entity) => {
      const hub = new eventhub.EventHub(
        `${name}-${entity}`,
        {
          eventHubName: entity,
          namespaceName: namespace.name,
          resourceGroupName: args.resourceGroupName,
          partitionCount: args.partitionCount,
          retentionDescription: {
            cleanupPolicy: "Delete",
            retentionTimeInHours: args.retentionDays * 24,
          },
        },
        { parent: this },
      );
      // No Event Hubs consumer group: Kafka clients never use one. Kafka consumer groups on Event
      // Hubs are distinct and created by the clients themselves ("Frequently asked questions -
      // Event Hubs for Apache Kafka": Event Hubs consumer group vs. Kafka consumer group), and
      // the bronze source joins none: Spark's Kafka source assigns the partitions itself and
      // keeps its offsets in the stream's checkpoint.
      // Scoped to the hub, not the namespace: each identity reaches exactly the entity topics.
      const receiver = assignBuiltInRole(
        `${name}-${entity}-receiver`,
        {
          subscriptionId: args.subscriptionId,
          roleGuid: EVENT_HUBS_ROLES.dataReceiver,
          principalId: args.accessConnectorPrincipalId,
          scope: hub.id,
        },
        { parent: this },
      );
      assignBuiltInRole(
        `${name}-${entity}-sender`,
        {
          subscriptionId: args.subscriptionId,
          roleGuid: EVENT_HUBS_ROLES.dataSender,
          principalId: args.producerPrincipalId,
          scope: hub.id,
        },
        { parent: this },
      );
      return { entity, hub, receiver };
    });

    // The Kafka source authenticates as the access connector's managed identity through this
    // credential ("Use Unity Catalog service credentials to connect to external cloud services";
    // Databricks Runtime 16.1 and above for Event Hubs). Created after the receiver roles so its
    // first use is not refused while they propagate.
    const credential = new databricks.Credential(
      `${name}-credential`,
      {
        name: args.credentialName,
        purpose: "SERVICE",
        azureManagedIdentity: { accessConnectorId: args.accessConnectorId },
        comment: "Kafka (Event Hubs) source of the OMS bronze ingestion; managed by Pulumi",
      },
      {
        parent: this,
        provider: args.provider,
        dependsOn: hubs.map((h) => h.receiver),
      },
    );
    // ACCESS for the pipeline only: nobody else can read the hubs through Databricks.
    authoritativeGrants(
      `${name}-credential-grants`,
      { credential: credential.name },
      [{ principal: args.pipelinePrincipal, privileges: ["ACCESS"] }],
      { parent: this, provider: args.provider },
    );

    // Names are the declared ones, so they are known at preview: the job parameters built from
    // them can be reviewed in the plan. Consumers that need the resources to exist depend on
    // this component.
    const host = namespaceHost(args.namespaceName);
    this.namespaceId = namespace.id;
    this.namespaceName = pulumi.output(args.namespaceName);
    this.namespaceFqdn = pulumi.output(host);
    this.kafkaBootstrapServers = pulumi.output(`${host}:${KAFKA_PORT}`);
    this.hubNames = Object.fromEntries(entities.map((entity) => [entity, pulumi.output(entity)]));
    this.serviceCredentialName = credential.name;
    this.registerOutputs({
      namespaceFqdn: this.namespaceFqdn,
      kafkaBootstrapServers: this.kafkaBootstrapServers,
      hubNames: this.hubNames,
      serviceCredentialName: this.serviceCredentialName,
    });
  }
}
