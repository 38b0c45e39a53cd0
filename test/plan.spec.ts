/**
 * The offline plan and its diff: deterministic, honest about unknowns, redacting secrets, and
 * warning about replaced data and loosened security.
 */
import { expect } from "chai";
import { parsePlanCommand } from "../scripts/plan/args";
import { loadStackConfig, PROJECT, StackConfig, withConfig } from "../scripts/plan/harness";
import { stackPlan } from "./plan-cache";
import { buildPlan, toPlanValue } from "../scripts/plan/build";
import { diffMarkdown, diffPlans, PlanDiff, REPLACE_ON_CHANGE } from "../scripts/plan/diff";
import { planMarkdown } from "../scripts/plan/markdown";
import {
  keyOf,
  parsePlan,
  Plan,
  PlanResource,
  planJson,
  SECRET,
  UNKNOWN,
} from "../scripts/plan/model";

const ACCOUNT = "azure-native:storage:StorageAccount";
const CATALOG = "databricks:index/catalog:Catalog";

const find = (plan: Plan, type: string, name?: string): PlanResource => {
  const found = plan.resources.filter((r) => r.type === type && (!name || r.name === name));
  expect(found, `${type} ${name ?? ""}`).to.have.length(1);
  return found[0];
};
const warnings = (diff: PlanDiff, kind: string) =>
  diff.warnings.filter((w) => w.kind === kind).map((w) => `${w.key}: ${w.message}`);

/**
 * One changed dev configuration serves several checks (each program run costs seconds): the
 * owner marked secret, the catalog renamed, and an IP range let through the storage firewall.
 */
let changed: Promise<Plan> | undefined;
function changedPlan(): Promise<Plan> {
  const base = withConfig(loadStackConfig("dev"), {
    owner: "owner-that-is-secret",
    catalogName: "oms_renamed",
    storageAllowedIpRanges: '["203.0.113.0/24"]',
  });
  const config: StackConfig = { ...base, secretKeys: [...base.secretKeys, `${PROJECT}:owner`] };
  changed ??= buildPlan("dev", config);
  return changed;
}

describe("offline plan", () => {
  let dev: Plan;
  before(async () => {
    dev = await stackPlan("dev");
  });

  it("is byte-identical across runs (JSON and Markdown)", async () => {
    const again = await buildPlan("dev");
    expect(planJson(again)).to.equal(planJson(dev));
    expect(planMarkdown(again)).to.equal(planMarkdown(dev));
    expect(planJson(dev)).not.to.match(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/);
  });

  it("round-trips through its JSON file format", () => {
    expect(parsePlan(planJson(dev))).to.deep.equal(dev);
  });

  it("lists every resource with type, name, parent, provider and sorted inputs", () => {
    const account = find(dev, ACCOUNT);
    expect(account.parent).to.equal("oms:storage:LakehouseStorage::oms-dev");
    expect(account.component).to.equal("oms:storage:LakehouseStorage::oms-dev");
    expect(account.provider).to.equal("default");
    expect(account.inputs.isHnsEnabled).to.equal(true);
    const catalog = find(dev, CATALOG);
    expect(catalog.provider).to.equal("pulumi:providers:databricks::oms-dev-provider");
    expect(catalog.inputs.name).to.equal("oms_dev");
    const keys = dev.resources.map((r) => `${r.component}|${keyOf(r)}`);
    expect(keys).to.deep.equal([...keys].sort());
  });

  it("shows values that exist only after deploy as unknown, never as mock values", () => {
    const text = planJson(dev);
    // The mock's workspace host (the account console host is configuration, and stays).
    expect(text).not.to.match(/adb-\d+\.\d+\.azuredatabricks\.net/);
    expect(text).not.to.include("33333333-3333-3333-3333-333333333333");
    expect(dev.outputs.workspaceUrl).to.equal(UNKNOWN);
    expect(find(dev, CATALOG).inputs.storageRoot).to.equal(UNKNOWN);
    const role = dev.resources.find((r) => r.name === "oms-dev-queue-contributor");
    expect(role?.inputs.principalId).to.match(/^\(known after deploy: principal id of /);
    // The firewall stays reviewable although the connector's id is not known yet.
    const rules = find(dev, ACCOUNT).inputs.networkRuleSet as Record<string, unknown>;
    expect(rules.defaultAction).to.equal("Deny");
    // ...and so do the NCC's stable subnets, named by the resource they come from.
    expect(rules.virtualNetworkRules).to.deep.equal([
      {
        action: "Allow",
        virtualNetworkResourceId: "(known after deploy: stable subnets of oms-dev-ncc)",
      },
    ]);
  });

  it("redacts secret configuration and any value carrying it", async () => {
    const plan = await changedPlan();
    expect(plan.config[`${PROJECT}:owner`]).to.equal(SECRET);
    expect(planJson(plan)).not.to.include("owner-that-is-secret");
    expect((find(plan, ACCOUNT).inputs.tags as Record<string, unknown>).owner).to.equal(SECRET);
  });

  it("redacts secret outputs (the SDK's secret wire value)", () => {
    const wire = {
      "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
      value: "x",
    };
    expect(toPlanValue({ password: wire, user: "u" }, [])).to.deep.equal({
      password: SECRET,
      user: "u",
    });
  });
});

describe("plan diff", () => {
  let dev: Plan;
  before(async () => {
    dev = await stackPlan("dev");
  });

  it("reports nothing for identical plans", () => {
    const diff = diffPlans(dev, dev);
    expect(diff.added.length + diff.removed.length + diff.changed.length).to.equal(0);
    expect(diffMarkdown(diff)).to.include("No infrastructure changes.");
  });

  it("warns that a renamed catalog replaces the catalog and its schemas", async () => {
    const diff = diffPlans(dev, await changedPlan());
    const replaced = warnings(diff, "replace");
    expect(replaced).to.include(
      `${CATALOG}::oms-dev-catalog: replace-on-change input: \`name\` "oms_dev" → "oms_renamed"`,
    );
    expect(
      replaced.some((w) => w.startsWith("databricks:index/schema:Schema::oms-dev-gold")),
    ).to.equal(true);
    expect(diffMarkdown(diff)).to.include(
      "**Replaces (data at risk)** `databricks:index/catalog:Catalog::oms-dev-catalog`",
    );
  });

  it("warns that an IP allow-list loosens the storage firewall", async () => {
    const diff = diffPlans(dev, await changedPlan());
    expect(warnings(diff, "security")).to.include(
      `${ACCOUNT}::oms-dev-account: firewall IP rules added: 203.0.113.0/24`,
    );
    expect(warnings(diff, "replace").filter((w) => w.startsWith(ACCOUNT))).to.deep.equal([]);
    const account = diff.changed.find((c) => c.type === ACCOUNT);
    expect(account?.changes.map((c) => c.path)).to.include(
      "networkRuleSet.ipRules[0].iPAddressOrRange",
    );
  });

  it("matches two stacks' resources by name with --rename", async () => {
    const prod = await stackPlan("prod");
    const diff = diffPlans(dev, prod, { renames: [["oms-dev", "oms-prod"]] });
    // prod runs Gold as a continuous task of its ingestion job: dev's Gold job has no match.
    expect(diff.removed.map((r) => r.name).sort()).to.deep.equal([
      "oms-prod-pipeline-gold",
      "oms-prod-pipeline-gold-permissions",
    ]);
    const account = diff.changed.find((c) => c.type === ACCOUNT);
    expect(account?.changes).to.deep.include({ path: "(protect)", before: false, after: true });
    expect(account?.changes).to.deep.include({
      path: "sku.name",
      before: "Standard_LRS",
      after: "Standard_GZRS",
    });
  });

  describe("on hand-built plans", () => {
    const resource = (
      type: string,
      name: string,
      inputs: PlanResource["inputs"],
      protect = false,
    ) =>
      ({
        type,
        name,
        parent: null,
        component: "",
        provider: "default",
        custom: true,
        protect,
        inputs,
      }) as PlanResource;
    const plan = (...resources: PlanResource[]): Plan => ({
      format: "oms-lakehouse-plan/v1",
      project: PROJECT,
      stack: "t",
      config: {},
      resources,
      outputs: {},
    });
    const secure = {
      minimumTlsVersion: "TLS1_2",
      allowSharedKeyAccess: false,
      allowBlobPublicAccess: false,
      networkRuleSet: { defaultAction: "Deny", ipRules: [] },
    };

    it("finds added, removed and changed resources with the changed inputs", () => {
      const before = plan(resource("x:a", "a", { v: 1 }), resource("x:b", "b", { v: 1 }));
      const after = plan(resource("x:b", "b", { v: 2, w: "new" }), resource("x:c", "c", {}));
      const diff = diffPlans(before, after);
      expect(diff.added.map((r) => r.key)).to.deep.equal(["x:c::c"]);
      expect(diff.removed.map((r) => r.key)).to.deep.equal(["x:a::a"]);
      expect(diff.changed).to.have.length(1);
      expect(diff.changed[0].changes).to.deep.equal([
        { path: "v", before: 1, after: 2 },
        { path: "w", before: undefined, after: "new" },
      ]);
      const md = diffMarkdown(diff);
      expect(md).to.include("**1 to add · 1 to change · 1 to remove**");
      expect(md).to.include("| `v` | `1` | `2` |");
    });

    it("warns when a stateful resource is removed", () => {
      const diff = diffPlans(plan(resource(CATALOG, "c", { name: "x" })), plan());
      expect(warnings(diff, "delete")).to.deep.equal([
        `${CATALOG}::c: stateful resource removed from the program`,
      ]);
    });

    it("keeps a documented replace-on-change table for every stateful type", () => {
      for (const type of [
        "azure-native:resources:ResourceGroup",
        ACCOUNT,
        CATALOG,
        "databricks:index/schema:Schema",
        "databricks:index/volume:Volume",
        "databricks:index/externalLocation:ExternalLocation",
        "databricks:index/storageCredential:StorageCredential",
      ]) {
        expect(REPLACE_ON_CHANGE[type], type).to.be.an("array").with.length.above(0);
      }
    });

    const loosened = (
      type: string,
      before: PlanResource["inputs"],
      after: PlanResource["inputs"],
    ) =>
      warnings(
        diffPlans(plan(resource(type, "r", before)), plan(resource(type, "r", after))),
        "security",
      );

    it("flags storage security loosened", () => {
      expect(loosened(ACCOUNT, secure, { ...secure, allowSharedKeyAccess: true })).to.have.length(
        1,
      );
      expect(loosened(ACCOUNT, secure, { ...secure, allowBlobPublicAccess: true })).to.have.length(
        1,
      );
      expect(loosened(ACCOUNT, secure, { ...secure, minimumTlsVersion: "TLS1_0" })).to.deep.equal([
        `${ACCOUNT}::r: minimum TLS lowered to TLS1_0`,
      ]);
      expect(
        loosened(ACCOUNT, secure, {
          ...secure,
          networkRuleSet: { defaultAction: "Allow", ipRules: [] },
        }),
      ).to.deep.equal([`${ACCOUNT}::r: firewall default action is no longer Deny`]);
      expect(
        loosened(ACCOUNT, secure, {
          ...secure,
          networkRuleSet: {
            defaultAction: "Deny",
            ipRules: [],
            virtualNetworkRules: [{ virtualNetworkResourceId: "/subnets/ncc", action: "Allow" }],
          },
        }),
      ).to.deep.equal([`${ACCOUNT}::r: firewall virtual network rules added: /subnets/ncc`]);
      expect(loosened(ACCOUNT, secure, secure)).to.deep.equal([]);
    });

    it("flags public access on the workspace and containers, and an opened catalog", () => {
      const ws = "azure-native:databricks:Workspace";
      expect(
        loosened(
          ws,
          { parameters: { enableNoPublicIp: { value: true } } },
          { parameters: { enableNoPublicIp: { value: false } } },
        ),
      ).to.have.length(1);
      expect(
        loosened(
          "azure-native:storage:BlobContainer",
          { publicAccess: "None" },
          { publicAccess: "Blob" },
        ),
      ).to.have.length(1);
      expect(
        loosened(CATALOG, { isolationMode: "ISOLATED" }, { isolationMode: "OPEN" }),
      ).to.have.length(1);
    });

    it("flags widened grants and permissions, and removed protection", () => {
      const grants = "databricks:index/grants:Grants";
      const g = (...entries: [string, string[]][]) => ({
        catalog: "c",
        grants: entries.map(([principal, privileges]) => ({ principal, privileges })),
      });
      expect(
        loosened(grants, g(["a", ["USE_CATALOG"]]), g(["a", ["USE_CATALOG", "MODIFY"]])),
      ).to.deep.equal([`${grants}::r: grants widened: a gains MODIFY`]);
      expect(
        loosened(
          grants,
          g(["a", ["USE_CATALOG"]]),
          g(["a", ["USE_CATALOG"]], ["account users", ["BROWSE"]]),
        ),
      ).to.deep.equal([`${grants}::r: grants widened: new principal account users with BROWSE`]);
      expect(
        loosened(grants, g(["a", ["USE_CATALOG", "MODIFY"]]), g(["a", ["USE_CATALOG"]])),
      ).to.deep.equal([]);
      const perms = "databricks:index/permissions:Permissions";
      const p = (level: string) => ({
        accessControls: [{ groupName: "g", permissionLevel: level }],
      });
      expect(loosened(perms, p("CAN_USE"), p("CAN_MANAGE"))).to.deep.equal([
        `${perms}::r: permissions widened: g now CAN_MANAGE`,
      ]);
      const unprotected = diffPlans(
        plan(resource(ACCOUNT, "r", secure, true)),
        plan(resource(ACCOUNT, "r", secure)),
      );
      expect(warnings(unprotected, "security")).to.deep.equal([
        `${ACCOUNT}::r: \`protect\` removed`,
      ]);
    });
  });
});

describe("plan command line", () => {
  const refused = (argv: string[]) => {
    try {
      parsePlanCommand(argv);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error(`accepted: ${argv.join(" ")}`);
  };

  it("parses each command", () => {
    expect(
      parsePlanCommand(["build", "--stack", "dev", "--set", "a=1", "--set=b=2"]),
    ).to.deep.equal({
      command: "build",
      stack: "dev",
      out: undefined,
      set: [
        ["a", "1"],
        ["b", "2"],
      ],
    });
    expect(
      parsePlanCommand(["diff", "a.json", "b.json", "--rename", "oms-dev=oms-prod"]),
    ).to.deep.include({
      base: "a.json",
      head: "b.json",
      renames: [["oms-dev", "oms-prod"]],
    });
    expect(parsePlanCommand(["policy", "a.json", "b.json", "--out", "p.md"])).to.deep.include({
      plans: ["a.json", "b.json"],
      out: "p.md",
    });
  });

  it("refuses an unknown option, a repeated one, a missing value or positional, naming it", () => {
    expect(refused(["build", "--stack", "dev", "--bogus", "x"])).to.match(/--bogus/);
    expect(refused(["build", "--bogus", "x"])).to.match(/--bogus/);
    expect(refused(["build", "--stack", "dev", "--stack", "prod"])).to.include(
      "--stack given 2 times (dev, prod): give it once",
    );
    expect(refused(["build", "--stack"])).to.match(/--stack/);
    expect(refused(["build"])).to.include("--stack <name> is required");
    expect(refused(["build", "--stack", "dev", "--set", "novalue"])).to.include(
      "--set expects key=value",
    );
    expect(refused(["diff", "a.json"])).to.include("expected 2 plan files, got 1");
    expect(refused(["policy"])).to.include("no plan file given");
    expect(refused(["deploy"])).to.include("usage: plan.ts build|diff|policy");
  });

  it("names the stacks there are when asked for one that is not", () => {
    expect(() => loadStackConfig("nope")).to.throw(
      /no stack "nope": .*Pulumi\.nope\.yaml does not exist; the stacks: dev, prod/,
    );
  });
});
