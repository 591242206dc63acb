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

/** Square rank filter: max when `takeMax`, else min; separable since a square is a product of segments. */
function rankFilter(plane: GrayPlane, radius: number, takeMax: boolean): GrayPlane {
  const { width, height } = plane;
  const out = createPlane(width, height);
  if (radius <= 0) {
    out.data.set(plane.data);
    return out;
  }
  const tmp = createPlane(width, height);
  const padded = new Float32Array(width + 2 * radius);
  const span = 2 * radius + 1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    padRow(plane.data, row, width, radius, padded);
    for (let x = 0; x < width; x++) {
      let v = padded[x] as number;
      for (let k = 1; k < span; k++) {
        const u = padded[x + k] as number;
        if (takeMax ? u > v : u < v) v = u;
      }
      tmp.data[row + x] = v;
    }
  }
  const acc = new Float32Array(width);
  for (let y = 0; y < height; y++) {
    const lo = Math.max(0, y - radius);
    const hi = Math.min(height - 1, y + radius);
    acc.set(tmp.data.subarray(lo * width, lo * width + width));
    for (let yy = lo + 1; yy <= hi; yy++) {
      const srcRow = yy * width;
      for (let x = 0; x < width; x++) {
        const u = tmp.data[srcRow + x] as number;
        if (takeMax ? u > (acc[x] as number) : u < (acc[x] as number)) acc[x] = u;
      }
    }
    out.data.set(acc, y * width);
  }
  return out;
}

/** Largest value in the (2r+1)^2 square around each pixel. */
export function maxFilter(plane: GrayPlane, radius: number): GrayPlane {
  return rankFilter(plane, radius, true);
}

/** Smallest value in the (2r+1)^2 square around each pixel. */
export function minFilter(plane: GrayPlane, radius: number): GrayPlane {
  return rankFilter(plane, radius, false);
}
