import * as pulumi from "@pulumi/pulumi";
import { changedKeys, clientFor, ProviderOptions } from "./providerOptions";

/**
 * Connection type and creation method of the Azure Databricks connector in Fabric: the
 * `Databricks.Catalogs` Power Query function, parameters `host` and `httpPath`. The model's M
 * source must call Databricks.Catalogs with the same host and path for the binding to match.
 */
export const DATABRICKS_CONNECTION_TYPE = "Databricks";
export const DATABRICKS_CREATION_METHOD = "Databricks.Catalogs";

export type PrivacyLevel = "None" | "Public" | "Organizational" | "Private";
/** Privacy level sent when the stack declares none; what the service then reports back. */
const DEFAULT_PRIVACY_LEVEL: PrivacyLevel = "Organizational";
export type ConnectionEncryption = "Encrypted" | "NotEncrypted" | "Any";

export interface DatabricksConnectionInputs {
  displayName: string;
  host: string;
  httpPath: string;
  tenantId: string;
  clientId: string;
  /** Never copied to outputs. */
  clientSecret: string;
  credentialVersion: string;
  privacyLevel?: PrivacyLevel;
  connectionEncryption?: ConnectionEncryption;
  skipTestConnection?: boolean;
}

/** Outputs: the inputs minus the secret, plus what the service reports. */
export interface DatabricksConnectionOutputs extends Omit<DatabricksConnectionInputs, "clientSecret"> {
  connectionId: string;
  connectionType: string;
  /** The data source path the service derived from host/httpPath (what a model binds to). */
  connectionPath?: string;
}

/** Only these input keys reach state as outputs; `clientSecret` is deliberately absent. */
const PUBLIC_KEYS = [
  "displayName",
  "host",
  "httpPath",
  "tenantId",
  "clientId",
  "credentialVersion",
  "privacyLevel",
  "connectionEncryption",
  "skipTestConnection",
] as const;

function publicInputs(inputs: DatabricksConnectionInputs) {
  const out: Record<string, unknown> = {};
  for (const k of PUBLIC_KEYS) if (inputs[k] !== undefined) out[k] = inputs[k];
  return out as Omit<DatabricksConnectionInputs, "clientSecret">;
}

/**
 * Credential details for a Databricks service principal that is a Microsoft Entra application.
 * Fabric's documented credential types are Anonymous, Basic, Key, OAuth2, ServicePrincipal,
 * SharedAccessSignature, Windows*, WorkspaceIdentity; there is no separate "Databricks OAuth
 * M2M" type, so the Entra `ServicePrincipal` type (tenantId + client id + secret) is used.
 */
export function credentialDetails(inputs: DatabricksConnectionInputs) {
  return {
    singleSignOnType: "None",
    connectionEncryption: inputs.connectionEncryption ?? "NotEncrypted",
    skipTestConnection: inputs.skipTestConnection ?? false,
    credentials: {
      credentialType: "ServicePrincipal",
      tenantId: inputs.tenantId,
      servicePrincipalClientId: inputs.clientId,
      servicePrincipalSecret: inputs.clientSecret,
    },
  };
}

/** The POST /v1/connections body (ShareableCloud). */
export function createConnectionBody(inputs: DatabricksConnectionInputs) {
  return {
    connectivityType: "ShareableCloud",
    displayName: inputs.displayName,
    privacyLevel: inputs.privacyLevel ?? DEFAULT_PRIVACY_LEVEL,
    connectionDetails: {
      type: DATABRICKS_CONNECTION_TYPE,
      creationMethod: DATABRICKS_CREATION_METHOD,
      parameters: [
        { dataType: "Text", name: "host", value: inputs.host },
        { dataType: "Text", name: "httpPath", value: inputs.httpPath },
      ],
    },
    credentialDetails: credentialDetails(inputs),
  };
}

/** Dynamic provider for a ShareableCloud Databricks connection (/v1/connections). */
export function databricksConnectionProvider(
  options?: ProviderOptions,
): pulumi.dynamic.ResourceProvider<DatabricksConnectionInputs, DatabricksConnectionOutputs> {
  return {
    async create(inputs) {
      const conn = await clientFor(options).createConnection(createConnectionBody(inputs));
      return {
        id: conn.id,
        outs: {
          ...publicInputs(inputs),
          connectionId: conn.id,
          connectionType: conn.connectionDetails?.type ?? DATABRICKS_CONNECTION_TYPE,
          connectionPath: conn.connectionDetails?.path,
        },
      };
    },

    async read(id, props) {
      const conn = await clientFor(options).getConnection(id);
      if (!conn) return { id: "" };
      const old = props as DatabricksConnectionOutputs;
      return {
        id,
        props: {
          ...old,
          displayName: conn.displayName ?? old.displayName,
          privacyLevel: (conn.privacyLevel as PrivacyLevel | undefined) ?? old.privacyLevel,
          connectionType: conn.connectionDetails?.type ?? old.connectionType,
          connectionPath: conn.connectionDetails?.path ?? old.connectionPath,
        },
      };
    },

    /**
     * Outputs hold no secret, so a new secret value alone is invisible here: rotate by changing
     * `credentialVersion` (for example the secret's expiry date or Key Vault version). The result
     * names properties only, never values.
     */
    diff(_id, olds, news) {
      // read() reports the service's privacy level, so an undeclared one compares as the default.
      const o = { ...olds, privacyLevel: olds.privacyLevel ?? DEFAULT_PRIVACY_LEVEL } as Record<string, unknown>;
      const n = { ...news, privacyLevel: news.privacyLevel ?? DEFAULT_PRIVACY_LEVEL } as Record<string, unknown>;
      // The connection's data source (host/httpPath) cannot be patched; names are unique, so
      // the old connection goes first.
      const replaces = changedKeys(o, n, ["host", "httpPath"]);
      const changes = changedKeys(o, n, [
        "displayName",
        "tenantId",
        "clientId",
        "credentialVersion",
        "privacyLevel",
        "connectionEncryption",
        "skipTestConnection",
      ]);
      return Promise.resolve({
        changes: replaces.length + changes.length > 0,
        replaces,
        deleteBeforeReplace: true,
      });
    },

    async update(id, olds, news) {
      const conn = await clientFor(options).updateConnection(id, {
        connectivityType: "ShareableCloud",
        displayName: news.displayName,
        privacyLevel: news.privacyLevel ?? DEFAULT_PRIVACY_LEVEL,
        credentialDetails: credentialDetails(news),
      });
      return {
        outs: {
          ...publicInputs(news),
          connectionId: id,
          connectionType: conn?.connectionDetails?.type ?? olds.connectionType,
          connectionPath: conn?.connectionDetails?.path ?? olds.connectionPath,
        },
      };
    },

    async delete(id) {
      await clientFor(options).deleteConnection(id);
    },
  };
}

export interface DatabricksConnectionArgs {
  /** Connection name, unique in the tenant. */
  readonly displayName: pulumi.Input<string>;
  /** SQL warehouse host name (adb-….azuredatabricks.net), no scheme. */
  readonly host: pulumi.Input<string>;
  /** SQL warehouse HTTP path (/sql/1.0/warehouses/<id>). */
  readonly httpPath: pulumi.Input<string>;
  /** Entra tenant of the service principal. */
  readonly tenantId: pulumi.Input<string>;
  /** Application (client) id of the Databricks service principal. */
  readonly clientId: pulumi.Input<string>;
  /** Client secret of that service principal; always stored as a secret, never output. */
  readonly clientSecret: pulumi.Input<string>;
  /** Change to push the current secret to the connection (secret rotation). */
  readonly credentialVersion: pulumi.Input<string>;
  /** Power Query privacy level, default Organizational. */
  readonly privacyLevel?: pulumi.Input<PrivacyLevel>;
  /** Connection encryption setting, default NotEncrypted (TLS to Databricks is always on). */
  readonly connectionEncryption?: pulumi.Input<ConnectionEncryption>;
  /** Skip the service's test of the credential on create/update, default false. */
  readonly skipTestConnection?: pulumi.Input<boolean>;
}

/** A shareable cloud connection from Fabric to a Databricks SQL warehouse. */
export class DatabricksConnection extends pulumi.dynamic.Resource {
  declare readonly connectionId: pulumi.Output<string>;
  declare readonly connectionType: pulumi.Output<string>;
  declare readonly connectionPath: pulumi.Output<string | undefined>;
  declare readonly displayName: pulumi.Output<string>;

  constructor(name: string, args: DatabricksConnectionArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      databricksConnectionProvider(),
      name,
      {
        connectionId: undefined,
        connectionType: undefined,
        connectionPath: undefined,
        ...args,
        // Secret in the recorded inputs even when the caller passed a plain string.
        clientSecret: pulumi.secret(args.clientSecret),
      },
      {
        ...opts,
        additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "clientSecret"],
      },
      "powerbi",
      "DatabricksConnection",
    );
  }
}
