/**
 * A scriptable fake of the Fabric REST (/v1) and Power BI REST (/v1.0/myorg) APIs on loopback.
 * It keeps enough state to follow the documented contract (create → get → list → patch → delete,
 * long-running operations with Retry-After, operation results) and records every request.
 * Tests push one-shot responses (429, 5xx, ItemDisplayNameNotAvailableYet, 403…) with `enqueue`,
 * and ambiguous answers to a write (the service applied it, the client hears 429 / 5xx or loses
 * the connection) with `applyThen`.
 *
 * Names are unique where the service makes them unique, on create and on rename (PATCH of
 * displayName) alike, with the service's error codes:
 * - workspaces per tenant: WorkspaceNameAlreadyExists (Fabric SDK error codes, ErrWorkspace);
 * - items per workspace and item type: ItemDisplayNameAlreadyInUse ("Items - Create Semantic
 *   Model", "Items - Create Report" in the Fabric REST reference);
 * - connections per tenant: DuplicateConnectionName ("Connections - Create Connection");
 * - one role per principal and workspace: PrincipalAlreadyHasWorkspaceRolePermissions (ErrWorkspace).
 */
import * as http from "node:http";
import { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";

export interface RecordedRequest {
  method: string;
  /** Path + query, e.g. /v1/workspaces. */
  path: string;
  body: unknown;
  authorization: string | undefined;
}

export interface ScriptedResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** What the client receives after the fake applied a request: a response, or a dropped connection. */
export type Fault = ScriptedResponse | "drop";

/** Ambiguous answers a test can inject after a create was applied. */
export const AMBIGUOUS_FAULTS: readonly { name: string; fault: Fault }[] = [
  {
    name: "429 with Retry-After: 1",
    fault: {
      status: 429,
      body: { errorCode: "RequestBlocked", message: "Request is blocked by the upstream service until: later" },
      headers: { "Retry-After": "1" },
    },
  },
  { name: "500", fault: { status: 500, body: { errorCode: "InternalServerError", message: "internal error" } } },
  { name: "503 without a body", fault: { status: 503 } },
  { name: "a dropped connection", fault: "drop" },
];

export interface RefreshRecord {
  requestId: string;
  refreshType: string;
  startTime: string;
  status: string;
}

interface Operation {
  runningPolls: number;
  result?: unknown;
  failure?: { errorCode: string; message: string };
}

interface StoredItem {
  id: string;
  type: string;
  displayName: string;
  description: string;
  workspaceId: string;
  collection: string;
  parts: { path: string; payload: string; payloadType: string }[];
  format?: string;
}

interface StoredConnection {
  id: string;
  displayName: string;
  connectivityType: string;
  privacyLevel: string;
  connectionDetails: { type: string; path: string };
  credentialType: string;
  /** Kept only to assert rotation; the real API never returns it either. */
  secret: string | undefined;
}

export class FakeFabric {
  readonly requests: RecordedRequest[] = [];
  readonly workspaces = new Map<
    string,
    { id: string; displayName: string; description: string; capacityId?: string }
  >();
  readonly roleAssignments = new Map<string, { id: string; principal: { id: string; type: string }; role: string }>();
  readonly connections = new Map<string, StoredConnection>();
  readonly items = new Map<string, StoredItem>();
  readonly bindings: { workspaceId: string; modelId: string; binding: unknown }[] = [];
  readonly refreshes: { workspaceId: string; datasetId: string; body: unknown; requestId: string }[] = [];
  readonly operations = new Map<string, Operation>();
  /** When true, item create / updateDefinition answer 202 + operation instead of 201/200. */
  lro = false;
  /** "Running" polls before an operation succeeds. */
  lroRunningPolls = 1;
  /** Page size for GET /workspaces (continuationUri paging). */
  workspacePageSize = 100;

  private server: http.Server | undefined;
  private origin = "";
  private readonly script: { method: string; pattern: RegExp; response: ScriptedResponse }[] = [];
  private readonly faults: { method: string; pattern: RegExp; fault: Fault }[] = [];

  get fabricBaseUrl(): string {
    return `${this.origin}/v1`;
  }
  get powerBiBaseUrl(): string {
    return `${this.origin}/v1.0/myorg`;
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let raw = "";
      req.on("data", (c: Buffer) => (raw += c.toString("utf8")));
      req.on("end", () => {
        const body = raw ? (JSON.parse(raw) as unknown) : undefined;
        const path = req.url ?? "/";
        this.requests.push({ method: req.method ?? "GET", path, body, authorization: req.headers.authorization });
        const out = this.handle(req.method ?? "GET", path, body, req.headers.authorization);
        const fault = this.takeFault(req.method ?? "GET", path);
        if (fault === "drop") {
          // Applied, then the connection is reset before any byte of the answer.
          req.socket.destroy();
          return;
        }
        if (fault) {
          res.writeHead(fault.status, {
            ...(fault.body !== undefined ? { "Content-Type": "application/json" } : {}),
            ...fault.headers,
          });
          res.end(fault.body !== undefined ? JSON.stringify(fault.body) : undefined);
          return;
        }
        res.writeHead(out.status, {
          ...(out.body !== undefined ? { "Content-Type": "application/json" } : {}),
          "x-ms-request-id": "req-" + str(this.requests.length),
          ...out.headers,
        });
        res.end(out.body !== undefined ? JSON.stringify(out.body) : undefined);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  /** One-shot responses for the next matching requests, served before the normal behaviour. */
  enqueue(method: string, pattern: RegExp, ...responses: ScriptedResponse[]): void {
    for (const response of responses) this.script.push({ method, pattern, response });
  }

  /**
   * The next matching request is applied as usual, but the client receives `fault` instead of
   * the real answer (or the connection is dropped): the ambiguous outcome of a write.
   */
  applyThen(method: string, pattern: RegExp, fault: Fault): void {
    this.faults.push({ method, pattern, fault });
  }

  private takeFault(method: string, fullPath: string): Fault | undefined {
    const pathname = fullPath.split("?")[0];
    const idx = this.faults.findIndex((f) => f.method === method && f.pattern.test(pathname));
    return idx >= 0 ? this.faults.splice(idx, 1)[0].fault : undefined;
  }

  /** Recorded requests, optionally filtered (operation polls included). */
  calls(method?: string, pattern?: RegExp): RecordedRequest[] {
    return this.requests.filter(
      (r) => (!method || r.method === method) && (!pattern || pattern.test(r.path)),
    );
  }

  /** Decoded parts of a stored item. */
  decodedParts(itemId: string): Record<string, string> {
    const item = this.items.get(itemId);
    if (!item) throw new Error(`no item ${itemId}`);
    return Object.fromEntries(
      item.parts.map((p) => [p.path, Buffer.from(p.payload, "base64").toString("utf8")]),
    );
  }

  reset(): void {
    this.requests.length = 0;
    this.script.length = 0;
    this.faults.length = 0;
    this.workspaces.clear();
    this.roleAssignments.clear();
    this.connections.clear();
    this.items.clear();
    this.bindings.length = 0;
    this.refreshes.length = 0;
    this.operations.clear();
    this.lro = false;
    this.lroRunningPolls = 1;
    this.workspacePageSize = 100;
  }

  // ------------------------------------------------------------------ routing

  private handle(method: string, fullPath: string, body: unknown, auth: string | undefined): ScriptedResponse {
    const pathname = fullPath.split("?")[0];
    const idx = this.script.findIndex((s) => s.method === method && s.pattern.test(pathname));
    if (idx >= 0) return this.script.splice(idx, 1)[0].response;
    if (!auth?.startsWith("Bearer ")) {
      return err(401, "TokenNotProvided", "Token not provided");
    }
    const b = (body ?? {}) as Record<string, unknown>;
    let m: RegExpMatchArray | null;

    // ---- long-running operations
    if ((m = pathname.match(/^\/v1\/operations\/([^/]+)$/)) && method === "GET") {
      const op = this.operations.get(m[1]);
      if (!op) return err(404, "OperationNotFound", "no such operation");
      if (op.runningPolls > 0) {
        op.runningPolls--;
        return {
          status: 200,
          body: { status: "Running", percentComplete: 50 },
          headers: { "Retry-After": "0", Location: `${this.origin}/v1/operations/${m[1]}`, "x-ms-operation-id": m[1] },
        };
      }
      if (op.failure) return { status: 200, body: { status: "Failed", error: op.failure } };
      return {
        status: 200,
        body: { status: "Succeeded", percentComplete: 100 },
        headers:
          op.result !== undefined ? { Location: `${this.origin}/v1/operations/${m[1]}/result` } : {},
      };
    }
    if ((m = pathname.match(/^\/v1\/operations\/([^/]+)\/result$/)) && method === "GET") {
      const op = this.operations.get(m[1]);
      if (!op || op.result === undefined) return err(400, "OperationHasNoResult", "no result");
      return { status: 200, body: op.result };
    }

    // ---- workspaces
    if (pathname === "/v1/workspaces" && method === "POST") {
      const name = str(b.displayName);
      const taken = this.workspaceNameTaken(name);
      if (taken) return taken;
      const ws = {
        id: randomUUID(),
        displayName: name,
        description: str(b.description ?? ""),
        ...(b.capacityId ? { capacityId: str(b.capacityId) } : {}),
      };
      this.workspaces.set(ws.id, ws);
      return { status: 201, body: { ...ws, type: "Workspace" } };
    }
    if (pathname === "/v1/workspaces" && method === "GET") {
      const all = [...this.workspaces.values()];
      const token = fullPath.match(/continuationToken=(\d+)/);
      const start = token ? Number(token[1]) : 0;
      const page = all.slice(start, start + this.workspacePageSize);
      const next = start + this.workspacePageSize;
      return {
        status: 200,
        body: {
          value: page,
          ...(next < all.length
            ? { continuationToken: str(next), continuationUri: `${this.origin}/v1/workspaces?continuationToken=${next}` }
            : {}),
        },
      };
    }
    if ((m = pathname.match(/^\/v1\/workspaces\/([^/]+)$/))) {
      const ws = this.workspaces.get(m[1]);
      if (!ws) return err(404, "WorkspaceNotFound", "The requested workspace was not found");
      if (method === "GET") return { status: 200, body: { ...ws, type: "Workspace" } };
      if (method === "PATCH") {
        const taken = b.displayName === undefined ? undefined : this.workspaceNameTaken(str(b.displayName), ws.id);
        if (taken) return taken;
        if (b.displayName !== undefined) ws.displayName = str(b.displayName);
        if (b.description !== undefined) ws.description = str(b.description);
        return { status: 200, body: ws };
      }
      if (method === "DELETE") {
        this.workspaces.delete(m[1]);
        return { status: 200 };
      }
    }
    if ((m = pathname.match(/^\/v1\/workspaces\/([^/]+)\/(assignToCapacity|unassignFromCapacity)$/))) {
      const ws = this.workspaces.get(m[1]);
      if (!ws) return err(404, "WorkspaceNotFound", "not found");
      if (m[2] === "assignToCapacity") ws.capacityId = str(b.capacityId);
      else delete ws.capacityId;
      return { status: 202 };
    }

    // ---- role assignments
    if ((m = pathname.match(/^\/v1\/workspaces\/([^/]+)\/roleAssignments$/)) && method === "POST") {
      if (!this.workspaces.has(m[1])) return err(404, "WorkspaceNotFound", "not found");
      const principal = b.principal as { id: string; type: string };
      const key = `${m[1]}/${principal.id}`;
      if (this.roleAssignments.has(key)) {
        return err(409, "PrincipalAlreadyHasWorkspaceRolePermissions", "already has a role");
      }
      const ra = { id: principal.id, principal, role: str(b.role) };
      this.roleAssignments.set(key, ra);
      return { status: 201, body: ra };
    }
    if ((m = pathname.match(/^\/v1\/workspaces\/([^/]+)\/roleAssignments$/)) && method === "GET") {
      if (!this.workspaces.has(m[1])) return err(404, "WorkspaceNotFound", "not found");
      const prefix = `${m[1]}/`;
      const value = [...this.roleAssignments.entries()].filter(([k]) => k.startsWith(prefix)).map(([, ra]) => ra);
      return { status: 200, body: { value } };
    }
    if ((m = pathname.match(/^\/v1\/workspaces\/([^/]+)\/roleAssignments\/([^/]+)$/))) {
      const key = `${m[1]}/${m[2]}`;
      const ra = this.roleAssignments.get(key);
      if (!ra) return err(404, "WorkspaceRoleAssignmentNotFound", "not found");
      if (method === "GET") return { status: 200, body: ra };
      if (method === "PATCH") {
        ra.role = str(b.role);
        return { status: 200, body: ra };
      }
      if (method === "DELETE") {
        this.roleAssignments.delete(key);
        return { status: 200 };
      }
    }

    // ---- connections
    if (pathname === "/v1/connections" && method === "GET") {
      return { status: 200, body: { value: [...this.connections.values()].map(publicConnection) } };
    }
    if (pathname === "/v1/connections" && method === "POST") {
      const name = str(b.displayName);
      const taken = this.connectionNameTaken(name);
      if (taken) return taken;
      const details = b.connectionDetails as { type: string; parameters: { name: string; value: string }[] };
      const cred = b.credentialDetails as { credentials: Record<string, string> };
      const param = (n: string) => details.parameters.find((p) => p.name === n)?.value ?? "";
      const conn: StoredConnection = {
        id: randomUUID(),
        displayName: name,
        connectivityType: str(b.connectivityType),
        privacyLevel: str(b.privacyLevel ?? "Organizational"),
        connectionDetails: {
          type: details.type,
          path: JSON.stringify({ host: param("host"), httpPath: param("httpPath") }),
        },
        credentialType: cred.credentials.credentialType,
        secret: cred.credentials.servicePrincipalSecret,
      };
      this.connections.set(conn.id, conn);
      return { status: 201, body: publicConnection(conn) };
    }
    if ((m = pathname.match(/^\/v1\/connections\/([^/]+)$/))) {
      const conn = this.connections.get(m[1]);
      if (!conn) return err(404, "ConnectionNotFound", "The requested connection was not found");
      if (method === "GET") return { status: 200, body: publicConnection(conn) };
      if (method === "PATCH") {
        const taken = b.displayName === undefined ? undefined : this.connectionNameTaken(str(b.displayName), conn.id);
        if (taken) return taken;
        if (b.displayName !== undefined) conn.displayName = str(b.displayName);
        if (b.privacyLevel !== undefined) conn.privacyLevel = str(b.privacyLevel);
        const cred = b.credentialDetails as { credentials?: Record<string, string> } | undefined;
        if (cred?.credentials) conn.secret = cred.credentials.servicePrincipalSecret;
        return { status: 200, body: publicConnection(conn) };
      }
      if (method === "DELETE") {
        this.connections.delete(m[1]);
        return { status: 200 };
      }
    }

    // ---- items (semantic models, reports)
    if ((m = pathname.match(/^\/v1\/workspaces\/([^/]+)\/(semanticModels|reports)$/)) && method === "GET") {
      if (!this.workspaces.has(m[1])) return err(404, "WorkspaceNotFound", "not found");
      const value = [...this.items.values()]
        .filter((i) => i.workspaceId === m![1] && i.collection === m![2])
        .map(publicItem);
      return { status: 200, body: { value } };
    }
    if ((m = pathname.match(/^\/v1\/workspaces\/([^/]+)\/(semanticModels|reports)$/)) && method === "POST") {
      if (!this.workspaces.has(m[1])) return err(404, "WorkspaceNotFound", "not found");
      const name = str(b.displayName);
      const taken = this.itemNameTaken(m[1], m[2], name);
      if (taken) return taken;
      const def = b.definition as { format?: string; parts: StoredItem["parts"] };
      const item: StoredItem = {
        id: randomUUID(),
        type: m[2] === "reports" ? "Report" : "SemanticModel",
        displayName: name,
        description: str(b.description ?? ""),
        workspaceId: m[1],
        collection: m[2],
        parts: def.parts,
        format: def.format,
      };
      this.items.set(item.id, item);
      return this.maybeLro(publicItem(item), 201);
    }
    if ((m = pathname.match(/^\/v1\/workspaces\/([^/]+)\/(semanticModels|reports)\/([^/]+)$/))) {
      const item = this.items.get(m[3]);
      if (!item || item.workspaceId !== m[1]) return err(404, "ItemNotFound", "The requested item was not found");
      if (method === "GET") return { status: 200, body: publicItem(item) };
      if (method === "PATCH") {
        const taken =
          b.displayName === undefined
            ? undefined
            : this.itemNameTaken(item.workspaceId, item.collection, str(b.displayName), item.id);
        if (taken) return taken;
        if (b.displayName !== undefined) item.displayName = str(b.displayName);
        if (b.description !== undefined) item.description = str(b.description);
        return { status: 200, body: publicItem(item) };
      }
      if (method === "DELETE") {
        this.items.delete(m[3]);
        return { status: 200 };
      }
    }
    if ((m = pathname.match(/^\/v1\/workspaces\/([^/]+)\/(semanticModels|reports)\/([^/]+)\/updateDefinition$/))) {
      const item = this.items.get(m[3]);
      if (!item) return err(404, "ItemNotFound", "not found");
      const def = b.definition as { format?: string; parts: StoredItem["parts"] };
      item.parts = def.parts;
      item.format = def.format;
      return this.maybeLro(undefined, 200);
    }
    if ((m = pathname.match(/^\/v1\/workspaces\/([^/]+)\/semanticModels\/([^/]+)\/bindConnection$/))) {
      if (!this.items.has(m[2])) return err(404, "ItemNotFound", "not found");
      this.bindings.push({ workspaceId: m[1], modelId: m[2], binding: b.connectionBinding });
      return { status: 200 };
    }

    // ---- Power BI
    if ((m = pathname.match(/^\/v1\.0\/myorg\/groups\/([^/]+)\/datasets\/([^/]+)\/refreshes$/)) && method === "POST") {
      if (!this.items.has(m[2])) {
        return { status: 404, body: { error: { code: "ItemNotFound", message: "Dataset not found" } } };
      }
      const requestId = randomUUID();
      this.refreshes.push({ workspaceId: m[1], datasetId: m[2], body, requestId });
      return { status: 202, headers: { RequestId: requestId, Location: `${this.origin}${pathname}/${requestId}` } };
    }
    if ((m = pathname.match(/^\/v1\.0\/myorg\/groups\/([^/]+)\/datasets\/([^/]+)\/refreshes$/)) && method === "GET") {
      if (!this.items.has(m[2])) {
        return { status: 404, body: { error: { code: "ItemNotFound", message: "Dataset not found" } } };
      }
      // Newest first, as the service lists them; only refreshes requested through the API here.
      const value: RefreshRecord[] = this.refreshes
        .filter((r) => r.datasetId === m![2])
        .map((r) => ({ requestId: r.requestId, refreshType: "ViaApi", startTime: new Date().toISOString(), status: "Unknown" }))
        .reverse();
      return { status: 200, body: { value } };
    }
    if ((m = pathname.match(/^\/v1\.0\/myorg\/groups\/([^/]+)\/datasets\/([^/]+)\/Default\.BindToGateway$/))) {
      this.bindings.push({ workspaceId: m[1], modelId: m[2], binding: body });
      return { status: 200 };
    }
    return err(404, "EndpointNotFound", `fake has no route for ${method} ${pathname}`);
  }

  // ------------------------------------------------------------------ name uniqueness (create and rename)

  /** Workspace names are unique per tenant, case-insensitively. */
  private workspaceNameTaken(name: string, self?: string): ScriptedResponse | undefined {
    const holder = [...this.workspaces.values()].find(
      (w) => w.id !== self && w.displayName.toLowerCase() === name.toLowerCase(),
    );
    return holder && err(409, "WorkspaceNameAlreadyExists", `Workspace name '${name}' already exists`);
  }

  /** Connection names are unique per tenant. */
  private connectionNameTaken(name: string, self?: string): ScriptedResponse | undefined {
    const holder = [...this.connections.values()].find((c) => c.id !== self && c.displayName === name);
    return holder && err(409, "DuplicateConnectionName", `The connection name '${name}' is already in use`);
  }

  /** Item names are unique per workspace and item type. */
  private itemNameTaken(workspaceId: string, collection: string, name: string, self?: string): ScriptedResponse | undefined {
    const holder = [...this.items.values()].find(
      (i) => i.id !== self && i.workspaceId === workspaceId && i.collection === collection && i.displayName === name,
    );
    return holder && err(409, "ItemDisplayNameAlreadyInUse", `Requested '${name}' is already in use`);
  }

  private maybeLro(result: unknown, syncStatus: number): ScriptedResponse {
    if (!this.lro) return { status: syncStatus, body: result };
    const id = randomUUID();
    this.operations.set(id, { runningPolls: this.lroRunningPolls, result });
    return {
      status: 202,
      headers: {
        "x-ms-operation-id": id,
        Location: `${this.origin}/v1/operations/${id}`,
        "Retry-After": "0",
      },
    };
  }

  /** Queue a long-running failure for the next item create. */
  failNextOperation(errorCode: string, message: string): void {
    const id = randomUUID();
    this.operations.set(id, { runningPolls: 0, failure: { errorCode, message } });
    this.enqueue("POST", /\/(semanticModels|reports)$/, {
      status: 202,
      headers: { "x-ms-operation-id": id, Location: `${this.origin}/v1/operations/${id}`, "Retry-After": "0" },
    });
  }
}

function err(status: number, errorCode: string, message: string): ScriptedResponse {
  return { status, body: { requestId: randomUUID(), errorCode, message } };
}

function publicItem(i: StoredItem) {
  return { id: i.id, type: i.type, displayName: i.displayName, description: i.description, workspaceId: i.workspaceId };
}

function publicConnection(c: StoredConnection) {
  return {
    id: c.id,
    displayName: c.displayName,
    connectivityType: c.connectivityType,
    gatewayId: null,
    privacyLevel: c.privacyLevel,
    connectionDetails: c.connectionDetails,
    credentialDetails: { credentialType: c.credentialType, singleSignOnType: "None" },
  };
}

/** A credential that never talks to Entra and records the scopes asked for. */
export function fakeCredential(scopes: string[] = []) {
  return {
    getToken(scope: string | string[]) {
      scopes.push(...(Array.isArray(scope) ? scope : [scope]));
      return Promise.resolve({ token: "fake-token", expiresOnTimestamp: Date.now() + 3600_000 });
    },
  };
}

function str(v: unknown): string {
  return typeof v === "string" ? v : typeof v === "number" ? v.toString() : JSON.stringify(v);
}
