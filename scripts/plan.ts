/**
 * Offline plan, plan diff and policy check — what reviewers see for every infrastructure change.
 *
 *   npm run plan -- --stack dev [--out plans/dev] [--set key=value ...]
 *       Runs the program for the stack under the SDK's mock runtime (no CLI, no cloud) and writes
 *       <out>/plan.json and <out>/plan.md. `--set` overrides a config key (JSON for lists).
 *   npm run plan:diff -- <base plan.json> <head plan.json> [--rename from=to ...] [--out file.md]
 *       Added, removed and changed resources, with replacement and security warnings, as Markdown.
 *       `--rename oms-dev=oms-prod` matches resources of two stacks by name.
 *   npm run policy -- <plan.json> ... [--out file.md]
 *       Runs the policy rules over plans; exits 1 on any violation.
 */
import * as fs from "fs";
import * as path from "path";
import { loadStackConfig, PROJECT, withConfig } from "./plan/harness";
import { installMocks } from "./plan/recorder";
import { buildPlan } from "./plan/build";
import { diffMarkdown, diffPlans } from "./plan/diff";
import { planMarkdown } from "./plan/markdown";
import { parsePlan, planJson } from "./plan/model";
import { checkPlan, violationsMarkdown } from "./plan/policy";

interface Args {
  readonly positional: string[];
  readonly options: Map<string, string[]>;
}

function parseArgs(argv: readonly string[]): Args {
  const positional: string[] = [];
  const options = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg.startsWith("--")) {
      const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
      const value = inline ?? argv[++i];
      if (value === undefined) throw new Error(`--${name} needs a value`);
      options.set(name, [...(options.get(name) ?? []), value]);
    } else {
      positional.push(arg);
    }
  }
  return { positional, options };
}

const pairs = (values: readonly string[] = [], option: string): [string, string][] =>
  values.map((v) => {
    const at = v.indexOf("=");
    if (at <= 0) throw new Error(`--${option} expects key=value, got ${JSON.stringify(v)}`);
    return [v.slice(0, at), v.slice(at + 1)];
  });

function write(file: string | undefined, text: string): void {
  if (!file) {
    process.stdout.write(text);
    return;
  }
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, text);
  process.stderr.write(`wrote ${file}\n`);
}

async function build(args: Args): Promise<number> {
  const stack = args.options.get("stack")?.[0];
  if (!stack) throw new Error("plan: --stack <name> is required");
  installMocks(PROJECT, stack);
  const overrides = Object.fromEntries(pairs(args.options.get("set"), "set"));
  const config = withConfig(loadStackConfig(stack), overrides);
  const plan = await buildPlan(stack, config);
  const out = args.options.get("out")?.[0] ?? path.join("plans", stack);
  write(path.join(out, "plan.json"), planJson(plan));
  write(path.join(out, "plan.md"), planMarkdown(plan));
  return 0;
}

function diff(args: Args): number {
  const [basePath, headPath] = args.positional;
  if (!basePath || !headPath) throw new Error("plan:diff: <base plan.json> <head plan.json>");
  const read = (file: string) => parsePlan(fs.readFileSync(file, "utf8"), file);
  const result = diffPlans(read(basePath), read(headPath), {
    renames: pairs(args.options.get("rename"), "rename"),
  });
  write(args.options.get("out")?.[0], diffMarkdown(result));
  return 0;
}

function policy(args: Args): number {
  if (args.positional.length === 0) throw new Error("policy: <plan.json> ...");
  let failed = 0;
  const sections = args.positional.map((file) => {
    const plan = parsePlan(fs.readFileSync(file, "utf8"), file);
    const violations = checkPlan(plan);
    failed += violations.length;
    return violationsMarkdown(plan, violations);
  });
  write(args.options.get("out")?.[0], sections.join("\n"));
  return failed > 0 ? 1 : 0;
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const args = parseArgs(rest);
  switch (command) {
    case "build":
      return build(args);
    case "diff":
      return diff(args);
    case "policy":
      return policy(args);
    default:
      throw new Error(`usage: plan.ts build|diff|policy … (got ${JSON.stringify(command)})`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
