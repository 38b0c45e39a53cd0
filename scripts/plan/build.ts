/**
 * Builds the offline plan of a stack: runs the real program under the test suite's recording
 * mock in preview mode, with the stack's configuration file, and turns what was registered into
 * a {@link Plan}. No CLI, no cloud, no credentials.
 *
 * Preview mode is what keeps the plan honest: the mock answers each registration with its
 * inputs only, so every computed output (ids, URLs, managed identities) and every input derived
 * from one is unknown — shown as "(known after deploy)" rather than a made-up value.
 */
import * as crypto from "crypto";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { loadStackConfig, PROJECT, ROOT, runProgram, StackConfig } from "./harness";
import { CLIENT, recorder, RecordedResource } from "./recorder";
import {
  keyOf,
  Plan,
  PlanResource,
  PlanValue,
  SECRET,
  sortKeys,
  sortResources,
  UNKNOWN,
} from "./model";

interface Settings {
  isDryRun(): boolean;
  _setIsDryRun(value: boolean): void;
}
interface Rpc {
  specialSigKey: string;
  specialSecretSig: string;
  specialResourceSig: string;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const settings = require("@pulumi/pulumi/runtime/settings") as Settings;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const rpc = require("@pulumi/pulumi/runtime/rpc") as Rpc;

/**
 * Values the mock invents for the deploying identity (`getClientConfig`). A real preview would
 * show the deployer's own subscription and tenant, so the plan names them instead.
 */
const IDENTITY_PLACEHOLDERS: readonly [string, string][] = [
  [CLIENT.subscriptionId, "{deployer-subscription}"],
  [CLIENT.tenantId, "{deployer-tenant}"],
  [CLIENT.clientId, "{deployer-client}"],
  [CLIENT.objectId, "{deployer-object}"],
];

/** Longer strings are shown as their length and digest. */
const LONG_TEXT = 512;

/** Turns a recorded input (resolved by the SDK's deserializer) into a redacted plan value. */
export function toPlanValue(value: unknown, secrets: readonly string[]): PlanValue | undefined {
  if (value === undefined) return undefined;
  if (pulumi.Output.isInstance(value)) return UNKNOWN;
  if (value === null || typeof value === "boolean" || typeof value === "number") return value;
  if (typeof value === "string") {
    if (secrets.some((s) => s !== "" && value.includes(s))) return SECRET;
    // Inline file contents (a wheel as base64, a notebook) would bury the plan: a digest still
    // shows in the diff that the content changed.
    if (value.length > LONG_TEXT) {
      const digest = crypto.createHash("sha256").update(value).digest("hex").slice(0, 16);
      return `(${value.length} characters, sha256 ${digest}…)`;
    }
    return IDENTITY_PLACEHOLDERS.reduce((text, [id, label]) => text.split(id).join(label), value);
  }
  if (pulumi.asset.Asset.isInstance(value) || pulumi.asset.Archive.isInstance(value)) {
    const file = (value as { path?: string }).path;
    return file ? `(file ${path.relative(ROOT, path.resolve(ROOT, file))})` : "(inline asset)";
  }
  if (Array.isArray(value)) {
    return (value as unknown[]).map((v) => toPlanValue(v, secrets) ?? null);
  }
  if (typeof value === "object") {
    const record = value as Record<string, unknown>;
    // The SDK's unknown marker (an object without fields) and the wire encodings of secrets and
    // resource references.
    if (pulumi.isUnknown(value)) return UNKNOWN;
    const sig = record[rpc.specialSigKey];
    if (sig === rpc.specialSecretSig) return SECRET;
    if (sig === rpc.specialResourceSig) return `(resource ${String(record.urn)})`;
    const out: { [key: string]: PlanValue } = {};
    for (const key of Object.keys(record).sort()) {
      const v = toPlanValue(record[key], secrets);
      if (v !== undefined) out[key] = v;
    }
    return out;
  }
  return String(value as string);
}

/** `type::name` of the resource behind a URN (or provider reference `urn::id`). */
function keyOfUrn(urn: string): string {
  const parts = urn.split("::");
  // urn:pulumi:<stack>::<project>::<parent types$type>::<name>
  const type = (parts[2] ?? "").split("$").pop() ?? "";
  return `${type}::${parts[3] ?? ""}`;
}

interface Internals {
  isKnown: Promise<boolean>;
  isSecret: Promise<boolean>;
  promise(): Promise<unknown>;
}

/** Resolves a stack export (an Output, or plain data holding Outputs) into a plan value. */
async function resolveExport(value: unknown, secrets: readonly string[]): Promise<PlanValue> {
  if (pulumi.Output.isInstance(value)) {
    const o = value as unknown as Internals;
    if (!(await o.isKnown)) return UNKNOWN;
    if (await o.isSecret) return SECRET;
    return resolveExport(await o.promise(), secrets);
  }
  if (Array.isArray(value)) return Promise.all(value.map((v) => resolveExport(v, secrets)));
  if (value !== null && typeof value === "object" && !pulumi.Resource.isInstance(value)) {
    const out: { [key: string]: PlanValue } = {};
    for (const key of Object.keys(value).sort()) {
      out[key] = await resolveExport((value as Record<string, unknown>)[key], secrets);
    }
    return out;
  }
  return toPlanValue(value, secrets) ?? null;
}

/** A dynamic provider's serialised code is not an input a reviewer can read; its name stays. */
function withoutProviderCode(r: RecordedResource): Record<string, unknown> {
  if (!("__provider" in r.inputs)) return r.inputs;
  return { ...r.inputs, __provider: "(dynamic provider code)" };
}

function toPlanResources(recorded: readonly RecordedResource[], secrets: readonly string[]) {
  const byUrn = new Map(recorded.map((r) => [r.urn, r]));
  const topComponent = (r: RecordedResource): string => {
    let current = r;
    let top: RecordedResource | undefined;
    while (current) {
      if (!current.custom) top = current;
      const parent = current.parent ? byUrn.get(current.parent) : undefined;
      if (!parent) break;
      current = parent;
    }
    return top ? keyOf(top) : "";
  };
  return sortResources(
    recorded.map(
      (r): PlanResource => ({
        type: r.type,
        name: r.name,
        parent: r.parent ? keyOfUrn(r.parent) : null,
        component: topComponent(r),
        provider: r.provider ? keyOfUrn(r.provider) : "default",
        custom: r.custom,
        protect: r.protect,
        inputs: (toPlanValue(withoutProviderCode(r), secrets) ?? {}) as {
          [key: string]: PlanValue;
        },
      }),
    ),
  );
}

/**
 * Runs the program for `stack` (its `Pulumi.<stack>.yaml`, or `config` when given) and returns
 * its plan. Requires the recording mock to be installed (`installMocks`).
 */
export async function buildPlan(stack: string, config?: StackConfig): Promise<Plan> {
  const stackConfig = config ?? loadStackConfig(stack);
  // Secure values are placeholders: anything that still carries one is redacted.
  const secretValues = stackConfig.secretKeys.map((k) => stackConfig.values[k]);
  const wasDryRun = settings.isDryRun();
  settings._setIsDryRun(true);
  recorder.computedOutputs = "unknown";
  try {
    const exports = await runProgram(stackConfig);
    const outputs: { [key: string]: PlanValue } = {};
    for (const name of Object.keys(exports).sort()) {
      outputs[name] = await resolveExport(exports[name], secretValues);
    }
    const configView: { [key: string]: string } = {};
    for (const key of Object.keys(stackConfig.values).sort()) {
      configView[key] = stackConfig.secretKeys.includes(key) ? SECRET : stackConfig.values[key];
    }
    return sortKeys({
      format: "oms-lakehouse-plan/v1",
      project: PROJECT,
      stack,
      config: configView,
      resources: toPlanResources(recorder.resources, secretValues),
      outputs,
    } as unknown as PlanValue) as unknown as Plan;
  } finally {
    recorder.computedOutputs = "plausible";
    settings._setIsDryRun(wasDryRun);
  }
}
