/** Messages between the template detector's model (template-thread.ts) and its worker (template-worker.ts). */
import type { ComparisonTimings } from "../../anomaly/template/compare";
import type { NormalDifferenceModel } from "../../anomaly/template/normal-model";
import type { RegistrationOptions } from "../../anomaly/template/registration";
import type { ErrorCode, ErrorDetails } from "../../errors";

/** What a worker starts with: the references live in shared memory, so a replacement worker needs no copy. */
export interface TemplateWorkerData {
  width: number;
  height: number;
  count: number;
  /** count x width x height gray bytes. */
  pixels: SharedArrayBuffer;
  model: NormalDifferenceModel;
  registration: RegistrationOptions;
}

export interface InspectRequest {
  id: number;
  /** The part's gray plane, width x height, transferred. */
  plane: Float32Array;
}

export interface FailureReply {
  ok: false;
  code: ErrorCode | undefined;
  message: string;
  details: ErrorDetails;
}

export type WorkerReply =
  | { kind: "ready" }
  | ({ kind: "started-failed" } & FailureReply)
  | {
      kind: "inspected";
      id: number;
      ok: true;
      /** Reported scale, transferred. */
      map: Float32Array;
      score: number;
      index: number;
      similarity: number;
      copyOf: number | undefined;
      shift: { dx: number; dy: number; confidence: number };
      timings: ComparisonTimings & { match: number };
    }
  | ({ kind: "inspected"; id: number } & FailureReply);
