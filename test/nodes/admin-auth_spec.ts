/**
 * Every admin HTTP endpoint the package adds, against a real Node-RED runtime with adminAuth on
 * (test/fixtures/admin-runtime.ts, a child process on 127.0.0.1): the routes are taken from the
 * running admin app as the package's nodes registered them, so a new route without a case here
 * fails this spec. For each route: no token -> 401; a user without the permission -> 401 (Node-RED
 * answers a missing permission with 401 too); a user with it -> the endpoint's answer. Node ids
 * in the URL only look up deployed nodes: an id shaped like a path finds nothing.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

interface RecordedRoute {
  app: "admin" | "node";
  method: string;
  path: string;
  fromPackage: boolean;
}

interface RouteCase {
  /** The route with its :id filled in. */
  url: string;
  body?: Record<string, unknown>;
  permission: "read" | "write";
  /** The permission the route declares; a user holding only this one is served. */
  scope: string;
  /** What a user with the permission sees: status and a check of the JSON answer. */
  expect: (status: number, body: Record<string, unknown>) => void;
}

const STARTUP_LIMIT_MS = 60_000;
const DEPLOY_LIMIT_MS = 30_000;
const POLL_MS = 200;
const DETECTOR = "d1";
const THRESHOLD = "t1";
const REGIONS = "r1";

const USERS = [
  { username: "admin", password: "admin-pass", permissions: "*" },
  { username: "viewer", password: "viewer-pass", permissions: "read" },
];

/** One user per permission the package declares, holding only that permission. */
const scopedUser = (scope: string): string => `only-${scope}`;

/** One case per route the package serves; a route missing here is a test failure. */
const CASES: Record<string, RouteCase> = {
  "GET /defect-detector/:id/state": {
    url: `/defect-detector/${DETECTOR}/state`,
    permission: "read",
    scope: "defect-detector.read",
    expect: (status, body) => {
      assert.equal(status, 200);
      assert.equal(typeof body["learning"], "boolean", JSON.stringify(body));
    },
  },
  "POST /defect-detector/:id/learning": {
    url: `/defect-detector/${DETECTOR}/learning`,
    body: { action: "stop" },
    permission: "write",
    scope: "defect-detector.write",
    expect: (status, body) => {
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body["learning"], false);
    },
  },
  "POST /defect-threshold/:id/calibrate": {
    url: `/defect-threshold/${THRESHOLD}/calibrate`,
    body: { action: "reset" },
    permission: "write",
    scope: "defect-threshold.write",
    expect: (status, body) => assert.equal(status, 200, JSON.stringify(body)),
  },
  // The dialogs' file hints: the user directory's flows file exists once the flow is deployed.
  "GET /defect-detection/file-check": {
    url: "/defect-detection/file-check?path=flows.json",
    permission: "write",
    // Deploying flows already allows reading any file, so the probe needs exactly that.
    scope: "flows.write",
    expect: (status, body) => {
      assert.equal(status, 200, JSON.stringify(body));
      assert.deepEqual([body["exists"], body["kind"]], [true, "file"], JSON.stringify(body));
    },
  },
  // The overlay preview: deployed but nothing inspected yet is 204 (its size limits are in
  // mask-to-region-preview_spec.ts, for src/nodes/mask-to-region-admin.ts).
  "GET /defect-mask-to-region/:id/preview": {
    url: `/defect-mask-to-region/${REGIONS}/preview`,
    permission: "read",
    scope: "defect-mask-to-region.read",
    expect: (status, body) => assert.equal(status, 204, JSON.stringify(body)),
  },
};

const FLOWS = [
  { id: "tab1", type: "tab", label: "admin" },
  // The values the editor saves by default (an embedded-backbone PatchCore that learns on the line).
  {
    id: DETECTOR,
    type: "defect-detector",
    z: "tab1",
    x: 100,
    y: 100,
    setting: "unsupervised",
    method: "patchcore",
    backbone: "embedded",
    layers: "stage2,stage3",
    trainCount: "2",
    learning: true,
    wires: [[]],
  },
  { id: THRESHOLD, type: "defect-threshold", z: "tab1", x: 300, y: 100, mode: "fixed", threshold: "0.5", wires: [[]] },
  { id: REGIONS, type: "defect-mask-to-region", z: "tab1", x: 500, y: 100, overlay: "jpeg", wires: [[]] },
];

const routeKey = (route: RecordedRoute): string => `${route.method} ${route.path}`;

function startRuntime(configPath: string): { child: ChildProcess; ready: Promise<{ port: number; routes: RecordedRoute[] }> } {
  const child = spawn(process.execPath, [join(__dirname, "..", "fixtures", "admin-runtime.js"), configPath], {
    cwd: process.cwd(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const ready = new Promise<{ port: number; routes: RecordedRoute[] }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Node-RED did not start in time: ${stderr}`)), STARTUP_LIMIT_MS);
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split("\n").find((l) => l.startsWith("{"));
      if (line === undefined) return;
      clearTimeout(timer);
      resolve(JSON.parse(line) as { port: number; routes: RecordedRoute[] });
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`Node-RED exited with code ${String(code)}: ${stderr}`));
    });
  });
  return { child, ready };
}

describe("admin endpoints with adminAuth on (real Node-RED runtime)", function () {
  this.timeout(STARTUP_LIMIT_MS + DEPLOY_LIMIT_MS);
  let child: ChildProcess | undefined;
  let userDir = "";
  let base = "";
  let routes: RecordedRoute[] = [];
  const tokens = new Map<string, string>();

  async function call(
    url: string,
    options: { method: string; token?: string; body?: Record<string, unknown> },
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (options.token !== undefined) headers["authorization"] = `Bearer ${options.token}`;
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(`${base}${url}`, {
      method: options.method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      body = { text };
    }
    return { status: res.status, body };
  }

  async function login(username: string, password: string, scope: string): Promise<string> {
    const res = await fetch(`${base}/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_id: "node-red-admin", grant_type: "password", scope, username, password }),
    });
    assert.equal(res.status, 200, `login of ${username}`);
    const body = (await res.json()) as { access_token?: string };
    assert.ok(typeof body.access_token === "string", `a token for ${username}`);
    return body.access_token;
  }

  before(async function () {
    userDir = mkdtempSync(join(tmpdir(), "defect-admin-"));
    writeFileSync(join(userDir, "flows.json"), JSON.stringify(FLOWS));
    const configPath = join(userDir, "runtime.json");
    const scoped = [...new Set(Object.values(CASES).map((c) => c.scope))].map((scope) => ({
      username: scopedUser(scope),
      password: `${scope}-pass`,
      permissions: scope,
    }));
    writeFileSync(configPath, JSON.stringify({ userDir, users: [...USERS, ...scoped] }));
    const runtime = startRuntime(configPath);
    child = runtime.child;
    const started = await runtime.ready;
    base = `http://127.0.0.1:${started.port}`;
    routes = started.routes;
    tokens.set("admin", await login("admin", "admin-pass", "*"));
    tokens.set("viewer", await login("viewer", "viewer-pass", "read"));
    for (const user of scoped) tokens.set(user.username, await login(user.username, user.password, user.permissions));
    // The flow starts after the runtime answers; wait until both nodes are deployed.
    const deadline = Date.now() + DEPLOY_LIMIT_MS;
    for (;;) {
      const state = await call(CASES["GET /defect-detector/:id/state"]!.url, { method: "GET", token: tokens.get("admin") });
      if (state.status === 200) break;
      if (Date.now() > deadline) throw new Error(`the detector was not deployed in time: ${state.status} ${JSON.stringify(state.body)}`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  });

  after(async function () {
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    if (userDir !== "") rmSync(userDir, { recursive: true, force: true });
  });

  it("finds the package's routes in the running admin app, each with a case here, and none on the node app", function () {
    const ours = routes.filter((route) => route.fromPackage);
    assert.ok(ours.length > 0, "the recorder saw the package's routes");
    assert.deepEqual(ours.filter((route) => route.app === "node").map(routeKey), [], "no unauthenticated httpNode route");
    const keys = ours.map(routeKey).sort();
    assert.deepEqual(keys, Object.keys(CASES).sort(), "every package route has a case, and every case a route");
    assert.ok(
      routes.some((route) => !route.fromPackage),
      "routes of Node-RED's own nodes are told apart",
    );
  });

  it("answers 401 to a request without a token, on every route", async function () {
    for (const [key, route] of Object.entries(CASES)) {
      const res = await call(route.url, { method: key.split(" ")[0]!, body: route.body });
      assert.equal(res.status, 401, key);
    }
  });

  it("answers 401 to a token that is not valid", async function () {
    for (const [key, route] of Object.entries(CASES)) {
      const res = await call(route.url, { method: key.split(" ")[0]!, body: route.body, token: "not-a-token" });
      assert.equal(res.status, 401, key);
    }
  });

  it("lets a read-only user read, and refuses every write route with 401 without acting", async function () {
    for (const [key, route] of Object.entries(CASES)) {
      const res = await call(route.url, { method: key.split(" ")[0]!, body: route.body, token: tokens.get("viewer") });
      if (route.permission === "read") route.expect(res.status, res.body);
      else assert.equal(res.status, 401, key);
    }
    // The refused "stop" did not happen: learning is still on.
    const state = await call(CASES["GET /defect-detector/:id/state"]!.url, { method: "GET", token: tokens.get("viewer") });
    assert.equal(state.body["learning"], true);
  });

  it("serves every route to a user with full permissions", async function () {
    for (const [key, route] of Object.entries(CASES)) {
      const res = await call(route.url, { method: key.split(" ")[0]!, body: route.body, token: tokens.get("admin") });
      route.expect(res.status, res.body);
    }
  });

  it("treats the id as a node id, never a path: path-shaped and unknown ids find nothing", async function () {
    for (const id of ["..%2F..%2Fetc%2Fpasswd", "..", "%2Fetc%2Fpasswd", "no-such-node", "tab1"]) {
      const res = await call(`/defect-detector/${id}/state`, { method: "GET", token: tokens.get("admin") });
      assert.ok(res.status === 404, `${id}: ${res.status}`);
    }
    const res = await call(`/defect-threshold/${DETECTOR}/calibrate`, { method: "POST", body: { action: "reset" }, token: tokens.get("admin") });
    assert.equal(res.status, 404, "a detector's id is not a threshold");
  });

  it("checks each route's own permission: a user holding only it is served there and refused everywhere else", async function () {
    for (const holder of Object.values(CASES)) {
      const token = tokens.get(scopedUser(holder.scope));
      for (const [key, route] of Object.entries(CASES)) {
        const res = await call(route.url, { method: key.split(" ")[0]!, body: route.body, token });
        if (route.scope === holder.scope) route.expect(res.status, res.body);
        else assert.equal(res.status, 401, `${key} with only ${holder.scope}`);
      }
    }
  });
});
