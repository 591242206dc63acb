/**
 * From a score to OK / UNCERTAIN / NG. Pure: the stream's memory (for hysteresis) is passed in
 * and the next one returned, so tests replay sequences without a node.
 */
import { defectBandStart } from "./calibrate-review";
import type { ThresholdOptions } from "./options";
import type { Thresholds, Verdict } from "./types";

/** What the verdict of the previous message leaves for the next one. */
export interface StreamState {
  /** The previous verdict was NG: hysteresis holds it until the score drops below the release level. */
  ng: boolean;
}

export const INITIAL_STREAM: StreamState = { ng: false };

/**
 * Lowers a threshold by a fraction of its size. For the non-negative scores of the detectors this
 * is threshold * (1 - fraction); the absolute value keeps the result below the threshold when a
 * raw score scale is negative.
 */
export function lowerBy(threshold: number, fraction: number): number {
  return threshold - Math.abs(threshold) * fraction;
}

/**
 * The uncertain band's lower threshold T1: T2 (1 - band) (none when the band is 0), or with the
 * band from defects the score at or above which *Recall* % of the labelled defect scores lie
 * (none without them, or when T2 already catches that many).
 */
export function bandThresholds(
  threshold: number,
  options: Pick<ThresholdOptions, "band" | "bandFrom" | "recall">,
  defectScores: readonly number[] = [],
): Thresholds {
  const low =
    options.bandFrom === "defects" ? defectBandStart(defectScores, threshold, options.recall) : options.band > 0 ? lowerBy(threshold, options.band) : undefined;
  return low === undefined ? { threshold } : { threshold, lowThreshold: low };
}

export interface VerdictResult {
  verdict: Verdict;
  state: StreamState;
}

/**
 * score >= threshold is NG, lowThreshold <= score < threshold UNCERTAIN, below OK. With
 * hysteresis h > 0 a stream that was NG stays NG until the score falls below threshold (1 - h),
 * so a part whose score hovers at the threshold does not flicker between OK and NG.
 */
export function decideVerdict(score: number, thresholds: Thresholds, hysteresis: number, state: StreamState): VerdictResult {
  let verdict: Verdict;
  if (score >= thresholds.threshold || (state.ng && hysteresis > 0 && score >= lowerBy(thresholds.threshold, hysteresis))) {
    verdict = "NG";
  } else if (thresholds.lowThreshold !== undefined && score >= thresholds.lowThreshold) {
    verdict = "UNCERTAIN";
  } else {
    verdict = "OK";
  }
  return { verdict, state: { ng: verdict === "NG" } };
}
