/**
 * OMS lakehouse: composition only. Configuration is validated first; components are built in the
 * order data flows (storage → workspace → pipeline and Power BI identities → Unity Catalog →
 * warehouse → Power BI → jobs, whose Gold job ends by refreshing the model); outputs are what
 * operators, BI users and the pipeline consume.
 */
import * as authorization from "@pulumi/azure-native/authorization";
import { loadConfig } from "./config";
import { LakehouseStorage } from "./components/storage";
import { DatabricksWorkspace } from "./components/workspace";
import { LakehouseCatalog } from "./components/catalog";
import { SqlWarehouse } from "./components/warehouse";
import { PipelineIdentity, PipelineJobs, pipelineGrants } from "./components/jobs";
import { BiIdentity } from "./components/powerbi/identity";
import { BiPublishing } from "./components/powerbi/publishing";

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

const storage = new LakehouseStorage(base, {
  location: config.location,
  accountName: config.storageAccountName,
  skuName: config.storageSku,
  softDeleteRetentionDays: config.softDeleteRetentionDays,
  allowedIpRanges: config.storageAllowedIpRanges,
  protect: config.protectData,
  tenantId: client.tenantId,
  subscriptionId: client.subscriptionId,
  tags,
});

const workspace = new DatabricksWorkspace(base, {
  location: config.location,
  resourceGroupName: storage.resourceGroupName,
  subscriptionId: client.subscriptionId,
  managedResourceGroupName: `${base}-databricks-managed`,
  tags,
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
      accessReady: [warehouse, ...Object.values(catalog.grants)],
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
    notificationEmails: config.jobNotificationEmails,
    webhookIds: config.jobWebhookIds,
  },
  // The first run needs the principal's privileges and the deployer's right to use it.
  dependsOn: [...Object.values(catalog.grants), pipelineIdentity.ruleSet],
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

export const resourceGroupName = storage.resourceGroupName;
export const storageAccountName = storage.accountName;
export const landingUrl = storage.landingUrl;
export const lakehouseUrl = storage.lakehouseUrl;
export const workspaceUrl = workspace.host;
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
export const powerbiWorkspaceId = powerbi?.workspaceId;
export const powerbiSemanticModelId = powerbi?.semanticModelId;
export const powerbiReportId = powerbi?.reportId;
export const powerbiReportUrl = powerbi?.reportUrl;
export const powerbiPbids = powerbi?.pbids;
