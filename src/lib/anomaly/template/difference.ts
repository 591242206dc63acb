/**
 * Edge-tolerant difference between a test image and its aligned reference: a test pixel is
 * only as different as it lies outside the range of reference values within `radius` pixels,
 * and symmetrically for reference pixels against the test. An edge moved by up to `radius`
 * pixels therefore costs nothing, while material that is extra (a spur, a copper splash) or
 * missing (an open, a pin-hole) anywhere else shows at full contrast.
 */
import type { LocalRange } from "./filters";
import type { GrayPlane } from "./plane";

/** The comparison from precomputed ranges (`localRange` of each plane at the tolerance radius). */
export function differenceFromRanges(test: GrayPlane, testRange: LocalRange, aligned: GrayPlane, refRange: LocalRange, valid: Uint8Array): Float32Array {
  const n = test.width * test.height;
  const out = new Float32Array(n);
  const t = test.data;
  const a = aligned.data;
  const { min: refMin, max: refMax } = refRange;
  const { min: testMin, max: testMax } = testRange;
  for (let i = 0; i < n; i++) {
    if (valid[i] === 0) continue;
    const ti = t[i] as number;
    const ai = a[i] as number;
    let d = ti - (refMax[i] as number);
    const d2 = (refMin[i] as number) - ti;
    const d3 = ai - (testMax[i] as number);
    const d4 = (testMin[i] as number) - ai;
    if (d2 > d) d = d2;
    if (d3 > d) d = d3;
    if (d4 > d) d = d4;
    out[i] = d > 0 ? d : 0;
  }
  return out;
}

/**
 * Subtracts the learned normal difference at each pixel's distance to the template's edges and
 * rescales so full contrast still reads 1: differences typical of good parts at that distance
 * vanish, larger ones keep their excess.
 */
export function applyEdgeTolerance(difference: Float32Array, distance: Uint8Array, tolerance: readonly number[]): Float32Array {
  const bins = tolerance.length;
  const offset = Float32Array.from(tolerance);
  const gain = Float32Array.from(tolerance, (t) => 1 / (1 - t));
  const out = new Float32Array(difference.length);
  for (let i = 0; i < difference.length; i++) {
    const d = difference[i] as number;
    if (d === 0) continue;
    const b = Math.min(distance[i] as number, bins - 1);
    const v = (d - (offset[b] as number)) * (gain[b] as number);
    out[i] = v > 0 ? v : 0;
  }
  return out;
}
