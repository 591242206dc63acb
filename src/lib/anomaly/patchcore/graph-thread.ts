/**
 * Builds a bank's search or scoring graph off Node-RED's thread. Serialising a graph whose
 * constants hold a 10,240-row bank (quantising it, writing the protobuf) took ~260 ms on the
 * main thread, the first inspection after every fit, and froze every flow for that long
 * (line's event-loop delay max 36 -> 205 ms). On a worker thread (a fit worker, a template
 * worker) it is built where it is asked for; small graphs are built in place, as a thread would
 * cost more than they do.
 */
import { join } from "node:path";
import { isMainThread, Worker } from "node:worker_threads";
import { errorFromWire, type WireError } from "../../onnx/worker-protocol";
import { buildNearestModel, type SearchProjection } from "./nearest-model";
import { buildScoringModel, type ScoringModelSpec } from "./scoring-model";

export type GraphJob =
  | { kind: "scoring"; spec: ScoringModelSpec }
  | { kind: "nearest"; bank: Float32Array; size: number; dim: number; projection?: SearchProjection; inputDim: number };

export type GraphReply = { ok: true; bytes: Uint8Array } | { ok: false; error: WireError };

/** Below this many bank values (1 MB) a graph builds in a few milliseconds: in place. */
const IN_PLACE_VALUES = 1 << 18;

export function buildGraph(job: GraphJob): Uint8Array {
  return job.kind === "scoring" ? buildScoringModel(job.spec) : buildNearestModel(job.bank, job.size, job.dim, job.projection, job.inputDim);
}

function bankValues(job: GraphJob): number {
  return job.kind === "scoring" ? job.spec.searchBank.length : job.bank.length;
}

/** The graph's bytes; the job's arrays are copied to the worker, the caller keeps them. */
export async function buildGraphOffThread(job: GraphJob): Promise<Uint8Array> {
  if (!isMainThread || bankValues(job) < IN_PLACE_VALUES) return buildGraph(job);
  const worker = new Worker(join(__dirname, "graph-worker.js"), { workerData: job });
  try {
    const reply = await new Promise<GraphReply>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`the graph-building worker stopped unexpectedly (exit code ${code})`)));
    });
    if (!reply.ok) throw errorFromWire(reply.error);
    return reply.bytes;
  } finally {
    await worker.terminate();
  }
}
