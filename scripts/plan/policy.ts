/**
 * Runs the policy pack's rules over an offline plan.
 */
import { checkResources, Violation } from "../../policy/rules";
import { Plan } from "./model";

/** Every violation of the plan's custom resources, sorted. */
export function checkPlan(plan: Plan): Violation[] {
  return checkResources(
    plan.resources
      .filter((r) => r.custom)
      .map((r) => ({ type: r.type, name: r.name, props: r.inputs, protect: r.protect })),
    plan.stack,
  );
}

/** The result as Markdown. */
export function violationsMarkdown(plan: Plan, violations: readonly Violation[]): string {
  const lines = [`### Policy pack — \`${plan.stack}\``, ""];
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
