/**
 * The threshold node as a station: it numbers the results it decides and writes each one's
 * record (msg.result). Kept apart from threshold.ts, which decides and calibrates.
 */
import type { Node, NodeAPI } from "node-red";
import type { ResultCalibration } from "../lib/message";
import { ResultIds, resultIdsPath, type ResultIdGrant } from "../lib/result";
import type { CalibrationRecord, Decision } from "../lib/threshold";
import { translateError } from "./shared/errors";
import { baseDirectory } from "./shared/settings";

export interface ResultNumbering {
  /**
   * The next result id of this station, with the failure to save the counter when there was one
   * (to report; the id is good for this run). resultIdsFailed when the counter file is damaged.
   */
  next(): Promise<ResultIdGrant>;
  /** Waits for a reservation being written, so the node deployed next reads the file after it. */
  close(): Promise<void>;
}

/**
 * The station is the threshold node (its id names the counter file): it decides the verdicts, so
 * every verdict gets a number, and two inspection lines in one flow number their own results.
 */
export function startResultNumbering(RED: NodeAPI, node: Node, type: string): ResultNumbering {
  const opened = ResultIds.open(resultIdsPath(baseDirectory(RED), node.id));
  // Said once at deploy; each verdict refused because of it reaches Catch too.
  opened.catch((error: unknown) => node.error(translateError(RED, type, error)));
  return {
    next: async () => (await opened).next(),
    close: () => opened.then((ids) => ids.close()).catch(() => undefined),
  };
}

/** The threshold a verdict was decided with: mode, calibration time (none in fixed mode) and thresholds. */
export function resultCalibration(decision: Decision, calibration: CalibrationRecord | undefined): ResultCalibration {
  return {
    mode: decision.mode,
    created: decision.mode === "fixed" ? null : (calibration?.created ?? null),
    threshold: decision.threshold,
    lowThreshold: decision.lowThreshold ?? null,
  };
}
