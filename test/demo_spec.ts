/**
 * The README's main command: `npm start` serves the editor on 127.0.0.1 with the package's
 * nodes loaded and the demo flow learning good parts and scoring the production line. Runs the
 * real demo script on a free port with a throw-away user directory.
 */
import assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";

const root = process.cwd();
const STARTUP_LIMIT_MS = 60_000;
const RESULTS_LIMIT_MS = 90_000;
const RETRY_MS = 3_000;

interface NodeSet {
  id: string;
  module: string;
  types: string[];
  enabled: boolean;
  err?: string;
}

interface DebugEvent {
  topic: string;
  data: { id: string; msg: string; format: string };
}

interface FlowNode {
  id: string;
  type: string;
  name?: string;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitForNodes(port: number, child: ChildProcess): Promise<NodeSet[]> {
  const deadline = Date.now() + STARTUP_LIMIT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`demo exited early with code ${child.exitCode}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/nodes`, { headers: { Accept: "application/json" } });
      if (res.ok) return (await res.json()) as NodeSet[];
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  throw new Error("the demo did not serve /nodes in time");
}

describe("demo (npm start)", function () {
  this.timeout(STARTUP_LIMIT_MS + RESULTS_LIMIT_MS + 20_000);
  let child: ChildProcess | undefined;
  let userDir = "";
  let output = "";

  before(function () {
    userDir = mkdtempSync(join(tmpdir(), "defect-demo-"));
  });

  after(async function () {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child?.once("exit", r));
      child.kill("SIGINT");
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    rmSync(userDir, { recursive: true, force: true });
  });

  it("serves the editor with the nodes loaded, learns the good parts and scores defects above good parts", async function () {
    const port = await freePort();
    child = spawn(process.execPath, [join(root, "scripts", "demo.mjs")], {
      cwd: root,
      env: { ...process.env, PORT: String(port), DEMO_USER_DIR: userDir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (output += d.toString()));

    const sets = await waitForNodes(port, child).catch((err: Error) => {
      throw new Error(`${err.message}\n--- demo output ---\n${output}`);
    });
    const ours = sets.filter((s) => s.module === "node-red-contrib-defect-detection");
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { "node-red": { nodes: Record<string, string> } };
    assert.deepEqual(ours.flatMap((s) => s.types).sort(), Object.keys(pkg["node-red"].nodes).sort());
    for (const set of ours) {
      assert.equal(set.err, undefined, `${set.id} loads without error`);
      assert.ok(set.enabled, `${set.id} enabled`);
    }
    assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 200);

    const flows = JSON.parse(readFileSync(join(userDir, "flows.json"), "utf8")) as FlowNode[];
    const inspect = flows.find((n) => n.type === "inject" && n.name === "inspect the line");
    assert.ok(inspect, "the demo flow has an 'inspect the line' button");

    const results = new Map<string, { label: string; score: number }>();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/comms`);
    ws.on("message", (raw: WebSocket.Data) => {
      for (const event of ([] as DebugEvent[]).concat(JSON.parse(raw.toString()) as DebugEvent | DebugEvent[])) {
        if (event.topic !== "debug" || event.data.format !== "Object") continue;
        const shown = JSON.parse(event.data.msg) as { file?: string; label?: string; score?: number };
        if (typeof shown.file === "string" && typeof shown.score === "number") results.set(shown.file, { label: shown.label ?? "", score: shown.score });
      }
    });
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once("open", () => resolve());
        ws.once("error", reject);
      });
      ws.send(JSON.stringify({ subscribe: "debug" }));
      // The detector learns its train folder at deploy; until it has, inspections are answered
      // with "not trained" errors, so press the button again until every part has a score.
      const deadline = Date.now() + RESULTS_LIMIT_MS;
      while (results.size < 30 && Date.now() < deadline) {
        assert.equal((await fetch(`http://127.0.0.1:${port}/inject/${inspect.id}`, { method: "POST" })).status, 200);
        const pressed = Date.now();
        while (results.size < 30 && Date.now() - pressed < RETRY_MS) await sleep(100);
      }
    } finally {
      ws.close();
    }
    assert.equal(results.size, 30, `every part of the line is scored\n${output}`);
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const good = [...results.values()].filter((r) => r.label === "good").map((r) => r.score);
    const bad = [...results.values()].filter((r) => r.label !== "good").map((r) => r.score);
    assert.ok(good.length > 0 && bad.length > 0);
    assert.ok(mean(bad) > mean(good), `defective parts score higher on average (${mean(bad)} vs ${mean(good)})`);
  });
});
