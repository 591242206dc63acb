/**
 * Messages between the main thread and a session worker (session-worker.ts): tensors travel as
 * plain typed arrays, errors as their code, message and details, so a DefectError thrown in the
 * worker reaches a Catch node as the same DefectError.
 */
import type * as ort from "onnxruntime-node";
import { DefectError, type ErrorCode, type ErrorDetails } from "../errors";
import type { TensorSpec } from "./feeds";
import type { StageBlock } from "./staging";

/** An ort.Tensor's parts; ort.Tensor itself does not survive structured cloning. */
export interface WireTensor {
  type: ort.Tensor.Type;
  dims: number[];
  data: ort.Tensor.DataType;
}

/**
 * One model of a chain run on a worker: its feeds are `feeds` plus, for each `from` entry, the
 * previous step's output of that name (input name -> output name), which never leaves the worker.
 */
export interface ChainStep {
  key: string;
  feeds: Record<string, WireTensor>;
  from: Record<string, string>;
  outputNames: string[] | undefined;
  kept: string | undefined;
}

/**
 * Where a session's model comes from. "built": the bytes are made on the thread that loads it, by
 * `buildModel(job)` of the module at `builder` (graph-builder code for large in-memory graphs,
 * whose serialisation would otherwise stall Node-RED's thread); a session moved to a new worker
 * after a crash builds it again there.
 */
export type ModelSource = { kind: "file"; path: string } | { kind: "bytes"; bytes: Uint8Array } | { kind: "built"; builder: string; job: BuildJob };

/** What a "built" source's module is given: structured-cloneable data. */
export type BuildJob = Readonly<Record<string, unknown>>;

/** The contract of a "built" source's module. */
export interface ModelBuilder {
  buildModel(job: BuildJob): Uint8Array;
}

export type WorkerRequest =
  /** `where`: path or in-memory key, for load errors; `name`: the short name run errors use. */
  | { id: number; op: "load"; key: string; where: string; name: string; source: ModelSource; options: ort.InferenceSession.SessionOptions }
  /** Several runs in order, one message: a search over blocks of queries pays one round trip. */
  | { id: number; op: "run"; key: string; feeds: Array<Record<string, WireTensor>>; outputNames: string[] | undefined; kept: string | undefined }
  /** Several models in turn, each fed by the one before (backbone -> scoring): one round trip, only the last outputs return. */
  | { id: number; op: "chain"; steps: ChainStep[] }
  /** Feeds that stay on the worker for every run that names `token` (large constants, e.g. PaDiM's inverses). */
  | { id: number; op: "keep"; key: string; token: string; feeds: Record<string, WireTensor> }
  | { id: number; op: "forget"; key: string; token: string }
  /** A block of a large array of a "built" job, sent ahead of its load (staging.ts). */
  | ({ id: number; op: "stage" } & StageBlock)
  /** Ends the worker as a crash in JavaScript would (fault tests): never while onnxruntime runs. */
  | { id: number; op: "exit" }
  | { id: number; op: "release"; key: string };

export interface WireError {
  code: ErrorCode | undefined;
  message: string;
  details: ErrorDetails;
}

export type WorkerReply =
  | { id: number; ok: true; op: "load"; inputs: TensorSpec[]; outputs: TensorSpec[] }
  | { id: number; ok: true; op: "run"; outputs: Array<Record<string, WireTensor>> }
  /** `ms`: each step's run time on the worker. */
  | { id: number; ok: true; op: "chain"; outputs: Record<string, WireTensor>; ms: number[] }
  | { id: number; ok: true; op: "release" }
  | { id: number; ok: true; op: "keep" }
  | { id: number; ok: true; op: "forget" }
  | { id: number; ok: true; op: "stage" }
  | { id: number; ok: false; error: WireError };

export function toWire(tensor: ort.Tensor): WireTensor {
  return { type: tensor.type, dims: [...tensor.dims], data: tensor.data };
}

/**
 * A feed that views part of a larger buffer is sent as a compact copy: structured cloning copies
 * a view's whole buffer (a block of 128 query rows would carry all 1024 rows with it).
 */
export function toCompactWire(tensor: ort.Tensor): WireTensor {
  const data = tensor.data as unknown;
  if (ArrayBuffer.isView(data) && !(data instanceof DataView) && data.byteLength < data.buffer.byteLength) {
    return { type: tensor.type, dims: [...tensor.dims], data: (data as Float32Array).slice() as ort.Tensor.DataType };
  }
  return toWire(tensor);
}

/** The buffers behind `tensors`, each once (outputs may share one), for a transfer list. */
export function buffersOf(tensors: Iterable<WireTensor>): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const t of tensors) {
    const data = t.data as unknown;
    if (ArrayBuffer.isView(data) && data.buffer instanceof ArrayBuffer) buffers.add(data.buffer);
  }
  return [...buffers];
}

export function errorToWire(error: unknown, fallback: (error: unknown) => string): WireError {
  if (error instanceof DefectError) return { code: error.code, message: error.message, details: error.details };
  return { code: undefined, message: fallback(error), details: {} };
}

export function errorFromWire(wire: WireError): Error {
  return wire.code === undefined ? new Error(wire.message) : new DefectError(wire.code, wire.message, wire.details);
}
