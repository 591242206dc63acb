/**
 * A bank's search or scoring graph, built on the session worker that loads it. Serialising a
 * graph whose constants hold a 10,240-row bank (quantising it, writing the protobuf) took ~260 ms;
 * on Node-RED's thread that froze every flow at the first inspection after each fit (line's
 * event-loop delay max 36 -> 205 ms). A worker of its own cost a 50 ms stall just to start.
 */
import { acquireBuiltModel, type ModelHandle, type Placement, type SessionOptions } from "../../onnx";
import type { BuildJob } from "../../onnx/worker-protocol";
import { buildNearestModel, type SearchProjection } from "./nearest-model";
import { buildScoringModel, type ScoringModelSpec } from "./scoring-model";

export type GraphJob =
  | { kind: "scoring"; spec: ScoringModelSpec }
  | { kind: "nearest"; bank: Float32Array; size: number; dim: number; projection?: SearchProjection; inputDim: number };

export function buildGraph(job: GraphJob): Uint8Array {
  return job.kind === "scoring" ? buildScoringModel(job.spec) : buildNearestModel(job.bank, job.size, job.dim, job.projection, job.inputDim);
}

/** The session worker's entry (onnx ModelBuilder): only acquireBankGraph below sends it jobs. */
export function buildModel(job: BuildJob): Uint8Array {
  return buildGraph(job as GraphJob);
}

/** `key` must be unique to this job while the model lives (see acquireModelFromBytes). */
export function acquireBankGraph(key: string, job: GraphJob, session: SessionOptions | undefined, placement: Placement = {}): Promise<ModelHandle> {
  return acquireBuiltModel(key, __filename, job, session, placement);
}
