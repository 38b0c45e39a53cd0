/**
 * Compares two offline plans (base branch and head, or two stacks): resources added, removed and
 * changed with the inputs that changed, plus warnings a reviewer must not miss — changes that
 * make the provider replace a stateful resource, and changes that loosen security.
 */
import { keyOf, Plan, PlanResource, PlanValue, UNKNOWN } from "./model";

/**
 * Inputs whose change makes the provider delete and re-create the resource (ForceNew in the
 * Databricks provider, replace-on-change in azure-native), for the stateful types of the stack.
 * A replaced storage account, catalog, schema or volume loses its data. Kept small and explicit:
 * extend it when the stack uses a new stateful type. `sku.name` is listed because moving between
 * zone-redundant and non-zone-redundant SKUs is not an in-place update (Azure refuses it or needs
 * a migration); the other SKU changes update in place but are flagged all the same.
 */
export const REPLACE_ON_CHANGE: Readonly<Record<string, readonly string[]>> = {
  "azure-native:resources:ResourceGroup": ["resourceGroupName", "location"],
  "azure-native:storage:StorageAccount": [
    "accountName",
    "resourceGroupName",
    "location",
    "kind",
    "isHnsEnabled",
    "sku.name",
  ],
  "azure-native:storage:BlobContainer": ["containerName", "accountName", "resourceGroupName"],
  "azure-native:databricks:Workspace": [
    "workspaceName",
    "resourceGroupName",
    "location",
    "managedResourceGroupId",
  ],
  "databricks:index/catalog:Catalog": [
    "name",
    "storageRoot",
    "connectionName",
    "providerName",
    "shareName",
  ],
  "databricks:index/schema:Schema": ["catalogName", "name", "storageRoot"],
  "databricks:index/volume:Volume": [
    "catalogName",
    "schemaName",
    "name",
    "volumeType",
    "storageLocation",
  ],
  "databricks:index/externalLocation:ExternalLocation": ["name", "metastoreId"],
  "databricks:index/storageCredential:StorageCredential": ["name", "metastoreId"],
};

/** Entries of the table above that do not always replace, with what happens instead. */
export const REPLACE_NOTES: Readonly<Record<string, string>> = {
  "azure-native:storage:StorageAccount sku.name":
    "to or from a zone-redundant SKU Azure cannot convert in place: a replacement or a manual migration",
};

/** Types whose deletion or replacement loses data or the access path to it. */
export const STATEFUL_TYPES: readonly string[] = Object.keys(REPLACE_ON_CHANGE);

export interface InputChange {
  /** Dotted path, e.g. `networkRuleSet.ipRules[0].iPAddressOrRange`; options as `(protect)`. */
  readonly path: string;
  readonly before?: PlanValue;
  readonly after?: PlanValue;
}

export interface ResourceDiff {
  readonly key: string;
  readonly type: string;
  readonly name: string;
  readonly component: string;
  readonly changes: readonly InputChange[];
}

export interface Warning {
  readonly kind: "replace" | "delete" | "security";
  readonly key: string;
  readonly message: string;
}

export interface PlanDiff {
  readonly base: string;
  readonly head: string;
  readonly added: readonly ResourceDiff[];
  readonly removed: readonly ResourceDiff[];
  readonly changed: readonly ResourceDiff[];
  readonly warnings: readonly Warning[];
}

type Flat = Map<string, PlanValue>;

/** Leaf paths of a value: objects as `a.b`, arrays as `a[0]`; empty containers are leaves. */
export function flatten(value: PlanValue, prefix = "", out: Flat = new Map()): Flat {
  if (Array.isArray(value) && value.length > 0) {
    value.forEach((v, i) => flatten(v, `${prefix}[${i}]`, out));
  } else if (
    value !== null &&
    typeof value === "object" &&
    !Array.isArray(value) &&
    Object.keys(value).length > 0
  ) {
    for (const key of Object.keys(value))
      flatten(value[key], prefix ? `${prefix}.${key}` : key, out);
  } else {
    out.set(prefix, value);
  }
  return out;
}

const same = (a: PlanValue | undefined, b: PlanValue | undefined) =>
  JSON.stringify(a) === JSON.stringify(b);

function inputChanges(before: PlanResource | undefined, after: PlanResource | undefined) {
  const a = flatten(before?.inputs ?? {});
  const b = flatten(after?.inputs ?? {});
  const paths = [...new Set([...a.keys(), ...b.keys()])].filter((p) => p !== "").sort();
  const changes: InputChange[] = paths
    .filter((p) => !same(a.get(p), b.get(p)))
    .map((path) => ({ path, before: a.get(path), after: b.get(path) }));
  if (before && after) {
    for (const option of ["protect", "provider", "parent"] as const) {
      if (!same(before[option], after[option])) {
        changes.push({ path: `(${option})`, before: before[option], after: after[option] });
      }
    }
  }
  return changes;
}

const get = (r: PlanResource | undefined, path: string): PlanValue | undefined =>
  path.split(".").reduce<PlanValue | undefined>((v, k) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
    return v[k];
  }, r?.inputs);

const isUnknownValue = (v: PlanValue | undefined) => typeof v === "string" && v.startsWith(UNKNOWN);
const list = (v: PlanValue | undefined): PlanValue[] => (Array.isArray(v) ? v : []);
/** A plan value as text: strings as they are, anything else as JSON. */
const text = (v: PlanValue | undefined): string =>
  typeof v === "string" ? v : v === undefined ? "" : JSON.stringify(v);
const TLS_RANK: Record<string, number> = { TLS1_0: 0, TLS1_1: 1, TLS1_2: 2, TLS1_3: 3 };
const PERMISSION_RANK: Record<string, number> = {
  CAN_VIEW: 1,
  CAN_MONITOR: 2,
  CAN_USE: 3,
  CAN_RUN: 3,
  CAN_MANAGE_RUN: 4,
  CAN_MANAGE: 5,
  IS_OWNER: 6,
};

function grantsOf(r: PlanResource | undefined): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const g of list(get(r, "grants"))) {
    if (g === null || typeof g !== "object" || Array.isArray(g)) continue;
    out.set(text(g.principal), new Set(list(g.privileges).map(String)));
  }
  return out;
}

function permissionsOf(r: PlanResource | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of list(get(r, "accessControls"))) {
    if (c === null || typeof c !== "object" || Array.isArray(c)) continue;
    const who = text(c.groupName ?? c.servicePrincipalName ?? c.userName);
    out.set(who, PERMISSION_RANK[text(c.permissionLevel)] ?? 0);
  }
  return out;
}

/** Security loosened from `before` (undefined: the resource is new) to `after`. */
export function securityFindings(before: PlanResource | undefined, after: PlanResource): string[] {
  const found: string[] = [];
  const was = (path: string) => get(before, path);
  const now = (path: string) => get(after, path);
  const became = (path: string, bad: (v: PlanValue | undefined) => boolean, message: string) => {
    if (!isUnknownValue(now(path)) && bad(now(path)) && (!before || !bad(was(path)))) {
      found.push(message);
    }
  };
  if (before?.protect && !after.protect) found.push("`protect` removed");
  switch (after.type) {
    case "azure-native:storage:StorageAccount": {
      became(
        "networkRuleSet.defaultAction",
        (v) => v !== "Deny",
        "firewall default action is no longer Deny",
      );
      // Firewall rules by what they admit: IP ranges, and subnets (virtual network rules).
      const admitted = (r: PlanResource | undefined, rules: string, field: string) =>
        new Set(
          list(get(r, `networkRuleSet.${rules}`)).map((rule) =>
            rule !== null && typeof rule === "object" && !Array.isArray(rule)
              ? text(rule[field])
              : text(rule),
          ),
        );
      for (const [rules, field, what] of [
        ["ipRules", "iPAddressOrRange", "IP rules"],
        ["virtualNetworkRules", "virtualNetworkResourceId", "virtual network rules"],
      ]) {
        const old = admitted(before, rules, field);
        const added = [...admitted(after, rules, field)].filter((x) => !old.has(x));
        if (added.length > 0) found.push(`firewall ${what} added: ${added.join(", ")}`);
      }
      became(
        "allowSharedKeyAccess",
        (v) => v !== false,
        "shared key (account key / SAS) access enabled",
      );
      became("allowBlobPublicAccess", (v) => v === true, "anonymous blob access allowed");
      became("publicNetworkAccess", (v) => v === "Enabled", "public network access enabled");
      became("enableHttpsTrafficOnly", (v) => v === false, "plain HTTP allowed");
      became("allowCrossTenantReplication", (v) => v === true, "cross-tenant replication allowed");
      const tls = (v: PlanValue | undefined) => TLS_RANK[text(v)] ?? 0;
      if (before && tls(now("minimumTlsVersion")) < tls(was("minimumTlsVersion"))) {
        found.push(
          `minimum TLS lowered to ${text(now("minimumTlsVersion") ?? "the Azure default")}`,
        );
      }
      break;
    }
    case "azure-native:storage:BlobContainer":
      became(
        "publicAccess",
        (v) => v !== undefined && v !== "None",
        "container readable anonymously",
      );
      break;
    case "azure-native:databricks:Workspace":
      became(
        "parameters.enableNoPublicIp.value",
        (v) => v !== true,
        "cluster nodes get public IPs (secure cluster connectivity off)",
      );
      became(
        "publicNetworkAccess",
        (v) => v === "Enabled",
        "workspace public network access enabled",
      );
      break;
    case "databricks:index/catalog:Catalog":
      became(
        "isolationMode",
        (v) => v !== "ISOLATED",
        "catalog no longer bound to its workspace (isolation OPEN)",
      );
      break;
    case "databricks:index/grants:Grants": {
      const old = grantsOf(before);
      for (const [principal, privileges] of grantsOf(after)) {
        const extra = [...privileges].filter((p) => !old.get(principal)?.has(p)).sort();
        if (extra.length === 0) continue;
        found.push(
          old.has(principal)
            ? `grants widened: ${principal} gains ${extra.join(", ")}`
            : `grants widened: new principal ${principal} with ${extra.join(", ")}`,
        );
      }
      break;
    }
    case "databricks:index/permissions:Permissions": {
      const old = permissionsOf(before);
      for (const [who, rank] of permissionsOf(after)) {
        if (rank > (old.get(who) ?? 0)) {
          const level = Object.keys(PERMISSION_RANK).find((k) => PERMISSION_RANK[k] === rank);
          found.push(`permissions widened: ${who} now ${level ?? rank}`);
        }
      }
      break;
    }
  }
  return found;
}

function replacementWarnings(type: string, changes: readonly InputChange[]): string[] {
  const triggers = REPLACE_ON_CHANGE[type] ?? [];
  return changes
    .filter((c) =>
      triggers.some(
        (t) => c.path === t || c.path.startsWith(`${t}.`) || c.path.startsWith(`${t}[`),
      ),
    )
    .map((c) => {
      const change = `\`${c.path}\` ${JSON.stringify(c.before ?? null)} → ${JSON.stringify(c.after ?? null)}`;
      const note = REPLACE_NOTES[`${type} ${c.path}`];
      return note ? `${change} — ${note}` : change;
    });
}

/** Options of {@link diffPlans}. */
export interface DiffOptions {
  /** Rewrites applied to the base plan's resource names first, e.g. `oms-dev` → `oms-prod`. */
  readonly renames?: readonly (readonly [string, string])[];
}

function renamed(r: PlanResource, renames: readonly (readonly [string, string])[]): PlanResource {
  const apply = (s: string) => renames.reduce((t, [from, to]) => t.split(from).join(to), s);
  // Placeholders name the resource they come from ("id of oms-dev-rg"): renamed alike.
  const placeholders = (v: PlanValue): PlanValue =>
    typeof v === "string"
      ? isUnknownValue(v)
        ? apply(v)
        : v
      : Array.isArray(v)
        ? v.map(placeholders)
        : v !== null && typeof v === "object"
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, placeholders(x)]))
          : v;
  return {
    ...r,
    inputs: placeholders(r.inputs) as PlanResource["inputs"],
    name: apply(r.name),
    parent: r.parent === null ? null : apply(r.parent),
    component: apply(r.component),
    provider: apply(r.provider),
  };
}

export function diffPlans(base: Plan, head: Plan, options: DiffOptions = {}): PlanDiff {
  const before = new Map(
    base.resources.map((r) => renamed(r, options.renames ?? [])).map((r) => [keyOf(r), r]),
  );
  const after = new Map(head.resources.map((r) => [keyOf(r), r]));
  const entry = (r: PlanResource, changes: InputChange[]): ResourceDiff => ({
    key: keyOf(r),
    type: r.type,
    name: r.name,
    component: r.component,
    changes,
  });
  const added: ResourceDiff[] = [];
  const removed: ResourceDiff[] = [];
  const changed: ResourceDiff[] = [];
  const warnings: Warning[] = [];
  for (const [key, r] of after) {
    const old = before.get(key);
    const changes = inputChanges(old, r);
    if (!old) added.push(entry(r, changes));
    else if (changes.length > 0) changed.push(entry(r, changes));
    if (old && STATEFUL_TYPES.includes(r.type)) {
      for (const message of replacementWarnings(r.type, changes)) {
        warnings.push({ kind: "replace", key, message: `replace-on-change input: ${message}` });
      }
    }
    for (const message of securityFindings(old, r))
      warnings.push({ kind: "security", key, message });
  }
  for (const [key, r] of before) {
    if (after.has(key)) continue;
    removed.push(entry(r, inputChanges(r, undefined)));
    if (STATEFUL_TYPES.includes(r.type)) {
      warnings.push({ kind: "delete", key, message: "stateful resource removed from the program" });
    }
  }
  const byKey = <T extends { key: string }>(xs: T[]) =>
    xs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const order = { replace: 0, delete: 1, security: 2 };
  return {
    base: base.stack,
    head: head.stack,
    added: byKey(added),
    removed: byKey(removed),
    changed: byKey(changed),
    warnings: byKey(warnings).sort((a, b) => order[a.kind] - order[b.kind]),
  };
}

const cell = (v: PlanValue | undefined) =>
  v === undefined ? "—" : `\`${JSON.stringify(v).replace(/\|/g, "\\|").replace(/`/g, "'")}\``;

/** The diff as the Markdown of a pull-request comment. */
export function diffMarkdown(diff: PlanDiff, title = "Infrastructure plan"): string {
  const label =
    diff.base === diff.head ? `\`${diff.head}\`` : `\`${diff.base}\` → \`${diff.head}\``;
  const lines = [
    `## ${title} — ${label}`,
    "",
    `**${diff.added.length} to add · ${diff.changed.length} to change · ${diff.removed.length} to remove**`,
    "",
  ];
  if (diff.added.length + diff.changed.length + diff.removed.length === 0) {
    lines.push("No infrastructure changes.", "");
    return `${lines.join("\n").trimEnd()}\n`;
  }
  if (diff.warnings.length > 0) {
    const heading = {
      replace: "Replaces (data at risk)",
      delete: "Deletes (data at risk)",
      security: "Loosens security",
    };
    lines.push("### ⚠️ Needs a careful look", "");
    for (const w of diff.warnings)
      lines.push(`- **${heading[w.kind]}** \`${w.key}\`: ${w.message}`);
    lines.push("");
  }
  if (diff.changed.length > 0) {
    lines.push("### Changed", "");
    for (const r of diff.changed) {
      lines.push(
        `#### \`${r.name}\` — \`${r.type}\``,
        "",
        "| Input | Before | After |",
        "| --- | --- | --- |",
      );
      for (const c of r.changes)
        lines.push(`| \`${c.path}\` | ${cell(c.before)} | ${cell(c.after)} |`);
      lines.push("");
    }
  }
  for (const [heading, items] of [
    ["Added", diff.added],
    ["Removed", diff.removed],
  ] as const) {
    if (items.length === 0) continue;
    lines.push(`### ${heading}`, "", "| Resource | Type |", "| --- | --- |");
    for (const r of items) lines.push(`| \`${r.name}\` | \`${r.type}\` |`);
    lines.push("");
  }
  return `${lines.join("\n").trimEnd()}\n`;
}
