/**
 * The offline plan: what one stack's program declares, as plain, sorted, redacted JSON.
 *
 * Shared by the plan builder, the diff and the policy runner; nothing here touches Pulumi.
 */

/** Shown for a value that only exists once the resource is deployed (ids, URLs, identities). */
export const UNKNOWN = "(known after deploy)";
/** Shown for secret configuration and for any value derived from a secret. */
export const SECRET = "[secret]";

/** A JSON value of a plan; unknowns and secrets are the two marker strings above. */
export type PlanValue =
  | null
  | boolean
  | number
  | string
  | PlanValue[]
  | { [key: string]: PlanValue };

export interface PlanResource {
  /** Type token, e.g. `azure-native:storage:StorageAccount`. */
  readonly type: string;
  /** Logical name. */
  readonly name: string;
  /** `type::name` of the parent resource; null for resources at the top of the stack. */
  readonly parent: string | null;
  /** `type::name` of the top-level component the resource belongs to ("" outside components). */
  readonly component: string;
  /** `type::name` of the explicit provider, or `default` for the package's default provider. */
  readonly provider: string;
  /** True for cloud resources, false for components. */
  readonly custom: boolean;
  /** The `protect` resource option. */
  readonly protect: boolean;
  /** Declared inputs with keys sorted. */
  readonly inputs: { [key: string]: PlanValue };
}

export interface Plan {
  readonly format: "oms-lakehouse-plan/v1";
  readonly project: string;
  readonly stack: string;
  /** The stack's configuration (`project:key` → string as stored), secrets redacted. */
  readonly config: { [key: string]: string };
  /** Sorted by component, type and name. */
  readonly resources: PlanResource[];
  /** Stack outputs. */
  readonly outputs: { [key: string]: PlanValue };
}

/** The identity of a resource across plans. */
export const keyOf = (r: { type: string; name: string }): string => `${r.type}::${r.name}`;

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Deterministic ordering of resources: by component, then type, then name. */
export function sortResources<T extends PlanResource>(resources: readonly T[]): T[] {
  return [...resources].sort(
    (a, b) => compare(a.component, b.component) || compare(keyOf(a), keyOf(b)),
  );
}

/** Returns a copy of a JSON value with every object's keys sorted. */
export function sortKeys(value: PlanValue): PlanValue {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort(compare)
        .map((k) => [k, sortKeys(value[k])]),
    );
  }
  return value;
}

/** Canonical text of a plan: sorted keys, two-space indent, trailing newline. */
export function planJson(plan: Plan): string {
  return `${JSON.stringify(sortKeys(plan as unknown as PlanValue), null, 2)}\n`;
}

/** Parses a plan file, checking its format marker. */
export function parsePlan(text: string, source = "plan"): Plan {
  const plan = JSON.parse(text) as Plan;
  if (plan?.format !== "oms-lakehouse-plan/v1") {
    throw new Error(`${source}: not an oms-lakehouse plan (format ${String(plan?.format)})`);
  }
  return plan;
}
