/**
 * Worker-thread entry that owns onnxruntime sessions. onnxruntime-node runs `session.run`
 * synchronously on the calling thread (inside a setImmediate), so a backbone or a search run on
 * Node-RED's main thread would freeze every flow, the editor and PLC timers for its whole length.
 * Here it freezes only this thread; requests are answered in arrival order.
 */
import "./offline";
import { parentPort } from "node:worker_threads";
import * as ort from "onnxruntime-node";
import { describeError } from "../errors";
import { describeSession, loadSession, runSession, type LoadedSession } from "./local-session";
import { loadable } from "./model-source";
import { StagingArea } from "./staging";
import { yieldToMainThread } from "./worker-priority";
import { buffersOf, errorToWire, toWire, type ChainStep, type WireTensor, type WorkerReply, type WorkerRequest } from "./worker-protocol";

yieldToMainThread();

const staging = new StagingArea();
const sessions = new Map<string, { session: LoadedSession; name: string; kept: Map<string, Record<string, ort.Tensor>> }>();

function tensors(wire: Record<string, WireTensor>): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(wire)) feeds[name] = new ort.Tensor(t.type, t.data as Float32Array, t.dims);
  return feeds;
}

function loadedSession(key: string): { session: LoadedSession; name: string; kept: Map<string, Record<string, ort.Tensor>> } {
  const loaded = sessions.get(key);
  if (loaded === undefined) throw new Error(`no session "${key}" in this worker`);
  return loaded;
}

function keptFeeds(loaded: { name: string; kept: Map<string, Record<string, ort.Tensor>> }, token: string | undefined): Record<string, ort.Tensor> | undefined {
  if (token === undefined) return undefined;
  const kept = loaded.kept.get(token);
  if (kept === undefined) throw new Error(`no kept feeds "${token}" for "${loaded.name}"`);
  return kept;
}

/** Runs the steps in turn, each fed the previous one's outputs as they are (no copy). */
async function runChain(steps: readonly ChainStep[]): Promise<{ outputs: Record<string, WireTensor>; ms: number[] }> {
  let previous: Record<string, ort.Tensor> = {};
  const ms: number[] = [];
  for (const step of steps) {
    const loaded = loadedSession(step.key);
    const feeds = { ...keptFeeds(loaded, step.kept), ...tensors(step.feeds) };
    for (const [input, output] of Object.entries(step.from)) {
      const tensor = previous[output];
      if (tensor === undefined) throw new Error(`the step before "${loaded.name}" has no output "${output}"`);
      feeds[input] = tensor;
    }
    const started = performance.now();
    previous = await runSession(loaded.session, loaded.name, feeds, step.outputNames);
    ms.push(performance.now() - started);
  }
  const outputs: Record<string, WireTensor> = {};
  for (const [name, tensor] of Object.entries(previous)) outputs[name] = toWire(tensor);
  return { outputs, ms };
}

async function handle(request: WorkerRequest): Promise<WorkerReply> {
  switch (request.op) {
    case "load": {
      const source = request.source.kind === "built" ? { ...request.source, job: staging.resolve(request.source.job) } : request.source;
      const session = await loadSession(request.where, loadable(source), request.options);
      sessions.set(request.key, { session, name: request.name, kept: new Map() });
      return { id: request.id, ok: true, op: "load", ...describeSession(session) };
    }
    case "run": {
      const loaded = loadedSession(request.key);
      const kept = keptFeeds(loaded, request.kept);
      const outputs: Array<Record<string, WireTensor>> = [];
      for (const each of request.feeds) {
        const result = await runSession(loaded.session, loaded.name, { ...kept, ...tensors(each) }, request.outputNames);
        const wire: Record<string, WireTensor> = {};
        for (const [name, tensor] of Object.entries(result)) wire[name] = toWire(tensor);
        outputs.push(wire);
      }
      return { id: request.id, ok: true, op: "run", outputs };
    }
    case "chain":
      return { id: request.id, ok: true, op: "chain", ...(await runChain(request.steps)) };
    case "keep": {
      loadedSession(request.key).kept.set(request.token, tensors(request.feeds));
      return { id: request.id, ok: true, op: "keep" };
    }
    case "stage": {
      const { id, op, ...block } = request;
      staging.put(block);
      return { id, ok: true, op };
    }
    case "forget": {
      sessions.get(request.key)?.kept.delete(request.token);
      return { id: request.id, ok: true, op: "forget" };
    }
    case "exit":
      return process.exit(1);
    case "release": {
      const loaded = sessions.get(request.key);
      sessions.delete(request.key);
      await loaded?.session.release();
      return { id: request.id, ok: true, op: "release" };
    }
  }
}

/**
 * Replies go out on the next turn of this thread's loop, after messages that arrived during the
 * run: an "exit" sent while a model ran then ends the worker before that run's answer, as a
 * crash would, and never inside onnxruntime (terminating a thread in native code aborts the process).
 */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

parentPort?.on("message", (request: WorkerRequest) => {
  void handle(request).then(
    async (reply) => {
      await nextTurn();
      // Outputs are fresh buffers nobody here keeps: hand them over instead of copying.
      const transfer = !reply.ok
        ? []
        : reply.op === "run"
          ? buffersOf(reply.outputs.flatMap((o) => Object.values(o)))
          : reply.op === "chain"
            ? buffersOf(Object.values(reply.outputs))
            : [];
      try {
        parentPort?.postMessage(reply, transfer);
      } catch {
        parentPort?.postMessage(reply);
      }
    },
    async (error: unknown) => {
      await nextTurn();
      parentPort?.postMessage({ id: request.id, ok: false, error: errorToWire(error, describeError) } satisfies WorkerReply);
    },
  );
});
