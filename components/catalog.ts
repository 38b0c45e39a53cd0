/**
 * Unity Catalog for the lakehouse: the storage credential over the access connector, external
 * locations for both containers, one catalog per stack with the medallion schemas and the
 * pipeline's operations schema, its volumes, and the persona grants.
 */
import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import {
  assertAllowedPrivileges,
  authoritativeGrants,
  GrantInput,
  Privilege,
  SecurableRef,
} from "./grants";
import { manifestFile, PIPELINE_MANIFEST } from "./pipelineManifest";

/** Schemas of the catalog, in data-flow order: the pipeline package's layers (its manifest). */
export const SCHEMAS: readonly string[] = PIPELINE_MANIFEST.layers.map((l) => l.name);
/** A schema of {@link SCHEMAS}. */
export type SchemaName = string;

/**
 * The pipeline's volumes. Their names, schema and comments are the package's (its manifest); the
 * stack stores each differently (external landing, managed checkpoints and artifacts), so it
 * knows them by name and fails when the package's list differs.
 */
export const VOLUMES = ["landing", "checkpoints", "artifacts"] as const;
export type VolumeName = (typeof VOLUMES)[number];
{
  const published = Object.keys(PIPELINE_MANIFEST.volumes).sort();
  if (published.join() !== [...VOLUMES].sort().join())
    throw new Error(
      `${manifestFile()}: volumes must be ${[...VOLUMES].sort().join(", ")} (the volumes the catalog component stores), not ${published.join(", ")}`,
    );
}

/** `/Volumes/<catalog>/<schema>/<volume>`: the package's volume path template, filled in. */
export const volumePath = (names: { catalog: string; schema: string; volume: string }): string =>
  PIPELINE_MANIFEST.volume_path.replace(
    /\{(catalog|schema|volume)\}/g,
    (_, key: keyof typeof names) => names[key],
  );

/** Schema of a pipeline volume (the package's manifest). */
export const volumeSchema = (volume: VolumeName): string =>
  PIPELINE_MANIFEST.volumes[volume].schema;
/** The grant address of a pipeline volume, `volume:<schema>.<volume>`. */
export const volumeSecurable = (volume: VolumeName): Securable =>
  `volume:${volumeSchema(volume)}.${volume}`;

/** Folder of the landing container that OMS drops its extracts into (the landing volume's root). */
export const LANDING_PREFIX = "oms/";

/** Every securable the catalog component owns, as addressed by {@link LakehouseGrant}. */
export type Securable =
  | "catalog"
  | `schema:${SchemaName}`
  | `volume:${SchemaName}.${VolumeName}`
  | "externalLocation:landing"
  | "externalLocation:lakehouse"
  | "storageCredential";

/** A grant added by a later part of the stack (a pipeline or BI service principal). */
export interface LakehouseGrant extends GrantInput {
  /** The securable the privileges apply to. */
  readonly securable: Securable;
}

// Data engineers build every layer: create and change tables, use the ops volumes. No ownership
// and no MANAGE, so nobody can widen access outside this file.
const ENGINEER_SCHEMA_PRIVILEGES: readonly Privilege[] = [
  "USE_SCHEMA",
  "SELECT",
  "MODIFY",
  "CREATE_TABLE",
  "CREATE_FUNCTION",
  "CREATE_MATERIALIZED_VIEW",
  "EXECUTE",
  "REFRESH",
];
const ENGINEER_OPS_PRIVILEGES: readonly Privilege[] = [
  ...ENGINEER_SCHEMA_PRIVILEGES,
  "READ_VOLUME",
  "WRITE_VOLUME",
];
// Readers see the curated gold layer only; bronze and silver hold raw, unreconciled order data.
const READER_GOLD_PRIVILEGES: readonly Privilege[] = ["USE_SCHEMA", "SELECT"];

export interface LakehouseCatalogArgs {
  /** Name of the catalog (one per stack); also prefixes the credential and location names. */
  readonly catalogName: string;
  /** ARM id of the Databricks access connector. */
  readonly accessConnectorId: pulumi.Input<string>;
  /** Role assignments of the connector; Unity Catalog validates access when creating objects. */
  readonly storageAccess: readonly pulumi.Resource[];
  /** `abfss://` URL (ending in `/`) of the landing container. */
  readonly landingUrl: pulumi.Input<string>;
  /** `abfss://` URL (ending in `/`) of the lakehouse container (the catalog's storage root). */
  readonly lakehouseUrl: pulumi.Input<string>;
  /** Let Databricks manage file events (Event Grid + queue) for the landing location. */
  readonly enableFileEvents: pulumi.Input<boolean>;
  /** Resource group of the storage account (where Databricks creates the file-event queue). */
  readonly storageResourceGroupName: pulumi.Input<string>;
  /** Subscription of the storage account. */
  readonly subscriptionId: pulumi.Input<string>;
  /** Delete the catalog and schemas even when they still hold tables (dev only). */
  readonly forceDestroy: pulumi.Input<boolean>;
  /** Protect the catalog against `pulumi destroy` and replacement. */
  readonly protect?: boolean;
  /** Numeric workspace id, used only when {@link metastoreId} is set. */
  readonly workspaceId: pulumi.Input<string>;
  /** Metastore to assign to the workspace; omit to use the metastore already assigned. */
  readonly metastoreId?: pulumi.Input<string>;
  /** Account group that builds the lakehouse. */
  readonly dataEngineersGroup: pulumi.Input<string>;
  /** Account group of analysts (read gold). */
  readonly analystsGroup: pulumi.Input<string>;
  /** Account group of BI readers (read gold). */
  readonly biReadersGroup: pulumi.Input<string>;
  /** Further grants merged into the same authoritative Grants (pipeline / BI principals). */
  readonly additionalGrants?: readonly LakehouseGrant[];
  /** The workspace's Databricks provider. */
  readonly provider: databricks.Provider;
}

export class LakehouseCatalog extends pulumi.ComponentResource {
  /** Catalog name. */
  public readonly catalogName: pulumi.Output<string>;
  /** Full names of the schemas, e.g. `oms_dev.gold`. */
  public readonly schemas: Readonly<Record<SchemaName, pulumi.Output<string>>>;
  /** Full names of the volumes, e.g. `oms_dev.ops.landing`. */
  public readonly volumes: Readonly<Record<VolumeName, pulumi.Output<string>>>;
  /** POSIX paths of the volumes, e.g. `/Volumes/oms_dev/ops/checkpoints`. */
  public readonly volumePaths: Readonly<Record<VolumeName, pulumi.Output<string>>>;
  /** Name of the storage credential. */
  public readonly storageCredentialName: pulumi.Output<string>;
  /** Names of the external locations. */
  public readonly externalLocationNames: Readonly<
    Record<"landing" | "lakehouse", pulumi.Output<string>>
  >;
  /** The catalog's managed storage root. */
  public readonly storageRoot: pulumi.Output<string>;
  /** The one Grants resource per securable, by {@link Securable} (absent: no grants on it). */
  public readonly grants: Readonly<Record<string, databricks.Grants>>;

  constructor(name: string, args: LakehouseCatalogArgs, opts?: pulumi.ComponentResourceOptions) {
    // Checked before anything is registered, so a bad grant fails the preview cleanly.
    // Schema and volume names are the package's (its manifest), so a grant naming one the
    // package does not have is caught here rather than by the type checker.
    const known: readonly string[] = [
      "catalog",
      ...SCHEMAS.map((schema) => `schema:${schema}`),
      ...VOLUMES.map(volumeSecurable),
      "externalLocation:landing",
      "externalLocation:lakehouse",
      "storageCredential",
    ];
    for (const extra of args.additionalGrants ?? []) {
      if (!known.includes(extra.securable))
        throw new Error(
          `${extra.securable} grant: no such securable in the catalog; allowed: ${known.join(", ")}`,
        );
      assertAllowedPrivileges(`${extra.securable} grant`, extra.privileges);
    }
    super("oms:catalog:LakehouseCatalog", name, {}, opts);
    const provider = args.provider;
    const child = { parent: this, provider };

    // Unity Catalog objects need a metastore on the workspace. Azure assigns one automatically in
    // most regions; a stack may pin a specific one instead.
    const assignment = args.metastoreId
      ? new databricks.MetastoreAssignment(
          `${name}-metastore`,
          { metastoreId: args.metastoreId, workspaceId: args.workspaceId },
          child,
        )
      : undefined;
    const metastoreReady = assignment ? [assignment] : [];

    // Names are metastore-wide (shared by every stack's workspace), so they carry the catalog name.
    const credential = new databricks.StorageCredential(
      `${name}-credential`,
      {
        name: `${args.catalogName}_lake`,
        comment: "Access connector managed identity of the OMS lakehouse storage account",
        azureManagedIdentity: { accessConnectorId: args.accessConnectorId },
      },
      // Databricks validates the identity against storage on create: roles must exist first.
      { ...child, dependsOn: [...metastoreReady, ...args.storageAccess] },
    );

    const landing = new databricks.ExternalLocation(
      `${name}-landing-location`,
      {
        name: `${args.catalogName}_landing`,
        url: args.landingUrl,
        credentialName: credential.name,
        comment: "Raw OMS extracts as delivered",
        // File events let Autoloader discover new files from one Databricks-managed queue
        // instead of listing the container on every trigger. Only landing needs them: nothing
        // streams from the lakehouse container by path.
        enableFileEvents: args.enableFileEvents,
        fileEventQueue: pulumi.output(args.enableFileEvents).apply((enabled) =>
          enabled
            ? {
                managedAqs: {
                  resourceGroup: args.storageResourceGroupName,
                  subscriptionId: args.subscriptionId,
                },
              }
            : undefined,
        ),
      },
      child,
    );
    const lakehouse = new databricks.ExternalLocation(
      `${name}-lakehouse-location`,
      {
        name: `${args.catalogName}_lakehouse`,
        url: args.lakehouseUrl,
        credentialName: credential.name,
        comment: "Managed storage of the OMS lakehouse catalog",
      },
      child,
    );

    const storageRoot = pulumi.interpolate`${lakehouse.url}${args.catalogName}`;
    const catalog = new databricks.Catalog(
      `${name}-catalog`,
      {
        name: args.catalogName,
        comment: "OMS lakehouse: bronze, silver and gold order data and pipeline operations",
        // Managed tables live in this stack's own container, not the metastore's default root.
        storageRoot,
        // Bound to this workspace only: another stack's workspace cannot read this catalog.
        isolationMode: "ISOLATED",
        forceDestroy: args.forceDestroy,
      },
      { ...child, protect: args.protect ?? false },
    );

    const schemas: Record<SchemaName, databricks.Schema> = Object.fromEntries(
      PIPELINE_MANIFEST.layers.map((layer) => [
        layer.name,
        new databricks.Schema(
          `${name}-${layer.name}`,
          {
            catalogName: catalog.name,
            name: layer.name,
            comment: layer.comment,
            forceDestroy: args.forceDestroy,
          },
          child,
        ),
      ]),
    );
    const volume = (v: VolumeName) => ({
      catalogName: catalog.name,
      schemaName: schemas[volumeSchema(v)].name,
      name: v,
      comment: PIPELINE_MANIFEST.volumes[v].comment,
    });

    const landingVolume = new databricks.Volume(
      `${name}-landing-volume`,
      {
        ...volume("landing"),
        // External: the files belong to the OMS drop, not to Unity Catalog, and must survive a
        // DROP VOLUME. A sub-folder, so the location itself stays free for other uses.
        volumeType: "EXTERNAL",
        storageLocation: pulumi.interpolate`${landing.url}${LANDING_PREFIX}`,
      },
      child,
    );
    const checkpointsVolume = new databricks.Volume(
      `${name}-checkpoints-volume`,
      {
        ...volume("checkpoints"),
        // Managed: streaming checkpoints are pipeline state and go with the catalog.
        volumeType: "MANAGED",
      },
      child,
    );
    const artifactsVolume = new databricks.Volume(
      `${name}-artifacts-volume`,
      {
        ...volume("artifacts"),
        // Separate from checkpoints so the jobs' identity can read its code but not rewrite it.
        volumeType: "MANAGED",
      },
      child,
    );
    const volumeResources: Record<VolumeName, databricks.Volume> = {
      landing: landingVolume,
      checkpoints: checkpointsVolume,
      artifacts: artifactsVolume,
    };

    // --- Grants: collect per securable, then one authoritative Grants each. ------------------
    const book = new Map<Securable, GrantInput[]>();
    const grant = (
      securable: Securable,
      principal: pulumi.Input<string>,
      privileges: readonly Privilege[],
    ) => book.set(securable, [...(book.get(securable) ?? []), { principal, privileges }]);

    grant("catalog", args.dataEngineersGroup, ["USE_CATALOG"]);
    grant("catalog", args.analystsGroup, ["USE_CATALOG"]);
    grant("catalog", args.biReadersGroup, ["USE_CATALOG"]);
    for (const schema of SCHEMAS) {
      grant(
        `schema:${schema}`,
        args.dataEngineersGroup,
        VOLUMES.some((v) => volumeSchema(v) === schema)
          ? ENGINEER_OPS_PRIVILEGES
          : ENGINEER_SCHEMA_PRIVILEGES,
      );
    }
    const gold: Securable = `schema:${PIPELINE_MANIFEST.contracts.gold.schema}`;
    grant(gold, args.analystsGroup, READER_GOLD_PRIVILEGES);
    grant(gold, args.biReadersGroup, READER_GOLD_PRIVILEGES);
    for (const extra of args.additionalGrants ?? [])
      grant(extra.securable, extra.principal, extra.privileges);

    const fullName = {
      schema: (s: databricks.Schema) => pulumi.interpolate`${s.catalogName}.${s.name}`,
      volume: (v: databricks.Volume) =>
        pulumi.interpolate`${v.catalogName}.${v.schemaName}.${v.name}`,
    };
    const securables: Partial<Record<Securable, SecurableRef>> = {
      catalog: { catalog: catalog.name },
      ...Object.fromEntries(
        SCHEMAS.map((s) => [`schema:${s}`, { schema: fullName.schema(schemas[s]) }]),
      ),
      ...Object.fromEntries(
        VOLUMES.map((v) => [volumeSecurable(v), { volume: fullName.volume(volumeResources[v]) }]),
      ),
      "externalLocation:landing": { externalLocation: landing.name },
      "externalLocation:lakehouse": { externalLocation: lakehouse.name },
      storageCredential: { storageCredential: credential.name },
    };
    const grants: Record<string, databricks.Grants> = {};
    // Sorted so resource names and registration order are stable.
    for (const securable of [...book.keys()].sort()) {
      const ref = securables[securable];
      if (!ref) throw new Error(`${securable}: no such securable in the catalog`);
      const emitted = authoritativeGrants(
        `${name}-grants-${securable.replace(/[:.]/g, "-")}`,
        ref,
        book.get(securable) ?? [],
        { parent: this, provider },
      );
      if (emitted) grants[securable] = emitted;
    }

    this.catalogName = catalog.name;
    this.storageRoot = storageRoot;
    this.schemas = Object.fromEntries(SCHEMAS.map((s) => [s, fullName.schema(schemas[s])]));
    this.volumes = Object.fromEntries(
      VOLUMES.map((v) => [v, fullName.volume(volumeResources[v])]),
    ) as Record<VolumeName, pulumi.Output<string>>;
    // Derived from names (not the provider's computed volume_path) so they are known at preview;
    // the template is the package's (the paths its jobs read and write).
    this.volumePaths = Object.fromEntries(
      VOLUMES.map((v) => {
        const vol = volumeResources[v];
        return [
          v,
          pulumi
            .all([vol.catalogName, vol.schemaName, vol.name])
            .apply(([catalog, schema, volume]) => volumePath({ catalog, schema, volume })),
        ];
      }),
    ) as Record<VolumeName, pulumi.Output<string>>;
    this.storageCredentialName = credential.name;
    this.externalLocationNames = { landing: landing.name, lakehouse: lakehouse.name };
    this.grants = grants;

    this.registerOutputs({
      catalogName: this.catalogName,
      storageRoot: this.storageRoot,
      schemas: this.schemas,
      volumes: this.volumes,
      volumePaths: this.volumePaths,
      storageCredentialName: this.storageCredentialName,
      externalLocationNames: this.externalLocationNames,
    });
  }
}
