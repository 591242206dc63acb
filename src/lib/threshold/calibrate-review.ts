/**
 * What a calibration expects of defects, from the few labelled defect samples it saw: the recall
 * at its threshold, and the review band they suggest. The band: OK below T1, UNCERTAIN (sent to
 * review) from T1 up to the threshold T2, NG from T2. T2 keeps the good-only promise (good parts
 * rejected outright); T1 is placed so that *Recall* % of the labelled defects are at or above it,
 * i.e. rejected or reviewed. Its price is the share of parts sent to review.
 */
import { binomialTailAtLeast, PROMISE_CONFIDENCE } from "./calibrate-good";
import { recallThreshold } from "./calibrate-labelled";

export interface ReviewBand {
  /** T1: parts from here up to the threshold are UNCERTAIN (review). */
  lowThreshold: number;
  /** Share of the labelled defect samples at or above T1 (rejected or reviewed). */
  recall: number;
  /** Share of all calibration samples, good and defect, from T1 up to (not including) the threshold. */
  review: number;
  /** Those samples, by label. */
  reviewGood: number;
  reviewDefect: number;
}

export interface LabelledReport {
  /** Share of the labelled defect samples at or above the threshold: the recall this calibration expects. */
  recall: number;
  /**
   * One-sided lower confidence bound (PROMISE_CONFIDENCE, Clopper-Pearson) of that recall: with
   * a handful of defects the share is a rough estimate, and this says how rough.
   */
  recallLow95: number;
  /** The review band the defects suggest; null when the threshold already catches *Recall* % of them. */
  band: ReviewBand | null;
}

/**
 * The smallest recall consistent with `found` of `total` at the given confidence: the p at which
 * P(Binomial(total, p) >= found) is 1 - confidence (0 when none was found).
 */
export function recallLowerBound(found: number, total: number, confidence = PROMISE_CONFIDENCE): number {
  if (found <= 0 || total <= 0) return 0;
  let low = 0;
  let high = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (low + high) / 2;
    if (binomialTailAtLeast(total, mid, found) >= 1 - confidence) high = mid;
    else low = mid;
  }
  return low;
}

/**
 * T1 from the defect samples alone, so that it can be placed again at decision time from the
 * saved defect scores whenever *Recall* changes (as the fraction band is); undefined without
 * defects or when it would not lie below `threshold`.
 */
export function defectBandStart(defect: readonly number[], threshold: number, recallPercent: number): number | undefined {
  if (defect.length === 0) return undefined;
  const low = recallThreshold([], defect, recallPercent).threshold;
  return low < threshold ? low : undefined;
}

function share(part: number, whole: number): number {
  return whole === 0 ? 0 : part / whole;
}

/** The report of a calibration at `threshold` with labelled defect samples; undefined without any. */
export function labelledReport(good: readonly number[], defect: readonly number[], threshold: number, recallPercent: number): LabelledReport | undefined {
  if (defect.length === 0) return undefined;
  const found = defect.filter((s) => s >= threshold).length;
  const low = defectBandStart(defect, threshold, recallPercent);
  let band: ReviewBand | null = null;
  if (low !== undefined) {
    const inBand = (s: number): boolean => s >= low && s < threshold;
    const reviewGood = good.filter(inBand).length;
    const reviewDefect = defect.filter(inBand).length;
    band = {
      lowThreshold: low,
      recall: share(defect.filter((s) => s >= low).length, defect.length),
      review: share(reviewGood + reviewDefect, good.length + defect.length),
      reviewGood,
      reviewDefect,
    };
  }
  return { recall: share(found, defect.length), recallLow95: recallLowerBound(found, defect.length), band };
}
