/**
 * Separable neighbourhood filters on float planes: Gaussian blur for matching, the local
 * min/max range for the edge-tolerant comparison, and grey opening for thin fringes. All run
 * in O(pixels x kernel side) on whole typed arrays, never allocating per pixel.
 */
import { gaussianKernel } from "../map-ops";
import { createPlane, type GrayPlane } from "./plane";

/** Kernel half-width in sigmas: the Gaussian's tail beyond 3 sigma is below 0.3 %. */
const GAUSS_EXTENT = 3;

function blurKernel(sigma: number): Float32Array {
  return gaussianKernel(sigma, Math.max(1, Math.ceil(GAUSS_EXTENT * sigma)));
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
function convolveSeparable(plane: GrayPlane, kernel: Float32Array): GrayPlane {
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
  return convolveSeparable(plane, blurKernel(sigma));
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
  if (radius === 1) return localRange3(plane);
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

/**
 * Grey opening with a size x size square: removes bright structures narrower than the square
 * (thin difference fringes along edges) and keeps wider ones at their full extent.
 */
export function greyOpening(values: Float32Array, width: number, height: number, size: number): Float32Array {
  if (size <= 1) return values;
  if (size === 2) return opening2(values, width, height);
  const before = Math.floor((size - 1) / 2);
  const after = size - 1 - before;
  const eroded = rankFilter(values, width, height, before, after, false);
  return rankFilter(eroded, width, height, after, before, true);
}

/** The 2x2 opening in two fused passes (the common case, worth its own loop). */
function opening2(values: Float32Array, width: number, height: number): Float32Array {
  const eroded = new Float32Array(values.length);
  for (let y = 0; y < height; y++) {
    const down = y < height - 1 ? width : 0;
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const right = x < width - 1 ? 1 : 0;
      let v = values[i] as number;
      const b = values[i + right] as number;
      const c = values[i + down] as number;
      const d = values[i + down + right] as number;
      if (b < v) v = b;
      if (c < v) v = c;
      if (d < v) v = d;
      eroded[i] = v;
    }
  }
  const out = new Float32Array(values.length);
  for (let y = 0; y < height; y++) {
    const up = y > 0 ? width : 0;
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const left = x > 0 ? 1 : 0;
      let v = eroded[i] as number;
      const b = eroded[i - left] as number;
      const c = eroded[i - up] as number;
      const d = eroded[i - up - left] as number;
      if (b > v) v = b;
      if (c > v) v = c;
      if (d > v) v = d;
      out[i] = v;
    }
  }
  return out;
}

/** localRange for the 3x3 square, unrolled: the comparison and edge detection call it on every image. */
function localRange3(plane: GrayPlane): LocalRange {
  const { width, height, data } = plane;
  const n = width * height;
  const rowMin = new Float32Array(n);
  const rowMax = new Float32Array(n);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let a = data[row] as number;
    let b = a;
    for (let x = 0; x < width; x++) {
      const c = x + 1 < width ? (data[row + x + 1] as number) : b;
      let mn = a < b ? a : b;
      let mx = a > b ? a : b;
      if (c < mn) mn = c;
      if (c > mx) mx = c;
      rowMin[row + x] = mn;
      rowMax[row + x] = mx;
      a = b;
      b = c;
    }
  }
  const min = new Float32Array(n);
  const max = new Float32Array(n);
  for (let y = 0; y < height; y++) {
    const up = (y > 0 ? y - 1 : 0) * width;
    const mid = y * width;
    const down = (y < height - 1 ? y + 1 : y) * width;
    for (let x = 0; x < width; x++) {
      let mn = rowMin[up + x] as number;
      let v = rowMin[mid + x] as number;
      let w = rowMin[down + x] as number;
      if (v < mn) mn = v;
      if (w < mn) mn = w;
      min[mid + x] = mn;
      let mx = rowMax[up + x] as number;
      v = rowMax[mid + x] as number;
      w = rowMax[down + x] as number;
      if (v > mx) mx = v;
      if (w > mx) mx = w;
      max[mid + x] = mx;
    }
  }
  return { min, max };
}
