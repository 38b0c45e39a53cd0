/**
 * The component type tokens read from components/ (test/component-types.ts): the list the stack
 * spec checks recorded component types against.
 */
import { expect } from "chai";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { declaredComponents } from "./component-types";

const component = (className: string, token: string) => `
import * as pulumi from "@pulumi/pulumi";
export class ${className} extends pulumi.ComponentResource {
  constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
    super(${token}, name, {}, opts);
  }
}
`;

describe("declared component types", () => {
  let dir = "";
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "oms-components-"));
    fs.mkdirSync(path.join(dir, "area"));
    // Not a component: its super() takes no type token.
    fs.writeFileSync(
      path.join(dir, "error.ts"),
      'export class BadInput extends Error { constructor() { super("bad"); } }\n',
    );
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("reads every component class under components/, in subfolders too", () => {
    const types = declaredComponents().map((c) => c.type);
    expect(types).to.include.members([
      "oms:storage:LakehouseStorage",
      "oms:network:ServerlessEgress",
      "oms:events:OmsEventHubs",
      "oms:ops:FreshnessAlerts",
      "oms:powerbi:BiIdentity",
    ]);
    expect(new Set(types).size, "one class per type").to.equal(types.length);
  });

  it("takes in a component of a new module without any list to edit", () => {
    fs.writeFileSync(path.join(dir, "area", "gauge.ts"), component("Gauge", '"oms:newarea:Gauge"'));
    expect(declaredComponents(dir)).to.deep.equal([
      { type: "oms:newarea:Gauge", className: "Gauge", file: path.join("area", "gauge.ts") },
    ]);
  });

  for (const bad of ["oms:New-Area:Gauge", "oms:newarea:gauge", "lakehouse:Gauge", "oms:Gauge"]) {
    it(`rejects the type token ${bad}, naming the file, the class and the convention`, () => {
      fs.writeFileSync(path.join(dir, "gauge.ts"), component("Gauge", JSON.stringify(bad)));
      expect(() => declaredComponents(dir)).to.throw(
        `gauge.ts: component Gauge registers type ${JSON.stringify(bad)}; allowed: oms:<module>:<Name>`,
      );
    });
  }

  it("rejects a type token it cannot read", () => {
    fs.writeFileSync(path.join(dir, "gauge.ts"), component("Gauge", "`oms:${area}:Gauge`"));
    expect(() => declaredComponents(dir)).to.throw(
      "gauge.ts: component Gauge must pass its type token to super() as a string literal",
    );
  });
});
