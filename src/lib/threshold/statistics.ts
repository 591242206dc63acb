/**
 * Descriptive statistics of calibration scores. Only calibration uses them, so an empty or too
 * short list is a calibrationFailed error that says how many values were needed.
 */
import { DefectError } from "../errors";

/** Summary of one group of calibration scores, as saved with the calibration. */
export interface ScoreStats {
  count: number;
  mean: number;
  /** Sample standard deviation (n - 1); null for a single score, whose spread is unknown. */
  sd: number | null;
  min: number;
  max: number;
}

function requireCount(values: readonly number[], needed: number, what: string): void {
  if (values.length < needed) {
    throw new DefectError("calibrationFailed", `${what} needs at least ${needed} score${needed === 1 ? "" : "s"}, got ${values.length}`, {
      needed,
      count: values.length,
    });
  }
}

export function mean(values: readonly number[]): number {
  requireCount(values, 1, "the mean");
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/**
 * Sample standard deviation (Bessel's n - 1): calibration sees a sample of the good parts, and
 * the population formula would understate their spread, most for the small sets used here.
 */
export function sampleStandardDeviation(values: readonly number[]): number {
  requireCount(values, 2, "the standard deviation");
  const m = mean(values);
  let squares = 0;
  for (const v of values) squares += (v - m) ** 2;
  return Math.sqrt(squares / (values.length - 1));
}

/** Ascending copy; the caller's list is left as it was. */
export function sortedAscending(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/**
 * Quantile at probability p (0..1) with linear interpolation between closest ranks: with the
 * values sorted ascending, h = (n - 1) p and the result is x[floor h] + (h - floor h) (x[ceil h]
 * - x[floor h]). This is Hyndman & Fan's type 7, the default of NumPy, R and Excel's
 * PERCENTILE.INC, so a user can check a threshold in a spreadsheet; it never leaves the range of
 * the observed scores and grows continuously with p.
 */
export function quantile(values: readonly number[], p: number): number {
  requireCount(values, 1, "a quantile");
  if (!(p >= 0 && p <= 1)) {
    throw new DefectError("calibrationFailed", `a quantile needs a probability from 0 to 1, got ${p}`, { probability: p });
  }
  const sorted = sortedAscending(values);
  const h = (sorted.length - 1) * p;
  const below = Math.floor(h);
  const lower = sorted[below] as number;
  const upper = sorted[Math.min(below + 1, sorted.length - 1)] as number;
  return lower + (h - below) * (upper - lower);
}

export function summarize(values: readonly number[]): ScoreStats {
  requireCount(values, 1, "a summary");
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return { count: values.length, mean: mean(values), sd: values.length >= 2 ? sampleStandardDeviation(values) : null, min, max };
}
