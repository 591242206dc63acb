/** Which regions a message reports, and in which order. */
import type { Region } from "./types";

export interface RegionFilter {
  /** Smallest area kept, in original image pixels. */
  minArea: number;
  /** Most regions kept, the most severe first. */
  maxCount: number;
}

/**
 * Severity order: highest max score first (regions without scores last), then the larger area.
 * Ties keep their incoming (raster) order because Array.prototype.sort is stable.
 */
export function compareSeverity(a: Region, b: Region): number {
  const sa = a.maxScore ?? Number.NEGATIVE_INFINITY;
  const sb = b.maxScore ?? Number.NEGATIVE_INFINITY;
  if (sa !== sb) return sb > sa ? 1 : -1;
  return b.area - a.area;
}

/** Drops regions below minArea, sorts by severity and keeps the first maxCount. */
export function selectRegions(regions: readonly Region[], filter: RegionFilter): Region[] {
  return regions
    .filter((r) => r.area >= filter.minArea)
    .sort(compareSeverity)
    .slice(0, filter.maxCount);
}
