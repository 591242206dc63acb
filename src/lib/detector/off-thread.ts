/**
 * The heavy part of a fit on a worker thread (see fit-worker.ts for why), so that a fit leaves
 * the main thread free for inspections: a PatchCore memory bank, or PaDiM's Gaussians.
 */
import { join } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import type { GaussianGrid } from "../anomaly/padim/covariance";
import type { MemoryBank, PatchCoreOptions } from "../anomaly/patchcore/patchcore";
import { DefectError, type ErrorCode, type ErrorDetails } from "../errors";
import type { SessionOptions } from "../onnx";

/** Per-image features concatenated: `images` blocks of `rows` x `dim`, row-major. */
interface Features {
  features: Float32Array;
  images: number;
  rows: number;
  dim: number;
  session: SessionOptions;
}

export type FitJob = (Features & { kind: "patchcore"; options: PatchCoreOptions }) | (Features & { kind: "padim"; regularisation: number });

export type FitReply =
  | { ok: true; kind: "patchcore"; bank: MemoryBank }
  | { ok: true; kind: "padim"; grid: GaussianGrid }
  | { ok: false; code: ErrorCode | undefined; message: string; details: ErrorDetails };

/** Copying a few hundred MB at once would itself stall the loop: copy in slices of about this much. */
const COPY_SLICE_VALUES = 4 * 1024 * 1024;

/** One buffer the worker can take over (transferred, not copied). */
async function concatenate(chunks: readonly Float32Array[]): Promise<Float32Array> {
  const all = new Float32Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  let sinceYield = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
    sinceYield += chunk.length;
    if (sinceYield >= COPY_SLICE_VALUES) {
      sinceYield = 0;
      await nextTurn();
    }
  }
  return all;
}

/** What a fit stopped by closing the node ends with (also the support set's variants, support-set.ts). */
export function fitStopped(): DefectError {
  return new DefectError("inferenceFailed", "the fit was stopped (the node was redeployed or shut down)");
}

/** Runs one job on a fresh worker; aborting terminates it (its onnxruntime sessions go with it). */
async function runJob(job: FitJob, signal: AbortSignal): Promise<FitReply & { ok: true }> {
  if (signal.aborted) throw fitStopped();
  const worker = new Worker(join(__dirname, "fit-worker.js"), { workerData: job, transferList: [job.features.buffer as ArrayBuffer] });
  let abort = (): void => undefined;
  try {
    const reply = await new Promise<FitReply>((resolve, reject) => {
      abort = () => reject(fitStopped());
      signal.addEventListener("abort", abort, { once: true });
      worker.once("message", resolve);
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new DefectError("inferenceFailed", `the fit worker stopped unexpectedly (exit code ${code})`)));
    });
    if (reply.ok) return reply;
    if (reply.code === undefined) throw new Error(reply.message);
    throw new DefectError(reply.code, reply.message, reply.details);
  } finally {
    signal.removeEventListener("abort", abort);
    await worker.terminate();
  }
}

/** `chunks`: one [patches, dim] block of patch features per learned image. */
export async function buildBankOffThread(
  chunks: readonly Float32Array[],
  dim: number,
  options: PatchCoreOptions,
  session: SessionOptions,
  signal: AbortSignal,
): Promise<MemoryBank> {
  const features = await concatenate(chunks);
  const rows = features.length / dim;
  const reply = await runJob({ kind: "patchcore", features, images: 1, rows, dim, options, session }, signal);
  if (reply.kind !== "patchcore") throw new Error("the fit worker answered a PatchCore job with PaDiM statistics");
  return reply.bank;
}

/** `images`: one [positions, dim] embedding per learned image. */
export async function fitGaussiansOffThread(
  images: readonly Float32Array[],
  positions: number,
  dim: number,
  regularisation: number,
  session: SessionOptions,
  signal: AbortSignal,
): Promise<GaussianGrid> {
  const features = await concatenate(images);
  const reply = await runJob({ kind: "padim", features, images: images.length, rows: positions, dim, regularisation, session }, signal);
  if (reply.kind !== "padim") throw new Error("the fit worker answered a PaDiM job with a PatchCore bank");
  return reply.grid;
}
