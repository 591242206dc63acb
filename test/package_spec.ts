/**
 * Guards the layout Node-RED needs at run time (html, locales and icons beside each compiled
 * node) and that every example flow only uses node types that exist. Runs after `npm run build`.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

const root = process.cwd();

interface PackageJson {
  name: string;
  engines?: { node?: string };
  files?: string[];
  keywords?: string[];
  dependencies?: Record<string, string>;
  "node-red"?: { version?: string; nodes?: Record<string, string> };
}

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as PackageJson;
const nodeEntries = Object.entries(pkg["node-red"]?.nodes ?? {});

/** Types registered by Node-RED's own core nodes, read from their editor files. */
function coreNodeTypes(): Set<string> {
  const coreDir = join(dirname(require.resolve("@node-red/nodes/package.json")), "core");
  const types = new Set<string>(["tab", "group", "subflow", "junction"]);
  for (const category of readdirSync(coreDir)) {
    for (const file of readdirSync(join(coreDir, category))) {
      if (!file.endsWith(".html")) continue;
      const html = readFileSync(join(coreDir, category, file), "utf8");
      for (const match of html.matchAll(/registerType\(\s*['"]([^'"]+)['"]/g)) types.add(match[1] as string);
    }
  }
  return types;
}

/** Types our own editor files register. */
function ourNodeTypes(): Set<string> {
  const types = new Set<string>();
  for (const [, js] of nodeEntries) {
    const html = readFileSync(join(root, js.replace(/\.js$/, ".html")), "utf8");
    for (const match of html.matchAll(/registerType\(\s*['"]([^'"]+)['"]/g)) types.add(match[1] as string);
  }
  return types;
}

/**
 * PLC packages our alarm node writes through, and FlowFuse Dashboard 2.0 for the dashboard
 * example: examples may use their nodes, read from the installed packages' editor files, when
 * the example's comment names the package to install.
 */
const PEER_PACKAGES = ["node-red-contrib-modbus", "node-red-contrib-opcua", "@flowfuse/node-red-dashboard"] as const;

function peerNodeTypes(): Map<string, string> {
  const types = new Map<string, string>();
  for (const name of PEER_PACKAGES) {
    const dir = dirname(require.resolve(`${name}/package.json`));
    const peer = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as PackageJson;
    for (const js of Object.values(peer["node-red"]?.nodes ?? {})) {
      const html = readFileSync(join(dir, js.replace(/\.js$/, ".html")), "utf8");
      for (const match of html.matchAll(/registerType\(\s*['"]([^'"]+)['"]/g)) types.set(match[1] as string, name);
    }
  }
  return types;
}

describe("package layout", function () {
  it("declares the node-red section, engines, files and keywords", function () {
    assert.equal(pkg.name, "node-red-contrib-defect-detection");
    assert.equal(pkg["node-red"]?.version, ">=4.0.0");
    assert.ok(pkg.engines?.node, "engines.node is set");
    assert.ok(pkg.keywords?.includes("node-red"));
    assert.ok(pkg.files?.includes("dist") && pkg.files.includes("examples"));
    assert.ok(pkg.files?.includes("models") === true, "the embedded backbone's weights ship with the package");
    assert.ok(nodeEntries.length >= 2);
    assert.ok(Object.keys(pkg.dependencies ?? {}).length <= 6, "Node-RED's scorecard warns above 6 dependencies");
  });

  it("keeps the onnxruntime install skip in .npmrc so an offline npm ci works", function () {
    assert.match(readFileSync(join(root, ".npmrc"), "utf8"), /^onnxruntime-node-install=skip$/m);
  });

  for (const [type, js] of nodeEntries) {
    it(`ships ${type} with its .js, .html, locales and icon`, function () {
      assert.match(type, /^defect-/, "type ids are prefixed defect-");
      const jsPath = join(root, js);
      const base = basename(js, ".js");
      const dir = dirname(jsPath);
      assert.ok(existsSync(jsPath), `${js} exists`);
      const htmlPath = join(dir, `${base}.html`);
      assert.ok(existsSync(htmlPath), `${base}.html beside the js`);
      const catalogPath = join(dir, "locales", "en-US", `${base}.json`);
      assert.ok(existsSync(join(dir, "locales", "en-US", `${base}.html`)), "help html in locales/en-US");
      const catalog = JSON.parse(readFileSync(catalogPath, "utf8")) as Record<string, unknown>;
      assert.ok(catalog[type], `catalog ${base}.json has a "${type}" section`);

      const html = readFileSync(htmlPath, "utf8");
      assert.match(html, new RegExp(`registerType\\(\\s*['"]${type}['"]`));
      assert.match(html, /category:\s*['"]defect detection['"]/);
      const icon = /icon:\s*['"]([^'"]+)['"]/.exec(html)?.[1];
      assert.ok(icon, "the editor names an icon");
      assert.ok(existsSync(join(dir, "icons", icon)), `icon ${icon} beside the js`);
    });
  }
});

describe("examples", function () {
  const examplesDir = join(root, "examples");
  const files = readdirSync(examplesDir).filter((f) => f.endsWith(".json"));
  const known = new Set([...coreNodeTypes(), ...ourNodeTypes()]);
  const peers = peerNodeTypes();

  it("has at least one example flow", function () {
    assert.ok(files.length >= 1);
  });

  for (const file of files) {
    it(`${file} parses and uses only existing node types`, function () {
      const flow = JSON.parse(readFileSync(join(examplesDir, file), "utf8")) as Array<{ type: string; id: string; name?: string; info?: string }>;
      assert.ok(Array.isArray(flow) && flow.length > 0);
      const unknown = flow.map((n) => n.type).filter((t) => !known.has(t) && !peers.has(t) && !t.startsWith("subflow:"));
      assert.deepEqual(unknown, [], `unknown node types in ${file}`);
      const comments = flow.filter((n) => n.type === "comment");
      assert.ok(comments.length > 0, "each example explains itself with a comment node");
      const explained = comments.map((c) => `${c.name ?? ""} ${c.info ?? ""}`).join(" ");
      for (const peer of new Set(flow.map((n) => peers.get(n.type)).filter((p) => p !== undefined))) {
        assert.ok(explained.includes(peer), `${file} uses ${peer} nodes and its comment says to install ${peer}`);
      }
    });
  }

  it("uses every node type of the package in some example", function () {
    const used = new Set<string>();
    for (const file of files) {
      for (const n of JSON.parse(readFileSync(join(examplesDir, file), "utf8")) as Array<{ type: string }>) used.add(n.type);
    }
    for (const [type] of nodeEntries) assert.ok(used.has(type), `${type} appears in an example`);
  });
});
