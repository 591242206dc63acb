/** Worker-thread entry of graph-thread.ts: builds one graph and hands its bytes back. */
import { parentPort, workerData } from "node:worker_threads";
import { describeError } from "../../errors";
import { errorToWire } from "../../onnx/worker-protocol";
import { yieldToMainThread } from "../../onnx/worker-priority";
import { buildGraph, type GraphJob, type GraphReply } from "./graph-thread";

yieldToMainThread();

let reply: GraphReply;
try {
  reply = { ok: true, bytes: buildGraph(workerData as GraphJob) };
} catch (error) {
  reply = { ok: false, error: errorToWire(error, describeError) };
}
parentPort?.postMessage(reply, reply.ok ? [reply.bytes.buffer as ArrayBuffer] : []);
