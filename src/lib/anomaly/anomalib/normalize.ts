/**
 * anomalib's min-max normalisation (utils/normalization/min_max.py in 1.x, PostProcessor in
 * 2.x): ((raw - threshold) / (max - min)) + 0.5, clamped to [0,1]. It puts the threshold at
 * exactly 0.5 whatever the model's raw scale, which is what makes one alarm level fit all models.
 */
import type { ScoreMap } from "../../image/types";

/** The score at which a normalised value is on the threshold. */
export const NORMALIZED_THRESHOLD = 0.5;

export interface NormalizationStats {
  /** Raw value that maps to 0.5. */
  threshold: number;
  /** Raw range seen in validation; its width is the divisor. */
  min: number;
  max: number;
}

/** Normalised value; NaN stays NaN, as numpy's minimum/maximum leave it. */
export function normalizeValue(raw: number, stats: NormalizationStats): number {
  const shifted = (raw - stats.threshold) / (stats.max - stats.min) + NORMALIZED_THRESHOLD;
  return Math.min(1, Math.max(0, shifted));
}

export function normalizeMap(raw: ScoreMap, stats: NormalizationStats): ScoreMap {
  const data = new Float32Array(raw.data.length);
  for (let i = 0; i < data.length; i++) data[i] = normalizeValue(raw.data[i] ?? Number.NaN, stats);
  return { data, width: raw.width, height: raw.height };
}

/** 1 where `value >= threshold`, the raw-value mask of anomalib 0.x/1.x inferencers. */
export function maskAtLeast(map: ScoreMap, threshold: number): Uint8Array {
  const mask = new Uint8Array(map.data.length);
  for (let i = 0; i < mask.length; i++) mask[i] = (map.data[i] ?? 0) >= threshold ? 1 : 0;
  return mask;
}

/** 1 where `value > threshold`, the strict comparison of anomalib 2.x's PostProcessor. */
export function maskAbove(map: ScoreMap, threshold: number): Uint8Array {
  const mask = new Uint8Array(map.data.length);
  for (let i = 0; i < mask.length; i++) mask[i] = (map.data[i] ?? 0) > threshold ? 1 : 0;
  return mask;
}

/** Largest value; NaN when any value is NaN, as numpy's max reports it. */
export function mapMax(map: ScoreMap): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const v of map.data) {
    if (Number.isNaN(v)) return Number.NaN;
    if (v > max) max = v;
  }
  return max;
}
