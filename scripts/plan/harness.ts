/**
 * Helpers to run the whole program, or a component, under the recording mocks: the mock runtime
 * of the release tooling (`npm run plan`), which the test suite uses too.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as yaml from "js-yaml";
import { recorder } from "./recorder";

export const ROOT = path.resolve(__dirname, "..", "..");
export const PROJECT = "oms-lakehouse";

/** Stack configuration as Pulumi hands it to a program: `project:key` → string. */
export interface StackConfig {
  readonly values: Record<string, string>;
  readonly secretKeys: string[];
}

/**
 * Reads `Pulumi.<stack>.yaml`. Values become strings the way the CLI stores them (lists and maps
 * as JSON); `secure:` values are replaced by a placeholder and marked secret, since the
 * ciphertext cannot be decrypted without the stack's secrets provider.
 */
export function loadStackConfig(stack: string): StackConfig {
  const file = path.join(ROOT, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(file)) {
    const stacks = fs
      .readdirSync(ROOT)
      .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
      .filter((s): s is string => s !== undefined)
      .sort();
    throw new Error(
      `no stack ${JSON.stringify(stack)}: ${file} does not exist; the stacks: ${stacks.join(", ")}`,
    );
  }
  const doc = (yaml.load(fs.readFileSync(file, "utf8")) ?? {}) as {
    config?: Record<string, unknown>;
  };
  const values: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    if (value !== null && typeof value === "object" && "secure" in value) {
      values[key] = `secret-placeholder-for-${key}`;
      secretKeys.push(key);
    } else {
      values[key] = typeof value === "string" ? value : JSON.stringify(value);
    }
  }
  return { values, secretKeys };
}

/** Returns a copy of a stack's configuration with keys (without namespace) set or removed. */
export function withConfig(
  base: StackConfig,
  changes: Record<string, string | undefined>,
): StackConfig {
  const values = { ...base.values };
  for (const [key, value] of Object.entries(changes)) {
    const full = key.includes(":") ? key : `${PROJECT}:${key}`;
    if (value === undefined) delete values[full];
    else values[full] = value;
  }
  return { values, secretKeys: [...base.secretKeys] };
}

/** Replaces the whole configuration seen by `pulumi.Config` and `pulumi.runtime.allConfig()`. */
export function setStackConfig(config: StackConfig): void {
  pulumi.runtime.setAllConfig(config.values, config.secretKeys);
}

interface Settings {
  waitForRPCs(): Promise<void>;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const settings = require("@pulumi/pulumi/runtime/settings") as Settings;

/** Waits until every pending registration and invoke has been answered by the mocks. */
export async function settle(): Promise<void> {
  await settings.waitForRPCs();
}

/** Folders whose modules are not the program: kept loaded (the recorder is one per process). */
const KEPT = [`${path.sep}node_modules${path.sep}`, __dirname, path.join(ROOT, "test")];

/** Forgets the program's own modules so the next `require` runs the program from the top. */
function forgetProgramModules(): void {
  for (const id of Object.keys(require.cache)) {
    if (id.startsWith(ROOT) && !KEPT.some((k) => id.includes(k))) {
      delete require.cache[id];
    }
  }
}

export type ProgramExports = Record<string, unknown>;

/**
 * Runs `index.ts` afresh with the given configuration (a stack name or a config object), after
 * clearing the recorder, and waits for every registration to finish. Rejects with the program's
 * error (e.g. invalid configuration).
 */
export async function runProgram(stack: string | StackConfig): Promise<ProgramExports> {
  recorder.reset();
  setStackConfig(typeof stack === "string" ? loadStackConfig(stack) : stack);
  forgetProgramModules();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const program = require(path.join(ROOT, "index.ts")) as ProgramExports;
  await settle();
  return program;
}

/** Resolves a Pulumi output (or plain value), rejecting when the output fails. */
export function promiseOf<T>(value: pulumi.Input<T> | pulumi.Output<T>): Promise<T> {
  const output = pulumi.output(value) as unknown as { promise(): Promise<T> };
  return output.promise();
}
