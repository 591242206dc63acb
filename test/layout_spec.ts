/**
 * The folders say what runs where: src/lib and src/nodes are what a deployed flow runs; the
 * offline tools (evaluation, the rehearsal line, the synthetic generator, benchmarks) live in
 * src/offline beside the command line in src/cli, and nothing the nodes run imports them. The
 * message contract has one home, src/lib/message: nothing else reads or writes its properties.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import ts from "typescript";

function packageRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, "package.json")) || !existsSync(join(dir, "src"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package root above ${__dirname}`);
    dir = up;
  }
  return dir;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

/** Every relative module a file names: static, type-only, dynamic and require. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const found: string[] = [];
  for (const match of text.matchAll(/(?:from|import|require)\s*\(?\s*["'](\.{1,2}\/[^"']*)["']/g)) {
    found.push(resolve(dirname(file), match[1] as string));
  }
  return found;
}

/** The msg properties whose reading and writing src/lib/message owns (docs/messages.md). */
const OWNED_PROPERTIES = new Set(["transform", "anomalyMap", "mask", "timings", "image", "preprocessing", "queue", "result", "recipe"]);

/**
 * The package calls a message `msg` (or `message`) throughout, so a use of an owned property is
 * `msg.transform`, `msg?.transform`, `msg["transform"]` or `const { transform } = msg`. A
 * property of another object with the same name (`sample.transform`, a JSON file's
 * "transform") is not one; error texts that say "msg.transform" are strings, not uses.
 */
function isMessage(node: ts.Expression): boolean {
  return ts.isIdentifier(node) && (node.text === "msg" || node.text === "message");
}

/** Each use of an owned property on a message, and each isRecord defined, in one source file. */
function contractUses(file: string, text = readFileSync(file, "utf8")): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const at = (node: ts.Node, what: string): void => {
    found.push(`${source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1}: ${what}`);
  };
  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAccessExpression(node) && isMessage(node.expression) && OWNED_PROPERTIES.has(node.name.text)) {
      at(node, node.getText(source));
    } else if (
      ts.isElementAccessExpression(node) &&
      isMessage(node.expression) &&
      ts.isStringLiteralLike(node.argumentExpression) &&
      OWNED_PROPERTIES.has(node.argumentExpression.text)
    ) {
      at(node, node.getText(source));
    } else if (ts.isVariableDeclaration(node) && ts.isObjectBindingPattern(node.name) && node.initializer !== undefined && isMessage(node.initializer)) {
      for (const element of node.name.elements) {
        const name = element.propertyName ?? element.name;
        if ((ts.isIdentifier(name) || ts.isStringLiteral(name)) && OWNED_PROPERTIES.has(name.text)) at(element, `{ ${name.text} } = msg`);
      }
    } else if (
      (ts.isFunctionDeclaration(node) || ts.isVariableDeclaration(node)) &&
      node.name !== undefined &&
      ts.isIdentifier(node.name) &&
      node.name.text === "isRecord"
    ) {
      at(node, "defines isRecord");
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe("layout", function () {
  const root = packageRoot();
  const src = join(root, "src");

  for (const core of ["lib", "nodes"]) {
    it(`src/${core} imports nothing from src/offline or src/cli`, function () {
      const offenders = sources(join(src, core)).flatMap((file) =>
        importsOf(file)
          .filter((target) => [join(src, "offline"), join(src, "cli")].some((folder) => target === folder || target.startsWith(folder + sep)))
          .map((target) => `${relative(root, file)} -> ${relative(root, target)}`),
      );
      assert.deepEqual(offenders, []);
    });
  }

  it("leaves the message properties of docs/messages.md to src/lib/message, and has one isRecord", function () {
    const module = join(src, "lib", "message");
    const offenders = sources(src)
      .filter((file) => !file.startsWith(module + sep))
      .flatMap((file) => contractUses(file).map((use) => `${relative(root, file)}:${use}`));
    assert.deepEqual(offenders, []);
  });

  it("finds each way of reaching past src/lib/message (the check above checks something)", function () {
    const text = [
      "const a = msg.transform;",
      'msg["anomalyMap"] = map;',
      "delete msg?.mask;",
      "const { timings, image: img } = message;",
      "function isRecord(v: unknown) { return v; }",
      'const fine = [sample.transform, metadata["preprocessing"], "msg.queue must be", msg.payload];',
    ].join("\n");
    assert.deepEqual(contractUses("x.ts", text), [
      "1: msg.transform",
      '2: msg["anomalyMap"]',
      "3: msg?.mask",
      "4: { timings } = msg",
      "4: { image } = msg",
      "5: defines isRecord",
    ]);
  });

  it("keeps the offline tools in src/offline, not in src/lib", function () {
    for (const tool of ["eval", "line", "synth"]) {
      assert.equal(existsSync(join(src, "lib", tool)), false, `src/lib/${tool}`);
      assert.ok(existsSync(join(src, "offline", tool)), `src/offline/${tool}`);
    }
  });
});
