/**
 * The scale template comparison reports on, so that its maps flow on to the threshold and
 * mask-to-region nodes like any anomaly map: the normal-difference model's operating threshold
 * reads 0.5 (as anomalib's normalised scores do, and as the threshold node's fixed default is),
 * full contrast reads 1, and specks smaller than the model's minimum region are opened away, so
 * that the image score (the map's peak) is at or above a level exactly where a region of at
 * least that size is.
 */
import type { ScoreMap } from "../../image/types";
import { areaOpening } from "./area-opening";
import type { NormalDifferenceModel } from "./normal-model";

/** Where the model's operating threshold lands on the reported scale. */
export const OPERATING_POINT = 0.5;
/**
 * Levels of the area opening on the reported scale: sixteenths, so the operating point is one
 * of them exactly and a calibrated threshold anywhere is at most 1/16 from a level.
 */
export const OPENING_LEVELS: readonly number[] = Array.from({ length: 16 }, (_, k) => (k + 1) / 16);

/** Piecewise linear: [0, threshold] to [0, 0.5], [threshold, 1] to [0.5, 1]; monotonic, so regions are the same. */
export function toReportedScale(raw: Float32Array, threshold: number): Float32Array {
  const out = new Float32Array(raw.length);
  const below = OPERATING_POINT / threshold;
  const above = threshold < 1 ? (1 - OPERATING_POINT) / (1 - threshold) : 0;
  for (let i = 0; i < raw.length; i++) {
    const v = raw[i] as number;
    if (v <= 0) continue;
    out[i] = v < threshold ? v * below : Math.min(1, OPERATING_POINT + (v - threshold) * above);
  }
  return out;
}

/** The map a template comparison reports, from the normal-difference model's raw map. */
export function reportedMap(raw: ScoreMap, model: Pick<NormalDifferenceModel, "threshold" | "minArea">): ScoreMap {
  const scaled = toReportedScale(raw.data, model.threshold);
  return { data: areaOpening(scaled, raw.width, model.minArea, OPENING_LEVELS), width: raw.width, height: raw.height };
}

export function peak(data: Float32Array): number {
  let m = 0;
  for (let i = 0; i < data.length; i++) if ((data[i] as number) > m) m = data[i] as number;
  return m;
}
