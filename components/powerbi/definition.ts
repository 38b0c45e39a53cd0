/**
 * Pure functions that turn PBIP files (already read from disk) into Fabric item definitions:
 * per-stack TMDL parameter substitution, the definition.pbir rewrite that points a report at the
 * deployed semantic model, base64 parts, and content hashes for diffing.
 *
 * No module-level imports: these run inside serialised dynamic providers.
 */
import type { PageRefreshType } from "../../config";
import type { DefinitionPart, ItemDefinition } from "./client";

/** One file of a PBIP item folder, path relative to the item folder ("definition/model.tmdl"). */
export interface PbipPart {
  /** Path inside the item folder, "/"-separated. */
  readonly path: string;
  /** File content: UTF-8 text, or base64 when `encoding` is "base64" (images, etc.). */
  readonly content: string;
  /** Encoding of `content`; default "utf-8". */
  readonly encoding?: "utf-8" | "base64";
}

/** Hashes of the parts actually uploaded (after substitution/rewrite). */
export interface PartHashes {
  /** sha256 (hex) per part path. */
  readonly partHashes: Record<string, string>;
  /** sha256 over the sorted path→hash list: one value that changes iff any part changes. */
  readonly partsHash: string;
}

/** `definition.pbir` schema this module writes (definitionProperties 2.0.0). */
export const PBIR_SCHEMA_2 =
  "https://developer.microsoft.com/json-schemas/fabric/item/report/definitionProperties/2.0.0/schema.json";

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** M string literal: quotes are doubled. */
function mString(value: string): string {
  return `"${value.replace(/"/g, '""')}"`;
}

/**
 * Replaces the value of TMDL parameter expressions:
 *   expression DatabricksHost = "old" meta [IsParameterQuery=true, ...]
 *   expression 'Http Path' = "old" meta [...]
 * Only string-literal parameter queries (with a `meta [` record) are touched; everything else in
 * the file is left byte-for-byte. Returns the new text and the names that were replaced.
 */
export function substituteTmdlParameters(
  tmdl: string,
  parameters: Readonly<Record<string, string>>,
): { text: string; replaced: string[] } {
  let text = tmdl;
  const replaced: string[] = [];
  for (const [name, value] of Object.entries(parameters)) {
    const quotedName = `'${name.replace(/'/g, "''")}'`;
    const namePattern = /^[A-Za-z_][A-Za-z0-9_]*$/.test(name)
      ? `(?:${escapeRegExp(name)}|${escapeRegExp(quotedName)})`
      : escapeRegExp(quotedName);
    const re = new RegExp(
      `^([ \\t]*expression[ \\t]+${namePattern}[ \\t]*=[ \\t]*)"(?:[^"]|"")*"([ \\t]+meta[ \\t]*\\[)`,
      "gm",
    );
    let hit = false;
    text = text.replace(re, (_m, head: string, tail: string) => {
      hit = true;
      return `${head}${mString(value)}${tail}`;
    });
    if (hit) replaced.push(name);
  }
  return { text, replaced };
}

/**
 * Applies per-stack parameter values to every .tmdl part. A parameter that matches no expression
 * is an error: a typo would otherwise deploy the model pointing at the wrong warehouse.
 */
export function applyModelParameters(
  parts: readonly PbipPart[],
  parameters: Readonly<Record<string, string>> = {},
): PbipPart[] {
  const seen = new Set<string>();
  const out = parts.map((p) => {
    if (!p.path.endsWith(".tmdl") || p.encoding === "base64") return p;
    const { text, replaced } = substituteTmdlParameters(p.content, parameters);
    replaced.forEach((n) => seen.add(n));
    return { ...p, content: text };
  });
  const missing = Object.keys(parameters).filter((n) => !seen.has(n));
  if (missing.length > 0) {
    throw new Error(
      `Semantic model parameters not found in any .tmdl part: ${missing.join(", ")}. ` +
        `Each must be declared as \`expression <Name> = "<value>" meta [IsParameterQuery=true, ...]\` (usually in definition/expressions.tmdl).`,
    );
  }
  return out;
}

/**
 * Points a report at a semantic model in the service: datasetReference.byConnection with a
 * `semanticmodelid=` connection string (definitionProperties 2.0.0; byPath is for local PBIP).
 */
export function rewriteDefinitionPbir(content: string, semanticModelId: string): string {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(content) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`definition.pbir is not valid JSON: ${(err as Error).message}`);
  }
  const version = typeof doc.version === "string" && parseFloat(doc.version) >= 4 ? doc.version : "4.0";
  const rewritten = {
    ...doc,
    $schema: PBIR_SCHEMA_2,
    version,
    datasetReference: { byConnection: { connectionString: `semanticmodelid=${semanticModelId}` } },
  };
  return JSON.stringify(rewritten, null, 2) + "\n";
}

/** Applies the pbir rewrite to the report's parts; a report without definition.pbir is an error. */
export function bindReportParts(parts: readonly PbipPart[], semanticModelId: string): PbipPart[] {
  if (!parts.some((p) => p.path === "definition.pbir")) {
    throw new Error("Report parts have no definition.pbir; pass the files of the *.Report folder.");
  }
  return parts.map((p) =>
    p.path === "definition.pbir"
      ? { path: p.path, content: rewriteDefinitionPbir(p.content, semanticModelId) }
      : p,
  );
}

/**
 * Files that are local editor state, not item definition: `.pbi/` (local settings, cache) and
 * `.platform` (its displayName would override the one declared in the stack).
 */
export function isDeployablePart(path: string): boolean {
  const normalised = path.replace(/\\/g, "/").replace(/^\.\//, "");
  return !(
    normalised === ".platform" ||
    normalised.startsWith(".pbi/") ||
    normalised.includes("/.pbi/") ||
    normalised.endsWith("cache.abf")
  );
}

export function deployableParts(parts: readonly PbipPart[]): PbipPart[] {
  return parts
    .filter((p) => isDeployablePart(p.path))
    .map((p) => ({ ...p, path: p.path.replace(/\\/g, "/").replace(/^\.\//, "") }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function partBytes(p: PbipPart): Buffer {
  return p.encoding === "base64" ? Buffer.from(p.content, "base64") : Buffer.from(p.content, "utf8");
}

/** Base64 parts for the Fabric definition APIs. */
export function toDefinitionParts(parts: readonly PbipPart[]): DefinitionPart[] {
  return parts.map((p) => ({
    path: p.path,
    payload: partBytes(p).toString("base64"),
    payloadType: "InlineBase64" as const,
  }));
}

/** TMDL when any part is .tmdl, TMSL when the model is a model.bim. */
export function semanticModelFormat(parts: readonly PbipPart[]): string | undefined {
  if (parts.some((p) => p.path.endsWith(".tmdl"))) return "TMDL";
  if (parts.some((p) => p.path === "model.bim")) return "TMSL";
  return undefined;
}

/** PBIR when the report is in the folder format, PBIR-Legacy for a single report.json. */
export function reportFormat(parts: readonly PbipPart[]): string | undefined {
  if (parts.some((p) => p.path.startsWith("definition/"))) return "PBIR";
  if (parts.some((p) => p.path === "report.json")) return "PBIR-Legacy";
  return undefined;
}

export function toItemDefinition(parts: readonly PbipPart[], format: string | undefined): ItemDefinition {
  return format ? { format, parts: toDefinitionParts(parts) } : { parts: toDefinitionParts(parts) };
}

/** sha256 per part and over all parts (sorted by path), on the bytes that are uploaded. */
export function hashParts(parts: readonly PbipPart[]): PartHashes {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const crypto = require("crypto") as typeof import("crypto");
  const sha = (b: Buffer | string) => crypto.createHash("sha256").update(b).digest("hex");
  const partHashes: Record<string, string> = {};
  for (const p of [...parts].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    partHashes[p.path] = sha(partBytes(p));
  }
  const partsHash = sha(
    Object.entries(partHashes)
      .map(([path, h]) => `${path}\0${h}`)
      .join("\n"),
  );
  return { partHashes, partsHash };
}

/** The semantic model parts exactly as uploaded: deployable files with parameters applied. */
export function prepareSemanticModelParts(
  parts: readonly PbipPart[],
  parameters?: Readonly<Record<string, string>>,
): PbipPart[] {
  return applyModelParameters(deployableParts(parts), parameters ?? {});
}

/** The report parts exactly as uploaded: deployable files with definition.pbir bound to the model. */
export function prepareReportParts(parts: readonly PbipPart[], semanticModelId: string): PbipPart[] {
  return bindReportParts(deployableParts(parts), semanticModelId);
}

/**
 * Automatic page refresh of the report pages that show DirectQuery tables ("Automatic page refresh
 * in Power BI"). Values come validated from config.ts (whole seconds, allowed per capacity).
 */
export interface PageRefreshSetting {
  /**
   * `interval` (default): refresh every `intervalSeconds`. `changeDetection`: every
   * `intervalSeconds` evaluate the model's change-detection measure and refresh the page only
   * when its value changed (needs a Premium or Fabric capacity).
   */
  readonly type?: PageRefreshType;
  /** Seconds between refreshes (interval) or between checks of the measure (changeDetection). */
  readonly intervalSeconds: number;
}

/** TMDL annotation that marks the model's change-detection measure (`annotation <name> = true`). */
export const CHANGE_DETECTION_ANNOTATION = "OmsChangeDetection";

/** A measure of the semantic model: its home table and name. */
export interface ModelMeasure {
  readonly table: string;
  readonly measure: string;
}

function unquoteTmdlName(name: string): string {
  const n = name.trim();
  return n.startsWith("'") && n.endsWith("'") ? n.slice(1, -1).replace(/''/g, "'") : n;
}

/**
 * Tables of a TMDL model with a DirectQuery partition (`mode: directQuery`); import and dual
 * tables hold an import copy a page refresh would not renew. Sorted table names.
 */
export function directQueryTables(modelParts: readonly PbipPart[]): string[] {
  const tables = new Set<string>();
  for (const part of modelParts) {
    if (!part.path.endsWith(".tmdl") || part.encoding === "base64") continue;
    let table: string | undefined;
    for (const line of part.content.split(/\r?\n/)) {
      const declared = /^table\s+(.+?)\s*$/.exec(line);
      if (declared) table = unquoteTmdlName(declared[1]);
      else if (table && /^\t+mode:\s*directQuery\s*$/.test(line)) tables.add(table);
    }
  }
  return [...tables].sort();
}

/**
 * The change-detection measure of a TMDL model: the one measure annotated
 * `annotation OmsChangeDetection = true`, on a DirectQuery table (Power BI evaluates it against
 * the source; "Automatic page refresh in Power BI", Change detection). None, several, or one on an
 * imported table is an error that says what to declare.
 */
export function changeDetectionMeasure(modelParts: readonly PbipPart[]): ModelMeasure {
  const found: ModelMeasure[] = [];
  for (const part of modelParts) {
    if (!part.path.endsWith(".tmdl") || part.encoding === "base64") continue;
    let table: string | undefined;
    let measure: string | undefined;
    for (const line of part.content.split(/\r?\n/)) {
      const declared = /^table\s+(.+?)\s*$/.exec(line);
      const member = /^\t(measure|column|partition|hierarchy)\s+('(?:[^']|'')+'|[^\s=]+)/.exec(line);
      if (declared) [table, measure] = [unquoteTmdlName(declared[1]), undefined];
      else if (member) measure = member[1] === "measure" ? unquoteTmdlName(member[2]) : undefined;
      else if (
        table &&
        measure &&
        new RegExp(`^\\t\\tannotation\\s+${CHANGE_DETECTION_ANNOTATION}\\s*=\\s*true\\s*$`).test(line)
      )
        found.push({ table, measure });
    }
  }
  const declare = `annotate one measure of a DirectQuery table with \`annotation ${CHANGE_DETECTION_ANNOTATION} = true\``;
  if (found.length !== 1) {
    const which = found.map((m) => `${m.table}[${m.measure}]`).join(", ");
    throw new Error(
      `Change detection needs exactly one change-detection measure in the semantic model; found ${found.length}${which ? ` (${which})` : ""}: ${declare}.`,
    );
  }
  const [m] = found;
  const directQuery = directQueryTables(modelParts);
  if (!directQuery.includes(m.table)) {
    throw new Error(
      `Change-detection measure ${m.table}[${m.measure}] is on a table without a DirectQuery partition; ${declare} (${directQuery.join(", ")}).`,
    );
  }
  return m;
}

const VISUAL_PATH = /^definition\/pages\/([^/]+)\/visuals\/[^/]+\/visual\.json$/;
const PAGE_PATH = /^definition\/pages\/([^/]+)\/page\.json$/;

function parseJsonPart(part: PbipPart): Record<string, unknown> {
  try {
    return JSON.parse(part.content) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${part.path} is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * The model tables each report page reads: every `Entity` its visuals' queries and filters name
 * (PBIR `definition/pages/<page>/visuals/<visual>/visual.json`). Page folder -> sorted tables.
 */
export function pageTables(reportParts: readonly PbipPart[]): Map<string, string[]> {
  const byPage = new Map<string, Set<string>>();
  const collect = (value: unknown, into: Set<string>): void => {
    if (Array.isArray(value)) value.forEach((v) => collect(v, into));
    else if (value && typeof value === "object") {
      for (const [key, v] of Object.entries(value)) {
        if (key === "Entity" && typeof v === "string") into.add(v);
        else collect(v, into);
      }
    }
  };
  for (const part of reportParts) {
    const page = PAGE_PATH.exec(part.path)?.[1] ?? VISUAL_PATH.exec(part.path)?.[1];
    if (!page) continue;
    const tables = byPage.get(page) ?? new Set<string>();
    byPage.set(page, tables);
    if (VISUAL_PATH.test(part.path)) collect(parseJsonPart(part), tables);
  }
  return new Map([...byPage].map(([page, tables]) => [page, [...tables].sort()]));
}

/** ISO 8601 duration of whole seconds: 1800 -> "PT30M", 90 -> "PT1M30S". */
export function isoDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `PT${h ? `${h}H` : ""}${m ? `${m}M` : ""}${s || seconds === 0 ? `${s}S` : ""}`;
}

/**
 * The PBIR page `objects.pageRefresh` entry (page schema 2.x, definitions/PageRefresh: show,
 * refreshType, duration, measure, checkEvery). Values are PBIR expressions. A fixed interval is
 * `show` plus `duration`, a quoted ISO 8601 duration. Change detection is `show`, `refreshType`
 * 'changeDetection', `measure` (a reference to `measure`, required then) and `checkEvery`.
 * Whole seconds are config.ts's to validate (`powerbiPageRefreshSeconds`).
 */
export function pageRefreshObject(setting: PageRefreshSetting, measure?: ModelMeasure): unknown[] {
  const literal = (value: string) => ({ expr: { Literal: { Value: value } } });
  const every = literal(`'${isoDuration(setting.intervalSeconds)}'`);
  if (setting.type !== "changeDetection") {
    return [{ properties: { show: literal("true"), duration: every } }];
  }
  if (!measure) throw new Error("A change-detection page refresh needs the model's change-detection measure.");
  return [
    {
      properties: {
        show: literal("true"),
        refreshType: literal("'changeDetection'"),
        measure: {
          expr: { Measure: { Expression: { SourceRef: { Entity: measure.table } }, Property: measure.measure } },
        },
        checkEvery: every,
      },
    },
  ];
}

/**
 * Sets the stack's automatic page refresh on every report page whose visuals read a DirectQuery
 * table of the model; the other pages show imported data only and must carry none (one that does
 * is an error naming the page). Returns new parts; page.json files are re-serialised.
 */
export function applyPageRefresh(
  reportParts: readonly PbipPart[],
  modelParts: readonly PbipPart[],
  setting: PageRefreshSetting,
): PbipPart[] {
  const directQuery = new Set(directQueryTables(modelParts));
  const tables = pageTables(reportParts);
  const measure = setting.type === "changeDetection" ? changeDetectionMeasure(modelParts) : undefined;
  const refresh = pageRefreshObject(setting, measure);
  return reportParts.map((part) => {
    const page = PAGE_PATH.exec(part.path)?.[1];
    if (!page) return part;
    const doc = parseJsonPart(part);
    const objects = { ...((doc.objects as Record<string, unknown> | undefined) ?? {}) };
    if (!(tables.get(page) ?? []).some((t) => directQuery.has(t))) {
      if ("pageRefresh" in objects) {
        throw new Error(
          `Report page ${page} sets pageRefresh but its visuals read no DirectQuery table (only ${(tables.get(page) ?? []).join(", ") || "no tables"}); automatic page refresh applies to pages over DirectQuery tables (${[...directQuery].join(", ")}): remove it from ${part.path}.`,
        );
      }
      return part;
    }
    objects.pageRefresh = refresh;
    return { ...part, content: JSON.stringify({ ...doc, objects }, null, 2) + "\n" };
  });
}
