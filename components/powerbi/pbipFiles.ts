import * as fs from "node:fs";
import * as path from "node:path";
import type { PbipPart } from "./definition";

/** Extensions read as UTF-8 text; everything else (images, fonts) is passed as base64. */
const TEXT_EXTENSIONS = new Set([
  ".tmdl",
  ".json",
  ".pbir",
  ".pbism",
  ".platform",
  ".bim",
  ".dax",
  ".m",
  ".md",
  ".txt",
  ".xml",
  ".csv",
]);

/**
 * Reads a PBIP item folder (e.g. `powerbi/Oms.SemanticModel`) into parts with "/"-separated
 * paths relative to it, sorted, so the stack can pass them to SemanticModel / Report. Local-only
 * files (.pbi/, .platform) are kept here and dropped by the providers, so one rule decides.
 * This is the only file of the module that touches the disk, and it runs at program time, not
 * inside a provider.
 */
export function readPbipItem(folder: string): PbipPart[] {
  if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) {
    throw new Error(`PBIP item folder ${folder} does not exist (expected e.g. powerbi/Oms.SemanticModel).`);
  }
  const parts: PbipPart[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(full);
        continue;
      }
      const rel = path.relative(folder, full).split(path.sep).join("/");
      const ext = entry.name === ".platform" ? ".platform" : path.extname(entry.name).toLowerCase();
      parts.push(
        TEXT_EXTENSIONS.has(ext)
          ? { path: rel, content: fs.readFileSync(full, "utf8") }
          : { path: rel, content: fs.readFileSync(full).toString("base64"), encoding: "base64" },
      );
    }
  };
  walk(folder);
  return parts.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
