/**
 * The serverless SQL warehouse that Power BI and analysts query the gold layer through.
 */
import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";

/** Permission levels a principal may hold on the warehouse (IS_OWNER is left to the deployer). */
export type WarehousePermissionLevel = "CAN_USE" | "CAN_MONITOR" | "CAN_VIEW" | "CAN_MANAGE";

/** A principal allowed on the warehouse; exactly one of the three identities is set. */
export interface WarehouseAccess {
  /** Account group name. */
  readonly groupName?: pulumi.Input<string>;
  /** Service principal application id. */
  readonly servicePrincipalName?: pulumi.Input<string>;
  /** User e-mail. */
  readonly userName?: pulumi.Input<string>;
  /** Permission level granted. */
  readonly permissionLevel: WarehousePermissionLevel;
}

export interface SqlWarehouseArgs {
  /** Display name of the warehouse in the workspace. */
  readonly warehouseName: pulumi.Input<string>;
  /** T-shirt size of each cluster, e.g. 2X-Small. */
  readonly clusterSize: pulumi.Input<string>;
  /** Clusters kept when busy at the low end of the autoscaling range. */
  readonly minNumClusters: pulumi.Input<number>;
  /** Upper bound of autoscaling; caps cost under BI refresh storms. */
  readonly maxNumClusters: pulumi.Input<number>;
  /** Idle minutes before the warehouse stops. */
  readonly autoStopMins: pulumi.Input<number>;
  /** Account groups allowed to run queries (CAN_USE). */
  readonly userGroups: readonly pulumi.Input<string>[];
  /** Further principals (e.g. a BI service principal) merged into the same Permissions. */
  readonly additionalAccess?: readonly WarehouseAccess[];
  /** Tags propagated to the warehouse's underlying compute, for cost reporting. */
  readonly tags: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** The workspace's Databricks provider. */
  readonly provider: databricks.Provider;
}

export class SqlWarehouse extends pulumi.ComponentResource {
  /** Warehouse id. */
  public readonly warehouseId: pulumi.Output<string>;
  /** Server host name for ODBC/JDBC clients (Power BI's Databricks connector). */
  public readonly serverHostname: pulumi.Output<string>;
  /** HTTP path of the warehouse, `/sql/1.0/warehouses/<id>`. */
  public readonly httpPath: pulumi.Output<string>;
  /** JDBC URL of the warehouse. */
  public readonly jdbcUrl: pulumi.Output<string>;

  constructor(name: string, args: SqlWarehouseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("oms:warehouse:SqlWarehouse", name, {}, opts);
    const child = { parent: this, provider: args.provider };

    const warehouse = new databricks.SqlEndpoint(
      `${name}-warehouse`,
      {
        name: args.warehouseName,
        // Serverless starts in seconds, so a short auto-stop costs BI users no waiting, and no
        // compute runs in our subscription.
        enableServerlessCompute: true,
        warehouseType: "PRO",
        enablePhoton: true,
        channel: { name: "CHANNEL_NAME_CURRENT" },
        clusterSize: args.clusterSize,
        minNumClusters: args.minNumClusters,
        maxNumClusters: args.maxNumClusters,
        autoStopMins: args.autoStopMins,
        tags: {
          // Sorted by key: the API returns tags in its own order.
          customTags: pulumi.output(args.tags).apply((tags) =>
            Object.keys(tags)
              .sort()
              .map((key) => ({ key, value: tags[key] })),
          ),
        },
      },
      child,
    );

    const access: WarehouseAccess[] = [
      ...args.userGroups.map((groupName) => ({ groupName, permissionLevel: "CAN_USE" as const })),
      ...(args.additionalAccess ?? []),
    ];
    for (const entry of access) {
      const identities = [entry.groupName, entry.servicePrincipalName, entry.userName].filter(
        (v) => v !== undefined,
      );
      if (identities.length !== 1) {
        throw new Error(
          `${name}: each warehouse access entry needs exactly one of groupName, servicePrincipalName, userName`,
        );
      }
    }
    // One authoritative Permissions object per warehouse; sorted for a stable diff.
    const accessControls = pulumi
      .all(
        access.map((a) =>
          pulumi.all([a.groupName, a.servicePrincipalName, a.userName]).apply(([g, s, u]) => ({
            groupName: g,
            servicePrincipalName: s,
            userName: u,
            permissionLevel: a.permissionLevel,
          })),
        ),
      )
      .apply((controls) =>
        controls
          .map((c) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)))
          .sort((a, b) => {
            const ka = JSON.stringify(a);
            const kb = JSON.stringify(b);
            return ka < kb ? -1 : ka > kb ? 1 : 0;
          }),
      );
    new databricks.Permissions(
      `${name}-permissions`,
      { sqlEndpointId: warehouse.id, accessControls },
      child,
    );

    this.warehouseId = warehouse.id;
    this.serverHostname = warehouse.odbcParams.apply((p) => p.hostname ?? "");
    this.httpPath = warehouse.odbcParams.apply((p) => p.path ?? "");
    this.jdbcUrl = warehouse.jdbcUrl;

    this.registerOutputs({
      warehouseId: this.warehouseId,
      serverHostname: this.serverHostname,
      httpPath: this.httpPath,
    });
  }
}
