/**
 * Power BI in the whole program, per stack file: identity and least-privilege access on the
 * Databricks side, the warehouse wired into the connection and the model, viewers, the PBIP
 * files uploaded, and outputs — with no secret in any plain output.
 */
import * as path from "node:path";
import { expect } from "chai";
import {
  CLIENT,
  recorder,
  RecordedResource,
  SERVICE_PRINCIPAL_APP_ID,
  WORKSPACE_HOST,
} from "../scripts/plan/recorder";
import {
  loadStackConfig,
  ProgramExports,
  promiseOf,
  ROOT,
  runProgram,
  withConfig,
} from "../scripts/plan/harness";
import { ConfigError, parseConfig } from "../config";
import { readPbipItem } from "../components/powerbi/pbipFiles";
import { PUBLISHER_SECRET_KEY } from "../components/powerbi/identity";
import type { PbipPart } from "../components/powerbi/definition";
import { schemaErrors } from "./powerbi/pbipSchemas";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const rpc = require("@pulumi/pulumi/runtime/rpc") as {
  specialSigKey: string;
  specialSecretSig: string;
};

const DYN = "pulumi-nodejs:dynamic/powerbi";
const GRANTS = "databricks:index/grants:Grants";
const VIEWERS = ["0f0f0f0f-1111-4222-8333-444444444444", "5a5a5a5a-6666-4777-8888-999999999999"];

const grantsOf = (r: RecordedResource) =>
  r.inputs.grants as { principal: string; privileges: string[] }[];
const securableOf = (r: RecordedResource) =>
  String(
    r.inputs.catalog ??
      r.inputs.schema ??
      r.inputs.volume ??
      r.inputs.externalLocation ??
      r.inputs.storageCredential,
  );
const partPaths = (parts: unknown) => (parts as PbipPart[]).map((p) => p.path);

for (const stack of ["dev", "prod"]) {
  describe(`Power BI in stack ${stack}`, () => {
    let out: ProgramExports;
    const reader = `client-of-oms-${stack}-bi-reader`;
    const httpPath = `/sql/1.0/warehouses/whoms${stack}warehouse`;
    const catalog = `oms_${stack}`;

    before(async function () {
      out = await runProgram(
        withConfig(loadStackConfig(stack), { powerbiViewerGroupIds: JSON.stringify(VIEWERS) }),
      );
    });

    it("registers the Power BI reader in Databricks under its Entra application id", () => {
      const sp = recorder
        .ofType("databricks:index/servicePrincipal:ServicePrincipal")
        .filter((r) => r.inputs.applicationId === reader);
      expect(sp).to.have.length(1);
      expect(sp[0].inputs).to.include({ databricksSqlAccess: true, allowClusterCreate: false });
    });

    it("grants the reader USE_CATALOG on the catalog and USE_SCHEMA + SELECT on gold, nothing else", () => {
      const held = recorder.ofType(GRANTS).flatMap((g) =>
        grantsOf(g)
          .filter((x) => x.principal === reader)
          .map((x) => [securableOf(g), x.privileges]),
      );
      expect(held).to.deep.equal([
        [catalog, ["USE_CATALOG"]],
        [`${catalog}.gold`, ["SELECT", "USE_SCHEMA"]],
      ]);
    });

    it("keeps one Grants per securable with the reader merged in", () => {
      const securables = recorder.ofType(GRANTS).map(securableOf);
      expect(new Set(securables).size).to.equal(securables.length);
    });

    it("lets the reader use the SQL warehouse (CAN_USE)", () => {
      const p = recorder.named(
        `oms-${stack}-permissions`,
        "databricks:index/permissions:Permissions",
      );
      expect(p.inputs.accessControls).to.deep.include({
        servicePrincipalName: reader,
        permissionLevel: "CAN_USE",
      });
    });

    it("wires the warehouse's host and HTTP path into the connection and the model parameters", () => {
      const conn = recorder.one(`${DYN}:DatabricksConnection`);
      expect(conn.inputs).to.include({
        host: WORKSPACE_HOST,
        httpPath,
        tenantId: CLIENT.tenantId,
        clientId: reader,
        credentialVersion: "1",
      });
      // The reader's Entra password, recorded as a secret.
      expect(conn.inputs.clientSecret).to.deep.equal({
        [rpc.specialSigKey]: rpc.specialSecretSig,
        value: `password-of-oms-${stack}-bi-reader`,
      });
      // Created (and its credential tested by Fabric) only once the reader has its access.
      const grants = recorder.ofType(GRANTS).map((g) => g.urn);
      expect(conn.dependencies).to.include.members(grants);
      const permissions = recorder.named(
        `oms-${stack}-permissions`,
        "databricks:index/permissions:Permissions",
      );
      expect(conn.dependencies).to.include(permissions.urn);
      const model = recorder.one(`${DYN}:SemanticModel`);
      expect(model.inputs.parameters).to.deep.equal({
        ServerHostname: WORKSPACE_HOST,
        HttpPath: httpPath,
        Catalog: catalog,
      });
    });

    it("uploads the files of powerbi/ as the model and the report", () => {
      const dir = path.join(ROOT, "powerbi");
      expect(partPaths(recorder.one(`${DYN}:SemanticModel`).inputs.parts)).to.deep.equal(
        partPaths(readPbipItem(path.join(dir, "OmsLakehouse.SemanticModel"))),
      );
      const report = recorder.one(`${DYN}:Report`);
      expect(partPaths(report.inputs.parts)).to.deep.equal(
        partPaths(readPbipItem(path.join(dir, "OmsLakehouse.Report"))),
      );
      expect(report.inputs.semanticModelId).to.equal(`oms-${stack}-powerbi-model-id`);
    });

    it("publishes the stack's automatic page refresh on the pages over DirectQuery facts, schema-valid", () => {
      const literal = (value: string) => ({ expr: { Literal: { Value: value } } });
      // dev (shared capacity): every 30 minutes; prod (capacity): change detection every minute.
      const expected = {
        dev: { show: literal("true"), duration: literal("'PT30M'") },
        prod: {
          show: literal("true"),
          refreshType: literal("'changeDetection'"),
          measure: {
            expr: {
              Measure: {
                Expression: { SourceRef: { Entity: "fact_order_lines" } },
                Property: "Latest Gold Event",
              },
            },
          },
          checkEvery: literal("'PT1M'"),
        },
      }[stack];
      const pages = (recorder.one(`${DYN}:Report`).inputs.parts as PbipPart[]).filter((p) =>
        /^definition\/pages\/[^/]+\/page\.json$/.test(p.path),
      );
      // Every page of the report reads a DirectQuery fact table (fact_*, customer_rfm).
      expect(pages.map((p) => p.path.split("/")[2])).to.deep.equal([
        "inventoryLevels",
        "orderTrends",
        "revenue",
        "shipmentSla",
      ]);
      for (const part of pages) {
        const doc = JSON.parse(part.content) as { objects?: { pageRefresh?: unknown } };
        expect(doc.objects?.pageRefresh, part.path).to.deep.equal([{ properties: expected }]);
        expect(schemaErrors(doc), part.path).to.deep.equal([]);
      }
    });

    it("makes the publisher Admin and each viewer group Viewer of the workspace", () => {
      const roles = recorder
        .ofType(`${DYN}:WorkspaceRoleAssignment`)
        .map((r) => [r.inputs.principalId, r.inputs.principalType, r.inputs.role]);
      expect(roles).to.have.deep.members([
        [`sp-object-of-oms-${stack}-bi-publisher`, "ServicePrincipal", "Admin"],
        [VIEWERS[0], "Group", "Viewer"],
        [VIEWERS[1], "Group", "Viewer"],
      ]);
    });

    it("keeps the publisher's secret in a secret scope the pipeline principal may only read", () => {
      const secret = recorder.one("databricks:index/secret:Secret");
      expect(secret.inputs.key).to.equal(PUBLISHER_SECRET_KEY);
      expect(secret.inputs.stringValue).to.have.property(rpc.specialSigKey, rpc.specialSecretSig);
      const acls = recorder.ofType("databricks:index/secretAcl:SecretAcl");
      expect(acls.map((a) => [a.inputs.principal, a.inputs.permission])).to.deep.equal([
        [SERVICE_PRINCIPAL_APP_ID, "READ"],
      ]);
    });

    it("refreshes the deployed model in its own periodic job", () => {
      const job = recorder
        .ofType("databricks:index/job:Job")
        .find((j) => String(j.inputs.name).startsWith("OMS Power BI refresh"));
      const tasks = (job?.inputs.tasks ?? []) as {
        taskKey: string;
        dependsOns?: { taskKey: string }[];
        pythonWheelTask: { entryPoint: string; parameters: string[] };
      }[];
      expect(tasks.map((t) => t.taskKey)).to.deep.equal(["powerbi_refresh"]);
      const refresh = tasks[0];
      expect(refresh.dependsOns).to.equal(undefined);
      expect(refresh.pythonWheelTask.entryPoint).to.equal("oms-powerbi-refresh");
      const p = refresh.pythonWheelTask.parameters;
      const value = (flag: string) => p[p.indexOf(flag) + 1];
      // The task compares the catalog's Gold dimensions with its ops watermark.
      expect(value("--catalog")).to.equal(`oms_${stack}`);
      expect(value("--workspace-id")).to.equal(`oms-${stack}-powerbi-workspace-id`);
      expect(value("--dataset-id")).to.equal(`oms-${stack}-powerbi-model-id`);
      expect(value("--tenant-id")).to.equal(CLIENT.tenantId);
      expect(value("--client-id")).to.equal(`client-of-oms-${stack}-bi-publisher`);
      expect(value("--secret-scope")).to.equal(`oms-${stack}-powerbi`);
      expect(value("--secret-key")).to.equal(PUBLISHER_SECRET_KEY);
      // Never the secret itself on a command line.
      expect(JSON.stringify(p)).not.to.match(/password-of-/);
    });

    it("exports the workspace, model, report, report URL and .pbids", async () => {
      const ws = `oms-${stack}-powerbi-workspace-id`;
      expect(await promiseOf(out.powerbiWorkspaceId as string)).to.equal(ws);
      expect(await promiseOf(out.powerbiSemanticModelId as string)).to.equal(
        `oms-${stack}-powerbi-model-id`,
      );
      const report = `oms-${stack}-powerbi-report-id`;
      expect(await promiseOf(out.powerbiReportId as string)).to.equal(report);
      expect(await promiseOf(out.powerbiReportUrl as string)).to.equal(
        `https://app.powerbi.com/groups/${ws}/reports/${report}`,
      );
      expect(JSON.parse(await promiseOf(out.powerbiPbids as string))).to.deep.equal({
        version: "0.1",
        connections: [
          {
            details: { protocol: "databricks", address: { host: WORKSPACE_HOST, httpPath } },
            options: {},
            mode: "DirectQuery",
          },
        ],
      });
    });

    it("puts no secret value in any plain stack output", async () => {
      for (const [name, value] of Object.entries(out)) {
        const resolved = JSON.stringify(await promiseOf(value as never)) ?? "";
        expect(resolved, name).not.to.match(/password-of-/);
      }
    });
  });
}

describe("Power BI switched off", () => {
  it("registers no Power BI or Entra resource and grants the catalog to no BI principal", async function () {
    const out = await runProgram(withConfig(loadStackConfig("dev"), { powerbiEnabled: "false" }));
    expect(recorder.resources.filter((r) => /powerbi|azuread/.test(r.type))).to.deep.equal([]);
    const principals = recorder.ofType(GRANTS).flatMap((g) => grantsOf(g).map((x) => x.principal));
    expect(principals).not.to.include("client-of-oms-dev-bi-reader");
    expect(recorder.ofType("databricks:index/secretScope:SecretScope")).to.deep.equal([]);
    expect(out.powerbiWorkspaceId).to.equal(undefined);
    const jobs = recorder.ofType("databricks:index/job:Job").map((j) => String(j.inputs.name));
    expect(jobs.filter((n) => n.startsWith("OMS Power BI refresh"))).to.deep.equal([]);
    const tasks = recorder
      .ofType("databricks:index/job:Job")
      .flatMap((j) => (j.inputs.tasks as { taskKey: string }[]).map((t) => t.taskKey));
    expect(tasks).to.include("gold_refresh").and.not.to.include("powerbi_refresh");
  });
});

describe("Power BI configuration", () => {
  const raw = (changes: Record<string, string | undefined> = {}) => {
    const config = withConfig(loadStackConfig("dev"), changes);
    return Object.fromEntries(
      Object.entries(config.values).map(([k, v]) => [k.replace("oms-lakehouse:", ""), v]),
    );
  };
  const rejection = (changes: Record<string, string>) => {
    try {
      parseConfig(raw(changes));
    } catch (e) {
      expect(e).to.be.instanceOf(ConfigError);
      return (e as Error).message;
    }
    throw new Error("configuration was accepted");
  };

  it("defaults: enabled, no capacity, no adoption, no viewers, credential version 1", () => {
    const c = parseConfig({
      environment: "dev",
      storageAccountName: "omsdefaults",
      catalogName: "oms_defaults",
      databricksAccountId: "00000000-0000-0000-0000-000000000000",
      jobsDeployerPrincipal: "users/deployer@example.com",
    });
    expect(c.powerbiEnabled).to.equal(true);
    expect(c.powerbiWorkspaceName).to.equal(undefined);
    expect(c.powerbiCapacityId).to.equal(undefined);
    expect(c.powerbiAdoptExistingWorkspace).to.equal(false);
    expect(c.powerbiViewerGroupIds).to.deep.equal([]);
    expect(c.powerbiCredentialVersion).to.equal(1);
  });

  it("rejects a viewer group that is not an object id, naming the item", () => {
    expect(
      rejection({ powerbiViewerGroupIds: JSON.stringify([VIEWERS[0], "oms-bi-readers"]) }),
    ).to.contain(
      'oms-lakehouse:powerbiViewerGroupIds[1] = "oms-bi-readers": an Entra security group object id (GUID)',
    );
    expect(rejection({ powerbiViewerGroupIds: "oms-bi-readers" })).to.contain(
      "expected a list of Entra security group object ids (GUIDs)",
    );
  });

  it("rejects a viewer group listed twice", () => {
    const twice = JSON.stringify([VIEWERS[0], VIEWERS[0].toUpperCase()]);
    expect(rejection({ powerbiViewerGroupIds: twice })).to.contain("powerbiViewerGroupIds");
    expect(rejection({ powerbiViewerGroupIds: twice })).to.contain("lists a group more than once");
  });

  it("rejects a page refresh shared capacity cannot run, naming the key and what is allowed", () => {
    expect(rejection({ powerbiPageRefreshSeconds: "1799" })).to.contain(
      'oms-lakehouse:powerbiPageRefreshSeconds = "1799": below the 1800 s (30-minute) minimum page refresh interval on shared capacity (powerbiCapacityId is empty; "Automatic page refresh in Power BI"); allowed: 1800 to 86400, or set powerbiCapacityId for a shorter interval',
    );
    expect(rejection({ powerbiPageRefresh: "changeDetection" })).to.contain(
      'oms-lakehouse:powerbiPageRefresh = "changeDetection": changeDetection needs a Premium or Fabric capacity',
    );
    expect(rejection({ powerbiPageRefresh: "changeDetection" })).to.contain(
      "allowed: interval with powerbiPageRefreshSeconds of at least 1800, or set powerbiCapacityId",
    );
    // On a capacity a one-second interval and change detection are accepted.
    const capacity = { powerbiCapacityId: "cccccccc-0000-4000-8000-000000000000" };
    expect(
      parseConfig(raw({ ...capacity, powerbiPageRefreshSeconds: "1" })).powerbiPageRefreshSeconds,
    ).to.equal(1);
    const detecting = parseConfig(
      raw({ ...capacity, powerbiPageRefresh: "changeDetection", powerbiPageRefreshSeconds: "60" }),
    );
    expect(detecting.powerbiPageRefresh).to.equal("changeDetection");
    expect(detecting.powerbiPageRefreshSeconds).to.equal(60);
    // Whole seconds are checked here, once (the page refresh writer trusts the typed config).
    expect(rejection({ powerbiPageRefreshSeconds: "1800.5" })).to.contain(
      'oms-lakehouse:powerbiPageRefreshSeconds = "1800.5": expected an integer between 1 and 86400',
    );
    expect(rejection({ powerbiPageRefresh: "fixed" })).to.contain(
      'oms-lakehouse:powerbiPageRefresh = "fixed": expected one of interval, changeDetection',
    );
    expect(rejection({ powerbiPageRefreshSeconds: "0" })).to.contain(
      'oms-lakehouse:powerbiPageRefreshSeconds = "0": expected an integer between 1 and 86400',
    );
  });

  it("rejects a capacity id, a workspace name or a credential version out of shape", () => {
    expect(rejection({ powerbiCapacityId: "F64" })).to.contain(
      'oms-lakehouse:powerbiCapacityId = "F64": a Fabric capacity id (GUID)',
    );
    expect(rejection({ powerbiWorkspaceName: " OMS" })).to.contain(
      "a Fabric workspace name: 1–256 characters without surrounding spaces",
    );
    expect(rejection({ powerbiCredentialVersion: "0" })).to.contain(
      'oms-lakehouse:powerbiCredentialVersion = "0": expected an integer between 1 and 1000000',
    );
    expect(rejection({ powerbiEnabled: "yes" })).to.contain("expected true or false");
  });
});
