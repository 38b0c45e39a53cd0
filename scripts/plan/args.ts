/**
 * The command line of `scripts/plan.ts`, parsed with Node's `util.parseArgs` (strict: an unknown
 * option, a missing value or a repeated single-valued option is an error naming it).
 */
import { parseArgs, type ParseArgsConfig } from "util";

/** `build --stack <name> [--out <dir>] [--set key=value ...]`. */
export interface BuildCommand {
  readonly command: "build";
  readonly stack: string;
  readonly out?: string;
  readonly set: [string, string][];
}
/** `diff <base plan.json> <head plan.json> [--rename from=to ...] [--out file.md]`. */
export interface DiffCommand {
  readonly command: "diff";
  readonly base: string;
  readonly head: string;
  readonly renames: [string, string][];
  readonly out?: string;
}
/** `policy <plan.json> ... [--out file.md]`. */
export interface PolicyCommand {
  readonly command: "policy";
  readonly plans: string[];
  readonly out?: string;
}
export type PlanCommand = BuildCommand | DiffCommand | PolicyCommand;

const USAGE = {
  build: "plan: --stack <name> [--out <dir>] [--set key=value ...]",
  diff: "plan:diff: <base plan.json> <head plan.json> [--rename from=to ...] [--out file.md]",
  policy: "policy: <plan.json> ... [--out file.md]",
} as const;

const many = { type: "string", multiple: true } as const;

const pairs = (values: readonly string[] = [], option: string): [string, string][] =>
  values.map((v) => {
    const at = v.indexOf("=");
    if (at <= 0) throw new Error(`--${option} expects key=value, got ${JSON.stringify(v)}`);
    return [v.slice(0, at), v.slice(at + 1)];
  });

/** At most one value of a single-valued option (declared `multiple` so a repeat is seen). */
function single(values: readonly string[] | undefined, option: string): string | undefined {
  if (values && values.length > 1) {
    throw new Error(
      `--${option} given ${values.length} times (${values.join(", ")}): give it once`,
    );
  }
  return values?.[0];
}

/**
 * Parses `argv` (the arguments after the script). Throws an `Error` whose message names the
 * command's usage and what is wrong: an unknown command or option, a missing value, a repeated
 * `--stack` or `--out`, a `--set`/`--rename` that is not `key=value`, missing positionals.
 */
export function parsePlanCommand(argv: readonly string[]): PlanCommand {
  const [command, ...rest] = argv;
  if (command !== "build" && command !== "diff" && command !== "policy") {
    throw new Error(`usage: plan.ts build|diff|policy … (got ${JSON.stringify(command)})`);
  }
  const options: ParseArgsConfig["options"] = {
    build: { stack: many, out: many, set: many },
    diff: { rename: many, out: many },
    policy: { out: many },
  }[command];
  let parsed: { values: Record<string, string[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...rest],
      options,
      strict: true,
      allowPositionals: true,
    }) as typeof parsed;
  } catch (err) {
    throw new Error(`${USAGE[command]}\n${err instanceof Error ? err.message : String(err)}`);
  }
  const { values, positionals } = parsed;
  const out = single(values.out, "out");
  if (command === "build") {
    const stack = single(values.stack, "stack");
    if (!stack) throw new Error(`${USAGE.build}\n--stack <name> is required`);
    if (positionals.length > 0)
      throw new Error(`${USAGE.build}\nunexpected ${positionals.join(" ")}`);
    return { command, stack, out, set: pairs(values.set, "set") };
  }
  if (command === "diff") {
    if (positionals.length !== 2) {
      throw new Error(`${USAGE.diff}\nexpected 2 plan files, got ${positionals.length}`);
    }
    const [base, head] = positionals;
    return { command, base, head, renames: pairs(values.rename, "rename"), out };
  }
  if (positionals.length === 0) throw new Error(`${USAGE.policy}\nno plan file given`);
  return { command, plans: positionals, out };
}
