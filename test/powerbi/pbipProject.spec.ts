/**
 * The Power BI project in powerbi/ as source: every PBIP JSON file validates against Microsoft's
 * published schemas (offline copy in ../shared/schemas/powerbi), and every field a report visual
 * reads is a table column or measure the TMDL semantic model declares.
 */
import { expect } from "chai";
import * as fs from "node:fs";
import * as path from "node:path";
import { schemaErrors } from "./pbipSchemas";

const REPO = path.resolve(__dirname, "../..");
const PBIP_ROOT = path.join(REPO, "powerbi");

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  });
}

const JSON_FILE = /(\.json|\.platform|\.pbip|\.pbism|\.pbir)$/;

interface ModelObjects {
  tables: Map<string, Set<string>>; // table -> columns and measures
  parameters: string[];
}

function unquote(name: string): string {
  const n = name.trim();
  return n.startsWith("'") && n.endsWith("'") ? n.slice(1, -1).replace(/''/g, "'") : n;
}

/** Just enough TMDL reading to know which tables, columns, measures and parameters exist. */
function readModel(modelDir: string): ModelObjects {
  const tables = new Map<string, Set<string>>();
  for (const file of walk(path.join(modelDir, "definition", "tables"))) {
    let table = "";
    for (const line of fs.readFileSync(file, "utf8").split("\n")) {
      const t = /^table\s+(.+?)\s*$/.exec(line);
      if (t) {
        table = unquote(t[1]);
        tables.set(table, new Set());
      }
      const member = /^\t(?:column|measure)\s+('(?:[^']|'')+'|[^\s=]+)/.exec(line);
      if (member && table) tables.get(table)!.add(unquote(member[1]));
    }
  }
  const expressions = fs.readFileSync(path.join(modelDir, "definition", "expressions.tmdl"), "utf8");
  const parameters = [...expressions.matchAll(/^expression\s+(\S+)\s*=.*IsParameterQuery=true/gm)].map(
    (m) => m[1],
  );
  return { tables, parameters };
}

interface FieldRef {
  kind: string;
  entity: string;
  property: string;
}

/** Every Column/Measure reference (Entity + Property) anywhere in a visual definition. */
function fieldRefs(node: unknown, out: FieldRef[] = []): FieldRef[] {
  if (Array.isArray(node)) node.forEach((n) => fieldRefs(n, out));
  else if (node && typeof node === "object") {
    for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
      if ((key === "Column" || key === "Measure") && value && typeof value === "object") {
        const v = value as { Expression?: { SourceRef?: { Entity?: string } }; Property?: string };
        if (v.Expression?.SourceRef?.Entity && v.Property) {
          out.push({ kind: key, entity: v.Expression.SourceRef.Entity, property: v.Property });
        }
      }
      fieldRefs(value, out);
    }
  }
  return out;
}

describe("powerbi/ PBIP project", () => {
  const files = walk(PBIP_ROOT).filter((f) => JSON_FILE.test(f));

  it("has a semantic model, a report and the PBIP shortcut", () => {
    const rel = files.map((f) => path.relative(PBIP_ROOT, f));
    expect(rel).to.include.members([
      "OmsLakehouse.pbip",
      "OmsLakehouse.SemanticModel/definition.pbism",
      "OmsLakehouse.Report/definition.pbir",
      "OmsLakehouse.Report/definition/report.json",
      "OmsLakehouse.Report/definition/pages/pages.json",
    ]);
  });

  it("validates every PBIP JSON file, the shortcut included, against the schema it declares", () => {
    const failures = files.flatMap((file) =>
      schemaErrors(JSON.parse(fs.readFileSync(file, "utf8"))).map(
        (e) => `${path.relative(PBIP_ROOT, file)}: ${e}`,
      ),
    );
    expect(failures, failures.join("\n")).to.deep.equal([]);
  });

  it("rejects a visual that breaks its schema (the validation is real)", () => {
    const visual = files.find((f) => f.endsWith("visual.json"))!;
    const doc = JSON.parse(fs.readFileSync(visual, "utf8")) as Record<string, unknown>;
    delete doc.position;
    expect(schemaErrors(doc).join("\n")).to.contain("position");
  });

  describe("report ↔ semantic model", () => {
    const model = readModel(path.join(PBIP_ROOT, "OmsLakehouse.SemanticModel"));
    const pagesDir = path.join(PBIP_ROOT, "OmsLakehouse.Report", "definition", "pages");

    it("declares the per-stack parameters the stack substitutes on deploy", () => {
      expect(model.parameters).to.have.members(["ServerHostname", "HttpPath", "Catalog"]);
    });

    it("has the four pages: order trends, shipment SLA, inventory levels, revenue", () => {
      const pages = JSON.parse(fs.readFileSync(path.join(pagesDir, "pages.json"), "utf8")) as {
        pageOrder: string[];
      };
      const names = pages.pageOrder.map(
        (p) =>
          (JSON.parse(fs.readFileSync(path.join(pagesDir, p, "page.json"), "utf8")) as { displayName: string })
            .displayName,
      );
      expect(names).to.deep.equal(["Order trends", "Shipment SLA", "Inventory levels", "Revenue"]);
      for (const p of pages.pageOrder) {
        expect(fs.readdirSync(path.join(pagesDir, p, "visuals")).length, p).to.be.greaterThan(2);
      }
    });

    it("reads only columns and measures the model declares", () => {
      const visuals = walk(pagesDir).filter((f) => f.endsWith("visual.json"));
      const refs = visuals.flatMap((f) =>
        fieldRefs(JSON.parse(fs.readFileSync(f, "utf8"))).map((r) => ({ ...r, file: path.relative(pagesDir, f) })),
      );
      expect(refs.length).to.be.greaterThan(20);
      const missing = refs.filter((r) => !model.tables.get(r.entity)?.has(r.property));
      expect(missing.map((r) => `${r.file}: ${r.entity}[${r.property}]`)).to.deep.equal([]);
    });
  });
});
