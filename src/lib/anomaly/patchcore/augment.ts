/**
 * Support-set augmentation for few-shot PatchCore: with K good images the bank has too few patches
 * to cover the normal variation (a part turned a few degrees, slightly brighter light), so each
 * shot is also learned as label-preserving variants of itself. The variants are warps of the
 * preprocessed tensor (one bilinear resampling within the same frame, borders clamped), so every
 * variant has the tensor size the backbone expects.
 */
import { DefectError } from "../../errors";
import type { Tensor } from "../../image/types";
import { Rng } from "../../random";

/** One variant: rotate about the centre, flip, shift (fraction of the size), scale brightness. */
export interface AugmentStep {
  angleDeg: number;
  flipX: boolean;
  flipY: boolean;
  shiftX: number;
  shiftY: number;
  /** Factor on the pixel values before normalisation (1 = unchanged). */
  brightness: number;
}

export const AUGMENT_MODES = ["auto", "on", "off"] as const;
export type AugmentMode = (typeof AUGMENT_MODES)[number];

export interface AugmentOptions {
  /** "auto": augment only while the support set has at most `maxShots` images. */
  mode: AugmentMode;
  maxShots: number;
  /** Mirror images (horizontal, vertical and both). */
  flips: boolean;
  /** Exact rotations added as they are, e.g. [90, 180, 270] or every 45 degrees for round parts. */
  rotations: number[];
  /** Random variants drawn per image from the ranges below. */
  randomCount: number;
  maxAngleDeg: number;
  /** Largest shift as a fraction of the tensor width/height. */
  maxShift: number;
  /** Largest relative brightness change (0.1 = factors in [0.9, 1.1]). */
  maxBrightness: number;
  seed: number;
  /** The preprocessing's normalisation, to change brightness in pixel terms: x = (p - mean) / std. */
  mean: number[];
  std: number[];
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];
/** Up to 8 shots the bank is small enough that variants help and cost little (issue 6 default). */
export const DEFAULT_AUGMENT_MAX_SHOTS = 8;

export const DEFAULT_AUGMENT_OPTIONS: Readonly<AugmentOptions> = Object.freeze({
  mode: "auto",
  maxShots: DEFAULT_AUGMENT_MAX_SHOTS,
  flips: true,
  rotations: [180],
  randomCount: 4,
  maxAngleDeg: 10,
  maxShift: 0.04,
  maxBrightness: 0.1,
  seed: 0,
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
});

/** Exact turns are given in degrees, at most one full turn either way (the CLI and the detector read them so). */
export const MAX_TURN_DEG = 360;

export function isTurn(degrees: number): boolean {
  return Number.isFinite(degrees) && Math.abs(degrees) <= MAX_TURN_DEG;
}

const IDENTITY: AugmentStep = Object.freeze({ angleDeg: 0, flipX: false, flipY: false, shiftX: 0, shiftY: 0, brightness: 1 });
const FULL_TURN = 360;
const RIGHT_ANGLE = 90;

export function augmentEnabled(options: Pick<AugmentOptions, "mode" | "maxShots">, shots: number): boolean {
  return options.mode === "on" || (options.mode === "auto" && shots <= options.maxShots);
}

/**
 * The variants of image `imageIndex` (the original not included): the fixed ones (flips,
 * rotations) then `randomCount` random ones. The same seed and index give the same list, so a
 * bank can be rebuilt exactly.
 */
export function augmentationPlan(options: AugmentOptions, imageIndex: number): AugmentStep[] {
  const steps: AugmentStep[] = [];
  if (options.flips) {
    steps.push({ ...IDENTITY, flipX: true }, { ...IDENTITY, flipY: true }, { ...IDENTITY, flipX: true, flipY: true });
  }
  for (const angle of options.rotations) {
    const a = ((angle % FULL_TURN) + FULL_TURN) % FULL_TURN;
    // A 180-degree turn is the same as flipping both axes; do not learn it twice.
    if (a === 0 || (options.flips && a === FULL_TURN / 2)) continue;
    steps.push({ ...IDENTITY, angleDeg: a });
  }
  const rng = new Rng((options.seed * 0x9e3779b1 + imageIndex) | 0);
  for (let i = 0; i < options.randomCount; i++) {
    steps.push({
      angleDeg: rng.range(-options.maxAngleDeg, options.maxAngleDeg),
      flipX: options.flips && rng.next() < 0.5,
      flipY: false,
      shiftX: rng.range(-options.maxShift, options.maxShift),
      shiftY: rng.range(-options.maxShift, options.maxShift),
      brightness: 1 + rng.range(-options.maxBrightness, options.maxBrightness),
    });
  }
  return steps;
}

/** cos/sin with exact values at multiples of 90 degrees, so those rotations move pixels exactly. */
function exactTrig(angleDeg: number): { cos: number; sin: number } {
  const a = ((angleDeg % FULL_TURN) + FULL_TURN) % FULL_TURN;
  if (a % RIGHT_ANGLE === 0) {
    const quarter = a / RIGHT_ANGLE;
    return { cos: [1, 0, -1, 0][quarter] as number, sin: [0, 1, 0, -1][quarter] as number };
  }
  const r = (a * Math.PI) / (FULL_TURN / 2);
  return { cos: Math.cos(r), sin: Math.sin(r) };
}

/**
 * The tensor seen through `step`: output pixel (x, y) samples the input at the inverse of
 * "flip, then rotate counter-clockwise about the centre, then shift", bilinearly, with
 * coordinates clamped to the border. Integer shifts and right-angle turns of square tensors
 * copy pixels exactly.
 */
export function augmentTensor(tensor: Tensor, step: AugmentStep, options: Pick<AugmentOptions, "mean" | "std"> = DEFAULT_AUGMENT_OPTIONS): Tensor {
  const nchw = tensor.layout === "NCHW";
  const [, d1, d2, d3] = tensor.dims as [number, number, number, number];
  const channels = nchw ? d1 : d3;
  const height = nchw ? d2 : d1;
  const width = nchw ? d3 : d2;
  if (tensor.dims.length !== 4 || tensor.data.length !== channels * height * width) {
    throw new DefectError("inputShapeMismatch", `augmentation needs one image tensor [1,C,H,W] or [1,H,W,C], got [${tensor.dims.join(",")}]`, {
      actual: tensor.dims.join(","),
    });
  }
  const { cos, sin } = exactTrig(step.angleDeg);
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  const dx = step.shiftX * width;
  const dy = step.shiftY * height;
  const out = new Float32Array(tensor.data.length);
  const src = tensor.data;
  const at = nchw ? (c: number, y: number, x: number) => (c * height + y) * width + x : (c: number, y: number, x: number) => (y * width + x) * channels + c;
  const offsets = Array.from({ length: channels }, (_, c) => {
    const mean = options.mean[c] ?? options.mean[0] ?? 0;
    const std = options.std[c] ?? options.std[0] ?? 1;
    return ((step.brightness - 1) * mean) / std;
  });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      // Undo the shift, then the rotation (image y points down, so counter-clockwise on screen).
      const ux = x - dx - cx;
      const uy = y - dy - cy;
      let sx = cos * ux - sin * uy + cx;
      let sy = sin * ux + cos * uy + cy;
      if (step.flipX) sx = width - 1 - sx;
      if (step.flipY) sy = height - 1 - sy;
      sx = Math.min(width - 1, Math.max(0, sx));
      sy = Math.min(height - 1, Math.max(0, sy));
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const x1 = Math.min(width - 1, x0 + 1);
      const y1 = Math.min(height - 1, y0 + 1);
      for (let c = 0; c < channels; c++) {
        let v = src[at(c, y0, x0)] as number;
        if (fx !== 0) v += fx * ((src[at(c, y0, x1)] as number) - v);
        if (fy !== 0) {
          let w = src[at(c, y1, x0)] as number;
          if (fx !== 0) w += fx * ((src[at(c, y1, x1)] as number) - w);
          v += fy * (w - v);
        }
        out[at(c, y, x)] = step.brightness === 1 ? v : step.brightness * v + (offsets[c] as number);
      }
    }
  }
  return { data: out, dims: [...tensor.dims], layout: tensor.layout };
}

/** The variants of one shot, in plan order (the original not included). */
export function augmentShot(tensor: Tensor, options: AugmentOptions, imageIndex: number): Tensor[] {
  return augmentationPlan(options, imageIndex).map((step) => augmentTensor(tensor, step, options));
}
