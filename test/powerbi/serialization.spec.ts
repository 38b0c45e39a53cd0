import { expect } from "chai";
import * as pulumi from "@pulumi/pulumi";
import {
  databricksConnectionProvider,
  fabricWorkspaceProvider,
  ProviderOptions,
  semanticModelProvider,
} from "../../components/powerbi";
import { fakeCredential, FakeFabric } from "./fakeFabric";
import { MODEL_PARTS } from "./fixtures";

/**
 * Pulumi stores a dynamic provider as serialised JavaScript and runs it in another process. These
 * tests serialise providers the way `pulumi.dynamic.Resource` does, load the text as a fresh
 * module, and drive it against the fake API: anything captured that does not survive (a live
 * client, a module-level SDK import) fails here rather than during `pulumi up`.
 */
describe("powerbi providers survive Pulumi's closure serialisation", function () {
  this.timeout(20000);
  const fake = new FakeFabric();
  before(() => fake.start());
  after(() => fake.stop());
  beforeEach(() => fake.reset());

  const load = async <T>(factory: () => T): Promise<{ text: string; value: T }> => {
    const sf = await pulumi.runtime.serializeFunction(factory, { allowSecrets: false });
    const mod = { exports: {} as Record<string, () => T> };
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    const evaluate = new Function("exports", "require", "module", sf.text) as (
      e: unknown,
      r: NodeRequire,
      m: unknown,
    ) => void;
    evaluate(mod.exports, require, mod);
    return { text: sf.text, value: mod.exports[sf.exportName]() };
  };

  it("the production providers load @azure/identity lazily, inside the token method", async () => {
    const conn = databricksConnectionProvider();
    const { text } = await load(() => conn);
    const requires = text.split("\n").filter((l) => l.includes('require("@azure/identity")'));
    expect(requires).to.have.length(1);
    expect(requires[0]).to.match(/^\s+const identity = require/); // indented: inside a method
  });

  it("a serialised provider still creates, diffs and deletes against the API", async () => {
    const options: ProviderOptions = {
      fabricBaseUrl: fake.fabricBaseUrl,
      powerBiBaseUrl: fake.powerBiBaseUrl,
      credential: fakeCredential(),
      sleep: () => Promise.resolve(),
    };
    const wsProvider = fabricWorkspaceProvider(options);
    const ws = (await load(() => wsProvider)).value;
    const created = await ws.create({ displayName: "serialised" });
    expect(fake.workspaces.get(created.id)?.displayName).to.equal("serialised");

    const smProvider = semanticModelProvider(options);
    const sm = (await load(() => smProvider)).value;
    const inputs = { workspaceId: created.id, displayName: "Oms", parts: MODEL_PARTS, parameters: { Catalog: "c" } };
    const model = await sm.create(inputs);
    expect(fake.decodedParts(model.id)["definition/expressions.tmdl"]).to.contain('Catalog = "c"');
    expect((await sm.diff!(model.id, model.outs!, inputs)).changes).to.equal(false);
    await sm.delete!(model.id, model.outs!);
    await ws.delete!(created.id, created.outs!);
    expect(fake.items.size + fake.workspaces.size).to.equal(0);
  });
});
