/**
 * The component type tokens the project declares, read from the source of `components/`: the
 * first argument of `super(...)` in each class that extends `pulumi.ComponentResource`. Specs
 * check recorded component types against this list, so a new component (or a new module) needs
 * no edit to a hand-kept list, while a token that breaks the convention is still rejected.
 */
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";

/** The convention for a component type token (CONVENTIONS.md §2): `oms:<module>:<Name>`. */
export const COMPONENT_TYPE = /^oms:([a-z]+):([A-Z][A-Za-z]*)$/;

/** A component class and the type token it registers. */
export interface DeclaredComponent {
  /** The type token, e.g. `oms:storage:LakehouseStorage`. */
  readonly type: string;
  /** Class name. */
  readonly className: string;
  /** Source file, relative to the scanned folder. */
  readonly file: string;
}

/** `.ts` files below `dir`, sorted, relative to it. */
function sourceFiles(dir: string, under = ""): string[] {
  return fs
    .readdirSync(path.join(dir, under), { withFileTypes: true })
    .flatMap((entry) => {
      const rel = path.join(under, entry.name);
      if (entry.isDirectory()) return sourceFiles(dir, rel);
      return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [rel] : [];
    })
    .sort();
}

const extendsComponentResource = (node: ts.ClassDeclaration): boolean =>
  (node.heritageClauses ?? []).some(
    (clause) =>
      clause.token === ts.SyntaxKind.ExtendsKeyword &&
      clause.types.some((t) => /(^|\.)ComponentResource$/.test(t.expression.getText())),
  );

/** The first `super(...)` call in a constructor body. */
function superCall(body: ts.Node): ts.CallExpression | undefined {
  let found: ts.CallExpression | undefined;
  const visit = (node: ts.Node): void => {
    if (found) return;
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.SuperKeyword) {
      found = node;
      return;
    }
    ts.forEachChild(node, visit);
  };
  visit(body);
  return found;
}

/**
 * Every component class under `dir` (default: the project's `components/`) with its type token.
 *
 * @throws Error naming the file and class when a component's token is not a string literal (it
 *   cannot be checked) or does not follow `oms:<module>:<Name>` (lowercase module, PascalCase
 *   name).
 */
export function declaredComponents(
  dir: string = path.resolve(__dirname, "..", "components"),
): DeclaredComponent[] {
  const declared: DeclaredComponent[] = [];
  for (const file of sourceFiles(dir)) {
    const source = ts.createSourceFile(
      file,
      fs.readFileSync(path.join(dir, file), "utf8"),
      ts.ScriptTarget.ES2022,
      true,
    );
    const visit = (node: ts.Node): void => {
      if (ts.isClassDeclaration(node) && extendsComponentResource(node)) {
        const className = node.name?.text ?? "(anonymous)";
        const ctor = node.members.find(ts.isConstructorDeclaration);
        const token = ctor?.body && superCall(ctor.body)?.arguments[0];
        if (!token || !ts.isStringLiteralLike(token)) {
          throw new Error(
            `${file}: component ${className} must pass its type token to super() as a string literal`,
          );
        }
        if (!COMPONENT_TYPE.test(token.text)) {
          throw new Error(
            `${file}: component ${className} registers type ${JSON.stringify(token.text)}; ` +
              `allowed: oms:<module>:<Name> (module lowercase letters, Name PascalCase letters)`,
          );
        }
        declared.push({ type: token.text, className, file });
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return declared;
}
