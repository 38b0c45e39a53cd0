/**
 * Validates PBIP JSON files against the offline copy of Microsoft's json-schemas in
 * ../shared/schemas/powerbi (every file has an $id; $refs are relative and resolve inside it).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import Ajv, { ErrorObject } from "ajv";

export const SCHEMA_ROOT = path.resolve(__dirname, "../../../shared/schemas/powerbi");

let ajv: Ajv | undefined;

const PREFIX = "https://developer.microsoft.com/json-schemas/";

function load(): Ajv {
  if (ajv) return ajv;
  const instance = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) {
        walk(full);
        continue;
      }
      if (!e.name.endsWith(".json")) continue;
      const schema = JSON.parse(fs.readFileSync(full, "utf8")) as { $id?: string };
      const url = PREFIX + path.relative(SCHEMA_ROOT, full).split(path.sep).join("/");
      if (schema.$id === url) {
        instance.addSchema(schema);
      } else {
        // schema-embedded.json repeats the $id of its sibling schema.json: key it by its own URL.
        delete schema.$id;
        instance.addSchema(schema, url);
      }
    }
  };
  walk(path.join(SCHEMA_ROOT, "fabric"));
  ajv = instance;
  return ajv;
}

/** Errors of a JSON document against the schema its "$schema" names ([] when valid). */
export function schemaErrors(doc: unknown): string[] {
  const url = (doc as { $schema?: unknown })?.$schema;
  if (typeof url !== "string") return ['no "$schema" property'];
  const validate = load().getSchema(url);
  if (!validate) return [`schema ${url} is not in ${SCHEMA_ROOT}`];
  return validate(doc)
    ? []
    : (validate.errors ?? []).map((e: ErrorObject) => `${e.instancePath || "/"} ${e.message ?? ""}`);
}
