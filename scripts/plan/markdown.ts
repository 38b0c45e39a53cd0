/**
 * The plan as Markdown a reviewer reads: one section per component, one entry per resource with
 * its provider, parent, protection and declared inputs.
 */
import { freshnessMarkdown } from "../../policy/freshness";
import { keyOf, Plan, PlanResource, PlanValue } from "./model";
import { planFreshness } from "./policy";

/** Inputs as indented `key: value` lines (JSON scalars), nested objects and lists indented. */
export function renderValue(value: PlanValue, indent = ""): string[] {
  if (Array.isArray(value)) {
    if (value.length === 0) return [`${indent}[]`];
    return value.flatMap((item) => {
      const lines = renderValue(item, `${indent}  `);
      lines[0] = `${indent}- ${lines[0].trimStart()}`;
      return lines;
    });
  }
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 0) return [`${indent}{}`];
    return keys.flatMap((key) => {
      const v = value[key];
      const scalar = v === null || typeof v !== "object" || (Array.isArray(v) && v.length === 0);
      return scalar
        ? [`${indent}${key}: ${JSON.stringify(v)}`]
        : [`${indent}${key}:`, ...renderValue(v, `${indent}  `)];
    });
  }
  return [`${indent}${JSON.stringify(value)}`];
}

function componentTitle(component: string, plan: Plan): string {
  if (!component) return "Outside any component";
  const found = plan.resources.find((r) => keyOf(r) === component);
  return found ? `${found.name} (\`${found.type}\`)` : component;
}

function resourceEntry(r: PlanResource): string[] {
  const facts = [
    `provider: \`${r.provider}\``,
    `parent: ${r.parent ? `\`${r.parent}\`` : "stack"}`,
    r.protect ? "**protected**" : "not protected",
  ];
  const lines = [`### \`${r.name}\` — \`${r.type}\``, "", facts.join(" · "), ""];
  if (Object.keys(r.inputs).length > 0) {
    lines.push("```yaml", ...renderValue(r.inputs), "```", "");
  }
  return lines;
}

/** Renders a plan as Markdown. */
export function planMarkdown(plan: Plan): string {
  const custom = plan.resources.filter((r) => r.custom);
  const components = [...new Set(plan.resources.map((r) => r.component))];
  const lines = [
    `# Offline plan — ${plan.project} / ${plan.stack}`,
    "",
    `${custom.length} resources in ${components.filter((c) => c).length} components, ` +
      `${custom.filter((r) => r.protect).length} protected. Values shown as "(known after deploy…)" ` +
      `exist only once deployed; "[secret]" marks secret values.`,
    "",
    "## Configuration",
    "",
    "```yaml",
    ...renderValue(plan.config),
    "```",
    "",
    freshnessMarkdown(plan.stack, planFreshness(plan)).replace(/^### /, "## "),
  ];
  for (const component of components) {
    lines.push(`## ${componentTitle(component, plan)}`, "");
    for (const r of plan.resources.filter((x) => x.component === component && x.custom)) {
      lines.push(...resourceEntry(r));
    }
  }
  lines.push("## Outputs", "", "```yaml", ...renderValue(plan.outputs), "```", "");
  return `${lines.join("\n").trimEnd()}\n`;
}
