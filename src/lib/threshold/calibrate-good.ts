/** Thresholds calibrated from good parts only: no defect has to be collected. */
import { mean, quantile, sampleStandardDeviation } from "./statistics";

const PERCENT = 100;

/** mean + k sd of the good scores (sample sd); needs at least two scores. */
export function sigmaThreshold(good: readonly number[], k: number): number {
  return mean(good) + k * sampleStandardDeviation(good);
}

/**
 * The good scores' quantile at 1 - frr/100 (type 7, see `quantile`): about frrPercent % of good
 * parts score at or above it and would be rejected. With few samples the extreme quantiles are
 * interpolated between the highest scores, so a 0.5 % rate needs a few hundred good parts to mean
 * what it says.
 */
export function quantileThreshold(good: readonly number[], frrPercent: number): number {
  return quantile(good, 1 - frrPercent / PERCENT);
}
