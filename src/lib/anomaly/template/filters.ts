/**
 * Separable neighbourhood filters on float planes: Gaussian blur for matching, and square
 * min/max filters (grey erosion/dilation) for the edge-tolerant comparison. All run in
 * O(pixels x kernel side) with two scratch rows, never allocating per pixel.
 */
import { createPlane, type GrayPlane } from "./plane";

/** Kernel half-width in sigmas: the Gaussian's tail beyond 3 sigma is below 0.3 %. */
const GAUSS_EXTENT = 3;

export function gaussianKernel(sigma: number): Float32Array {
  const radius = Math.max(1, Math.ceil(GAUSS_EXTENT * sigma));
  const kernel = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp(-(i * i) / (2 * sigma * sigma));
    kernel[i + radius] = v;
    sum += v;
  }
  for (let i = 0; i < kernel.length; i++) kernel[i] = (kernel[i] as number) / sum;
  return kernel;
}

/** Copies a row into `padded` with `radius` repeated border pixels on each side. */
function padRow(src: Float32Array, start: number, width: number, radius: number, padded: Float32Array): void {
  const first = src[start] as number;
  const last = src[start + width - 1] as number;
  for (let k = 0; k < radius; k++) {
    padded[k] = first;
    padded[radius + width + k] = last;
  }
  padded.set(src.subarray(start, start + width), radius);
}

/** Convolves rows then columns with a symmetric kernel, repeating border pixels. */
export function convolveSeparable(plane: GrayPlane, kernel: Float32Array): GrayPlane {
  const { width, height } = plane;
  const radius = (kernel.length - 1) >> 1;
  const taps = kernel.length;
  const tmp = createPlane(width, height);
  const out = createPlane(width, height);
  const padded = new Float32Array(width + 2 * radius);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    padRow(plane.data, row, width, radius, padded);
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let k = 0; k < taps; k++) sum += (kernel[k] as number) * (padded[x + k] as number);
      tmp.data[row + x] = sum;
    }
  }
  const acc = new Float32Array(width);
  for (let y = 0; y < height; y++) {
    acc.fill(0);
    for (let k = -radius; k <= radius; k++) {
      const yy = y + k < 0 ? 0 : y + k >= height ? height - 1 : y + k;
      const w = kernel[k + radius] as number;
      const srcRow = yy * width;
      for (let x = 0; x < width; x++) acc[x] = (acc[x] as number) + w * (tmp.data[srcRow + x] as number);
    }
    out.data.set(acc, y * width);
  }
  return out;
}

export function gaussianBlur(plane: GrayPlane, sigma: number): GrayPlane {
  if (sigma <= 0) return { data: plane.data.slice(), width: plane.width, height: plane.height };
  return convolveSeparable(plane, gaussianKernel(sigma));
}

/**
 * Rank filter over the rectangle [x - before, x + after] x [y - before, y + after], clamped to
 * the image: max when `takeMax`, else min. Separable since a rectangle is a product of segments;
 * the asymmetric form gives even-sized openings (a 2x2 erosion then the mirrored 2x2 dilation).
 */
function rankFilter(src: Float32Array, width: number, height: number, before: number, after: number, takeMax: boolean): Float32Array {
  const tmp = new Float32Array(width * height);
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const lo = x - before < 0 ? 0 : x - before;
      const hi = x + after >= width ? width - 1 : x + after;
      let v = src[row + lo] as number;
      if (takeMax) {
        for (let k = lo + 1; k <= hi; k++) if ((src[row + k] as number) > v) v = src[row + k] as number;
      } else {
        for (let k = lo + 1; k <= hi; k++) if ((src[row + k] as number) < v) v = src[row + k] as number;
      }
      tmp[row + x] = v;
    }
  }
  for (let y = 0; y < height; y++) {
    const lo = y - before < 0 ? 0 : y - before;
    const hi = y + after >= height ? height - 1 : y + after;
    const dst = y * width;
    out.set(tmp.subarray(lo * width, lo * width + width), dst);
    for (let yy = lo + 1; yy <= hi; yy++) {
      const srcRow = yy * width;
      if (takeMax) {
        for (let x = 0; x < width; x++) if ((tmp[srcRow + x] as number) > (out[dst + x] as number)) out[dst + x] = tmp[srcRow + x] as number;
      } else {
        for (let x = 0; x < width; x++) if ((tmp[srcRow + x] as number) < (out[dst + x] as number)) out[dst + x] = tmp[srcRow + x] as number;
      }
    }
  }
  return out;
}

export interface LocalRange {
  min: Float32Array;
  max: Float32Array;
}

/** Smallest and largest value in the (2r+1)^2 square around each pixel, in one pass for both. */
export function localRange(plane: GrayPlane, radius: number): LocalRange {
  const { width, height, data } = plane;
  const n = width * height;
  const rowMin = new Float32Array(n);
  const rowMax = new Float32Array(n);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const lo = x - radius < 0 ? 0 : x - radius;
      const hi = x + radius >= width ? width - 1 : x + radius;
      let mn = data[row + lo] as number;
      let mx = mn;
      for (let k = lo + 1; k <= hi; k++) {
        const v = data[row + k] as number;
        if (v < mn) mn = v;
        if (v > mx) mx = v;
      }
      rowMin[row + x] = mn;
      rowMax[row + x] = mx;
    }
  }
  const min = new Float32Array(n);
  const max = new Float32Array(n);
  for (let y = 0; y < height; y++) {
    const lo = y - radius < 0 ? 0 : y - radius;
    const hi = y + radius >= height ? height - 1 : y + radius;
    const dst = y * width;
    min.set(rowMin.subarray(lo * width, lo * width + width), dst);
    max.set(rowMax.subarray(lo * width, lo * width + width), dst);
    for (let yy = lo + 1; yy <= hi; yy++) {
      const src = yy * width;
      for (let x = 0; x < width; x++) {
        const a = rowMin[src + x] as number;
        const b = rowMax[src + x] as number;
        if (a < (min[dst + x] as number)) min[dst + x] = a;
        if (b > (max[dst + x] as number)) max[dst + x] = b;
      }
    }
  }
  return { min, max };
}

/** Largest value in the (2r+1)^2 square around each pixel. */
export function maxFilter(plane: GrayPlane, radius: number): GrayPlane {
  return { data: rankFilter(plane.data, plane.width, plane.height, radius, radius, true), width: plane.width, height: plane.height };
}

/** Smallest value in the (2r+1)^2 square around each pixel. */
export function minFilter(plane: GrayPlane, radius: number): GrayPlane {
  return { data: rankFilter(plane.data, plane.width, plane.height, radius, radius, false), width: plane.width, height: plane.height };
}

/**
 * Grey opening with a size x size square: removes bright structures narrower than the square
 * (thin difference fringes along edges) and keeps wider ones at their full extent.
 */
export function greyOpening(values: Float32Array, width: number, height: number, size: number): Float32Array {
  if (size <= 1) return values;
  const before = Math.floor((size - 1) / 2);
  const after = size - 1 - before;
  const eroded = rankFilter(values, width, height, before, after, false);
  return rankFilter(eroded, width, height, after, before, true);
}
