/**
 * Defect regions: 8-connected components of the thresholded anomaly map, small ones dropped.
 */
import type { Rect, ScoreMap } from "../../image/types";
import { sparseComponents } from "./sparse-components";

export interface TemplateRegion {
  /** Bounding box in test-image pixels. */
  box: Rect;
  /** Pixels in the region. */
  area: number;
  maxScore: number;
  meanScore: number;
}

/** Regions in raster order of their first pixel. */
export function extractRegions(map: ScoreMap, threshold: number, minArea: number): TemplateRegion[] {
  const { data, width } = map;
  const { pixels, component, count, areas } = sparseComponents(data, width, threshold);
  const sum = new Float64Array(count);
  const max = new Float64Array(count);
  const x0 = new Int32Array(count).fill(width);
  const y0 = new Int32Array(count).fill(map.height);
  const x1 = new Int32Array(count).fill(-1);
  const y1 = new Int32Array(count).fill(-1);
  for (let k = 0; k < pixels.length; k++) {
    const i = pixels[k] as number;
    const c = component[k] as number;
    const x = i % width;
    const y = (i - x) / width;
    const v = data[i] as number;
    sum[c] = (sum[c] as number) + v;
    if (v > (max[c] as number)) max[c] = v;
    if (x < (x0[c] as number)) x0[c] = x;
    if (x > (x1[c] as number)) x1[c] = x;
    if (y < (y0[c] as number)) y0[c] = y;
    if (y > (y1[c] as number)) y1[c] = y;
  }
  const regions: TemplateRegion[] = [];
  for (let c = 0; c < count; c++) {
    const area = areas[c] as number;
    if (area < minArea) continue;
    const left = x0[c] as number;
    const top = y0[c] as number;
    regions.push({
      box: { x: left, y: top, width: (x1[c] as number) - left + 1, height: (y1[c] as number) - top + 1 },
      area,
      maxScore: max[c] as number,
      meanScore: (sum[c] as number) / area,
    });
  }
  return regions;
}
