/**
 * The one HTTP client for every Fabric REST and Power BI REST call the stack makes.
 *
 * Why one client: both APIs throttle (429), have transient 5xx, and Fabric answers slow writes
 * with long-running operations (202 + x-ms-operation-id / Location + Retry-After). Handling that
 * in one request loop means every resource converges the same way and every failure reads the
 * same way (method, path, status, error code, request id, and what to do about it).
 *
 * Creates are the one kind of call a blind retry makes worse: a POST the service applied but
 * whose answer was lost (429 or 5xx after the write, a reset connection) would be sent again,
 * and the retry then either makes a second item or fails on the first one (409
 * ItemDisplayNameAlreadyInUse / DuplicateConnectionName) while the first is left out of state.
 * `createOnce` is the single place that handles this for every kind the providers create: it
 * looks the name up before the first POST, and after an ambiguous answer looks again before
 * retrying and adopts the item it finds when it is the one that was asked for. When a later
 * answer shows the item was made (a name clash after the ambiguous answer, a 202 whose operation
 * could not be followed, a 2xx whose body was cut off) it keeps looking, with back-off, because
 * the lists can lag the write.
 *
 * This module has no module-level imports on purpose: the dynamic providers that use it are
 * serialised by Pulumi, so the Azure SDK is loaded with `require` inside the method that needs it.
 */

/** Production endpoints. Tests point both at a loopback fake. */
export const FABRIC_API_BASE_URL = "https://api.fabric.microsoft.com/v1";
export const POWERBI_API_BASE_URL = "https://api.powerbi.com/v1.0/myorg";
const FABRIC_SCOPE = "https://api.fabric.microsoft.com/.default";
const POWERBI_SCOPE = "https://analysis.windows.net/powerbi/api/.default";

/** Environment overrides, read when a client is built (inside provider methods, not at load). */
export const FABRIC_BASE_URL_ENV = "OMS_FABRIC_API_BASE_URL";
export const POWERBI_BASE_URL_ENV = "OMS_POWERBI_API_BASE_URL";

/** The subset of `@azure/core-auth`'s TokenCredential the client needs. */
export interface TokenCredentialLike {
  getToken(
    scopes: string | string[],
  ): Promise<{ token: string; expiresOnTimestamp: number } | null>;
}

export interface FabricClientOptions {
  /** Token source; defaults to `DefaultAzureCredential` from `@azure/identity`. */
  readonly credential?: TokenCredentialLike;
  /** Fabric REST base URL, default https://api.fabric.microsoft.com/v1. */
  readonly fabricBaseUrl?: string;
  /** Power BI REST base URL, default https://api.powerbi.com/v1.0/myorg. */
  readonly powerBiBaseUrl?: string;
  /** Attempts per request for 429 / 5xx / network errors / ItemDisplayNameNotAvailableYet. */
  readonly maxAttempts?: number;
  /** Upper bound on operation-state polls of one long-running operation. */
  readonly maxPolls?: number;
  /** Poll interval when the service sends no Retry-After (seconds). */
  readonly defaultPollSeconds?: number;
  /** First back-off when a retryable response has no Retry-After (seconds); doubles per attempt. */
  readonly backoffSeconds?: number;
  /** Wait before retrying ItemDisplayNameNotAvailableYet without Retry-After (seconds). */
  readonly displayNameRetrySeconds?: number;
  /** Cap on any single wait (seconds). */
  readonly maxWaitSeconds?: number;
  /** Injectable sleep so tests do not wait. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Injectable fetch (defaults to Node's global fetch). */
  readonly fetch?: typeof fetch;
}

export type Api = "fabric" | "powerbi";

export interface RequestOptions {
  /** JSON request body. */
  readonly body?: unknown;
  /** Follow Fabric long-running operations on 202 (default: true for Fabric, false for Power BI). */
  readonly lro?: boolean;
  /**
   * For a non-idempotent write: called once an answer has left it unknown whether the service
   * applied the request (429, 5xx, a dropped connection or body), before each retry and before
   * giving up. True means the effect was found, so the request is not sent again and `request`
   * returns a response with `recovered: true`. `applied` is true when a later answer shows the
   * write took effect (a name-clash code after the ambiguous answer, a 202 accepted whose
   * operation could not be followed, a 2xx whose body was cut off): the effect may then need
   * a few look-ups to show.
   */
  readonly recover?: (applied: boolean) => Promise<boolean>;
}

export interface ApiResponse<T = unknown> {
  readonly status: number;
  readonly body: T | undefined;
  readonly headers: Headers;
  /** True when `RequestOptions.recover` found the effect of an earlier, unanswered attempt. */
  readonly recovered?: boolean;
}

/** An API error whose message already says what failed and what to do. */
export class FabricApiError extends Error {
  constructor(
    message: string,
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly errorCode: string | undefined,
    readonly requestId: string | undefined,
  ) {
    super(message);
    this.name = "FabricApiError";
  }
}

/** True for a FabricApiError with this HTTP status. */
export function isApiStatus(err: unknown, status: number): err is FabricApiError {
  return err instanceof FabricApiError && err.status === status;
}

interface ErrorDetails {
  code?: string;
  message?: string;
  requestId?: string;
}

/** Reads both error shapes: Fabric `{errorCode, message, requestId}` and Power BI `{error:{code, message}}`. */
function parseErrorBody(body: unknown): ErrorDetails {
  if (!body || typeof body !== "object") return {};
  const b = body as Record<string, unknown>;
  if (typeof b.errorCode === "string") {
    return {
      code: b.errorCode,
      message: typeof b.message === "string" ? b.message : undefined,
      requestId: typeof b.requestId === "string" ? b.requestId : undefined,
    };
  }
  if (b.error && typeof b.error === "object") {
    const e = b.error as Record<string, unknown>;
    return {
      code: typeof e.code === "string" ? e.code : undefined,
      message: typeof e.message === "string" ? e.message : undefined,
    };
  }
  return {};
}

/**
 * Codes for "that name is taken". Sources: the Fabric REST reference ("Items - Create Semantic
 * Model", "Items - Create Report": ItemDisplayNameAlreadyInUse; "Connections - Create
 * Connection": DuplicateConnectionName) and the Fabric SDK's error codes (WorkspaceNameAlreadyExists,
 * PrincipalAlreadyHasWorkspaceRolePermissions, DuplicateConnectionNameInput).
 */
const NAME_CLASH_CODES = new Set([
  "ItemDisplayNameAlreadyInUse",
  "WorkspaceNameAlreadyExists",
  "DuplicateConnectionName",
  "DuplicateConnectionNameInput",
  "PrincipalAlreadyHasWorkspaceRolePermissions",
]);

/**
 * A create whose name is held by an item this stack did not create (it existed before the
 * create started, or it is not what was asked for). The message says which item and what to do.
 */
export class NameTakenError extends Error {
  constructor(
    message: string,
    /** Id of the item that holds the name. */
    readonly existingId: string,
  ) {
    super(message);
    this.name = "NameTakenError";
  }
}

/**
 * How `createOnce` recognises the item a create makes: what makes it unique to the service
 * (display name and kind in its scope) and what makes it the one this create asked for.
 */
export interface CreateTarget<T> {
  /** For messages, e.g. `semantic model "Oms" in workspace 1234`. */
  readonly what: string;
  /** Looks the item up by what the service keeps unique; undefined when there is none. */
  readonly find: () => Promise<T | undefined>;
  /** True when a found item is what this create asked for (same name, type and scope). */
  readonly matches: (found: T) => boolean;
  /** Id of a found item, for messages. */
  readonly idOf: (found: T) => string;
  /** What the operator can do when the name is held by an item this stack did not create. */
  readonly remedy: string;
  /** The created item from the POST's answer; default: its JSON body. */
  readonly fromResponse?: (res: ApiResponse<unknown>) => T | undefined;
}

/** True for the codes the service answers when a name is taken (create or rename). */
function isNameClash(code: string | undefined): boolean {
  return code !== undefined && NAME_CLASH_CODES.has(code);
}

/** What an operator should do about a failed call (`method` tells a rename from a create). */
export function remediationFor(status: number, code: string | undefined, method = "POST"): string {
  if (isNameClash(code) && method === "PATCH") {
    return "another item of this kind already holds the new displayName (names are unique in their scope), so nothing was renamed: choose another displayName, or rename or delete the other item first.";
  }
  if (isNameClash(code)) {
    return "the name is held by another item: delete or rename it, or choose another name (a FabricWorkspace can adopt an existing workspace with adoptExisting: true).";
  }
  if (code === "ItemDisplayNameNotAvailableYet") {
    return "the name of a recently deleted item is not released yet: wait a few minutes and run `pulumi up` again.";
  }
  switch (true) {
    case status === 401 || status === 403:
      return "check that the tenant admin setting 'Service principals can use Fabric APIs' allows the deploying service principal, that it is a member of the workspace with a role that permits this call (Admin/Member for items), and that it can use the connection.";
    case status === 404:
      return "the item was not found: it was probably deleted out of band; run `pulumi refresh` so Pulumi re-creates it.";
    case status === 409:
      return "the item conflicts with an existing one: pick another name, or adopt the existing item.";
    case status === 429:
      return "the API kept throttling after all retries: run again later or reduce parallelism (`pulumi up --parallel 4`).";
    case status >= 500:
      return "the service kept failing after all retries: check https://support.fabric.microsoft.com/support and run again.";
    default:
      return "the request was rejected: check the inputs named in the message above.";
  }
}

function formatError(
  api: Api,
  method: string,
  path: string,
  status: number,
  statusText: string,
  details: ErrorDetails,
  requestId: string | undefined,
): FabricApiError {
  const label = api === "fabric" ? "Fabric" : "Power BI";
  const code = details.code ? ` ${details.code}` : "";
  const msg = details.message ? `: ${details.message}` : "";
  const rid = requestId ? ` (requestId ${requestId})` : "";
  const text =
    `${label} API ${method} ${path} failed with ${status} ${statusText}${code}${msg}${rid}. ` +
    `What to do: ${remediationFor(status, details.code, method)}`;
  return new FabricApiError(text, method, path, status, details.code, requestId);
}

function isRetryable(status: number, code: string | undefined): boolean {
  return (
    status === 429 ||
    status >= 500 ||
    (status === 400 && code === "ItemDisplayNameNotAvailableYet")
  );
}

/**
 * Retry-After in seconds; undefined if absent or unreadable. RFC 9110 §10.2.3 ("Retry-After")
 * allows delay-seconds or an HTTP-date: the Fabric and Power BI APIs document an integer, but a
 * proxy or gateway in front of them may send a date, which is read as the time left until it
 * (0 when it has passed).
 */
function retryAfterSeconds(headers: Headers): number | undefined {
  const raw = headers.get("retry-after")?.trim();
  if (!raw) return undefined;
  if (/^\d+(\.\d+)?$/.test(raw)) return Number(raw);
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - Date.now()) / 1000);
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** A long-running operation that the service reports as Failed: a definite answer, not a lost one. */
class OperationFailedError extends FabricApiError {}

/** Fabric long-running operation state (GET /operations/{id}). */
interface OperationState {
  status?: string;
  error?: { errorCode?: string; message?: string };
}

export type PrincipalType = "User" | "Group" | "ServicePrincipal" | "ServicePrincipalProfile";
export type WorkspaceRole = "Admin" | "Member" | "Contributor" | "Viewer";

export interface Workspace {
  id: string;
  displayName: string;
  description?: string;
  type?: string;
  capacityId?: string;
}

export interface RoleAssignment {
  id: string;
  principal: { id: string; type: PrincipalType };
  role: WorkspaceRole;
}

export interface DefinitionPart {
  path: string;
  payload: string;
  payloadType: "InlineBase64";
}

export interface ItemDefinition {
  format?: string;
  parts: DefinitionPart[];
}

export interface FabricItem {
  id: string;
  type?: string;
  displayName: string;
  description?: string;
  workspaceId?: string;
}

export type ItemCollection = "semanticModels" | "reports";

/** The Fabric item type each collection holds (the `type` of its items). */
const ITEM_TYPES: Record<ItemCollection, string> = { semanticModels: "SemanticModel", reports: "Report" };

export interface Connection {
  id: string;
  displayName?: string;
  connectivityType?: string;
  gatewayId?: string | null;
  privacyLevel?: string;
  connectionDetails?: { type?: string; path?: string };
}

/** One `connectionDetails.parameters` entry of a create (e.g. Databricks `host`, `httpPath`). */
export interface ConnectionParameter {
  name: string;
  value: string;
  [key: string]: unknown;
}

/** What `createConnection` needs to recognise its connection; the rest of the body passes through. */
export interface CreateConnectionRequest {
  displayName: string;
  connectivityType: string;
  connectionDetails: { type: string; parameters: ConnectionParameter[]; [key: string]: unknown };
  [key: string]: unknown;
}

/** One entry of a dataset's refresh history (Power BI "Datasets - Get Refresh History In Group"). */
export interface Refresh {
  requestId: string;
  refreshType: string;
  startTime?: string;
  status?: string;
}

export interface ConnectionBinding {
  id?: string;
  connectivityType: string;
  connectionDetails: { type: string; path: string };
}

export class FabricClient {
  readonly fabricBaseUrl: string;
  readonly powerBiBaseUrl: string;
  private readonly options: FabricClientOptions;
  private credential: TokenCredentialLike | undefined;
  private readonly tokens: Map<string, { token: string; expiresOnTimestamp: number }>;

  constructor(options: FabricClientOptions = {}) {
    // Assigned here, not as field initialisers: Pulumi's closure serialiser drops those.
    this.options = options;
    this.credential = options.credential;
    this.tokens = new Map();
    this.fabricBaseUrl = trimSlash(
      options.fabricBaseUrl ?? process.env[FABRIC_BASE_URL_ENV] ?? FABRIC_API_BASE_URL,
    );
    this.powerBiBaseUrl = trimSlash(
      options.powerBiBaseUrl ?? process.env[POWERBI_BASE_URL_ENV] ?? POWERBI_API_BASE_URL,
    );
  }

  // ---------------------------------------------------------------- request loop

  /**
   * One request with retries (429, 5xx, network errors, ItemDisplayNameNotAvailableYet) and,
   * for Fabric, long-running operation handling. `path` is relative to the API's base URL, or
   * an absolute URL on the same origin (operation Location headers).
   */
  async request<T = unknown>(
    api: Api,
    method: string,
    path: string,
    opts: RequestOptions = {},
  ): Promise<ApiResponse<T>> {
    const url = this.resolve(api, path);
    const shownPath = new URL(url).pathname + new URL(url).search;
    const maxAttempts = this.options.maxAttempts ?? 6;
    const lro = opts.lro ?? api === "fabric";
    const label = api === "fabric" ? "Fabric" : "Power BI";
    // Set once an answer leaves it unknown whether a write was applied; from then on every
    // retry and every failure first asks `recover` whether the earlier attempt took effect.
    let ambiguous = false;
    const recovered = async (applied: boolean): Promise<boolean> =>
      ambiguous && opts.recover !== undefined && (await opts.recover(applied));
    const RECOVERED: ApiResponse<T> = { status: 200, body: undefined, headers: new Headers(), recovered: true };
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1 && (await recovered(false))) return RECOVERED;
      const token = await this.token(api);
      let res: Response | undefined;
      let text: string;
      try {
        res = await this.fetchImpl()(url, {
          method,
          headers: {
            Authorization: `Bearer ${token}`,
            "Content-Type": "application/json",
            Accept: "application/json",
          },
          body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        });
        // Read inside the try: a body cut off after the headers ("TypeError: terminated") is
        // a dropped answer like a reset before them.
        text = await res.text();
      } catch (err) {
        // Connection resets, DNS blips, a body cut off: retry like a 5xx, then report clearly.
        // The request may have reached the service before the connection failed.
        ambiguous = true;
        // A 2xx whose body was lost was applied: a create looks it up instead of sending it again.
        const applied = res !== undefined && res.ok;
        if (attempt < maxAttempts && !(applied && opts.recover)) {
          await this.wait(this.backoff(attempt));
          continue;
        }
        if (await recovered(applied)) return RECOVERED;
        const what = res === undefined ? "could not be reached" : `answered ${res.status} but its body was cut off`;
        throw new Error(
          `${label} API ${method} ${shownPath} ${what} after ${attempt} attempts: ${(err as Error).message}. What to do: check network access to ${new URL(url).origin} and run again.`,
        );
      }

      const opId = res.headers.get("x-ms-operation-id");
      const location = res.headers.get("location");
      if (res.status === 202 && lro && (opId || location)) {
        try {
          return await this.followOperation<T>(method, shownPath, res.headers);
        } catch (err) {
          // The service accepted the write; unless its operation reported Failed, only the
          // outcome is unknown (a poll or the /result fetch was dropped or kept failing).
          const failed = err instanceof OperationFailedError;
          if (!failed) ambiguous = true;
          // e.g. the retry's operation failed ItemDisplayNameAlreadyInUse on the first attempt's item.
          if (await recovered(!failed || isNameClash(err.errorCode))) return RECOVERED;
          throw err;
        }
      }
      const body = parseJson(text);
      if (res.ok) return { status: res.status, body: body as T | undefined, headers: res.headers };

      const details = parseErrorBody(body);
      // A throttled or failed write may still have been applied (the service can answer 429 or
      // 5xx after the write): the answer says nothing reliable about the item.
      if (res.status === 429 || res.status >= 500) ambiguous = true;
      if (isRetryable(res.status, details.code) && attempt < maxAttempts) {
        const after = retryAfterSeconds(res.headers);
        const fallback =
          details.code === "ItemDisplayNameNotAvailableYet"
            ? (this.options.displayNameRetrySeconds ?? 30)
            : this.backoff(attempt);
        await this.wait(after ?? fallback);
        continue;
      }
      // Out of attempts, or a definite error. A name clash after an ambiguous answer is most
      // likely the item an earlier attempt created, which the list may not show yet.
      if (await recovered(isNameClash(details.code))) return RECOVERED;
      const requestId =
        details.requestId ??
        res.headers.get("x-ms-request-id") ??
        res.headers.get("requestid") ??
        undefined;
      throw formatError(api, method, shownPath, res.status, res.statusText, details, requestId);
    }
  }

  /**
   * Polls GET /operations/{id} until Succeeded or Failed, honouring Retry-After, then fetches
   * /operations/{id}/result when the finished operation points at one (not every operation has
   * a result).
   */
  private async followOperation<T>(
    method: string,
    shownPath: string,
    headers: Headers,
  ): Promise<ApiResponse<T>> {
    const opId = headers.get("x-ms-operation-id");
    const stateUrl = this.sameOriginOr(
      headers.get("location"),
      opId ? `${this.fabricBaseUrl}/operations/${opId}` : undefined,
    );
    let retryAfter = retryAfterSeconds(headers);
    const maxPolls = this.options.maxPolls ?? 360;
    for (let poll = 1; poll <= maxPolls; poll++) {
      await this.wait(retryAfter ?? this.options.defaultPollSeconds ?? 5);
      const state = await this.request<OperationState>("fabric", "GET", stateUrl, { lro: false });
      const status = state.body?.status;
      retryAfter = retryAfterSeconds(state.headers);
      if (status === "Succeeded") {
        const resultLocation = state.headers.get("location");
        if (resultLocation && /\/result\/?$/.test(new URL(resultLocation, stateUrl).pathname)) {
          const resultUrl = this.sameOriginOr(resultLocation, `${stateUrl}/result`);
          return this.request<T>("fabric", "GET", resultUrl, { lro: false });
        }
        return { status: 200, body: undefined, headers: state.headers };
      }
      if (status === "Failed" || status === "Undefined") {
        const err = state.body?.error ?? {};
        throw new OperationFailedError(
          `Fabric API ${method} ${shownPath} failed: long-running operation ${opId ?? stateUrl} ended ${status}` +
            (err.errorCode ? ` ${err.errorCode}` : "") +
            (err.message ? `: ${err.message}` : "") +
            `. What to do: ${remediationFor(400, err.errorCode, method)}`,
          method,
          shownPath,
          400,
          err.errorCode,
          opId ?? undefined,
        );
      }
    }
    throw new Error(
      `Fabric API ${method} ${shownPath}: long-running operation ${opId ?? stateUrl} did not finish after ${maxPolls} polls. What to do: check the item in the Fabric portal and run \`pulumi refresh\`.`,
    );
  }

  /** GET that maps 404 to undefined (an item deleted out of band). */
  async getOrUndefined<T>(api: Api, path: string): Promise<T | undefined> {
    try {
      return (await this.request<T>(api, "GET", path)).body;
    } catch (err) {
      if (isApiStatus(err, 404)) return undefined;
      throw err;
    }
  }

  /** DELETE that treats 404 as already gone. */
  async deleteIfExists(api: Api, path: string): Promise<void> {
    try {
      await this.request(api, "DELETE", path);
    } catch (err) {
      if (!isApiStatus(err, 404)) throw err;
    }
  }

  /**
   * POST that creates one uniquely named item, at most once, whatever the answers.
   *
   * 1. Looks the name up first: an item that holds it before this create starts is not in this
   *    stack's state, so it fails with a NameTakenError naming the item and `target.remedy`.
   * 2. POSTs through `request`. After an ambiguous answer (429, 5xx, dropped connection) it
   *    looks the name up again before each retry and before giving up; an item found then did
   *    not exist at step 1, so it is the one this create made: it is adopted when it `matches`
   *    what was asked (otherwise NameTakenError), and the POST is not sent again.
   * 3. When a later answer shows the item was made (a name clash after the ambiguous answer, a
   *    202 whose operation could not be followed, a 2xx without the item or with its body cut
   *    off), the look-up is repeated up to `maxAttempts` times with the client's back-off, since
   *    the list can lag the write. If the item never shows, the error says it is probably this
   *    deployment's own and how to resolve that.
   *
   * Returns the created (or adopted) item. Known limit (README): without an idempotency key, an
   * item of the same name and shape made by someone else between an unapplied POST and the
   * look-up cannot be told from this create's and is adopted.
   */
  async createOnce<T>(
    api: Api,
    path: string,
    body: unknown,
    target: CreateTarget<T>,
    opts: { lro?: boolean } = {},
  ): Promise<T> {
    const before = await target.find();
    if (before !== undefined) {
      throw new NameTakenError(
        `A ${target.what} already exists (id ${target.idOf(before)}) and is not in this stack's state: it was made outside the stack, or by an earlier create of this stack that was interrupted before it was recorded. What to do: ${target.remedy}`,
        target.idOf(before),
      );
    }
    const looks = this.options.maxAttempts ?? 6;
    let adopted: T | undefined;
    // Set when an answer showed the item was made but no look-up found it.
    let unseen = false;
    const recover = async (applied: boolean): Promise<boolean> => {
      for (let look = 1; look <= (applied ? looks : 1); look++) {
        if (look > 1) await this.wait(this.backoff(look - 1));
        const found = await target.find();
        if (found === undefined) continue;
        if (!target.matches(found)) {
          throw new NameTakenError(
            `A ${target.what} appeared while it was being created (id ${target.idOf(found)}) but it is not the one asked for (different type, scope, target or settings). What to do: ${target.remedy}`,
            target.idOf(found),
          );
        }
        adopted = found;
        return true;
      }
      unseen ||= applied;
      return false;
    };
    const unseenError = (answer: string) =>
      new Error(
        `POST ${path}: ${answer}, yet the ${target.what} did not show in ${looks} look-ups by name. It is probably this deployment's own, made by an attempt whose answer was lost, and not in this stack's state. What to do: find it in the Fabric portal; if it was made by this run (see its creation time), delete it and run \`pulumi up\` again so it is created and recorded; otherwise ${target.remedy}`,
      );
    let res: ApiResponse<unknown>;
    try {
      res = await this.request<unknown>(api, "POST", path, { body, recover, ...opts });
    } catch (err) {
      if (!unseen) throw err;
      const answer = (err as Error).message.replace(/ What to do: .*$/s, "");
      throw unseenError(`after an ambiguous answer the service answered that the item was made (${answer})`);
    }
    if (res.recovered && adopted !== undefined) return adopted;
    const created = target.fromResponse ? target.fromResponse(res) : (res.body as T | undefined);
    if (created !== undefined && created !== null) return created;
    // A 201/202 without the item: the service made it, so it can be found by its name.
    if ((await recover(true)) && adopted !== undefined) return adopted;
    throw unseenError(`the service answered ${res.status} without the created item`);
  }

  /** Follows `continuationUri` / `continuationToken` pages of a Fabric list call. */
  async listAll<T>(path: string): Promise<T[]> {
    const out: T[] = [];
    let next: string | undefined = path;
    while (next) {
      const page: ApiResponse<{ value?: T[]; continuationUri?: string | null; continuationToken?: string | null }> =
        await this.request("fabric", "GET", next);
      out.push(...(page.body?.value ?? []));
      if (page.body?.continuationUri) next = page.body.continuationUri;
      else if (page.body?.continuationToken)
        next = `${path}${path.includes("?") ? "&" : "?"}continuationToken=${encodeURIComponent(page.body.continuationToken)}`;
      else next = undefined;
    }
    return out;
  }

  // ---------------------------------------------------------------- workspaces

  /** Workspace names are unique per tenant (WorkspaceNameAlreadyExists). */
  createWorkspace(args: { displayName: string; description?: string; capacityId?: string }): Promise<Workspace> {
    return this.createOnce<Workspace>("fabric", "/workspaces", args, {
      what: `Fabric workspace named "${args.displayName}"`,
      find: () => this.findWorkspaceByName(args.displayName),
      matches: (w) => sameName(w.displayName, args.displayName),
      idOf: (w) => w.id,
      remedy:
        "set adoptExisting: true to manage it from this stack (it will not be deleted on destroy), or choose another displayName.",
    });
  }

  getWorkspace(id: string): Promise<Workspace | undefined> {
    return this.getOrUndefined<Workspace>("fabric", `/workspaces/${enc(id)}`);
  }

  listWorkspaces(): Promise<Workspace[]> {
    return this.listAll<Workspace>("/workspaces");
  }

  /** Display names are unique per tenant; compare case-insensitively as the portal does. */
  async findWorkspaceByName(displayName: string): Promise<Workspace | undefined> {
    const all = await this.listWorkspaces();
    return all.find((w) => sameName(w.displayName, displayName));
  }

  async updateWorkspace(id: string, args: { displayName?: string; description?: string }) {
    await this.request("fabric", "PATCH", `/workspaces/${enc(id)}`, { body: args });
  }

  async assignToCapacity(id: string, capacityId: string) {
    await this.request("fabric", "POST", `/workspaces/${enc(id)}/assignToCapacity`, {
      body: { capacityId },
    });
  }

  async unassignFromCapacity(id: string) {
    await this.request("fabric", "POST", `/workspaces/${enc(id)}/unassignFromCapacity`);
  }

  deleteWorkspace(id: string): Promise<void> {
    return this.deleteIfExists("fabric", `/workspaces/${enc(id)}`);
  }

  // ---------------------------------------------------------------- role assignments

  /** A principal holds one role per workspace (PrincipalAlreadyHasWorkspaceRolePermissions). */
  addRoleAssignment(
    workspaceId: string,
    principal: { id: string; type: PrincipalType },
    role: WorkspaceRole,
  ): Promise<RoleAssignment> {
    return this.createOnce<RoleAssignment>(
      "fabric",
      `/workspaces/${enc(workspaceId)}/roleAssignments`,
      { principal, role },
      {
        what: `role assignment for principal ${principal.id} in workspace ${workspaceId}`,
        find: async () =>
          (await this.listRoleAssignments(workspaceId)).find((ra) => ra.principal.id === principal.id),
        matches: (ra) => ra.principal.type === principal.type && ra.role === role,
        idOf: (ra) => ra.id,
        remedy:
          "the principal already has a role in this workspace, given outside this stack: remove it under Manage access in the workspace, then run `pulumi up` again.",
      },
    );
  }

  listRoleAssignments(workspaceId: string): Promise<RoleAssignment[]> {
    return this.listAll<RoleAssignment>(`/workspaces/${enc(workspaceId)}/roleAssignments`);
  }

  getRoleAssignment(workspaceId: string, id: string): Promise<RoleAssignment | undefined> {
    return this.getOrUndefined("fabric", `/workspaces/${enc(workspaceId)}/roleAssignments/${enc(id)}`);
  }

  async updateRoleAssignment(workspaceId: string, id: string, role: WorkspaceRole) {
    await this.request("fabric", "PATCH", `/workspaces/${enc(workspaceId)}/roleAssignments/${enc(id)}`, {
      body: { role },
    });
  }

  deleteRoleAssignment(workspaceId: string, id: string): Promise<void> {
    return this.deleteIfExists("fabric", `/workspaces/${enc(workspaceId)}/roleAssignments/${enc(id)}`);
  }

  // ---------------------------------------------------------------- connections

  /** Connection display names are unique per tenant (DuplicateConnectionName). */
  createConnection(body: CreateConnectionRequest): Promise<Connection> {
    return this.createOnce<Connection>("fabric", "/connections", body, {
      what: `connection named "${body.displayName}"`,
      find: async () => (await this.listConnections()).find((c) => c.displayName === body.displayName),
      matches: (c) =>
        c.connectivityType === body.connectivityType &&
        c.connectionDetails?.type === body.connectionDetails.type &&
        pathNamesTarget(c.connectionDetails?.path, body.connectionDetails.parameters),
      idOf: (c) => c.id,
      remedy:
        "connection names are unique in the tenant: delete or rename that connection (Settings > Manage connections and gateways), or choose another displayName.",
    });
  }

  listConnections(): Promise<Connection[]> {
    return this.listAll<Connection>("/connections");
  }

  getConnection(id: string): Promise<Connection | undefined> {
    return this.getOrUndefined("fabric", `/connections/${enc(id)}`);
  }

  async updateConnection(id: string, body: unknown): Promise<Connection | undefined> {
    return (await this.request<Connection>("fabric", "PATCH", `/connections/${enc(id)}`, { body })).body;
  }

  deleteConnection(id: string): Promise<void> {
    return this.deleteIfExists("fabric", `/connections/${enc(id)}`);
  }

  // ---------------------------------------------------------------- items (semantic models, reports)

  /** Item names are unique per workspace and item type (ItemDisplayNameAlreadyInUse). */
  createItem(
    workspaceId: string,
    collection: ItemCollection,
    args: { displayName: string; description?: string; definition: ItemDefinition },
  ): Promise<FabricItem> {
    const type = ITEM_TYPES[collection];
    return this.createOnce<FabricItem>("fabric", `/workspaces/${enc(workspaceId)}/${collection}`, args, {
      what: `${type} named "${args.displayName}" in workspace ${workspaceId}`,
      find: async () => (await this.listItems(workspaceId, collection)).find((i) => i.displayName === args.displayName),
      matches: (i) => (i.type ?? type) === type && (i.workspaceId ?? workspaceId) === workspaceId,
      idOf: (i) => i.id,
      remedy: `delete or rename that ${type} in the workspace, or choose another displayName.`,
    });
  }

  listItems(workspaceId: string, collection: ItemCollection): Promise<FabricItem[]> {
    return this.listAll<FabricItem>(`/workspaces/${enc(workspaceId)}/${collection}`);
  }

  getItem(workspaceId: string, collection: ItemCollection, id: string): Promise<FabricItem | undefined> {
    return this.getOrUndefined("fabric", `/workspaces/${enc(workspaceId)}/${collection}/${enc(id)}`);
  }

  async updateItem(
    workspaceId: string,
    collection: ItemCollection,
    id: string,
    args: { displayName?: string; description?: string },
  ) {
    await this.request("fabric", "PATCH", `/workspaces/${enc(workspaceId)}/${collection}/${enc(id)}`, {
      body: args,
    });
  }

  async updateItemDefinition(
    workspaceId: string,
    collection: ItemCollection,
    id: string,
    definition: ItemDefinition,
  ) {
    await this.request(
      "fabric",
      "POST",
      `/workspaces/${enc(workspaceId)}/${collection}/${enc(id)}/updateDefinition`,
      { body: { definition } },
    );
  }

  deleteItem(workspaceId: string, collection: ItemCollection, id: string): Promise<void> {
    return this.deleteIfExists("fabric", `/workspaces/${enc(workspaceId)}/${collection}/${enc(id)}`);
  }

  /** Fabric: POST /workspaces/{ws}/semanticModels/{id}/bindConnection. */
  async bindSemanticModelConnection(workspaceId: string, semanticModelId: string, binding: ConnectionBinding) {
    await this.request(
      "fabric",
      "POST",
      `/workspaces/${enc(workspaceId)}/semanticModels/${enc(semanticModelId)}/bindConnection`,
      { body: { connectionBinding: binding } },
    );
  }

  // ---------------------------------------------------------------- Power BI

  /** Power BI: POST /groups/{ws}/datasets/{id}/Default.BindToGateway (the classic binding). */
  async bindToGateway(
    workspaceId: string,
    datasetId: string,
    gatewayObjectId: string,
    datasourceObjectIds: string[],
  ) {
    await this.request(
      "powerbi",
      "POST",
      `/groups/${enc(workspaceId)}/datasets/${enc(datasetId)}/Default.BindToGateway`,
      { body: { gatewayObjectId, datasourceObjectIds } },
    );
  }

  /**
   * Power BI: POST /groups/{ws}/datasets/{id}/refreshes. Answers 202 with a RequestId header;
   * that 202 is not a Fabric operation, so it is not polled here. A refresh has no name, so
   * what identifies the one this call requested is a ViaApi entry of the refresh history
   * ("Datasets - Get Refresh History In Group") that was not there before the POST.
   *
   * The pipeline package has the refresh client the jobs use (`oms_pipeline.io.powerbi_api`:
   * change detection, budget, enhanced refresh, polling). This one stays because it runs at
   * deploy time inside `pulumi up`, in Node, where that Python wheel is not installed; it sends
   * the same shared-capacity body, checked against `test/fixtures/powerbi-refresh-requests.json`
   * by both test suites.
   */
  async refreshDataset(workspaceId: string, datasetId: string): Promise<string | undefined> {
    const path = `/groups/${enc(workspaceId)}/datasets/${enc(datasetId)}/refreshes`;
    let before: Set<string> | undefined;
    const refresh = await this.createOnce<Partial<Refresh>>(
      "powerbi",
      path,
      { notifyOption: "NoNotification" },
      {
        what: `refresh of semantic model ${datasetId}`,
        find: async () => {
          // A missing dataset reads as no history; the POST then fails with the service's 404.
          const history = (await this.getOrUndefined<{ value?: Refresh[] }>("powerbi", path))?.value ?? [];
          // The first look (before the POST) records what is not this call's refresh.
          if (before === undefined) {
            before = new Set(history.map((r) => r.requestId));
            return undefined;
          }
          return history.find((r) => r.refreshType === "ViaApi" && !before!.has(r.requestId));
        },
        matches: () => true,
        idOf: (r) => r.requestId ?? "",
        remedy: "wait for the running refresh to finish and run `pulumi up` again.",
        fromResponse: (res) => ({
          requestId: res.headers.get("requestid") ?? res.headers.get("x-ms-request-id") ?? undefined,
        }),
      },
      { lro: false },
    );
    return refresh.requestId;
  }

  // ---------------------------------------------------------------- plumbing

  private resolve(api: Api, path: string): string {
    if (/^https?:\/\//.test(path)) return this.sameOriginOr(path, undefined);
    const base = api === "fabric" ? this.fabricBaseUrl : this.powerBiBaseUrl;
    return `${base}${path.startsWith("/") ? "" : "/"}${path}`;
  }

  /**
   * Absolute URLs from response headers are followed only on the API's own origins, so a bearer
   * token is never sent anywhere else.
   */
  private sameOriginOr(candidate: string | null | undefined, fallback: string | undefined): string {
    const origins = [new URL(this.fabricBaseUrl).origin, new URL(this.powerBiBaseUrl).origin];
    if (candidate) {
      const abs = new URL(candidate, this.fabricBaseUrl);
      if (origins.includes(abs.origin)) return abs.toString();
    }
    if (fallback) return fallback;
    throw new Error(`Refusing to follow ${candidate ?? "an empty URL"}: not a Fabric or Power BI API URL.`);
  }

  private fetchImpl(): typeof fetch {
    return this.options.fetch ?? fetch;
  }

  private backoff(attempt: number): number {
    return (this.options.backoffSeconds ?? 2) * 2 ** (attempt - 1);
  }

  private async wait(seconds: number): Promise<void> {
    const ms = Math.min(seconds, this.options.maxWaitSeconds ?? 120) * 1000;
    if (this.options.sleep) return this.options.sleep(ms);
    await new Promise((resolve) => setTimeout(resolve, ms));
  }

  private async token(api: Api): Promise<string> {
    const scope = api === "fabric" ? FABRIC_SCOPE : POWERBI_SCOPE;
    const cached = this.tokens.get(scope);
    if (cached && cached.expiresOnTimestamp - Date.now() > 5 * 60 * 1000) return cached.token;
    if (!this.credential) {
      // Loaded here, not at module scope: this code runs inside serialised dynamic providers.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const identity = require("@azure/identity") as typeof import("@azure/identity");
      this.credential = new identity.DefaultAzureCredential();
    }
    const token = await this.credential.getToken(scope);
    if (!token) {
      throw new Error(
        `No token for ${scope}. What to do: sign in (az login) or set AZURE_CLIENT_ID / AZURE_TENANT_ID / AZURE_CLIENT_SECRET for the deploying service principal.`,
      );
    }
    this.tokens.set(scope, token);
    return token.token;
  }
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

/**
 * True when a connection's `connectionDetails.path` names the data source a create sent as
 * `connectionDetails.parameters`, so a connection of the right name and type that points at
 * another server or warehouse is never adopted. The service derives the path from the
 * parameters: "server;database" for SQL and a single value for Web ("Connections - List
 * Connections" examples), the parameters as a JSON object for Power Query extension connectors
 * such as Databricks.Catalogs (`{"host":…,"httpPath":…}`). Values compare case-insensitively
 * (host names are; the service may normalise). A path that reads as none of these is no match.
 */
function pathNamesTarget(path: string | undefined, parameters: readonly ConnectionParameter[]): boolean {
  if (path === undefined || path === null) return false;
  const norm = (v: unknown) => String(v).trim().toLowerCase();
  let parsed: unknown;
  try {
    parsed = JSON.parse(path);
  } catch {
    parsed = undefined;
  }
  if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
    const byName = new Map(Object.entries(parsed).map(([k, v]) => [k.toLowerCase(), v]));
    return parameters.every((p) => byName.has(p.name.toLowerCase()) && norm(byName.get(p.name.toLowerCase())) === norm(p.value));
  }
  const parts = path.split(";").map(norm);
  return parts.length === parameters.length && parameters.every((p, i) => parts[i] === norm(p.value));
}

/** Workspace names compare case-insensitively, as the portal does. */
function sameName(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
