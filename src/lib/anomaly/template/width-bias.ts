/**
 * Line-width drift between a scan and its template: exposure, etching or binarisation can make
 * every dark (or bright) structure a pixel or two wider along one axis, over the whole image.
 * That is normal, not a defect, but it puts a difference along every edge. Defects are sparse,
 * so the drift is estimated per image from all edges at once and compensated by growing or
 * shrinking the template's dark material along each axis before the comparison.
 */
import { createPlane, type GrayPlane } from "./plane";

/** Per side, in pixels: > 0 = dark material wider in the test image, < 0 = narrower. */
export interface WidthBias {
  x: number;
  y: number;
}

/** A candidate must explain this share of the edge mismatch at no bias to be preferred over no bias. */
const MIN_GAIN = 0.1;
/** Edge pixels scored per candidate: the drift is one number per axis, a sample says it as well as all. */
const MAX_SAMPLES = 8192;

/** Min (dark grows) or max (bright grows) of `radius` pixels either side along one axis. */
export function growAlongAxis(plane: GrayPlane, axis: "x" | "y", radius: number): GrayPlane {
  if (radius === 0) return plane;
  const { width, height, data } = plane;
  const out = createPlane(width, height);
  const r = Math.abs(radius);
  const darkGrows = radius > 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let v = data[y * width + x] as number;
      for (let k = -r; k <= r; k++) {
        const xx = axis === "x" ? Math.max(0, Math.min(width - 1, x + k)) : x;
        const yy = axis === "y" ? Math.max(0, Math.min(height - 1, y + k)) : y;
        const u = data[yy * width + xx] as number;
        if (darkGrows ? u < v : u > v) v = u;
      }
      out.data[y * width + x] = v;
    }
  }
  return out;
}

/** Sum of |test - grown reference| over the sampled pixels, growing along `axis` by `radius` after `base`. */
function mismatch(test: GrayPlane, reference: GrayPlane, samples: Int32Array, axis: "x" | "y", radius: number, other: number): number {
  const { width, height, data } = reference;
  const r = Math.abs(radius);
  const o = Math.abs(other);
  const darkGrows = radius > 0;
  const otherDark = other > 0;
  let sum = 0;
  for (let s = 0; s < samples.length; s++) {
    const i = samples[s] as number;
    const x = i % width;
    const y = (i - x) / width;
    // Grow along the other axis first (its bias already chosen), then along this one.
    let v = darkGrows ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
    for (let k = -r; k <= r; k++) {
      const xx = axis === "x" ? Math.max(0, Math.min(width - 1, x + k)) : x;
      const yy = axis === "y" ? Math.max(0, Math.min(height - 1, y + k)) : y;
      let u = data[yy * width + xx] as number;
      for (let j = -o; j <= o; j++) {
        const x2 = axis === "y" ? Math.max(0, Math.min(width - 1, xx + j)) : xx;
        const y2 = axis === "x" ? Math.max(0, Math.min(height - 1, yy + j)) : yy;
        const w = data[y2 * width + x2] as number;
        if (otherDark ? w < u : w > u) u = w;
      }
      if (r === 0 ? true : darkGrows ? u < v : u > v) v = u;
    }
    sum += Math.abs((test.data[i] as number) - v);
  }
  return sum;
}

function bestAlong(test: GrayPlane, reference: GrayPlane, samples: Int32Array, axis: "x" | "y", maxBias: number, other: number): number {
  const none = mismatch(test, reference, samples, axis, 0, other);
  let best = 0;
  let bestCost = none;
  for (let r = 1; r <= maxBias; r++) {
    for (const radius of [r, -r]) {
      const cost = mismatch(test, reference, samples, axis, radius, other);
      if (cost < bestCost) {
        best = radius;
        bestCost = cost;
      }
    }
  }
  return none - bestCost >= MIN_GAIN * none ? best : 0;
}

/**
 * Per-axis width drift of the test image against its aligned reference, at most `maxBias`
 * pixels a side. `distance` (edge distances of the reference) picks the pixels near edges,
 * the only ones a width change touches.
 */
export function estimateWidthBias(test: GrayPlane, aligned: GrayPlane, valid: Uint8Array, distance: Uint8Array, maxBias: number): WidthBias {
  if (maxBias <= 0) return { x: 0, y: 0 };
  const band = (i: number): boolean => valid[i] === 1 && (distance[i] as number) <= maxBias + 1;
  let n = 0;
  for (let i = 0; i < distance.length; i++) if (band(i)) n++;
  const stride = Math.max(1, Math.ceil(n / MAX_SAMPLES));
  const samples = new Int32Array(Math.ceil(n / stride));
  for (let i = 0, seen = 0, k = 0; i < distance.length; i++) {
    if (!band(i)) continue;
    if (seen++ % stride === 0) samples[k++] = i;
  }
  const y = bestAlong(test, aligned, samples, "y", maxBias, 0);
  const x = bestAlong(test, aligned, samples, "x", maxBias, y);
  return { x, y };
}

export function applyWidthBias(aligned: GrayPlane, bias: WidthBias): GrayPlane {
  return growAlongAxis(growAlongAxis(aligned, "y", bias.y), "x", bias.x);
}
