/**
 * The Power BI identity and publishing components alone, under the recording mocks.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { expect } from "chai";
import * as databricks from "@pulumi/databricks";
import * as pulumi from "@pulumi/pulumi";
import { recorder } from "../scripts/plan/recorder";
import { promiseOf, ROOT, settle } from "../scripts/plan/harness";
import { BiIdentity, PUBLISHER_SECRET_KEY } from "../components/powerbi/identity";
import { BiPublishing, pbidsContent } from "../components/powerbi/publishing";
import { readPbipItem } from "../components/powerbi/pbipFiles";
import type { PbipPart } from "../components/powerbi/definition";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const rpc = require("@pulumi/pulumi/runtime/rpc") as {
  specialSigKey: string;
  specialSecretSig: string;
};

const DYN = "pulumi-nodejs:dynamic/powerbi";
const HOST = "adb-1.1.azuredatabricks.net";
const HTTP_PATH = "/sql/1.0/warehouses/abc123";
const VIEWERS = ["aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002"];

const provider = () =>
  new databricks.Provider("pbi-unit-provider", { host: "https://adb-1.1.azuredatabricks.net" });

function publishing(extra: Partial<ConstructorParameters<typeof BiPublishing>[1]> = {}) {
  return new BiPublishing("pbi", {
    workspaceName: "OMS (unit)",
    publisherPrincipalId: "publisher-object-id",
    viewerGroupIds: VIEWERS,
    serverHostname: HOST,
    httpPath: HTTP_PATH,
    catalogName: "oms_unit",
    tenantId: "tenant",
    readerClientId: "reader-client-id",
    readerClientSecret: pulumi.secret("s3cr3t-value"),
    credentialVersion: "3",
    ...extra,
  });
}

describe("Power BI components alone", () => {
  beforeEach(() => recorder.reset());

  it("BiIdentity: an Entra-backed Databricks reader with Gold-only grants, secrets kept secret", async () => {
    const identity = new BiIdentity("bi", {
      displayNamePrefix: "oms-unit",
      owners: ["owner-object-id"],
      secretReaders: ["pipeline-app-id"],
      provider: provider(),
    });
    await settle();
    const apps = recorder.ofType("azuread:index/application:Application");
    expect(apps.map((a) => a.inputs.displayName).sort()).to.deep.equal([
      "oms-unit-powerbi-publisher",
      "oms-unit-powerbi-reader",
    ]);
    expect(recorder.ofType("azuread:index/servicePrincipal:ServicePrincipal")).to.have.length(2);
    expect(recorder.ofType("azuread:index/applicationPassword:ApplicationPassword")).to.have.length(
      2,
    );
    const sp = recorder.one("databricks:index/servicePrincipal:ServicePrincipal");
    expect(sp.inputs).to.include({ databricksSqlAccess: true, allowClusterCreate: false });
    const secret = recorder.one("databricks:index/secret:Secret");
    expect(sp.inputs.applicationId).to.equal("client-of-bi-reader");
    expect(secret.inputs.key).to.equal(PUBLISHER_SECRET_KEY);
    // The publisher's Entra password reaches the secret scope, marked secret all the way.
    expect(secret.inputs.stringValue).to.deep.equal({
      [rpc.specialSigKey]: rpc.specialSecretSig,
      value: "password-of-bi-publisher",
    });
    const acl = recorder.one("databricks:index/secretAcl:SecretAcl");
    expect(acl.inputs).to.include({ principal: "pipeline-app-id", permission: "READ" });

    expect(identity.catalogGrants.map((g) => [g.securable, g.privileges])).to.deep.equal([
      ["catalog", ["USE_CATALOG"]],
      ["schema:gold", ["USE_SCHEMA", "SELECT"]],
    ]);
    expect(identity.warehouseAccess.map((a) => a.permissionLevel)).to.deep.equal(["CAN_USE"]);
    expect(await pulumi.isSecret(identity.readerClientSecret)).to.equal(true);
    expect(await promiseOf(identity.publisherObjectId)).to.equal("sp-object-of-bi-publisher");
  });

  it("BiPublishing: every Fabric item under the component, wired to the warehouse and the model", async function () {
    const pub = publishing();
    await settle();

    const component = recorder.one("oms:powerbi:BiPublishing");
    recorder.resources
      .filter((r) => r !== component)
      .forEach((r) => expect(r.parent, r.name).to.equal(component.urn));

    const ws = recorder.one(`${DYN}:FabricWorkspace`);
    expect(ws.inputs).to.include({ displayName: "OMS (unit)", adoptExisting: false });
    expect(ws.inputs).not.to.have.property("capacityId");

    const roles = recorder.ofType(`${DYN}:WorkspaceRoleAssignment`);
    expect(
      roles.map((r) => [r.inputs.principalId, r.inputs.principalType, r.inputs.role]).sort(),
    ).to.deep.equal([
      ["aaaaaaaa-0000-4000-8000-000000000001", "Group", "Viewer"],
      ["aaaaaaaa-0000-4000-8000-000000000002", "Group", "Viewer"],
      ["publisher-object-id", "ServicePrincipal", "Admin"],
    ]);
    roles.forEach((r) => expect(r.inputs.workspaceId).to.equal("pbi-workspace-id"));

    const conn = recorder.one(`${DYN}:DatabricksConnection`);
    expect(conn.inputs).to.include({
      host: HOST,
      httpPath: HTTP_PATH,
      tenantId: "tenant",
      clientId: "reader-client-id",
      credentialVersion: "3",
    });

    const model = recorder.one(`${DYN}:SemanticModel`);
    expect(model.inputs.parameters).to.deep.equal({
      ServerHostname: HOST,
      HttpPath: HTTP_PATH,
      Catalog: "oms_unit",
    });
    const uploaded = (model.inputs.parts as PbipPart[]).map((p) => p.path);
    expect(uploaded).to.deep.equal(
      readPbipItem(path.join(ROOT, "powerbi", "OmsLakehouse.SemanticModel")).map((p) => p.path),
    );

    const report = recorder.one(`${DYN}:Report`);
    expect(report.inputs.semanticModelId).to.equal("pbi-model-id");
    const binding = recorder.one(`${DYN}:ModelConnectionBinding`);
    expect(binding.inputs).to.include({
      semanticModelId: "pbi-model-id",
      connectionId: "pbi-connection-id",
      trigger: "hash-of-pbi-model",
    });
    const refresh = recorder.one(`${DYN}:ModelRefresh`);
    expect(refresh.inputs.trigger).to.equal("hash-of-pbi-model");
    expect(refresh.dependencies).to.include(binding.urn);

    expect(await promiseOf(pub.reportUrl)).to.equal(
      "https://app.powerbi.com/groups/pbi-workspace-id/reports/pbi-report-id",
    );
    expect(JSON.parse(await promiseOf(pub.pbids))).to.deep.equal(
      JSON.parse(pbidsContent(HOST, HTTP_PATH)),
    );
  });

  it("BiPublishing: the connection secret is recorded as a secret, never as a plain value", async () => {
    publishing({ readerClientSecret: "plain-string-from-a-caller" });
    await settle();
    const conn = recorder.one(`${DYN}:DatabricksConnection`);
    // Deserialised inputs keep the secret marker: the engine stores the value encrypted.
    expect(conn.inputs.clientSecret).to.deep.equal({
      [rpc.specialSigKey]: rpc.specialSecretSig,
      value: "plain-string-from-a-caller",
    });
  });

  it("BiPublishing: a capacity and adoption pass through; no viewers means no Viewer roles", async () => {
    publishing({
      capacityId: "cccccccc-0000-4000-8000-000000000000",
      adoptExistingWorkspace: true,
      viewerGroupIds: [],
    });
    await settle();
    expect(recorder.one(`${DYN}:FabricWorkspace`).inputs).to.include({
      capacityId: "cccccccc-0000-4000-8000-000000000000",
      adoptExisting: true,
    });
    expect(recorder.ofType(`${DYN}:WorkspaceRoleAssignment`)).to.have.length(1);
  });

  it("pbidsContent: the Desktop data source file for the Azure Databricks connector", () => {
    expect(JSON.parse(pbidsContent(HOST, HTTP_PATH))).to.deep.equal({
      version: "0.1",
      connections: [
        {
          details: { protocol: "databricks", address: { host: HOST, httpPath: HTTP_PATH } },
          options: {},
          mode: "DirectQuery",
        },
      ],
    });
  });

  it("BiPublishing: a missing PBIP project fails at program time with the folder named", () => {
    const empty = fs.mkdtempSync(path.join(ROOT, "node_modules", ".pbip-missing-"));
    try {
      expect(() => publishing({ projectDir: empty })).to.throw(/OmsLakehouse\.SemanticModel/);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});
