/**
 * Global registration by phase correlation. The cross-power spectrum is normalised (so only
 * phase, i.e. position, counts) and then weighted by a Gaussian low-pass: that turns the
 * correlation peak into a sampled Gaussian, whose log is a parabola, so three samples per axis
 * give the sub-pixel position almost exactly instead of the biased fit of a sinc-like peak.
 */
import { DefectError } from "../../errors";
import { fft2d, floorPowerOfTwo } from "./fft";
import { assertSameSize, createPlane, type GrayPlane } from "./plane";

export interface Shift {
  /** The moving image shows the reference content displaced by (dx, dy) pixels. */
  dx: number;
  dy: number;
  /** Height of the normalised correlation peak, 0..1: near 0 means no reliable match. */
  confidence: number;
}

export interface PhaseCorrelationOptions {
  /** Largest displacement searched, in pixels per axis. */
  maxShift: number;
  /** Side of the square correlation window (a power of two); it is centred on the image. */
  maxWindow: number;
  /** Spatial sigma of the Gaussian that shapes the peak, in pixels of the downsampled grid. */
  peakSigma: number;
  /**
   * Box-downsampling factor before correlating: each doubling covers 4x the area for the same
   * FFT cost; the local alignment that follows recovers the precision lost (the global shift
   * only has to land within its reach of a few pixels).
   */
  downsample: number;
}

export const DEFAULT_PHASE_CORRELATION: PhaseCorrelationOptions = {
  maxShift: 32,
  maxWindow: 128,
  peakSigma: 1.2,
  downsample: 4,
};

/** Fraction of the correlation window tapered to zero towards its borders (Tukey window). */
const TAPER_FRACTION = 0.5;
/** Peaks below this (of a perfect match's height) are noise: the images share no structure. */
const MIN_CONFIDENCE = 0.02;

/** Below this magnitude a cross-power term carries no phase worth normalising. */
const SPECTRUM_FLOOR = 1e-9;

const windowCache = new Map<number, Float64Array>();

/** Tukey window: flat in the middle so most of the crop counts, cosine-tapered at the ends. */
function tukey(n: number): Float64Array {
  const cached = windowCache.get(n);
  if (cached) return cached;
  const w = new Float64Array(n);
  const ramp = (TAPER_FRACTION * n) / 2;
  for (let i = 0; i < n; i++) {
    const d = Math.min(i + 0.5, n - i - 0.5);
    w[i] = d >= ramp ? 1 : 0.5 - 0.5 * Math.cos((Math.PI * d) / ramp);
  }
  windowCache.set(n, w);
  return w;
}

/** Box average over factor x factor blocks (the remainder rows and columns are dropped). */
export function downsamplePlane(plane: GrayPlane, factor: number): GrayPlane {
  if (factor === 1) return plane;
  const width = Math.floor(plane.width / factor);
  const height = Math.floor(plane.height / factor);
  const out = createPlane(width, height);
  const scale = 1 / (factor * factor);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let j = 0; j < factor; j++) {
        const row = (y * factor + j) * plane.width + x * factor;
        for (let i = 0; i < factor; i++) sum += plane.data[row + i] as number;
      }
      out.data[y * width + x] = sum * scale;
    }
  }
  return out;
}

/** Mean-free, tapered centred crop; the taper hides the wrap-around edges of the FFT. */
function windowedCrop(plane: GrayPlane, size: number, out: Float64Array): void {
  const x0 = (plane.width - size) >> 1;
  const y0 = (plane.height - size) >> 1;
  let mean = 0;
  for (let y = 0; y < size; y++) {
    const row = (y0 + y) * plane.width + x0;
    for (let x = 0; x < size; x++) mean += plane.data[row + x] as number;
  }
  mean /= size * size;
  const w = tukey(size);
  for (let y = 0; y < size; y++) {
    const row = (y0 + y) * plane.width + x0;
    const wy = w[y] as number;
    for (let x = 0; x < size; x++) out[y * size + x] = ((plane.data[row + x] as number) - mean) * wy * (w[x] as number);
  }
}

function checkOptions(options: PhaseCorrelationOptions): void {
  const { maxShift, maxWindow, peakSigma, downsample } = options;
  if (!(Number.isInteger(downsample) && downsample >= 1)) {
    throw new DefectError("invalidOption", `Option "downsample" must be a whole number of at least 1, got ${downsample}.`, {
      option: "downsample",
      value: String(downsample),
    });
  }
  if (!(Number.isFinite(maxShift) && maxShift >= 1)) {
    throw new DefectError("invalidOption", `Option "maxShift" must be at least 1 pixel, got ${maxShift}.`, { option: "maxShift", value: String(maxShift) });
  }
  if (!(Number.isInteger(maxWindow) && maxWindow >= 16 && (maxWindow & (maxWindow - 1)) === 0)) {
    throw new DefectError("invalidOption", `Option "maxWindow" must be a power of two of at least 16, got ${maxWindow}.`, {
      option: "maxWindow",
      value: String(maxWindow),
    });
  }
  if (!(Number.isFinite(peakSigma) && peakSigma > 0)) {
    throw new DefectError("invalidOption", `Option "peakSigma" must be above 0, got ${peakSigma}.`, { option: "peakSigma", value: String(peakSigma) });
  }
}

/** Offset of the true maximum from the middle of three samples of a Gaussian-shaped peak. */
export function subPixelOffset(left: number, centre: number, right: number): number {
  if (left > 0 && centre > 0 && right > 0) {
    const l = Math.log(left);
    const c = Math.log(centre);
    const r = Math.log(right);
    const curvature = l - 2 * c + r;
    if (curvature < 0) return Math.max(-0.5, Math.min(0.5, (0.5 * (l - r)) / curvature));
  }
  const curvature = left - 2 * centre + right;
  if (curvature >= 0) return 0;
  return Math.max(-0.5, Math.min(0.5, (0.5 * (left - right)) / curvature));
}

/** Where `moving` shows the content of `reference`, to a fraction of a pixel. */
export function phaseCorrelate(reference: GrayPlane, moving: GrayPlane, options: PhaseCorrelationOptions = DEFAULT_PHASE_CORRELATION): Shift {
  checkOptions(options);
  assertSameSize(reference, moving, "reference", "test image");
  const factor = Math.max(1, Math.min(options.downsample, Math.floor(Math.min(reference.width, reference.height) / 16)));
  const shift = correlate(downsamplePlane(reference, factor), downsamplePlane(moving, factor), options, Math.ceil(options.maxShift / factor));
  return { dx: shift.dx * factor, dy: shift.dy * factor, confidence: shift.confidence };
}

/** Phase correlation proper, on planes already downsampled; `reach` = largest shift searched, in their pixels. */
function correlate(reference: GrayPlane, moving: GrayPlane, options: PhaseCorrelationOptions, reach: number): Shift {
  const n = Math.min(options.maxWindow, floorPowerOfTwo(Math.min(reference.width, reference.height)));
  const re = new Float64Array(n * n);
  const im = new Float64Array(n * n);
  // Both real images in one complex transform: reference as real part, moving as imaginary part.
  windowedCrop(reference, n, re);
  windowedCrop(moving, n, im);
  fft2d(re, im, n, n, false);
  const cr = new Float64Array(n * n);
  const ci = new Float64Array(n * n);
  const lowPass = (2 * Math.PI * Math.PI * options.peakSigma * options.peakSigma) / (n * n);
  for (let v = 0; v < n; v++) {
    const fv = v <= n / 2 ? v : v - n;
    const vm = (n - v) % n;
    for (let u = 0; u < n; u++) {
      const fu = u <= n / 2 ? u : u - n;
      const k = v * n + u;
      const km = vm * n + ((n - u) % n);
      const zr = re[k] as number;
      const zi = im[k] as number;
      const mr = re[km] as number;
      const mi = -(im[km] as number);
      // Split Z = A + iB using conjugate symmetry of real signals' spectra.
      const ar = 0.5 * (zr + mr);
      const ai = 0.5 * (zi + mi);
      const br = 0.5 * (zi - mi);
      const bi = -0.5 * (zr - mr);
      // conj(A) * B: its inverse peaks at the displacement of moving relative to reference.
      const pr = ar * br + ai * bi;
      const pi = ar * bi - ai * br;
      const mag = Math.hypot(pr, pi);
      const g = mag > SPECTRUM_FLOOR ? Math.exp(-lowPass * (fu * fu + fv * fv)) / mag : 0;
      cr[k] = pr * g;
      ci[k] = pi * g;
    }
  }
  fft2d(cr, ci, n, n, true);
  const limit = Math.min(reach, (n >> 1) - 2);
  let best = Number.NEGATIVE_INFINITY;
  let bx = 0;
  let by = 0;
  for (let dy = -limit; dy <= limit; dy++) {
    const row = ((dy + n) % n) * n;
    for (let dx = -limit; dx <= limit; dx++) {
      const value = cr[row + ((dx + n) % n)] as number;
      if (value > best) {
        best = value;
        bx = dx;
        by = dy;
      }
    }
  }
  const at = (dx: number, dy: number): number => cr[((dy + n) % n) * n + ((dx + n) % n)] as number;
  const ox = subPixelOffset(at(bx - 1, by), best, at(bx + 1, by));
  const oy = subPixelOffset(at(bx, by - 1), best, at(bx, by + 1));
  // A perfect match concentrates all weight of the low-pass kernel in the peak's Gaussian.
  const perfectPeak = 1 / (2 * Math.PI * options.peakSigma * options.peakSigma);
  const confidence = Math.max(0, Math.min(1, best / perfectPeak));
  // Without a real peak, staying put is safer than jumping to a noise maximum.
  if (!(confidence >= MIN_CONFIDENCE)) return { dx: 0, dy: 0, confidence };
  return { dx: bx + ox, dy: by + oy, confidence };
}
