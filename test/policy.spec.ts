/**
 * The policy rules: each fires on a violating resource and stays quiet on a compliant one; the
 * pack wraps the same functions; and every stack's offline plan passes.
 */
import * as fs from "fs";
import { expect } from "chai";
import { ROOT } from "../scripts/plan/harness";
import {
  checkResources,
  Props,
  RESOURCE_RULES,
  RuleContext,
  STACK_RULES,
  TYPES,
} from "../policy/rules";
import { packPolicies } from "../policy/pack";
import { stackPlan } from "./plan-cache";
import { checkPlan, planFreshness, violationsMarkdown } from "../scripts/plan/policy";
import { planMarkdown } from "../scripts/plan/markdown";
import { freshnessBound, OBJECTIVE_TAG } from "../policy/freshness";
import type { ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";

interface Case {
  readonly type: string;
  readonly good: Props;
  readonly bad: Props;
  readonly context?: RuleContext;
  readonly badContext?: RuleContext;
}

const account: Props = {
  isHnsEnabled: true,
  minimumTlsVersion: "TLS1_2",
  enableHttpsTrafficOnly: true,
  allowSharedKeyAccess: false,
  allowBlobPublicAccess: false,
  allowCrossTenantReplication: false,
  networkRuleSet: { defaultAction: "Deny", ipRules: [{ iPAddressOrRange: "203.0.113.0/24" }] },
  tags: { project: "p", environment: "dev", owner: "o" },
};
const retention = { enabled: true, days: 7 };
const workspace: Props = {
  sku: { name: "premium" },
  parameters: { enableNoPublicIp: { value: true } },
  tags: account.tags,
};
const grants = (principal: string, ...privileges: string[]): Props => ({
  catalog: "oms_dev",
  grants: [{ principal, privileges }],
});
const job: Props = {
  runAs: { servicePrincipalName: "00000000-0000-0000-0000-000000000001" },
  health: { rules: [{ metric: "RUN_DURATION_SECONDS", op: "GREATER_THAN", value: 1800 }] },
  emailNotifications: { onFailures: ["team@example.com"] },
  maxConcurrentRuns: 1,
};
const warehouse: Props = { enableServerlessCompute: true, warehouseType: "PRO", autoStopMins: 10 };
const prod: RuleContext = { stack: "prod", protect: true };
const namespace: Props = {
  namespaceName: "oms-events-dev",
  sku: { name: "Standard", tier: "Standard", capacity: 1 },
  kafkaEnabled: true,
  disableLocalAuth: true,
  minimumTlsVersion: "1.2",
  publicNetworkAccess: "Enabled",
};
const ehNetwork: Props = {
  namespaceName: "oms-events-dev",
  defaultAction: "Deny",
  publicNetworkAccess: "Enabled",
  ipRules: [{ ipMask: "203.0.113.0/24", action: "Allow" }],
};

/** One passing and one failing resource per rule. */
const CASES: Record<string, Case> = {
  "storage-hns-enabled": {
    type: TYPES.storageAccount,
    good: account,
    bad: { ...account, isHnsEnabled: false },
  },
  "storage-min-tls-1-2": {
    type: TYPES.storageAccount,
    good: account,
    bad: { ...account, minimumTlsVersion: "TLS1_1" },
  },
  "storage-https-only": {
    type: TYPES.storageAccount,
    good: account,
    bad: { ...account, enableHttpsTrafficOnly: false },
  },
  "storage-shared-key-disabled": {
    type: TYPES.storageAccount,
    good: account,
    bad: { ...account, allowSharedKeyAccess: undefined },
  },
  "storage-no-public-blob-access": {
    type: TYPES.storageAccount,
    good: account,
    bad: { ...account, allowBlobPublicAccess: true },
  },
  "storage-network-default-deny": {
    type: TYPES.storageAccount,
    good: account,
    bad: { ...account, networkRuleSet: { defaultAction: "Allow" } },
  },
  "storage-no-broad-ip-rules": {
    type: TYPES.storageAccount,
    good: account,
    bad: {
      ...account,
      networkRuleSet: { defaultAction: "Deny", ipRules: [{ iPAddressOrRange: "0.0.0.0/0" }] },
    },
  },
  "storage-no-cross-tenant-replication": {
    type: TYPES.storageAccount,
    good: account,
    bad: { ...account, allowCrossTenantReplication: true },
  },
  "storage-soft-delete": {
    type: TYPES.blobService,
    good: { deleteRetentionPolicy: retention, containerDeleteRetentionPolicy: retention },
    bad: { deleteRetentionPolicy: { enabled: true, days: 1 } },
  },
  "storage-container-private": {
    type: TYPES.container,
    good: { publicAccess: "None" },
    bad: { publicAccess: "Container" },
  },
  "workspace-no-public-ip": {
    type: TYPES.workspace,
    good: workspace,
    bad: { ...workspace, parameters: { enableNoPublicIp: { value: false } } },
  },
  "workspace-premium": {
    type: TYPES.workspace,
    good: workspace,
    bad: { ...workspace, sku: { name: "standard" } },
  },
  "uc-no-admin-privileges-to-broad-groups": {
    type: TYPES.grants,
    good: grants("oms-data-engineers", "ALL_PRIVILEGES"),
    bad: grants("account users", "ALL_PRIVILEGES"),
  },
  "uc-no-write-privileges-to-broad-groups": {
    type: TYPES.grants,
    good: grants("account users", "USE_CATALOG", "BROWSE"),
    bad: grants("users", "MODIFY"),
  },
  "uc-grants-to-groups": {
    type: TYPES.grant,
    good: { catalog: "c", principal: "oms-analysts", privileges: ["USE_CATALOG"] },
    bad: { catalog: "c", principal: "someone@example.com", privileges: ["USE_CATALOG"] },
  },
  "uc-no-path-privileges": {
    type: TYPES.grants,
    good: {
      externalLocation: "oms_dev_landing",
      grants: [{ principal: "g", privileges: ["BROWSE"] }],
    },
    bad: {
      externalLocation: "oms_dev_landing",
      grants: [{ principal: "g", privileges: ["READ_FILES"] }],
    },
  },
  "uc-catalog-isolated": {
    type: TYPES.catalog,
    good: { isolationMode: "ISOLATED", storageRoot: "abfss://x" },
    bad: { isolationMode: "OPEN", storageRoot: "abfss://x" },
  },
  "uc-catalog-own-storage": {
    type: TYPES.catalog,
    good: { isolationMode: "ISOLATED", storageRoot: "(known after deploy)" },
    bad: { isolationMode: "ISOLATED" },
  },
  "uc-credential-managed-identity": {
    type: TYPES.storageCredential,
    good: { azureManagedIdentity: { accessConnectorId: "id" } },
    bad: { azureServicePrincipal: { applicationId: "a", clientSecret: "[secret]" } },
  },
  "job-run-as-service-principal": {
    type: TYPES.job,
    good: job,
    bad: { ...job, runAs: { userName: "someone@example.com" } },
  },
  "job-health-rules": { type: TYPES.job, good: job, bad: { ...job, health: undefined } },
  "job-failure-notifications": {
    type: TYPES.job,
    good: {
      ...job,
      emailNotifications: undefined,
      webhookNotifications: { onFailures: [{ id: "x" }] },
    },
    bad: { ...job, emailNotifications: { onSuccesses: ["a@example.com"] } },
  },
  "job-trigger-cannot-starve": {
    type: TYPES.job,
    good: { ...job, trigger: { fileArrival: { url: "/v/", minTimeBetweenTriggersSeconds: 60 } } },
    bad: {
      ...job,
      trigger: { tableUpdate: { tableNames: ["c.s.t"], waitAfterLastChangeSeconds: 60 } },
    },
  },
  "job-single-concurrent-run": {
    type: TYPES.job,
    good: job,
    bad: { ...job, maxConcurrentRuns: 4 },
  },
  "warehouse-auto-stop": {
    type: TYPES.warehouse,
    good: warehouse,
    bad: { ...warehouse, autoStopMins: 0 },
  },
  "warehouse-serverless-pro": {
    type: TYPES.warehouse,
    good: warehouse,
    bad: { ...warehouse, warehouseType: "CLASSIC", enableServerlessCompute: false },
  },
  "permissions-no-broad-groups": {
    type: TYPES.permissions,
    good: { accessControls: [{ groupName: "oms-analysts", permissionLevel: "CAN_MANAGE" }] },
    bad: { accessControls: [{ groupName: "users", permissionLevel: "CAN_USE" }] },
  },
  "no-plain-secrets": {
    type: "databricks:index/secret:Secret",
    good: { key: "api", scope: "s", stringValue: "[secret]" },
    bad: { key: "api", scope: "s", stringValue: "hunter2" },
  },
  "azure-required-tags": {
    type: TYPES.resourceGroup,
    good: { tags: account.tags },
    bad: { tags: { project: "p" } },
  },
  "prod-protect-stateful": {
    type: TYPES.catalog,
    good: { isolationMode: "ISOLATED" },
    bad: { isolationMode: "ISOLATED" },
    context: prod,
    badContext: { stack: "prod", protect: false },
  },
  "prod-storage-no-public-network-access": {
    type: TYPES.storageAccount,
    good: { ...account, publicNetworkAccess: "Disabled" },
    bad: { ...account, publicNetworkAccess: "Enabled" },
    context: prod,
  },
  "ncc-connection-approved": {
    type: TYPES.privateEndpointConnection,
    good: { privateLinkServiceConnectionState: { status: "Approved", description: "d" } },
    bad: { privateLinkServiceConnectionState: { status: "Pending", description: "d" } },
  },
  "nsg-no-inbound-from-internet": {
    type: TYPES.networkSecurityGroup,
    good: {
      securityRules: [
        {
          name: "vnet",
          direction: "Inbound",
          access: "Allow",
          sourceAddressPrefix: "VirtualNetwork",
        },
        { name: "deny", direction: "Inbound", access: "Deny", sourceAddressPrefix: "Internet" },
        { name: "out", direction: "Outbound", access: "Allow", sourceAddressPrefix: "*" },
      ],
    },
    bad: {
      securityRules: [
        { name: "ssh", direction: "Inbound", access: "Allow", sourceAddressPrefix: "Internet" },
      ],
    },
  },
  "eventhubs-local-auth-disabled": {
    type: TYPES.eventHubsNamespace,
    good: namespace,
    bad: { ...namespace, disableLocalAuth: undefined },
  },
  "eventhubs-min-tls-1-2": {
    type: TYPES.eventHubsNamespace,
    good: namespace,
    bad: { ...namespace, minimumTlsVersion: "1.0" },
  },
  "eventhubs-no-sas-keys": {
    type: TYPES.job,
    good: job,
    bad: {
      ...job,
      tasks: [
        { taskKey: "t", sparkPythonTask: { parameters: ["--key", "RootManageSharedAccessKey"] } },
      ],
    },
  },
  "eventhubs-network-default-deny": {
    type: TYPES.eventHubsNetworkRuleSet,
    good: ehNetwork,
    bad: { ...ehNetwork, defaultAction: "Allow" },
  },
  "eventhubs-no-broad-ip-rules": {
    type: TYPES.eventHubsNetworkRuleSet,
    good: ehNetwork,
    bad: { ...ehNetwork, ipRules: [{ ipMask: "0.0.0.0/0", action: "Allow" }] },
  },
  "prod-no-force-destroy": {
    type: TYPES.schema,
    good: { forceDestroy: false },
    bad: { forceDestroy: true },
    context: prod,
  },
};

describe("policy rules", () => {
  it("has at least 20 rules, each with a unique id and a test case", () => {
    const ids = RESOURCE_RULES.map((r) => r.id);
    expect(ids.length + STACK_RULES.length).to.be.at.least(20);
    expect(new Set(ids).size).to.equal(ids.length);
    expect(Object.keys(CASES).sort()).to.deep.equal([...ids].sort());
  });

  for (const rule of RESOURCE_RULES) {
    const c = CASES[rule.id];
    it(`${rule.id}: fires on a violating resource, quiet on a compliant one`, () => {
      expect(rule.validate(c.type, c.good, c.context), "compliant").to.deep.equal([]);
      expect(
        rule.validate(c.type, c.bad, c.badContext ?? c.context),
        "violating",
      ).to.have.length.above(0);
    });
  }

  it("leaves other resource types and unknown values alone", () => {
    for (const rule of RESOURCE_RULES) {
      expect(rule.validate("x:y:Z", { any: "thing" }, prod), rule.id).to.deep.equal([]);
    }
    const storage = RESOURCE_RULES.find((r) => r.id === "storage-network-default-deny");
    const unknown = { networkRuleSet: { defaultAction: "(known after deploy)" } };
    expect(storage?.validate(TYPES.storageAccount, unknown)).to.deep.equal([]);
  });

  it("eventhubs-no-sas-keys: any authorization rule is a violation, whatever its rights", () => {
    const rule = RESOURCE_RULES.find((r) => r.id === "eventhubs-no-sas-keys");
    if (!rule) throw new Error("no eventhubs-no-sas-keys rule");
    for (const type of [
      TYPES.eventHubsNamespaceAuthorizationRule,
      TYPES.eventHubAuthorizationRule,
    ]) {
      expect(rule.validate(type, { rights: ["Listen"] }), type).to.deep.equal([
        `${type.split(":").pop()} declares a SAS key; grant an Azure Event Hubs Data Sender or Receiver role instead`,
      ]);
    }
    expect(rule.validate(TYPES.eventHubsNamespace, namespace)).to.deep.equal([]);
  });

  it("uc-credential-managed-identity: covers service credentials too", () => {
    const rule = RESOURCE_RULES.find((r) => r.id === "uc-credential-managed-identity");
    if (!rule) throw new Error("no uc-credential-managed-identity rule");
    const service = { name: "c", purpose: "SERVICE" };
    expect(
      rule.validate(TYPES.credential, {
        ...service,
        azureManagedIdentity: { accessConnectorId: "id" },
      }),
    ).to.deep.equal([]);
    expect(
      rule.validate(TYPES.credential, {
        ...service,
        azureServicePrincipal: { applicationId: "a", clientSecret: "[secret]" },
      }),
    ).to.have.length(1);
  });

  describe("prod-eventhubs-as-tight-as-storage", () => {
    const rule = STACK_RULES.find((r) => r.id === "prod-eventhubs-as-tight-as-storage");
    if (!rule) throw new Error("no prod-eventhubs-as-tight-as-storage rule");
    const lake = (publicNetworkAccess: string) => ({
      type: TYPES.storageAccount,
      name: "lake",
      props: { ...account, publicNetworkAccess },
    });
    const events = (publicNetworkAccess: string, ipMask = "203.0.113.0/24") => [
      { type: TYPES.eventHubsNamespace, name: "ns", props: { ...namespace, publicNetworkAccess } },
      {
        type: TYPES.eventHubsNetworkRuleSet,
        name: "fw",
        props: { ...ehNetwork, publicNetworkAccess, ipRules: [{ ipMask, action: "Allow" }] },
      },
    ];

    it("passes a closed namespace beside a closed lake, and an open one whose addresses the lake admits", () => {
      expect(rule.validate([lake("Disabled"), ...events("Disabled")], prod)).to.deep.equal([]);
      expect(rule.validate([lake("Enabled"), ...events("Enabled")], prod)).to.deep.equal([]);
    });

    it("fails public access the lake does not have, and an address the lake refuses", () => {
      expect(
        rule.validate([lake("Disabled"), ...events("Enabled")], prod).map((v) => v.name),
      ).to.deep.equal(["ns", "fw"]);
      expect(
        rule.validate([lake("Enabled"), ...events("Enabled", "198.51.100.7")], prod),
      ).to.deep.equal([
        {
          name: "fw",
          message:
            "IP rule 198.51.100.7 is not admitted by the storage firewall; the namespace admits no address the lake refuses",
        },
      ]);
    });

    it("applies in prod only", () => {
      expect(
        rule.validate([lake("Disabled"), ...events("Enabled")], { stack: "dev" }),
      ).to.deep.equal([]);
    });
  });

  it("job-trigger-cannot-starve: names each starving trigger shape, passes throttled ones", () => {
    const rule = RESOURCE_RULES.find((r) => r.id === "job-trigger-cannot-starve");
    if (!rule) throw new Error("no job-trigger-cannot-starve rule");
    const check = (trigger: unknown) => rule.validate(TYPES.job, { ...job, trigger });
    const url = "/Volumes/c/ops/landing/";
    expect(check({ fileArrival: { url, waitAfterLastChangeSeconds: 60 } })).to.deep.equal([
      "trigger.fileArrival.waitAfterLastChangeSeconds is 60: every arrival restarts that wait, so a steady feed arriving more often never starts a run; remove it and space runs with minTimeBetweenTriggersSeconds",
    ]);
    const tables = { tableNames: ["c.silver.t"], condition: "ANY_UPDATED" };
    expect(check({ tableUpdate: { ...tables, waitAfterLastChangeSeconds: 600 } })[0]).to.match(
      /^trigger\.tableUpdate\.waitAfterLastChangeSeconds is 600:/,
    );
    expect(check({ model: { condition: "x", waitAfterLastChangeSeconds: 60 } })).to.have.length(1);
    for (const ok of [
      { fileArrival: { url, minTimeBetweenTriggersSeconds: 60 } },
      { tableUpdate: { ...tables, minTimeBetweenTriggersSeconds: 300 } },
      { periodic: { interval: 3, unit: "HOURS" } },
      undefined,
    ]) {
      expect(check(ok), JSON.stringify(ok)).to.deep.equal([]);
    }
  });

  describe("freshness-bound-within-objective", () => {
    const rule = STACK_RULES.find((r) => r.id === "freshness-bound-within-objective");
    if (!rule) throw new Error("no freshness-bound-within-objective rule");
    const task = (taskKey: string, entryPoint: string, trigger: string[]) => ({
      taskKey,
      pythonWheelTask: { entryPoint, parameters: ["--catalog", "c", ...trigger] },
    });
    const serverless = (t: object) => ({ ...t, environmentKey: "oms_pipeline" });
    const every = (interval: string) => [
      "--trigger",
      "processingTime",
      "--processing-time",
      interval,
    ];
    /** A continuous ingestion job running ingest (bronze and silver) and Gold at the given intervals. */
    const continuous = (intervals: string[], objective: string | null = "60") => ({
      type: TYPES.job,
      name: "ingestion",
      props: {
        ...job,
        continuous: { taskRetryMode: "ON_FAILURE" },
        jobClusters: [{ jobClusterKey: "pipeline" }],
        tags: objective === null ? {} : { [OBJECTIVE_TAG]: objective },
        tasks: [
          task("gold_refresh", "oms-gold-refresh", every(intervals[1])),
          task("ingest", "oms-ingest", every(intervals[0])),
          task("landing_files", "oms-ingest", ["--files-report-only", ...every("5 minutes")]),
        ],
      },
    });
    const triggered = (trigger: Record<string, unknown>, objective = "900") => [
      {
        type: TYPES.job,
        name: "ingestion",
        props: {
          ...job,
          tags: { [OBJECTIVE_TAG]: objective },
          trigger: { fileArrival: { url: "/v/", minTimeBetweenTriggersSeconds: 60 } },
          tasks: [task("ingest", "oms-ingest", ["--trigger", "availableNow"])].map(serverless),
        },
      },
      {
        type: TYPES.job,
        name: "gold",
        props: {
          ...job,
          tags: { [OBJECTIVE_TAG]: objective },
          trigger,
          tasks: [task("gold_refresh", "oms-gold-refresh", ["--trigger", "availableNow"])].map(
            serverless,
          ),
        },
      },
    ];
    const tables = { tableNames: ["c.silver.t"], condition: "ANY_UPDATED" };

    it("passes two 10 s intervals with their budgets against 60 s (no start-up: always on)", () => {
      const jobs = [continuous(["10 seconds", "10 seconds"])];
      expect(rule.validate(jobs)).to.deep.equal([]);
      const bound = freshnessBound(jobs);
      expect(bound.boundSeconds).to.equal(40);
      // Bronze and silver in one micro-batch: one interval and one batch budget, then Gold's.
      // The landing-file report shares the ingest entry point but is not on the path.
      expect(bound.terms).to.deep.equal([
        {
          term: "ingestion / ingest: next processing-time boundary",
          seconds: 10,
          source: "declared",
        },
        { term: "ingestion / ingest: micro-batch / refresh", seconds: 10, source: "budget" },
        {
          term: "ingestion / gold_refresh: next processing-time boundary",
          seconds: 10,
          source: "declared",
        },
        { term: "ingestion / gold_refresh: micro-batch / refresh", seconds: 10, source: "budget" },
      ]);
      expect(bound.problems).to.deep.equal([]);
    });

    it("fails a continuous stack whose intervals add up past the objective, naming the bound", () => {
      const slow = [continuous(["30 seconds", "1 minute"])];
      expect(freshnessBound(slow).boundSeconds).to.equal(30 + 60 + 2 * 10);
      expect(rule.validate(slow)).to.deep.equal([
        {
          message:
            "worst-case landing -> Gold is 110 s, over the objective of 60 s; largest term: ingestion / gold_refresh: next processing-time boundary (60 s)",
        },
      ]);
    });

    it("names a missing ingest stage and makes the bound unbounded", () => {
      const goldOnly = continuous(["10 seconds", "10 seconds"]);
      const tasks = goldOnly.props.tasks.filter((t) => t.taskKey === "gold_refresh");
      const bound = freshnessBound([{ ...goldOnly, props: { ...goldOnly.props, tasks } }]);
      expect(bound.problems).to.deep.equal(["no job runs the ingest stage (oms-ingest)"]);
      expect(bound.boundSeconds).to.equal(Infinity);
    });

    it("counts trigger, run in flight, start-up and run for triggered jobs", () => {
      const ok = triggered({ tableUpdate: { ...tables, minTimeBetweenTriggersSeconds: 300 } });
      expect(freshnessBound(ok).boundSeconds).to.equal(300 + 480);
      expect(rule.validate(ok)).to.deep.equal([]);
      const tight = triggered(
        { tableUpdate: { ...tables, minTimeBetweenTriggersSeconds: 300 } },
        "600",
      );
      expect(rule.validate(tight)[0].message).to.match(
        /^worst-case landing -> Gold is 780 s, over the objective of 600 s/,
      );
      // A classic job cluster starts from cold for every triggered run.
      const onCluster = ok.map((j) => ({
        ...j,
        props: {
          ...j.props,
          tasks: (j.props.tasks as object[]).map((t) => ({
            ...t,
            environmentKey: undefined,
            jobClusterKey: "pipeline",
          })),
        },
      }));
      expect(freshnessBound(onCluster).terms.map((t) => t.term)).to.include(
        "gold: new job cluster start-up",
      );
    });

    it("fails a starvable trigger as unbounded, and a stack declaring no objective", () => {
      const starving = triggered({ tableUpdate: { ...tables, waitAfterLastChangeSeconds: 60 } });
      expect(freshnessBound(starving).boundSeconds).to.equal(Infinity);
      expect(rule.validate(starving)[0].message).to.match(
        /^worst-case landing -> Gold is unbounded, over the objective of 900 s; largest term: gold: trigger\.tableUpdate\.waitAfterLastChangeSeconds 60/,
      );
      expect(rule.validate([continuous(["10 seconds", "10 seconds"], null)])).to.deep.equal([
        { message: `no job declares the tag ${OBJECTIVE_TAG}; the bound cannot be judged` },
      ]);
      // A stack without the Gold stage (a component test, say) is not judged.
      expect(rule.validate([{ type: TYPES.job, name: "other", props: job }])).to.deep.equal([]);
    });
  });

  it("protection and force-destroy rules apply in prod only", () => {
    const protect = RESOURCE_RULES.find((r) => r.id === "prod-protect-stateful");
    expect(protect?.validate(TYPES.catalog, {}, { stack: "dev", protect: false })).to.deep.equal(
      [],
    );
  });

  it("uc-one-grants-per-securable: one Grants per securable across the stack", () => {
    const rule = STACK_RULES.find((r) => r.id === "uc-one-grants-per-securable");
    const g = (name: string, securable: Props) => ({ type: TYPES.grants, name, props: securable });
    expect(rule?.validate([g("a", { catalog: "c" }), g("b", { schema: "c.s" })])).to.deep.equal([]);
    expect(rule?.validate([g("a", { catalog: "c" }), g("b", { catalog: "c" })])).to.deep.equal([
      { name: "b", message: "catalog=c already has Grants a" },
    ]);
  });

  describe("serverless-egress-admitted", () => {
    const rule = STACK_RULES.find((r) => r.id === "serverless-egress-admitted");
    const r = (type: string, name: string, props: Props = {}) => ({ type, name, props });
    const warehouse = r(TYPES.warehouse, "wh", { enableServerlessCompute: true });
    const binding = r(TYPES.nccBinding, "binding", { workspaceId: "1" });
    const firewall = (extra: Props) =>
      r(TYPES.storageAccount, "lake", {
        networkRuleSet: { defaultAction: "Deny", virtualNetworkRules: [] },
        ...extra,
      });
    const bySubnet = firewall({
      networkRuleSet: {
        defaultAction: "Deny",
        virtualNetworkRules: [{ virtualNetworkResourceId: "/subscriptions/x/subnets/s" }],
      },
    });
    const rulesTo = (...groups: string[]) =>
      groups.map((g) => r(TYPES.nccPrivateEndpointRule, `rule-${g}`, { groupId: g }));
    const approvals = (n: number) =>
      Array.from({ length: n }, (_, i) => r(TYPES.privateEndpointConnection, `approval-${i}`));
    const closed = firewall({ publicNetworkAccess: "Disabled" });

    it("passes with a binding and the NCC's subnets in the firewall", () => {
      expect(rule?.validate([warehouse, binding, bySubnet])).to.deep.equal([]);
    });

    it("passes with a binding and approved private endpoints to dfs and blob", () => {
      expect(
        rule?.validate([warehouse, binding, closed, ...rulesTo("dfs", "blob"), ...approvals(2)]),
      ).to.deep.equal([]);
    });

    it("passes when the subnets are only known after deploy (a real preview)", () => {
      const unknown = firewall({
        networkRuleSet: { defaultAction: "Deny", virtualNetworkRules: "(known after deploy)" },
      });
      expect(rule?.validate([warehouse, binding, unknown])).to.deep.equal([]);
    });

    it("passes a stack without serverless compute", () => {
      expect(rule?.validate([r(TYPES.warehouse, "wh", {}), firewall({})])).to.deep.equal([]);
    });

    it("fails without a binding, naming the serverless compute", () => {
      const job = r(TYPES.job, "ingest", { environments: [{ environmentKey: "default" }] });
      const found = rule?.validate([warehouse, job, bySubnet]) ?? [];
      expect(found).to.have.length(1);
      expect(found[0].message).to.contain("serverless compute (wh, ingest) cannot reach the lake");
      expect(found[0].message).to.contain("no network connectivity configuration is bound");
    });

    it("fails when the firewall admits nothing of the NCC", () => {
      const [v] = rule?.validate([warehouse, binding, firewall({})]) ?? [];
      expect(v?.message).to.contain("storage account lake admits neither the NCC's stable subnets");
    });

    it("fails with subnets but public network access disabled, or a missing endpoint or approval", () => {
      const subnetsButClosed = firewall({
        publicNetworkAccess: "Disabled",
        networkRuleSet: (bySubnet.props as { networkRuleSet: unknown }).networkRuleSet,
      });
      expect(rule?.validate([warehouse, binding, subnetsButClosed])?.[0]?.message).to.contain(
        "ignored with public network access disabled",
      );
      expect(
        rule?.validate([warehouse, binding, closed, ...rulesTo("dfs"), ...approvals(1)])?.[0]
          ?.message,
      ).to.contain("approved NCC private endpoints to blob");
      expect(
        rule?.validate([warehouse, binding, closed, ...rulesTo("dfs", "blob"), ...approvals(1)]),
      ).to.have.length(1);
    });
  });

  describe("storage-vnet-rules-ncc-subnets-only", () => {
    const rule = STACK_RULES.find((r) => r.id === "storage-vnet-rules-ncc-subnets-only");
    const r = (type: string, name: string, props: Props = {}) => ({ type, name, props });
    const nccSubnet =
      "/subscriptions/d/resourceGroups/r/providers/Microsoft.Network/virtualNetworks/kaas-vnet/subnets/worker-subnet";
    const ncc = (known: boolean) =>
      r(TYPES.ncc, "oms-dev-ncc", {
        name: "oms-dev-ncc",
        ...(known
          ? {
              egressConfig: {
                defaultRules: { azureServiceEndpointRule: { subnets: [nccSubnet] } },
              },
            }
          : {}),
      });
    const lake = (...ids: string[]) =>
      r(TYPES.storageAccount, "lake", {
        networkRuleSet: {
          defaultAction: "Deny",
          virtualNetworkRules: ids.map((id) => ({ virtualNetworkResourceId: id, action: "Allow" })),
        },
      });

    it("passes the NCC's subnets, before deploy (the plan's placeholder) and after (known ids)", () => {
      expect(
        rule?.validate([ncc(false), lake("(known after deploy: stable subnets of oms-dev-ncc)")]),
      ).to.deep.equal([]);
      expect(rule?.validate([ncc(true), lake(nccSubnet.toUpperCase())])).to.deep.equal([]);
      expect(rule?.validate([ncc(false), lake()])).to.deep.equal([]);
    });

    it("fails a subnet that is not the NCC's, beside or instead of its subnets", () => {
      const other =
        "/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/virtualNetworks/v/subnets/s";
      // (A) a broader rule beside the NCC's subnets
      const [beside] = rule?.validate([ncc(true), lake(nccSubnet, other)]) ?? [];
      expect(beside?.message).to.equal(
        `storage account lake: virtual network rule ${other} is not one of the NCC's stable subnets`,
      );
      // (B) the NCC's subnets replaced by an unrelated subnet, known or only known after deploy
      expect(rule?.validate([ncc(false), lake(other)])?.[0]?.message).to.contain(
        "cannot be one of them",
      );
      expect(
        rule?.validate([ncc(false), lake("(known after deploy: id of oms-prod-host)")])?.[0]
          ?.message,
      ).to.contain("does not come from the NCC's stable subnets");
    });
  });

  describe("ncc-private-endpoints-to-lake-only", () => {
    const rule = STACK_RULES.find((r) => r.id === "ncc-private-endpoints-to-lake-only");
    const r = (type: string, name: string, props: Props = {}) => ({ type, name, props });
    const lake = r(TYPES.storageAccount, "oms-prod-account", { accountName: "omslakeprod" });
    const peRule = (groupId: string, resourceId: string) =>
      r(TYPES.nccPrivateEndpointRule, `rule-${groupId}`, { groupId, resourceId });
    const lakeId =
      "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/omslakeprod";

    it("passes dfs and blob rules to the lake, before deploy and after", () => {
      const before = "(known after deploy: id of oms-prod-account)";
      expect(rule?.validate([lake, peRule("dfs", before), peRule("blob", before)])).to.deep.equal(
        [],
      );
      expect(rule?.validate([lake, peRule("dfs", lakeId), peRule("blob", lakeId)])).to.deep.equal(
        [],
      );
      expect(rule?.validate([lake])).to.deep.equal([]);
    });

    it("fails a rule to another resource, another group id, or a missing group", () => {
      const other = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/servers/db";
      const [target] = rule?.validate([lake, peRule("dfs", lakeId), peRule("blob", other)]) ?? [];
      expect(target?.message).to.equal(
        `NCC private endpoint rule rule-blob targets "${other}", not the stack's storage account`,
      );
      expect(
        rule?.validate([
          lake,
          peRule("dfs", lakeId),
          peRule("blob", lakeId),
          peRule("queue", lakeId),
        ])?.[0]?.message,
      ).to.contain('has group id "queue"; allowed: dfs, blob');
      expect(rule?.validate([lake, peRule("dfs", lakeId)])?.[0]?.message).to.contain(
        "lack group id blob",
      );
      expect(
        rule?.validate([
          lake,
          peRule("dfs", "(known after deploy: id of oms-prod-other)"),
          peRule("blob", lakeId),
        ]),
      ).to.have.length(1);
    });
  });

  describe("private-endpoint-dns-zone-link", () => {
    const rule = STACK_RULES.find((r) => r.id === "private-endpoint-dns-zone-link");
    const endpoint = {
      type: TYPES.privateEndpoint,
      name: "pe",
      props: { privateEndpointName: "lake-dfs-pe" },
    };
    const group = {
      type: TYPES.privateDnsZoneGroup,
      name: "pe-dns",
      props: {
        privateEndpointName: "lake-dfs-pe",
        privateDnsZoneConfigs: [{ name: "dfs", privateDnsZoneId: "z" }],
      },
    };
    const zone = {
      type: TYPES.privateZone,
      name: "zone",
      props: { privateZoneName: "privatelink.dfs.core.windows.net" },
    };
    const link = {
      type: TYPES.virtualNetworkLink,
      name: "zone-link",
      props: {
        privateZoneName: "privatelink.dfs.core.windows.net",
        virtualNetwork: { id: "vnet" },
      },
    };

    it("passes an endpoint with its zone group and a zone linked to the VNet", () => {
      expect(rule?.validate([endpoint, group, zone, link])).to.deep.equal([]);
    });

    it("fails an endpoint without a DNS zone group", () => {
      expect(rule?.validate([endpoint, zone, link])).to.deep.equal([
        {
          name: "pe",
          message:
            "private endpoint lake-dfs-pe has no DNS zone group: its name resolves to the public endpoint",
        },
      ]);
    });

    it("fails a zone linked to no VNet", () => {
      expect(rule?.validate([endpoint, group, zone])).to.deep.equal([
        {
          name: "zone",
          message:
            "private DNS zone privatelink.dfs.core.windows.net is linked to no VNet: nothing resolves through it",
        },
      ]);
    });
  });

  it("checkResources reports violations sorted, with rule and resource", () => {
    const found = checkResources(
      [{ type: TYPES.container, name: "c", props: { publicAccess: "Blob" } }],
      "dev",
    );
    expect(found).to.deep.equal([
      {
        rule: "storage-container-private",
        resource: "c",
        type: TYPES.container,
        message: 'publicAccess is "Blob"; containers are private',
      },
    ]);
  });
});

describe("policy pack", () => {
  const policies = packPolicies();

  it("wraps every rule, mandatory unless the pack cannot judge it", () => {
    expect(policies.map((p) => p.name).sort()).to.deep.equal(
      [...RESOURCE_RULES, ...STACK_RULES].map((r) => r.id).sort(),
    );
    const level = (name: string) => policies.find((p) => p.name === name)?.enforcementLevel;
    expect(level("storage-network-default-deny")).to.equal("mandatory");
    expect(level("no-plain-secrets")).to.equal("advisory");
  });

  it("reports the same violations through validateResource, with stack and protect", async () => {
    const policy = policies.find(
      (p) => p.name === "prod-protect-stateful",
    ) as ResourceValidationPolicy;
    const args = (protect: boolean) =>
      ({
        type: TYPES.catalog,
        props: {},
        urn: "urn:pulumi:prod::oms-lakehouse::databricks:index/catalog:Catalog::c",
        name: "c",
        opts: { protect },
      }) as unknown as ResourceValidationArgs;
    const run = async (protect: boolean) => {
      const seen: string[] = [];
      const validate = Array.isArray(policy.validateResource)
        ? policy.validateResource
        : [policy.validateResource];
      for (const v of validate) await v?.(args(protect), (m) => seen.push(m));
      return seen;
    };
    expect(await run(false)).to.have.length(1);
    expect(await run(true)).to.deep.equal([]);
  });

  it("has a PulumiPolicy.yaml and its own package.json pinned like the root", () => {
    expect(fs.existsSync(`${ROOT}/policy/PulumiPolicy.yaml`)).to.equal(true);
    const own = JSON.parse(fs.readFileSync(`${ROOT}/policy/package.json`, "utf8")) as {
      dependencies: Record<string, string>;
    };
    const root = JSON.parse(fs.readFileSync(`${ROOT}/package.json`, "utf8")) as {
      dependencies: Record<string, string>;
    };
    for (const [name, version] of Object.entries(own.dependencies)) {
      expect(version, name).to.equal(root.dependencies[name]);
    }
  });
});

describe("every stack passes the policy pack", () => {
  const stacks = fs
    .readdirSync(ROOT)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();

  it("finds the stack files", () => {
    expect(stacks).to.include.members(["dev", "prod"]);
  });

  const BOUNDS: Record<string, { bound: number; objective: number; startUp: boolean }> = {
    dev: { bound: 780, objective: 900, startUp: true },
    prod: { bound: 40, objective: 60, startUp: false },
  };
  for (const [stack, expected] of Object.entries(BOUNDS)) {
    it(`${stack}: the declared jobs' landing -> Gold bound (${expected.bound} s) meets the objective`, async () => {
      const plan = await stackPlan(stack);
      const bound = planFreshness(plan);
      expect(bound.problems).to.deep.equal([]);
      expect(bound.objectiveSeconds).to.equal(expected.objective);
      expect(bound.boundSeconds).to.equal(expected.bound);
      expect(bound.boundSeconds).to.be.at.most(expected.objective);
      const terms = bound.terms.map((t) => t.term).join("\n");
      expect(terms.includes("start-up"), terms).to.equal(expected.startUp);
      // The PR comment shows it before the policy verdict.
      const comment = violationsMarkdown(plan, checkPlan(plan));
      expect(comment).to.contain(`### Freshness — \`${stack}\``);
      expect(comment).to.contain(
        `Worst-case landing → Gold **${expected.bound} s**, objective ${expected.objective} s`,
      );
      expect(planMarkdown(plan)).to.contain(`## Freshness — \`${stack}\``);
    });
  }

  for (const stack of stacks) {
    it(`${stack}: no violations in the offline plan`, async () => {
      const plan = await stackPlan(stack);
      expect(plan.resources.filter((r) => r.custom).length).to.be.above(20);
      expect(checkPlan(plan)).to.deep.equal([]);
    });
  }
});
