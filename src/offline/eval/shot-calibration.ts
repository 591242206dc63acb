/**
 * The few-shot evaluations' good-only operating point: a threshold from the shots' leave-one-out
 * scores (detector/fit/leave-one-out.ts), and the F1 of the test set at it.
 */
import { statsAtThreshold } from "../../lib/metrics";
import { sigmaThreshold } from "../../lib/threshold";

/** k of the k-sigma rule on the leave-one-out scores (issue 6 contract). */
export const CALIBRATION_SIGMAS = 3;

/** mean + 3 sd of the leave-one-out scores; null with fewer than two (no spread to measure). */
export function calibratedThreshold(scores: readonly number[]): number | null {
  return scores.length < 2 ? null : sigmaThreshold(scores, CALIBRATION_SIGMAS);
}

/** F1 of "defective when score >= threshold"; 0 when nothing is predicted or present. */
export function f1AtThreshold(scores: number[], labels: number[], threshold: number): number {
  const s = statsAtThreshold(scores, labels, threshold);
  return s.tp === 0 ? 0 : (2 * s.tp) / (2 * s.tp + s.fp + s.fn);
}
