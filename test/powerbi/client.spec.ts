import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { FabricApiError, FabricClient, FabricClientOptions, NameTakenError } from "../../components/powerbi/client";
import { fakeCredential, FakeFabric } from "./fakeFabric";
import { rejection } from "./rejection";

describe("powerbi/client: FabricClient against the fake Fabric API", () => {
  const fake = new FakeFabric();
  let sleeps: number[];
  let scopes: string[];

  const client = (extra: Partial<FabricClientOptions> = {}) =>
    new FabricClient({
      fabricBaseUrl: fake.fabricBaseUrl,
      powerBiBaseUrl: fake.powerBiBaseUrl,
      credential: fakeCredential(scopes),
      sleep: (ms) => {
        sleeps.push(ms);
        return Promise.resolve();
      },
      ...extra,
    });

  before(() => fake.start());
  after(() => fake.stop());
  beforeEach(() => {
    fake.reset();
    sleeps = [];
    scopes = [];
  });

  it("sends a bearer token for the Fabric scope and the documented create-workspace body", async () => {
    const ws = await client().createWorkspace({ displayName: "oms-dev", description: "d", capacityId: "cap-1" });
    const [req] = fake.calls("POST", /^\/v1\/workspaces$/);
    expect(req.body).to.deep.equal({ displayName: "oms-dev", description: "d", capacityId: "cap-1" });
    expect(req.authorization).to.equal("Bearer fake-token");
    expect(scopes).to.deep.equal(["https://api.fabric.microsoft.com/.default"]);
    expect(fake.workspaces.get(ws.id)?.capacityId).to.equal("cap-1");
  });

  it("uses the Power BI scope for Power BI calls and caches tokens per scope", async () => {
    const c = client();
    const ws = await c.createWorkspace({ displayName: "w" });
    const model = await c.createItem(ws.id, "semanticModels", { displayName: "m", definition: { parts: [] } });
    await c.refreshDataset(ws.id, model.id);
    await c.refreshDataset(ws.id, model.id);
    expect(scopes).to.deep.equal([
      "https://api.fabric.microsoft.com/.default",
      "https://analysis.windows.net/powerbi/api/.default",
    ]);
  });

  it("returns a 201 body directly without polling", async () => {
    const c = client();
    const ws = await c.createWorkspace({ displayName: "w" });
    const item = await c.createItem(ws.id, "reports", { displayName: "r", definition: { parts: [] } });
    expect(item.displayName).to.equal("r");
    expect(fake.calls("GET", /operations/)).to.have.length(0);
  });

  it("follows a 202 long-running operation: polls state until Succeeded, then GETs the result", async () => {
    const c = client();
    const ws = await c.createWorkspace({ displayName: "w" });
    fake.lro = true;
    fake.lroRunningPolls = 2;
    const item = await c.createItem(ws.id, "semanticModels", { displayName: "m", definition: { parts: [] } });
    expect(item.id).to.be.a("string").and.equal([...fake.items.keys()][0]);
    const polls = fake.calls("GET", /^\/v1\/operations\//).map((r) => r.path.replace(/[0-9a-f-]{36}/, "{id}"));
    expect(polls).to.deep.equal([
      "/v1/operations/{id}",
      "/v1/operations/{id}",
      "/v1/operations/{id}",
      "/v1/operations/{id}/result",
    ]);
    // Retry-After: 0 from the service is honoured (no default 5 s wait).
    expect(sleeps.every((ms) => ms === 0)).to.equal(true);
  });

  it("does not fetch a result for an operation that has none (updateDefinition)", async () => {
    const c = client();
    const ws = await c.createWorkspace({ displayName: "w" });
    const item = await c.createItem(ws.id, "semanticModels", { displayName: "m", definition: { parts: [] } });
    fake.lro = true;
    await c.updateItemDefinition(ws.id, "semanticModels", item.id, { parts: [] });
    expect(fake.calls("GET", /\/result$/)).to.have.length(0);
    expect(fake.calls("GET", /^\/v1\/operations\/[^/]+$/)).to.have.length(2);
  });

  it("polls the operation by x-ms-operation-id when there is no Location header", async () => {
    const c = client();
    const ws = await c.createWorkspace({ displayName: "w" });
    fake.lro = true;
    fake.lroRunningPolls = 0;
    // First create answers 202 with only the operation id; the fake's operation still exists.
    const opId = "11111111-2222-3333-4444-555555555555";
    fake.operations.set(opId, { runningPolls: 0, result: { id: "from-result", displayName: "m" } });
    fake.enqueue("POST", /semanticModels$/, { status: 202, headers: { "x-ms-operation-id": opId, "Retry-After": "3" } });
    const item = await c.createItem(ws.id, "semanticModels", { displayName: "m", definition: { parts: [] } });
    expect(item.id).to.equal("from-result");
    expect(fake.calls("GET", new RegExp(`/v1/operations/${opId}$`))).to.have.length(1);
    expect(sleeps[0]).to.equal(3000);
  });

  it("turns a Failed operation into an error naming the request and the error code", async () => {
    const c = client();
    const ws = await c.createWorkspace({ displayName: "w" });
    fake.failNextOperation("InvalidDefinition", "model.tmdl line 3: unexpected token");
    const e = await rejection(
      c.createItem(ws.id, "semanticModels", { displayName: "m", definition: { parts: [] } }),
    );
    expect(e.message).to.match(/POST \/v1\/workspaces\/[^ ]+\/semanticModels/);
    expect(e.message).to.contain("Failed InvalidDefinition: model.tmdl line 3");
  });

  it("retries 429 honouring Retry-After seconds, then succeeds", async () => {
    fake.enqueue(
      "POST",
      /^\/v1\/workspaces$/,
      { status: 429, body: { errorCode: "RequestBlocked", message: "slow down" }, headers: { "Retry-After": "7" } },
      { status: 429, body: { errorCode: "RequestBlocked", message: "slow down" }, headers: { "Retry-After": "1" } },
    );
    const ws = await client().createWorkspace({ displayName: "w" });
    expect(ws.id).to.be.a("string");
    expect(sleeps).to.deep.equal([7000, 1000]);
    expect(fake.calls("POST", /^\/v1\/workspaces$/)).to.have.length(3);
    expect(fake.workspaces.size).to.equal(1);
  });

  it("retries transient 5xx with exponential back-off when there is no Retry-After", async () => {
    fake.enqueue("GET", /^\/v1\/workspaces$/, { status: 503 }, { status: 500, body: { errorCode: "InternalError" } });
    const list = await client({ backoffSeconds: 0.001 }).listWorkspaces();
    expect(list).to.deep.equal([]);
    expect(sleeps).to.deep.equal([1, 2]);
  });

  it("retries ItemDisplayNameNotAvailableYet (400) until the name is released", async () => {
    const c = client({ displayNameRetrySeconds: 0.002 });
    const ws = await c.createWorkspace({ displayName: "w" });
    fake.enqueue("POST", /semanticModels$/, {
      status: 400,
      body: { errorCode: "ItemDisplayNameNotAvailableYet", message: "name not available yet" },
    });
    const item = await c.createItem(ws.id, "semanticModels", { displayName: "m", definition: { parts: [] } });
    expect(item.displayName).to.equal("m");
    expect(sleeps).to.deep.equal([2]);
  });

  it("gives up after maxAttempts and says what to do", async () => {
    for (let i = 0; i < 3; i++) {
      fake.enqueue("GET", /^\/v1\/workspaces$/, {
        status: 429,
        body: { errorCode: "RequestBlocked", message: "throttled", requestId: "rid-429" },
        headers: { "Retry-After": "0" },
      });
    }
    const e = await rejection(client({ maxAttempts: 3 }).listWorkspaces());
    expect(e).to.be.instanceOf(FabricApiError);
    expect(e.message).to.contain("GET /v1/workspaces failed with 429");
    expect(e.message).to.contain("RequestBlocked: throttled");
    expect(e.message).to.contain("requestId rid-429");
    expect(e.message).to.contain("--parallel");
    expect(fake.calls("GET", /^\/v1\/workspaces$/)).to.have.length(3);
  });

  it("surfaces a permanent 403 at once with the tenant-setting hint and the request id", async () => {
    fake.enqueue("POST", /^\/v1\/workspaces$/, {
      status: 403,
      body: { errorCode: "InsufficientPrivileges", message: "The caller does not have sufficient privileges", requestId: "rid-1" },
    });
    const e = (await rejection(client().createWorkspace({ displayName: "w" }))) as FabricApiError;
    expect(e.status).to.equal(403);
    expect(e.errorCode).to.equal("InsufficientPrivileges");
    expect(e.message).to.contain("Fabric API POST /v1/workspaces failed with 403");
    expect(e.message).to.contain("requestId rid-1");
    expect(e.message).to.contain("Service principals can use Fabric APIs");
    expect(e.message).to.contain("member of the workspace");
    expect(fake.calls("POST", /^\/v1\/workspaces$/)).to.have.length(1);
    expect(sleeps).to.deep.equal([]);
  });

  it("surfaces a permanent 400 without retrying, with the body's error code and message", async () => {
    fake.enqueue("POST", /^\/v1\/connections$/, {
      status: 400,
      body: { errorCode: "InvalidInput", message: "Credential type is required" },
    });
    const e = (await rejection(
      client().createConnection({ displayName: "c", connectivityType: "ShareableCloud", connectionDetails: { type: "Databricks", parameters: [] } }),
    )) as FabricApiError;
    expect(e.message).to.contain("POST /v1/connections failed with 400 Bad Request InvalidInput: Credential type is required");
    expect(e.message).to.match(/requestId req-\d+/); // from the x-ms-request-id header
    expect(fake.calls("POST", /connections/)).to.have.length(1);
  });

  it("refuses a name that is already taken before sending the create, naming the holder and the remedy", async () => {
    const c = client();
    const taken = await c.createWorkspace({ displayName: "taken" });
    fake.requests.length = 0;
    const e = await rejection(c.createWorkspace({ displayName: "Taken" }));
    expect(e).to.be.instanceOf(NameTakenError);
    expect((e as NameTakenError).existingId).to.equal(taken.id);
    expect(e.message).to.contain(`A Fabric workspace named "Taken" already exists (id ${taken.id})`);
    expect(e.message).to.contain("adoptExisting: true");
    expect(fake.calls("POST")).to.have.length(0);
  });

  it("names a name clash (409) that the look-up could not see and suggests another name or adoption", async () => {
    fake.enqueue("POST", /^\/v1\/workspaces$/, {
      status: 409,
      body: { errorCode: "WorkspaceNameAlreadyExists", message: "Workspace name 'raced' already exists" },
    });
    const e = await rejection(client().createWorkspace({ displayName: "raced" }));
    expect(e.message).to.contain("409");
    expect(e.message).to.contain("WorkspaceNameAlreadyExists");
    expect(e.message).to.contain("adopt");
    expect(fake.calls("POST")).to.have.length(1);
  });

  it("maps 404 on GET to undefined (deleted out of band) and 404 on DELETE to success", async () => {
    const c = client();
    expect(await c.getWorkspace("00000000-0000-0000-0000-000000000000")).to.equal(undefined);
    await c.deleteWorkspace("00000000-0000-0000-0000-000000000000");
  });

  it("reads Power BI's error shape", async () => {
    const c = client();
    const ws = await c.createWorkspace({ displayName: "w" });
    const e = await rejection(c.refreshDataset(ws.id, "missing"));
    expect(e.message).to.contain("Power BI API POST /v1.0/myorg/groups/");
    expect(e.message).to.contain("404 Not Found ItemNotFound: Dataset not found");
    expect(e.message).to.contain("deleted out of band");
  });

  it("does not treat the Power BI refresh 202 as a Fabric operation and returns its RequestId", async () => {
    const c = client();
    const ws = await c.createWorkspace({ displayName: "w" });
    const m = await c.createItem(ws.id, "semanticModels", { displayName: "m", definition: { parts: [] } });
    const requestId = await c.refreshDataset(ws.id, m.id);
    expect(requestId).to.match(/^[0-9a-f-]{36}$/);
    expect(fake.refreshes).to.deep.equal([
      { workspaceId: ws.id, datasetId: m.id, body: { notifyOption: "NoNotification" }, requestId },
    ]);
    expect(fake.calls("GET", /operations/)).to.have.length(0);
  });

  it("sends the refresh body the pipeline's refresh client sends on shared capacity (shared fixture)", async () => {
    // test/fixtures/powerbi-refresh-requests.json is also asserted by pipelines/tests/test_powerbi_refresh.py.
    const fixture = JSON.parse(
      fs.readFileSync(path.join(__dirname, "..", "fixtures", "powerbi-refresh-requests.json"), "utf8"),
    ) as { sharedCapacity: unknown };
    const c = client();
    const ws = await c.createWorkspace({ displayName: "w" });
    const m = await c.createItem(ws.id, "semanticModels", { displayName: "m", definition: { parts: [] } });
    await c.refreshDataset(ws.id, m.id);
    expect(fake.refreshes.map((r) => r.body)).to.deep.equal([fixture.sharedCapacity]);
  });

  it("follows continuationUri paging when listing workspaces", async () => {
    const c = client();
    for (const n of ["a", "b", "c", "d", "e"]) await c.createWorkspace({ displayName: n });
    fake.workspacePageSize = 2;
    fake.requests.length = 0;
    const all = await c.listWorkspaces();
    expect(all.map((w) => w.displayName)).to.deep.equal(["a", "b", "c", "d", "e"]);
    expect(fake.calls("GET", /^\/v1\/workspaces/)).to.have.length(3);
    expect((await c.findWorkspaceByName("D"))?.displayName).to.equal("d");
  });

  it("never sends the token to an operation Location on another origin", async () => {
    const c = client();
    const ws = await c.createWorkspace({ displayName: "w" });
    const opId = "99999999-2222-3333-4444-555555555555";
    fake.operations.set(opId, { runningPolls: 0, result: { id: "x", displayName: "m" } });
    fake.enqueue("POST", /semanticModels$/, {
      status: 202,
      headers: { "x-ms-operation-id": opId, Location: "https://evil.example/v1/operations/x", "Retry-After": "0" },
    });
    const item = await c.createItem(ws.id, "semanticModels", { displayName: "m", definition: { parts: [] } });
    expect(item.id).to.equal("x");
    expect(fake.calls("GET", new RegExp(opId))).to.have.length(2);
  });

  it("retries network failures and then reports the unreachable origin", async () => {
    const e = await rejection(
      new FabricClient({
        fabricBaseUrl: "http://127.0.0.1:9/v1",
        credential: fakeCredential(),
        maxAttempts: 2,
        sleep: () => Promise.resolve(),
      }).listWorkspaces(),
    );
    expect(e.message).to.contain("GET /v1/workspaces could not be reached after 2 attempts");
  });
});
