/**
 * The checks of Node-RED's scorecard (`node-red-dev validate`, node-red/node-red-dev-cli,
 * src/libs/check{package,nodes,deps}.js) that can run offline, on package.json, the editor
 * files, examples/ and package-lock.json. The tool itself stops offline: it asks the npm
 * registry and the flow catalogue. What is knowingly not checked here is listed in the README
 * ("Node-RED scorecard").
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";

const root = process.cwd();

interface PackageJson {
  name: string;
  license?: string;
  repository?: { type?: string; url?: string } | string;
  bugs?: { url?: string } | string;
  keywords?: string[];
  engines?: { node?: string };
  dependencies?: Record<string, string>;
  "node-red"?: { version?: string; nodes?: Record<string, string> };
}

interface LockEntry {
  version?: string;
  dev?: boolean;
  devOptional?: boolean;
  optional?: boolean;
  deprecated?: string | boolean;
}

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as PackageJson;

/** Latest Node-RED (5.x) needs Node >= 22.9.0; 4.x is the maintenance line (field notes §5). */
const NODE_RED_LINES = ["4.0.0", "4.1.15", "5.0.0"];
const LATEST_NODE_RED_MIN_NODE = "22.9.0";
/** node-red-dev's badpackages.json: packages known to break Node-RED, with the bad range. */
const BAD_PACKAGES: Record<string, (version: string) => boolean> = { "agent-base": (v) => compareVersions(v, "6.0.0") < 0 };

function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The only range form the package uses: ">=x.y[.z]". Anything else fails loudly. */
function satisfiesMinimum(version: string, range: string): boolean {
  const match = /^>=\s*(\d+(?:\.\d+){0,2})$/.exec(range.trim());
  assert.ok(match, `range "${range}" is of the form >=x.y.z`);
  return compareVersions(version, match[1] as string) >= 0;
}

/** The editor's `<script type="text/javascript">` blocks, found as node-red-dev finds them. */
function editorScripts(html: string): string[] {
  return [...html.matchAll(/<script.+?type=['"]text\/javascript['"].*?>([\S\s]*?)<\/script>/gi)].map((m) => m[1] as string);
}

interface TypeDefinition {
  type: string;
  /** Properties node-red-dev reads from the source and requires to be literals. */
  literals: Record<string, ts.Expression>;
}

/** registerType("<literal>", { ... }) calls, parsed with the TypeScript compiler's JS parser. */
function registeredTypes(script: string): TypeDefinition[] {
  const file = ts.createSourceFile("editor.js", script, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const found: TypeDefinition[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && node.expression.name.text === "registerType") {
      const [typeArg, defArg] = node.arguments;
      assert.ok(typeArg && ts.isStringLiteral(typeArg), "registerType's first argument is a string literal");
      assert.ok(defArg && ts.isObjectLiteralExpression(defArg), `${typeArg.text}: the definition is an inline object`);
      const literals: Record<string, ts.Expression> = {};
      for (const prop of defArg.properties) {
        if (ts.isPropertyAssignment(prop) && ts.isIdentifier(prop.name)) literals[prop.name.text] = prop.initializer;
      }
      found.push({ type: typeArg.text, literals });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

function isLiteral(expr: ts.Expression | undefined): boolean {
  return expr !== undefined && (ts.isStringLiteral(expr) || ts.isNumericLiteral(expr) || ts.isNoSubstitutionTemplateLiteral(expr));
}

/** Every file under a folder, as node-red-dev's getAllFiles walks examples/. */
function allFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? allFiles(path) : [path];
  });
}

describe("Node-RED scorecard (node-red-dev validate, offline checks)", function () {
  const definitions = Object.values(pkg["node-red"]?.nodes ?? {}).flatMap((js) =>
    editorScripts(readFileSync(join(root, "src", "nodes", js.replace(/^dist\/nodes\//, "").replace(/\.js$/, ".html")), "utf8")).flatMap(registeredTypes),
  );

  it("P01: names its licence and ships the licence text", function () {
    assert.equal(pkg.license, "Apache-2.0");
    const text = readFileSync(join(root, "LICENSE"), "utf8");
    assert.match(text, /Apache License\s+Version 2\.0, January 2004/);
    assert.match(text, /END OF TERMS AND CONDITIONS/);
  });

  it("P02/P03: gives a git repository and a bugs URL that name this package", function () {
    const repo = typeof pkg.repository === "string" ? pkg.repository : pkg.repository?.url;
    assert.ok(repo, "repository.url is set");
    // node-red-dev's isGitUrl, then the repository's own name must be the package name.
    assert.match(repo, /(?:git|ssh|https?|git@[-\w.]+):(\/\/)?(.*?)(\/?|#[-\d\w._]+?)$/);
    assert.match(repo, new RegExp(`/${pkg.name}(\\.git)?$`));
    const bugs = typeof pkg.bugs === "string" ? pkg.bugs : pkg.bugs?.url;
    assert.match(bugs ?? "", /^https:\/\/.+\/issues$/);
  });

  it("P04: an unscoped name uses the node-red-contrib- prefix", function () {
    const scoped = /^@[a-z\d][\w-.]+\/[a-z\d][\w-.]*$/.test(pkg.name);
    assert.ok(scoped || /^node-red-contrib-[a-z\d][a-z\d-]*$/.test(pkg.name), `${pkg.name} is scoped or node-red-contrib-*`);
  });

  it("P05: has the node-red keyword", function () {
    assert.ok(pkg.keywords?.includes("node-red"));
  });

  it("P06: node-red.version admits the latest and the maintenance Node-RED line", function () {
    const range = pkg["node-red"]?.version ?? "";
    for (const version of NODE_RED_LINES) assert.ok(satisfiesMinimum(version, range), `Node-RED ${version} satisfies ${range}`);
  });

  it("P07: engines.node admits the minimum Node.js of the latest Node-RED", function () {
    assert.ok(satisfiesMinimum(LATEST_NODE_RED_MIN_NODE, pkg.engines?.node ?? ""), `Node ${LATEST_NODE_RED_MIN_NODE} satisfies ${pkg.engines?.node}`);
  });

  it("N01 (offline part): node types are namespaced and each html registers literal category, colour, icon, inputs and outputs", function () {
    assert.equal(definitions.length, Object.keys(pkg["node-red"]?.nodes ?? {}).length, "one registerType per node file");
    for (const def of definitions) {
      assert.match(def.type, /^defect-/);
      // node-red-dev reports "<prop>-not-inline" for anything but a literal here.
      for (const prop of ["category", "color", "icon", "inputs", "outputs"]) {
        assert.ok(isLiteral(def.literals[prop]), `${def.type}: ${prop} is a literal`);
      }
    }
  });

  it("N02: every file under examples/ is a flow, and every non-config node is in one", function () {
    const files = allFiles(join(root, "examples"));
    assert.ok(files.length > 0);
    const used = new Set<string>();
    for (const file of files) {
      const flow = JSON.parse(readFileSync(file, "utf8")) as unknown;
      assert.ok(Array.isArray(flow), `${file} holds a flow (node-red-dev parses every file there)`);
      for (const n of flow as Array<{ type?: string }>) if (typeof n.type === "string") used.add(n.type);
    }
    const nonConfig = definitions.filter(
      (d) => !(ts.isStringLiteral(d.literals["category"] as ts.Expression) && (d.literals["category"] as ts.StringLiteral).text === "config"),
    );
    for (const def of nonConfig) assert.ok(used.has(def.type), `${def.type} appears in an example`);
  });

  it("D01: at most 6 runtime dependencies, pinned exactly", function () {
    const deps = Object.entries(pkg.dependencies ?? {});
    assert.ok(deps.length <= 6, `${deps.length} dependencies`);
    for (const [name, range] of deps) assert.match(range, /^\d+\.\d+\.\d+$/, `${name} is pinned`);
  });

  it("D02: no known-bad and no deprecated package in the runtime dependency tree (package-lock)", function () {
    const lockPath = join(root, "package-lock.json");
    assert.ok(existsSync(lockPath), "package-lock.json is committed");
    const lock = JSON.parse(readFileSync(lockPath, "utf8")) as { packages: Record<string, LockEntry> };
    const runtime = Object.entries(lock.packages).filter(([path, entry]) => path !== "" && entry.dev !== true);
    assert.ok(runtime.length >= Object.keys(pkg.dependencies ?? {}).length, "the lock lists the runtime tree");
    for (const [path, entry] of runtime) {
      const name = path.replace(/^.*node_modules\//, "");
      assert.ok(entry.deprecated === undefined, `${name}@${entry.version} is deprecated: ${String(entry.deprecated)}`);
      const bad = BAD_PACKAGES[name];
      assert.ok(bad === undefined || entry.version === undefined || !bad(entry.version), `${name}@${entry.version} is on node-red-dev's bad list`);
    }
  });
});
