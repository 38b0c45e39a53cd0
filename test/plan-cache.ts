/**
 * Offline plans of the unmodified stack files, built once per test run and shared by the plan
 * and policy specs (each build runs the whole program).
 */
import { buildPlan } from "../scripts/plan/build";
import { Plan } from "../scripts/plan/model";

const plans = new Map<string, Promise<Plan>>();

export function stackPlan(stack: string): Promise<Plan> {
  const cached = plans.get(stack) ?? buildPlan(stack);
  plans.set(stack, cached);
  return cached;
}
