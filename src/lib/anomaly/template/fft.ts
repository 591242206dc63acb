/**
 * In-place radix-2 complex FFT on split real/imaginary arrays. Written here rather than taken
 * from npm because phase correlation needs only power-of-two sizes and the core ships without
 * numeric dependencies. Twiddles and bit-reversal tables are cached per size since alignment
 * calls the same sizes over and over.
 */

interface FftTables {
  cos: Float64Array;
  sin: Float64Array;
  reverse: Uint32Array;
}

const tables = new Map<number, FftTables>();

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
}

/** The largest power of two not above n (n >= 1). */
export function floorPowerOfTwo(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

function tablesFor(n: number): FftTables {
  const cached = tables.get(n);
  if (cached) return cached;
  if (!isPowerOfTwo(n)) throw new RangeError(`FFT size must be a power of two, got ${n}`);
  const half = n >> 1;
  const cos = new Float64Array(half);
  const sin = new Float64Array(half);
  for (let k = 0; k < half; k++) {
    cos[k] = Math.cos((2 * Math.PI * k) / n);
    sin[k] = Math.sin((2 * Math.PI * k) / n);
  }
  const reverse = new Uint32Array(n);
  let bits = 0;
  while (1 << bits < n) bits++;
  for (let i = 0; i < n; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) if (i & (1 << b)) r |= 1 << (bits - 1 - b);
    reverse[i] = r;
  }
  const built = { cos, sin, reverse };
  tables.set(n, built);
  return built;
}

/**
 * Transforms n complex values starting at `offset` with element spacing `stride`. The inverse
 * is unscaled (callers divide once for the whole 2-D transform).
 */
export function fft1d(re: Float64Array, im: Float64Array, n: number, inverse: boolean, offset = 0, stride = 1): void {
  const { cos, sin, reverse } = tablesFor(n);
  for (let i = 0; i < n; i++) {
    const j = reverse[i] as number;
    if (j > i) {
      const a = offset + i * stride;
      const b = offset + j * stride;
      const tr = re[a] as number;
      re[a] = re[b] as number;
      re[b] = tr;
      const ti = im[a] as number;
      im[a] = im[b] as number;
      im[b] = ti;
    }
  }
  const sign = inverse ? 1 : -1;
  for (let size = 2; size <= n; size <<= 1) {
    const half = size >> 1;
    const step = n / size;
    for (let start = 0; start < n; start += size) {
      for (let k = 0; k < half; k++) {
        const wr = cos[k * step] as number;
        const wi = sign * (sin[k * step] as number);
        const a = offset + (start + k) * stride;
        const b = a + half * stride;
        const br = re[b] as number;
        const bi = im[b] as number;
        const xr = br * wr - bi * wi;
        const xi = br * wi + bi * wr;
        const ar = re[a] as number;
        const ai = im[a] as number;
        re[a] = ar + xr;
        im[a] = ai + xi;
        re[b] = ar - xr;
        im[b] = ai - xi;
      }
    }
  }
}

/** Row-major 2-D transform of a width x height grid (both powers of two); the inverse is scaled by 1/(w*h). */
export function fft2d(re: Float64Array, im: Float64Array, width: number, height: number, inverse: boolean): void {
  for (let y = 0; y < height; y++) fft1d(re, im, width, inverse, y * width, 1);
  // Columns go through a contiguous buffer: strided butterflies thrash the cache on 512-wide grids.
  const colRe = new Float64Array(height);
  const colIm = new Float64Array(height);
  for (let x = 0; x < width; x++) {
    for (let y = 0, i = x; y < height; y++, i += width) {
      colRe[y] = re[i] as number;
      colIm[y] = im[i] as number;
    }
    fft1d(colRe, colIm, height, inverse);
    for (let y = 0, i = x; y < height; y++, i += width) {
      re[i] = colRe[y] as number;
      im[i] = colIm[y] as number;
    }
  }
  if (inverse) {
    const scale = 1 / (width * height);
    for (let i = 0; i < re.length; i++) {
      re[i] = (re[i] as number) * scale;
      im[i] = (im[i] as number) * scale;
    }
  }
}
