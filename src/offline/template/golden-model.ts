/**
 * Golden model: for parts without a reference image of their own, several good images of the
 * same aligned part are registered onto the first one and summarised per pixel by mean and
 * spread. A test image is then compared with the mean (aligned onto it) in units of the spread,
 * tolerating a displacement of `tolerance` pixels: anomaly = min over the neighbourhood of
 * |x - mean| / (spread + floor). Edges, where good parts disagree most, get a wide spread and so
 * tolerate more; flat areas, where all good parts agree, tolerate little.
 */
import { DefectError } from "../../lib/errors";
import type { RawImage, ScoreMap } from "../../lib/image/types";
import { greyOpening } from "../../lib/anomaly/template/filters";
import { assertSameSize, createPlane, toGrayPlane, type GrayPlane } from "../../lib/anomaly/template/plane";
import { extractRegions, type TemplateRegion } from "../../lib/anomaly/template/regions";
import { DEFAULT_REGISTRATION, registerToTest, type RegistrationOptions } from "../../lib/anomaly/template/registration";
import { warpByField } from "../../lib/anomaly/template/warp";

export interface GoldenModelOptions {
  registration: RegistrationOptions;
  /** Displacement in pixels excused when comparing with the mean. */
  tolerance: number;
  /** Added to the spread (0..1 scale): the noise level below which differences never count. */
  spreadFloor: number;
  /** Anomaly (in spreads) at or above which a pixel is defective. */
  threshold: number;
  minArea: number;
  /** Side of the square grey opening applied to the map (1 = none). */
  opening: number;
}

export const DEFAULT_GOLDEN_OPTIONS: GoldenModelOptions = {
  registration: DEFAULT_REGISTRATION,
  tolerance: 1,
  spreadFloor: 0.05,
  threshold: 5,
  minArea: 4,
  opening: 1,
};

export interface GoldenModel {
  kind: "template-golden";
  /** Good images summarised. */
  images: number;
  mean: GrayPlane;
  spread: GrayPlane;
  options: GoldenModelOptions;
}

export interface GoldenComparison {
  /** Anomaly in spreads, in the test image's frame. */
  map: ScoreMap;
  regions: TemplateRegion[];
  score: number;
}

const MIN_GOOD_IMAGES = 2;
const MAX_TOLERANCE = 8;
const MAX_OPENING = 15;

function checkOptions(options: GoldenModelOptions): void {
  const bad = (option: string, value: number, rule: string): DefectError =>
    new DefectError("invalidOption", `Option "${option}" must be ${rule}, got ${value}.`, { option, value: String(value) });
  const { tolerance, spreadFloor, threshold, minArea, opening } = options;
  if (!(Number.isInteger(tolerance) && tolerance >= 0 && tolerance <= MAX_TOLERANCE))
    throw bad("tolerance", tolerance, `a whole number from 0 to ${MAX_TOLERANCE}`);
  if (!(Number.isFinite(spreadFloor) && spreadFloor > 0)) throw bad("spreadFloor", spreadFloor, "above 0");
  if (!(Number.isFinite(threshold) && threshold > 0)) throw bad("threshold", threshold, "above 0");
  if (!(Number.isInteger(minArea) && minArea >= 1)) throw bad("minArea", minArea, "a whole number of at least 1");
  if (!(Number.isInteger(opening) && opening >= 1 && opening <= MAX_OPENING)) throw bad("opening", opening, `a whole number from 1 to ${MAX_OPENING}`);
}

/** Per-pixel mean and spread of good images registered onto the first one. */
export function fitGoldenPlanes(images: GrayPlane[], options: Partial<GoldenModelOptions> = {}): GoldenModel {
  const opts = { ...DEFAULT_GOLDEN_OPTIONS, ...options };
  checkOptions(opts);
  if (images.length < MIN_GOOD_IMAGES) {
    throw new DefectError("invalidOption", `A golden model needs at least ${MIN_GOOD_IMAGES} good images, got ${images.length}.`, {
      images: images.length,
      minImages: MIN_GOOD_IMAGES,
    });
  }
  const template = images[0] as GrayPlane;
  const { width, height } = template;
  images.forEach((image, k) => assertSameSize(template, image, "first good image", `good image ${k + 1}`));
  const n = width * height;
  const count = new Float32Array(n);
  const mean = createPlane(width, height);
  const m2 = new Float64Array(n);
  images.forEach((image, k) => {
    let plane = image;
    let valid: Uint8Array | null = null;
    if (k > 0) {
      const registration = registerToTest(template, image, opts.registration);
      plane = registration.aligned;
      valid = registration.valid;
    }
    // Welford's update: numerically stable with one pass and no stored stack of images.
    for (let i = 0; i < n; i++) {
      if (valid && valid[i] === 0) continue;
      const c = (count[i] as number) + 1;
      const x = plane.data[i] as number;
      const delta = x - (mean.data[i] as number);
      mean.data[i] = (mean.data[i] as number) + delta / c;
      m2[i] = (m2[i] as number) + delta * (x - (mean.data[i] as number));
      count[i] = c;
    }
  });
  const spread = createPlane(width, height);
  for (let i = 0; i < n; i++) {
    const c = count[i] as number;
    spread.data[i] = c > 1 ? Math.sqrt((m2[i] as number) / (c - 1)) : 0;
  }
  return { kind: "template-golden", images: images.length, mean, spread, options: opts };
}

export function fitGoldenModel(images: RawImage[], options: Partial<GoldenModelOptions> = {}): GoldenModel {
  return fitGoldenPlanes(
    images.map((image, k) => toGrayPlane(image, `good image ${k + 1}`)),
    options,
  );
}

/** min over |u| <= r of |test(p) - mean(p + u)| / (spread(p + u) + floor); 0 where the mean was not aligned. */
function goldenAnomaly(test: GrayPlane, mean: GrayPlane, spread: GrayPlane, valid: Uint8Array, radius: number, floor: number): Float32Array {
  const { width, height } = test;
  const out = new Float32Array(width * height).fill(Number.POSITIVE_INFINITY);
  const scale = Float32Array.from(spread.data, (s) => 1 / (s + floor));
  for (let uy = -radius; uy <= radius; uy++) {
    for (let ux = -radius; ux <= radius; ux++) {
      for (let y = 0; y < height; y++) {
        const sy = Math.max(0, Math.min(height - 1, y + uy));
        for (let x = 0; x < width; x++) {
          const sx = Math.max(0, Math.min(width - 1, x + ux));
          const j = sy * width + sx;
          const i = y * width + x;
          const z = Math.abs((test.data[i] as number) - (mean.data[j] as number)) * (scale[j] as number);
          if (z < (out[i] as number)) out[i] = z;
        }
      }
    }
  }
  for (let i = 0; i < out.length; i++) if (valid[i] === 0) out[i] = 0;
  return out;
}

export function compareGoldenPlanes(test: GrayPlane, model: GoldenModel): GoldenComparison {
  const { mean, spread, options } = model;
  const registration = registerToTest(test, mean, options.registration);
  const alignedSpread = warpByField(spread, registration.field);
  const raw = goldenAnomaly(test, registration.aligned, alignedSpread, registration.valid, options.tolerance, options.spreadFloor);
  const data = greyOpening(raw, test.width, test.height, options.opening);
  const map: ScoreMap = { data, width: test.width, height: test.height };
  let score = 0;
  for (let i = 0; i < data.length; i++) if ((data[i] as number) > score) score = data[i] as number;
  return { map, regions: extractRegions(map, options.threshold, options.minArea), score };
}

/** Compares a test image with a golden model of its part (same size as the model's images). */
export function compareToGolden(test: RawImage, model: GoldenModel): GoldenComparison {
  return compareGoldenPlanes(toGrayPlane(test, "test image"), model);
}
