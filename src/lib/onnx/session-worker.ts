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
import { buffersOf, errorToWire, toWire, type WireTensor, type WorkerReply, type WorkerRequest } from "./worker-protocol";

const sessions = new Map<string, { session: LoadedSession; name: string }>();

async function handle(request: WorkerRequest): Promise<WorkerReply> {
  switch (request.op) {
    case "load": {
      const source = request.source.kind === "file" ? request.source.path : request.source.bytes;
      const session = await loadSession(request.where, source, request.options);
      sessions.set(request.key, { session, name: request.name });
      return { id: request.id, ok: true, op: "load", ...describeSession(session) };
    }
    case "run": {
      const loaded = sessions.get(request.key);
      if (loaded === undefined) throw new Error(`no session "${request.key}" in this worker`);
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, wire] of Object.entries(request.feeds)) feeds[name] = new ort.Tensor(wire.type, wire.data as Float32Array, wire.dims);
      const result = await runSession(loaded.session, loaded.name, feeds, request.outputNames);
      const outputs: Record<string, WireTensor> = {};
      for (const [name, tensor] of Object.entries(result)) outputs[name] = toWire(tensor);
      return { id: request.id, ok: true, op: "run", outputs };
    }
    case "release": {
      const loaded = sessions.get(request.key);
      sessions.delete(request.key);
      await loaded?.session.release();
      return { id: request.id, ok: true, op: "release" };
    }
  }
}

parentPort?.on("message", (request: WorkerRequest) => {
  void handle(request).then(
    (reply) => {
      // Outputs are fresh buffers nobody here keeps: hand them over instead of copying.
      const transfer = reply.ok && reply.op === "run" ? buffersOf(Object.values(reply.outputs)) : [];
      try {
        parentPort?.postMessage(reply, transfer);
      } catch {
        parentPort?.postMessage(reply);
      }
    },
    (error: unknown) => parentPort?.postMessage({ id: request.id, ok: false, error: errorToWire(error, describeError) } satisfies WorkerReply),
  );
});
