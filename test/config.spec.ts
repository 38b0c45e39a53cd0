/**
 * Configuration: every class of bad value is rejected with a message naming the key, the value
 * and what is allowed; Pulumi.yaml, config.ts and the README agree on the keys.
 */
import * as fs from "fs";
import * as path from "path";
import { expect } from "chai";
import * as yaml from "js-yaml";
import { CONFIG_KEYS, ConfigError, DATABRICKS_REGIONS, loadConfig, parseConfig } from "../config";
import {
  loadStackConfig,
  PROJECT,
  ROOT,
  setStackConfig,
  withConfig,
} from "../scripts/plan/harness";

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

  it("rejects continuous streams on serverless compute, naming both keys and what is allowed", () => {
    const message = rejection(devRaw({ jobTrigger: "continuous", jobCompute: "serverless" }));
    expect(message).to.contain(
      'oms-lakehouse:jobCompute = "serverless": serverless cannot run jobTrigger continuous',
    );
    expect(message).to.contain("Serverless compute limitations");
    expect(message).to.contain("allowed: jobCompute cluster with jobTrigger continuous");
    for (const ok of [
      { jobTrigger: "continuous", jobCompute: "cluster" },
      { jobTrigger: "fileArrival", jobCompute: "serverless" },
    ]) {
      expect(() => parseConfig(devRaw(ok))).not.to.throw();
    }
  });

  it("rejects a trigger interval longer than the freshness objective", () => {
    const continuous = { jobTrigger: "continuous", jobCompute: "cluster" };
    expect(
      rejection(
        devRaw({ ...continuous, freshnessObjectiveSeconds: "60", jobProcessingTime: "2 minutes" }),
      ),
    ).to.contain(
      'oms-lakehouse:jobProcessingTime = "2 minutes": an interval of 120 s is longer than freshnessObjectiveSeconds (60)',
    );
    expect(
      rejection(devRaw({ freshnessObjectiveSeconds: "300", jobGoldMinSecondsBetweenRuns: "600" })),
    ).to.contain(
      'oms-lakehouse:jobGoldMinSecondsBetweenRuns = "600": 600 s between Gold runs is longer than freshnessObjectiveSeconds (300)',
    );
    // A key left at its default is judged too, and the message shows the default.
    expect(
      rejection(
        devRaw({ freshnessObjectiveSeconds: "120", jobGoldMinSecondsBetweenRuns: undefined }),
      ),
    ).to.contain(
      "oms-lakehouse:jobGoldMinSecondsBetweenRuns (unset, default 300): 300 s between Gold runs",
    );
    // Intervals up to the objective pass; the Gold interval only matters for triggered runs.
    const ok = [
      { ...continuous, freshnessObjectiveSeconds: "60", jobProcessingTime: "60 seconds" },
      { ...continuous, freshnessObjectiveSeconds: "60", jobGoldMinSecondsBetweenRuns: "600" },
      { freshnessObjectiveSeconds: "600", jobGoldMinSecondsBetweenRuns: "600" },
    ];
    for (const changes of ok)
      expect(parseConfig(devRaw(changes)).freshnessObjectiveSeconds).to.be.a("number");
    expect(rejection(devRaw({ freshnessObjectiveSeconds: "5" }))).to.contain(
      'oms-lakehouse:freshnessObjectiveSeconds = "5": expected an integer between 10 and 86400',
    );
  });

  it("keeps the events namespace as closed as the lake", () => {
    // IP rules with public access off would admit nothing.
    expect(
      rejection(
        devRaw({
          eventHubsPublicNetworkAccess: "false",
          eventHubsAllowedIpRanges: '["203.0.113.9"]',
        }),
      ),
    ).to.contain(
      'oms-lakehouse:eventHubsAllowedIpRanges = "[\\"203.0.113.9\\"]": lists producer addresses while eventHubsPublicNetworkAccess is false',
    );
    // Prod's stack file closes the namespace before events are switched on.
    const prod = loadStackConfig("prod").values;
    expect(prod[`${PROJECT}:eventHubsPublicNetworkAccess`]).to.equal("false");
    // A closed lake with an open namespace is refused once events are on.
    const open = rejection(
      devRaw({
        eventsSource: "true",
        eventHubsNamespaceName: "oms-events-dev",
        eventHubsProducerPrincipalId: "11111111-2222-3333-4444-555555555555",
        jobCompute: "cluster",
        vnetInjection: "true",
        storagePublicNetworkAccess: "false",
        serverlessStorageAccess: "privateEndpoints",
        eventHubsPublicNetworkAccess: "true",
      }),
    );
    expect(open).to.contain(
      'oms-lakehouse:eventHubsPublicNetworkAccess = "true": must be false when eventsSource is true and storagePublicNetworkAccess is false',
    );
  });

  it("judges the objective against the triggers only once it is valid alone", () => {
    // Out of its own range: that one problem, not a chain of cross-key rules built on it.
    expect(rejection(devRaw({ freshnessObjectiveSeconds: "0" })).split("\n  - ")).to.deep.equal([
      "Invalid stack configuration:",
      'oms-lakehouse:freshnessObjectiveSeconds = "0": expected an integer between 10 and 86400',
    ]);
    // Below the shortest gap between table-update-triggered runs: no Gold interval can meet it.
    const message = rejection(devRaw({ freshnessObjectiveSeconds: "30" }));
    expect(message).to.contain(
      'oms-lakehouse:freshnessObjectiveSeconds = "30": an objective of 30 s is below the 60 s Databricks requires between table-update-triggered Gold runs',
    );
    expect(message).to.contain("allowed: at least 60 seconds with jobTrigger fileArrival");
    expect(message).not.to.contain("jobGoldMinSecondsBetweenRuns");
    const continuous = { jobTrigger: "continuous", jobCompute: "cluster" };
    expect(
      parseConfig(
        devRaw({ ...continuous, freshnessObjectiveSeconds: "30", jobProcessingTime: "10 seconds" }),
      ).freshnessObjectiveSeconds,
    ).to.equal(30);
  });

  it("rejects out-of-range numbers and malformed list items", () => {
    expect(rejection(devRaw({ warehouseAutoStopMins: "0" }))).to.contain(
      'oms-lakehouse:warehouseAutoStopMins = "0": expected an integer between 5 and 1440',
    );
    // Each bad item is shown alone, not the whole list.
    const items = rejection(
      devRaw({ eventHubsAllowedIpRanges: '["10.0.0.0/33", "1.2.3.4", "foo"]' }),
    );
    expect(items).to.contain(
      'oms-lakehouse:eventHubsAllowedIpRanges[0] = "10.0.0.0/33": an IPv4 address or CIDR range',
    );
    expect(items).to.contain('oms-lakehouse:eventHubsAllowedIpRanges[2] = "foo": an IPv4 address');
    expect(items).not.to.contain("[1]");
    expect(rejection(devRaw({ storageAllowedIpRanges: '["10.0.0.0/32"]' }))).to.contain(
      'oms-lakehouse:storageAllowedIpRanges[0] = "10.0.0.0/32": an IPv4 address or CIDR range',
    );
    expect(rejection(devRaw({ metastoreId: "not-a-uuid" }))).to.contain(
      "a Unity Catalog metastore id",
    );
  });

  it("rejects network ranges Databricks or Azure would refuse, naming key, value and what is allowed", () => {
    const vnet = (changes: Record<string, string>) =>
      rejection(devRaw({ vnetInjection: "true", ...changes }));
    expect(vnet({ vnetAddressSpace: "10.20.0.0" })).to.contain(
      'oms-lakehouse:vnetAddressSpace = "10.20.0.0": not IPv4 CIDR syntax; the workspace VNet: an IPv4 CIDR block from /16 to /24',
    );
    expect(vnet({ vnetAddressSpace: "10.0.0.0/8" })).to.contain(
      'oms-lakehouse:vnetAddressSpace = "10.0.0.0/8": prefix /8 is outside the workspace VNet: an IPv4 CIDR block from /16 to /24',
    );
    expect(vnet({ vnetHostSubnet: "10.20.0.0/27" })).to.contain(
      'oms-lakehouse:vnetHostSubnet = "10.20.0.0/27": prefix /27 is outside the Databricks host (public) subnet: an IPv4 CIDR block from /16 to /26',
    );
    expect(vnet({ vnetPrivateEndpointSubnet: "10.20.2.0/29" })).to.contain(
      "prefix /29 is outside the private endpoint subnet: an IPv4 CIDR block from /16 to /28",
    );
    expect(vnet({ vnetContainerSubnet: "10.20.1.7/24" })).to.contain(
      'oms-lakehouse:vnetContainerSubnet = "10.20.1.7/24": host bits are set (the network address is 10.20.1.0/24)',
    );
  });

  it("reports a block with host bits set once, not as an overlap of the unnormalised block", () => {
    const problems = rejection(devRaw({ vnetInjection: "true", vnetHostSubnet: "10.20.0.5/24" }));
    expect(problems).to.contain(
      'oms-lakehouse:vnetHostSubnet = "10.20.0.5/24": host bits are set (the network address is 10.20.0.0/24)',
    );
    expect(problems).not.to.contain("overlaps");
    expect(problems.split("\n")).to.have.length(2);
  });

  it("rejects a region where Azure Databricks is not available, suggesting the closest", () => {
    expect(rejection(devRaw({ location: "westeurop" }))).to.contain(
      'oms-lakehouse:location = "westeurop": not an Azure region where Azure Databricks is available; did you mean westeurope? expected an ARM location name from the "Azure Databricks regions" list: australiacentral,',
    );
    expect(rejection(devRaw({ location: "West Europe" }))).to.contain("did you mean westeurope?");
    expect(rejection(devRaw({ location: "narnia" })))
      .to.contain('oms-lakehouse:location = "narnia": not an Azure region')
      .and.not.to.contain("did you mean");
    for (const ok of DATABRICKS_REGIONS) {
      expect(parseConfig(devRaw({ location: ok })).location).to.equal(ok);
    }
  });

  it("says what a Databricks account id is when it is missing or malformed", () => {
    expect(rejection(devRaw({ databricksAccountId: undefined }))).to.contain(
      "oms-lakehouse:databricksAccountId is required and has no default; expected a Databricks account id: the lowercase UUID shown in the account console",
    );
    expect(rejection(devRaw({ databricksAccountId: "ABC" }))).to.contain(
      'oms-lakehouse:databricksAccountId = "ABC": a Databricks account id: the lowercase UUID shown in the account console',
    );
  });

  it("rejects subnets outside the VNet or overlapping each other", () => {
    expect(
      rejection(devRaw({ vnetInjection: "true", vnetContainerSubnet: "10.30.1.0/24" })),
    ).to.contain(
      'oms-lakehouse:vnetContainerSubnet = "10.30.1.0/24": lies outside vnetAddressSpace 10.20.0.0/22',
    );
    expect(
      rejection(devRaw({ vnetInjection: "true", vnetContainerSubnet: "10.20.0.0/25" })),
    ).to.contain(
      'oms-lakehouse:vnetContainerSubnet = "10.20.0.0/25": overlaps vnetHostSubnet 10.20.0.0/24',
    );
    // A key left at its default is named with the default it was judged by.
    expect(
      rejection(devRaw({ vnetInjection: "true", vnetAddressSpace: "10.30.0.0/22" })),
    ).to.contain(
      'oms-lakehouse:vnetHostSubnet (unset, default "10.20.0.0/24"): lies outside vnetAddressSpace 10.30.0.0/22',
    );
    // Ranges are only judged for a VNet-injected stack.
    expect(() => parseConfig(devRaw({ vnetContainerSubnet: "10.30.1.0/24" }))).not.to.throw();
  });

  it("rejects network combinations that would cut a compute plane off the lake", () => {
    expect(rejection(devRaw({ storagePublicNetworkAccess: "false" })))
      .to.contain(
        'oms-lakehouse:storagePublicNetworkAccess = "false": false needs serverlessStorageAccess privateEndpoints',
      )
      .and.to.contain("false needs vnetInjection true");
    expect(rejection(devRaw({ workspaceFrontEndPrivateLink: "true" }))).to.contain(
      'oms-lakehouse:workspaceFrontEndPrivateLink = "true": true needs vnetInjection true',
    );
    expect(rejection(devRaw({ serverlessStorageAccess: "natGateway" }))).to.contain(
      'oms-lakehouse:serverlessStorageAccess = "natGateway": expected one of serviceEndpoints, privateEndpoints',
    );
    expect(
      rejection(devRaw({ databricksAccountHost: "https://accounts.cloud.databricks.com" })),
    ).to.contain("expected one of https://accounts.azuredatabricks.net");
    expect(
      parseConfig(
        devRaw({
          storagePublicNetworkAccess: "false",
          serverlessStorageAccess: "privateEndpoints",
          vnetInjection: "true",
        }),
      ).storagePublicNetworkAccess,
    ).to.equal(false);
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
      .concat(["components/network.ts", "components/serverlessEgress.ts"])
      .concat(["components/catalog.ts", "components/grants.ts", "components/warehouse.ts"])
      .concat(["components/jobs.ts", "components/pipelinePackage.ts"])
      .map((file) => fs.readFileSync(path.join(ROOT, file), "utf8"));
    for (const source of sources) {
      expect(source).not.to.match(/getStack\(|=== "(dev|prod)"/);
    }
  });
});
