/** Thresholds calibrated from good parts only: no defect has to be collected. */
import { DefectError } from "../errors";
import { mean, sampleStandardDeviation } from "./statistics";

const PERCENT = 100;

/** mean + k sd of the good scores (sample sd); needs at least two scores. */
export function sigmaThreshold(good: readonly number[], k: number): number {
  return mean(good) + k * sampleStandardDeviation(good);
}

/** What a good-only threshold promises about good parts it has not seen. */
export interface FrrPromise {
  /** Expected false-reject rate of new good parts (split-conformal, exact for exchangeable scores). */
  frr: number;
  /** The false-reject rate this calibration stays under with `confidence` over calibration sets. */
  frrBound95: number;
  /** The confidence of frrBound95 (0.95); absent in calibrations saved before it was stated. */
  confidence?: number;
}

/** Confidence of FrrPromise.frrBound95. */
export const PROMISE_CONFIDENCE = 0.95;

/**
 * P(Binomial(n, p) >= m), summed in log space so that tens of thousands of samples stay exact
 * enough for a bound.
 */
export function binomialTailAtLeast(n: number, p: number, m: number): number {
  if (m <= 0) return 1;
  if (m > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  const logP = Math.log(p);
  const logQ = Math.log1p(-p);
  // log C(n, m), then each next term by the ratio of binomial coefficients.
  let logC = 0;
  for (let i = 1; i <= m; i++) logC += Math.log((n - m + i) / i);
  let sum = 0;
  for (let j = m; j <= n; j++) {
    sum += Math.exp(logC + j * logP + (n - j) * logQ);
    logC += Math.log((n - j) / (j + 1));
  }
  return Math.min(1, sum);
}

/** k of the split-conformal order statistic: ceil((n + 1)(1 - a)), guarded against 0.99 * 100 = 98.99999999999999. */
function conformalRank(n: number, frrPercent: number): number {
  return Math.ceil((n + 1) * (1 - frrPercent / PERCENT) - 1e-9);
}

/**
 * The fewest good scores that can promise `frrPercent`: the smallest n with k <= n, about
 * 1/a - 1 (99 for 1 %, 19 for 5 %). With fewer, even the largest score leaves a new good part a
 * chance of 1/(n + 1) > a to score above it.
 */
export function minimumGoodScores(frrPercent: number): number {
  let n = Math.max(1, Math.floor(PERCENT / frrPercent) - 2);
  while (conformalRank(n, frrPercent) > n) n++;
  return n;
}

/**
 * The threshold of a split-conformal false-reject rate: with good scores the model did not learn
 * from (held back, or each learned image scored without itself), a new good part scores above the
 * k-th smallest of n, k = ceil((n + 1)(1 - a)), with probability 1 - k/(n + 1) <= a
 * (exchangeable scores), whatever their distribution. A part scoring at or below that score is
 * accepted, so the threshold ("NG at or above") sits just above it. Too few scores for the target
 * (k > n) cannot keep it: calibrationFailed says how many are needed, rather than a threshold that
 * promises less than the node was set to. The realised rate of one calibration is
 * Beta(n + 1 - k, k); frrBound95 is its 95 % quantile.
 */
export function conformalThreshold(good: readonly number[], frrPercent: number): { threshold: number; promise: FrrPromise } {
  const n = good.length;
  const needed = minimumGoodScores(frrPercent);
  if (n < needed) {
    throw new DefectError(
      "calibrationFailed",
      `a false-reject rate of ${frrPercent} % needs at least ${needed} good scores of parts the model did not learn from, got ${n}`,
      { needed, count: n, frr: frrPercent },
    );
  }
  const sorted = [...good].sort((a, b) => a - b);
  const k = conformalRank(n, frrPercent);
  const kept = sorted[k - 1] as number;
  // The smallest x with P(Beta(n + 1 - k, k) <= x) >= 95 %: P(Bin(n, x) >= n + 1 - k) >= 95 %.
  let low = 0;
  let high = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (low + high) / 2;
    if (binomialTailAtLeast(n, mid, n + 1 - k) >= PROMISE_CONFIDENCE) high = mid;
    else low = mid;
  }
  return { threshold: nextAbove(kept), promise: { frr: 1 - k / (n + 1), frrBound95: high, confidence: PROMISE_CONFIDENCE } };
}

/** The smallest number above `x` (x finite): a threshold a score equal to x stays under. */
export function nextAbove(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  const bits = new Float64Array([x]);
  const word = new BigInt64Array(bits.buffer);
  word[0] = (word[0] as bigint) + (x > 0 ? 1n : -1n);
  return bits[0] as number;
}
