/**
 * The whole program, run once per stack file under the recording mocks.
 */
import { expect } from "chai";
import {
  CLIENT,
  CONNECTION_SUFFIX,
  NCC_STABLE_SUBNETS,
  nccEndpointName,
  recorder,
  RecordedResource,
  WORKSPACE_HOST,
  WORKSPACE_ID,
} from "../scripts/plan/recorder";
import {
  loadStackConfig,
  ProgramExports,
  promiseOf,
  runProgram,
  withConfig,
} from "../scripts/plan/harness";
import { ROLE_DEFINITIONS } from "../components/storage";
import { COMPONENT_TYPE, declaredComponents } from "./component-types";

const T = {
  rg: "azure-native:resources:ResourceGroup",
  account: "azure-native:storage:StorageAccount",
  blobService: "azure-native:storage:BlobServiceProperties",
  container: "azure-native:storage:BlobContainer",
  connector: "azure-native:databricks:AccessConnector",
  role: "azure-native:authorization:RoleAssignment",
  workspace: "azure-native:databricks:Workspace",
  provider: "pulumi:providers:databricks",
  metastore: "databricks:index/metastoreAssignment:MetastoreAssignment",
  credential: "databricks:index/storageCredential:StorageCredential",
  location: "databricks:index/externalLocation:ExternalLocation",
  catalog: "databricks:index/catalog:Catalog",
  schema: "databricks:index/schema:Schema",
  volume: "databricks:index/volume:Volume",
  grants: "databricks:index/grants:Grants",
  warehouse: "databricks:index/sqlEndpoint:SqlEndpoint",
  permissions: "databricks:index/permissions:Permissions",
  ncc: "databricks:index/mwsNetworkConnectivityConfig:MwsNetworkConnectivityConfig",
  nccBinding: "databricks:index/mwsNccBinding:MwsNccBinding",
  nccRule: "databricks:index/mwsNccPrivateEndpointRule:MwsNccPrivateEndpointRule",
  approval: "azure-native:storage:PrivateEndpointConnection",
  vnet: "azure-native:network:VirtualNetwork",
  subnet: "azure-native:network:Subnet",
  nsg: "azure-native:network:NetworkSecurityGroup",
  endpoint: "azure-native:network:PrivateEndpoint",
  dnsZoneGroup: "azure-native:network:PrivateDnsZoneGroup",
  zone: "azure-native:privatedns:PrivateZone",
  zoneLink: "azure-native:privatedns:VirtualNetworkLink",
  nat: "azure-native:network:NatGateway",
  publicIp: "azure-native:network:PublicIPAddress",
};
const ACCOUNT_HOST = "https://accounts.azuredatabricks.net";
/** The last type of a parent chain (`a$b` → `b`), i.e. the direct parent's type. */
const parentType = (r: RecordedResource) => r.parent.split("::")[2].split("$").pop() ?? "";

type Inputs = Record<string, unknown>;
const obj = (v: unknown): Inputs => v as Inputs;
const list = (v: unknown): Inputs[] => v as Inputs[];
const SECURABLE_FIELDS = ["catalog", "schema", "volume", "externalLocation", "storageCredential"];
const securableOf = (g: RecordedResource): string => {
  const field = SECURABLE_FIELDS.find((f) => g.inputs[f] !== undefined);
  return `${field}:${String(g.inputs[field ?? ""])}`;
};
const roleId = (id: string) =>
  `/subscriptions/${CLIENT.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${id}`;

interface Expectation {
  sku: string;
  protect: boolean;
  forceDestroy: boolean;
  retentionDays: number;
  clusterSize: string;
  maxClusters: number;
  autoStop: number;
  /** How the storage firewall admits serverless compute. */
  serverless: "serviceEndpoints" | "privateEndpoints";
  /** VNet-injected workspace with private endpoints to the lake. */
  vnet: boolean;
}
const STACKS: Record<string, Expectation> = {
  dev: {
    sku: "Standard_LRS",
    protect: false,
    forceDestroy: true,
    retentionDays: 7,
    clusterSize: "2X-Small",
    maxClusters: 1,
    autoStop: 10,
    serverless: "serviceEndpoints",
    vnet: false,
  },
  prod: {
    sku: "Standard_GZRS",
    protect: true,
    forceDestroy: false,
    retentionDays: 30,
    clusterSize: "Small",
    maxClusters: 4,
    autoStop: 30,
    serverless: "privateEndpoints",
    vnet: true,
  },
};

for (const [stack, expected] of Object.entries(STACKS)) {
  describe(`stack ${stack} (Pulumi.${stack}.yaml)`, () => {
    let out: ProgramExports;
    let resources: RecordedResource[];
    const one = (type: string) => {
      const found = resources.filter((r) => r.type === type);
      expect(found, type).to.have.length(1);
      return found[0];
    };
    const all = (type: string) => resources.filter((r) => r.type === type);

    before(async () => {
      out = await runProgram(stack);
      resources = [...recorder.resources];
    });

    describe("lakehouse storage", () => {
      it("is an ADLS Gen2 account reachable only over TLS 1.2 HTTPS with Entra ID", () => {
        const a = one(T.account).inputs;
        expect(a).to.include({
          kind: "StorageV2",
          isHnsEnabled: true,
          minimumTlsVersion: "TLS1_2",
          enableHttpsTrafficOnly: true,
          allowBlobPublicAccess: false,
          allowSharedKeyAccess: false,
          defaultToOAuthAuthentication: true,
          allowCrossTenantReplication: false,
        });
        expect(a.accountName).to.equal(
          loadStackConfig(stack).values["oms-lakehouse:storageAccountName"],
        );
      });

      it("denies network access except trusted services, the access connector and serverless compute", () => {
        const rules = obj(one(T.account).inputs.networkRuleSet);
        expect(rules.defaultAction).to.equal("Deny");
        expect(rules.bypass).to.equal("AzureServices");
        expect(list(rules.resourceAccessRules)).to.deep.equal([
          {
            tenantId: CLIENT.tenantId,
            resourceId: `/subscriptions/${CLIENT.subscriptionId}/resourceGroups/oms-${stack}-rg-000000/providers/Microsoft.Databricks/accessConnectors/oms-${stack}-connector`,
          },
        ]);
        expect(list(rules.ipRules ?? [])).to.deep.equal([]);
        // Serverless compute: the NCC's stable subnets and nothing broader (dev), or only the
        // NCC's private endpoints (prod), with the public endpoint closed.
        expect(list(rules.virtualNetworkRules)).to.deep.equal(
          expected.serverless === "serviceEndpoints"
            ? NCC_STABLE_SUBNETS.map((id) => ({ virtualNetworkResourceId: id, action: "Allow" }))
            : [],
        );
        expect(one(T.account).inputs.publicNetworkAccess).to.equal(
          expected.vnet ? "Disabled" : "Enabled",
        );
      });

      it(`uses ${expected.sku} redundancy and protect=${expected.protect}`, () => {
        expect(obj(one(T.account).inputs.sku).name).to.equal(expected.sku);
        expect(one(T.account).protect).to.equal(expected.protect);
      });

      it("keeps deleted blobs and containers recoverable", () => {
        const b = one(T.blobService).inputs;
        expect(b.deleteRetentionPolicy).to.deep.equal({
          enabled: true,
          days: expected.retentionDays,
        });
        expect(b.containerDeleteRetentionPolicy).to.deep.equal({
          enabled: true,
          days: expected.retentionDays,
        });
      });

      it("has private landing and lakehouse containers", () => {
        const containers = all(T.container).map((c) => c.inputs);
        expect(containers.map((c) => c.containerName).sort()).to.deep.equal([
          "lakehouse",
          "landing",
        ]);
        containers.forEach((c) => expect(c.publicAccess).to.equal("None"));
      });

      it("gives the access connector a system-assigned identity", () => {
        expect(obj(one(T.connector).inputs.identity).type).to.equal("SystemAssigned");
      });

      it("grants the connector exactly the three data roles, each at the narrowest scope", () => {
        const roles = all(T.role).map((r) => r.inputs);
        expect(roles).to.have.length(4);
        roles.forEach((r) => {
          expect(r.principalType).to.equal("ServicePrincipal");
          expect(r.principalId).to.equal(`principal-of-oms-${stack}-connector`);
          expect(String(r.scope)).to.match(/^\/subscriptions\/[^/]+\/resourceGroups\//);
        });
        const scopes = (id: string) =>
          roles.filter((r) => r.roleDefinitionId === roleId(id)).map((r) => String(r.scope));
        const blob = scopes(ROLE_DEFINITIONS.storageBlobDataContributor);
        expect(blob).to.have.length(2);
        blob.forEach((s) =>
          expect(s).to.match(/\/blobServices\/default\/containers\/(landing|lakehouse)$/),
        );
        const [queue] = scopes(ROLE_DEFINITIONS.storageQueueDataContributor);
        expect(queue).to.match(/\/providers\/Microsoft\.Storage\/storageAccounts\/[a-z0-9]+$/);
        const [eventGrid] = scopes(ROLE_DEFINITIONS.eventGridEventSubscriptionContributor);
        expect(eventGrid).to.match(/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+$/);
      });
    });

    describe("Databricks workspace", () => {
      it("is premium with no public IPs and a managed resource group", () => {
        const w = one(T.workspace).inputs;
        expect(w.sku).to.deep.equal({ name: "premium" });
        expect(obj(obj(w.parameters).enableNoPublicIp).value).to.equal(true);
        expect(w.managedResourceGroupId).to.equal(
          `/subscriptions/${CLIENT.subscriptionId}/resourceGroups/oms-${stack}-databricks-managed`,
        );
        expect(obj(w.tags)).to.include({ environment: stack, managedBy: "pulumi" });
      });

      it("has a workspace provider and an account provider, both without credentials", () => {
        const providers = all(T.provider);
        expect(providers).to.have.length(2);
        const workspaceProvider = providers.find((p) => p.name === `oms-${stack}-provider`);
        expect(workspaceProvider?.inputs.host).to.equal(`https://${WORKSPACE_HOST}`);
        expect(String(workspaceProvider?.inputs.azureWorkspaceResourceId)).to.match(
          /Microsoft\.Databricks\/workspaces\//,
        );
        const accountProvider = providers.find((p) => p.name === `oms-${stack}-account-provider`);
        expect(accountProvider?.inputs).to.include({
          host: ACCOUNT_HOST,
          accountId: loadStackConfig(stack).values["oms-lakehouse:databricksAccountId"],
        });
        for (const p of providers) {
          for (const secret of ["token", "password", "azureClientSecret", "clientSecret"]) {
            expect(p.inputs, p.name).not.to.have.property(secret);
          }
        }
      });

      it("creates account objects through the account provider, everything else through the workspace's", () => {
        const dbx = resources.filter((r) => r.type.startsWith("databricks:"));
        expect(dbx.length).to.be.greaterThan(10);
        dbx.forEach((r) =>
          expect(recorder.providerOf(r)?.name, r.name).to.equal(
            r.type.startsWith("databricks:index/mws")
              ? `oms-${stack}-account-provider`
              : `oms-${stack}-provider`,
          ),
        );
      });

      it("reads nothing on the path that creates the workspace", () => {
        // The one read besides the deployer's identity is the storage account's private
        // endpoint connections, after the NCC rules that create them (prod only).
        const reads = recorder.calls.map((c) => c.token);
        const storageReads = reads.filter((t) => t === "azure-native:storage:getStorageAccount");
        expect(
          reads.filter((t) => t !== "azure-native:authorization:getClientConfig"),
        ).to.deep.equal(storageReads);
        expect(storageReads).to.have.length(expected.serverless === "privateEndpoints" ? 2 : 0);
        const ws = one(T.workspace);
        const upstream = new Set<string>();
        const walk = (urn: string) => {
          const r = recorder.byUrn(urn);
          if (!r || upstream.has(urn)) return;
          upstream.add(urn);
          r.dependencies.forEach(walk);
        };
        ws.dependencies.forEach(walk);
        const types = [...upstream].map((u) => recorder.byUrn(u)?.type);
        expect(types).not.to.include.members([T.nccRule, T.approval, T.nccBinding]);
      });
    });

    describe("serverless egress", () => {
      it("has one NCC in the stack's region, bound to this workspace", () => {
        const ncc = one(T.ncc);
        expect(ncc.inputs).to.deep.equal({ name: `oms-${stack}-ncc`, region: "westeurope" });
        expect(one(T.nccBinding).inputs).to.deep.equal({
          networkConnectivityConfigId: `ncc-id-of-oms-${stack}-ncc`,
          workspaceId: WORKSPACE_ID,
        });
      });

      it(`admits serverless compute through ${expected.serverless}`, () => {
        const accountId = `/subscriptions/${CLIENT.subscriptionId}/resourceGroups/oms-${stack}-rg-000000/providers/Microsoft.Storage/storageAccounts/${String(one(T.account).inputs.accountName)}`;
        const rules = all(T.nccRule);
        const approvals = all(T.approval);
        if (expected.serverless === "serviceEndpoints") {
          expect(rules).to.have.length(0);
          expect(approvals).to.have.length(0);
          return;
        }
        expect(
          rules
            .map((r) => r.inputs)
            .sort((a, b) => String(a.groupId).localeCompare(String(b.groupId))),
        ).to.deep.equal(
          ["blob", "dfs"].map((groupId) => ({
            groupId,
            networkConnectivityConfigId: `ncc-id-of-oms-${stack}-ncc`,
            resourceId: accountId,
          })),
        );
        // Each rule's pending connection on the account is approved by name, nothing else.
        expect(approvals.map((a) => a.inputs.privateEndpointConnectionName).sort()).to.deep.equal(
          rules.map((r) => `${nccEndpointName(r.name)}${CONNECTION_SUFFIX}`).sort(),
        );
        approvals.forEach((a) => {
          expect(a.inputs.accountName).to.equal(one(T.account).inputs.accountName);
          expect(obj(a.inputs.privateLinkServiceConnectionState).status).to.equal("Approved");
        });
      });
    });

    describe("private networking", () => {
      it(
        expected.vnet ? "injects the workspace into the stack's VNet" : "keeps the managed VNet",
        () => {
          const params = obj(one(T.workspace).inputs.parameters);
          if (!expected.vnet) {
            expect(Object.keys(params)).to.deep.equal(["enableNoPublicIp"]);
            expect(
              all(T.vnet).length +
                all(T.subnet).length +
                all(T.endpoint).length +
                all(T.nat).length +
                all(T.publicIp).length,
            ).to.equal(0);
            return;
          }
          const vnet = one(T.vnet);
          expect(obj(vnet.inputs.addressSpace).addressPrefixes).to.deep.equal(["10.20.0.0/22"]);
          expect(params).to.deep.equal({
            enableNoPublicIp: { value: true },
            customVirtualNetworkId: { value: `oms-${stack}-vnet-id` },
            customPublicSubnetName: { value: `oms-${stack}-host` },
            customPrivateSubnetName: { value: `oms-${stack}-container` },
          });
          expect(one(T.workspace).inputs.requiredNsgRules).to.equal("AllRules");
        },
      );

      if (expected.vnet) {
        it("delegates the host and container subnets to Databricks, with the NSG", () => {
          const subnets = all(T.subnet).map((r) => r.inputs);
          const byName = (n: string) => subnets.find((x) => x.subnetName === `oms-${stack}-${n}`);
          const nsg = `oms-${stack}-nsg-id`;
          for (const [n, prefix] of [
            ["host", "10.20.0.0/24"],
            ["container", "10.20.1.0/24"],
          ]) {
            expect(byName(n), n).to.deep.include({
              addressPrefix: prefix,
              networkSecurityGroup: { id: nsg },
              delegations: [{ name: "databricks", serviceName: "Microsoft.Databricks/workspaces" }],
            });
          }
          expect(byName("endpoints")).to.include({ addressPrefix: "10.20.2.0/26" });
          expect(byName("endpoints")).not.to.have.property("delegations");
          expect(one(T.nsg).inputs).not.to.have.property("securityRules");
        });

        it("gives both Databricks subnets an explicit egress: a NAT gateway with a Standard static IP", () => {
          // Secure cluster connectivity: clusters open their tunnel to the control plane outbound.
          const ip = one(T.publicIp);
          expect(ip.inputs).to.deep.include({
            sku: { name: "Standard", tier: "Regional" },
            publicIPAllocationMethod: "Static",
          });
          const nat = one(T.nat);
          expect(nat.inputs).to.deep.include({
            sku: { name: "Standard" },
            publicIpAddresses: [{ id: `${ip.name}-id` }],
          });
          const subnets = all(T.subnet).map((r) => r.inputs);
          const natOf = (n: string) =>
            subnets.find((x) => x.subnetName === `oms-${stack}-${n}`)?.natGateway;
          expect(natOf("host")).to.deep.equal({ id: `${nat.name}-id` });
          expect(natOf("container")).to.deep.equal({ id: `${nat.name}-id` });
          // Private endpoints need no internet egress.
          expect(natOf("endpoints")).to.equal(undefined);
        });

        it("reaches dfs and blob through private endpoints whose DNS zones are linked to the VNet", () => {
          const endpoints = all(T.endpoint);
          expect(endpoints).to.have.length(2);
          const accountId = `/subscriptions/${CLIENT.subscriptionId}/resourceGroups/oms-${stack}-rg-000000/providers/Microsoft.Storage/storageAccounts/${String(one(T.account).inputs.accountName)}`;
          const zones: Record<string, string> = {
            dfs: "privatelink.dfs.core.windows.net",
            blob: "privatelink.blob.core.windows.net",
          };
          for (const e of endpoints) {
            const [conn] = list(e.inputs.privateLinkServiceConnections);
            const [groupId] = conn.groupIds as string[];
            expect(conn.privateLinkServiceId).to.equal(accountId);
            expect(obj(e.inputs.subnet).id).to.equal(`oms-${stack}-endpoints-id`);
            const group = all(T.dnsZoneGroup).find(
              (g) => g.inputs.privateEndpointName === e.inputs.privateEndpointName,
            );
            const [config] = list(group?.inputs.privateDnsZoneConfigs);
            const zone = all(T.zone).find((z) => `${z.name}-id` === config.privateDnsZoneId);
            expect(zone?.inputs.privateZoneName, groupId).to.equal(zones[groupId]);
            const links = all(T.zoneLink).filter(
              (l) => l.inputs.privateZoneName === zones[groupId],
            );
            expect(links.map((l) => l.inputs.virtualNetwork)).to.deep.equal([
              { id: `oms-${stack}-vnet-id` },
            ]);
          }
          expect(
            endpoints.map((e) => list(e.inputs.privateLinkServiceConnections)[0].groupIds),
          ).to.have.deep.members([["dfs"], ["blob"]]);
        });
      }
    });

    describe("Unity Catalog", () => {
      it("uses the workspace's metastore unless one is configured", () => {
        expect(all(T.metastore)).to.have.length(0);
      });

      it("builds the storage credential on the access connector after its role assignments", () => {
        const c = one(T.credential);
        expect(String(obj(c.inputs.azureManagedIdentity).accessConnectorId)).to.match(
          /\/accessConnectors\/oms-[a-z]+-connector$/,
        );
        const roleUrns = all(T.role).map((r) => r.urn);
        expect(roleUrns).to.have.length(4);
        expect(c.dependencies).to.include.members(roleUrns);
      });

      it("has external locations on both containers, with file events on landing", () => {
        const locations = all(T.location).map((l) => l.inputs);
        const account = String(one(T.account).inputs.accountName);
        expect(locations.map((l) => l.url).sort()).to.deep.equal([
          `abfss://lakehouse@${account}.dfs.core.windows.net/`,
          `abfss://landing@${account}.dfs.core.windows.net/`,
        ]);
        locations.forEach((l) => expect(l.credentialName).to.equal(one(T.credential).inputs.name));
        const landing = locations.find((l) => String(l.url).startsWith("abfss://landing@"));
        expect(landing?.enableFileEvents).to.equal(true);
        expect(obj(obj(landing?.fileEventQueue).managedAqs).subscriptionId).to.equal(
          CLIENT.subscriptionId,
        );
      });

      it("roots the catalog under the lakehouse external location", () => {
        const cat = one(T.catalog);
        const lakehouse = all(T.location).find((l) => String(l.inputs.url).includes("lakehouse@"));
        expect(String(cat.inputs.storageRoot).startsWith(String(lakehouse?.inputs.url))).to.equal(
          true,
        );
        expect(cat.inputs.name).to.equal(`oms_${stack}`);
        expect(cat.inputs.isolationMode).to.equal("ISOLATED");
      });

      it(`sets forceDestroy=${expected.forceDestroy} and protect=${expected.protect} per stack`, () => {
        const cat = one(T.catalog);
        expect(cat.inputs.forceDestroy).to.equal(expected.forceDestroy);
        expect(cat.protect).to.equal(expected.protect);
        all(T.schema).forEach((s) => expect(s.inputs.forceDestroy).to.equal(expected.forceDestroy));
        // Only the data itself is protected.
        const protectedTypes = resources.filter((r) => r.protect).map((r) => r.type);
        expect(protectedTypes.sort()).to.deep.equal(
          expected.protect ? [T.account, T.catalog].sort() : [],
        );
      });

      it("has bronze, silver, gold and ops schemas", () => {
        expect(all(T.schema).map((s) => s.inputs.name)).to.have.members([
          "bronze",
          "silver",
          "gold",
          "ops",
        ]);
      });

      it("has an external landing volume over the landing location and a managed checkpoints volume", () => {
        const volumes = all(T.volume).map((v) => v.inputs);
        const landing = volumes.find((v) => v.name === "landing");
        const checkpoints = volumes.find((v) => v.name === "checkpoints");
        const landingUrl = all(T.location).find((l) => String(l.inputs.url).includes("landing@"))
          ?.inputs.url;
        expect(landing).to.include({ schemaName: "ops", volumeType: "EXTERNAL" });
        expect(String(landing?.storageLocation).startsWith(String(landingUrl))).to.equal(true);
        expect(checkpoints).to.include({ schemaName: "ops", volumeType: "MANAGED" });
        expect(checkpoints).not.to.have.property("storageLocation");
      });
    });

    describe("grants", () => {
      it("has exactly one Grants per securable", () => {
        const securables = all(T.grants).map(securableOf);
        expect(new Set(securables).size).to.equal(securables.length);
        expect(securables).to.include.members([
          `catalog:oms_${stack}`,
          `schema:oms_${stack}.bronze`,
          `schema:oms_${stack}.silver`,
          `schema:oms_${stack}.gold`,
          `schema:oms_${stack}.ops`,
        ]);
      });

      it("never grants ALL_PRIVILEGES or MANAGE", () => {
        all(T.grants).forEach((g) =>
          list(g.inputs.grants).forEach((e) =>
            expect(e.privileges).not.to.include.oneOf(["ALL_PRIVILEGES", "MANAGE"]),
          ),
        );
      });

      it("lets analysts and BI readers use the catalog and read gold only", () => {
        for (const reader of ["oms-analysts", "oms-bi-readers"]) {
          const held = all(T.grants).flatMap((g) =>
            list(g.inputs.grants)
              .filter((e) => e.principal === reader)
              .map((e) => `${securableOf(g)}=${(e.privileges as string[]).join(",")}`),
          );
          expect(held.sort()).to.deep.equal([
            `catalog:oms_${stack}=USE_CATALOG`,
            `schema:oms_${stack}.gold=SELECT,USE_SCHEMA`,
          ]);
        }
      });

      it("lets data engineers build every schema", () => {
        const schemaGrants = all(T.grants).filter((g) => g.inputs.schema !== undefined);
        expect(schemaGrants).to.have.length(4);
        schemaGrants.forEach((g) => {
          const engineers = list(g.inputs.grants).find((e) => e.principal === "oms-data-engineers");
          expect(engineers?.privileges).to.include.members([
            "USE_SCHEMA",
            "CREATE_TABLE",
            "MODIFY",
            "SELECT",
          ]);
        });
      });
    });

    describe("SQL warehouse", () => {
      it("is serverless PRO with Photon on the current channel, sized per stack", () => {
        const w = one(T.warehouse).inputs;
        expect(w).to.include({
          enableServerlessCompute: true,
          warehouseType: "PRO",
          enablePhoton: true,
          clusterSize: expected.clusterSize,
          minNumClusters: 1,
          maxNumClusters: expected.maxClusters,
          autoStopMins: expected.autoStop,
        });
        expect(w.channel).to.deep.equal({ name: "CHANNEL_NAME_CURRENT" });
        const tags = list(obj(w.tags).customTags).map((t) => t.key);
        expect(tags).to.deep.equal([...tags].sort());
        expect(tags).to.include("environment");
      });

      it("lets analysts, BI readers and the Power BI reader use it, and nobody else", () => {
        const found = all(T.permissions).filter((r) => r.inputs.sqlEndpointId !== undefined);
        expect(found, "warehouse permissions").to.have.length(1);
        const p = found[0].inputs;
        expect(p.sqlEndpointId).to.equal(`whoms${stack}warehouse`);
        expect(p.accessControls).to.deep.equal([
          { groupName: "oms-analysts", permissionLevel: "CAN_USE" },
          { groupName: "oms-bi-readers", permissionLevel: "CAN_USE" },
          { permissionLevel: "CAN_USE", servicePrincipalName: `client-of-oms-${stack}-bi-reader` },
        ]);
      });
    });

    it("parents every resource under a component of the stack", () => {
      // Every component type is one a class under components/ declares (oms:<module>:<Name>).
      const declared = declaredComponents().map((c) => c.type);
      resources
        .filter((r) => r.custom)
        .forEach((r) => expect(declared, `parent of ${r.name}`).to.include(parentType(r)));
      resources
        .filter((r) => !r.custom)
        .forEach((r) => {
          expect(r.type, r.name).to.match(COMPONENT_TYPE);
          expect(declared, r.name).to.include(r.type);
        });
    });

    it("exports what later parts of the platform consume", async () => {
      const account = String(one(T.account).inputs.accountName);
      expect(await promiseOf(out.storageAccountName as string)).to.equal(account);
      expect(await promiseOf(out.landingUrl as string)).to.equal(
        `abfss://landing@${account}.dfs.core.windows.net/`,
      );
      expect(await promiseOf(out.lakehouseUrl as string)).to.equal(
        `abfss://lakehouse@${account}.dfs.core.windows.net/`,
      );
      expect(await promiseOf(out.workspaceUrl as string)).to.equal(`https://${WORKSPACE_HOST}`);
      expect(await promiseOf(out.catalogName as string)).to.equal(`oms_${stack}`);
      expect(await promiseOf(out.schemas as Record<string, string>)).to.deep.equal({
        bronze: `oms_${stack}.bronze`,
        silver: `oms_${stack}.silver`,
        gold: `oms_${stack}.gold`,
        ops: `oms_${stack}.ops`,
      });
      expect(await promiseOf(out.volumePaths as Record<string, string>)).to.deep.equal({
        landing: `/Volumes/oms_${stack}/ops/landing`,
        checkpoints: `/Volumes/oms_${stack}/ops/checkpoints`,
        artifacts: `/Volumes/oms_${stack}/ops/artifacts`,
      });
      expect(await promiseOf(out.warehouseId as string)).to.equal(`whoms${stack}warehouse`);
      expect(await promiseOf(out.warehouseServerHostname as string)).to.equal(WORKSPACE_HOST);
      expect(await promiseOf(out.warehouseHttpPath as string)).to.equal(
        `/sql/1.0/warehouses/whoms${stack}warehouse`,
      );
    });
  });
}

describe("stack variations", () => {
  it("assigns a configured metastore before creating Unity Catalog objects", async () => {
    const metastoreId = "0a1b2c3d-0000-4000-8000-000000000001";
    await runProgram(withConfig(loadStackConfig("dev"), { metastoreId }));
    const assignment = recorder.one(T.metastore);
    expect(assignment.inputs).to.deep.include({ metastoreId, workspaceId: WORKSPACE_ID });
    expect(recorder.one(T.credential).dependencies).to.include(assignment.urn);
  });

  it("leaves file events off when disabled", async () => {
    await runProgram(withConfig(loadStackConfig("dev"), { enableFileEvents: "false" }));
    const landing = recorder
      .ofType(T.location)
      .find((l) => String(l.inputs.url).startsWith("abfss://landing@"));
    expect(landing?.inputs.enableFileEvents).to.equal(false);
    expect(landing?.inputs).not.to.have.property("fileEventQueue");
  });

  it("opens the storage firewall to configured IP ranges only, sorted", async () => {
    await runProgram(
      withConfig(loadStackConfig("dev"), {
        storageAllowedIpRanges: JSON.stringify(["203.0.113.0/24", "198.51.100.7"]),
      }),
    );
    const rules = obj(recorder.one(T.account).inputs.networkRuleSet);
    expect(rules.defaultAction).to.equal("Deny");
    expect(rules.ipRules).to.deep.equal([
      { iPAddressOrRange: "198.51.100.7", action: "Allow" },
      { iPAddressOrRange: "203.0.113.0/24", action: "Allow" },
    ]);
  });

  it("adds a front-end private endpoint for the workspace when asked", async () => {
    await runProgram(withConfig(loadStackConfig("prod"), { workspaceFrontEndPrivateLink: "true" }));
    const frontEnd = recorder
      .ofType(T.endpoint)
      .map((e) => list(e.inputs.privateLinkServiceConnections)[0])
      .filter((c) => (c.groupIds as string[]).includes("databricks_ui_api"));
    expect(frontEnd).to.have.length(1);
    expect(String(frontEnd[0].privateLinkServiceId)).to.match(
      /Microsoft\.Databricks\/workspaces\//,
    );
    expect(recorder.ofType(T.zone).map((z) => z.inputs.privateZoneName)).to.include(
      "privatelink.azuredatabricks.net",
    );
  });

  it("registers nothing when the configuration is invalid", async () => {
    let error: Error | undefined;
    try {
      await runProgram(withConfig(loadStackConfig("prod"), { storageAccountName: "OMS-Lake" }));
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message).to.contain('oms-lakehouse:storageAccountName = "OMS-Lake"');
    expect(error?.message).to.contain("3–24 lowercase letters and digits");
    expect(recorder.resources).to.have.length(0);
  });
});
