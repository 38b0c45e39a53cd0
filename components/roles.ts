/**
 * Azure role assignments of built-in roles: the one place the stack builds an
 * `azure-native:authorization:RoleAssignment`, so every grant of an Azure role has the same shape
 * (subscription-scoped role definition id, declared principal type, explicit scope).
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";

/**
 * ARM id of a built-in role definition in a subscription,
 * `/subscriptions/<subscriptionId>/providers/Microsoft.Authorization/roleDefinitions/<roleGuid>`.
 * Built-in role GUIDs are the same in every tenant ("Azure built-in roles").
 */
export const builtInRoleDefinitionId = (
  subscriptionId: pulumi.Input<string>,
  roleGuid: string,
): pulumi.Output<string> =>
  pulumi.interpolate`/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${roleGuid}`;

export interface BuiltInRoleAssignmentArgs {
  /** Subscription the stack deploys into (the role definition id is built in it). */
  readonly subscriptionId: pulumi.Input<string>;
  /** GUID of the built-in role, e.g. Storage Blob Data Contributor's. */
  readonly roleGuid: string;
  /** Entra object id of the service principal or managed identity that receives the role. */
  readonly principalId: pulumi.Input<string>;
  /** ARM id of the narrowest resource the role is needed on (container, hub, group...). */
  readonly scope: pulumi.Input<string>;
}

/**
 * Assigns a built-in Azure role to a service principal or managed identity.
 *
 * `name` is the Pulumi resource name (its URN), chosen by the caller and stable across runs; the
 * assignment's own GUID name is left to the provider. The principal type is declared as
 * `ServicePrincipal` (managed identities are service principals in Entra ID) so that ARM does not
 * look the principal up in Entra ID, which fails for a freshly created identity that has not
 * replicated yet ("Assign Azure roles using Azure Resource Manager templates", section
 * "New service principal").
 */
export function assignBuiltInRole(
  name: string,
  args: BuiltInRoleAssignmentArgs,
  opts: pulumi.CustomResourceOptions,
): authorization.RoleAssignment {
  return new authorization.RoleAssignment(
    name,
    {
      principalId: args.principalId,
      principalType: "ServicePrincipal",
      roleDefinitionId: builtInRoleDefinitionId(args.subscriptionId, args.roleGuid),
      scope: args.scope,
    },
    opts,
  );
}
