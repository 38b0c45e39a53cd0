/**
 * Each component alone, with small arguments.
 */
import { expect } from "chai";
import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import { CLIENT, recorder } from "../scripts/plan/recorder";
import { promiseOf, settle } from "../scripts/plan/harness";
import { LakehouseStorage } from "../components/storage";
import { DatabricksWorkspace } from "../components/workspace";
import { LakehouseCatalog, LakehouseGrant, Securable } from "../components/catalog";
import { SqlWarehouse } from "../components/warehouse";
import { mergeGrants, Privilege } from "../components/grants";
import { WorkspaceNetwork } from "../components/network";
import {
  backoffDelays,
  CONNECTION_WAIT,
  connectionOf,
  NetworkConnectivityConfig,
  ServerlessEgress,
} from "../components/serverlessEgress";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const settings = require("@pulumi/pulumi/runtime/settings") as {
  isDryRun(): boolean;
  _setIsDryRun(value: boolean): void;
};

const tags = { environment: "test" };
const promiseOutput = <T>(v: T) => pulumi.output(v);
const testProvider = () =>
  new databricks.Provider("unit-provider", { host: "https://adb-1.1.azuredatabricks.net" });

function catalogArgs(provider: databricks.Provider, additionalGrants: LakehouseGrant[] = []) {
  return {
    catalogName: "unit",
    accessConnectorId:
      "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Databricks/accessConnectors/c",
    storageAccess: [],
    landingUrl: "abfss://landing@unit.dfs.core.windows.net/",
    lakehouseUrl: "abfss://lakehouse@unit.dfs.core.windows.net/",
    enableFileEvents: false,
    storageResourceGroupName: "rg",
    subscriptionId: "s",
    forceDestroy: false,
    workspaceId: "1",
    dataEngineersGroup: "engineers",
    analystsGroup: "analysts",
    biReadersGroup: "readers",
    additionalGrants,
    provider,
  };
}

describe("components alone", () => {
  beforeEach(() => recorder.reset());

  it("LakehouseStorage: registers its children under itself and sorts the IP allow-list", async () => {
    const s = new LakehouseStorage("unit", {
      location: "westeurope",
      accountName: "unitlake",
      skuName: "Standard_LRS",
      softDeleteRetentionDays: 1,
      allowedIpRanges: ["203.0.113.9", "198.51.100.0/24", "203.0.113.9"],
      tenantId: "t",
      subscriptionId: "s",
      tags,
    });
    await settle();
    const component = recorder.one("oms:storage:LakehouseStorage");
    recorder.resources
      .filter((r) => r !== component)
      .forEach((r) => expect(r.parent, r.name).to.equal(component.urn));
    recorder.resources
      .filter((r) => r !== component)
      .forEach((r) => expect(r.name).to.match(/^unit-/));
    const rules = recorder.one("azure-native:storage:StorageAccount").inputs.networkRuleSet as {
      ipRules: unknown[];
    };
    expect(rules.ipRules).to.deep.equal([
      { iPAddressOrRange: "198.51.100.0/24", action: "Allow" },
      { iPAddressOrRange: "203.0.113.9", action: "Allow" },
    ]);
    expect(recorder.one("azure-native:storage:StorageAccount").protect).to.equal(false);
    expect(await promiseOf(s.landingUrl)).to.equal(
      "abfss://landing@unitlake.dfs.core.windows.net/",
    );
    expect(s.roleAssignments).to.have.length(4);
  });

  it("LakehouseStorage: does not copy the caller's options onto its children", async () => {
    new LakehouseStorage(
      "unitprot",
      {
        location: "westeurope",
        accountName: "unitprot",
        skuName: "Standard_LRS",
        softDeleteRetentionDays: 1,
        tenantId: "t",
        subscriptionId: "s",
        tags,
      },
      { protect: true },
    );
    await settle();
    // protect on the component is the caller's business; only `args.protect` reaches the account.
    expect(recorder.one("azure-native:storage:StorageAccount").protect).to.equal(false);
  });

  it("DatabricksWorkspace: builds its provider from the workspace outputs", async () => {
    const w = new DatabricksWorkspace("unit", {
      location: "westeurope",
      resourceGroupName: "rg",
      subscriptionId: "s",
      managedResourceGroupName: "unit-managed",
      tags,
    });
    await settle();
    const provider = recorder.one("pulumi:providers:databricks");
    expect(provider.parent).to.equal(recorder.one("oms:workspace:DatabricksWorkspace").urn);
    expect(provider.inputs.host).to.equal(await promiseOf(w.host));
    expect(
      recorder.one("azure-native:databricks:Workspace").inputs.managedResourceGroupId,
    ).to.equal("/subscriptions/s/resourceGroups/unit-managed");
  });

  it("LakehouseStorage: admits the serverless subnets sorted and closes the public endpoint on request", async () => {
    new LakehouseStorage("unitnet", {
      location: "westeurope",
      accountName: "unitnet",
      skuName: "Standard_LRS",
      softDeleteRetentionDays: 1,
      serverlessSubnetIds: ["/s/b", "/s/a", "/s/b"],
      publicNetworkAccess: false,
      tenantId: "t",
      subscriptionId: "s",
      tags,
    });
    await settle();
    const account = recorder.one("azure-native:storage:StorageAccount").inputs;
    expect(
      (account.networkRuleSet as { virtualNetworkRules: unknown }).virtualNetworkRules,
    ).to.deep.equal([
      { virtualNetworkResourceId: "/s/a", action: "Allow" },
      { virtualNetworkResourceId: "/s/b", action: "Allow" },
    ]);
    expect(account.publicNetworkAccess).to.equal("Disabled");
  });

  it("WorkspaceNetwork: one private endpoint pattern (endpoint, zone, VNet link, zone group) under itself", async () => {
    const n = new WorkspaceNetwork("unitnet", {
      resourceGroupName: "rg",
      location: "westeurope",
      addressSpace: "10.1.0.0/22",
      hostSubnet: "10.1.0.0/24",
      containerSubnet: "10.1.1.0/24",
      privateEndpointSubnet: "10.1.2.0/26",
      tags,
    });
    const pe = n.privateEndpoint("lake-dfs", { targetResourceId: "/storage/x", groupId: "dfs" });
    await settle();
    const component = recorder.one("oms:network:PrivateLinkEndpoint");
    expect(component.parent).to.equal(recorder.one("oms:network:WorkspaceNetwork").urn);
    const children = recorder.resources
      .filter((r) => r.parent === component.urn)
      .map((r) => r.type);
    expect(children.sort()).to.deep.equal([
      "azure-native:network:PrivateDnsZoneGroup",
      "azure-native:network:PrivateEndpoint",
      "azure-native:privatedns:PrivateZone",
      "azure-native:privatedns:VirtualNetworkLink",
    ]);
    expect(pe.zoneName).to.equal("privatelink.dfs.core.windows.net");
    expect(recorder.one("azure-native:network:PrivateDnsZoneGroup").inputs).to.deep.include({
      privateEndpointName: "unitnet-lake-dfs-pe",
      privateDnsZoneConfigs: [{ name: "dfs", privateDnsZoneId: "unitnet-lake-dfs-zone-id" }],
    });
    // Subnets are created one after another (one operation per VNet at a time).
    const subnet = (n: string) => recorder.named(`unitnet-${n}`, "azure-native:network:Subnet");
    expect(subnet("container").dependencies).to.include(subnet("host").urn);
    expect(subnet("endpoints").dependencies).to.include(subnet("container").urn);
  });

  it("NetworkConnectivityConfig: stable subnets sorted, and a clear error when there are none", async () => {
    const ncc = new NetworkConnectivityConfig("unitncc", {
      accountHost: "https://accounts.azuredatabricks.net",
      accountId: "a",
      region: "westeurope",
      nccName: "unit-ncc",
    });
    const subnets = await promiseOf(ncc.stableSubnetIds());
    expect(subnets)
      .to.deep.equal([...subnets].sort())
      .and.to.have.length(2);
    const ncc2 = recorder.one(
      "databricks:index/mwsNetworkConnectivityConfig:MwsNetworkConnectivityConfig",
    );
    expect(recorder.providerOf(ncc2)?.inputs).to.include({
      host: "https://accounts.azuredatabricks.net",
      accountId: "a",
    });
    const empty = Object.create(NetworkConnectivityConfig.prototype) as NetworkConnectivityConfig;
    Object.assign(empty, { egress: promiseOutput({}), nccName: promiseOutput("unit-ncc") });
    let error: Error | undefined;
    try {
      await promiseOf(empty.stableSubnetIds());
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message).to.contain(
      "network connectivity configuration unit-ncc reports no stable service-endpoint subnets",
    );
  });

  it("connectionOf: finds the NCC endpoint's connection by endpoint name", () => {
    const connections = [
      { name: "other.1", privateEndpoint: { id: "/x/privateEndpoints/other" } },
      {
        name: "ncc-pe.2",
        privateEndpoint: { id: "/x/providers/Microsoft.Network/privateEndpoints/NCC-PE" },
      },
    ];
    expect(connectionOf(connections, "ncc-pe")).to.equal("ncc-pe.2");
    expect(connectionOf(connections, "missing")).to.equal(undefined);
  });

  // Databricks creates an NCC rule's endpoint asynchronously: the first up must wait for the
  // connection instead of failing, and give up clearly when it never comes.
  const egressOf = (pending: number, attempts: number) => {
    const sleeps: number[] = [];
    recorder.connectionsPendingFor = pending;
    const ncc = new NetworkConnectivityConfig("waitncc", {
      accountHost: "https://accounts.azuredatabricks.net",
      accountId: "a",
      region: "westeurope",
      nccName: "wait-ncc",
    });
    const egress = new ServerlessEgress("wait", {
      ncc,
      workspaceId: "1",
      privateStorage: {
        accountId: `/subscriptions/${CLIENT.subscriptionId}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/lake`,
        accountName: "lake",
        resourceGroupName: "rg",
      },
      connectionWait: {
        attempts,
        sleep: (ms) => {
          sleeps.push(ms);
          return Promise.resolve();
        },
      },
    });
    return { egress, sleeps };
  };
  const lookups = () =>
    recorder.calls.filter((c) => c.token === "azure-native:storage:getStorageAccount").length;

  it("ServerlessEgress: waits, with backoff, for connections that appear on a later look-up", async () => {
    const { egress, sleeps } = egressOf(5, 12);
    const names = await Promise.all(Object.values(egress.connectionNames).map((n) => promiseOf(n)));
    expect(names).to.have.length(2);
    for (const n of names) expect(n).to.match(/^databricks-pe-of-wait-(dfs|blob)\./);
    // Five empty answers shared by the two rules, then both connections are found.
    expect(lookups()).to.be.within(6, 7);
    // Each rule's look-ups back off from 5 s.
    expect([...sleeps].sort((a, b) => a - b).slice(0, 4)).to.deep.equal([
      5_000, 5_000, 10_000, 10_000,
    ]);
    expect(backoffDelays(CONNECTION_WAIT)).to.deep.equal([
      5_000, 10_000, 20_000, 30_000, 30_000, 30_000, 30_000, 30_000, 30_000, 30_000, 30_000,
    ]);
  });

  it("ServerlessEgress: skips the look-up in preview, even for a rule that already exists", async () => {
    const wasDryRun = settings.isDryRun();
    settings._setIsDryRun(true);
    try {
      // Plausible outputs: the rule's endpoint name is known, as for a rule already deployed.
      const { egress } = egressOf(0, 12);
      await settle();
      const name = egress.connectionNames.dfs as unknown as { isKnown: Promise<boolean> };
      expect(await name.isKnown).to.equal(false);
      expect(lookups()).to.equal(0);
    } finally {
      settings._setIsDryRun(wasDryRun);
    }
  });

  it("ServerlessEgress: fails clearly when the connection never appears", async () => {
    const { egress, sleeps } = egressOf(1_000, 4);
    let error: Error | undefined;
    try {
      await promiseOf(egress.connectionNames.dfs);
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message).to.match(
      /storage account lake lists no private endpoint connection from databricks-pe-of-wait-dfs after 4 look-ups over 35 s; .*connection state.*run pulumi up again/,
    );
    // Both rules: 3 pauses each between 4 look-ups, then the error; no more look-ups.
    expect([...sleeps].sort((a, b) => a - b)).to.deep.equal([
      5_000, 5_000, 10_000, 10_000, 20_000, 20_000,
    ]);
    expect(lookups()).to.equal(8);
  });

  it("LakehouseCatalog: merges additional grants into the same authoritative Grants", async () => {
    const c = new LakehouseCatalog(
      "unit",
      catalogArgs(testProvider(), [
        { securable: "catalog", principal: "pipeline-sp", privileges: ["USE_CATALOG"] },
        { securable: "schema:bronze", principal: "pipeline-sp", privileges: ["MODIFY", "SELECT"] },
        {
          securable: "schema:bronze",
          principal: "pipeline-sp",
          privileges: ["USE_SCHEMA", "SELECT"],
        },
        { securable: "volume:ops.landing", principal: "pipeline-sp", privileges: ["READ_VOLUME"] },
        { securable: "schema:gold", principal: "engineers", privileges: ["APPLY_TAG"] },
      ]),
    );
    await settle();
    const grants = recorder.ofType("databricks:index/grants:Grants");
    const bySecurable = (field: string, value: string) =>
      grants.filter((g) => g.inputs[field] === value).map((g) => g.inputs.grants);
    expect(bySecurable("catalog", "unit")).to.have.length(1);
    expect(bySecurable("schema", "unit.bronze")).to.deep.equal([
      [
        {
          principal: "engineers",
          privileges: [
            "CREATE_FUNCTION",
            "CREATE_MATERIALIZED_VIEW",
            "CREATE_TABLE",
            "EXECUTE",
            "MODIFY",
            "REFRESH",
            "SELECT",
            "USE_SCHEMA",
          ],
        },
        { principal: "pipeline-sp", privileges: ["MODIFY", "SELECT", "USE_SCHEMA"] },
      ],
    ]);
    expect(bySecurable("volume", "unit.ops.landing")).to.deep.equal([
      [{ principal: "pipeline-sp", privileges: ["READ_VOLUME"] }],
    ]);
    const gold = bySecurable("schema", "unit.gold")[0] as {
      principal: string;
      privileges: string[];
    }[];
    expect(gold.find((g) => g.principal === "engineers")?.privileges).to.include("APPLY_TAG");
    expect(Object.keys(c.grants).sort()).to.deep.equal([
      "catalog",
      "schema:bronze",
      "schema:gold",
      "schema:ops",
      "schema:silver",
      "volume:ops.landing",
    ]);
    expect(await promiseOf(c.volumePaths.checkpoints)).to.equal("/Volumes/unit/ops/checkpoints");
    expect(await promiseOf(c.storageRoot)).to.equal(
      "abfss://lakehouse@unit.dfs.core.windows.net/unit",
    );
  });

  it("LakehouseCatalog: refuses ALL_PRIVILEGES even when the type system is bypassed", () => {
    const provider = testProvider();
    expect(
      () =>
        new LakehouseCatalog(
          "unitbad",
          catalogArgs(provider, [
            {
              securable: "catalog",
              principal: "someone",
              privileges: ["ALL_PRIVILEGES" as Privilege],
            },
          ]),
        ),
    ).to.throw(/privilege ALL_PRIVILEGES for catalog grant is not allowed/);
    expect(recorder.ofType("oms:catalog:LakehouseCatalog")).to.have.length(0);
  });

  it("LakehouseCatalog: refuses a grant on a schema or volume the pipeline package does not have", () => {
    const provider = testProvider();
    // A volume name is checked by the type system too; a cast stands for bypassing it.
    for (const securable of ["schema:platinum", "volume:ops.uploads"] as Securable[]) {
      expect(
        () =>
          new LakehouseCatalog(
            "unitunknown",
            catalogArgs(provider, [{ securable, principal: "someone", privileges: ["SELECT"] }]),
          ),
      ).to.throw(
        `${securable} grant: no such securable in the catalog; allowed: catalog, schema:bronze`,
      );
    }
    expect(recorder.ofType("oms:catalog:LakehouseCatalog")).to.have.length(0);
  });

  it("SqlWarehouse: one Permissions with groups and additional principals, sorted", async () => {
    const w = new SqlWarehouse("unit", {
      warehouseName: "unit",
      clusterSize: "2X-Small",
      minNumClusters: 1,
      maxNumClusters: 2,
      autoStopMins: 5,
      userGroups: ["readers", "analysts"],
      additionalAccess: [{ servicePrincipalName: "bi-sp", permissionLevel: "CAN_USE" }],
      tags: { z: "1", a: "2" },
      provider: testProvider(),
    });
    await settle();
    expect(recorder.ofType("databricks:index/permissions:Permissions")).to.have.length(1);
    expect(
      recorder.one("databricks:index/permissions:Permissions").inputs.accessControls,
    ).to.deep.equal([
      { groupName: "analysts", permissionLevel: "CAN_USE" },
      { groupName: "readers", permissionLevel: "CAN_USE" },
      { permissionLevel: "CAN_USE", servicePrincipalName: "bi-sp" },
    ]);
    expect(
      (
        recorder.one("databricks:index/sqlEndpoint:SqlEndpoint").inputs.tags as {
          customTags: unknown;
        }
      ).customTags,
    ).to.deep.equal([
      { key: "a", value: "2" },
      { key: "z", value: "1" },
    ]);
    expect(await promiseOf(w.httpPath)).to.equal("/sql/1.0/warehouses/whunitwarehouse");
  });

  it("SqlWarehouse: rejects an access entry without exactly one identity", () => {
    expect(
      () =>
        new SqlWarehouse("unitbad", {
          warehouseName: "x",
          clusterSize: "2X-Small",
          minNumClusters: 1,
          maxNumClusters: 1,
          autoStopMins: 5,
          userGroups: [],
          additionalAccess: [{ groupName: "g", userName: "u", permissionLevel: "CAN_USE" }],
          tags: {},
          provider: testProvider(),
        }),
    ).to.throw(/exactly one of groupName, servicePrincipalName, userName/);
  });
});

describe("mergeGrants", () => {
  it("merges by principal and sorts principals and privileges", () => {
    expect(
      mergeGrants([
        { principal: "b", privileges: ["SELECT"] },
        { principal: "a", privileges: ["USE_SCHEMA", "SELECT"] },
        { principal: "b", privileges: ["USE_SCHEMA", "SELECT"] },
      ]),
    ).to.deep.equal([
      { principal: "a", privileges: ["SELECT", "USE_SCHEMA"] },
      { principal: "b", privileges: ["SELECT", "USE_SCHEMA"] },
    ]);
  });

  it("rejects ALL_PRIVILEGES and MANAGE with the allowed list", () => {
    expect(() => mergeGrants([{ principal: "x", privileges: ["ALL_PRIVILEGES"] }])).to.throw(
      /privilege ALL_PRIVILEGES for x is not allowed; allowed privileges are ACCESS, APPLY_TAG/,
    );
    expect(() => mergeGrants([{ principal: "x", privileges: ["MANAGE"] }])).to.throw(/not allowed/);
  });
});
