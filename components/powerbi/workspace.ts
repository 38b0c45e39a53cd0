import * as pulumi from "@pulumi/pulumi";
import { PrincipalType, WorkspaceRole } from "./client";
import { changedKeys, clientFor, ProviderOptions } from "./providerOptions";

// ------------------------------------------------------------------ FabricWorkspace

/** Resolved inputs of a FabricWorkspace, as the provider sees them. */
export interface FabricWorkspaceInputs {
  displayName: string;
  description?: string;
  capacityId?: string;
  adoptExisting?: boolean;
}

/** State recorded for a FabricWorkspace. */
export interface FabricWorkspaceOutputs extends FabricWorkspaceInputs {
  workspaceId: string;
  /** True when the workspace existed before and was adopted: delete then leaves it in place. */
  adopted: boolean;
}

/** Dynamic provider for a Fabric workspace (POST/GET/PATCH/DELETE /v1/workspaces). */
export function fabricWorkspaceProvider(
  options?: ProviderOptions,
): pulumi.dynamic.ResourceProvider<FabricWorkspaceInputs, FabricWorkspaceOutputs> {
  return {
    async create(inputs) {
      const client = clientFor(options);
      if (inputs.adoptExisting) {
        const existing = await client.findWorkspaceByName(inputs.displayName);
        if (existing) {
          // Adopted: converge what the stack declares, but never delete it later.
          if (inputs.description !== undefined && inputs.description !== existing.description) {
            await client.updateWorkspace(existing.id, { description: inputs.description });
          }
          if (inputs.capacityId && inputs.capacityId !== existing.capacityId) {
            await client.assignToCapacity(existing.id, inputs.capacityId);
          }
          return {
            id: existing.id,
            outs: { ...inputs, workspaceId: existing.id, adopted: true },
          };
        }
      }
      // A workspace of that name that exists now is refused with a message naming adoptExisting;
      // one that appears after a lost answer to this create is adopted (see FabricClient.createOnce).
      const ws = await client.createWorkspace({
        displayName: inputs.displayName,
        description: inputs.description ?? "",
        ...(inputs.capacityId ? { capacityId: inputs.capacityId } : {}),
      });
      return { id: ws.id, outs: { ...inputs, workspaceId: ws.id, adopted: false } };
    },

    async read(id, props) {
      const ws = await clientFor(options).getWorkspace(id);
      if (!ws) return { id: "" };
      const old = props ?? ({} as FabricWorkspaceOutputs);
      return {
        id,
        props: {
          ...old,
          workspaceId: ws.id,
          displayName: ws.displayName,
          description: ws.description ?? "",
          // Capacity is tracked only when the stack declares one: an adopted workspace's
          // existing assignment must not show up as drift to "fix".
          capacityId: old.capacityId ? ws.capacityId : undefined,
        },
      };
    },

    diff(_id, olds, news) {
      const keys = ["displayName", "description", "adoptExisting"];
      // Dropping capacityId from the stack stops managing it; it does not unassign (that would
      // take every Fabric item in the workspace offline).
      if (news.capacityId) keys.push("capacityId");
      const changes = changedKeys(olds, news, keys);
      return Promise.resolve({ changes: changes.length > 0, replaces: [] });
    },

    async update(id, olds, news) {
      const client = clientFor(options);
      const patch: { displayName?: string; description?: string } = {};
      if (olds.displayName !== news.displayName) patch.displayName = news.displayName;
      if ((olds.description ?? "") !== (news.description ?? "")) patch.description = news.description ?? "";
      if (Object.keys(patch).length > 0) await client.updateWorkspace(id, patch);
      if (news.capacityId && news.capacityId !== olds.capacityId) {
        await client.assignToCapacity(id, news.capacityId);
      }
      return { outs: { ...news, workspaceId: id, adopted: olds.adopted } };
    },

    async delete(id, props) {
      if (props.adopted) return; // it was there before this stack; it stays after it.
      await clientFor(options).deleteWorkspace(id);
    },
  };
}

export interface FabricWorkspaceArgs {
  /** Workspace name, unique in the tenant. */
  readonly displayName: pulumi.Input<string>;
  /** Workspace description. */
  readonly description?: pulumi.Input<string>;
  /** Fabric/Premium capacity to assign the workspace to (GUID); removing it leaves the assignment. */
  readonly capacityId?: pulumi.Input<string>;
  /** Adopt a workspace that already has this name instead of failing; adopted ones are never deleted. */
  readonly adoptExisting?: pulumi.Input<boolean>;
}

/** A Fabric workspace. */
export class FabricWorkspace extends pulumi.dynamic.Resource {
  declare readonly workspaceId: pulumi.Output<string>;
  declare readonly displayName: pulumi.Output<string>;
  declare readonly description: pulumi.Output<string | undefined>;
  declare readonly capacityId: pulumi.Output<string | undefined>;
  declare readonly adopted: pulumi.Output<boolean>;

  constructor(name: string, args: FabricWorkspaceArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      fabricWorkspaceProvider(),
      name,
      { workspaceId: undefined, adopted: undefined, ...args },
      opts,
      "powerbi",
      "FabricWorkspace",
    );
  }
}

// ------------------------------------------------------------------ WorkspaceRoleAssignment

export interface WorkspaceRoleAssignmentInputs {
  workspaceId: string;
  principalId: string;
  principalType: PrincipalType;
  role: WorkspaceRole;
}

export interface WorkspaceRoleAssignmentOutputs extends WorkspaceRoleAssignmentInputs {
  roleAssignmentId: string;
}

const ROLES: readonly WorkspaceRole[] = ["Admin", "Member", "Contributor", "Viewer"];
const PRINCIPAL_TYPES: readonly PrincipalType[] = [
  "User",
  "Group",
  "ServicePrincipal",
  "ServicePrincipalProfile",
];

/** Dynamic provider for a workspace role assignment (/v1/workspaces/{id}/roleAssignments). */
export function workspaceRoleAssignmentProvider(
  options?: ProviderOptions,
): pulumi.dynamic.ResourceProvider<WorkspaceRoleAssignmentInputs, WorkspaceRoleAssignmentOutputs> {
  return {
    check(_olds, news) {
      const failures: { property: string; reason: string }[] = [];
      if (!ROLES.includes(news.role)) {
        failures.push({ property: "role", reason: `role "${news.role}" is not one of ${ROLES.join(", ")}` });
      }
      if (!PRINCIPAL_TYPES.includes(news.principalType)) {
        failures.push({
          property: "principalType",
          reason: `principalType "${news.principalType}" is not one of ${PRINCIPAL_TYPES.join(", ")}`,
        });
      }
      return Promise.resolve({ inputs: news, failures });
    },

    async create(inputs) {
      const ra = await clientFor(options).addRoleAssignment(
        inputs.workspaceId,
        { id: inputs.principalId, type: inputs.principalType },
        inputs.role,
      );
      return {
        id: `${inputs.workspaceId}/${ra.id}`,
        outs: { ...inputs, roleAssignmentId: ra.id },
      };
    },

    async read(id, props) {
      const old = props as WorkspaceRoleAssignmentOutputs;
      const ra = await clientFor(options).getRoleAssignment(old.workspaceId, old.roleAssignmentId);
      if (!ra) return { id: "" };
      return { id, props: { ...old, role: ra.role } };
    },

    diff(_id, olds, news) {
      const replaces = changedKeys(olds, news, ["workspaceId", "principalId", "principalType"]);
      const changes = changedKeys(olds, news, ["role"]);
      return Promise.resolve({
        changes: replaces.length + changes.length > 0,
        replaces,
        // A principal has one role per workspace: remove the old assignment before adding anew.
        deleteBeforeReplace: true,
      });
    },

    async update(_id, olds, news) {
      await clientFor(options).updateRoleAssignment(olds.workspaceId, olds.roleAssignmentId, news.role);
      return { outs: { ...news, roleAssignmentId: olds.roleAssignmentId } };
    },

    async delete(_id, props) {
      await clientFor(options).deleteRoleAssignment(props.workspaceId, props.roleAssignmentId);
    },
  };
}

export interface WorkspaceRoleAssignmentArgs {
  /** Workspace id (FabricWorkspace.workspaceId). */
  readonly workspaceId: pulumi.Input<string>;
  /** Entra object id of the user, group or service principal. */
  readonly principalId: pulumi.Input<string>;
  /** Kind of principal. */
  readonly principalType: pulumi.Input<PrincipalType>;
  /** Workspace role. */
  readonly role: pulumi.Input<WorkspaceRole>;
}

/** A principal's role in a Fabric workspace. */
export class WorkspaceRoleAssignment extends pulumi.dynamic.Resource {
  declare readonly roleAssignmentId: pulumi.Output<string>;
  declare readonly role: pulumi.Output<WorkspaceRole>;

  constructor(name: string, args: WorkspaceRoleAssignmentArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      workspaceRoleAssignmentProvider(),
      name,
      { roleAssignmentId: undefined, ...args },
      opts,
      "powerbi",
      "WorkspaceRoleAssignment",
    );
  }
}
