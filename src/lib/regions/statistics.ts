/** Per-component measurements, gathered in a single pass over the label image. */
import type { ComponentLabels } from "./components";
import type { Region } from "./types";

/** Pixel i covers [i, i + 1), so its centre, which the centroid averages, is at i + 0.5. */
const PIXEL_CENTRE = 0.5;

export interface RegionStatistics {
  /** One region a component, in label order (raster order of first pixel), in label-grid pixels. */
  regions: Region[];
  /** Lowest score on any labelled pixel (Infinity when there is none or no scores). */
  lowestScore: number;
}

/**
 * Bounding box, area, centroid and (with `scores`, row-major over the same grid) max and mean
 * score of every component. Non-finite scores (NaN) are skipped for max and mean.
 */
export function regionStatistics(components: ComponentLabels, scores?: ArrayLike<number>): RegionStatistics {
  const { labels, count, width } = components;
  const slots = count + 1;
  const minX = new Int32Array(slots).fill(width);
  const minY = new Int32Array(slots).fill(components.height);
  const maxX = new Int32Array(slots).fill(-1);
  const maxY = new Int32Array(slots).fill(-1);
  const area = new Float64Array(slots);
  const sumX = new Float64Array(slots);
  const sumY = new Float64Array(slots);
  const maxScore = new Float64Array(slots).fill(Number.NEGATIVE_INFINITY);
  const sumScore = new Float64Array(slots);
  const scored = new Float64Array(slots);
  let lowestScore = Number.POSITIVE_INFINITY;
  for (let i = 0, x = 0, y = 0; i < labels.length; i++, x++) {
    if (x === width) {
      x = 0;
      y++;
    }
    const l = labels[i] as number;
    if (l === 0) continue;
    if (x < (minX[l] as number)) minX[l] = x;
    if (x > (maxX[l] as number)) maxX[l] = x;
    if (y < (minY[l] as number)) minY[l] = y;
    if (y > (maxY[l] as number)) maxY[l] = y;
    area[l]! += 1;
    sumX[l]! += x;
    sumY[l]! += y;
    if (scores === undefined) continue;
    const s = scores[i] as number;
    if (!Number.isFinite(s)) continue;
    if (s > (maxScore[l] as number)) maxScore[l] = s;
    if (s < lowestScore) lowestScore = s;
    sumScore[l]! += s;
    scored[l]! += 1;
  }
  const regions: Region[] = [];
  for (let l = 1; l <= count; l++) {
    const n = area[l] as number;
    const withScores = (scored[l] as number) > 0;
    regions.push({
      x: minX[l] as number,
      y: minY[l] as number,
      width: (maxX[l] as number) - (minX[l] as number) + 1,
      height: (maxY[l] as number) - (minY[l] as number) + 1,
      area: n,
      centroid: { x: (sumX[l] as number) / n + PIXEL_CENTRE, y: (sumY[l] as number) / n + PIXEL_CENTRE },
      maxScore: withScores ? (maxScore[l] as number) : null,
      meanScore: withScores ? (sumScore[l] as number) / (scored[l] as number) : null,
    });
  }
  return { regions, lowestScore };
}
