/**
 * A result record (msg.result) as OPC 40100 publishes a result (ResultReadyEventType, ResultDataType):
 * the ids, the creation time, the processing times and the content. Plain values; the OPC UA glue
 * wraps them in the nodeset's data types.
 */
import type { ResultRecord } from "../message";
import type { StoredResult } from "./result-store";

export interface ProcessingTimes {
  startTime: Date;
  endTime: Date;
  /** Milliseconds (OPC UA Duration): the sum of the stage times the record holds. */
  processingDuration: number;
}

export interface VisionResult {
  resultId: string;
  jobId: string;
  partId: string | null;
  /** The recipe (product id): ExternalRecipeId, InternalRecipeId and ProductId alike. */
  recipe: string | null;
  creationTime: Date;
  processingTimes: ProcessingTimes;
  /** The whole record as JSON: the verdict, score, model, calibration and regions (ResultContent). */
  content: string;
}

/** The stage times' sum: the time the line spent on the part, queues and wires left out. */
function processingMs(record: ResultRecord): number {
  return Object.values(record.times ?? {}).reduce<number>((sum, ms) => sum + (typeof ms === "number" && Number.isFinite(ms) ? ms : 0), 0);
}

export function visionResult(stored: StoredResult): VisionResult {
  const { record } = stored;
  const created = new Date(record.created);
  const duration = processingMs(record);
  return {
    resultId: stored.resultId,
    jobId: stored.jobId,
    partId: record.partId,
    recipe: record.recipe,
    creationTime: created,
    // The verdict is decided at `created`; the stages ran before it (regions after it take a few ms, counted in).
    processingTimes: { startTime: new Date(created.getTime() - duration), endTime: created, processingDuration: duration },
    content: JSON.stringify(record),
  };
}
