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
import { BuildCommand, DiffCommand, parsePlanCommand, PolicyCommand } from "./plan/args";
import { loadStackConfig, PROJECT, withConfig } from "./plan/harness";
import { installMocks } from "./plan/recorder";
import { buildPlan } from "./plan/build";
import { diffMarkdown, diffPlans } from "./plan/diff";
import { planMarkdown } from "./plan/markdown";
import { parsePlan, planJson } from "./plan/model";
import { checkPlan, violationsMarkdown } from "./plan/policy";

function write(file: string | undefined, text: string): void {
  if (!file) {
    process.stdout.write(text);
    return;
  }
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, text);
  process.stderr.write(`wrote ${file}\n`);
}

async function build(cmd: BuildCommand): Promise<number> {
  installMocks(PROJECT, cmd.stack);
  const config = withConfig(loadStackConfig(cmd.stack), Object.fromEntries(cmd.set));
  const plan = await buildPlan(cmd.stack, config);
  const out = cmd.out ?? path.join("plans", cmd.stack);
  write(path.join(out, "plan.json"), planJson(plan));
  write(path.join(out, "plan.md"), planMarkdown(plan));
  return 0;
}

function diff(cmd: DiffCommand): number {
  const read = (file: string) => parsePlan(fs.readFileSync(file, "utf8"), file);
  const result = diffPlans(read(cmd.base), read(cmd.head), { renames: cmd.renames });
  write(cmd.out, diffMarkdown(result));
  return 0;
}

function policy(cmd: PolicyCommand): number {
  let failed = 0;
  const sections = cmd.plans.map((file) => {
    const plan = parsePlan(fs.readFileSync(file, "utf8"), file);
    const violations = checkPlan(plan);
    failed += violations.length;
    return violationsMarkdown(plan, violations);
  });
  write(cmd.out, sections.join("\n"));
  return failed > 0 ? 1 : 0;
}

async function main(argv: readonly string[]): Promise<number> {
  const cmd = parsePlanCommand(argv);
  switch (cmd.command) {
    case "build":
      return build(cmd);
    case "diff":
      return diff(cmd);
    case "policy":
      return policy(cmd);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
