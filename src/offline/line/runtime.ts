/**
 * An embedded Node-RED runtime for rehearsing a line in this process (`defect-detection line`,
 * `npm run load`): bound to 127.0.0.1, with a throw-away user directory, only this package's
 * nodes and Node-RED's core nodes, telemetry and palette downloads off, so nothing contacts
 * anything outside the machine. Node-RED is a singleton module: one runtime at a time.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EventEmitter } from "node:events";
import { LineFailure } from "./failure";
import { packageRoot, PACKAGE_NAME } from "./package-root";

/** A node of a flow as flows.json holds it. */
export type FlowNode = Readonly<Record<string, unknown>> & { readonly id: string; readonly type: string };

/** What a deployed node offers the caller: a message arriving on its input. */
export interface RuntimeNode {
  receive(msg: Record<string, unknown>): void;
}

/** A Node-RED log record (see @node-red/util log.js). */
export interface RuntimeLogRecord {
  level: number;
  msg: unknown;
  type?: string;
  id?: string;
  name?: string;
}

export interface RuntimeOptions {
  /** Deployed at start; [] leaves the runtime empty until `deploy`. */
  flows: readonly FlowNode[];
  /** Values function nodes reach with global.get(name), e.g. callbacks that record results. */
  globals?: Readonly<Record<string, unknown>>;
  /** Serve the admin API (needed by `deploy`); off, no flows can be changed from outside. */
  adminApi?: boolean;
  /** "error", "warn", "info"...; default "warn". */
  logLevel?: string;
  /** Where log records go; default Node-RED's console logger (stdout). */
  log?: (record: RuntimeLogRecord) => void;
  /** Milliseconds each of start, deploy and stop may take; default 120 s. */
  timeoutMs?: number;
  /** Prefix of the temporary user directory. */
  prefix?: string;
}

export interface EmbeddedRuntime {
  readonly userDir: string;
  readonly port: number;
  readonly version: string;
  /** The started node of that id, or undefined. */
  node(id: string): RuntimeNode | undefined;
  /** Replaces the flows through the admin API ("full", "nodes" or "flows") and waits until they run. */
  deploy(flows: readonly FlowNode[], type?: "full" | "nodes" | "flows"): Promise<void>;
  /** Stops the flows and the runtime, closes the server and removes the user directory; never throws. */
  stop(): Promise<void>;
}

/** The part of the node-red module this file uses. */
interface RedApp {
  init(server: http.Server, settings: Record<string, unknown>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  version(): string;
  events: EventEmitter;
  nodes: { getNode(id: string): unknown };
  /** Absent without the admin API. */
  httpAdmin?: http.RequestListener;
}

const DEFAULT_TIMEOUT_MS = 120_000;
const FLOW_FILE = "flows.json";
const SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM"];
let running = false;

function loadNodeRed(): RedApp {
  let red: unknown;
  try {
    // Lazily: node-red is a development dependency, needed only by the commands that embed it.
    red = require("node-red");
  } catch (error) {
    throw new LineFailure(
      `this command runs Node-RED and cannot load it (${error instanceof Error ? error.message : String(error)}): install node-red beside ${PACKAGE_NAME}`,
    );
  }
  const app = red as Partial<RedApp> | null;
  if (app === null || typeof app.init !== "function" || typeof app.start !== "function" || typeof app.stop !== "function") {
    throw new LineFailure("the node-red module found is not a Node-RED runtime");
  }
  return app as RedApp;
}

/** Rejects after `ms` with a message naming what did not finish. */
export function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LineFailure(`${what} did not finish within ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** The next "flows:started", within `ms`; `cancel` forgets it (its timer must not outlive a failure). */
function nextFlowsStart(RED: RedApp, ms: number): { started: Promise<void>; cancel(): void } {
  let listener: (() => void) | undefined;
  const event = new Promise<void>((resolve) => {
    listener = () => resolve();
    RED.events.once("flows:started", listener);
  });
  let timer: NodeJS.Timeout | undefined;
  const started = new Promise<void>((resolve, reject) => {
    timer = setTimeout(() => reject(new LineFailure(`the flows did not start within ${Math.round(ms / 1000)} s`)), ms);
    void event.then(resolve);
  }).finally(() => clearTimeout(timer));
  return {
    started,
    cancel() {
      clearTimeout(timer);
      if (listener !== undefined) RED.events.removeListener("flows:started", listener);
      started.catch(() => undefined);
    },
  };
}

function settings(userDir: string, options: RuntimeOptions): Record<string, unknown> {
  const level = options.logLevel ?? "warn";
  const sink = options.log;
  return {
    userDir,
    flowFile: FLOW_FILE,
    uiHost: "127.0.0.1",
    httpAdminRoot: options.adminApi === true ? "/" : false,
    httpNodeRoot: false,
    disableEditor: true,
    nodesDir: [packageRoot()],
    telemetry: { enabled: false },
    diagnostics: { enabled: false },
    // Only this package among the installed Node-RED modules: others (dashboards, PLC clients in
    // a development tree) would slow the start and could open connections of their own.
    externalModules: {
      autoInstall: false,
      palette: { allowInstall: false, allowUpload: false, allowList: [PACKAGE_NAME] },
      modules: { allowInstall: false },
    },
    editorTheme: { tours: false, palette: { catalogues: [] } },
    functionExternalModules: false,
    functionGlobalContext: { ...options.globals },
    logging:
      sink === undefined
        ? { console: { level, metrics: false, audit: false } }
        : { line: { level, metrics: false, audit: false, handler: () => (record: RuntimeLogRecord) => sink(record) } },
    credentialSecret: false,
  };
}

async function post(port: number, path: string, body: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    // No keep-alive: a socket left open by this client would read as a handle the flows left behind.
    const request = http.request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "POST",
        agent: false,
        headers: { ...headers, "Content-Length": String(Buffer.byteLength(body)), Connection: "close" },
      },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (text += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, text }));
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

/**
 * onnxruntime 1.30 on Linux starts a telemetry client with its first session (a device id file
 * in the temporary folder, uploads over HTTPS) unless ORT_DISABLE_TELEMETRY is set. Read when
 * that first session is created, so this must run before any model is opened.
 */
export function keepOnnxRuntimeOffline(): void {
  process.env["ORT_DISABLE_TELEMETRY"] ??= "1";
}

/** Starts Node-RED with `options.flows` deployed; resolves once they have started. */
export async function startEmbeddedRuntime(options: RuntimeOptions): Promise<EmbeddedRuntime> {
  if (running) throw new LineFailure("an embedded Node-RED is already running in this process");
  keepOnnxRuntimeOffline();
  const RED = loadNodeRed();
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  running = true;
  const userDir = mkdtempSync(join(tmpdir(), options.prefix ?? "defect-line-"));
  // Node-RED's express app exists only after init, and not at all without the admin API: asked per request.
  const server = http.createServer((request, response) => {
    const admin: unknown = RED.httpAdmin;
    if (typeof admin === "function") {
      (admin as http.RequestListener)(request, response);
    } else {
      response.statusCode = 404;
      response.end();
    }
  });
  let initialised = false;
  let stopped: Promise<void> | undefined;

  // Interrupted (Ctrl-C, a supervisor's TERM): the user directory goes, then the signal does what it would have.
  const onSignal = (signal: NodeJS.Signals): void => {
    forgetSignals();
    rmSync(userDir, { recursive: true, force: true });
    process.kill(process.pid, signal);
  };
  const forgetSignals = (): void => {
    for (const signal of SIGNALS) process.removeListener(signal, onSignal);
  };
  for (const signal of SIGNALS) process.once(signal, onSignal);

  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      try {
        if (initialised) await withTimeout(RED.stop(), timeoutMs, "stopping Node-RED").catch(() => undefined);
      } finally {
        server.closeAllConnections();
        await new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
        rmSync(userDir, { recursive: true, force: true });
        forgetSignals();
        running = false;
      }
    })();
    return stopped;
  };

  try {
    writeFileSync(join(userDir, FLOW_FILE), JSON.stringify(options.flows));
    RED.init(server, settings(userDir, options));
    initialised = true;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const next = nextFlowsStart(RED, timeoutMs);
    try {
      await withTimeout(RED.start(), timeoutMs, "starting Node-RED");
      await next.started;
    } finally {
      next.cancel();
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;

  return {
    userDir,
    port,
    version: RED.version(),
    node(id) {
      const node = RED.nodes.getNode(id) as Partial<RuntimeNode> | null;
      return node !== null && typeof node?.receive === "function" ? (node as RuntimeNode) : undefined;
    },
    async deploy(flows, type = "full") {
      if (options.adminApi !== true) throw new LineFailure("deploy needs the runtime started with adminApi");
      const next = nextFlowsStart(RED, timeoutMs);
      try {
        const headers = { "Content-Type": "application/json", "Node-RED-Deployment-Type": type, "Node-RED-API-Version": "v1" };
        const answer = await withTimeout(post(port, "/flows", JSON.stringify(flows), headers), timeoutMs, "deploying");
        if (answer.status !== 200 && answer.status !== 204) throw new LineFailure(`deploy ${type} answered ${answer.status} ${answer.text}`);
        await next.started;
      } finally {
        next.cancel();
      }
    },
    stop,
  };
}
