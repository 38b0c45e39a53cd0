import * as pulumi from "@pulumi/pulumi";
import { ItemCollection } from "./client";
import {
  hashParts,
  PbipPart,
  prepareReportParts,
  prepareSemanticModelParts,
  reportFormat,
  semanticModelFormat,
  toItemDefinition,
} from "./definition";
import { changedKeys, clientFor, ProviderOptions } from "./providerOptions";

/** Outputs shared by items created from a PBIP definition. Part contents are not kept: only hashes. */
export interface DefinitionItemOutputs {
  workspaceId: string;
  displayName: string;
  description?: string;
  itemId: string;
  /** sha256 per uploaded part. */
  partHashes: Record<string, string>;
  /** One hash over all uploaded parts; feed it to ModelRefresh.trigger. */
  partsHash: string;
}

interface DefinitionItemInputs {
  workspaceId: string;
  displayName: string;
  description?: string;
  parts: PbipPart[];
}

interface ItemKind<I extends DefinitionItemInputs> {
  collection: ItemCollection;
  /** The parts exactly as uploaded (substituted / rewritten). */
  prepare(inputs: I): PbipPart[];
  format(parts: PbipPart[]): string | undefined;
  /** Extra non-definition inputs recorded in outputs. */
  extra(inputs: I, id: string): Record<string, unknown>;
}

/**
 * One provider shape for both item types: create with the definition, update the definition only
 * when a part hash changed, PATCH name/description separately, replace on a workspace move.
 */
function definitionItemProvider<I extends DefinitionItemInputs, O extends DefinitionItemOutputs>(
  kind: ItemKind<I>,
  options: ProviderOptions | undefined,
): pulumi.dynamic.ResourceProvider<I, O> {
  const outputsFor = (id: string, inputs: I, parts: PbipPart[]) =>
    ({
      workspaceId: inputs.workspaceId,
      displayName: inputs.displayName,
      description: inputs.description ?? "",
      itemId: id,
      ...hashParts(parts),
      ...kind.extra(inputs, id),
    }) as unknown as O;

  return {
    async create(inputs) {
      const parts = kind.prepare(inputs);
      const item = await clientFor(options).createItem(inputs.workspaceId, kind.collection, {
        displayName: inputs.displayName,
        description: inputs.description ?? "",
        definition: toItemDefinition(parts, kind.format(parts)),
      });
      return { id: item.id, outs: outputsFor(item.id, inputs, parts) };
    },

    async read(id, props) {
      const old = props as O;
      const item = await clientFor(options).getItem(old.workspaceId, kind.collection, id);
      if (!item) return { id: "" };
      return {
        id,
        props: { ...old, displayName: item.displayName, description: item.description ?? "" },
      };
    },

    diff(_id, olds, news) {
      const replaces = changedKeys(olds, news, ["workspaceId"]);
      const changes = changedKeys(olds, news, ["displayName", "description"]);
      // Hash what would be uploaded: an unchanged file set (after substitution) is no change.
      const { partsHash } = hashParts(kind.prepare(news));
      if (partsHash !== olds.partsHash) changes.push("parts");
      return Promise.resolve({ changes: replaces.length + changes.length > 0, replaces });
    },

    async update(id, olds, news) {
      const client = clientFor(options);
      const parts = kind.prepare(news);
      const patch: { displayName?: string; description?: string } = {};
      if (olds.displayName !== news.displayName) patch.displayName = news.displayName;
      if ((olds.description ?? "") !== (news.description ?? "")) patch.description = news.description ?? "";
      if (Object.keys(patch).length > 0) {
        await client.updateItem(olds.workspaceId, kind.collection, id, patch);
      }
      if (hashParts(parts).partsHash !== olds.partsHash) {
        await client.updateItemDefinition(
          olds.workspaceId,
          kind.collection,
          id,
          toItemDefinition(parts, kind.format(parts)),
        );
      }
      return { outs: outputsFor(id, news, parts) };
    },

    async delete(id, props) {
      await clientFor(options).deleteItem(props.workspaceId, kind.collection, id);
    },
  };
}

// ------------------------------------------------------------------ SemanticModel

export interface SemanticModelInputs extends DefinitionItemInputs {
  /** TMDL parameter name → per-stack value. */
  parameters?: Record<string, string>;
}

export interface SemanticModelOutputs extends DefinitionItemOutputs {
  semanticModelId: string;
}

export function semanticModelProvider(
  options?: ProviderOptions,
): pulumi.dynamic.ResourceProvider<SemanticModelInputs, SemanticModelOutputs> {
  return definitionItemProvider<SemanticModelInputs, SemanticModelOutputs>(
    {
      collection: "semanticModels",
      prepare: (i) => prepareSemanticModelParts(i.parts, i.parameters),
      format: semanticModelFormat,
      extra: (_i, id) => ({ semanticModelId: id }),
    },
    options,
  );
}

export interface SemanticModelArgs {
  /** Workspace id. */
  readonly workspaceId: pulumi.Input<string>;
  /** Model name in the workspace. */
  readonly displayName: pulumi.Input<string>;
  /** Model description. */
  readonly description?: pulumi.Input<string>;
  /** Files of the *.SemanticModel folder (path relative to it), read from disk by the caller. */
  readonly parts: pulumi.Input<PbipPart[]>;
  /** Per-stack values of TMDL parameter expressions (warehouse host, HTTP path, catalog). */
  readonly parameters?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** A semantic model created from its PBIP (TMDL) definition. */
export class SemanticModel extends pulumi.dynamic.Resource {
  declare readonly semanticModelId: pulumi.Output<string>;
  declare readonly itemId: pulumi.Output<string>;
  declare readonly partsHash: pulumi.Output<string>;
  declare readonly partHashes: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: SemanticModelArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      semanticModelProvider(),
      name,
      { semanticModelId: undefined, itemId: undefined, partsHash: undefined, partHashes: undefined, ...args },
      opts,
      "powerbi",
      "SemanticModel",
    );
  }
}

// ------------------------------------------------------------------ Report

export interface ReportInputs extends DefinitionItemInputs {
  /** Model the report is bound to (byConnection in definition.pbir). */
  semanticModelId: string;
}

export interface ReportOutputs extends DefinitionItemOutputs {
  reportId: string;
  semanticModelId: string;
}

export function reportProvider(
  options?: ProviderOptions,
): pulumi.dynamic.ResourceProvider<ReportInputs, ReportOutputs> {
  return definitionItemProvider<ReportInputs, ReportOutputs>(
    {
      collection: "reports",
      prepare: (i) => prepareReportParts(i.parts, i.semanticModelId),
      format: reportFormat,
      extra: (i, id) => ({ reportId: id, semanticModelId: i.semanticModelId }),
    },
    options,
  );
}

export interface ReportArgs {
  /** Workspace id. */
  readonly workspaceId: pulumi.Input<string>;
  /** Report name in the workspace. */
  readonly displayName: pulumi.Input<string>;
  /** Report description. */
  readonly description?: pulumi.Input<string>;
  /** Files of the *.Report folder (path relative to it), read from disk by the caller. */
  readonly parts: pulumi.Input<PbipPart[]>;
  /** Deployed semantic model the report reads from. */
  readonly semanticModelId: pulumi.Input<string>;
}

/** A report created from its PBIR definition, bound to a deployed semantic model. */
export class Report extends pulumi.dynamic.Resource {
  declare readonly reportId: pulumi.Output<string>;
  declare readonly itemId: pulumi.Output<string>;
  declare readonly partsHash: pulumi.Output<string>;

  constructor(name: string, args: ReportArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      reportProvider(),
      name,
      { reportId: undefined, itemId: undefined, partsHash: undefined, ...args },
      opts,
      "powerbi",
      "Report",
    );
  }
}
