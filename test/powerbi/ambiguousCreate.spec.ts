/**
 * Creates whose answer is lost. The fake applies the POST and then answers 429 / 5xx or drops the
 * connection; every provider that creates something must end with exactly one item, return its
 * id, and converge on the next read/diff. A name held before the create is still refused.
 */
import { expect } from "chai";
import {
  databricksConnectionProvider,
  DatabricksConnectionInputs,
  FabricApiError,
  fabricWorkspaceProvider,
  modelRefreshProvider,
  NameTakenError,
  ProviderOptions,
  reportProvider,
  semanticModelProvider,
  workspaceRoleAssignmentProvider,
} from "../../components/powerbi";
import { AMBIGUOUS_FAULTS, fakeCredential, FakeFabric } from "./fakeFabric";
import { MODEL_PARTS, REPORT_PARTS } from "./fixtures";
import { rejection } from "./rejection";

const WS = "0f6c5a0e-0000-4000-8000-000000000001";
const MODEL = "0f6c5a0e-0000-4000-8000-00000000000m";

interface Created {
  id: string;
  outs?: Record<string, unknown>;
}

/** One kind of thing a provider creates, with how to count it in the fake. */
interface Kind {
  name: string;
  /** Path of its create request. */
  post: RegExp;
  /** Ids of the things of this kind the fake holds. */
  ids(fake: FakeFabric): string[];
  /** The provider's id for the thing with this fake id. */
  providerId(fakeId: string): string;
  /** Creates it through its provider, then reads and diffs it with the same inputs. */
  create(options: ProviderOptions): Promise<{ created: Created; readId: string; changes: boolean }>;
  /** Puts a conflicting thing of this kind into the fake, as if made outside the stack. */
  preExisting(fake: FakeFabric): string;
}

const CONNECTION: DatabricksConnectionInputs = {
  displayName: "oms-dev - Databricks",
  host: "adb-123.4.azuredatabricks.net",
  httpPath: "/sql/1.0/warehouses/abc",
  tenantId: "tenant-1",
  clientId: "client-1",
  clientSecret: "s3cret",
  credentialVersion: "1",
};

/** create → read → diff with the same inputs, as `pulumi up` then `pulumi refresh`/`up` would. */
async function roundTrip<I, O>(
  p: {
    create(i: I): Promise<{ id: string; outs?: O }>;
    read?(id: string, props?: O): Promise<{ id?: string; props?: O }>;
    diff?(id: string, olds: O, news: I): Promise<{ changes?: boolean }>;
  },
  inputs: I,
) {
  const created = await p.create(inputs);
  const read = await p.read!(created.id, created.outs);
  const diff = await p.diff!(created.id, read.props ?? created.outs!, inputs);
  return {
    created: created as unknown as Created,
    readId: read.id ?? "",
    changes: diff.changes ?? false,
  };
}

const KINDS: Kind[] = [
  {
    name: "workspace",
    post: /^\/v1\/workspaces$/,
    ids: (f) => [...f.workspaces.values()].filter((w) => w.displayName.toLowerCase() === "oms-new").map((w) => w.id),
    providerId: (id) => id,
    create: (o) => roundTrip(fabricWorkspaceProvider(o), { displayName: "oms-new", description: "OMS" }),
    preExisting: (f) => {
      f.workspaces.set("ws-foreign", { id: "ws-foreign", displayName: "OMS-NEW", description: "" });
      return "ws-foreign";
    },
  },
  {
    name: "role assignment",
    post: /\/roleAssignments$/,
    ids: (f) => [...f.roleAssignments.keys()].filter((k) => k.startsWith(`${WS}/`)).map((k) => k.split("/")[1]),
    providerId: (id) => `${WS}/${id}`,
    create: (o) =>
      roundTrip(workspaceRoleAssignmentProvider(o), {
        workspaceId: WS,
        principalId: "sp-publisher",
        principalType: "ServicePrincipal",
        role: "Admin",
      }),
    preExisting: (f) => {
      const principal = { id: "sp-publisher", type: "ServicePrincipal" };
      f.roleAssignments.set(`${WS}/sp-publisher`, { id: "sp-publisher", principal, role: "Viewer" });
      return "sp-publisher";
    },
  },
  {
    name: "connection",
    post: /^\/v1\/connections$/,
    ids: (f) => [...f.connections.keys()],
    providerId: (id) => id,
    create: (o) => roundTrip(databricksConnectionProvider(o), CONNECTION),
    preExisting: (f) => foreignConnection(f, "conn-foreign", { type: "Databricks", path: "elsewhere" }),
  },
  {
    name: "semantic model",
    post: /\/semanticModels$/,
    ids: (f) => [...f.items.values()].filter((i) => i.type === "SemanticModel" && i.id !== MODEL).map((i) => i.id),
    providerId: (id) => id,
    create: (o) =>
      roundTrip(semanticModelProvider(o), { workspaceId: WS, displayName: "OmsLakehouse", parts: MODEL_PARTS }),
    preExisting: (f) => foreignItem(f, "semanticModels", "SemanticModel"),
  },
  {
    name: "report",
    post: /\/reports$/,
    ids: (f) => [...f.items.values()].filter((i) => i.type === "Report").map((i) => i.id),
    providerId: (id) => id,
    create: (o) =>
      roundTrip(reportProvider(o), {
        workspaceId: WS,
        displayName: "OmsLakehouse",
        parts: REPORT_PARTS,
        semanticModelId: MODEL,
      }),
    preExisting: (f) => foreignItem(f, "reports", "Report"),
  },
  {
    name: "model refresh",
    post: /\/refreshes$/,
    ids: (f) => f.refreshes.map((r) => r.requestId),
    providerId: () => `${MODEL}/refresh`,
    create: (o) => roundTrip(modelRefreshProvider(o), { workspaceId: WS, semanticModelId: MODEL, trigger: "h1" }),
    // A refresh has no name: an earlier refresh is never taken for this one (see below).
    preExisting: (f) => {
      f.refreshes.push({ workspaceId: WS, datasetId: MODEL, body: {}, requestId: "earlier-refresh" });
      return "earlier-refresh";
    },
  },
];

/** A shareable connection of the stack's connection name, made outside the stack. */
function foreignConnection(f: FakeFabric, id: string, connectionDetails: { type: string; path: string }): string {
  f.connections.set(id, {
    id,
    displayName: CONNECTION.displayName,
    connectivityType: "ShareableCloud",
    privacyLevel: "Organizational",
    connectionDetails,
    credentialType: "ServicePrincipal",
    secret: undefined,
  });
  return id;
}

function foreignItem(f: FakeFabric, collection: string, type: string): string {
  f.items.set("item-foreign", {
    id: "item-foreign",
    type,
    displayName: "OmsLakehouse",
    description: "made in the portal",
    workspaceId: WS,
    collection,
    parts: [],
  });
  return "item-foreign";
}

describe("powerbi providers: a create whose answer is lost is neither repeated nor failed", () => {
  const fake = new FakeFabric();
  let sleeps: number[];
  let options: ProviderOptions;
  /** Replaces the answer to a request when it returns a Response; undefined passes it through. */
  let intercept: ((url: string, init: RequestInit, res: Response) => Response | undefined) | undefined;
  before(() => fake.start());
  after(() => fake.stop());
  beforeEach(() => {
    fake.reset();
    sleeps = [];
    options = {
      fabricBaseUrl: fake.fabricBaseUrl,
      powerBiBaseUrl: fake.powerBiBaseUrl,
      credential: fakeCredential(),
      backoffSeconds: 0.001,
      sleep: (ms) => {
        sleeps.push(ms);
        return Promise.resolve();
      },
      fetch: (async (url: string, init: RequestInit) => {
        const res = await fetch(url, init);
        return intercept?.(url, init, res) ?? res;
      }) as typeof fetch,
    };
    intercept = undefined;
    // The workspace and model the other kinds live in, made outside these providers.
    fake.workspaces.set(WS, { id: WS, displayName: "oms-dev", description: "" });
    fake.items.set(MODEL, {
      id: MODEL,
      type: "SemanticModel",
      displayName: "Existing model",
      description: "",
      workspaceId: WS,
      collection: "semanticModels",
      parts: [],
    });
  });

  /** Creates through the provider: one exists, its id is returned, posted once, read/diff converge. */
  async function createsExactlyOne(kind: Kind): Promise<void> {
    const { created, readId, changes } = await kind.create(options);
    const ids = kind.ids(fake);
    expect(ids).to.have.length(1);
    expect(created.id).to.equal(kind.providerId(ids[0]));
    expect(readId).to.equal(created.id);
    expect(changes).to.equal(false);
    expect(fake.calls("POST", kind.post)).to.have.length(1);
  }

  it("the reported case: POST semanticModels applied, 429 Retry-After: 1 → the model is adopted, not posted again", async () => {
    fake.applyThen("POST", /\/semanticModels$/, {
      status: 429,
      body: { errorCode: "RequestBlocked", message: "throttled" },
      headers: { "Retry-After": "1" },
    });
    const inputs = { workspaceId: WS, displayName: "OmsLakehouse", parts: MODEL_PARTS };
    const p = semanticModelProvider(options);
    const created = await p.create(inputs);
    const models = [...fake.items.values()].filter((i) => i.displayName === "OmsLakehouse");
    expect(models.map((m) => m.id)).to.deep.equal([created.id]);
    expect(created.outs).to.include({ semanticModelId: created.id, itemId: created.id });
    expect(fake.calls("POST", /\/semanticModels$/)).to.have.length(1);
    expect(sleeps).to.deep.equal([1000]); // Retry-After honoured before looking
    // The next `pulumi up`: read and diff find nothing to do.
    const read = await p.read!(created.id, created.outs);
    expect(read.id).to.equal(created.id);
    expect((await p.diff!(created.id, read.props!, inputs)).changes).to.equal(false);
  });

  for (const kind of KINDS) {
    describe(kind.name, () => {
      for (const { name, fault } of AMBIGUOUS_FAULTS) {
        it(`create applied, then ${name}: exactly one exists, its id is returned, read/diff converge`, async () => {
          fake.applyThen("POST", kind.post, fault);
          await createsExactlyOne(kind);
        });
      }

      if (kind.name !== "model refresh") {
        it("a name held before the create is refused with the holder's id and a remedy, and nothing is posted", async () => {
          const foreign = kind.preExisting(fake);
          const e = await rejection(kind.create(options));
          expect(e).to.be.instanceOf(NameTakenError);
          expect((e as NameTakenError).existingId).to.equal(foreign);
          expect(e.message).to.match(
            /already exists \(id [^)]+\) and is not in this stack's state: it was made outside the stack, or by an earlier create of this stack that was interrupted .*\. What to do: /,
          );
          expect(fake.calls("POST", kind.post)).to.have.length(0);
          expect(kind.ids(fake)).to.deep.equal([foreign]);
        });
      }
    });
  }

  it("an earlier refresh is never taken for the one requested: a lost answer still yields the new refresh", async () => {
    const earlier = KINDS.find((k) => k.name === "model refresh")!.preExisting(fake);
    fake.applyThen("POST", /\/refreshes$/, "drop");
    const { created } = await KINDS.find((k) => k.name === "model refresh")!.create(options);
    const ids = fake.refreshes.map((r) => r.requestId);
    expect(ids).to.have.length(2);
    expect(created.outs?.refreshRequestId).to.equal(ids.find((id) => id !== earlier));
  });

  it("the look-up after the lost answer does not see the item yet: the retry's 409 is answered by adopting it", async () => {
    // Pre-check and first look both read an empty list (the list lags the write).
    fake.enqueue("GET", /\/semanticModels$/, { status: 200, body: { value: [] } }, { status: 200, body: { value: [] } });
    fake.applyThen("POST", /\/semanticModels$/, { status: 503 });
    const created = await semanticModelProvider(options).create({
      workspaceId: WS,
      displayName: "OmsLakehouse",
      parts: MODEL_PARTS,
    });
    expect(fake.calls("POST", /\/semanticModels$/)).to.have.length(2); // the second got 409
    const models = [...fake.items.values()].filter((i) => i.displayName === "OmsLakehouse");
    expect(models.map((m) => m.id)).to.deep.equal([created.id]);
  });

  it("with no attempts left the lost answer is still looked up before giving up", async () => {
    fake.applyThen("POST", /^\/v1\/connections$/, "drop");
    const created = await databricksConnectionProvider({ ...options, maxAttempts: 1 }).create(CONNECTION);
    expect([...fake.connections.keys()]).to.deep.equal([created.id]);
  });

  it("a long-running create (202) whose first answer is lost is adopted too", async () => {
    fake.lro = true;
    fake.applyThen("POST", /\/reports$/, { status: 500 });
    const created = await reportProvider(options).create({
      workspaceId: WS,
      displayName: "OmsLakehouse",
      parts: REPORT_PARTS,
      semanticModelId: MODEL,
    });
    expect([...fake.items.values()].filter((i) => i.type === "Report").map((i) => i.id)).to.deep.equal([created.id]);
    expect(fake.calls("POST", /\/reports$/)).to.have.length(1);
  });

  it("an item that appears under the name but is not what was asked is refused, not adopted", async () => {
    // Not applied: the service failed; meanwhile someone makes a Power BI connection of that name.
    fake.enqueue("POST", /^\/v1\/connections$/, { status: 502 });
    const e = await rejection(
      databricksConnectionProvider({
        ...options,
        sleep: () => {
          foreignConnection(fake, "conn-other", { type: "Sql", path: "sql.example;db" });
          return Promise.resolve();
        },
      }).create(CONNECTION),
    );
    expect(e).to.be.instanceOf(NameTakenError);
    expect(e.message).to.contain("(id conn-other) but it is not the one asked for");
    expect([...fake.connections.keys()]).to.deep.equal(["conn-other"]);
  });

  it("the fake keeps connection names unique per tenant with DuplicateConnectionName", async () => {
    await databricksConnectionProvider(options).create(CONNECTION);
    const res = await fetch(`${fake.fabricBaseUrl}/connections`, {
      method: "POST",
      headers: { Authorization: "Bearer t", "Content-Type": "application/json" },
      body: JSON.stringify({
        displayName: CONNECTION.displayName,
        connectivityType: "ShareableCloud",
        connectionDetails: { type: "Databricks", parameters: [] },
        credentialDetails: { credentials: { credentialType: "Anonymous" } },
      }),
    });
    expect(res.status).to.equal(409);
    expect(((await res.json()) as { errorCode: string }).errorCode).to.equal("DuplicateConnectionName");
    expect(fake.connections.size).to.equal(1);
  });

  const MODEL_IN = { workspaceId: WS, displayName: "OmsLakehouse", parts: MODEL_PARTS };
  const models = () => [...fake.items.values()].filter((i) => i.displayName === "OmsLakehouse");
  const EMPTY = { status: 200, body: { value: [] } };

  describe("after an ambiguous answer, a name clash means the item is probably this create's", () => {
    it("applied + 429, the list lags for four look-ups: after the retry's 409 it is looked up with back-off until it shows, then adopted", async () => {
      fake.applyThen("POST", /\/semanticModels$/, { status: 429, headers: { "Retry-After": "1" } });
      // The pre-check, the look before the retry, and the first two looks after the 409.
      fake.enqueue("GET", /\/semanticModels$/, EMPTY, EMPTY, EMPTY, EMPTY);
      const p = semanticModelProvider(options);
      const created = await p.create(MODEL_IN);
      expect(models().map((m) => m.id)).to.deep.equal([created.id]);
      expect(fake.calls("POST", /\/semanticModels$/)).to.have.length(2);
      expect(fake.calls("GET", /\/semanticModels$/)).to.have.length(5);
      expect(sleeps).to.deep.equal([1000, 1, 2]); // Retry-After, then the client's back-off
      // The next `pulumi up` finds it in state and has nothing to do.
      const read = await p.read!(created.id, created.outs);
      expect((await p.diff!(created.id, read.props!, MODEL_IN)).changes).to.equal(false);
    });

    it("one that never shows fails saying it is probably this deployment's own and how to resolve that", async () => {
      fake.applyThen("POST", /\/semanticModels$/, { status: 503 });
      // The pre-check, the look before the retry, and all three looks after the 409.
      fake.enqueue("GET", /\/semanticModels$/, EMPTY, EMPTY, EMPTY, EMPTY, EMPTY);
      const e = await rejection(semanticModelProvider({ ...options, maxAttempts: 3 }).create(MODEL_IN));
      expect(e.message).to.match(/^POST \/workspaces\/[^/]+\/semanticModels: .*409 Conflict ItemDisplayNameAlreadyInUse/);
      expect(e.message).to.contain("did not show in 3 look-ups by name. It is probably this deployment's own");
      expect(e.message).to.contain("if it was made by this run (see its creation time), delete it and run `pulumi up` again");
      expect(e.message).not.to.contain("the name is held by another item");
      expect(fake.calls("POST", /\/semanticModels$/)).to.have.length(2);
      expect(models()).to.have.length(1);
    });

    it("a 409 with no ambiguous answer before it is another's item: refused at once, without waiting for it", async () => {
      fake.enqueue("GET", /\/semanticModels$/, EMPTY); // the name is taken after the pre-check
      foreignItem(fake, "semanticModels", "SemanticModel");
      const e = await rejection(semanticModelProvider(options).create(MODEL_IN));
      expect(e).to.be.instanceOf(FabricApiError);
      expect((e as FabricApiError).errorCode).to.equal("ItemDisplayNameAlreadyInUse");
      expect(fake.calls("GET", /\/semanticModels$/)).to.have.length(1);
      expect(sleeps).to.deep.equal([]);
    });
  });

  describe("a long-running create (202) accepted, whose outcome is then lost, is looked up and adopted", () => {
    const cases: { name: string; maxAttempts: number; inject: () => void }[] = [
      {
        name: "every operation poll dropped",
        maxAttempts: 2,
        inject: () => {
          fake.applyThen("GET", /\/operations\/[^/]+$/, "drop");
          fake.applyThen("GET", /\/operations\/[^/]+$/, "drop");
        },
      },
      {
        name: "every operation poll answered 503",
        maxAttempts: 2,
        inject: () => fake.enqueue("GET", /\/operations\/[^/]+$/, { status: 503 }, { status: 503 }),
      },
      {
        name: "the /result fetch answered 500",
        maxAttempts: 1,
        inject: () => fake.applyThen("GET", /\/operations\/[^/]+\/result$/, { status: 500 }),
      },
      {
        name: "the /result fetch dropped",
        maxAttempts: 1,
        inject: () => fake.applyThen("GET", /\/operations\/[^/]+\/result$/, "drop"),
      },
    ];
    for (const c of cases) {
      it(`${c.name}: exactly one model, posted once, its id returned, read/diff converge`, async () => {
        fake.lro = true;
        c.inject();
        const p = semanticModelProvider({ ...options, maxAttempts: c.maxAttempts });
        const created = await p.create(MODEL_IN);
        expect(models().map((m) => m.id)).to.deep.equal([created.id]);
        expect(fake.calls("POST", /\/semanticModels$/)).to.have.length(1);
        const read = await p.read!(created.id, created.outs);
        expect((await p.diff!(created.id, read.props!, MODEL_IN)).changes).to.equal(false);
      });
    }
  });

  describe("an answer whose body is cut off after the headers counts as dropped", () => {
    /** The same status and headers, then the connection fails mid-body ("TypeError: terminated"). */
    const cut = (res: Response) =>
      new Response(
        new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode('{"id":"'));
            c.error(new TypeError("terminated"));
          },
        }),
        { status: res.status, headers: res.headers },
      );

    for (const kind of KINDS) {
      it(`${kind.name}: the create is looked up and adopted, not posted again, and read/diff converge`, async () => {
        let done = false;
        intercept = (url, init, res) => {
          if (done || init.method !== "POST" || !kind.post.test(new URL(url).pathname)) return undefined;
          done = true;
          return cut(res);
        };
        await createsExactlyOne(kind);
      });
    }

    it("a read whose every answer is cut off fails naming the method, the path and what to do", async () => {
      intercept = (_url, init, res) => (init.method === "GET" ? cut(res) : undefined);
      const e = await rejection(fabricWorkspaceProvider({ ...options, maxAttempts: 2 }).read!(WS));
      expect(e.message).to.equal(
        `Fabric API GET /v1/workspaces/${WS} answered 200 but its body was cut off after 2 attempts: terminated. What to do: check network access to ${new URL(fake.fabricBaseUrl).origin} and run again.`,
      );
    });
  });

  for (const other of [
    { what: "another warehouse", target: { host: CONNECTION.host, httpPath: "/sql/1.0/warehouses/zzz" } },
    { what: "another workspace host", target: { host: "adb-999.9.azuredatabricks.net", httpPath: CONNECTION.httpPath } },
  ]) {
    it(`a Databricks connection of the same name and type pointing at ${other.what} is never adopted`, async () => {
      fake.enqueue("POST", /^\/v1\/connections$/, { status: 502 }); // not applied
      const e = await rejection(
        databricksConnectionProvider({
          ...options,
          sleep: () => {
            foreignConnection(fake, "conn-elsewhere", { type: "Databricks", path: JSON.stringify(other.target) });
            return Promise.resolve();
          },
        }).create(CONNECTION),
      );
      expect(e).to.be.instanceOf(NameTakenError);
      expect(e.message).to.contain("(id conn-elsewhere) but it is not the one asked for");
      expect([...fake.connections.keys()]).to.deep.equal(["conn-elsewhere"]);
    });
  }

  describe("a rename into a name another item holds is refused as the service refuses a create", () => {
    /** Creates with `inputs`, then updates to `renamed`; the update's rejection and the item's id. */
    async function rename<I, O>(
      p: { create(i: I): Promise<{ id: string; outs?: O }>; update?(id: string, o: O, n: I): Promise<unknown> },
      inputs: I,
      renamed: I,
    ) {
      const c = await p.create(inputs);
      return { id: c.id, error: await rejection(p.update!(c.id, c.outs!, renamed)) };
    }
    const renames: {
      name: string;
      code: string;
      original: string;
      run: () => Promise<{ id: string; error: Error }>;
      nameOf: (id: string) => string | undefined;
    }[] = [
      {
        name: "semantic model",
        code: "ItemDisplayNameAlreadyInUse",
        original: "OmsLakehouse",
        run: () => rename(semanticModelProvider(options), MODEL_IN, { ...MODEL_IN, displayName: "Existing model" }),
        nameOf: (id) => fake.items.get(id)?.displayName,
      },
      {
        name: "connection",
        code: "DuplicateConnectionName",
        original: "other",
        run: async () => {
          await databricksConnectionProvider(options).create(CONNECTION);
          return rename(databricksConnectionProvider(options), { ...CONNECTION, displayName: "other" }, CONNECTION);
        },
        nameOf: (id) => fake.connections.get(id)?.displayName,
      },
      {
        name: "workspace (names compare case-insensitively)",
        code: "WorkspaceNameAlreadyExists",
        original: "oms-other",
        run: () => rename(fabricWorkspaceProvider(options), { displayName: "oms-other" }, { displayName: "OMS-DEV" }),
        nameOf: (id) => fake.workspaces.get(id)?.displayName,
      },
    ];
    for (const r of renames) {
      it(`${r.name}: 409 ${r.code}, nothing renamed, and the error says to choose another displayName`, async () => {
        const { id, error } = await r.run();
        expect(error).to.be.instanceOf(FabricApiError);
        expect((error as FabricApiError).status).to.equal(409);
        expect((error as FabricApiError).errorCode).to.equal(r.code);
        expect(error.message).to.match(/^Fabric API PATCH \/v1\/\S+ failed with 409 Conflict /);
        expect(error.message).to.contain(
          "What to do: another item of this kind already holds the new displayName (names are unique in their scope), so nothing was renamed: choose another displayName",
        );
        expect(r.nameOf(id)).to.equal(r.original);
      });
    }
  });

  describe("Retry-After as an HTTP-date (RFC 9110) is honoured like delay-seconds", () => {
    it("a date 90 s ahead is waited out", async () => {
      const at = new Date(Date.now() + 90_000).toUTCString();
      fake.applyThen("POST", /\/semanticModels$/, { status: 429, headers: { "Retry-After": at } });
      await semanticModelProvider(options).create(MODEL_IN);
      expect(sleeps[0]).to.be.within(60_000, 90_000);
      expect(models()).to.have.length(1);
    });

    it("a date already past means retry at once", async () => {
      const at = new Date(Date.now() - 60_000).toUTCString();
      fake.applyThen("POST", /\/semanticModels$/, { status: 429, headers: { "Retry-After": at } });
      await semanticModelProvider(options).create(MODEL_IN);
      expect(sleeps[0]).to.equal(0);
    });
  });
});
