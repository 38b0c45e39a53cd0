/**
 * Authoritative Unity Catalog grants: exactly one `databricks.Grants` per securable.
 *
 * `databricks.Grants` replaces the whole privilege list of its securable, so two of them on the
 * same securable fight on every `pulumi up`. Every grant of the stack is therefore collected
 * first (principal → privileges, per securable) and emitted once, merged and sorted.
 */
import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";

/**
 * Privileges the stack may grant. ALL_PRIVILEGES and MANAGE are deliberately absent: they would
 * hand out every future privilege, including the right to re-grant.
 */
export const PRIVILEGES = [
  // On a service credential: use it (e.g. as a Kafka source's `databricks.serviceCredential`).
  "ACCESS",
  "APPLY_TAG",
  "BROWSE",
  "CREATE_EXTERNAL_TABLE",
  "CREATE_EXTERNAL_VOLUME",
  "CREATE_FUNCTION",
  "CREATE_MANAGED_STORAGE",
  "CREATE_MATERIALIZED_VIEW",
  "CREATE_SCHEMA",
  "CREATE_TABLE",
  "CREATE_VOLUME",
  "EXECUTE",
  "MODIFY",
  "READ_FILES",
  "READ_VOLUME",
  "REFRESH",
  "SELECT",
  "USE_CATALOG",
  "USE_SCHEMA",
  "WRITE_FILES",
  "WRITE_VOLUME",
] as const;
export type Privilege = (typeof PRIVILEGES)[number];

/** One principal's privileges on one securable, as resolved plain values. */
export interface ResolvedGrant {
  readonly principal: string;
  readonly privileges: readonly string[];
}

/**
 * Merges grants by principal and sorts principals and privileges (the provider returns them in
 * its own order; a stable order keeps the diff empty). Rejects privileges outside PRIVILEGES.
 */
/** Throws unless every privilege is one the stack may grant. */
export function assertAllowedPrivileges(principal: string, privileges: readonly string[]): void {
  for (const privilege of privileges) {
    if (!(PRIVILEGES as readonly string[]).includes(privilege)) {
      throw new Error(
        `privilege ${privilege} for ${principal} is not allowed; allowed privileges are ${PRIVILEGES.join(", ")}`,
      );
    }
  }
}

export function mergeGrants(
  grants: readonly ResolvedGrant[],
): { principal: string; privileges: string[] }[] {
  const byPrincipal = new Map<string, Set<string>>();
  for (const { principal, privileges } of grants) {
    if (!principal) throw new Error("a grant needs a non-empty principal");
    assertAllowedPrivileges(principal, privileges);
    const merged = byPrincipal.get(principal) ?? new Set<string>();
    privileges.forEach((p) => merged.add(p));
    byPrincipal.set(principal, merged);
  }
  return [...byPrincipal.entries()]
    .filter(([, privileges]) => privileges.size > 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([principal, privileges]) => ({ principal, privileges: [...privileges].sort() }));
}

/** The field of `databricks.GrantsArgs` that names the securable, and its full name. */
export type SecurableRef =
  | { readonly catalog: pulumi.Input<string> }
  | { readonly schema: pulumi.Input<string> }
  | { readonly volume: pulumi.Input<string> }
  | { readonly externalLocation: pulumi.Input<string> }
  | { readonly storageCredential: pulumi.Input<string> }
  | { readonly credential: pulumi.Input<string> };

/** One principal's privileges, principal possibly not yet known (e.g. a new service principal). */
export interface GrantInput {
  /** Group name, user e-mail or service principal application id. */
  readonly principal: pulumi.Input<string>;
  /** Privileges granted to it on the securable. */
  readonly privileges: readonly Privilege[];
}

/**
 * Emits the single authoritative `databricks.Grants` of a securable. Returns undefined when
 * there is nothing to grant: an empty authoritative list would revoke what the owner set by hand.
 */
export function authoritativeGrants(
  resourceName: string,
  securable: SecurableRef,
  grants: readonly GrantInput[],
  opts: {
    parent: pulumi.Resource;
    provider: pulumi.ProviderResource;
    dependsOn?: pulumi.Resource[];
  },
): databricks.Grants | undefined {
  if (grants.length === 0) return undefined;
  const merged = pulumi
    .all(grants.map((g) => pulumi.output(g.principal)))
    .apply((principals) =>
      mergeGrants(
        principals.map((principal, i) => ({ principal, privileges: grants[i].privileges })),
      ),
    );
  return new databricks.Grants(
    resourceName,
    { ...securable, grants: merged },
    { parent: opts.parent, provider: opts.provider, dependsOn: opts.dependsOn },
  );
}
