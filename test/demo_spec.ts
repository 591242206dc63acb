/**
 * The README's main command: `npm start` serves the editor on 127.0.0.1 with the package's
 * nodes loaded and the demo flow producing output. Runs the real demo script on a free port
 * with a throw-away user directory.
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
const OUTPUT_LIMIT_MS = 30_000;

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
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error("the demo did not serve /nodes in time");
}

describe("demo (npm start)", function () {
  this.timeout(STARTUP_LIMIT_MS + OUTPUT_LIMIT_MS + 10_000);
  let child: ChildProcess | undefined;
  let userDir = "";
  let output = "";

  before(async function () {
    userDir = mkdtempSync(join(tmpdir(), "defect-demo-"));
  });

  after(async function () {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child?.once("exit", r));
      child.kill("SIGINT");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    rmSync(userDir, { recursive: true, force: true });
  });

  it("serves the editor with the package's nodes loaded and the demo flow producing output", async function () {
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

    const editor = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(editor.status, 200);

    const flows = JSON.parse(readFileSync(join(userDir, "flows.json"), "utf8")) as Array<{ id: string; type: string }>;
    const inject = flows.find((n) => n.type === "inject");
    assert.ok(inject, "the demo flow starts from an inject node");

    const ws = new WebSocket(`ws://127.0.0.1:${port}/comms`);
    try {
      const firstDebug = new Promise<DebugEvent>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no debug output in time\n${output}`)), OUTPUT_LIMIT_MS);
        ws.on("message", (raw: WebSocket.Data) => {
          const events = ([] as DebugEvent[]).concat(JSON.parse(raw.toString()) as DebugEvent | DebugEvent[]);
          const debug = events.find((e) => e.topic === "debug");
          if (debug) {
            clearTimeout(timer);
            resolve(debug);
          }
        });
      });
      await new Promise<void>((resolve, reject) => {
        ws.once("open", () => resolve());
        ws.once("error", reject);
      });
      ws.send(JSON.stringify({ subscribe: "debug" }));
      const pressed = await fetch(`http://127.0.0.1:${port}/inject/${inject.id}`, { method: "POST" });
      assert.equal(pressed.status, 200);
      const event = await firstDebug;
      const shown = JSON.parse(event.data.msg) as Record<string, unknown>;
      assert.ok(typeof shown.file === "string" && /\.png$/.test(shown.file), `debug shows the image file: ${event.data.msg}`);
      assert.deepEqual(shown.tensor, [1, 3, 256, 256]);
    } finally {
      ws.close();
    }
  });
});
