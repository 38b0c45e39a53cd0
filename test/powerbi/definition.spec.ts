import { expect } from "chai";
import * as fs from "node:fs";
import * as path from "node:path";
import Ajv from "ajv";
import {
  applyModelParameters,
  applyPageRefresh,
  deployableParts,
  hashParts,
  prepareReportParts,
  prepareSemanticModelParts,
  reportFormat,
  rewriteDefinitionPbir,
  semanticModelFormat,
  substituteTmdlParameters,
  toDefinitionParts,
} from "../../components/powerbi/definition";
import { EXPRESSIONS_TMDL } from "./fixtures";
import { schemaErrors } from "./pbipSchemas";

const SCHEMAS = path.resolve(__dirname, "../../../shared/schemas/powerbi");


describe("powerbi/definition: PBIP parts to Fabric definitions", () => {
  describe("substituteTmdlParameters", () => {
    it("replaces only the values of the named parameter expressions, keeping meta and other lines", () => {
      const { text, replaced } = substituteTmdlParameters(EXPRESSIONS_TMDL, {
        DatabricksHost: "adb-123.4.azuredatabricks.net",
        "Http Path": "/sql/1.0/warehouses/abc",
      });
      expect(replaced).to.deep.equal(["DatabricksHost", "Http Path"]);
      const lines = text.split("\n");
      expect(lines[0]).to.equal(
        'expression DatabricksHost = "adb-123.4.azuredatabricks.net" meta [IsParameterQuery=true, Type="Text", IsParameterQueryRequired=true]',
      );
      expect(lines[3]).to.equal(
        "expression 'Http Path' = \"/sql/1.0/warehouses/abc\" meta [IsParameterQuery=true, Type=\"Text\", IsParameterQueryRequired=true]",
      );
      // Everything else is byte-for-byte the same.
      const original = EXPRESSIONS_TMDL.split("\n");
      lines.forEach((l, i) => {
        if (i !== 0 && i !== 3) expect(l).to.equal(original[i]);
      });
    });

    it("escapes quotes as M string literals do", () => {
      const { text } = substituteTmdlParameters(EXPRESSIONS_TMDL, { Catalog: 'a"b' });
      expect(text).to.contain('expression Catalog = "a""b" meta [');
    });

    it("does not touch a non-parameter expression of the same name", () => {
      const { replaced } = substituteTmdlParameters(EXPRESSIONS_TMDL, { Source: "x" });
      expect(replaced).to.deep.equal([]);
    });

    it("is idempotent", () => {
      const params = { DatabricksHost: "h", Catalog: "c" };
      const once = substituteTmdlParameters(EXPRESSIONS_TMDL, params).text;
      expect(substituteTmdlParameters(once, params).text).to.equal(once);
    });
  });

  it("applyModelParameters rejects a parameter that no .tmdl declares (a typo would mis-deploy)", () => {
    const parts = [{ path: "definition/expressions.tmdl", content: EXPRESSIONS_TMDL }];
    expect(() => applyModelParameters(parts, { DatabricksHots: "h" })).to.throw(
      /parameters not found in any \.tmdl part: DatabricksHots/,
    );
  });

  describe("rewriteDefinitionPbir", () => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    const schema = JSON.parse(
      fs.readFileSync(
        path.join(SCHEMAS, "fabric/item/report/definitionProperties/2.0.0/schema.json"),
        "utf8",
      ),
    ) as object;
    const validate = ajv.compile(schema);

    it("replaces byPath with byConnection semanticmodelid= and validates against definitionProperties 2.0.0", () => {
      const local = JSON.stringify({
        $schema:
          "https://developer.microsoft.com/json-schemas/fabric/item/report/definitionProperties/2.0.0/schema.json",
        version: "4.0",
        datasetReference: { byPath: { path: "../Oms.SemanticModel" } },
      });
      const out = JSON.parse(rewriteDefinitionPbir(local, "5b2f0c2e-0000-4000-8000-000000000001")) as unknown;
      expect(out).to.deep.equal({
        $schema:
          "https://developer.microsoft.com/json-schemas/fabric/item/report/definitionProperties/2.0.0/schema.json",
        version: "4.0",
        datasetReference: {
          byConnection: { connectionString: "semanticmodelid=5b2f0c2e-0000-4000-8000-000000000001" },
        },
      });
      expect(validate(out), JSON.stringify(validate.errors)).to.equal(true);
    });

    it("upgrades a 1.0.0 pbir (version 1.0) to the 2.0.0 shape", () => {
      const legacy = JSON.stringify({
        $schema:
          "https://developer.microsoft.com/json-schemas/fabric/item/report/definitionProperties/1.0.0/schema.json",
        version: "1.0",
        datasetReference: { byPath: { path: "../Oms.Dataset" }, byConnection: null },
      });
      const out = JSON.parse(rewriteDefinitionPbir(legacy, "id-1")) as { version: string };
      expect(out.version).to.equal("4.0");
      expect(validate(out), JSON.stringify(validate.errors)).to.equal(true);
    });

    it("rejects a pbir that is not JSON", () => {
      expect(() => rewriteDefinitionPbir("{", "x")).to.throw(/definition.pbir is not valid JSON/);
    });
  });

  it("drops local-only files (.pbi/, .platform) and normalises paths", () => {
    const parts = deployableParts([
      { path: ".platform", content: "{}" },
      { path: ".pbi/localSettings.json", content: "{}" },
      { path: "definition\\model.tmdl", content: "model Model" },
      { path: "./definition.pbism", content: "{}" },
    ]);
    expect(parts.map((p) => p.path)).to.deep.equal(["definition.pbism", "definition/model.tmdl"]);
  });

  it("prepares model and report parts and picks the definition format", () => {
    const model = prepareSemanticModelParts(
      [
        { path: "definition.pbism", content: "{}" },
        { path: "definition/expressions.tmdl", content: EXPRESSIONS_TMDL },
      ],
      { Catalog: "oms_prod" },
    );
    expect(model[1].content).to.contain('"oms_prod"');
    expect(semanticModelFormat(model)).to.equal("TMDL");
    const report = prepareReportParts(
      [
        { path: "definition.pbir", content: '{"version":"4.0","datasetReference":{"byPath":{"path":"../x"}}}' },
        { path: "definition/report.json", content: "{}" },
      ],
      "m-1",
    );
    expect(report[0].content).to.contain("semanticmodelid=m-1");
    expect(reportFormat(report)).to.equal("PBIR");
    expect(() => prepareReportParts([{ path: "definition/report.json", content: "{}" }], "m")).to.throw(
      /no definition.pbir/,
    );
  });

  it("encodes parts as InlineBase64 (text as UTF-8, binary passed through)", () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47]).toString("base64");
    const parts = toDefinitionParts([
      { path: "a.tmdl", content: "é" },
      { path: "StaticResources/logo.png", content: png, encoding: "base64" },
    ]);
    expect(parts).to.deep.equal([
      { path: "a.tmdl", payload: Buffer.from("é", "utf8").toString("base64"), payloadType: "InlineBase64" },
      { path: "StaticResources/logo.png", payload: png, payloadType: "InlineBase64" },
    ]);
  });

  it("hashes are order-independent and change with any byte of any part", () => {
    const a = { path: "a", content: "1" };
    const b = { path: "b", content: "2" };
    expect(hashParts([a, b]).partsHash).to.equal(hashParts([b, a]).partsHash);
    expect(hashParts([a, b]).partsHash).to.not.equal(hashParts([a, { ...b, content: "3" }]).partsHash);
    expect(Object.keys(hashParts([b, a]).partHashes)).to.deep.equal(["a", "b"]);
  });

  describe("applyPageRefresh", () => {
    const PAGE_SCHEMA =
      "https://developer.microsoft.com/json-schemas/fabric/item/report/definition/page/2.0.0/schema.json";
    const model = [
      {
        path: "definition/tables/facts.tmdl",
        content: "table facts\n\tcolumn id\n\n\tpartition facts = m\n\t\tmode: directQuery\n",
      },
      {
        path: "definition/tables/'dim x'.tmdl",
        content: "table 'dim x'\n\tcolumn id\n\n\tpartition 'dim x' = m\n\t\tmode: import\n",
      },
    ];
    const page = (name: string, extra: object = {}) => ({
      path: `definition/pages/${name}/page.json`,
      content: JSON.stringify({ $schema: PAGE_SCHEMA, name, displayName: name, displayOption: "FitToPage", height: 720, width: 1280, ...extra }),
    });
    const visual = (pageName: string, entity: string) => ({
      path: `definition/pages/${pageName}/visuals/v/visual.json`,
      content: JSON.stringify({ visual: { query: { queryState: { Y: { projections: [{ field: { Column: { Expression: { SourceRef: { Entity: entity } }, Property: "id" } } }] } } } } }),
    });
    const report = [page("live"), visual("live", "facts"), page("imported"), visual("imported", "dim x")];
    const pageDoc = (parts: { path: string; content: string }[], name: string) =>
      JSON.parse(parts.find((p) => p.path === `definition/pages/${name}/page.json`)!.content) as {
        objects?: { pageRefresh?: unknown };
      };

    it("sets the interval on pages over DirectQuery tables only, schema-valid", () => {
      const out = applyPageRefresh(report, model, { intervalSeconds: 90 });
      const live = pageDoc(out, "live");
      expect(live.objects?.pageRefresh).to.deep.equal([
        {
          properties: {
            show: { expr: { Literal: { Value: "true" } } },
            duration: { expr: { Literal: { Value: "'PT1M30S'" } } },
          },
        },
      ]);
      expect(schemaErrors(live)).to.deep.equal([]);
      expect(pageDoc(out, "imported")).not.to.have.property("objects");
      expect(out.find((p) => p.path.endsWith("imported/page.json"))).to.equal(report[2]);
    });

    it("rejects a page over imported data that carries a page refresh, naming the page", () => {
      const stale = [...report.slice(0, 2), page("imported", { objects: { pageRefresh: [] } }), report[3]];
      expect(() => applyPageRefresh(stale, model, { intervalSeconds: 1800 })).to.throw(
        /Report page imported sets pageRefresh but its visuals read no DirectQuery table \(only dim x\)/,
      );
    });

    const detectingModel = [
      {
        path: "definition/tables/facts.tmdl",
        content:
          "table facts\n\tmeasure Rows = COUNTROWS ( facts )\n\n\tmeasure 'Last Change' = MAX ( facts[ts] )\n" +
          "\t\tformatString: General Date\n\n\t\tannotation OmsChangeDetection = true\n\n" +
          "\tcolumn id\n\n\tpartition facts = m\n\t\tmode: directQuery\n",
      },
      model[1],
    ];

    it("sets change detection on pages over DirectQuery tables, with the annotated measure, schema-valid", () => {
      const out = applyPageRefresh(report, detectingModel, { type: "changeDetection", intervalSeconds: 60 });
      const live = pageDoc(out, "live");
      expect(live.objects?.pageRefresh).to.deep.equal([
        {
          properties: {
            show: { expr: { Literal: { Value: "true" } } },
            refreshType: { expr: { Literal: { Value: "'changeDetection'" } } },
            measure: {
              expr: { Measure: { Expression: { SourceRef: { Entity: "facts" } }, Property: "Last Change" } },
            },
            checkEvery: { expr: { Literal: { Value: "'PT1M'" } } },
          },
        },
      ]);
      expect(schemaErrors(live)).to.deep.equal([]);
      expect(pageDoc(out, "imported")).not.to.have.property("objects");
    });

    it("keeps the fixed interval when the model has a change-detection measure but the stack asks for interval", () => {
      const out = applyPageRefresh(report, detectingModel, { type: "interval", intervalSeconds: 1800 });
      expect(pageDoc(out, "live").objects?.pageRefresh).to.deep.equal([
        {
          properties: {
            show: { expr: { Literal: { Value: "true" } } },
            duration: { expr: { Literal: { Value: "'PT30M'" } } },
          },
        },
      ]);
    });

    it("rejects change detection without exactly one annotated measure on a DirectQuery table", () => {
      const detect = { type: "changeDetection", intervalSeconds: 60 } as const;
      expect(() => applyPageRefresh(report, model, detect)).to.throw(
        /exactly one change-detection measure in the semantic model; found 0: annotate one measure of a DirectQuery table with `annotation OmsChangeDetection = true`/,
      );
      const twice = [...detectingModel, { ...detectingModel[0], path: "definition/tables/more.tmdl", content: detectingModel[0].content.replace(/facts/g, "more") }];
      expect(() => applyPageRefresh(report, twice, detect)).to.throw(/found 2 \(facts\[Last Change\], more\[Last Change\]\)/);
      const imported = [{ ...detectingModel[0], content: detectingModel[0].content.replace("directQuery", "import") }, model[1]];
      expect(() => applyPageRefresh(report, imported, detect)).to.throw(
        /facts\[Last Change\] is on a table without a DirectQuery partition/,
      );
    });
  });
});
