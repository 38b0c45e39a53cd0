/**
 * The pipeline package (`pipelines/`) as a deterministic, content-addressed wheel, built in
 * Node from the source files alone.
 *
 * Why not `python -m build`: `pulumi up` would then need a Python toolchain, and setuptools
 * stamps build times into the archive, so an unchanged package would still show a diff. A wheel
 * is a zip with a fixed layout (PEP 427: the package files plus a `.dist-info` folder holding
 * METADATA, WHEEL, entry_points.txt and RECORD), which is small enough to write here with fixed
 * timestamps and sorted entries: the same sources always give the same bytes, any changed source
 * file gives a new content hash, a new file name and therefore a new upload and job update.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";

/** Distribution (import) name of the package, as Databricks' python_wheel_task names it. */
export const PACKAGE_NAME = "oms_pipeline";

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
  /** The wheel's bytes. */
  readonly wheel: Buffer;
}

/** The sections of pyproject.toml the wheel needs; a minimal reader of flat TOML tables. */
interface Pyproject {
  name: string;
  version: string;
  dependencies: string[];
  scripts: Record<string, string>;
}

function readPyproject(file: string): Pyproject {
  const text = fs.readFileSync(file, "utf8");
  const section = (header: string): string => {
    const start = text.indexOf(`\n[${header}]\n`);
    if (start < 0) throw new Error(`${file}: no [${header}] table`);
    const body = text.slice(start + header.length + 4);
    const next = body.search(/^\[/m);
    return next < 0 ? body : body.slice(0, next);
  };
  const project = section("project");
  const str = (key: string): string => {
    const m = new RegExp(`^${key}\\s*=\\s*"([^"]*)"`, "m").exec(project);
    if (!m) throw new Error(`${file}: [project] has no ${key}`);
    return m[1];
  };
  const deps = /^dependencies\s*=\s*\[([\s\S]*?)\]/m.exec(project);
  const scripts = Object.fromEntries(
    [...section("project.scripts").matchAll(/^([\w.-]+)\s*=\s*"([^"]+)"/gm)].map((m) => [
      m[1],
      m[2],
    ]),
  );
  return {
    name: str("name"),
    version: str("version"),
    dependencies: deps ? [...deps[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]) : [],
    scripts,
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

// --- A deterministic zip writer (PKWARE APPNOTE, deflate, no extra fields). --------------------
// DOS date 1980-01-01 00:00:00, the earliest a zip can hold: builds never stamp the clock.
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

function zip(entries: readonly { name: string; data: Buffer }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const { name, data } of entries) {
    const nameBytes = Buffer.from(name, "utf8");
    const compressed = zlib.deflateRawSync(data, { level: 9 });
    const crc = zlib.crc32(data) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by: Unix, 2.0
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(DOS_TIME, 12);
    central.writeUInt16LE(DOS_DATE, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(compressed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38); // regular file, rw-r--r--
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, compressed);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + compressed.length;
  }
  const centralDir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralDir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, centralDir, end]);
}

const recordHash = (data: Buffer) =>
  `sha256=${crypto.createHash("sha256").update(data).digest("base64url")}`;

/**
 * Builds the wheel of the pipeline package in `pipelinesDir` (the folder holding pyproject.toml
 * and src/). Pure: reads files, writes nothing.
 */
export function buildPipelinePackage(pipelinesDir: string): PipelinePackage {
  const pyproject = readPyproject(path.join(pipelinesDir, "pyproject.toml"));
  const sha256 = contentHash(pipelinesDir);
  const fullVersion = `${pyproject.version}+${sha256.slice(0, 12)}`;
  const distInfo = `${PACKAGE_NAME}-${fullVersion}.dist-info`;
  const src = path.join(pipelinesDir, "src");
  const pkgDir = path.join(src, PACKAGE_NAME);
  if (!fs.existsSync(pkgDir)) throw new Error(`pipeline package not found at ${pkgDir}`);

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
    wheel,
  };
}
