/**
 * The policies of the pack, built from the same rule functions the offline plan is checked with.
 * Kept apart from `index.ts` so tests can build them without starting a policy server.
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { RESOURCE_RULES, STACK_RULES, stackOfUrn } from "./rules";

export const PACK_NAME = "oms-lakehouse";

export function packPolicies(): (ResourceValidationPolicy | StackValidationPolicy)[] {
  const resourcePolicies: ResourceValidationPolicy[] = RESOURCE_RULES.map((rule) => ({
    name: rule.id,
    description: rule.description,
    enforcementLevel: rule.packEnforcement ?? "mandatory",
    validateResource: (args, reportViolation) => {
      const context = { stack: stackOfUrn(args.urn), protect: args.opts.protect, name: args.name };
      for (const message of rule.validate(args.type, args.props, context)) {
        reportViolation(message);
      }
    },
  }));
  const stackPolicies: StackValidationPolicy[] = STACK_RULES.map((rule) => ({
    name: rule.id,
    description: rule.description,
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
      const resources = args.resources.map((r) => ({
        type: r.type,
        name: r.name,
        props: r.props,
        protect: r.opts.protect,
      }));
      const stack = args.resources.length > 0 ? stackOfUrn(args.resources[0].urn) : "";
      for (const v of rule.validate(resources, { stack })) {
        reportViolation(v.message, args.resources.find((r) => r.name === v.name)?.urn);
      }
    },
  }));
  return [...resourcePolicies, ...stackPolicies];
}
