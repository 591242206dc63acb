/**
 * The heavy parts of a fit on a worker thread (see fit-worker.ts for why), so that a fit leaves
 * the main thread free for inspections: the rows of a PatchCore memory bank and the bank's search
 * subspace, a whole bank from full features (the online bank's refresh), or PaDiM's Gaussians.
 * Inputs are transferred to the worker, not copied, unless the caller still needs them.
 */
import { join } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import type { GaussianGrid } from "../../anomaly/padim/covariance";
import type { MemoryBank, PatchCoreOptions } from "../../anomaly/patchcore/patchcore";
import type { RowBlocks } from "../../anomaly/patchcore/row-blocks";
import type { PatchClassifier } from "../../anomaly/patchcore/patch-classifier";
import { DefectError, type ErrorCode, type ErrorDetails } from "../../errors";
import type { SessionOptions } from "../../onnx";
import type { LeaveOneOutInput, LeftOutShot } from "./leave-one-out";

export type FitJob =
  /** A whole bank from [rows, dim] full features. */
  | { kind: "patchcore"; features: Float32Array; rows: number; dim: number; options: PatchCoreOptions; session: SessionOptions }
  /** Which rows of the coreset space become the bank. */
  | { kind: "select"; space: RowBlocks; options: PatchCoreOptions; session: SessionOptions }
  /** The search subspace of a gathered bank, and optionally the shots' leave-one-out scores. */
  | { kind: "finish"; bank: MemoryBank; options: PatchCoreOptions; session: SessionOptions; leaveOneOut: LeaveOneOutInput | null }
  /** The patch head from [rows, dim] defect-region and good rows (region-head.ts). */
  | { kind: "head"; positive: Float32Array; negative: Float32Array; dim: number; l2: number }
  /** One [positions, dim] embedding an image, float32 or float16 bits. */
  | { kind: "padim"; images: (Float32Array | Uint16Array)[]; positions: number; dim: number; regularisation: number; session: SessionOptions };

export type FitReply =
  | { ok: true; kind: "patchcore"; bank: MemoryBank }
  | { ok: true; kind: "select"; rows: Int32Array }
  | { ok: true; kind: "finish"; bank: MemoryBank; leftOut: LeftOutShot[] }
  | { ok: true; kind: "head"; classifier: PatchClassifier }
  | { ok: true; kind: "padim"; grid: GaussianGrid }
  | { ok: false; code: ErrorCode | undefined; message: string; details: ErrorDetails };

type Done<K extends FitJob["kind"]> = Extract<FitReply, { ok: true; kind: K }>;

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

/** What a fit stopped by closing the node ends with. */
export function fitStopped(): DefectError {
  return new DefectError("inferenceFailed", "the fit was stopped (the node was redeployed or shut down)");
}

function buffersOf(arrays: readonly ArrayBufferView[]): ArrayBuffer[] {
  return [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
}

/** Runs one job on a fresh worker; aborting terminates it (its onnxruntime sessions go with it). */
async function runJob<K extends FitJob["kind"]>(job: FitJob & { kind: K }, transfer: ArrayBuffer[], signal: AbortSignal): Promise<Done<K>> {
  if (signal.aborted) throw fitStopped();
  const worker = new Worker(join(__dirname, "fit-worker.js"), { workerData: job, transferList: transfer });
  let abort = (): void => undefined;
  try {
    const reply = await new Promise<FitReply>((resolve, reject) => {
      abort = () => reject(fitStopped());
      signal.addEventListener("abort", abort, { once: true });
      worker.once("message", resolve);
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new DefectError("inferenceFailed", `the fit worker stopped unexpectedly (exit code ${code})`)));
    });
    if (!reply.ok) {
      if (reply.code === undefined) throw new Error(reply.message);
      throw new DefectError(reply.code, reply.message, reply.details);
    }
    if (reply.kind !== job.kind) throw new Error(`the fit worker answered a ${job.kind} job with a ${reply.kind} reply`);
    return reply as Done<K>;
  } finally {
    signal.removeEventListener("abort", abort);
    await worker.terminate();
  }
}

/** `chunks`: blocks of [rows, dim] full patch features (the bank and the parts queued for it). */
export async function buildBankOffThread(
  chunks: readonly Float32Array[],
  dim: number,
  options: PatchCoreOptions,
  session: SessionOptions,
  signal: AbortSignal,
): Promise<MemoryBank> {
  const features = await concatenate(chunks);
  const job: FitJob & { kind: "patchcore" } = { kind: "patchcore", features, rows: features.length / dim, dim, options, session };
  return (await runJob(job, [features.buffer as ArrayBuffer], signal)).bank;
}

/**
 * The bank's rows among the training rows, in selection order. `keep`: the caller uses `space`
 * again (a sweep fitting several settings), so it is copied to the worker; otherwise it is
 * handed over and unusable afterwards.
 */
export async function selectBankRowsOffThread(
  space: RowBlocks,
  options: PatchCoreOptions,
  session: SessionOptions,
  signal: AbortSignal,
  keep = false,
): Promise<Int32Array> {
  return (await runJob({ kind: "select", space, options, session }, keep ? [] : buffersOf(space.blocks), signal)).rows;
}

/**
 * The gathered bank with its search subspace, and the shots scored leave-one-out when asked for
 * (else []). The bank and the shots' features are handed over to the worker.
 */
export async function finishBankOffThread(
  bank: MemoryBank,
  options: PatchCoreOptions,
  session: SessionOptions,
  leaveOneOut: LeaveOneOutInput | null,
  signal: AbortSignal,
): Promise<{ bank: MemoryBank; leftOut: LeftOutShot[] }> {
  const transfer = [bank.data, ...(leaveOneOut?.shots ?? [])].map((a) => a.buffer as ArrayBuffer);
  const reply = await runJob({ kind: "finish", bank, options, session, leaveOneOut }, [...new Set(transfer)], signal);
  return { bank: reply.bank, leftOut: reply.leftOut };
}

/**
 * The patch head (region-head.ts trainRegionHead) from blocks of defect-region rows and of good
 * rows, [rows, dim] each. The blocks are copied into one buffer a side, which is handed over: the
 * caller keeps its own.
 */
export async function fitHeadOffThread(
  positives: readonly Float32Array[],
  negatives: readonly Float32Array[],
  dim: number,
  l2: number,
  signal: AbortSignal,
): Promise<PatchClassifier> {
  const positive = await concatenate(positives);
  const negative = await concatenate(negatives);
  const job: FitJob & { kind: "head" } = { kind: "head", positive, negative, dim, l2 };
  return (await runJob(job, buffersOf([positive, negative]), signal)).classifier;
}

/** `images`: one [positions, dim] embedding per learned image, handed over to the worker. */
export async function fitGaussiansOffThread(
  images: readonly (Float32Array | Uint16Array)[],
  positions: number,
  dim: number,
  regularisation: number,
  session: SessionOptions,
  signal: AbortSignal,
): Promise<GaussianGrid> {
  const job: FitJob & { kind: "padim" } = { kind: "padim", images: [...images], positions, dim, regularisation, session };
  return (await runJob(job, buffersOf(images), signal)).grid;
}
