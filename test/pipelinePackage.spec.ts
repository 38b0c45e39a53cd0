import { expect } from "chai";
import { spawnSync } from "child_process";
import { unzipSync } from "fflate";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { buildPipelinePackage } from "../components/pipelinePackage";

const ROOT = path.resolve(__dirname, "..");
const PYTHON = path.join(ROOT, ".venv", "bin", "python");

/** A copy of `pipelines/` (sources and pyproject.toml only) in a temp folder. */
function copyPackage(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oms-pkg-"));
  fs.cpSync(path.join(ROOT, "pipelines", "src"), path.join(dir, "src"), {
    recursive: true,
    filter: (p) => !p.includes("__pycache__") && !p.endsWith(".egg-info"),
  });
  fs.copyFileSync(path.join(ROOT, "pipelines", "pyproject.toml"), path.join(dir, "pyproject.toml"));
  return dir;
}

interface WheelView {
  /** Files outside `.dist-info/`, sorted. */
  files: string[];
  name: string;
  extras: string[];
  requires: string[];
  scripts: Record<string, string>;
}

/** What both builders must agree on, read from a wheel's bytes. */
function view(wheel: Uint8Array): WheelView {
  const entries = unzipSync(wheel);
  const names = Object.keys(entries);
  const distInfo = names.find((n) => n.endsWith(".dist-info/METADATA"))!.split("/")[0];
  const text = (file: string) => Buffer.from(entries[`${distInfo}/${file}`]).toString("utf8");
  const header = (key: string) =>
    text("METADATA")
      .split("\n")
      .filter((l) => l.startsWith(`${key}: `))
      .map((l) => l.slice(key.length + 2).trim());
  const scripts: Record<string, string> = Object.fromEntries(
    text("entry_points.txt")
      .split("[console_scripts]")[1]
      .split(/\n\[/)[0]
      .split("\n")
      .filter((l) => l.includes("="))
      .map((l): [string, string] => {
        const [key, value] = l.split("=").map((s) => s.trim());
        return [key, value];
      }),
  );
  return {
    files: names.filter((n) => !n.startsWith(distInfo)).sort(),
    name: header("Name")[0],
    extras: header("Provides-Extra").sort(),
    // Spelling that PEP 508 allows either way (spaces, quote style) is not a difference.
    requires: header("Requires-Dist")
      .map((r) => r.replace(/\s+/g, "").replace(/'/g, '"'))
      .sort(),
    scripts,
  };
}

/** The wheel of `dir` as the package's own build backend (pyproject's build-system) makes it. */
function backendWheel(dir: string): Uint8Array {
  const out = path.join(dir, "dist");
  const pip = spawnSync(
    PYTHON,
    ["-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", out, dir],
    { encoding: "utf8" },
  );
  expect(pip.status, `pip wheel (${PYTHON}): ${pip.stderr}`).to.equal(0);
  const [file] = fs.readdirSync(out).filter((f) => f.endsWith(".whl"));
  return fs.readFileSync(path.join(out, file));
}

describe("pipeline package wheel", function () {
  let dir: string;
  beforeEach(() => (dir = copyPackage()));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("holds the files, name, requirements and entry points the build backend puts in its wheel", () => {
    // A requirement with extras and a marker: a `]` or `;` inside it must not cut the list.
    const pyproject = path.join(dir, "pyproject.toml");
    fs.writeFileSync(
      pyproject,
      fs
        .readFileSync(pyproject, "utf8")
        .replace(
          /^dependencies = \[\n/m,
          `dependencies = [\n    "requests[socks]>=2.32; python_version >= '3.11'",\n`,
        ),
    );
    const ours = view(buildPipelinePackage(dir).wheel);
    const theirs = view(backendWheel(dir));
    expect(ours.files).to.deep.equal(theirs.files);
    expect(ours.name).to.equal(theirs.name);
    expect(ours.extras).to.deep.equal(theirs.extras).and.to.include("dev");
    expect(ours.scripts).to.deep.equal(theirs.scripts);
    // Spark and Delta come with the Databricks runtime and are left out on purpose.
    const runtime = theirs.requires.filter((r) => /^(pyspark|delta-spark)\b/.test(r));
    expect(runtime).to.have.length(2);
    expect(ours.requires).to.deep.equal(theirs.requires.filter((r) => !runtime.includes(r)));
    expect(ours.requires).to.include('requests[socks]>=2.32;python_version>="3.11"');
  });

  it("names the key and the type it needs when pyproject.toml is not what the wheel needs", () => {
    const pyproject = path.join(dir, "pyproject.toml");
    const original = fs.readFileSync(pyproject, "utf8");
    fs.writeFileSync(pyproject, original.replace(/^version = .*$/m, "version = 1"));
    expect(() => buildPipelinePackage(dir)).to.throw(/\[project\] version must be a string/);
    fs.writeFileSync(pyproject, original.replace(/^\[project\.scripts\]/m, "[project.scripts"));
    expect(() => buildPipelinePackage(dir)).to.throw(/pyproject\.toml: not valid TOML/);
  });
});
