/**
 * The pipeline package (`pipelines/`) as a deterministic, content-addressed wheel, built in
 * Node from the source files alone.
 *
 * Why not `python -m build`: `pulumi up` would then need a Python toolchain, and setuptools
 * stamps build times into the archive, so an unchanged package would still show a diff. A wheel
 * is a zip with a fixed layout (PEP 427: the package files plus a `.dist-info` folder holding
 * METADATA, WHEEL, entry_points.txt and RECORD), written here with a TOML parser (smol-toml) and a
 * zip library (fflate) with fixed timestamps and sorted entries: the same sources always give the
 * same bytes, any changed source file gives a new content hash, a new file name and therefore a
 * new upload and job update. test/pipelinePackage.spec.ts proves the file list and metadata equal
 * those of the package's own build backend (setuptools).
 *
 * The package's manifest (`oms_pipeline/manifest.json`, see pipelineManifest.ts) is one of the
 * shipped files: the builder checks it and hands it to the stack with the wheel, so what the
 * stack declares (entry points, tables, schemas, volumes) is what the wheel it uploads says.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { zipSync, type Zippable } from "fflate";
import { parse as parseToml } from "smol-toml";
import {
  manifestFile,
  PACKAGE_NAME,
  PipelineManifest,
  readPipelineManifest,
} from "./pipelineManifest";

export { PACKAGE_NAME };

/**
 * Dependencies the Databricks runtime already provides (and pins): installing them from the wheel's
 * metadata would replace the runtime's own Spark and Delta and break the cluster.
 */
const RUNTIME_PROVIDED = new Set(["pyspark", "delta-spark"]);

/** What the stack needs to know about the built package. */
export interface PipelinePackage {
  /** Version from pyproject.toml, e.g. `0.1.0`. */
  readonly version: string;
  /** SHA-256 (hex) over the sorted source paths and bytes plus pyproject.toml. */
  readonly sha256: string;
  /** PEP 440 version with the content hash as local label, e.g. `0.1.0+1a2b3c4d5e6f`. */
  readonly fullVersion: string;
  /** Wheel file name, e.g. `oms_pipeline-0.1.0+1a2b3c4d5e6f-py3-none-any.whl`. */
  readonly fileName: string;
  /** Console-script entry points (name → `module:function`) from pyproject's [project.scripts]. */
  readonly entryPoints: Readonly<Record<string, string>>;
  /** The manifest the wheel ships (`oms_pipeline/manifest.json`), checked. */
  readonly manifest: PipelineManifest;
  /** The wheel's bytes. */
  readonly wheel: Buffer;
}

/** The parts of pyproject.toml (PEP 621 `[project]`) the wheel needs. */
interface Pyproject {
  name: string;
  version: string;
  dependencies: string[];
  /** `[project.optional-dependencies]`: extra name → its requirements. */
  extras: Record<string, string[]>;
  scripts: Record<string, string>;
}

const isStringArray = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((d) => typeof d === "string");

/**
 * Reads `[project]` of pyproject.toml with a TOML 1.0 parser. Throws naming the file, the key
 * and the type it must have when a key the wheel needs is missing or of another type.
 */
function readPyproject(file: string): Pyproject {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: not valid TOML: ${(e as Error).message}`);
  }
  const p = doc.project as Record<string, unknown> | undefined;
  const fail = (key: string, what: string): never => {
    throw new Error(`${file}: [project] ${key} must be ${what}`);
  };
  if (typeof p !== "object") throw new Error(`${file}: no [project] table`);
  const str = (key: string): string =>
    typeof p[key] === "string" ? p[key] : fail(key, "a string");
  const deps = p.dependencies ?? [];
  if (!isStringArray(deps)) fail("dependencies", "an array of strings (PEP 508 requirements)");
  const extras = (p["optional-dependencies"] ?? {}) as Record<string, unknown>;
  if (typeof extras !== "object" || !Object.values(extras).every(isStringArray))
    fail("optional-dependencies", "a table of arrays of strings (PEP 508 requirements)");
  const scripts = p.scripts ?? {};
  if (
    typeof scripts !== "object" ||
    Array.isArray(scripts) ||
    Object.values(scripts).some((v) => typeof v !== "string")
  )
    fail("scripts", 'a table of "name" = "module:function" strings');
  return {
    name: str("name"),
    version: str("version"),
    dependencies: deps as string[],
    extras: extras as Record<string, string[]>,
    scripts: { ...(scripts as Record<string, string>) },
  };
}

/** Every file of `dir` (recursively) as POSIX paths relative to `base`, sorted; no caches. */
function listFiles(dir: string, base: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "__pycache__" || entry.name.endsWith(".pyc")) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(full, base));
    else if (entry.isFile()) out.push(path.relative(base, full).split(path.sep).join("/"));
  }
  return out.sort();
}

/**
 * Content hash of the package: sorted paths under `src/` with their bytes, then pyproject.toml.
 * Length-prefixed so that moving bytes between a path and its content changes the hash.
 */
export function contentHash(pipelinesDir: string): string {
  const src = path.join(pipelinesDir, "src");
  const hash = crypto.createHash("sha256");
  const add = (name: string, bytes: Buffer) => {
    hash.update(`${name.length}:${name}:${bytes.length}:`);
    hash.update(bytes);
  };
  for (const rel of listFiles(src, src)) add(`src/${rel}`, fs.readFileSync(path.join(src, rel)));
  add("pyproject.toml", fs.readFileSync(path.join(pipelinesDir, "pyproject.toml")));
  return hash.digest("hex");
}

/**
 * The wheel's zip: entries in the given order, deflated, every entry stamped 1980-01-01 00:00
 * (the earliest a zip can hold; a local-time Date so the DOS fields are the same in any time zone)
 * as a regular Unix file rw-r--r--: builds never stamp the clock, so equal inputs give equal bytes.
 */
function zip(entries: readonly { name: string; data: Buffer }[]): Buffer {
  const files: Zippable = {};
  for (const { name, data } of entries) files[name] = new Uint8Array(data);
  return Buffer.from(
    zipSync(files, { level: 9, mtime: new Date(1980, 0, 1), os: 3, attrs: 0o100644 << 16 }),
  );
}

const recordHash = (data: Buffer) =>
  `sha256=${crypto.createHash("sha256").update(data).digest("base64url")}`;

/**
 * The manifest of the package in `pipelinesDir`, checked against its pyproject's console scripts
 * (a stale manifest would make the stack call scripts the wheel does not install). Throws naming
 * the manifest file when it is missing, malformed or stale.
 */
function packageManifest(pipelinesDir: string, scripts: Record<string, string>): PipelineManifest {
  const file = manifestFile(pipelinesDir);
  const manifest = readPipelineManifest(file);
  const show = (m: Record<string, string>) =>
    Object.keys(m)
      .sort()
      .map((k) => `${k} = ${m[k]}`)
      .join(", ");
  if (show(manifest.entry_points) !== show(scripts)) {
    throw new Error(
      `${file}: stale: its entry_points (${show(manifest.entry_points)}) are not pyproject.toml's [project.scripts] (${show(scripts)}); regenerate it with \`python -m oms_pipeline.manifest --write\` in pipelines/`,
    );
  }
  return manifest;
}

/**
 * Builds the wheel of the pipeline package in `pipelinesDir` (the folder holding pyproject.toml
 * and src/). Pure: reads files, writes nothing. Throws when the package's manifest is missing,
 * malformed or stale (see {@link packageManifest}).
 */
export function buildPipelinePackage(pipelinesDir: string): PipelinePackage {
  const pyproject = readPyproject(path.join(pipelinesDir, "pyproject.toml"));
  const sha256 = contentHash(pipelinesDir);
  const fullVersion = `${pyproject.version}+${sha256.slice(0, 12)}`;
  const distInfo = `${PACKAGE_NAME}-${fullVersion}.dist-info`;
  const src = path.join(pipelinesDir, "src");
  const pkgDir = path.join(src, PACKAGE_NAME);
  if (!fs.existsSync(pkgDir)) throw new Error(`pipeline package not found at ${pkgDir}`);
  const manifest = packageManifest(pipelinesDir, pyproject.scripts);

  const files = listFiles(pkgDir, src).map((name) => ({
    name,
    data: fs.readFileSync(path.join(src, name)),
  }));
  const metadata = [
    "Metadata-Version: 2.1",
    `Name: ${pyproject.name}`,
    `Version: ${fullVersion}`,
    // Requires-Python is left out on purpose: the job pins the runtime (and with it the
    // interpreter), so pip has nothing to choose; the range in pyproject describes the dev venv.
    ...pyproject.dependencies
      .filter((d) => !RUNTIME_PROVIDED.has(d.split(/[=<>!~ ;[]/)[0].toLowerCase()))
      .map((d) => `Requires-Dist: ${d}`),
    // Core metadata 2.1: each extra is provided, its requirements carry `extra == "<name>"`.
    ...Object.entries(pyproject.extras).flatMap(([extra, reqs]) => [
      `Provides-Extra: ${extra}`,
      ...reqs.map((r) => {
        const [req, marker] = r.split(/;(.*)/s).map((x) => x?.trim());
        const onExtra = `extra == "${extra}"`;
        return `Requires-Dist: ${req}; ${marker ? `(${marker}) and ${onExtra}` : onExtra}`;
      }),
    ]),
    "",
  ].join("\n");
  const wheelInfo = [
    "Wheel-Version: 1.0",
    "Generator: oms-lakehouse",
    "Root-Is-Purelib: true",
    "Tag: py3-none-any",
    "",
  ].join("\n");
  const entryPointsTxt = [
    "[console_scripts]",
    ...Object.keys(pyproject.scripts)
      .sort()
      .map((k) => `${k} = ${pyproject.scripts[k]}`),
    "",
  ].join("\n");
  const meta = [
    { name: `${distInfo}/METADATA`, data: Buffer.from(metadata) },
    { name: `${distInfo}/WHEEL`, data: Buffer.from(wheelInfo) },
    { name: `${distInfo}/entry_points.txt`, data: Buffer.from(entryPointsTxt) },
  ];
  const record = [
    ...[...files, ...meta].map((f) => `${f.name},${recordHash(f.data)},${f.data.length}`),
    `${distInfo}/RECORD,,`,
    "",
  ].join("\n");
  const wheel = zip([...files, ...meta, { name: `${distInfo}/RECORD`, data: Buffer.from(record) }]);

  return {
    version: pyproject.version,
    sha256,
    fullVersion,
    fileName: `${PACKAGE_NAME}-${fullVersion}-py3-none-any.whl`,
    entryPoints: pyproject.scripts,
    manifest,
    wheel,
  };
}
