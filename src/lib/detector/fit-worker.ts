/**
 * Worker-thread entry for the heavy part of a fit. onnxruntime-node runs every session call
 * synchronously on the calling thread, so a coreset selection or covariance fit on the main
 * thread would stall every flow for the length of each matrix product (seconds for large
 * banks). Here it stalls only this thread.
 */
import { parentPort, workerData } from "node:worker_threads";
import { fitGaussians } from "../anomaly/padim/covariance";
import { buildMemoryBank } from "../anomaly/patchcore/patchcore";
import { describeError, isDefectError } from "../errors";
import type { FitJob, FitReply } from "./off-thread";

async function run(job: FitJob): Promise<FitReply> {
  try {
    if (job.kind === "patchcore") {
      const bank = await buildMemoryBank(job.features, job.rows, job.dim, job.options, job.session);
      return { ok: true, kind: "patchcore", bank };
    }
    const images = Array.from({ length: job.images }, (_, i) => job.features.subarray(i * job.rows * job.dim, (i + 1) * job.rows * job.dim));
    const grid = await fitGaussians({ images, positions: job.rows, dim: job.dim }, job.regularisation, job.session);
    return { ok: true, kind: "padim", grid };
  } catch (error) {
    if (isDefectError(error)) return { ok: false, code: error.code, message: error.message, details: error.details };
    return { ok: false, code: undefined, message: describeError(error), details: {} };
  }
}

function transferables(reply: FitReply): ArrayBuffer[] {
  if (!reply.ok) return [];
  const arrays = reply.kind === "patchcore" ? [reply.bank.data, reply.bank.projection] : [reply.grid.mean, reply.grid.inverse];
  return arrays.filter((a): a is Float32Array => a !== null).map((a) => a.buffer as ArrayBuffer);
}

void run(workerData as FitJob).then((reply) => parentPort?.postMessage(reply, transferables(reply)));
