import { FabricClient, FabricClientOptions } from "./client";

/**
 * How a dynamic provider reaches the APIs. Production passes nothing: real endpoints and
 * `DefaultAzureCredential`. Tests pass loopback base URLs, a fake credential and a no-op sleep.
 */
export type ProviderOptions = FabricClientOptions;

/** Built inside each provider method: the provider object is serialised, a live client is not. */
export function clientFor(options: ProviderOptions | undefined): FabricClient {
  return new FabricClient(options ?? {});
}

/** Names of the keys whose values differ (undefined and "" are the same: "not set"). */
export function changedKeys(olds: object, news: object, keys: readonly string[]): string[] {
  const o = olds as Record<string, unknown>;
  const n = news as Record<string, unknown>;
  const norm = (v: unknown) => (v === undefined || v === null || v === "" ? undefined : v);
  return keys.filter((k) => JSON.stringify(norm(o[k])) !== JSON.stringify(norm(n[k])));
}
