import * as pulumi from "@pulumi/pulumi";
import { isApiStatus } from "./client";
import { changedKeys, clientFor, ProviderOptions } from "./providerOptions";

// ------------------------------------------------------------------ ModelConnectionBinding

export interface ModelConnectionBindingInputs {
  workspaceId: string;
  semanticModelId: string;
  connectionId: string;
  /** Data source type of the model's reference; default: the connection's own type. */
  connectionType?: string;
  /** Data source path of the model's reference; default: the connection's own path. */
  connectionPath?: string;
  /** Any value whose change re-applies the binding (e.g. the model's partsHash). */
  trigger?: string;
}

export interface ModelConnectionBindingOutputs extends ModelConnectionBindingInputs {
  boundType: string;
  boundPath: string;
}

/**
 * Binds the model's data source reference to the connection with Fabric's bindConnection
 * (POST /v1/workspaces/{ws}/semanticModels/{id}/bindConnection). The reference is identified by
 * type + path; because the model's parameters carry the same host/httpPath as the connection,
 * the connection's own type/path identify it unless overridden.
 */
export function modelConnectionBindingProvider(
  options?: ProviderOptions,
): pulumi.dynamic.ResourceProvider<ModelConnectionBindingInputs, ModelConnectionBindingOutputs> {
  const bind = async (inputs: ModelConnectionBindingInputs): Promise<ModelConnectionBindingOutputs> => {
    const client = clientFor(options);
    let type = inputs.connectionType;
    let path = inputs.connectionPath;
    let connectivityType = "ShareableCloud";
    if (!type || !path) {
      const conn = await client.getConnection(inputs.connectionId);
      if (!conn) {
        throw new Error(
          `Connection ${inputs.connectionId} was not found; it was deleted out of band. Run \`pulumi refresh\` so the DatabricksConnection is re-created.`,
        );
      }
      type = type ?? conn.connectionDetails?.type;
      path = path ?? conn.connectionDetails?.path;
      connectivityType = conn.connectivityType ?? connectivityType;
    }
    if (!type || !path) {
      throw new Error(
        `Connection ${inputs.connectionId} reports no connectionDetails type/path; set connectionType and connectionPath on the binding.`,
      );
    }
    await client.bindSemanticModelConnection(inputs.workspaceId, inputs.semanticModelId, {
      id: inputs.connectionId,
      connectivityType,
      connectionDetails: { type, path },
    });
    return { ...inputs, boundType: type, boundPath: path };
  };

  return {
    async create(inputs) {
      const outs = await bind(inputs);
      return { id: `${inputs.semanticModelId}/${inputs.connectionId}`, outs };
    },

    async read(id, props) {
      const old = props as ModelConnectionBindingOutputs;
      const model = await clientFor(options).getItem(old.workspaceId, "semanticModels", old.semanticModelId);
      return model ? { id, props: old } : { id: "" };
    },

    diff(_id, olds, news) {
      const replaces = changedKeys(olds, news, ["workspaceId", "semanticModelId"]);
      const changes = changedKeys(olds, news, [
        "connectionId",
        "connectionType",
        "connectionPath",
        "trigger",
      ]);
      return Promise.resolve({ changes: replaces.length + changes.length > 0, replaces });
    },

    async update(_id, _olds, news) {
      return { outs: await bind(news) };
    },

    async delete(_id, props) {
      // Unbind (connectivityType None); a model that is already gone needs nothing.
      try {
        await clientFor(options).bindSemanticModelConnection(props.workspaceId, props.semanticModelId, {
          connectivityType: "None",
          connectionDetails: { type: props.boundType, path: props.boundPath },
        });
      } catch (err) {
        if (!isApiStatus(err, 404)) throw err;
      }
    },
  };
}

export interface ModelConnectionBindingArgs {
  /** Workspace id. */
  readonly workspaceId: pulumi.Input<string>;
  /** Semantic model to bind. */
  readonly semanticModelId: pulumi.Input<string>;
  /** Connection to bind the model's data source to. */
  readonly connectionId: pulumi.Input<string>;
  /** Override of the data source type (default: the connection's). */
  readonly connectionType?: pulumi.Input<string>;
  /** Override of the data source path (default: the connection's). */
  readonly connectionPath?: pulumi.Input<string>;
  /** Change to re-bind, e.g. the model's partsHash (a definition update can reset bindings). */
  readonly trigger?: pulumi.Input<string>;
}

/** Binds a semantic model's Databricks data source to a shareable cloud connection. */
export class ModelConnectionBinding extends pulumi.dynamic.Resource {
  declare readonly boundType: pulumi.Output<string>;
  declare readonly boundPath: pulumi.Output<string>;

  constructor(name: string, args: ModelConnectionBindingArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      modelConnectionBindingProvider(),
      name,
      { boundType: undefined, boundPath: undefined, ...args },
      opts,
      "powerbi",
      "ModelConnectionBinding",
    );
  }
}

// ------------------------------------------------------------------ ModelRefresh

export interface ModelRefreshInputs {
  workspaceId: string;
  semanticModelId: string;
  /** A refresh is requested on create and whenever this value changes. */
  trigger: string;
}

export interface ModelRefreshOutputs extends ModelRefreshInputs {
  /** RequestId of the last refresh the service accepted. */
  refreshRequestId?: string;
}

/** Requests a refresh (Power BI POST /groups/{ws}/datasets/{id}/refreshes); does not wait for it. */
export function modelRefreshProvider(
  options?: ProviderOptions,
): pulumi.dynamic.ResourceProvider<ModelRefreshInputs, ModelRefreshOutputs> {
  const refresh = async (inputs: ModelRefreshInputs): Promise<ModelRefreshOutputs> => {
    const requestId = await clientFor(options).refreshDataset(inputs.workspaceId, inputs.semanticModelId);
    return { ...inputs, ...(requestId ? { refreshRequestId: requestId } : {}) };
  };
  return {
    async create(inputs) {
      return { id: `${inputs.semanticModelId}/refresh`, outs: await refresh(inputs) };
    },
    diff(_id, olds, news) {
      const replaces = changedKeys(olds, news, ["workspaceId", "semanticModelId"]);
      const changes = changedKeys(olds, news, ["trigger"]);
      return Promise.resolve({ changes: replaces.length + changes.length > 0, replaces });
    },
    async update(_id, _olds, news) {
      return { outs: await refresh(news) };
    },
    read(id, props) {
      return Promise.resolve({ id, props });
    },
    async delete() {
      // A refresh is an event, not an object: nothing to remove.
    },
  };
}

export interface ModelRefreshArgs {
  /** Workspace id. */
  readonly workspaceId: pulumi.Input<string>;
  /** Semantic model to refresh. */
  readonly semanticModelId: pulumi.Input<string>;
  /** Refresh when this changes, e.g. SemanticModel.partsHash. */
  readonly trigger: pulumi.Input<string>;
}

/** Requests a dataset refresh on create and whenever `trigger` changes. */
export class ModelRefresh extends pulumi.dynamic.Resource {
  declare readonly refreshRequestId: pulumi.Output<string | undefined>;

  constructor(name: string, args: ModelRefreshArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      modelRefreshProvider(),
      name,
      { refreshRequestId: undefined, ...args },
      opts,
      "powerbi",
      "ModelRefresh",
    );
  }
}
