/**
 * Configuration: every class of bad value is rejected with a message naming the key, the value
 * and what is allowed; Pulumi.yaml, config.ts and the README agree on the keys.
 */
import * as fs from "fs";
import * as path from "path";
import { expect } from "chai";
import * as yaml from "js-yaml";
import { CONFIG_KEYS, ConfigError, loadConfig, parseConfig } from "../config";
import { loadStackConfig, PROJECT, ROOT, setStackConfig, withConfig } from "./harness";

/** The dev stack's values without namespace, as parseConfig takes them. */
function devRaw(changes: Record<string, string | undefined> = {}): Record<string, string> {
  const config = withConfig(loadStackConfig("dev"), changes);
  const raw: Record<string, string> = {};
  for (const [key, value] of Object.entries(config.values))
    raw[key.replace(`${PROJECT}:`, "")] = value;
  return raw;
}
function rejection(raw: Record<string, string>): string {
  try {
    parseConfig(raw);
  } catch (e) {
    expect(e).to.be.instanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("configuration was accepted");
}

interface DeclaredKey {
  type: string;
  description?: string;
  default?: unknown;
}
const declared = (
  yaml.load(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as {
    config: Record<string, DeclaredKey>;
  }
).config;

describe("configuration", () => {
  it("accepts both stack files", () => {
    for (const stack of ["dev", "prod"]) {
      setStackConfig(loadStackConfig(stack));
      expect(loadConfig().environment).to.equal(stack);
    }
  });

  it("rejects an unknown key in the project namespace, naming the allowed keys", () => {
    setStackConfig(withConfig(loadStackConfig("dev"), { warehouseAutoStop: "10" }));
    expect(() => loadConfig()).to.throw(
      /oms-lakehouse:warehouseAutoStop = "10": unknown key; allowed keys are .*warehouseAutoStopMins/,
    );
  });

  it("ignores other namespaces (provider settings)", () => {
    setStackConfig(withConfig(loadStackConfig("dev"), { "azure-native:location": "westeurope" }));
    expect(() => loadConfig()).not.to.throw();
  });

  it("rejects a wrong type", () => {
    expect(rejection(devRaw({ warehouseMaxClusters: "two" }))).to.contain(
      'oms-lakehouse:warehouseMaxClusters = "two": expected an integer between 1 and 40',
    );
    expect(rejection(devRaw({ protectData: "yes" }))).to.contain(
      'oms-lakehouse:protectData = "yes": expected true or false',
    );
    expect(rejection(devRaw({ storageAllowedIpRanges: "10.0.0.1" }))).to.contain(
      "expected a list of IPv4 addresses or ranges",
    );
  });

  it("rejects a value outside an enum, listing the allowed values", () => {
    expect(rejection(devRaw({ storageSku: "Premium_LRS" }))).to.contain(
      'oms-lakehouse:storageSku = "Premium_LRS": expected one of Standard_LRS, Standard_ZRS',
    );
    expect(rejection(devRaw({ environment: "staging" }))).to.contain(
      "expected one of dev, test, prod",
    );
    expect(rejection(devRaw({ warehouseClusterSize: "Tiny" }))).to.contain(
      "expected one of 2X-Small",
    );
  });

  it("rejects storage account names Azure would refuse", () => {
    for (const bad of ["ab", "oms_lake", "OmsLake", "a".repeat(25), "oms-lake"]) {
      expect(rejection(devRaw({ storageAccountName: bad }))).to.contain(
        `oms-lakehouse:storageAccountName = "${bad}": 3–24 lowercase letters and digits`,
      );
    }
  });

  it("rejects catalog names that break Unity Catalog naming", () => {
    for (const bad of ["oms-dev", "OMS", "oms dev", "1oms", "oms.dev", ""]) {
      expect(rejection(devRaw({ catalogName: bad }))).to.contain(
        `oms-lakehouse:catalogName = ${JSON.stringify(bad)}: a lowercase letter followed by`,
      );
    }
  });

  it("rejects inconsistent values", () => {
    expect(rejection(devRaw({ warehouseMinClusters: "3", warehouseMaxClusters: "2" }))).to.contain(
      'oms-lakehouse:warehouseMinClusters = "3": must not exceed warehouseMaxClusters (2)',
    );
    expect(rejection(devRaw({ protectData: "true", forceDestroy: "true" }))).to.contain(
      'oms-lakehouse:forceDestroy = "true": must be false when protectData is true',
    );
    expect(rejection(devRaw({ analystsGroup: "oms-data-engineers" }))).to.contain(
      "must be three different groups",
    );
  });

  it("rejects out-of-range numbers and malformed list items", () => {
    expect(rejection(devRaw({ warehouseAutoStopMins: "0" }))).to.contain(
      'oms-lakehouse:warehouseAutoStopMins = "0": expected an integer between 5 and 1440',
    );
    expect(rejection(devRaw({ storageAllowedIpRanges: '["10.0.0.0/32"]' }))).to.contain(
      "oms-lakehouse:storageAllowedIpRanges[0]",
    );
    expect(rejection(devRaw({ metastoreId: "not-a-uuid" }))).to.contain(
      "a Unity Catalog metastore id",
    );
  });

  it("names a missing required key", () => {
    expect(rejection(devRaw({ catalogName: undefined }))).to.contain(
      "oms-lakehouse:catalogName is required",
    );
  });

  it("reports every problem at once", () => {
    const message = rejection(devRaw({ storageSku: "x", catalogName: "X", bogus: "1" }));
    expect(message).to.contain("storageSku").and.to.contain("catalogName").and.to.contain("bogus");
  });

  it("declares in Pulumi.yaml exactly the keys config.ts accepts, each with a description", () => {
    expect(Object.keys(declared).sort()).to.deep.equal([...CONFIG_KEYS]);
    for (const [key, spec] of Object.entries(declared)) {
      expect(spec.description?.trim().length ?? 0, key).to.be.greaterThan(0);
      expect(["string", "integer", "boolean", "array"], key).to.include(spec.type);
    }
  });

  it("applies the defaults Pulumi.yaml declares", () => {
    const required = Object.keys(declared).filter((k) => !("default" in declared[k]));
    expect(required.sort()).to.deep.equal([
      "catalogName",
      "databricksAccountId",
      "environment",
      "jobsDeployerPrincipal",
      "storageAccountName",
    ]);
    const parsed = parseConfig({
      environment: "dev",
      storageAccountName: "omsdefaults",
      catalogName: "oms_defaults",
      databricksAccountId: "00000000-0000-0000-0000-000000000000",
      jobsDeployerPrincipal: "users/deployer@example.com",
    }) as Record<string, unknown>;
    for (const [key, spec] of Object.entries(declared)) {
      if (!("default" in spec)) continue;
      const expected = spec.default === "" ? undefined : spec.default;
      expect(parsed[key], key).to.deep.equal(expected);
    }
  });

  it("documents every key in the README's configuration table, with its type and default", () => {
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    const section = readme.split("## Configuration reference")[1].split("\n## ")[0];
    const rows = [...section.matchAll(/^\| `([A-Za-z]+)` \| ([^|]+) \| ([^|]+) \|/gm)].map((m) => ({
      key: m[1],
      type: m[2].trim(),
      default: m[3].trim(),
    }));
    expect(rows.map((r) => r.key).sort()).to.deep.equal(Object.keys(declared).sort());
    for (const row of rows) {
      const spec = declared[row.key];
      expect(row.type, row.key).to.equal(spec.type === "array" ? "array of string" : spec.type);
      const documented =
        "default" in spec
          ? `\`${typeof spec.default === "string" && spec.default === "" ? '""' : typeof spec.default === "string" ? spec.default : JSON.stringify(spec.default)}\``
          : "— (required)";
      expect(row.default, row.key).to.equal(documented);
    }
  });

  it("keeps environment differences in the stack files, not in code", () => {
    const sources = ["index.ts", "config.ts", "components/storage.ts", "components/workspace.ts"]
      .concat(["components/catalog.ts", "components/grants.ts", "components/warehouse.ts"])
      .concat(["components/jobs.ts", "components/pipelinePackage.ts"])
      .map((file) => fs.readFileSync(path.join(ROOT, file), "utf8"));
    for (const source of sources) {
      expect(source).not.to.match(/getStack\(|=== "(dev|prod)"/);
    }
  });
});
