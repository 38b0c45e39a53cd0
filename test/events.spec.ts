/**
 * Real-time OMS events under the mocks: the Event Hubs namespace's security settings, the
 * service credential and the role assignments' scopes, and the ingestion job's ingest task reading
 * every entity's topic in both trigger modes — each stack file with the events source switched on — plus the
 * configuration rules that keep the source reachable and within its tier's limits.
 */
import * as path from "path";
import { expect } from "chai";
import {
  CLIENT,
  recorder,
  RecordedResource,
  SERVICE_PRINCIPAL_APP_ID,
} from "../scripts/plan/recorder";
import {
  loadStackConfig,
  PROJECT,
  ProgramExports,
  promiseOf,
  runProgram,
  withConfig,
} from "../scripts/plan/harness";
import { checkWithWheel, ingestParameters, ingestTaskOf, WheelTask } from "./wheel-check";
import { ConfigError, parseConfig } from "../config";
import { ENTITY_SILVER_TABLES, ENTRY_POINTS } from "../components/jobs";
import { EVENT_HUBS_ROLES } from "../components/eventHubs";
import { buildPlan } from "../scripts/plan/build";
import { checkPlan } from "../scripts/plan/policy";

const T = {
  namespace: "azure-native:eventhub:Namespace",
  network: "azure-native:eventhub:NamespaceNetworkRuleSet",
  hub: "azure-native:eventhub:EventHub",
  consumerGroup: "azure-native:eventhub:ConsumerGroup",
  role: "azure-native:authorization:RoleAssignment",
  connector: "azure-native:databricks:AccessConnector",
  credential: "databricks:index/credential:Credential",
  grants: "databricks:index/grants:Grants",
  endpoint: "azure-native:network:PrivateEndpoint",
  zone: "azure-native:privatedns:PrivateZone",
  job: "databricks:index/job:Job",
  permissions: "databricks:index/permissions:Permissions",
};
const ENTITIES = Object.keys(ENTITY_SILVER_TABLES).sort();
const PRODUCER = "11111111-2222-3333-4444-555555555555";
const roleId = (id: string) =>
  `/subscriptions/${CLIENT.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${id}`;
type Inputs = Record<string, unknown>;

/** Each stack file with the events source on, and what that stack must declare. */
const STACKS = {
  dev: {
    changes: {
      eventsSource: "true",
      eventHubsNamespaceName: "oms-events-dev",
      eventHubsProducerPrincipalId: PRODUCER,
      eventHubsAllowedIpRanges: '["203.0.113.9", "198.51.100.0/24"]',
      // Events need job clusters in the stack's VNet (see config.ts eventsProblems).
      jobCompute: "cluster",
      vnetInjection: "true",
      eventsPollMinutes: "2",
      // A new job cluster per triggered run (300 s assumed start-up) puts the declared jobs'
      // landing -> Gold bound at 1260 s: the objective must say so, or the plan fails the stack.
      freshnessObjectiveSeconds: "1800",
    },
    publicAccess: "Enabled",
    ipMasks: ["198.51.100.0/24", "203.0.113.9"],
    trigger: "fileArrival",
    sku: "Standard",
    capacity: 1,
    partitions: 4,
    retentionHours: 24,
  },
  prod: {
    changes: {
      eventsSource: "true",
      eventHubsNamespaceName: "oms-events-prod",
      eventHubsProducerPrincipalId: PRODUCER,
      eventHubsPublicNetworkAccess: "false",
      eventHubsSku: "Premium",
      eventHubsCapacity: "2",
      eventHubsPartitions: "8",
      eventHubsRetentionDays: "30",
    },
    publicAccess: "Disabled",
    ipMasks: [] as string[],
    trigger: "continuous",
    sku: "Premium",
    capacity: 2,
    partitions: 8,
    retentionHours: 720,
  },
} as const;

for (const [stack, expected] of Object.entries(STACKS)) {
  describe(`events source in stack ${stack}`, () => {
    let out: ProgramExports;
    const namespaceName = expected.changes.eventHubsNamespaceName;
    const host = `${namespaceName}.servicebus.windows.net`;
    const credentialName = `oms_${stack}_events`;
    const hubId = (entity: string) =>
      `/subscriptions/${CLIENT.subscriptionId}/resourceGroups/${String(
        recorder.one(T.namespace).inputs.resourceGroupName,
      )}/providers/Microsoft.EventHub/namespaces/${namespaceName}/eventhubs/${entity}`;
    const ingestionTasks = () =>
      recorder.named(`oms-${stack}-pipeline-ingestion`, T.job).inputs.tasks as WheelTask[];

    before(async () => {
      out = await runProgram(withConfig(loadStackConfig(stack), expected.changes));
    });

    it("declares an Entra-only namespace with TLS 1.2, the Kafka endpoint and the stack's tier", () => {
      const ns = recorder.one(T.namespace).inputs;
      expect(ns).to.deep.include({
        namespaceName,
        disableLocalAuth: true,
        minimumTlsVersion: "1.2",
        kafkaEnabled: true,
        publicNetworkAccess: expected.publicAccess,
      });
      expect(ns.sku).to.deep.equal({
        name: expected.sku,
        tier: expected.sku,
        capacity: expected.capacity,
      });
      // No SAS keys anywhere: no authorization rule of any kind is declared.
      expect(recorder.resources.filter((r) => /AuthorizationRule$/.test(r.type))).to.deep.equal([]);
    });

    it("denies the firewall by default and admits only the configured producer addresses", () => {
      const fw = recorder.one(T.network).inputs;
      expect(fw).to.deep.include({
        namespaceName,
        defaultAction: "Deny",
        publicNetworkAccess: expected.publicAccess,
        trustedServiceAccessEnabled: false,
      });
      expect(fw.ipRules).to.deep.equal(
        expected.ipMasks.map((ipMask) => ({ ipMask, action: "Allow" })),
      );
      expect(fw.virtualNetworkRules).to.deep.equal([]);
    });

    it("reaches the namespace from the workspace VNet through a private endpoint", () => {
      const pe = recorder
        .ofType(T.endpoint)
        .find((r) => r.name === `oms-${stack}-eventhubs-namespace-endpoint`);
      expect(pe, "namespace private endpoint").to.not.equal(undefined);
      const connections = (pe as RecordedResource).inputs.privateLinkServiceConnections as Inputs[];
      expect(connections).to.have.length(1);
      expect(connections[0].groupIds).to.deep.equal(["namespace"]);
      expect(connections[0].privateLinkServiceId).to.equal(
        `/subscriptions/${CLIENT.subscriptionId}/resourceGroups/${String(
          recorder.one(T.namespace).inputs.resourceGroupName,
        )}/providers/Microsoft.EventHub/namespaces/${namespaceName}`,
      );
      expect(recorder.ofType(T.zone).map((z) => z.inputs.privateZoneName)).to.include(
        "privatelink.servicebus.windows.net",
      );
    });

    it("has one hub per entity, named after it, with the stack's partitions and retention", () => {
      const hubs = recorder.ofType(T.hub).map((h) => h.inputs);
      expect(hubs.map((h) => h.eventHubName)).to.deep.equal(ENTITIES);
      for (const h of hubs) {
        expect(h).to.deep.include({ namespaceName, partitionCount: expected.partitions });
        expect(h.retentionDescription).to.deep.equal({
          cleanupPolicy: "Delete",
          retentionTimeInHours: expected.retentionHours,
        });
      }
      // Kafka clients never use Event Hubs consumer groups: the stack declares none.
      expect(recorder.ofType(T.consumerGroup)).to.deep.equal([]);
    });

    it("grants Data Receiver to the connector's identity and Data Sender to the producer, hub by hub", () => {
      const connector = recorder.one(T.connector);
      const assignments = (roleDefinition: string) =>
        recorder
          .ofType(T.role)
          .filter((r) => r.inputs.roleDefinitionId === roleId(roleDefinition))
          .map((r) => ({ principalId: r.inputs.principalId, scope: r.inputs.scope }));
      const perHub = (principalId: string) =>
        ENTITIES.map((entity) => ({ principalId, scope: hubId(entity) }));
      const byScope = (a: { scope: unknown }, b: { scope: unknown }) =>
        String(a.scope) < String(b.scope) ? -1 : 1;
      // Exactly the hubs: never the namespace, resource group or subscription.
      expect(assignments(EVENT_HUBS_ROLES.dataReceiver).sort(byScope)).to.deep.equal(
        perHub(`principal-of-${connector.name}`),
      );
      expect(assignments(EVENT_HUBS_ROLES.dataSender).sort(byScope)).to.deep.equal(
        perHub(PRODUCER),
      );
    });

    it("declares a SERVICE credential on the access connector, usable by the pipeline only", () => {
      const cred = recorder.one(T.credential);
      expect(cred.inputs).to.deep.include({ name: credentialName, purpose: "SERVICE" });
      expect(cred.inputs.azureManagedIdentity).to.deep.equal({
        accessConnectorId: `/subscriptions/${CLIENT.subscriptionId}/resourceGroups/${String(
          recorder.one(T.connector).inputs.resourceGroupName,
        )}/providers/Microsoft.Databricks/accessConnectors/${recorder.one(T.connector).name}`,
      });
      expect(cred.inputs).to.not.have.property("azureServicePrincipal");
      // The roles exist before Unity Catalog hands the identity's tokens out.
      const receivers = recorder
        .ofType(T.role)
        .filter((r) => r.inputs.roleDefinitionId === roleId(EVENT_HUBS_ROLES.dataReceiver));
      for (const r of receivers) expect(cred.dependencies).to.include(r.urn);
      const grants = recorder.ofType(T.grants).filter((g) => g.inputs.credential !== undefined);
      expect(grants).to.have.length(1);
      expect(grants[0].inputs).to.deep.equal({
        credential: credentialName,
        grants: [{ principal: SERVICE_PRINCIPAL_APP_ID, privileges: ["ACCESS"] }],
      });
    });

    it("tells the OMS team where to publish, and nothing secret", async () => {
      expect(await promiseOf(out.eventHubsNamespaceFqdn as string)).to.equal(host);
      expect(await promiseOf(out.eventHubsKafkaBootstrapServers as string)).to.equal(
        `${host}:9093`,
      );
      expect(await promiseOf(out.eventHubNames as Record<string, string>)).to.deep.equal(
        Object.fromEntries(ENTITIES.map((e) => [e, e])),
      );
      // What an OMS names in its own private endpoint to the namespace.
      expect(await promiseOf(out.eventHubsNamespaceId as string)).to.match(
        new RegExp(`/providers/Microsoft\\.EventHub/namespaces/${namespaceName}$`),
      );
    });

    it(`reads every entity's topic in the ingest query beside the landing files (${expected.trigger})`, async () => {
      const volumes = await promiseOf(out.volumePaths as Record<string, string>);
      const cfg = loadStackConfig(stack).values;
      const tasks = ingestionTasks();
      // One query for files and events: no task per entity or per source.
      const continuous = expected.trigger === "continuous";
      const ingest = ingestTaskOf(tasks, continuous, ENTRY_POINTS.ingest);
      expect(ingest.pythonWheelTask.parameters).to.deep.equal([
        ...ingestParameters({
          catalog: `oms_${stack}`,
          volumes,
          processingTime: continuous ? cfg[`${PROJECT}:jobProcessingTime`] : undefined,
          maxFilesPerTrigger: cfg[`${PROJECT}:jobMaxFilesPerTrigger`],
        }),
        "--kafka-bootstrap-servers",
        `${host}:9093`,
        // The stack names each event hub after its entity.
        ...ENTITIES.flatMap((entity) => ["--kafka-topic", `${entity}=${entity}`]),
        "--kafka-service-credential",
        credentialName,
      ]);
      // Triggered: the landing-file report waits for the query; continuous: both run on.
      const report = tasks.find((t) => t.taskKey === "landing_files") as WheelTask;
      expect(report.dependsOns).to.deep.equal(continuous ? undefined : [{ taskKey: "ingest" }]);
    });

    it("starts ingestion runs for events on a schedule only when the job is file-triggered", async () => {
      const jobIds = await promiseOf(out.jobIds as Record<string, string>);
      const poll = recorder.ofType(T.job).find((j) => j.name === `oms-${stack}-pipeline-events`);
      const ingestionPermissions = recorder.named(
        `oms-${stack}-pipeline-ingestion-permissions`,
        T.permissions,
      ).inputs.accessControls as Inputs[];
      const runner = {
        servicePrincipalName: SERVICE_PRINCIPAL_APP_ID,
        permissionLevel: "CAN_MANAGE_RUN",
      };
      if (expected.trigger === "continuous") {
        expect(poll).to.equal(undefined);
        expect(ingestionPermissions).to.not.deep.include(runner);
        return;
      }
      expect(poll, "events poll job").to.not.equal(undefined);
      const job = (poll as RecordedResource).inputs;
      expect(job.schedule).to.deep.equal({
        quartzCronExpression: `0 0/${expected.changes.eventsPollMinutes} * * * ?`,
        timezoneId: "UTC",
      });
      // A poll never stacks up behind a run in flight: it is skipped instead.
      expect(job).to.deep.include({ maxConcurrentRuns: 1, queue: { enabled: false } });
      expect(job.tasks).to.deep.equal([
        {
          taskKey: "ingestion",
          description:
            "run the ingestion job (one ingest query: files and events -> bronze, then silver)",
          runJobTask: { jobId: Number(jobIds.ingestion) },
        },
      ]);
      expect(job.runAs).to.deep.equal({ servicePrincipalName: SERVICE_PRINCIPAL_APP_ID });
      expect(ingestionPermissions).to.deep.include(runner);
    });

    it("passes only parameters the package's parser accepts", () => {
      const file = recorder.one("databricks:index/file:File").inputs;
      const wheel = Buffer.from(String(file.contentBase64), "base64");
      const ingest = ingestionTasks().filter((t) => t.taskKey === "ingest");
      expect(ingest).to.have.length(1);
      const report = checkWithWheel(wheel, path.basename(String(file.path)), ingest);
      for (const r of report.results) expect(r.ok, `${r.taskKey}: ${r.error}`).to.equal(true);
    });

    it("passes every policy rule in the offline plan", async () => {
      const plan = await buildPlan(stack, withConfig(loadStackConfig(stack), expected.changes));
      expect(checkPlan(plan)).to.deep.equal([]);
    });
  });
}

describe("events source configuration", () => {
  const raw = (changes: Record<string, string | undefined>) => {
    const config = withConfig(loadStackConfig("dev"), changes);
    return Object.fromEntries(
      Object.entries(config.values).map(([k, v]) => [k.replace(`${PROJECT}:`, ""), v]),
    );
  };
  const rejection = (changes: Record<string, string | undefined>): string => {
    try {
      parseConfig(raw(changes));
    } catch (e) {
      expect(e).to.be.instanceOf(ConfigError);
      return (e as Error).message;
    }
    throw new Error("expected the configuration to be rejected");
  };
  const on = {
    eventsSource: "true",
    eventHubsNamespaceName: "oms-events-dev",
    eventHubsProducerPrincipalId: PRODUCER,
    jobCompute: "cluster",
    vnetInjection: "true",
  };

  it("accepts the events source with job clusters in the stack's VNet", () => {
    const c = parseConfig(raw(on));
    expect(c.eventsSource).to.equal(true);
    expect(c.eventHubsSku).to.equal("Standard");
  });

  it("needs a namespace name and the producer's identity", () => {
    const message = rejection({
      ...on,
      eventHubsNamespaceName: undefined,
      eventHubsProducerPrincipalId: undefined,
    });
    expect(message).to.contain(
      "oms-lakehouse:eventHubsNamespaceName is unset: is required when eventsSource is true",
    );
    expect(message).to.contain(
      "oms-lakehouse:eventHubsProducerPrincipalId is unset: is required when eventsSource is true: the OMS producer's Entra object id, granted Azure Event Hubs Data Sender",
    );
    expect(rejection({ ...on, eventHubsNamespaceName: "-bad" })).to.contain(
      'oms-lakehouse:eventHubsNamespaceName = "-bad": a globally unique Event Hubs namespace name',
    );
  });

  it("needs job clusters in the VNet: the firewall admits nothing else", () => {
    expect(rejection({ ...on, jobCompute: "serverless" })).to.contain(
      'oms-lakehouse:jobCompute = "serverless": must be cluster when eventsSource is true',
    );
    expect(rejection({ ...on, vnetInjection: "false" })).to.contain(
      'oms-lakehouse:vnetInjection = "false": must be true when eventsSource is true',
    );
  });

  it("keeps to the tier: Kafka endpoint, retention and processing units", () => {
    expect(rejection({ ...on, eventHubsSku: "Basic" })).to.contain(
      'oms-lakehouse:eventHubsSku = "Basic": expected one of Standard, Premium (Basic has no Kafka endpoint',
    );
    expect(rejection({ ...on, eventHubsRetentionDays: "8" })).to.contain(
      "8 days is beyond the Standard tier's retention limit",
    );
    expect(
      parseConfig(raw({ ...on, eventHubsSku: "Premium", eventHubsRetentionDays: "90" })),
    ).to.have.property("eventHubsRetentionDays", 90);
    expect(rejection({ ...on, eventHubsSku: "Premium", eventHubsCapacity: "3" })).to.contain(
      "a Premium namespace has 1, 2, 4, 8, 16 processing units",
    );
  });

  it("leaves stacks without events unchanged", () => {
    expect(parseConfig(raw({})).eventsSource).to.equal(false);
  });
});
