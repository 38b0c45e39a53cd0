import { expect } from "chai";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  prepareReportParts,
  prepareSemanticModelParts,
  readPbipItem,
} from "../../components/powerbi";
import { MODEL_PARTS, REPORT_PARTS } from "./fixtures";
import { schemaErrors } from "./pbipSchemas";

const REPO_PBIP = path.resolve(__dirname, "../../powerbi");

/** JSON parts that declare a "$schema" (the ones Microsoft publishes schemas for). */
function schemaBacked(parts: { path: string; content: string; encoding?: string }[]) {
  return parts
    .filter((p) => p.encoding !== "base64" && /\.(json|pbir|pbism|pbip)$|\.platform$/.test(p.path))
    .map((p) => ({ path: p.path, doc: JSON.parse(p.content) as { $schema?: string } }))
    .filter((p) => typeof p.doc.$schema === "string");
}

describe("powerbi PBIP files against the published schemas", function () {
  this.timeout(20000);

  it("the test fixtures and what the providers upload from them are schema-valid", () => {
    const uploaded = [
      ...prepareSemanticModelParts(MODEL_PARTS, { Catalog: "c" }),
      ...prepareReportParts(REPORT_PARTS, "5b2f0c2e-0000-4000-8000-000000000001"),
    ];
    const docs = schemaBacked(uploaded);
    expect(docs.map((d) => d.path)).to.include.members(["definition.pbism", "definition.pbir"]);
    for (const d of docs) expect(schemaErrors(d.doc), d.path).to.deep.equal([]);
  });

  it("reports schema errors with the offending path", () => {
    const bad = {
      $schema:
        "https://developer.microsoft.com/json-schemas/fabric/item/report/definitionProperties/2.0.0/schema.json",
      version: "4.0",
      datasetReference: { byConnection: { connectionString: "x", pbiServiceModelId: 1 } },
    };
    expect(schemaErrors(bad).join("\n")).to.contain("/datasetReference/byConnection must NOT have additional properties");
  });

  it("readPbipItem reads an item folder as sorted relative parts, binary files as base64", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pbip-"));
    try {
      fs.mkdirSync(path.join(dir, "definition", "tables"), { recursive: true });
      fs.mkdirSync(path.join(dir, "StaticResources"));
      fs.writeFileSync(path.join(dir, "definition", "tables", "orders.tmdl"), "table orders\n");
      fs.writeFileSync(path.join(dir, ".platform"), "{}");
      fs.writeFileSync(path.join(dir, "StaticResources", "logo.png"), Buffer.from([0x89, 0x50]));
      expect(readPbipItem(dir)).to.deep.equal([
        { path: ".platform", content: "{}" },
        { path: "StaticResources/logo.png", content: Buffer.from([0x89, 0x50]).toString("base64"), encoding: "base64" },
        { path: "definition/tables/orders.tmdl", content: "table orders\n" },
      ]);
      expect(() => readPbipItem(path.join(dir, "missing"))).to.throw(/does not exist/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the project's PBIP items (powerbi/) are schema-valid before and after the deploy rewrite", function () {
    const items = fs.existsSync(REPO_PBIP)
      ? fs
          .readdirSync(REPO_PBIP, { withFileTypes: true })
          .filter((e) => e.isDirectory() && /\.(SemanticModel|Report)$/.test(e.name))
          .map((e) => e.name)
      : [];
    if (items.length === 0) this.skip(); // the PBIP project is added to powerbi/ separately
    for (const item of items) {
      const parts = readPbipItem(path.join(REPO_PBIP, item));
      // Every declared parameter query gets a per-stack value, as the stack will do on deploy.
      const declared = parts
        .filter((p) => p.path.endsWith(".tmdl"))
        .flatMap((p) => [...p.content.matchAll(/^expression ([A-Za-z_][A-Za-z0-9_]*) = "[^"]*" meta \[IsParameterQuery=true/gm)])
        .map((m) => m[1]);
      if (item.endsWith(".SemanticModel")) expect(declared.length, item).to.be.greaterThan(0);
      const values = Object.fromEntries(declared.map((n) => [n, `stack-value-${n}`]));
      const uploaded = item.endsWith(".Report")
        ? prepareReportParts(parts, "00000000-0000-4000-8000-000000000000")
        : prepareSemanticModelParts(parts, values);
      const uploadedTmdl = uploaded.map((p) => p.content).join("\n");
      for (const n of declared) expect(uploadedTmdl).to.contain(`expression ${n} = "stack-value-${n}" meta [`);
      for (const d of [...schemaBacked(parts), ...schemaBacked(uploaded)]) {
        expect(schemaErrors(d.doc), `${item}/${d.path}`).to.deep.equal([]);
      }
    }
  });
});
