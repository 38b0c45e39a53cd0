/**
 * Runs the policy pack's rules over an offline plan.
 */
import { freshnessBound, FreshnessBound, freshnessMarkdown } from "../../policy/freshness";
import { checkResources, TYPES, Violation } from "../../policy/rules";
import { Plan } from "./model";

/** The worst-case landing -> Gold bound of the plan's declared jobs (policy/freshness.ts). */
export function planFreshness(plan: Plan): FreshnessBound {
  return freshnessBound(
    plan.resources
      .filter((r) => r.custom && r.type === TYPES.job)
      .map((r) => ({ name: r.name, props: r.inputs })),
  );
}

/** Every violation of the plan's custom resources, sorted. */
export function checkPlan(plan: Plan): Violation[] {
  return checkResources(
    plan.resources
      .filter((r) => r.custom)
      .map((r) => ({ type: r.type, name: r.name, props: r.inputs, protect: r.protect })),
    plan.stack,
  );
}

/** The result as Markdown, after the stack's freshness bound (both go into the PR comment). */
export function violationsMarkdown(plan: Plan, violations: readonly Violation[]): string {
  const lines = [
    freshnessMarkdown(plan.stack, planFreshness(plan)),
    `### Policy pack — \`${plan.stack}\``,
    "",
  ];
  if (violations.length === 0) {
    lines.push("All policies pass.");
  } else {
    lines.push(`**${violations.length} violation(s)**`, "", "| Rule | Resource | Problem |");
    lines.push("| --- | --- | --- |");
    for (const v of violations) {
      lines.push(
        `| \`${v.rule}\` | \`${v.resource || "(stack)"}\` | ${v.message.replace(/\|/g, "\\|")} |`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}
