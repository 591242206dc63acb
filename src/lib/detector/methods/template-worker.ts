/**
 * Worker-thread entry of a template detector: aligning a 640x640 part to its reference and
 * building its map takes 50 to 120 ms of pure JavaScript, which on Node-RED's main thread would
 * freeze every flow, the editor and the PLC timers for that long on each part. Here it freezes
 * only this thread. The references are read from shared memory (never copied); the part's plane
 * comes in and its map goes back as transferred buffers.
 */
import { parentPort, workerData } from "node:worker_threads";
import { compareWithReferences } from "../../anomaly/template/reference-compare";
import { referenceSet, type ReferenceSet } from "../../anomaly/template/reference-set";
import { describeError, isDefectError } from "../../errors";
import type { FailureReply, InspectRequest, TemplateWorkerData, WorkerReply } from "./template-protocol";
import { yieldToMainThread } from "../../onnx/worker-priority";

// Fits and template maps are background work too: Node-RED's own thread comes first.
yieldToMainThread();

function failure(error: unknown): FailureReply {
  if (isDefectError(error)) return { ok: false, code: error.code, message: error.message, details: error.details };
  return { ok: false, code: undefined, message: describeError(error), details: {} };
}

function post(reply: WorkerReply, transfer: ArrayBuffer[] = []): void {
  parentPort?.postMessage(reply, transfer);
}

const data = workerData as TemplateWorkerData;
let set: ReferenceSet | undefined;
try {
  set = referenceSet(data.width, data.height, new Uint8Array(data.pixels, 0, data.count * data.width * data.height));
  post({ kind: "ready" });
} catch (error) {
  post({ kind: "started-failed", ...failure(error) });
}

parentPort?.on("message", (request: InspectRequest) => {
  if (set === undefined) return;
  try {
    const plane = { data: request.plane, width: data.width, height: data.height };
    const result = compareWithReferences(set, plane, data.model, data.registration);
    const { match, copyOf } = result.choice;
    const map = result.map.data;
    post(
      {
        kind: "inspected",
        id: request.id,
        ok: true,
        map,
        score: result.score,
        index: match.index,
        similarity: match.similarity,
        copyOf,
        shift: result.shift,
        timings: result.timings,
      },
      [map.buffer as ArrayBuffer],
    );
  } catch (error) {
    post({ kind: "inspected", id: request.id, ...failure(error) });
  }
});
