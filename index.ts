/**
 * OMS lakehouse: composition only. Configuration is validated first; components are built in the
 * order data flows (serverless network configuration → storage → private network → workspace →
 * serverless egress → pipeline and Power BI identities → Unity Catalog → warehouse → Power BI →
 * jobs, whose Gold job ends by refreshing the model); outputs are what operators, BI users and
 * the pipeline consume.
 */
import * as authorization from "@pulumi/azure-native/authorization";
import { loadConfig } from "./config";
import { LAKE_ENDPOINT_GROUPS, LakehouseStorage } from "./components/storage";
import { DatabricksWorkspace } from "./components/workspace";
import { WorkspaceNetwork } from "./components/network";
import { NetworkConnectivityConfig, ServerlessEgress } from "./components/serverlessEgress";
import { LakehouseCatalog } from "./components/catalog";
import { SqlWarehouse } from "./components/warehouse";
import {
  ENTITY_SILVER_TABLES,
  PipelineIdentity,
  PipelineJobs,
  pipelineGrants,
} from "./components/jobs";
import { FreshnessAlerts } from "./components/freshnessAlert";
import { BiIdentity } from "./components/powerbi/identity";
import { BiPublishing } from "./components/powerbi/publishing";
import { OmsEventHubs } from "./components/eventHubs";

const config = loadConfig();
const base = `oms-${config.environment}`;
const tags = {
  project: "oms-lakehouse",
  environment: config.environment,
  owner: config.owner,
  managedBy: "pulumi",
};

// Tenant and subscription come from the credentials azure-native deploys with, not from config:
// they can then never disagree with where the resources actually land.
const client = authorization.getClientConfigOutput();

// The NCC comes first: it needs only the region, and the storage firewall may list its subnets.
const ncc = new NetworkConnectivityConfig(base, {
  accountHost: config.databricksAccountHost,
  accountId: config.databricksAccountId,
  region: config.location,
  nccName: `${base}-ncc`,
});
const privateServerless = config.serverlessStorageAccess === "privateEndpoints";

const storage = new LakehouseStorage(base, {
  location: config.location,
  accountName: config.storageAccountName,
  skuName: config.storageSku,
  softDeleteRetentionDays: config.softDeleteRetentionDays,
  allowedIpRanges: config.storageAllowedIpRanges,
  serverlessSubnetIds: privateServerless ? undefined : ncc.stableSubnetIds(),
  publicNetworkAccess: config.storagePublicNetworkAccess,
  protect: config.protectData,
  tenantId: client.tenantId,
  subscriptionId: client.subscriptionId,
  tags,
});

// Private networking: the VNet the workspace is injected into, and the lake's private
// endpoints in it, so classic compute reaches storage without its public endpoint.
const network = config.vnetInjection
  ? new WorkspaceNetwork(base, {
      resourceGroupName: storage.resourceGroupName,
      location: config.location,
      addressSpace: config.vnetAddressSpace,
      hostSubnet: config.vnetHostSubnet,
      containerSubnet: config.vnetContainerSubnet,
      privateEndpointSubnet: config.vnetPrivateEndpointSubnet,
      tags,
    })
  : undefined;
if (network) {
  for (const groupId of LAKE_ENDPOINT_GROUPS) {
    network.privateEndpoint(`storage-${groupId}`, { targetResourceId: storage.accountId, groupId });
  }
}

const workspace = new DatabricksWorkspace(base, {
  location: config.location,
  resourceGroupName: storage.resourceGroupName,
  subscriptionId: client.subscriptionId,
  managedResourceGroupName: `${base}-databricks-managed`,
  vnet: network && {
    virtualNetworkId: network.virtualNetworkId,
    hostSubnetName: network.hostSubnetName,
    containerSubnetName: network.containerSubnetName,
  },
  tags,
});
// Optional front-end private link (off by default): users and tools in the VNet reach the
// workspace's web application and REST API privately; its public front end stays on.
if (network && config.workspaceFrontEndPrivateLink) {
  network.privateEndpoint("workspace-ui-api", {
    targetResourceId: workspace.workspaceResourceId,
    groupId: "databricks_ui_api",
  });
}

// Serverless compute (the warehouse, serverless jobs) reaches the lake through the NCC bound here.
const egress = new ServerlessEgress(`${base}-ncc`, {
  ncc,
  workspaceId: workspace.workspaceId,
  privateStorage: privateServerless
    ? {
        accountId: storage.accountId,
        accountName: storage.accountName,
        resourceGroupName: storage.resourceGroupName,
      }
    : undefined,
});

// Created before the catalog: its Unity Catalog privileges go into the catalog's one
// authoritative Grants per securable.
const pipelineIdentity = new PipelineIdentity(`${base}-pipeline`, {
  displayName: `${base}-pipeline`,
  accountId: config.databricksAccountId,
  deployerPrincipal: config.jobsDeployerPrincipal,
  provider: workspace.provider,
});

// The Power BI principals, also before the catalog for the same reason. The pipeline principal
// may read the publisher's secret: the Gold job requests the model refresh with it.
const biIdentity = config.powerbiEnabled
  ? new BiIdentity(`${base}-bi`, {
      displayNamePrefix: base,
      owners: [client.objectId],
      secretReaders: [pipelineIdentity.applicationId],
      provider: workspace.provider,
    })
  : undefined;

const catalog = new LakehouseCatalog(base, {
  catalogName: config.catalogName,
  accessConnectorId: storage.accessConnectorId,
  storageAccess: storage.roleAssignments,
  landingUrl: storage.landingUrl,
  lakehouseUrl: storage.lakehouseUrl,
  enableFileEvents: config.enableFileEvents,
  storageResourceGroupName: storage.resourceGroupName,
  subscriptionId: client.subscriptionId,
  forceDestroy: config.forceDestroy,
  protect: config.protectData,
  workspaceId: workspace.workspaceId,
  metastoreId: config.metastoreId,
  dataEngineersGroup: config.dataEngineersGroup,
  analystsGroup: config.analystsGroup,
  biReadersGroup: config.biReadersGroup,
  additionalGrants: [
    ...pipelineGrants(pipelineIdentity.applicationId),
    ...(biIdentity?.catalogGrants ?? []),
  ],
  provider: workspace.provider,
});

// Real-time OMS events (optional): the namespace, a hub per entity, the service credential the
// bronze Kafka source reads with, and the private endpoint the job clusters reach it through.
const events =
  config.eventsSource && network
    ? new OmsEventHubs(`${base}-events`, {
        resourceGroupName: storage.resourceGroupName,
        location: config.location,
        // Presence is validated in config.ts when eventsSource is true.
        namespaceName: config.eventHubsNamespaceName ?? "",
        sku: config.eventHubsSku,
        capacity: config.eventHubsCapacity,
        partitionCount: config.eventHubsPartitions,
        retentionDays: config.eventHubsRetentionDays,
        entities: Object.keys(ENTITY_SILVER_TABLES),
        publicNetworkAccess: config.eventHubsPublicNetworkAccess,
        allowedIpRanges: config.eventHubsAllowedIpRanges,
        accessConnectorId: storage.accessConnectorId,
        accessConnectorPrincipalId: storage.accessConnectorPrincipalId,
        producerPrincipalId: config.eventHubsProducerPrincipalId ?? "",
        credentialName: `${config.catalogName}_events`,
        pipelinePrincipal: pipelineIdentity.applicationId,
        subscriptionId: client.subscriptionId,
        tags,
        provider: workspace.provider,
      })
    : undefined;
if (network && events) {
  network.privateEndpoint("eventhubs-namespace", {
    targetResourceId: events.namespaceId,
    groupId: "namespace",
  });
}

const warehouse = new SqlWarehouse(base, {
  warehouseName: `OMS BI (${config.environment})`,
  clusterSize: config.warehouseClusterSize,
  minNumClusters: config.warehouseMinClusters,
  maxNumClusters: config.warehouseMaxClusters,
  autoStopMins: config.warehouseAutoStopMins,
  userGroups: [config.analystsGroup, config.biReadersGroup],
  additionalAccess: biIdentity?.warehouseAccess,
  tags,
  provider: workspace.provider,
});

const powerbi = biIdentity
  ? new BiPublishing(`${base}-powerbi`, {
      workspaceName: config.powerbiWorkspaceName ?? `OMS Lakehouse (${config.environment})`,
      capacityId: config.powerbiCapacityId,
      adoptExistingWorkspace: config.powerbiAdoptExistingWorkspace,
      publisherPrincipalId: biIdentity.publisherObjectId,
      viewerGroupIds: config.powerbiViewerGroupIds,
      serverHostname: warehouse.serverHostname,
      httpPath: warehouse.httpPath,
      catalogName: catalog.catalogName,
      tenantId: client.tenantId,
      readerClientId: biIdentity.readerClientId,
      readerClientSecret: biIdentity.readerClientSecret,
      credentialVersion: String(config.powerbiCredentialVersion),
      pageRefresh: {
        type: config.powerbiPageRefresh,
        intervalSeconds: config.powerbiPageRefreshSeconds,
      },
      // The model's first refresh queries Gold through the serverless warehouse.
      accessReady: [warehouse, egress, ...Object.values(catalog.grants)],
    })
  : undefined;

const jobs = new PipelineJobs(`${base}-pipeline`, {
  environment: config.environment,
  runAs: pipelineIdentity.applicationId,
  catalogName: catalog.catalogName,
  schemas: catalog.schemas,
  volumePaths: catalog.volumePaths,
  workspaceUrl: workspace.host,
  dataEngineersGroup: config.dataEngineersGroup,
  settings: {
    trigger: config.jobTrigger,
    processingTime: config.jobProcessingTime,
    compute: config.jobCompute,
    nodeType: config.jobNodeType,
    maxWorkers: config.jobMaxWorkers,
    maxFilesPerTrigger: config.jobMaxFilesPerTrigger,
    maxRetries: config.jobMaxRetries,
    timeoutSeconds: config.jobTimeoutSeconds,
    runDurationWarningSeconds: config.jobRunDurationWarningSeconds,
    backlogSecondsThreshold: config.jobBacklogSecondsThreshold,
    backlogFilesThreshold: config.jobBacklogFilesThreshold,
    goldMinSecondsBetweenRuns: config.jobGoldMinSecondsBetweenRuns,
    freshnessObjectiveSeconds: config.freshnessObjectiveSeconds,
    notificationEmails: config.jobNotificationEmails,
    webhookIds: config.jobWebhookIds,
  },
  events: events && {
    bootstrapServers: events.kafkaBootstrapServers,
    topics: events.hubNames,
    serviceCredential: events.serviceCredentialName,
    pollMinutes: config.eventsPollMinutes,
  },
  // The first run needs the principal's privileges, the deployer's right to use it, and (on
  // serverless) the network path to the lake.
  dependsOn: [
    ...Object.values(catalog.grants),
    pipelineIdentity.ruleSet,
    egress,
    // The event tasks need the credential, its grant and the namespace's private endpoint.
    ...(events ? [events] : []),
  ],
  powerBiRefresh:
    powerbi && biIdentity
      ? {
          workspaceId: powerbi.workspaceId,
          datasetId: powerbi.semanticModelId,
          tenantId: client.tenantId,
          clientId: biIdentity.publisherClientId,
          secretScope: biIdentity.secretScope,
          secretKey: biIdentity.secretKey,
        }
      : undefined,
  tags,
  provider: workspace.provider,
});

// Production watches the objective: alerts on the Gold freshness log the pipeline writes, sent
// to the jobs' recipients.
const freshnessAlerts = new FreshnessAlerts(`${base}-freshness`, {
  environment: config.environment,
  opsSchema: catalog.schemas.ops,
  objectiveSeconds: config.freshnessObjectiveSeconds,
  warehouseId: warehouse.warehouseId,
  emails: config.jobNotificationEmails,
  destinationIds: config.jobWebhookIds,
  provider: workspace.provider,
});

export const resourceGroupName = storage.resourceGroupName;
export const storageAccountName = storage.accountName;
export const landingUrl = storage.landingUrl;
export const lakehouseUrl = storage.lakehouseUrl;
export const workspaceUrl = workspace.host;
export const networkConnectivityConfigId = ncc.nccId;
export const virtualNetworkId = network?.virtualNetworkId;
export const catalogName = catalog.catalogName;
export const schemas = catalog.schemas;
export const volumePaths = catalog.volumePaths;
export const warehouseId = warehouse.warehouseId;
export const warehouseServerHostname = warehouse.serverHostname;
export const warehouseHttpPath = warehouse.httpPath;
export const pipelineServicePrincipal = pipelineIdentity.applicationId;
export const pipelinePackageVersion = jobs.packageVersion;
export const pipelineWheelPath = jobs.wheelPath;
export const jobIds = jobs.jobIds;
export const jobUrls = jobs.jobUrls;
export const freshnessAlertIds = freshnessAlerts.alertIds;
export const powerbiWorkspaceId = powerbi?.workspaceId;
export const powerbiSemanticModelId = powerbi?.semanticModelId;
export const powerbiReportId = powerbi?.reportId;
export const powerbiReportUrl = powerbi?.reportUrl;
export const powerbiPbids = powerbi?.pbids;
// Where the OMS publishes events (no secrets: producers authenticate with Entra ID).
export const eventHubsNamespaceFqdn = events?.namespaceFqdn;
export const eventHubsKafkaBootstrapServers = events?.kafkaBootstrapServers;
export const eventHubNames = events?.hubNames;
// The namespace's ARM id: what an OMS in another VNet names in its own private endpoint (prod).
export const eventHubsNamespaceId = events?.namespaceId;
