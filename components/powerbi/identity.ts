/**
 * Identities of the Power BI integration, created before the catalog so their grants join the
 * catalog's authoritative Grants:
 *
 * - a *reader*: an Entra application registered as a Databricks service principal. Fabric's
 *   shareable Databricks connection signs in with it (Entra `ServicePrincipal` credential:
 *   tenant + client id + secret), so its secret is an Entra client secret. It may read Gold and
 *   use the SQL warehouse, nothing else.
 * - a *publisher*: an Entra application that administers the Fabric workspace and requests
 *   refreshes. The Gold job reads its secret from a Databricks secret scope.
 *
 * Secrets exist only as Pulumi secrets and in the secret scope; none is a plain output.
 */
import * as pulumi from "@pulumi/pulumi";
import * as azuread from "@pulumi/azuread";
import * as databricks from "@pulumi/databricks";
import type { LakehouseGrant } from "../catalog";
import type { WarehouseAccess } from "../warehouse";

/** Key of the publisher's client secret in the secret scope. */
export const PUBLISHER_SECRET_KEY = "publisher-client-secret";

export interface BiIdentityArgs {
  /** Prefix of display names, e.g. `oms-dev`. */
  readonly displayNamePrefix: string;
  /** Entra object ids that own the applications (the deploying identity). */
  readonly owners: readonly pulumi.Input<string>[];
  /** Application ids of Databricks principals that may READ the secret scope (the Gold job). */
  readonly secretReaders?: readonly pulumi.Input<string>[];
  /** The workspace's Databricks provider. */
  readonly provider: databricks.Provider;
}

export class BiIdentity extends pulumi.ComponentResource {
  /** Application (client) id of the reader; also its Databricks principal name. */
  public readonly readerClientId: pulumi.Output<string>;
  /** The reader's Entra client secret (secret). */
  public readonly readerClientSecret: pulumi.Output<string>;
  /** Application (client) id of the publisher. */
  public readonly publisherClientId: pulumi.Output<string>;
  /** Entra object id of the publisher's service principal (for Fabric role assignments). */
  public readonly publisherObjectId: pulumi.Output<string>;
  /** Databricks secret scope holding the publisher's secret. */
  public readonly secretScope: pulumi.Output<string>;
  /** Key of the publisher's secret in {@link secretScope}. */
  public readonly secretKey: string = PUBLISHER_SECRET_KEY;
  /** Unity Catalog grants of the reader: the catalog, and Gold only. */
  public readonly catalogGrants: readonly LakehouseGrant[];
  /** Warehouse access of the reader. */
  public readonly warehouseAccess: readonly WarehouseAccess[];

  constructor(name: string, args: BiIdentityArgs, opts?: pulumi.ComponentResourceOptions) {
    super("oms:powerbi:BiIdentity", name, {}, opts);
    const child = { parent: this };
    const dbx = { parent: this, provider: args.provider };

    const app = (suffix: string, description: string) => {
      const application = new azuread.Application(
        `${name}-${suffix}`,
        {
          displayName: `${args.displayNamePrefix}-powerbi-${suffix}`,
          description,
          owners: [...args.owners],
          signInAudience: "AzureADMyOrg",
        },
        child,
      );
      const principal = new azuread.ServicePrincipal(
        `${name}-${suffix}`,
        { clientId: application.clientId, owners: [...args.owners] },
        child,
      );
      // Entra's default lifetime (two years); rotate by replacing the resource and bumping
      // powerbiCredentialVersion so the Fabric connection receives the new value.
      const password = new azuread.ApplicationPassword(
        `${name}-${suffix}`,
        { applicationId: application.id, displayName: "pulumi" },
        { ...child, additionalSecretOutputs: ["value"] },
      );
      return { application, principal, password };
    };

    const reader = app("reader", "Power BI reads the OMS Gold layer through the SQL warehouse");
    const publisher = app("publisher", "Publishes and refreshes the OMS Power BI workspace");

    // Registered by application id: Databricks then accepts the reader's Entra tokens. SQL
    // access is the one entitlement a BI client needs; it creates no clusters.
    const readerSp = new databricks.ServicePrincipal(
      `${name}-reader`,
      {
        applicationId: reader.application.clientId,
        displayName: `${args.displayNamePrefix}-powerbi-reader`,
        databricksSqlAccess: true,
        allowClusterCreate: false,
        allowInstancePoolCreate: false,
      },
      dbx,
    );

    const scope = new databricks.SecretScope(
      `${name}-scope`,
      { name: `${args.displayNamePrefix}-powerbi` },
      dbx,
    );
    new databricks.Secret(
      `${name}-publisher-secret`,
      { scope: scope.name, key: PUBLISHER_SECRET_KEY, stringValue: publisher.password.value },
      dbx,
    );
    (args.secretReaders ?? []).forEach((principal, i) => {
      new databricks.SecretAcl(
        `${name}-scope-reader-${i}`,
        { scope: scope.name, principal, permission: "READ" },
        dbx,
      );
    });

    this.readerClientId = readerSp.applicationId;
    this.readerClientSecret = pulumi.secret(reader.password.value);
    this.publisherClientId = publisher.application.clientId;
    this.publisherObjectId = publisher.principal.objectId;
    this.secretScope = scope.name;
    // Power BI queries the curated Gold layer only; USE_CATALOG alone shows nothing else.
    this.catalogGrants = [
      { securable: "catalog", principal: this.readerClientId, privileges: ["USE_CATALOG"] },
      {
        securable: "schema:gold",
        principal: this.readerClientId,
        privileges: ["USE_SCHEMA", "SELECT"],
      },
    ];
    this.warehouseAccess = [
      { servicePrincipalName: this.readerClientId, permissionLevel: "CAN_USE" },
    ];

    this.registerOutputs({
      readerClientId: this.readerClientId,
      publisherClientId: this.publisherClientId,
      publisherObjectId: this.publisherObjectId,
      secretScope: this.secretScope,
    });
  }
}
