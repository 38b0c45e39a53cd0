/**
 * Publishing the lakehouse to Power BI: one Fabric workspace per stack with its role
 * assignments, a shareable Databricks connection over the SQL warehouse, the PBIP semantic model
 * (per-stack parameters substituted) and report from `powerbi/`, the binding of model to
 * connection and a refresh whenever the model definition changes.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ModelConnectionBinding, ModelRefresh } from "./binding";
import { DatabricksConnection } from "./connection";
import { applyPageRefresh, type PageRefreshSetting } from "./definition";
import { Report, SemanticModel } from "./items";
import { readPbipItem } from "./pbipFiles";
import { FabricWorkspace, WorkspaceRoleAssignment } from "./workspace";

/** The PBIP project of the repository (`powerbi/`). */
export const PBIP_PROJECT_DIR = path.resolve(__dirname, "..", "..", "powerbi");
export const MODEL_FOLDER = "OmsLakehouse.SemanticModel";
export const REPORT_FOLDER = "OmsLakehouse.Report";

/**
 * A Power BI Desktop data source file (.pbids) that opens the Azure Databricks connector on the
 * stack's SQL warehouse in DirectQuery mode. The file format has no catalog field for this
 * connector: the catalog is chosen in the navigator that opens.
 */
export function pbidsContent(host: string, httpPath: string): string {
  const pbids = {
    version: "0.1",
    connections: [
      {
        details: { protocol: "databricks", address: { host, httpPath } },
        options: {},
        mode: "DirectQuery",
      },
    ],
  };
  return JSON.stringify(pbids, null, 2) + "\n";
}

export interface BiPublishingArgs {
  /** Display name of the Fabric workspace (unique in the tenant). */
  readonly workspaceName: pulumi.Input<string>;
  /** Fabric capacity (F or P SKU) to assign the workspace to; omit for shared capacity. */
  readonly capacityId?: pulumi.Input<string>;
  /** Manage a workspace of that name that already exists (and never delete it). */
  readonly adoptExistingWorkspace?: pulumi.Input<boolean>;
  /** Entra object id of the service principal that publishes and refreshes (Admin). */
  readonly publisherPrincipalId: pulumi.Input<string>;
  /** Entra object ids of the security groups that read the reports (Viewer). */
  readonly viewerGroupIds: readonly pulumi.Input<string>[];
  /** Server host name of the SQL warehouse. */
  readonly serverHostname: pulumi.Input<string>;
  /** HTTP path of the SQL warehouse. */
  readonly httpPath: pulumi.Input<string>;
  /** Unity Catalog catalog the model reads (its `gold` schema). */
  readonly catalogName: pulumi.Input<string>;
  /** Entra tenant of the Databricks reader principal. */
  readonly tenantId: pulumi.Input<string>;
  /** Application (client) id of the principal the connection signs in to Databricks as. */
  readonly readerClientId: pulumi.Input<string>;
  /** Its client secret; stays a secret end to end. */
  readonly readerClientSecret: pulumi.Input<string>;
  /** Change to push the current secret to the connection (rotation). */
  readonly credentialVersion: pulumi.Input<string>;
  /**
   * The reader's access (its grants, the warehouse permissions): Fabric tests the connection's
   * credential on create, which fails until the reader may use the warehouse and read Gold.
   */
  readonly accessReady?: readonly pulumi.Resource[];
  /**
   * Automatic page refresh of the report pages that read DirectQuery tables (set in the
   * published page.json; the committed one holds the default). Omit to publish the pages as
   * committed. Shared capacity refreshes a page at most every 30 minutes ("Automatic page
   * refresh in Power BI").
   */
  readonly pageRefresh?: PageRefreshSetting;
  /** PBIP project folder; defaults to the repository's `powerbi/`. */
  readonly projectDir?: string;
}

export class BiPublishing extends pulumi.ComponentResource {
  /** Fabric workspace id. */
  public readonly workspaceId: pulumi.Output<string>;
  /** Semantic model (dataset) id. */
  public readonly semanticModelId: pulumi.Output<string>;
  /** Report id. */
  public readonly reportId: pulumi.Output<string>;
  /** Browser URL of the report. */
  public readonly reportUrl: pulumi.Output<string>;
  /** Fabric connection id. */
  public readonly connectionId: pulumi.Output<string>;
  /** Content of the stack's .pbids file for Power BI Desktop. */
  public readonly pbids: pulumi.Output<string>;

  constructor(name: string, args: BiPublishingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("oms:powerbi:BiPublishing", name, {}, opts);
    const child = { parent: this };
    const projectDir = args.projectDir ?? PBIP_PROJECT_DIR;
    // Read at program time, so a missing or broken project fails the preview, not the deploy.
    const modelParts = readPbipItem(path.join(projectDir, MODEL_FOLDER));
    const committedReport = readPbipItem(path.join(projectDir, REPORT_FOLDER));
    const reportParts = args.pageRefresh
      ? applyPageRefresh(committedReport, modelParts, args.pageRefresh)
      : committedReport;

    const workspace = new FabricWorkspace(
      `${name}-workspace`,
      {
        displayName: args.workspaceName,
        description: "OMS lakehouse reports over the Gold layer (managed by Pulumi)",
        capacityId: args.capacityId,
        adoptExisting: args.adoptExistingWorkspace ?? false,
      },
      child,
    );
    const workspaceId = workspace.workspaceId;

    // The publisher also refreshes the model from the Gold job, so it must hold a role that can
    // write items; Admin so that it can take over deployments from the bootstrap identity.
    new WorkspaceRoleAssignment(
      `${name}-publisher`,
      {
        workspaceId,
        principalId: args.publisherPrincipalId,
        principalType: "ServicePrincipal",
        role: "Admin",
      },
      child,
    );
    // Report readers see the reports and nothing else: no edit, no access to the connection.
    args.viewerGroupIds.forEach((groupId, i) => {
      new WorkspaceRoleAssignment(
        `${name}-viewers-${i}`,
        { workspaceId, principalId: groupId, principalType: "Group", role: "Viewer" },
        child,
      );
    });

    const connection = new DatabricksConnection(
      `${name}-connection`,
      {
        displayName: pulumi.interpolate`${args.workspaceName} - Databricks`,
        host: args.serverHostname,
        httpPath: args.httpPath,
        tenantId: args.tenantId,
        clientId: args.readerClientId,
        clientSecret: args.readerClientSecret,
        credentialVersion: pulumi.output(args.credentialVersion).apply(String),
      },
      { ...child, dependsOn: [...(args.accessReady ?? [])] },
    );

    // The TMDL parameters the M partitions read; substituted before upload so the data source
    // the service sees is the one the connection describes, and the binding matches.
    const model = new SemanticModel(
      `${name}-model`,
      {
        workspaceId,
        displayName: "OmsLakehouse",
        description: "Star schema over the Gold layer of the OMS lakehouse",
        parts: modelParts,
        parameters: {
          ServerHostname: args.serverHostname,
          HttpPath: args.httpPath,
          Catalog: args.catalogName,
        },
      },
      child,
    );
    const binding = new ModelConnectionBinding(
      `${name}-binding`,
      {
        workspaceId,
        semanticModelId: model.semanticModelId,
        // Type and path default to the connection's own, which the model's parameters match.
        connectionId: connection.connectionId,
        trigger: model.partsHash,
      },
      child,
    );
    const report = new Report(
      `${name}-report`,
      {
        workspaceId,
        displayName: "OmsLakehouse",
        description: "Revenue, order trends and inventory over the Gold layer",
        parts: reportParts,
        semanticModelId: model.semanticModelId,
      },
      child,
    );
    // Dual-mode dimensions hold an import copy: refresh after every definition change, once the
    // model is bound to a connection that has credentials.
    new ModelRefresh(
      `${name}-refresh`,
      { workspaceId, semanticModelId: model.semanticModelId, trigger: model.partsHash },
      { ...child, dependsOn: [binding] },
    );

    this.workspaceId = workspaceId;
    this.semanticModelId = model.semanticModelId;
    this.reportId = report.reportId;
    this.reportUrl = pulumi.interpolate`https://app.powerbi.com/groups/${workspaceId}/reports/${report.reportId}`;
    this.connectionId = connection.connectionId;
    this.pbids = pulumi
      .all([args.serverHostname, args.httpPath])
      .apply(([host, httpPath]) => pbidsContent(host, httpPath));

    this.registerOutputs({
      workspaceId: this.workspaceId,
      semanticModelId: this.semanticModelId,
      reportId: this.reportId,
      reportUrl: this.reportUrl,
      connectionId: this.connectionId,
      pbids: this.pbids,
    });
  }
}
