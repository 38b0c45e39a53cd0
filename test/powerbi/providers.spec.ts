import { expect } from "chai";
import {
  databricksConnectionProvider,
  DatabricksConnectionInputs,
  fabricWorkspaceProvider,
  modelConnectionBindingProvider,
  modelRefreshProvider,
  ProviderOptions,
  reportProvider,
  semanticModelProvider,
  SemanticModelInputs,
  workspaceRoleAssignmentProvider,
} from "../../components/powerbi";
import { fakeCredential, FakeFabric } from "./fakeFabric";
import { MODEL_PARTS, REPORT_PARTS } from "./fixtures";
import { rejection } from "./rejection";

describe("powerbi dynamic providers against the fake Fabric API", () => {
  const fake = new FakeFabric();
  let options: ProviderOptions;

  before(() => fake.start());
  after(() => fake.stop());
  beforeEach(() => {
    fake.reset();
    options = {
      fabricBaseUrl: fake.fabricBaseUrl,
      powerBiBaseUrl: fake.powerBiBaseUrl,
      credential: fakeCredential(),
      sleep: () => Promise.resolve(),
    };
  });

  const workspace = async (name = "oms-dev") => {
    const p = fabricWorkspaceProvider(options);
    return (await p.create({ displayName: name, description: "OMS" })).id;
  };

  // ---------------------------------------------------------------- FabricWorkspace

  describe("FabricWorkspace", () => {
    const provider = () => fabricWorkspaceProvider(options);

    it("creates, reads, diffs, updates and deletes a workspace", async () => {
      const p = provider();
      const created = await p.create({ displayName: "oms-dev", description: "OMS dev", capacityId: "cap-1" });
      expect(fake.calls("POST", /^\/v1\/workspaces$/)[0].body).to.deep.equal({
        displayName: "oms-dev",
        description: "OMS dev",
        capacityId: "cap-1",
      });
      expect(created.outs).to.include({ workspaceId: created.id, adopted: false });

      const read = await p.read!(created.id, created.outs);
      expect(read.id).to.equal(created.id);
      expect(read.props).to.include({ displayName: "oms-dev", description: "OMS dev", capacityId: "cap-1" });

      const same = await p.diff!(created.id, created.outs!, {
        displayName: "oms-dev",
        description: "OMS dev",
        capacityId: "cap-1",
      });
      expect(same.changes).to.equal(false);

      const news = { displayName: "oms-dev", description: "OMS development" };
      const diff = await p.diff!(created.id, created.outs!, news);
      expect(diff).to.deep.equal({ changes: true, replaces: [] });
      fake.requests.length = 0;
      const updated = await p.update!(created.id, created.outs!, news);
      // Dropping capacityId from the stack does not unassign the capacity.
      expect(fake.calls().map((r) => `${r.method} ${r.path}`)).to.deep.equal([
        `PATCH /v1/workspaces/${created.id}`,
      ]);
      expect(fake.calls("PATCH")[0].body).to.deep.equal({ description: "OMS development" });
      expect(fake.workspaces.get(created.id)).to.deep.equal({
        id: created.id,
        displayName: "oms-dev",
        description: "OMS development",
        capacityId: "cap-1",
      });
      const moved = await p.diff!(created.id, updated.outs!, { ...news, capacityId: "cap-2" });
      expect(moved.changes).to.equal(true);
      await p.update!(created.id, updated.outs!, { ...news, capacityId: "cap-2" });
      expect(fake.calls("POST", /assignToCapacity$/).map((r) => r.body)).to.deep.equal([{ capacityId: "cap-2" }]);
      expect(updated.outs).to.include({ workspaceId: created.id, adopted: false });

      await p.delete!(created.id, updated.outs!);
      expect(fake.workspaces.size).to.equal(0);
    });

    it("read of a workspace deleted out of band returns an empty id so Pulumi re-creates it", async () => {
      const p = provider();
      const created = await p.create({ displayName: "oms-dev" });
      fake.workspaces.clear();
      expect((await p.read!(created.id, created.outs)).id).to.equal("");
    });

    it("a name clash is a clear error unless adoptExisting is set", async () => {
      const p = provider();
      await p.create({ displayName: "shared" });
      const e = await rejection(p.create({ displayName: "shared" }));
      expect(e.message).to.contain('A Fabric workspace named "shared" already exists');
      expect(e.message).to.contain("adoptExisting: true");
    });

    it("adopts an existing workspace by name, converges it, and never deletes it", async () => {
      const p = provider();
      const existing = await p.create({ displayName: "Shared BI" });
      fake.requests.length = 0;
      const adopted = await p.create({
        displayName: "shared bi",
        description: "now managed",
        capacityId: "cap-9",
        adoptExisting: true,
      });
      expect(adopted.id).to.equal(existing.id);
      expect(adopted.outs).to.include({ adopted: true, workspaceId: existing.id });
      expect(fake.calls("POST", /^\/v1\/workspaces$/)).to.have.length(0);
      expect(fake.workspaces.get(existing.id)).to.include({ description: "now managed", capacityId: "cap-9" });

      await p.delete!(adopted.id, adopted.outs!);
      expect(fake.calls("DELETE")).to.have.length(0);
      expect(fake.workspaces.has(existing.id)).to.equal(true);
    });

    it("an adopted workspace's capacity is not drift when the stack declares none", async () => {
      const p = provider();
      await p.create({ displayName: "legacy", capacityId: "cap-legacy" });
      const inputs = { displayName: "legacy", adoptExisting: true };
      const adopted = await p.create(inputs);
      const refreshed = await p.read!(adopted.id, adopted.outs);
      expect((await p.diff!(adopted.id, refreshed.props!, inputs)).changes).to.equal(false);
      expect(fake.calls("POST", /Capacity$/)).to.have.length(0);
    });

    it("adoptExisting with no existing workspace creates one that is owned (deleted on destroy)", async () => {
      const p = provider();
      const created = await p.create({ displayName: "fresh", adoptExisting: true });
      expect(created.outs?.adopted).to.equal(false);
      await p.delete!(created.id, created.outs!);
      expect(fake.workspaces.size).to.equal(0);
    });
  });

  // ---------------------------------------------------------------- WorkspaceRoleAssignment

  describe("WorkspaceRoleAssignment", () => {
    it("validates role and principal type in check", async () => {
      const p = workspaceRoleAssignmentProvider(options);
      const res = await p.check!(
        {} as never,
        { workspaceId: "w", principalId: "p", principalType: "Robot" as never, role: "Owner" as never },
      );
      expect(res.failures?.map((f) => f.property)).to.deep.equal(["role", "principalType"]);
    });

    it("creates with the documented body, updates the role in place, replaces on a new principal", async () => {
      const ws = await workspace();
      const p = workspaceRoleAssignmentProvider(options);
      const inputs = { workspaceId: ws, principalId: "sp-1", principalType: "ServicePrincipal" as const, role: "Member" as const };
      const created = await p.create(inputs);
      expect(fake.calls("POST", /roleAssignments$/)[0].body).to.deep.equal({
        principal: { id: "sp-1", type: "ServicePrincipal" },
        role: "Member",
      });
      expect(created.id).to.equal(`${ws}/sp-1`);

      expect((await p.diff!(created.id, created.outs!, inputs)).changes).to.equal(false);
      const toViewer = { ...inputs, role: "Viewer" as const };
      expect(await p.diff!(created.id, created.outs!, toViewer)).to.include({ changes: true });
      expect((await p.diff!(created.id, created.outs!, toViewer)).replaces).to.deep.equal([]);
      const updated = await p.update!(created.id, created.outs!, toViewer);
      expect(fake.calls("PATCH", /roleAssignments\/sp-1$/)[0].body).to.deep.equal({ role: "Viewer" });
      expect(fake.roleAssignments.get(`${ws}/sp-1`)?.role).to.equal("Viewer");

      const other = await p.diff!(created.id, updated.outs!, { ...toViewer, principalId: "sp-2" });
      expect(other.replaces).to.deep.equal(["principalId"]);
      expect(other.deleteBeforeReplace).to.equal(true);

      await p.delete!(created.id, updated.outs!);
      expect(fake.roleAssignments.size).to.equal(0);
      expect((await p.read!(created.id, updated.outs)).id).to.equal("");
    });
  });

  // ---------------------------------------------------------------- DatabricksConnection

  describe("DatabricksConnection", () => {
    const SECRET = "dose-S3CRET-value-0001";
    const inputs: DatabricksConnectionInputs = {
      displayName: "oms-dev-databricks",
      host: "adb-123.4.azuredatabricks.net",
      httpPath: "/sql/1.0/warehouses/abc",
      tenantId: "tenant-1",
      clientId: "client-1",
      clientSecret: SECRET,
      credentialVersion: "2026-11",
    };

    it("creates a ShareableCloud Databricks connection with a service-principal credential", async () => {
      const p = databricksConnectionProvider(options);
      const created = await p.create(inputs);
      expect(fake.calls("POST", /^\/v1\/connections$/)[0].body).to.deep.equal({
        connectivityType: "ShareableCloud",
        displayName: "oms-dev-databricks",
        privacyLevel: "Organizational",
        connectionDetails: {
          type: "Databricks",
          creationMethod: "Databricks.Catalogs",
          parameters: [
            { dataType: "Text", name: "host", value: "adb-123.4.azuredatabricks.net" },
            { dataType: "Text", name: "httpPath", value: "/sql/1.0/warehouses/abc" },
          ],
        },
        credentialDetails: {
          singleSignOnType: "None",
          connectionEncryption: "NotEncrypted",
          skipTestConnection: false,
          credentials: {
            credentialType: "ServicePrincipal",
            tenantId: "tenant-1",
            servicePrincipalClientId: "client-1",
            servicePrincipalSecret: SECRET,
          },
        },
      });
      expect(created.outs).to.include({ connectionId: created.id, connectionType: "Databricks" });
      expect(created.outs?.connectionPath).to.contain("adb-123.4.azuredatabricks.net");
    });

    it("never puts the secret in outputs, read results or diffs", async () => {
      const p = databricksConnectionProvider(options);
      const created = await p.create(inputs);
      const read = await p.read!(created.id, created.outs);
      const diff = await p.diff!(created.id, created.outs!, { ...inputs, clientSecret: "other", credentialVersion: "v2" });
      const updated = await p.update!(created.id, created.outs!, { ...inputs, credentialVersion: "v2" });
      for (const value of [created.outs, read.props, diff, updated.outs]) {
        expect(JSON.stringify(value)).to.not.contain(SECRET);
        expect(JSON.stringify(value)).to.not.contain("clientSecret");
      }
    });

    it("rotates the credential when credentialVersion changes (PATCH, no replacement)", async () => {
      const p = databricksConnectionProvider(options);
      const created = await p.create(inputs);
      // A new secret alone is not visible in state; the version is the rotation signal.
      expect((await p.diff!(created.id, created.outs!, { ...inputs, clientSecret: "new" })).changes).to.equal(false);
      const rotated = { ...inputs, clientSecret: "new-secret", credentialVersion: "2027-05" };
      const diff = await p.diff!(created.id, created.outs!, rotated);
      expect(diff.changes).to.equal(true);
      expect(diff.replaces).to.deep.equal([]);
      await p.update!(created.id, created.outs!, rotated);
      const patch = fake.calls("PATCH", /^\/v1\/connections\//)[0];
      expect(patch.body).to.deep.include({ connectivityType: "ShareableCloud", displayName: "oms-dev-databricks" });
      expect((patch.body as { credentialDetails: { credentials: unknown } }).credentialDetails.credentials).to.deep.equal({
        credentialType: "ServicePrincipal",
        tenantId: "tenant-1",
        servicePrincipalClientId: "client-1",
        servicePrincipalSecret: "new-secret",
      });
      expect(fake.connections.get(created.id)?.secret).to.equal("new-secret");
    });

    it("replaces (delete first) when the warehouse changes; read after out-of-band delete is empty", async () => {
      const p = databricksConnectionProvider(options);
      const created = await p.create(inputs);
      const diff = await p.diff!(created.id, created.outs!, { ...inputs, httpPath: "/sql/1.0/warehouses/xyz" });
      expect(diff).to.include({ changes: true, deleteBeforeReplace: true });
      expect(diff.replaces).to.deep.equal(["httpPath"]);
      await p.delete!(created.id, created.outs!);
      expect(fake.connections.size).to.equal(0);
      expect((await p.read!(created.id, created.outs)).id).to.equal("");
    });
  });

  // ---------------------------------------------------------------- SemanticModel and Report

  describe("SemanticModel", () => {
    const params = {
      DatabricksHost: "adb-123.4.azuredatabricks.net",
      "Http Path": "/sql/1.0/warehouses/abc",
      Catalog: "oms_dev",
    };

    for (const lro of [false, true]) {
      it(`creates from PBIP parts with parameters substituted (${lro ? "202 + operation" : "201"})`, async () => {
        const ws = await workspace();
        fake.lro = lro;
        const p = semanticModelProvider(options);
        const created = await p.create({ workspaceId: ws, displayName: "Oms", parts: MODEL_PARTS, parameters: params });
        const post = fake.calls("POST", /\/semanticModels$/)[0].body as { displayName: string; definition: { format: string } };
        expect(post.displayName).to.equal("Oms");
        expect(post.definition.format).to.equal("TMDL");
        const parts = fake.decodedParts(created.id);
        expect(Object.keys(parts)).to.deep.equal([
          "definition.pbism",
          "definition/expressions.tmdl",
          "definition/model.tmdl",
          "definition/tables/orders.tmdl",
        ]);
        expect(parts["definition/expressions.tmdl"]).to.contain(
          'expression DatabricksHost = "adb-123.4.azuredatabricks.net" meta [IsParameterQuery=true',
        );
        expect(parts["definition/expressions.tmdl"]).to.contain(
          "expression 'Http Path' = \"/sql/1.0/warehouses/abc\" meta [",
        );
        expect(parts["definition/expressions.tmdl"]).to.contain('expression Catalog = "oms_dev" meta [');
        expect(created.outs).to.include({ semanticModelId: created.id, itemId: created.id, workspaceId: ws });
        expect(created.outs?.partsHash).to.match(/^[0-9a-f]{64}$/);
        expect(JSON.stringify(created.outs)).to.not.contain("lineageTag"); // hashes, not contents
        expect(fake.calls("GET", /\/operations\//).length > 0).to.equal(lro);
      });
    }

    it("diffs on content hashes: same parts → no change; a parameter change → update of the definition only", async () => {
      const ws = await workspace();
      const p = semanticModelProvider(options);
      const inputs: SemanticModelInputs = { workspaceId: ws, displayName: "Oms", parts: MODEL_PARTS, parameters: params };
      const created = await p.create(inputs);
      // Local-only files do not count: editing .pbi/ is no change.
      const noisy = [...MODEL_PARTS, { path: ".pbi/cache.abf", content: "binary-ish" }];
      expect((await p.diff!(created.id, created.outs!, { ...inputs, parts: noisy })).changes).to.equal(false);

      const prod = { ...inputs, parameters: { ...params, Catalog: "oms_prod" } };
      expect(await p.diff!(created.id, created.outs!, prod)).to.deep.equal({ changes: true, replaces: [] });
      fake.requests.length = 0;
      const updated = await p.update!(created.id, created.outs!, prod);
      expect(fake.calls().map((r) => `${r.method} ${r.path}`)).to.deep.equal([
        `POST /v1/workspaces/${ws}/semanticModels/${created.id}/updateDefinition`,
      ]);
      expect(fake.decodedParts(created.id)["definition/expressions.tmdl"]).to.contain('Catalog = "oms_prod"');
      expect(updated.outs?.partsHash).to.not.equal(created.outs?.partsHash);
      expect((await p.diff!(created.id, updated.outs!, prod)).changes).to.equal(false);
    });

    it("a description change PATCHes the item and leaves the definition alone", async () => {
      const ws = await workspace();
      const p = semanticModelProvider(options);
      const inputs: SemanticModelInputs = { workspaceId: ws, displayName: "Oms", parts: MODEL_PARTS, parameters: params };
      const created = await p.create(inputs);
      fake.requests.length = 0;
      await p.update!(created.id, created.outs!, { ...inputs, description: "Gold marts" });
      expect(fake.calls().map((r) => r.method + " " + r.path)).to.deep.equal([
        `PATCH /v1/workspaces/${ws}/semanticModels/${created.id}`,
      ]);
      expect(fake.calls("PATCH")[0].body).to.deep.equal({ description: "Gold marts" });
    });

    it("replaces on a workspace move, reads empty after out-of-band deletion, deletes", async () => {
      const ws = await workspace();
      const p = semanticModelProvider(options);
      const inputs: SemanticModelInputs = { workspaceId: ws, displayName: "Oms", parts: MODEL_PARTS, parameters: params };
      const created = await p.create(inputs);
      expect((await p.diff!(created.id, created.outs!, { ...inputs, workspaceId: "other" })).replaces).to.deep.equal([
        "workspaceId",
      ]);
      fake.items.delete(created.id);
      expect((await p.read!(created.id, created.outs)).id).to.equal("");
      await p.delete!(created.id, created.outs!); // already gone: no error
    });

    it("a bad parameter name fails before any request", async () => {
      const ws = await workspace();
      fake.requests.length = 0;
      const e = await rejection(
        semanticModelProvider(options).create({ workspaceId: ws, displayName: "Oms", parts: MODEL_PARTS, parameters: { Catalogue: "x" } }),
      );
      expect(e.message).to.contain("Catalogue");
      expect(fake.requests).to.have.length(0);
    });
  });

  describe("Report", () => {
    it("uploads definition.pbir bound byConnection to the model and rebinds when the model changes", async () => {
      const ws = await workspace();
      const p = reportProvider(options);
      const inputs = { workspaceId: ws, displayName: "Oms", parts: REPORT_PARTS, semanticModelId: "model-1" };
      const created = await p.create(inputs);
      const post = fake.calls("POST", /\/reports$/)[0].body as { definition: { format: string } };
      expect(post.definition.format).to.equal("PBIR");
      const parts = fake.decodedParts(created.id);
      expect(Object.keys(parts)).to.not.include(".platform");
      expect(JSON.parse(parts["definition.pbir"])).to.deep.equal({
        $schema:
          "https://developer.microsoft.com/json-schemas/fabric/item/report/definitionProperties/2.0.0/schema.json",
        version: "4.0",
        datasetReference: { byConnection: { connectionString: "semanticmodelid=model-1" } },
      });
      expect(created.outs).to.include({ reportId: created.id, semanticModelId: "model-1" });

      expect((await p.diff!(created.id, created.outs!, inputs)).changes).to.equal(false);
      const rebound = { ...inputs, semanticModelId: "model-2" };
      expect((await p.diff!(created.id, created.outs!, rebound)).changes).to.equal(true);
      await p.update!(created.id, created.outs!, rebound);
      expect(fake.calls("POST", /\/reports\/[^/]+\/updateDefinition$/)).to.have.length(1);
      expect(fake.decodedParts(created.id)["definition.pbir"]).to.contain("semanticmodelid=model-2");
    });
  });

  // ---------------------------------------------------------------- binding and refresh

  describe("ModelConnectionBinding and ModelRefresh", () => {
    const setup = async () => {
      const ws = await workspace();
      const model = await semanticModelProvider(options).create({ workspaceId: ws, displayName: "Oms", parts: MODEL_PARTS });
      const conn = await databricksConnectionProvider(options).create({
        displayName: "c",
        host: "adb-1.azuredatabricks.net",
        httpPath: "/sql/1.0/warehouses/w",
        tenantId: "t",
        clientId: "c",
        clientSecret: "s",
        credentialVersion: "1",
      });
      return { ws, modelId: model.id, connId: conn.id, connPath: conn.outs!.connectionPath! };
    };

    it("binds the model with Fabric bindConnection using the connection's type and path, rebinds on trigger, unbinds on delete", async () => {
      const { ws, modelId, connId, connPath } = await setup();
      const p = modelConnectionBindingProvider(options);
      const inputs = { workspaceId: ws, semanticModelId: modelId, connectionId: connId, trigger: "h1" };
      const created = await p.create(inputs);
      expect(fake.bindings).to.deep.equal([
        {
          workspaceId: ws,
          modelId,
          binding: {
            id: connId,
            connectivityType: "ShareableCloud",
            connectionDetails: { type: "Databricks", path: connPath },
          },
        },
      ]);
      expect((await p.diff!(created.id, created.outs!, inputs)).changes).to.equal(false);
      const next = { ...inputs, trigger: "h2" };
      expect((await p.diff!(created.id, created.outs!, next)).changes).to.equal(true);
      const updated = await p.update!(created.id, created.outs!, next);
      expect(fake.bindings).to.have.length(2);
      expect((await p.read!(created.id, updated.outs)).id).to.equal(created.id);

      await p.delete!(created.id, updated.outs!);
      expect(fake.bindings[2].binding).to.deep.equal({
        connectivityType: "None",
        connectionDetails: { type: "Databricks", path: connPath },
      });
      fake.items.delete(modelId);
      expect((await p.read!(created.id, updated.outs)).id).to.equal("");
      await p.delete!(created.id, updated.outs!); // model gone: nothing to unbind
    });

    it("explains a binding to a connection that was deleted out of band", async () => {
      const { ws, modelId, connId } = await setup();
      fake.connections.delete(connId);
      const e = await rejection(
        modelConnectionBindingProvider(options).create({ workspaceId: ws, semanticModelId: modelId, connectionId: connId }),
      );
      expect(e.message).to.contain(`Connection ${connId} was not found`);
      expect(e.message).to.contain("pulumi refresh");
    });

    it("refreshes on create and when the trigger changes, not otherwise", async () => {
      const { ws, modelId } = await setup();
      const p = modelRefreshProvider(options);
      const inputs = { workspaceId: ws, semanticModelId: modelId, trigger: "hash-1" };
      const created = await p.create(inputs);
      expect(fake.refreshes).to.have.length(1);
      expect(created.outs?.refreshRequestId).to.match(/^[0-9a-f-]{36}$/);
      expect((await p.diff!(created.id, created.outs!, inputs)).changes).to.equal(false);
      const next = { ...inputs, trigger: "hash-2" };
      expect(await p.diff!(created.id, created.outs!, next)).to.deep.equal({ changes: true, replaces: [] });
      await p.update!(created.id, created.outs!, next);
      expect(fake.refreshes).to.have.length(2);
      await p.delete!(created.id, created.outs!);
      expect(fake.refreshes).to.have.length(2);
    });
  });

  it("a whole deployment converges: a second pass with the same inputs plans no change", async () => {
    const wsP = fabricWorkspaceProvider(options);
    const ws = await wsP.create({ displayName: "oms-prod", capacityId: "cap" });
    const modelInputs: SemanticModelInputs = {
      workspaceId: ws.id,
      displayName: "Oms",
      parts: MODEL_PARTS,
      parameters: { Catalog: "oms_prod" },
    };
    const model = await semanticModelProvider(options).create(modelInputs);
    const reportInputs = { workspaceId: ws.id, displayName: "Oms", parts: REPORT_PARTS, semanticModelId: model.id };
    const report = await reportProvider(options).create(reportInputs);
    const refreshInputs = { workspaceId: ws.id, semanticModelId: model.id, trigger: model.outs!.partsHash };
    const refresh = await modelRefreshProvider(options).create(refreshInputs);

    const diffs = await Promise.all([
      wsP.diff!(ws.id, ws.outs!, { displayName: "oms-prod", capacityId: "cap" }),
      semanticModelProvider(options).diff!(model.id, model.outs!, modelInputs),
      reportProvider(options).diff!(report.id, report.outs!, reportInputs),
      modelRefreshProvider(options).diff!(refresh.id, refresh.outs!, refreshInputs),
    ]);
    expect(diffs.map((d) => d.changes)).to.deep.equal([false, false, false, false]);
  });
});
