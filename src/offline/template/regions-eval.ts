/**
 * Scoring detected regions against annotated boxes: a box is found when a region has a pixel
 * inside it, and a region is false when none of its pixels lies in any box.
 */
import type { Rect } from "../../lib/image/types";
import type { SparseComponents } from "../../lib/anomaly/template/sparse-components";

/** 1 inside any box (clipped to the image), 0 elsewhere. */
export function boxMask(boxes: readonly Rect[], width: number, height: number): Uint8Array {
  const mask = new Uint8Array(width * height);
  for (const b of boxes) {
    const x0 = Math.max(0, Math.floor(b.x));
    const y0 = Math.max(0, Math.floor(b.y));
    const x1 = Math.min(width, Math.ceil(b.x + b.width));
    const y1 = Math.min(height, Math.ceil(b.y + b.height));
    for (let y = y0; y < y1; y++) mask.fill(1, y * width + x0, y * width + Math.max(x0, x1));
  }
  return mask;
}

export interface ComponentBoxStats {
  /** Pixels per component. */
  areas: Int32Array;
  /** 1 where the component has a pixel inside some box. */
  touches: Uint8Array;
  /** Per box: the largest component with a pixel inside it (0 = none), so any minimum area can be checked later. */
  boxLargest: Int32Array;
}

/** Components against boxes; `mask` = boxMask(boxes). */
export function componentBoxStats(components: SparseComponents, width: number, boxes: readonly Rect[], mask: Uint8Array): ComponentBoxStats {
  const { pixels, component, count, areas } = components;
  const touches = new Uint8Array(count);
  const boxLargest = new Int32Array(boxes.length);
  for (let k = 0; k < pixels.length; k++) {
    const i = pixels[k] as number;
    if (mask[i] === 0) continue;
    const c = component[k] as number;
    touches[c] = 1;
    const x = i % width;
    const y = (i - x) / width;
    const area = areas[c] as number;
    boxes.forEach((b, j) => {
      if (x >= b.x && x < b.x + b.width && y >= b.y && y < b.y + b.height && area > (boxLargest[j] as number)) boxLargest[j] = area;
    });
  }
  return { areas, touches, boxLargest };
}

export interface RegionScore {
  /** Per box: whether a region of at least `minArea` pixels hits it. */
  hit: boolean[];
  /** Regions of at least `minArea` pixels that touch no box. */
  falseRegions: number;
}

export function scoreAtMinArea(stats: ComponentBoxStats, minArea: number): RegionScore {
  let falseRegions = 0;
  for (let c = 0; c < stats.areas.length; c++) if ((stats.areas[c] as number) >= minArea && stats.touches[c] === 0) falseRegions++;
  return { hit: Array.from(stats.boxLargest, (a) => a >= minArea && a > 0), falseRegions };
}
