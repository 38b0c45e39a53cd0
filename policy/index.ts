/**
 * Policy pack of the OMS lakehouse: `pulumi preview --policy-pack policy` (run `npm ci` in this
 * folder first). The rules live in `rules.ts`; the test suite runs them over every stack's
 * offline plan as well.
 */
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, packPolicies } from "./pack";

new PolicyPack(PACK_NAME, { policies: packPolicies() });
