/**
 * Worker-thread entry for the heavy parts of a fit. onnxruntime-node runs every session call
 * synchronously on the calling thread, so a coreset selection or covariance fit on the main
 * thread would stall every flow for the length of each matrix product (seconds for large
 * banks). Here it stalls only this thread.
 */
import { parentPort, workerData } from "node:worker_threads";
import { fitGaussians } from "../../anomaly/padim/covariance";
import { searchProjection, selectBankRows } from "../../anomaly/patchcore/bank-select";
import { buildMemoryBank } from "../../anomaly/patchcore/patchcore";
import { trainRegionHead } from "../../anomaly/patchcore/region-head";
import { describeError, isDefectError } from "../../errors";
import { leaveOneOutScores } from "./leave-one-out";
import type { FitJob, FitReply } from "./off-thread";
import { yieldToMainThread } from "../../onnx/worker-priority";

// Fits and template maps are background work too: Node-RED's own thread comes first.
yieldToMainThread();

async function answer(job: FitJob): Promise<FitReply> {
  switch (job.kind) {
    case "patchcore":
      return { ok: true, kind: "patchcore", bank: await buildMemoryBank(job.features, job.rows, job.dim, job.options, job.session) };
    case "select":
      return { ok: true, kind: "select", rows: await selectBankRows(job.space, job.options, job.session) };
    case "finish": {
      const { data, size, dim } = job.bank;
      const bank = { data, size, dim, projection: await searchProjection(data, size, dim, job.options, job.session) };
      const leftOut = job.leaveOneOut === null ? [] : await leaveOneOutScores(bank, job.leaveOneOut, job.options, job.session);
      return { ok: true, kind: "finish", bank, leftOut };
    }
    case "head":
      return { ok: true, kind: "head", classifier: trainRegionHead([job.positive], [job.negative], job.dim, job.l2) };
    case "padim":
      return {
        ok: true,
        kind: "padim",
        grid: await fitGaussians({ images: job.images, positions: job.positions, dim: job.dim }, job.regularisation, job.session),
      };
  }
}

async function run(job: FitJob): Promise<FitReply> {
  try {
    return await answer(job);
  } catch (error) {
    if (isDefectError(error)) return { ok: false, code: error.code, message: error.message, details: error.details };
    return { ok: false, code: undefined, message: describeError(error), details: {} };
  }
}

function transferables(reply: FitReply): ArrayBuffer[] {
  if (!reply.ok) return [];
  const arrays =
    reply.kind === "patchcore"
      ? [reply.bank.data, reply.bank.projection]
      : reply.kind === "finish"
        ? [reply.bank.data, reply.bank.projection, ...reply.leftOut.map((s) => s.grid)]
        : reply.kind === "select"
          ? [reply.rows]
          : reply.kind === "head"
            ? [reply.classifier.mean, reply.classifier.invStd, reply.classifier.weights]
            : [reply.grid.mean, reply.grid.inverse];
  return [...new Set(arrays.filter((a): a is Float32Array | Int32Array => a !== null).map((a) => a.buffer as ArrayBuffer))];
}

void run(workerData as FitJob).then((reply) => parentPort?.postMessage(reply, transferables(reply)));
