/**
 * Area opening of an anomaly map on a ladder of levels: a pixel keeps its value only up to the
 * highest level at which its 8-connected component (of the pixels at or above that level) still
 * has `minArea` pixels. A speck smaller than the smallest defect worth reporting sinks to the
 * level where it joins something large enough (usually the background), while a defect region
 * keeps its full height. The map's peak is then an image score that agrees with the regions:
 * a part scores at or above a level only where a region of at least `minArea` pixels is.
 */
import { find } from "../../regions/components";

/** A value between `from` and `to` that float32 still tells apart from `to`. */
function justBelow(from: number, to: number): number {
  return Math.fround(from + (to - from) * 0.99);
}

/**
 * `levels` ascending; values below the first level are kept as they are (they are below every
 * level a region could be cut at). Returns a new array.
 */
export function areaOpening(values: Float32Array, width: number, minArea: number, levels: readonly number[]): Float32Array {
  const out = values.slice();
  const lowest = levels[0];
  if (minArea <= 1 || lowest === undefined) return out;
  // The pixels at or above the lowest level: anomaly maps are almost entirely below it.
  let n = 0;
  for (let i = 0; i < values.length; i++) if ((values[i] as number) >= lowest) n++;
  const pixels = new Int32Array(n);
  // slot[i] = 1 + position in `pixels`, 0 for pixels below the lowest level.
  const slot = new Int32Array(values.length);
  for (let i = 0, k = 0; i < values.length; i++) {
    if ((values[i] as number) >= lowest) {
      pixels[k] = i;
      slot[i] = ++k;
    }
  }
  // cap[k]: what this pixel may keep, always just under a level it has not been proven large at,
  // so that thresholding the result at any level finds only components of minArea pixels.
  const cap = new Float32Array(n).fill(justBelow(0, lowest));
  const parent = new Int32Array(n);
  const areas = new Int32Array(n);
  for (let l = 0; l < levels.length; l++) {
    const level = levels[l] as number;
    const next = levels[l + 1];
    const above = next === undefined ? Number.POSITIVE_INFINITY : justBelow(level, next);
    for (let k = 0; k < n; k++) parent[k] = k;
    for (let k = 0; k < n; k++) {
      const i = pixels[k] as number;
      if ((values[i] as number) < level) continue;
      const x = i % width;
      const link = (j: number): void => {
        const s = slot[j] as number;
        if (s === 0 || (values[j] as number) < level) return;
        const a = find(parent, k);
        const b = find(parent, s - 1);
        if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
      };
      if (x > 0) link(i - 1);
      if (i >= width) {
        link(i - width);
        if (x > 0) link(i - width - 1);
        if (x < width - 1) link(i - width + 1);
      }
    }
    areas.fill(0);
    let seen = false;
    for (let k = 0; k < n; k++) {
      if ((values[pixels[k] as number] as number) < level) continue;
      const root = find(parent, k);
      areas[root] = (areas[root] as number) + 1;
      seen = true;
    }
    // Nothing at this level: nothing at any higher one either.
    if (!seen) break;
    for (let k = 0; k < n; k++) {
      if ((values[pixels[k] as number] as number) < level) continue;
      // Components at a higher level lie inside those at a lower one: the last large one wins.
      if ((areas[find(parent, k)] as number) >= minArea) cap[k] = above;
    }
  }
  for (let k = 0; k < n; k++) {
    const i = pixels[k] as number;
    if ((out[i] as number) > (cap[k] as number)) out[i] = cap[k] as number;
  }
  return out;
}
